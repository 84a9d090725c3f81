"""The ``musicedit`` command line: one subcommand per job, each a thin call into a package API.

``editor_env``'s subcommands are registered in :data:`SUBCOMMANDS`; other packages contribute
theirs through a ``cli`` module with a ``register(subparsers)`` function, listed in
:data:`PACKAGE_CLIS`. Handlers import their heavy dependencies only when run, so
``musicedit --help`` is instant.
"""

from __future__ import annotations

import argparse
import importlib
import json
import sys
from pathlib import Path

from editor_env.errors import MusicEditError
from editor_env.executor import add_executor_args, executor_from_args


def report_failures(failed: dict[str, str]) -> int:
    """Print each failed sample with its reason to stderr; the exit status: 1 if any failed, else 0."""
    for name, reason in failed.items():
        print(f"  FAILED {name}: {reason}", file=sys.stderr)
    return 1 if failed else 0


def _add_synth(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("synth", help="generate synthetic raw/edit pairs with ground truth")
    p.add_argument("--n", type=int, default=4, help="number of pairs (default 4)")
    p.add_argument(
        "--out", type=Path, default=Path("training_data"), help="data-set folder to write (default training_data)"
    )
    p.add_argument("--seed", type=int, default=0, help="random seed: same seed, same files")
    p.add_argument("--min-duration", type=float, default=40.0, help="shortest raw jam in seconds (default 40)")
    p.add_argument("--max-duration", type=float, default=80.0, help="longest raw jam in seconds (default 80)")
    p.add_argument("--no-effects", action="store_true", help="edits of cuts and reorders only (no fades or gain)")
    p.add_argument(
        "--no-restructure",
        action="store_true",
        help="no random section moves or repeats: the edit is the song in order with the junk cut (determined by the audio)",
    )
    p.add_argument("--plot", action="store_true", help="also write {sample}_synth.png pictures of each pair")
    p.add_argument(
        "--overwrite",
        action="store_true",
        help="replace files of these sample names that differ (e.g. made by an older generator); default: refuse",
    )
    add_executor_args(p)
    p.set_defaults(func=_run_synth)


def _run_synth(args: argparse.Namespace) -> int:
    from editor_env import synth

    if args.n < 1:
        raise MusicEditError(f"--n must be at least 1 (got {args.n}).")
    if not 0 < args.min_duration <= args.max_duration:
        raise MusicEditError("--min-duration must be positive and not above --max-duration.")
    print(f"Generating {args.n} synthetic pair(s) into {args.out} (seed {args.seed}) …")
    names = synth.write_dataset(
        args.out,
        args.n,
        seed=args.seed,
        duration_range_s=(args.min_duration, args.max_duration),
        effects=not args.no_effects,
        restructure=not args.no_restructure,
        plot=args.plot,
        overwrite=args.overwrite,
        executor=executor_from_args(args),
    )
    shown = ", ".join(names) if len(names) <= 6 else f"{names[0]} … {names[-1]}"
    print(f"Wrote {len(names)} pair(s): {shown}")
    return 0


def _add_jams(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "jams",
        help="turn finished real recordings into raw jam / edit pairs with exact ground truth and junk labels",
        description="Each track becomes --per-track raw jams (the track or an excerpt, with count-ins, talk, tuning, "
        "noodling, false starts, bad takes, repeats, dead air, applause, feedback and tails put in between) and "
        "their edits, in the training_data layout, with {sample}_labels.json (editor_env.jams).",
    )
    p.add_argument("--tracks", type=Path, required=True, help="a folder of finished recordings (searched recursively)")
    p.add_argument("--out", type=Path, required=True, help="data-set folder to write")
    p.add_argument("--per-track", type=int, default=1, help="jams per track (default 1)")
    p.add_argument("--seed", type=int, default=0, help="random seed: same seed, same files")
    p.add_argument(
        "--junk-fraction",
        type=float,
        nargs=2,
        default=None,
        metavar=("LOW", "HIGH"),
        help="share of each raw that is junk, drawn per jam (default 0.1 0.5)",
    )
    p.add_argument(
        "--voice", choices=["auto", "espeak", "formant"], default="auto", help="speech: espeak-ng if installed (auto)"
    )
    p.add_argument("--plot", action="store_true", help="also write {sample}_jam.png: the raw coloured by junk kind")
    p.add_argument("--overwrite", action="store_true", help="replace files of these sample names that differ")
    add_executor_args(p)
    p.set_defaults(func=_run_jams)


def _run_jams(args: argparse.Namespace) -> int:
    from editor_env.jams import JamSettings, write_jams

    settings = JamSettings(voice=args.voice)
    if args.junk_fraction is not None:
        settings = JamSettings(junk_fraction=tuple(args.junk_fraction), voice=args.voice)
    executor = executor_from_args(args)
    print(
        f"Making {args.per_track} jam(s) per track of {args.tracks} into {args.out} (seed {args.seed}) on {executor.describe()} …"
    )
    result = write_jams(
        args.tracks,
        args.out,
        per_track=args.per_track,
        seed=args.seed,
        settings=settings,
        overwrite=args.overwrite,
        plot=args.plot,
        executor=executor,
    )
    print(f"{len(result.written)} written, {len(result.skipped)} already there, {len(result.failed)} failed.")
    return report_failures(result.failed)


def _add_precache(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("precache", help="cache mels, beats and beat features of a data set")
    p.add_argument("samples", nargs="*", help="sample names (default: every sample not yet cached)")
    p.add_argument("--data-dir", type=Path, default=Path("training_data"))
    p.add_argument("--cache-dir", type=Path, default=Path("cache"))
    add_executor_args(p)
    p.set_defaults(func=_run_precache)


def _run_precache(args: argparse.Namespace) -> int:
    from editor_env.cache import precache

    executor = executor_from_args(args)
    print(f"Precaching {args.data_dir} into {args.cache_dir} on {executor.describe()} …")
    result = precache(args.data_dir, args.cache_dir, samples=args.samples or None, executor=executor)
    print(
        f"{len(result.computed)} computed, {len(result.skipped)} already cached, "
        f"{len(result.failed)} failed; {result.audio_seconds:.1f} s of audio analysed."
    )
    return report_failures(result.failed)


def _add_info(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("info", help="summarise an audio file or a data set (tempo, beats, cache, edits)")
    p.add_argument("path", type=Path, help="an audio file or a data-set folder")
    p.add_argument("--cache-dir", type=Path, default=Path("cache"), help="cache of a data set (default cache)")
    p.add_argument("--plot", type=Path, default=None, help="write pictures into this folder")
    p.add_argument("--json", action="store_true", help="print the summary as JSON")
    p.set_defaults(func=_run_info)


def _run_info(args: argparse.Namespace) -> int:
    from editor_env import info

    summary = info.summarise(args.path, cache_dir=args.cache_dir, plot_dir=args.plot)
    print(json.dumps(summary, indent=2) if args.json else info.format_summary(summary))
    return 0


def _add_edit(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("edit", help="edit a raw recording into a polished track (audio + EDL JSON beside it)")
    p.add_argument("raw", type=Path, help="the raw recording (WAV, FLAC or OGG)")
    p.add_argument("-o", "--out", type=Path, required=True, help="edited audio to write (.wav, .flac or .ogg)")
    p.add_argument(
        "--policy",
        default=None,
        help="the editor: retarget (the non-learned baseline), bc, bc_ppo (alias agent), pointer or supervised "
        "(Griffin-Lim audio, lossy); default: the shipped default model (editor_env/models/default.json)",
    )
    p.add_argument("--target-ratio", type=float, default=None, help="output / input length (default 0.67)")
    p.add_argument(
        "--target-duration",
        default=None,
        metavar="SECONDS",
        help="output length in seconds or m:ss (not with --target-ratio)",
    )
    p.add_argument("--slack", type=float, default=None, help="allowed miss of the target length in seconds (default 2)")
    p.add_argument(
        "--keep",
        action="append",
        default=[],
        metavar="START-END",
        help="a raw span the edit must play, in seconds or m:ss, e.g. 1:05-1:40 (repeatable; widened to whole beats)",
    )
    p.add_argument(
        "--cut",
        action="append",
        default=[],
        metavar="START-END",
        help="a raw span the edit must not play (repeatable; its ends snap to the nearest beat)",
    )
    p.add_argument(
        "--alternatives",
        type=int,
        default=None,
        metavar="N",
        help="write the N best distinct edits, ranked by the common reward: OUT.1.wav ... with OUT.k.edl.json",
    )
    p.add_argument(
        "--ending",
        choices=["natural", "fade", "phrase", "none"],
        default="natural",
        help="natural (default): fade in a start and fade out an end that cut into sound, ending on a phrase end "
        "where one fits; fade: fade the last 3 s; phrase: also end where a phrase ends; none: as the editor made it",
    )
    p.add_argument(
        "--export",
        default=None,
        metavar="FORMATS",
        help="also write the edit for other editors beside OUT: audacity (OUT.labels.txt), reaper (OUT.rpp), "
        "otio (OUT.otio), cue (OUT.cue), comma-separated, or all",
    )
    p.add_argument(
        "--plain-seams",
        action="store_true",
        help="the editor's fixed crossfades without loudness matching (default: crossfades of an eighth of a beat, "
        "momentary loudness matched across each seam)",
    )
    p.add_argument(
        "--preview-seams",
        action="store_true",
        help="write a clip a few seconds either side of every seam into OUT.seams/ (listed in --report)",
    )
    p.add_argument(
        "--checkpoint",
        default=None,
        help="trained model of a learned policy (e.g. models/v1/best.pt); given without --policy, the policy is the "
        "one the checkpoint says it is; default: the shipped model of that policy",
    )
    p.add_argument("--device", default="auto", help="auto (CUDA when present), cpu or cuda")
    p.add_argument("--edl", type=Path, default=None, help="where to write the EDL JSON (default OUT_STEM.edl.json)")
    p.add_argument(
        "--report",
        type=Path,
        default=None,
        help="also write an HTML report: waveforms, pointer plot, players, reward, and every seam with a player and "
        "its loudness step (writes the seam previews)",
    )
    p.add_argument(
        "--reference",
        type=Path,
        default=None,
        help="the reference edit's pointers (.npy) to score the edit against in the report",
    )
    p.set_defaults(func=_run_edit)


def _edit_constraints(args: argparse.Namespace):
    """The :class:`~editor_env.constraints.EditConstraints` of the edit flags, checked before any audio is
    read. With no flag at all it is still the length request: 0.67 of the raw +- the default slack (2 s),
    so every paradigm edits as the benchmark scores it with ``--slack`` (the pointer network decodes under
    the window, every end is fitted alike)."""
    from editor_env.constraints import EditConstraints, parse_region, parse_time

    return EditConstraints(
        target_ratio=args.target_ratio,
        target_duration_s=None
        if args.target_duration is None
        else parse_time(args.target_duration, "--target-duration"),
        slack_s=args.slack,
        keep_regions=[parse_region(r, "--keep") for r in args.keep],
        cut_regions=[parse_region(r, "--cut") for r in args.cut],
        ending=args.ending,
        n_alternatives=1 if args.alternatives is None else args.alternatives,
    ).validate()


def _run_edit(args: argparse.Namespace) -> int:
    from editor_env.defaults import resolve_editor
    from editor_env.edit import edit_file

    constraints = _edit_constraints(args)
    args.policy, args.checkpoint, args.editor = resolve_editor(args.policy, args.checkpoint)
    print(f"Editing {args.raw} with {args.editor} …")
    result = edit_file(
        args.raw,
        args.out,
        policy=args.policy,
        target_ratio=args.target_ratio,
        slack_s=args.slack,
        checkpoint=args.checkpoint,
        device=args.device,
        edl_path=args.edl,
        constraints=constraints,
        preview_seams=args.preview_seams or (args.report is not None and args.policy != "supervised"),
        exports=args.export,
        finish_seams=not args.plain_seams,
    )
    ranked = [result, *result.alternatives]
    if constraints is not None and constraints.n_alternatives > 1:
        print(f"{len(ranked)} alternative(s), best first (common reward without a reference, at the target):")
        print("  rank  reward  duration (s)  seams  constraints  file")
        for r in ranked:
            met = r.edl.meta.get("constraints_report", {}).get("ok")
            met_text = "met" if met else ("MISSED" if met is not None else "-")
            print(
                f"  {r.rank:>4}  {r.reward if r.reward is not None else float('nan'):6.3f}  "
                f"{r.output_duration_s:12.1f}  {len(r.edl.seams()):5d}  {met_text:>11}  {r.output_path}"
            )
        if len(ranked) < constraints.n_alternatives:
            print(f"Only {len(ranked)} distinct edit(s) found of the {constraints.n_alternatives} asked for.")
    print(
        f"{result.input_duration_s:.1f} s -> {result.output_duration_s:.1f} s (ratio {result.ratio:.3f}), "
        f"{result.n_segments} segment(s)."
    )
    for r in ranked:
        report = r.edl.meta.get("constraints_report")
        if report is not None and not report["ok"]:
            missed = [k[:-3] for k in ("duration_ok", "keep_ok", "cut_ok", "ending_ok") if not report[k]]
            print(f"Warning: {r.output_path.name} does not meet the request ({', '.join(missed)}): see its EDL meta.")
    print(f"Wrote {', '.join(f'{r.output_path} and {r.edl_path}' for r in ranked)}")
    if result.seams:
        print(f"Wrote {len(result.seams)} seam preview(s) into {result.seams[0]['clip'].parent}")
    for r in ranked:
        if r.exports:
            print(f"Wrote {', '.join(str(p) for p in r.exports.values())}")
    if args.report is not None:
        _write_report(args, result)
    return 0


def _write_report(args: argparse.Namespace, result) -> None:
    from editor_env.labels import RawLabels
    from editor_env.report import write_edit_report
    from editor_env.reward import Scorer
    from editor_env.tasks import read_reference

    if result.analysis is None:
        raise MusicEditError(f"--report needs an edit of the raw audio; policy {args.policy} has none.")
    if args.reference is not None and not args.reference.is_file():
        raise MusicEditError(f"--reference {args.reference} does not exist: give a {{sample}}_pointers.npy file.")
    reference = read_reference(args.reference) if args.reference is not None else None
    from editor_env.constraints import reward_config

    constraints = _edit_constraints(args)
    config = reward_config(constraints, result.input_duration_s, args.target_ratio or 0.67) if constraints else None
    reward = Scorer(result.analysis, reference, config).score(result.edl)
    model = f"Editor: {args.editor}"
    labels = None
    if args.reference is not None:  # {sample}_pointers.npy sits beside {sample}_labels.json in a data set
        sample = args.reference.name.removesuffix(".npy").removesuffix("_pointers")
        labels_file = args.reference.parent / f"{sample}_labels.json"
        labels = RawLabels.load(labels_file) if labels_file.is_file() else None
    path = write_edit_report(
        args.report,
        result.input_path,
        result.output_path,
        result.edl,
        reward=reward,
        model=model,
        seams=result.seams,
        labels=labels,
    )
    print(f"Wrote {path} (common reward {reward.total:.3f}{' against the reference' if reference is not None else ''})")


def _add_render(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "render",
        help="render an edit (EDL JSON, OpenTimelineIO .otio or an Audacity label track) from the raw recording",
        description="Render an edit you finished in another editor: an EDL JSON, an OpenTimelineIO timeline "
        "(.otio) or an Audacity label track (.txt: region labels are the spans to play). Writes OUT and "
        "OUT_STEM.edl.json beside it; the raw and the edit are never overwritten.",
    )
    p.add_argument("raw", type=Path, help="the raw recording the edit was made for")
    p.add_argument("--edl", type=Path, required=True, help="the edit: EDL.json, TIMELINE.otio or LABELS.txt")
    p.add_argument("-o", "--out", type=Path, required=True, help="audio to write (.wav, .flac or .ogg)")
    p.add_argument("--export", default=None, metavar="FORMATS", help="also write exports beside OUT (as edit)")
    p.set_defaults(func=_run_render)


def _run_render(args: argparse.Namespace) -> int:
    from editor_env.exports import render_file

    result = render_file(args.raw, args.edl, args.out, exports=args.export)
    edl = result.edl
    matched = [s for s in result.seams if s.get("gain_db")]
    print(
        f"Rendered {args.edl} ({len(edl.segments)} segment(s), {len(result.seams)} seam(s), {len(matched)} "
        f"loudness-matched) into {result.output_path} ({edl.output_length() / edl.sample_rate:.1f} s)"
    )
    written = [p for p in (result.edl_path, *result.exports.values()) if p is not None]
    if written:
        print(f"Wrote {', '.join(str(p) for p in written)}")
    return 0


def _add_export(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "export",
        help="write an EDL for Audacity, REAPER, OpenTimelineIO or as a cue sheet",
        description="Write the exports of an EDL JSON written by musicedit edit or render: audacity "
        "(X.labels.txt), reaper (X.rpp), otio (X.otio), cue (X.cue), beside the edited audio.",
    )
    p.add_argument("edl", type=Path, help="the EDL JSON")
    p.add_argument("--format", required=True, metavar="FORMATS", help="audacity,reaper,otio,cue or all")
    p.add_argument("--raw", type=Path, default=None, help="the raw recording (default: where the EDL says it is)")
    p.add_argument("--audio", type=Path, default=None, help="the edited audio, for the cue sheet (default: the EDL's)")
    p.add_argument(
        "--out", type=Path, default=None, help="path of the exports without suffix (default: beside the audio)"
    )
    p.set_defaults(func=_run_export)


def _run_export(args: argparse.Namespace) -> int:
    from editor_env.exports import export_file

    paths = export_file(args.edl, args.format, raw_path=args.raw, audio_path=args.audio, stem=args.out)
    print(f"Wrote {', '.join(str(p) for p in paths.values())}")
    return 0


def _add_benchmark(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "benchmark",
        help="every paradigm edits every recording of a held-out data set; common reward and edit metrics",
        description="Every paradigm edits every raw recording of --data (all treated as held out), asked what "
        "musicedit edit asks with the same flags, and is scored with the common reward and the metrics defined in "
        "editor_env.benchmark (junk removed / song kept for labelled data). Writes results.csv, summary.csv, "
        "benchmark.md, benchmark.json, components.png, per_sample.png and junk_kinds.png into --out.",
    )
    p.add_argument("--data", type=Path, required=True, help="data set folder (input/, pointer_sequences/ ...)")
    p.add_argument("--cache-dir", type=Path, default=None, help="analysis cache (default: DATA/../cache)")
    p.add_argument(
        "--paradigms",
        default="retarget",
        help="comma-separated: retarget, bc, bc_ppo, pointer, supervised (default retarget)",
    )
    p.add_argument(
        "--checkpoint",
        action="append",
        default=[],
        metavar="NAME=PATH",
        help="trained model of a learned paradigm, e.g. bc_ppo=models/v1/best.pt (repeatable); a learned paradigm "
        "without one uses the model of its kind that ships with musicedit (today: pointer), if any",
    )
    p.add_argument("--samples", nargs="+", default=None, help="only these recordings")
    p.add_argument(
        "--target-ratio",
        type=float,
        default=None,
        help="output / raw length asked for; default: the music chooses (the content model), as musicedit edit does",
    )
    p.add_argument(
        "--slack",
        type=float,
        default=None,
        metavar="SECONDS",
        help="allowed miss of the length in seconds, as musicedit edit --slack (default 2, or the content mode's own)",
    )
    p.add_argument("--reward-config", type=Path, default=None, help="reward weights JSON (configs/reward.json)")
    p.add_argument("--out", type=Path, default=Path("bench_output/benchmark"), help="report folder")
    p.add_argument("--device", default="auto", help="auto (CUDA when present), cpu or cuda")
    p.add_argument("--no-plots", action="store_true", help="skip the PNG plots")
    p.set_defaults(func=_run_benchmark)


def _parse_checkpoints(items: list[str]) -> dict[str, str]:
    checkpoints = {}
    for item in items:
        name, sep, path = item.partition("=")
        if not sep or not name or not path:
            raise MusicEditError(f"--checkpoint {item!r}: write NAME=PATH, e.g. bc_ppo=models/v1/best.pt.")
        checkpoints[name.strip()] = path.strip()
    return checkpoints


def _run_benchmark(args: argparse.Namespace) -> int:
    from editor_env.benchmark import markdown_table, resolve_checkpoints, run_benchmark, write_report
    from editor_env.reward import RewardConfig

    paradigms = [p.strip() for p in args.paradigms.split(",") if p.strip()]
    reward_config = RewardConfig.from_json(args.reward_config) if args.reward_config else None
    checkpoints = _parse_checkpoints(args.checkpoint)
    for name, path in resolve_checkpoints(paradigms, checkpoints)[1].items():
        print(f"{name}: no --checkpoint {name}=PATH given; using the shipped {name} model {path}")
    result = run_benchmark(
        args.data,
        paradigms,
        checkpoints=checkpoints,
        cache_dir=args.cache_dir,
        samples=args.samples,
        target_ratio=args.target_ratio,
        slack_s=args.slack,
        device=args.device,
        reward_config=reward_config,
    )
    paths = write_report(result, args.out, plots=not args.no_plots)
    print(markdown_table(result))
    print(f"\nWrote {', '.join(str(p) for p in paths.values())}")
    failed = {f"{r['paradigm']} on {r['sample']}": r["error"] for r in result.rows if r.get("error")}
    return report_failures(failed)


SUBCOMMANDS = [_add_synth, _add_jams, _add_precache, _add_info, _add_edit, _add_render, _add_export, _add_benchmark]


#: Modules of other packages whose ``register(subparsers)`` adds their subcommands.
PACKAGE_CLIS: list[str] = ["imitation_data.cli", "policies.cli"]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="musicedit",
        description="Edit raw music recordings into polished tracks, and train the editors that do it.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for add in SUBCOMMANDS:
        add(sub)
    for module in PACKAGE_CLIS:
        importlib.import_module(module).register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    if extra and not getattr(args, "pass_through", False):
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    args.pass_through_args = extra  # for subcommands that hand their flags to another entry point
    try:
        return args.func(args)
    except MusicEditError as exc:
        print(f"musicedit {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:  # the machine, not the input (a file that vanished, a device error): one line, no traceback
        where = f"{exc.filename}: " if exc.filename else ""
        print(f"musicedit {args.command}: error: {where}{exc.strerror or exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"musicedit {args.command}: interrupted; finished files are kept, rerun to resume.", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())

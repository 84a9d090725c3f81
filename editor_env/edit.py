"""Edit one audio file end to end: load, analyse, choose the edit, render, write audio + EDL.

:func:`edit_file` is what ``musicedit edit`` calls. The output audio is written atomically at
the raw recording's own sample rate and channel count; the edit list is written beside it as
``{out_stem}.edl.json``. The input file is never overwritten.

Policies (:mod:`editor_env.paradigms`): ``retarget`` (the non-learned baseline), ``bc`` / ``bc_ppo``
(alias ``agent``: a BC or BC + PPO agent from :mod:`policies.train`, given by ``checkpoint``) and
``pointer`` (the pointer network, copying raw frames) are rendered from the raw samples by
:func:`editor_env.render.render`. ``supervised`` generates a mel, so its audio comes from
Griffin-Lim (lossy, mono, at the analysis rate) and its predicted mel is written as
``{out_stem}.mel.npy`` beside the audio; its EDL is the retarget edit whose labels it was given
(:mod:`supervised_baseline.infer`).

The user's controls (:class:`editor_env.constraints.EditConstraints`: ``--target-duration``,
``--keep``, ``--cut``, ``--ending``, ``--alternatives``) reach every paradigm through
:func:`editor_env.paradigms.run_alternatives`. With ``n_alternatives = N > 1`` the ranked edits are
written as ``{out_stem}.1{suffix}`` ... ``{out_stem}.N{suffix}``, each with its ``.edl.json`` (the rank,
the common reward and the constraint check in its ``meta``). ``preview_seams`` writes, for every seam
of each edit, a clip of :data:`SEAM_CONTEXT_S` seconds either side into ``{out_stem}.seams/``.

Every edit rendered from the raw gets the finished seams of :mod:`editor_env.render` (``finish_seams``): a
crossfade of :data:`~editor_env.render.CROSSFADE_BEATS` of the recording's median beat, and the momentary
loudness matched across each seam; what was done at each seam is stored in the EDL's ``meta["seams"]``.
``exports`` writes the edit for Audacity, REAPER, OpenTimelineIO and a cue sheet beside the audio
(:mod:`editor_env.exports`: ``{out_stem}.labels.txt``, ``.rpp``, ``.otio``, ``.cue``).
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path
from typing import Any

from editor_env.edl import EditList
from editor_env.errors import MusicEditError
from editor_env.params import DEFAULT_PARAMS, AudioParams

POLICIES = ("retarget", "bc", "bc_ppo", "agent", "pointer", "supervised")
"""Names accepted by :func:`edit_file`'s ``policy``."""
AUDIO_SUFFIXES = (".wav", ".flac", ".ogg")
"""Output formats (soundfile picks the format from the suffix)."""
SEAM_CONTEXT_S = 3.0
"""Seconds of the edit before and after each seam in a seam preview clip."""


@dataclasses.dataclass
class EditResult:
    """What :func:`edit_file` did.

    :param input_path: the raw recording.
    :param output_path: the edited audio written.
    :param edl_path: the edit list JSON written beside it.
    :param input_duration_s: raw length, seconds.
    :param output_duration_s: edited length, seconds.
    :param n_segments: segments in the edit list.
    :param policy: the editor that chose the edit.
    :param edl: the edit list itself.
    :param analysis: the raw recording's analysis (None for ``supervised``).
    """

    input_path: Path
    output_path: Path
    edl_path: Path
    input_duration_s: float
    output_duration_s: float
    n_segments: int
    policy: str
    edl: EditList
    analysis: Any = None
    """The raw recording's analysis (None for ``supervised``)."""
    rank: int = 1
    """1 = the best edit; alternatives are ranked by the common reward."""
    reward: float | None = None
    """The common reward (reference-free, at the requested target) the ranking used, when ranked."""
    seams: list = dataclasses.field(default_factory=list)
    """One dict per seam with ``preview_seams``: ``index``, ``output_s``, ``raw_from_s``, ``raw_to_s``,
    ``discontinuity`` (1 - the reward's per-seam score; None where the seam is only an effect change),
    ``clip`` (the preview's path) and the renderer's record of the seam (``crossfade_s``, ``step_before_db``,
    ``step_after_db``, ``gain_db`` ...: :func:`editor_env.render.render`'s ``seam_info``)."""
    exports: dict = dataclasses.field(default_factory=dict)
    """The exports written beside the audio, ``{format: path}`` (:func:`editor_env.exports.write_exports`)."""
    alternatives: list = dataclasses.field(default_factory=list)
    """The other ranked edits (ranks 2..N), each an :class:`EditResult`."""

    @property
    def ratio(self) -> float:
        """Output duration / input duration."""
        return self.output_duration_s / self.input_duration_s


def alternative_path(out_path: str | os.PathLike, rank: int) -> Path:
    """Where alternative ``rank`` (1 = best) of ``out_path`` goes: ``{out_stem}.{rank}{suffix}``."""
    out_path = Path(out_path)
    return out_path.with_name(f"{out_path.stem}.{rank}{out_path.suffix}")


def seam_dir_for(out_path: str | os.PathLike) -> Path:
    """Where the seam previews of an output go: ``{out_stem}.seams/`` beside it."""
    out_path = Path(out_path)
    return out_path.with_name(f"{out_path.stem}.seams")


def edl_path_for(out_path: str | os.PathLike) -> Path:
    """Where the EDL of an output file goes: ``{out_stem}.edl.json`` beside it."""
    out_path = Path(out_path)
    return out_path.with_name(f"{out_path.stem}.edl.json")


def _same_file(a: Path, b: Path) -> bool:
    if a.resolve() == b.resolve():
        return True
    try:
        return a.exists() and b.exists() and os.path.samefile(a, b)
    except OSError:
        return False


def check_output_paths(
    raw_path: str | os.PathLike, out_path: str | os.PathLike, *also: Path, edl_path: str | os.PathLike | None = None
) -> Path:
    """Check an edit's output before any work: a supported audio suffix, and neither the audio, its
    EDL (``edl_path`` or ``{out_stem}.edl.json``; returned) nor any of ``also`` is the input file
    (which is never overwritten).

    :raises MusicEditError: naming the path and what to do.
    """
    raw_path, out_path = Path(raw_path), Path(out_path)
    if out_path.suffix.lower() not in AUDIO_SUFFIXES:
        raise MusicEditError(
            f"Output {out_path} has suffix {out_path.suffix!r}; write one of {', '.join(AUDIO_SUFFIXES)}."
        )
    edl_path = Path(edl_path) if edl_path is not None else edl_path_for(out_path)
    if edl_path.suffix.lower() != ".json":
        raise MusicEditError(f"The EDL path {edl_path} must end in .json.")
    for written in (out_path, edl_path, *also):
        if _same_file(Path(written), raw_path):
            raise MusicEditError(
                f"Refusing to overwrite the input {raw_path} with {written}: choose another output path."
            )
    return edl_path


def edit_file(
    raw_path: str | os.PathLike,
    out_path: str | os.PathLike,
    *,
    policy: str = "retarget",
    target_ratio: float | None = None,
    slack_s: float | None = None,
    config=None,
    checkpoint: str | os.PathLike | None = None,
    device: str = "auto",
    params: AudioParams = DEFAULT_PARAMS,
    edl_path: str | os.PathLike | None = None,
    constraints=None,
    preview_seams: bool = False,
    exports=None,
    finish_seams: bool = True,
) -> EditResult:
    """Edit ``raw_path`` into ``out_path`` and write the EDL beside it. Prints nothing.

    Parameters
    ----------
    raw_path : path
        The raw recording (WAV, FLAC or OGG; any rate, mono or stereo).
    out_path : path
        The edited audio to write (``.wav``, ``.flac`` or ``.ogg``); its folder is created. The
        EDL goes to ``{out_stem}.edl.json`` in the same folder. With several alternatives, the
        ranked edits go to ``{out_stem}.1{suffix}`` ... (:func:`alternative_path`).
    policy : str
        The editor: one of :data:`POLICIES`.
    target_ratio, slack_s : float, optional
        Override the policy config's target length ratio and slack in seconds.
    config : optional
        The policy's config (for ``retarget`` a :class:`~editor_env.retarget.RetargetConfig`).
    checkpoint : path, optional
        The trained model, for the learned policies.
    device : str
        ``"auto"`` (CUDA when present), ``"cpu"`` or ``"cuda"``, for learned policies.
    params : AudioParams
        Analysis parameters.
    edl_path : path, optional
        Where to write the EDL JSON (default ``{out_stem}.edl.json`` beside the audio; one edit only).
    constraints : EditConstraints, optional
        Target duration, keep/cut regions, ending and alternatives (:mod:`editor_env.constraints`);
        ``target_ratio`` / ``slack_s`` fill its target and slack when it has none.
    preview_seams : bool
        Also write a clip around every seam (:func:`write_seam_previews`) into ``{out_stem}.seams/``.
    exports : str or list of str, optional
        Also write these exports of each edit beside its audio (``"audacity,reaper,otio,cue"`` or ``"all"``;
        :mod:`editor_env.exports`).
    finish_seams : bool
        Crossfades that follow the tempo and loudness-matched seams (:func:`finish_seams_of`); False: the editor's
        plain fixed crossfades, as before.

    Returns
    -------
    EditResult
        The best edit; the other ranked ones in ``alternatives``.

    Raises
    ------
    MusicEditError
        Unknown policy, an output path that is the input (or its EDL path is), an unsupported
        output format, an unreadable input, a request that cannot be met (checked before any
        model work: regions outside the recording, keep and cut overlapping, keep regions longer
        than the target), or a target the editor cannot meet.
    """
    raw_path, out_path = Path(raw_path), Path(out_path)
    constraints = _merge_target(constraints, target_ratio, slack_s)
    n_alternatives = 1 if constraints is None else int(constraints.n_alternatives)
    if constraints is not None and n_alternatives > 1 and edl_path is not None:
        raise MusicEditError(
            "--edl names one file; with --alternatives each EDL goes beside its audio (OUT.k.edl.json)."
        )
    if policy == "supervised":
        if edl_path is not None:
            raise MusicEditError("--edl is not supported with the supervised policy (its EDL goes beside the audio).")
        if preview_seams or exports:
            raise MusicEditError(
                f"{'--preview-seams' if preview_seams else '--export'} needs an edit rendered from the raw samples; "
                "the supervised policy generates its audio (use retarget, bc, bc_ppo or pointer)."
            )
        from supervised_baseline.infer import check_constraints

        check_constraints(constraints)
        return _supervised_file(raw_path, out_path, checkpoint, target_ratio, slack_s, device, params, constraints)
    if policy not in POLICIES:
        raise MusicEditError(f"Unknown policy {policy!r}; available policies: {', '.join(POLICIES)}.")
    from editor_env.paradigms import check_checkpoint

    check_checkpoint(policy, None if checkpoint is None else str(checkpoint))
    outputs = (
        [out_path] if n_alternatives == 1 else [alternative_path(out_path, k) for k in range(1, n_alternatives + 1)]
    )
    edl_paths = [
        check_output_paths(raw_path, out, edl_path=edl_path if n_alternatives == 1 else None) for out in outputs
    ]
    if preview_seams:
        for out in outputs:
            check_output_paths(raw_path, out, seam_dir_for(out))
    formats = []
    if exports:
        from editor_env.exports import export_paths, parse_formats

        formats = parse_formats(exports)
        for out in outputs:
            check_output_paths(raw_path, out, *export_paths(out.with_suffix(""), formats).values())

    from editor_env.audio import analysis_signal, load_audio, write_audio
    from editor_env.features import analyze_signal
    from editor_env.render import render

    raw = load_audio(raw_path)
    check_duration(raw_path, raw.duration)
    if constraints is not None:
        constraints.validate(raw.duration)  # before the analysis: regions, target
    analysis = analyze_signal(analysis_signal(raw, params), params)

    from editor_env.paradigms import EditRequest, run_alternatives

    request = EditRequest(
        analysis,
        raw.sample_rate,
        raw.n_samples,
        raw_path=raw_path,
        name=raw_path.stem,
        target_ratio=(config.target_ratio if config is not None and hasattr(config, "target_ratio") else 0.67)
        if target_ratio is None
        else float(target_ratio),
        slack_s=slack_s,
        checkpoint=None if checkpoint is None else str(checkpoint),
        device=device,
        params=params,
        constraints=constraints,
        config=config,
    )
    try:
        edls = run_alternatives(policy, request)
    except MusicEditError as exc:  # the editor's own reason ("nothing worth keeping" ...): say which file
        if str(raw_path) in str(exc):
            raise
        raise type(exc)(f"{raw_path}: {exc}") from exc
    results = []
    for rank, (edl, out, path) in enumerate(zip(edls, outputs, edl_paths), start=1):
        edl.meta["source"] = raw_path.name
        edl.meta["raw_file"] = _relative(raw_path, path.parent)
        edl.meta["output_file"] = _relative(out, path.parent)
        if finish_seams:
            finish_seams_of(edl, analysis)
        seam_info: list = []
        audio = render(edl, raw, seam_info=seam_info)
        edl.meta["seams"] = seam_info
        write_audio(out, audio, raw.sample_rate)
        seams = write_seam_previews(edl, audio, raw_path, seam_dir_for(out), analysis, params) if preview_seams else []
        if seams:
            edl.meta["seam_previews"] = [{**s, "clip": s["clip"].name} for s in seams]
        edl.save(path)
        written = {}
        if formats:
            from editor_env.exports import write_exports

            written = write_exports(edl, formats, stem=out.with_suffix(""), raw_path=raw_path, audio_path=out)
        results.append(
            EditResult(
                input_path=raw_path,
                output_path=out,
                edl_path=path,
                input_duration_s=raw.duration,
                output_duration_s=audio.shape[1] / raw.sample_rate,
                n_segments=len(edl.segments),
                policy=policy,
                edl=edl,
                analysis=analysis,
                rank=rank,
                reward=edl.meta.get("reward", {}).get("total"),
                seams=seams,
                exports=written,
            )
        )
    best = results[0]
    best.alternatives = results[1:]
    return best


def check_duration(raw_path: str | os.PathLike, seconds: float) -> None:
    """Refuse a recording shorter than :data:`editor_env.dataset.MIN_RAW_SECONDS` (as the data sets do).

    :raises AudioLoadError: naming the file, its length and the minimum.
    """
    from editor_env.dataset import MIN_RAW_SECONDS
    from editor_env.errors import AudioLoadError

    if seconds < MIN_RAW_SECONDS:
        raise AudioLoadError(
            f"Audio file {raw_path} is {seconds:.2f} s long, shorter than the {MIN_RAW_SECONDS:g} s MusicEdit edits "
            "(the analysis needs a few beats of context): use a longer recording."
        )


def _relative(target: Path, folder: Path) -> str:
    """``target`` relative to ``folder`` (forward slashes), for references stored in an EDL."""
    return Path(os.path.relpath(Path(target).resolve(), Path(folder).resolve())).as_posix()


def finish_seams_of(edl: EditList, analysis) -> EditList:
    """Ask the renderer for finished seams (in place, and returned): crossfades of
    :data:`~editor_env.render.CROSSFADE_BEATS` of a beat at the recording's median beat period (from
    ``analysis``; the EDL's ``crossfade_s`` when it has fewer than two beats) and loudness matching."""
    import numpy as np

    from editor_env.render import CROSSFADE_BEATS

    times = np.asarray(analysis.beats.times, dtype=np.float64)
    if times.size > 1:
        edl.beat_s = float(np.median(np.diff(times)))
        edl.crossfade_beats = CROSSFADE_BEATS
    edl.loudness_match = True
    return edl


def _merge_target(constraints, target_ratio: float | None, slack_s: float | None):
    """``constraints`` with ``target_ratio`` / ``slack_s`` filled in where it has none (checked)."""
    if constraints is None:
        return None
    updates = {}
    if target_ratio is not None and constraints.target_ratio is None and constraints.target_duration_s is None:
        updates["target_ratio"] = float(target_ratio)
    if slack_s is not None and constraints.slack_s is None:
        updates["slack_s"] = float(slack_s)
    return dataclasses.replace(constraints, **updates).validate()


def write_seam_previews(edl: EditList, audio, raw_path: Path, folder: Path, analysis, params=DEFAULT_PARAMS) -> list:
    """Write ``folder/seam_{k:02d}.wav``: the edit ``audio`` ``(channels, n)`` from :data:`SEAM_CONTEXT_S`
    before to after each seam of ``edl`` (its rendered output), and return one dict per seam: ``index``,
    ``output_s`` (where the seam is in the edit), ``raw_from_s`` / ``raw_to_s`` (where the raw is left and
    re-entered), ``discontinuity`` (1 - the common reward's per-seam score: 0 = seamless; None for a seam
    that is only an effect change), ``clip`` (the path) and what the renderer recorded of the seam in
    ``edl.meta["seams"]`` (its crossfade, loudness step before and after matching, gain). Never writes over
    ``raw_path``."""
    import numpy as np

    from editor_env.audio import write_audio
    from editor_env.reward import RewardConfig, Scorer

    sr = edl.sample_rate
    config = RewardConfig()
    details = Scorer(analysis, None, config, params).score(edl).details
    scores = np.asarray(details.get("seam_scores", []), dtype=np.float64)
    jitter_s = config.pointer_jitter_frames * params.frame_seconds
    seams, k_reward = [], 0
    context = int(round(SEAM_CONTEXT_S * sr))
    rendered = {r.get("index"): r for r in edl.meta.get("seams", []) or [] if isinstance(r, dict)}
    n = audio.shape[-1]
    for index, (out_sample, leave, enter) in enumerate(edl.seams(), start=1):
        discontinuity = None
        if abs(enter - leave) / sr > jitter_s + 1e-9:  # the reward counts a seam where the raw position jumps
            if k_reward < scores.size:
                discontinuity = float(np.clip(1.0 - scores[k_reward], 0.0, 1.0))
            k_reward += 1
        clip = folder / f"seam_{index:02d}.wav"
        if _same_file(clip, raw_path):
            raise MusicEditError(
                f"Refusing to overwrite the input {raw_path} with a seam preview: choose another output."
            )
        lo, hi = max(out_sample - context, 0), min(out_sample + context, n)
        write_audio(clip, audio[..., lo:hi], sr)
        seams.append(
            {
                "index": index,
                "output_s": out_sample / sr,
                "raw_from_s": leave / sr,
                "raw_to_s": enter / sr,
                "discontinuity": discontinuity,
                "clip": clip,
                "clip_start_s": lo / sr,
                **{k: v for k, v in rendered.get(index, {}).items() if k not in ("index", "output_s")},
            }
        )
    return seams


def _supervised_file(raw_path, out_path, checkpoint, target_ratio, slack_s, device, params, constraints) -> EditResult:
    """``edit_file`` for the supervised baseline: Griffin-Lim audio, the predicted mel and the label EDL."""
    from editor_env.audio import audio_extent
    from editor_env.paradigms import check_checkpoint
    from supervised_baseline.infer import edit_to_files

    check_checkpoint("supervised", None if checkpoint is None else str(checkpoint))
    from editor_env.audio import load_audio

    raw = load_audio(raw_path)  # a damaged or too short input is refused here, naming it
    check_duration(raw_path, raw.duration)
    del raw
    paths = edit_to_files(
        raw_path,
        out_path,
        checkpoint,
        target_ratio=target_ratio,
        slack_s=slack_s,
        device=device,
        params=params,
        constraints=constraints,
    )
    raw_rate, raw_samples = audio_extent(raw_path)
    out_rate, out_samples = audio_extent(paths["audio"])
    edl = EditList.load(paths["edl"])
    return EditResult(
        input_path=Path(raw_path),
        output_path=paths["audio"],
        edl_path=paths["edl"],
        input_duration_s=raw_samples / raw_rate,
        output_duration_s=out_samples / out_rate,
        n_segments=len(edl.segments),
        policy="supervised",
        edl=edl,
    )

"""Seams a listener does not hear: loudness steps across seams before and after matching, on real-corpus jams.

    python scripts/bench_seams.py --data ~/.cache/musicedit/corpus/jams/val/training_data [--limit 8]
        [--paradigms retarget,pointer] [--checkpoint pointer=editor_env/models/pointer.pt]

Every paradigm that runs without training (``retarget``, and ``pointer`` with the shipped model
``editor_env/models/pointer.pt``) edits the first ``--limit`` jams of ``--data`` (name order) as ``musicedit
edit`` does (0.67 of the raw +- 2 s, the natural ending), with finished seams (``editor_env.edit.finish_seams_of``:
crossfades of an eighth of a beat, loudness matching), and the renderer reports every seam
(``editor_env.render.render``'s ``seam_info``). Prints a Markdown table per paradigm:

- seams: seams in all edits, and how many the matching changed (gain != 0);
- loudness step before / after: the momentary loudness (EBU R128, 400 ms, ``pyloudnorm``) just after each
  seam's crossfade minus just before it, beyond any gain the edit asks for: the median and 90th percentile of
  its size, and the share of seams whose step exceeds 1 dB, in a plain render and in the matched one;
- excess before / after: the same, beyond the raw's own change at the seam's two ends (what the renderer
  matches: a step the raw makes there anyway is not a seam the listener hears), for the seams where the raw's
  change could be measured;
- seam discontinuity: the benchmark's figure (1 - the common reward's mean per-seam score, read from the raw's
  analysis, so matching does not change it): mean over recordings;
- render: seconds of audio rendered per second of rendering (with matching).

Uses the jams' cached analysis (``DATA/../cache``, ``musicedit precache``) when there is one. Use the val
split while developing, never test. Without ``--data`` on disk it says so and exits 0.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

DEFAULT_DATA = Path.home() / ".cache" / "musicedit" / "corpus" / "jams" / "val" / "training_data"
STEP_DB = 1.0
"""A step larger than this (the renderer's MATCH_TOLERANCE_DB) is counted as heard."""


def _analysis(raw, sample: str, cache_dir: Path):
    from editor_env.audio import analysis_signal
    from editor_env.cache import load_analysis
    from editor_env.errors import MusicEditError
    from editor_env.features import analyze_signal

    try:
        return load_analysis(cache_dir, sample)
    except MusicEditError:
        return analyze_signal(analysis_signal(raw))


def _stats(values: list[float]) -> str:
    if not values:
        return "- / - / -"
    sizes = np.abs(np.asarray(values, dtype=np.float64))
    return f"{np.median(sizes):.2f} / {np.percentile(sizes, 90):.2f} / {100 * np.mean(sizes > STEP_DB):.0f} %"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="jams data set (input/, pointer_sequences/)")
    parser.add_argument("--cache-dir", type=Path, default=None, help="analysis cache (default DATA/../cache)")
    parser.add_argument("--limit", type=int, default=8, help="recordings to edit, in name order (0: all)")
    parser.add_argument("--paradigms", default="retarget,pointer", help="comma-separated (default retarget,pointer)")
    parser.add_argument(
        "--checkpoint",
        action="append",
        default=[],
        metavar="NAME=PATH",
        help="model of a learned paradigm (default pointer=editor_env/models/pointer.pt)",
    )
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args(argv)

    inputs = args.data / "input"
    if not inputs.is_dir():
        print(
            f"No jams at {args.data} (no input/ folder): make them with `python scripts/fetch_corpus.py` and "
            "`musicedit jams`, or pass --data DIR. Nothing measured."
        )
        return 0
    files = sorted(p for p in inputs.iterdir() if p.name.rsplit(".", 1)[0].endswith("_raw"))[: args.limit or None]
    if not files:
        print(f"No {{sample}}_raw.* recordings in {inputs}. Nothing measured.")
        return 0

    import torch as th

    from editor_env.audio import load_audio
    from editor_env.constraints import EditConstraints
    from editor_env.edit import finish_seams_of
    from editor_env.paradigms import EditRequest, run_alternatives
    from editor_env.render import render
    from editor_env.reward import RewardConfig, Scorer

    th.set_num_threads(1)
    checkpoints = {"pointer": str(REPO / "editor_env" / "models" / "pointer.pt")}
    for item in args.checkpoint:
        name, _, path = item.partition("=")
        checkpoints[name.strip()] = path.strip()
    paradigms = [p.strip() for p in args.paradigms.split(",") if p.strip()]
    cache_dir = args.cache_dir or args.data.parent / "cache"
    rows = {
        p: {"before": [], "after": [], "excess_before": [], "excess_after": [], "seams": 0, "matched": 0}
        | {"gains": [], "disc": [], "audio": 0.0, "time": 0.0}
        for p in paradigms
    }
    failures = []
    print(f"{len(files)} jam(s) of {args.data}, paradigms {', '.join(paradigms)} …", file=sys.stderr)
    for path in files:
        sample = path.name.rsplit(".", 1)[0].removesuffix("_raw")
        raw = load_audio(path)
        analysis = _analysis(raw, sample, cache_dir)
        for paradigm in paradigms:
            request = EditRequest(
                analysis,
                raw.sample_rate,
                raw.n_samples,
                raw_path=path,
                name=sample,
                target_ratio=0.67,
                slack_s=2.0,
                checkpoint=checkpoints.get(paradigm),
                device=args.device,
                constraints=EditConstraints(target_ratio=0.67, slack_s=2.0, ending="natural"),
            )
            try:
                edl = run_alternatives(paradigm, request)[0]
            except Exception as exc:  # one recording's failure is reported, not fatal
                failures.append(f"{paradigm} on {sample}: {exc}")
                continue
            finish_seams_of(edl, analysis)
            start = time.perf_counter()
            info: list = []
            audio = render(edl, raw, seam_info=info)
            row = rows[paradigm]
            row["time"] += time.perf_counter() - start
            row["audio"] += audio.shape[1] / raw.sample_rate
            row["seams"] += len(info)
            for record in info:
                if "step_before_db" in record and "step_after_db" in record:
                    row["before"].append(record["step_before_db"])
                    row["after"].append(record["step_after_db"])
                    changes = [c for c in record.get("raw_change_db") or [] if c is not None]
                    if "raw_change_db" in record:
                        lo, hi = min([0.0, *changes]), max([0.0, *changes])
                        for key in ("before", "after"):
                            step = record[f"step_{key}_db"]
                            row[f"excess_{key}"].append(step - float(np.clip(step, lo, hi)))
                if record.get("gain_db"):
                    row["matched"] += 1
                    row["gains"].append(abs(record["gain_db"]))
            scores = Scorer(analysis, None, RewardConfig()).score(edl).details.get("seam_scores")
            row["disc"].append(float(1.0 - np.mean(scores)) if scores is not None and len(scores) else 0.0)
            print(f"  {paradigm} {sample}: {len(info)} seam(s)", file=sys.stderr)

    print(
        "| paradigm | recordings | seams (matched) | mean gain (dB) | step before: median / p90 / > 1 dB | "
        "step after: median / p90 / > 1 dB | excess before: median / p90 / > 1 dB | "
        "excess after: median / p90 / > 1 dB | seam discontinuity | render x real time |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|")
    for paradigm, row in rows.items():
        gain = f"{np.mean(row['gains']):.2f}" if row["gains"] else "-"
        disc = f"{np.mean(row['disc']):.3f}" if row["disc"] else "-"
        speed = f"{row['audio'] / row['time']:.0f}" if row["time"] else "-"
        print(
            f"| {paradigm} | {len(row['disc'])} | {row['seams']} ({row['matched']}) | {gain} | "
            f"{_stats(row['before'])} | {_stats(row['after'])} | {_stats(row['excess_before'])} | "
            f"{_stats(row['excess_after'])} | {disc} | {speed} |"
        )
    for failure in failures:
        print(f"FAILED {failure}", file=sys.stderr)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())

"""Two checks of issue 30 on a labelled jam set: does the reference-free reward rank the true edit above a plain
excerpt of the same length, and how many seams a minute each paradigm's edits have against the references'.

    python scripts/bench_real_checks.py --data CORPUS/jams/test/training_data [--benchmark bench_output/real_test_content]

1. For every jam: the common reward **without a reference and without labels** (the content model's estimate,
   at the length the music asks for) of the true edit (``_edl.json``) and of plain excerpts of the same length
   (one contiguous span of the raw) starting at 0 s and at 8 evenly spaced starts: the share of jams where the
   true edit beats the excerpt from the start, and where it beats all 9.
2. With ``--benchmark`` (a ``musicedit benchmark`` folder on the same data): seams per minute of output per
   paradigm (``results.csv``: ``n_seams`` over the output duration) against the reference edits'.
Prints Markdown tables.
"""

from __future__ import annotations

import argparse
import csv
import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def main(argv: list[str] | None = None) -> int:
    from editor_env.audio import audio_extent
    from editor_env.constraints import EditConstraints, reward_config
    from editor_env.content import content_length, predict
    from editor_env.edl import EditList, Segment
    from editor_env.reward import Scorer
    from editor_env.tasks import load_tasks

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--benchmark", type=Path, default=None)
    args = parser.parse_args(argv)
    tasks = load_tasks(args.data, args.data.parent / "cache")
    beats_start, beats_all, ref_seams_per_min, n = 0, 0, [], 0
    margins = []
    for task in tasks:
        edl_path = args.data / "pointer_sequences" / f"{task.name}_edl.json"
        if not edl_path.is_file():
            continue
        truth = EditList.load(edl_path)
        sr, length = audio_extent(task.raw_path)
        raw_s = length / sr
        prediction = predict(task.analysis)
        target, slack = content_length(prediction, task.analysis, raw_s)
        config = reward_config(EditConstraints(content_target_s=target, content_slack_s=slack), raw_s)
        scorer = Scorer(task.analysis, None, config, content=prediction)
        true_score = scorer.score(truth).total
        out_len = min(truth.output_length(), length - 1)
        starts = np.linspace(0, length - out_len, 9).astype(np.int64)
        excerpts = [scorer.score(EditList(sr, length, [Segment(int(a), int(a) + out_len)])).total for a in starts]
        beats_start += true_score > excerpts[0]
        beats_all += true_score > max(excerpts)
        margins.append(true_score - max(excerpts))
        ref_seams_per_min.append(len(truth.seams()) / max(truth.output_length() / sr / 60, 1e-9))
        n += 1
    print(f"### Reference-free reward: true edit against plain excerpts of its length ({n} jams of {args.data})\n")
    print("| check | share of jams |\n|---|---|")
    print(f"| true edit above the excerpt from 0 s | {beats_start / n:.3f} ({beats_start} of {n}) |")
    print(
        f"| true edit above all 9 excerpts (0 s and 8 evenly spaced starts) | {beats_all / n:.3f} ({beats_all} of {n}) |"
    )
    print(f"\n(median margin over the best excerpt: {np.median(margins):+.3f})")
    ref_rate = float(np.mean(ref_seams_per_min))
    if args.benchmark is not None:
        with open(args.benchmark / "results.csv") as fh:
            rows = [r for r in csv.DictReader(fh) if not r["error"]]
        durations = {t.name: t.analysis.duration for t in tasks}
        print(f"\n### Seams per minute of output (reference edits: {ref_rate:.2f})\n")
        print("| paradigm | seams / min | reference + 1 | within |\n|---|---|---|---|")
        for name in dict.fromkeys(r["paradigm"] for r in rows):
            rates = [
                float(r["n_seams"]) / max(float(r["ratio"]) * durations[r["sample"]] / 60, 1e-9)
                for r in rows
                if r["paradigm"] == name and r["n_seams"] not in ("", None)
            ]
            if rates:
                rate = float(np.mean(rates))
                print(f"| {name} | {rate:.2f} | {ref_rate + 1:.2f} | {'yes' if rate <= ref_rate + 1 else 'no'} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())

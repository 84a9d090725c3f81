"""Benchmark: the retarget editor's speed and its common reward against ground truth.

    python scripts/bench_retarget.py [--pairs 20] [--minutes 10] [--audio-dir DIR]

Table 1: mean common reward (with the ground-truth reference) of the ground-truth edit, the
retarget editor and keeping everything, on ``--pairs`` synthetic pairs (20-35 s). Table 2: the
time of ``retarget()`` (analysis excluded) on a ``--minutes`` generated jam, and on real
recordings from ``--audio-dir`` tiled to that length when given.
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pairs", type=int, default=20)
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--audio-dir", type=Path, default=None)
    parser.add_argument("--tracks", type=int, default=3, help="real tracks to time (default 3)")
    args = parser.parse_args()

    from editor_env.audio import Audio, analysis_signal, load_audio
    from editor_env.edl import EditList
    from editor_env.features import analyze_signal
    from editor_env.retarget import retarget
    from editor_env.reward import Scorer
    from editor_env.synth import generate_pair

    totals = []
    for seed in range(args.pairs):
        pair = generate_pair(1000 + seed, duration_range_s=(20.0, 35.0))
        analysis = analyze_signal(analysis_signal(pair.raw))
        scorer = Scorer(analysis, reference=pair.pointers)
        sr, n = pair.raw.sample_rate, pair.raw.n_samples
        totals.append(
            [
                scorer.score(pair.edl).total,
                scorer.score(retarget(analysis, sample_rate=sr, raw_length=n)).total,
                scorer.score(EditList.keep_all(sr, n)).total,
            ]
        )
    totals = np.array(totals)
    print(f"Common reward on {args.pairs} synthetic pairs (seeds 1000-{999 + args.pairs}), reference = ground truth\n")
    print("| editor | mean | worst | best |")
    print("|---|---|---|---|")
    for name, col in zip(["ground-truth edit", "retarget", "keep everything"], totals.T):
        print(f"| {name} | {col.mean():.3f} | {col.min():.3f} | {col.max():.3f} |")

    def timed(audio: Audio) -> tuple[int, float]:
        analysis = analyze_signal(analysis_signal(audio))
        start = time.perf_counter()
        retarget(analysis, sample_rate=audio.sample_rate, raw_length=audio.n_samples)
        return analysis.beats.n_beats, time.perf_counter() - start

    seconds = args.minutes * 60
    recordings = [("generated jam", generate_pair(7, duration_range_s=(seconds, seconds)).raw)]
    if args.audio_dir is not None:
        for path in sorted(args.audio_dir.glob("*.ogg"))[: args.tracks]:
            audio = load_audio(path)
            reps = int(np.ceil(seconds * audio.sample_rate / audio.n_samples))
            tiled = np.tile(audio.samples, reps)[:, : int(seconds * audio.sample_rate)]
            recordings.append((path.name, Audio(tiled, audio.sample_rate)))
    print(f"\nretarget() time on {args.minutes:g}-minute recordings (analysis excluded, one thread)\n")
    print("| recording | beats | seconds |")
    print("|---|---|---|")
    for name, audio in recordings:
        beats, dt = timed(audio)
        print(f"| {name} | {beats} | {dt:.2f} |", flush=True)


if __name__ == "__main__":
    main()

"""Benchmark of imitation_data.align: accuracy against exact ground truth, and speed.

(a) synthetic pairs (mixed: cuts/loops/reorders only, and with gain and fades), plus the same
    edits re-rendered with shelf EQ on their segments;
(b) a 10-minute raw jam against its edit, on one core (OMP/BLAS threads = 1): time and accuracy;
(c) real music, if present: edits of the tracks in --music-dir built with EditList + render
    (cuts, a loop back, a reorder, a gain change, EQ, fades). Music made of sample-identical
    loops has several equally right answers, so a pointer also counts as "equivalent" when the
    raw audio it points to is identical to the truth's.

Run: ``python scripts/bench_align.py`` (about 2 minutes). Prints Markdown tables.
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS"):
    os.environ.setdefault(_var, "1")  # one core, set before numpy loads its BLAS

import argparse  # noqa: E402
import dataclasses  # noqa: E402
import glob  # noqa: E402
import resource  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

from editor_env.audio import Audio, load_audio  # noqa: E402
from editor_env.edl import EditList, Effects, Segment  # noqa: E402
from editor_env.ops import EditOp  # noqa: E402
from editor_env.params import DEFAULT_PARAMS  # noqa: E402
from editor_env.render import render  # noqa: E402
from editor_env.synth import generate_pair, ops_from_edl  # noqa: E402
from imitation_data.align import align  # noqa: E402

HOP = DEFAULT_PARAMS.hop_length
SR_A = DEFAULT_PARAMS.sample_rate


def score(result, pointers: np.ndarray, ops: np.ndarray) -> dict[str, float]:
    n = min(result.pointers.size, pointers.size)
    p, t = result.pointers[:n], pointers[:n]
    cuts = np.isin(ops[:n], (EditOp.SKIP, EditOp.LOOP))
    found = [
        (result.ops[max(i - 1, 0) : i + 2] == ops[i]).any() for i in np.flatnonzero(cuts)
    ]  # a cut found within one frame
    return {
        "frames": n,
        "within1": float((np.abs(p - t) <= 1).mean()),
        "exact": float((p == t).mean()),
        "ops": float((result.ops[:n] == ops[:n]).mean()),
        "cuts": float(np.mean(found)) if found else 1.0,
        "confidence": float(result.info["confidence"]),
    }


def with_eq(pair, rng: np.random.Generator) -> tuple[Audio, EditList]:
    """The pair's edit re-rendered with random low/high shelves on its segments."""
    segments = [dataclasses.replace(s, effects=dataclasses.replace(s.effects)) for s in pair.edl.segments]
    for seg in segments:
        seg.effects.eq_low_db = float(rng.choice([-6.0, -3.0, 0.0, 3.0, 6.0]))
        seg.effects.eq_high_db = float(rng.choice([-6.0, -3.0, 0.0, 3.0, 6.0]))
    edl = EditList(pair.edl.sample_rate, pair.edl.raw_length, segments)
    return Audio(render(edl, pair.raw), pair.raw.sample_rate), edl


def row(label: str, scores: list[dict[str, float]], seconds: list[float]) -> str:
    frames = np.array([s["frames"] for s in scores], dtype=np.float64)

    def weighted(key: str) -> float:
        return float((np.array([s[key] for s in scores]) * frames).sum() / frames.sum())

    worst = min(s["within1"] for s in scores)
    return (
        f"| {label} | {len(scores)} | {100 * weighted('within1'):.2f}% | {100 * worst:.2f}% | "
        f"{100 * weighted('exact'):.2f}% | {100 * weighted('ops'):.2f}% | {100 * weighted('cuts'):.1f}% | "
        f"{np.mean([s['confidence'] for s in scores]):.3f} | {np.mean(seconds):.2f} s |"
    )


HEADER = (
    "| pairs | n | frames within ±1 | worst pair | exact | ops agree | cuts found (±1 frame) | mean confidence "
    "| align time / pair |\n| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"
)


def bench_synthetic(n_pairs: int, seed: int) -> None:
    groups: dict[str, tuple[list, list]] = {
        "cuts, loops, reorders only": ([], []),
        "with gain and/or fades": ([], []),
        "with shelf EQ (re-rendered)": ([], []),
    }
    rng = np.random.default_rng(seed)
    for i in range(n_pairs):
        effects = i % 4 != 0  # a quarter of the pairs without effects
        pair = generate_pair(seed + i, effects=effects)
        feats = pair.info["edit_features"]
        fx = feats["gain"] or feats["fade_in"] or feats["fade_out"]
        started = time.perf_counter()
        result = align(pair.raw, pair.edit)
        elapsed = time.perf_counter() - started
        key = "with gain and/or fades" if fx else "cuts, loops, reorders only"
        groups[key][0].append(score(result, pair.pointers, pair.ops))
        groups[key][1].append(elapsed)
        if i % 5 == 0:  # every fifth edit again, with EQ on its segments
            edit, edl = with_eq(pair, rng)
            started = time.perf_counter()
            result = align(pair.raw, edit)
            groups["with shelf EQ (re-rendered)"][1].append(time.perf_counter() - started)
            groups["with shelf EQ (re-rendered)"][0].append(score(result, edl.to_pointers(), ops_from_edl(edl)))
    print(f"\n### (a) {n_pairs} synthetic pairs (40-80 s raw jams, seeds {seed}-{seed + n_pairs - 1})\n")
    print(HEADER)
    everything = ([], [])
    for label, (scores, seconds) in groups.items():
        if scores:
            print(row(label, scores, seconds))
        if label != "with shelf EQ (re-rendered)":
            everything[0].extend(scores)
            everything[1].extend(seconds)
    print(row("**all synthetic pairs**", *everything))


def bench_long(seed: int, repeats: int) -> None:
    pair = generate_pair(seed, duration_range_s=(600.0, 600.0))
    times, result = [], None
    for _ in range(repeats):
        started = time.perf_counter()
        result = align(pair.raw, pair.edit)
        times.append(time.perf_counter() - started)
    s = score(result, pair.pointers, pair.ops)
    stages = ", ".join(f"{k} {v:.2f}" for k, v in result.info["timings_s"].items() if k != "total")
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"\n### (b) {pair.raw.duration / 60:.1f}-minute raw vs {pair.edit.duration / 60:.1f}-minute edit, one core\n")
    print("| align time (best / median of runs) | frames within ±1 | exact | ops agree | cuts found | segments |")
    print("| ---: | ---: | ---: | ---: | ---: | ---: |")
    print(
        f"| {min(times):.2f} s / {np.median(times):.2f} s ({repeats} runs) | {100 * s['within1']:.2f}% | "
        f"{100 * s['exact']:.2f}% | {100 * s['ops']:.2f}% | {100 * s['cuts']:.1f}% | "
        f"{result.info['n_segments']} (truth {len(pair.edl.segments)}) |"
    )
    print(f"\nStages of the last run (s): {stages}. Peak memory of the process: {rss:.0f} MiB.")


def _position(starts: list[int], raws: list[int | None], sample: int) -> int | None:
    k = int(np.searchsorted(starts, sample, side="right")) - 1
    return None if k < 0 or raws[k] is None else raws[k] + sample - starts[k]


def bench_real(music_dir: str, limit: int) -> None:
    files = sorted(glob.glob(os.path.join(music_dir, "*.ogg")) + glob.glob(os.path.join(music_dir, "*.flac")))[:limit]
    if not files:
        print(f"\n### (c) real music: no files in {music_dir}; skipped")
        return
    print(f"\n### (c) real music: edits of {len(files)} tracks from {music_dir}\n")
    print("| track | length | frames within ±1 | ± equivalent audio | ops agree | cuts found | confidence | time |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    totals = []
    for path in files:
        raw = load_audio(path)
        sr, n = raw.sample_rate, raw.n_samples
        rng = np.random.default_rng(len(Path(path).name))
        plan = [(0.05, Effects(fade_in_s=2.0)), (0.30, Effects()), (0.20, Effects()), (0.55, Effects(gain_db=-4.5))]
        plan += [(0.42, Effects(eq_high_db=3.0)), (0.75, Effects(fade_out_s=3.0))]
        segments = []
        for start, fx in plan:  # a cut, a loop back, a reorder, gain, EQ, fades
            a = int(start * n)
            segments.append(Segment(a, min(a + int(n * rng.uniform(0.06, 0.1)), n), fx))
        edl = EditList(sr, n, segments)
        edit = Audio(render(edl, raw), sr)
        started = time.perf_counter()
        result = align(raw, edit)
        elapsed = time.perf_counter() - started
        truth_ptr, truth_ops = edl.to_pointers(), ops_from_edl(edl)
        s = score(result, truth_ptr, truth_ops)
        # equivalent: a wrong pointer whose raw audio is identical to the truth's (exact loops)
        m = min(truth_ptr.size, result.pointers.size)
        y = raw.mono()
        truth_starts = [int(v) for v in edl.output_starts()]
        truth_raws = [seg.raw_start for seg in edl.segments]
        our_starts = [sp.edit_start for sp in result.spans]
        our_raws = [sp.raw_start for sp in result.spans]
        good = np.abs(result.pointers[:m] - truth_ptr[:m]) <= 1
        for i in np.flatnonzero(~good & (result.pointers[:m] >= 0)):
            e = int(round(i * HOP * sr / SR_A))
            a, b = _position(truth_starts, truth_raws, e), _position(our_starts, our_raws, e)
            if a is None or b is None or min(a, b) < 0 or max(a, b) + 2048 > y.size:
                continue
            x1, x2 = y[a : a + 2048], y[b : b + 2048]
            if x1.std() > 0 and x2.std() > 0 and np.corrcoef(x1, x2)[0, 1] > 0.99:
                good[i] = True
        totals.append((s, float(good.mean()), elapsed))
        print(
            f"| {Path(path).name} | {raw.duration:.0f} s | {100 * s['within1']:.2f}% | {100 * good.mean():.2f}% | "
            f"{100 * s['ops']:.2f}% | {100 * s['cuts']:.0f}% | {s['confidence']:.3f} | {elapsed:.2f} s |"
        )
    print(
        f"| **mean** | | {100 * np.mean([t[0]['within1'] for t in totals]):.2f}% | "
        f"{100 * np.mean([t[1] for t in totals]):.2f}% | {100 * np.mean([t[0]['ops'] for t in totals]):.2f}% | "
        f"{100 * np.mean([t[0]['cuts'] for t in totals]):.0f}% | "
        f"{np.mean([t[0]['confidence'] for t in totals]):.3f} | {np.mean([t[2] for t in totals]):.2f} s |"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pairs", type=int, default=50, help="synthetic pairs for (a) (default 50)")
    parser.add_argument("--seed", type=int, default=1000, help="first seed of (a) (default 1000)")
    parser.add_argument("--long-seed", type=int, default=1, help="seed of the 10-minute pair (default 1)")
    parser.add_argument("--repeats", type=int, default=3, help="timed runs of (b) (default 3)")
    parser.add_argument("--music-dir", default="/tmp/hyperrogue/usr/share/hyperrogue/music", help="tracks for (c)")
    parser.add_argument("--music-limit", type=int, default=12, help="at most this many tracks (default 12)")
    parser.add_argument("--skip", nargs="*", default=[], choices=["synthetic", "long", "real"])
    args = parser.parse_args()

    warm = generate_pair(0, duration_range_s=(10.0, 10.0))
    align(warm.raw, warm.edit)  # librosa's first-call set-up is not the aligner's time
    print(f"## imitation_data.align benchmark (threads: OMP_NUM_THREADS={os.environ['OMP_NUM_THREADS']})")
    if "synthetic" not in args.skip:
        bench_synthetic(args.pairs, args.seed)
    if "long" not in args.skip:
        bench_long(args.long_seed, args.repeats)
    if "real" not in args.skip:
        bench_real(args.music_dir, args.music_limit)


if __name__ == "__main__":
    main()

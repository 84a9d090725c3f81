"""Benchmark of imitation_data.align: accuracy against exact ground truth, and speed.

(a) synthetic pairs (mixed: cuts/loops/reorders only, and with gain and fades), plus the same
    edits re-rendered with shelf EQ on their segments;
(b) a 10-minute raw jam against its edit, on one core (OMP/BLAS threads = 1): time and accuracy;
(c) real music, if present: edits of the tracks in --music-dir (default: the corpus val split's
    hyperrogue-music tracks, ``scripts/fetch_corpus.py``) built with EditList + render
    (cuts, a loop back, a reorder, a gain change, EQ, fades). Music made of sample-identical
    loops has several equally right answers, so a pointer also counts as "equivalent" when the
    raw audio it points to is identical to the truth's.
(d) real-corpus jams (``musicedit jams``: real tracks with real junk put in between, exact ground
    truth) of --jams-dir, by default the corpus test split when it has been built: all jams, and
    the jams whose edit has a gain change and fades. A frame is right when it points within one
    frame of the truth or at raw audio holding the same sound: a junk span the labels mark as an
    exact copy of a song span (``same_as_s``: an over-long repeat), or sample-identical audio as
    in (c).

Run: ``python scripts/bench_align.py`` (about 2 minutes, plus about 1.5 s a jam). Prints Markdown
tables.
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
from editor_env.labels import RawLabels, frame_kinds  # noqa: E402
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


def same_sound(
    result, truth_ptr: np.ndarray, edl: EditList, raw: Audio, labels: RawLabels | None = None, corr: float = 0.99
) -> np.ndarray:
    """Per edit frame (``(min(len(result), len(truth)),)`` bool): the pointer is within one frame of the
    truth, or the raw audio it points to holds the same sound as the truth's: both resolve, through the
    labels' exact copies (``same_as_s``), to song frames within one frame of each other, or the raw's 2048
    samples at the two positions correlate above ``corr`` (sample-identical loops)."""
    m = min(truth_ptr.size, result.pointers.size)
    ours, truth = result.pointers[:m], truth_ptr[:m]
    good = np.abs(ours - truth) <= 1
    if labels is not None:  # resolve copies (a copy of a copy too) to the song frame they copy
        n_raw = int(max(truth.max(initial=0), ours.max(initial=0))) + 2
        n_raw = max(n_raw, int(np.ceil(labels.raw_duration_s / DEFAULT_PARAMS.frame_seconds)))
        _, copy_of = frame_kinds(labels, n_raw)
        root = np.arange(n_raw)
        for _ in range(4):
            root = np.where(copy_of[root] >= 0, copy_of[root], root)
        pointed = ours >= 0
        good[pointed] |= np.abs(root[ours[pointed]] - root[truth[pointed]]) <= 1
    sr, y = raw.sample_rate, raw.mono()
    truth_starts = [int(v) for v in edl.output_starts()]
    truth_raws = [seg.raw_start for seg in edl.segments]
    our_starts = [sp.edit_start for sp in result.spans]
    our_raws = [sp.raw_start for sp in result.spans]
    for i in np.flatnonzero(~good & (ours >= 0)):
        e = int(round(i * HOP * sr / SR_A))
        a, b = _position(truth_starts, truth_raws, e), _position(our_starts, our_raws, e)
        if a is None or b is None or min(a, b) < 0 or max(a, b) + 2048 > y.size:
            continue
        x1, x2 = y[a : a + 2048], y[b : b + 2048]
        if x1.std() > 0 and x2.std() > 0 and np.corrcoef(x1, x2)[0, 1] > corr:
            good[i] = True
    return good


def has_gain_and_fades(info: dict, edl: EditList) -> bool:
    """Whether a jam's edit changes gain (of the whole edit or of a section) and fades."""
    fades = any(seg.effects.fade_in_s > 0 or seg.effects.fade_out_s > 0 for seg in edl.segments)
    return info.get("edit_gain") is not None and fades


def jam_names(jams_dir: Path) -> list[str]:
    """Samples of a jams folder that are finished (their ``_info.json`` is written last)."""
    return sorted(p.name[: -len("_info.json")] for p in (jams_dir / "pointer_sequences").glob("*_info.json"))


def score_jam(jams_dir: Path, name: str) -> dict[str, float]:
    """Align one jam of ``jams_dir`` and score it against its ground truth (:func:`same_sound`)."""
    import json

    folder = jams_dir / "pointer_sequences"
    raw = load_audio(next((jams_dir / "input").glob(f"{name}_raw.*")))
    edit = load_audio(next((jams_dir / "desired_output").glob(f"{name}_edit.*")))
    truth_ptr, truth_ops = np.load(folder / f"{name}_pointers.npy"), np.load(folder / f"{name}_ops.npy")
    edl = EditList.load(folder / f"{name}_edl.json")
    labels = RawLabels.load(folder / f"{name}_labels.json")
    info = json.loads((folder / f"{name}_info.json").read_text())
    started = time.perf_counter()
    result = align(raw, edit)
    elapsed = time.perf_counter() - started
    s = score(result, truth_ptr, truth_ops)
    good = same_sound(result, truth_ptr, edl, raw, labels)
    return {**s, "same": float(good.mean()), "seconds": elapsed, "fx": has_gain_and_fades(info, edl)}


def bench_jams(jams_dir: str | None, limit: int) -> None:
    """(d): every finished jam of ``jams_dir`` (at most ``limit``, in name order)."""
    from editor_env.corpus import split_data_dir

    folder = Path(jams_dir) if jams_dir else split_data_dir("test")
    names = jam_names(folder)[:limit] if (folder / "pointer_sequences").is_dir() else []
    if not names:
        how = "" if jams_dir else " (build it with scripts/fetch_corpus.py, or pass --jams-dir)"
        print(f"\n### (d) real-corpus jams: no finished jams in {folder}{how}; skipped")
        return
    print(f"\n### (d) real-corpus jams: {len(names)} jams of {folder}\n")
    scores = [score_jam(folder, name) for name in names]
    print(
        "| jams | n | frames within ±1 | ± same sound | worst jam (same sound) | ops agree | cuts found (±1 frame) "
        "| align time / pair |\n| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"
    )
    for label, group in (("all jams", scores), ("with a gain change and fades", [s for s in scores if s["fx"]])):
        if not group:
            print(f"| {label} | 0 | | | | | | |")
            continue
        frames = np.array([s["frames"] for s in group], dtype=np.float64)

        def weighted(key: str, group=group, frames=frames) -> float:
            return float((np.array([s[key] for s in group]) * frames).sum() / frames.sum())

        print(
            f"| {label} | {len(group)} | {100 * weighted('within1'):.2f}% | {100 * weighted('same'):.2f}% | "
            f"{100 * min(s['same'] for s in group):.2f}% | {100 * weighted('ops'):.2f}% | "
            f"{100 * weighted('cuts'):.1f}% | {np.mean([s['seconds'] for s in group]):.2f} s |"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pairs", type=int, default=50, help="synthetic pairs for (a) (default 50)")
    parser.add_argument("--seed", type=int, default=1000, help="first seed of (a) (default 1000)")
    parser.add_argument("--long-seed", type=int, default=1, help="seed of the 10-minute pair (default 1)")
    parser.add_argument("--repeats", type=int, default=3, help="timed runs of (b) (default 3)")
    parser.add_argument(
        "--music-dir",
        default=None,
        help="tracks for (c) (default: the corpus val split's hyperrogue-music tracks, the Debian package's music/)",
    )
    parser.add_argument("--music-limit", type=int, default=12, help="at most this many tracks (default 12)")
    parser.add_argument(
        "--jams-dir", default=None, help="jams for (d) (default: the corpus test split, when it has been built)"
    )
    parser.add_argument("--jams-limit", type=int, default=100, help="at most this many jams (default 100)")
    parser.add_argument("--skip", nargs="*", default=[], choices=["synthetic", "long", "real", "jams"])
    args = parser.parse_args()

    warm = generate_pair(0, duration_range_s=(10.0, 10.0))
    align(warm.raw, warm.edit)  # librosa's first-call set-up is not the aligner's time
    print(f"## imitation_data.align benchmark (threads: OMP_NUM_THREADS={os.environ['OMP_NUM_THREADS']})")
    if "synthetic" not in args.skip:
        bench_synthetic(args.pairs, args.seed)
    if "long" not in args.skip:
        bench_long(args.long_seed, args.repeats)
    if "real" not in args.skip:
        if args.music_dir is None:
            from editor_env.corpus import corpus_dir

            args.music_dir = str(corpus_dir() / "tracks" / "val" / "hyperrogue-music" / "music")
        bench_real(args.music_dir, args.music_limit)
    if "jams" not in args.skip:
        bench_jams(args.jams_dir, args.jams_limit)


if __name__ == "__main__":
    main()

"""Pointer-network inference time and peak memory at 5k, 20k, 50k and 100k raw frames on CPU.

    python scripts/bench_pointer.py [--checkpoint best.pt] [--sizes 5000 20000 50000 100000]
                                    [--threads 1] [--repeats 2] [--free-running]

Each size runs in a fresh subprocess, so its peak memory is its own: ``resource.getrusage``'s
``ru_maxrss`` (the process's resident high-water mark, which counts torch's allocations, unlike
``tracemalloc``) is reported whole and as the increase over the same process just before the
timed work (after imports, model load and a warm-up decode of 1,000 frames).

Input: the network's input (mel, and beat rows when the model uses them) of a synthetic jam
(``editor_env.synth``, seed 1) tiled to the size; computing it (mel, beats, features) is not timed. Timed work:
``PointerNetwork.decode`` (encoder + block decoding, i.e. everything after the mel). By default
exactly ``round(0.67 * frames)`` output frames are decoded, ignoring the stop head, so every size
does the same work per input frame (a model that stops early on tiled material would otherwise
make the larger sizes look cheap); ``--free-running`` lets the stop head end it. Without
``--checkpoint`` the full recipe's network (``configs/pointer_full.json``) is used untrained: the
cost does not depend on the weights, only the number of jumps does (each scores every 64-frame
bucket), so a trained checkpoint is the more faithful figure. Best of ``--repeats`` runs.

With a model that reads the beat rows, ``beats s`` times what the greedy edit adds before decoding: the fit of the
beat period its exits are moved onto (:func:`pointer_baseline.whole_beats.beat_exits`, on the mel and the beat rows'
onsets; moving an exit costs a step or two of decoding); its memory is in the peak.

Target (issue 6): linear time, the 100k/5k ratio within 1.3x of 20 (15.4-26), and peak memory
under 2 GB at 100k frames. The machine is shared: timings vary with the other jobs on it.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def worker(args: argparse.Namespace) -> None:
    import resource

    import numpy as np
    import torch as th

    th.set_num_threads(args.threads)
    from pointer_baseline.checkpoint import load_model
    from pointer_baseline.model import PointerNetwork
    from pointer_baseline.trainers.pointer_trainer import PointerTrainConfig

    if args.checkpoint:
        model, _ = load_model(args.checkpoint, device="cpu")
    else:
        th.manual_seed(0)
        model = PointerNetwork(PointerTrainConfig.from_json(ROOT / "configs" / "pointer_full.json").model).eval()
    base = np.load(args.mel)
    reps = -(-args.size // base.shape[1])
    mel = np.ascontiguousarray(np.tile(base, (1, reps))[:, : args.size])
    n_steps = None if args.free_running else int(round(0.67 * args.size))
    model.decode(mel[:, :1000], n_steps=None if n_steps is None else 670)  # warm-up: first-call costs
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    times, outputs = [], 0
    for _ in range(args.repeats):
        start = time.perf_counter()
        pointers, info = model.decode(mel, n_steps=n_steps)
        times.append(time.perf_counter() - start)
        outputs = int(pointers.size)
    beat_seconds = None
    if model.config.use_beat_features:  # the greedy edit's exits on whole beats (pointer_baseline.whole_beats)
        from types import SimpleNamespace

        from editor_env.params import DEFAULT_PARAMS
        from pointer_baseline.data import BEAT_ONSET_ROW
        from pointer_baseline.whole_beats import beat_exits

        n_mels = model.config.n_mels
        beat_frames = np.flatnonzero(mel[n_mels + BEAT_ONSET_ROW] > 0)
        analysis = SimpleNamespace(
            mel=mel[:n_mels], beats=SimpleNamespace(times=beat_frames * DEFAULT_PARAMS.frame_seconds)
        )
        warm_up = SimpleNamespace(mel=analysis.mel[:, :2000], beats=SimpleNamespace(times=analysis.beats.times[:80]))
        beat_exits(warm_up, DEFAULT_PARAMS)  # librosa's first-call costs
        start = time.perf_counter()
        beat_exits(analysis, DEFAULT_PARAMS)
        beat_seconds = time.perf_counter() - start
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux
    print(
        json.dumps(
            {
                "size": args.size,
                "seconds": min(times),
                "whole_beat_seconds": beat_seconds,
                "output_frames": outputs,
                "seams": info["seams"],
                "stopped_by": info["stopped_by"],
                "peak_mib": peak / 1024,
                "added_mib": (peak - rss_before) / 1024,
            }
        )
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--checkpoint", help="a trained best.pt (default: the full recipe, untrained)")
    parser.add_argument("--sizes", type=int, nargs="+", default=[5000, 20000, 50000, 100000])
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--free-running", action="store_true", help="let the stop head end decoding")
    parser.add_argument("--worker-size", type=int, dest="size", help=argparse.SUPPRESS)
    parser.add_argument("--mel", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.size:
        worker(args)
        return 0

    import numpy as np

    from editor_env.audio import analysis_signal
    from editor_env.features import analyze_signal
    from editor_env.synth import generate_pair
    from pointer_baseline.data import model_inputs
    from pointer_baseline.model import PointerModelConfig

    if args.checkpoint:
        from pointer_baseline.checkpoint import checkpoint_config, read_checkpoint

        cfg = checkpoint_config(read_checkpoint(args.checkpoint), args.checkpoint)
    else:
        cfg = PointerModelConfig(**json.loads((ROOT / "configs" / "pointer_full.json").read_text())["model"])
    if cfg.use_stems:
        raise SystemExit("bench_pointer.py does not build stem inputs; use a model trained without stems.")
    pair = generate_pair(1)
    analysis = analyze_signal(analysis_signal(pair.raw))
    with tempfile.TemporaryDirectory() as tmp:
        mel_path = Path(tmp) / "mel.npy"
        np.save(
            mel_path,
            model_inputs(analysis, use_beat_features=cfg.use_beat_features, recurrence_lags=cfg.recurrence_lags),
        )
        rows = []
        for size in args.sizes:
            cmd = [sys.executable, __file__, "--worker-size", str(size), "--mel", str(mel_path)]
            cmd += ["--threads", str(args.threads), "--repeats", str(args.repeats)]
            cmd += ["--checkpoint", args.checkpoint] if args.checkpoint else []
            cmd += ["--free-running"] if args.free_running else []
            done = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT)
            if done.returncode:
                print(done.stderr, file=sys.stderr)
                return done.returncode
            rows.append(json.loads(done.stdout.strip().splitlines()[-1]))
            r = rows[-1]
            print(f"  {size:>7} frames: {r['seconds']:.2f} s, peak {r['peak_mib']:.0f} MiB", flush=True)
    model = args.checkpoint or "configs/pointer_full.json (untrained)"
    mode = "free-running (stop head)" if args.free_running else "0.67 x frames output frames, stop ignored"
    print(f"\nmodel {model}; {args.threads} thread(s); {mode}; best of {args.repeats}")
    print(
        f"{'raw frames':>10} {'minutes':>8} {'out frames':>10} {'seams':>6} {'time s':>8} {'us/frame':>9} "
        f"{'beats s':>8} {'peak MiB':>9} {'added MiB':>9}"
    )
    for r in rows:
        minutes = r["size"] * 512 / 22050 / 60
        beats = "-" if r["whole_beat_seconds"] is None else f"{r['whole_beat_seconds']:.2f}"
        print(
            f"{r['size']:>10} {minutes:>8.1f} {r['output_frames']:>10} {r['seams']:>6} {r['seconds']:>8.2f} "
            f"{1e6 * r['seconds'] / r['size']:>9.1f} {beats:>8} {r['peak_mib']:>9.0f} {r['added_mib']:>9.0f}"
        )
    by_size = {r["size"]: r for r in rows}
    ok = True
    if 5000 in by_size and 100000 in by_size:
        ratio = by_size[100000]["seconds"] / by_size[5000]["seconds"]
        linear = 20 / 1.3 <= ratio <= 20 * 1.3
        ok &= linear
        print(f"time 100k / 5k = {ratio:.1f} (linear: 20; target 15.4-26): {'PASS' if linear else 'FAIL'}")
    if 100000 in by_size:
        peak = by_size[100000]["peak_mib"]
        fits = peak < 2048
        ok &= fits
        print(
            f"peak memory at 100k frames {peak:.0f} MiB (target < 2048 MiB, whole process): {'PASS' if fits else 'FAIL'}"
        )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())

"""Scaling figures: precache throughput on local processes and Ray, and peak memory on a 2-hour recording.

    python scripts/bench_scale.py [--n 8] [--long-minutes 120] [--out bench_output/scale]
                                  [--skip-throughput] [--skip-long] [--stages precache,pointer,align_piece,align_long]
                                  [--align-limit-gb 8] [--align-timeout 900]

1. Throughput: ``--n`` generated pairs (``musicedit synth``, seed 0, 30-40 s) are generated on 1 and 2 local
   processes (their start-up counted), and precached into a
   fresh cache by each of: local backend with 1 and 2 workers, Ray (a local instance with 2 CPUs,
   started before the clock) with 1 and 2 tasks in flight. Before each timed run the same
   executor precaches 1 or 2 of the pairs into a scratch folder, so that worker start-up (imports,
   librosa's numba functions: about 10 s for a fresh Ray worker here) is not counted; Ray's own
   start-up is reported on its own line.
2. Peak memory (RSS high-water mark, ``ru_maxrss``, of a fresh process per stage) on a generated
   recording of ``--long-minutes`` (default 2 hours): ``--long-minutes / 10`` distinct 10-minute
   synthetic pairs (seeds 1000, 1001 …) written end to end, raw after raw and edit after edit, so
   the long edit is a real edit of the long raw. Stages: precache (raw analysed in chunks, edit
   mel in chunks), pointer inference (the full recipe's network, untrained, decoding exactly
   0.67 x the raw frames as ``scripts/bench_pointer.py`` does, from the cached analysis: the
   analysis itself is the precache stage's code path, :func:`editor_env.cache.analyze_file`), and
   alignment of one 10-minute piece (in memory) and of the whole pair (streamed: longer than
   :data:`imitation_data.align.STREAM_SECONDS`, both recordings are read block by block and their
   derived signals kept in scratch files), the latter under an address-space limit
   (``--align-limit-gb``) and a time limit (``--align-timeout``); the table says when a stage did
   not finish. ``--stages`` picks some of them (``--stages align_long --skip-throughput``: the
   2-hour alignment alone; the pair is generated first when missing).

The machine is shared: timings vary with the other jobs on it.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
GIB = 1024**3


def throughput(args: argparse.Namespace) -> list[tuple[str, str]]:
    import shutil

    from editor_env.cache import precache
    from editor_env.dataset import discover_pairs
    from editor_env.executor import Executor, ray_init
    from editor_env.synth import write_dataset

    data = args.out / f"throughput_data_{args.n}"
    if not (data / "input").is_dir():
        write_dataset(data, args.n, seed=0, duration_range_s=(30.0, 40.0), progress=False)
    names = [pair.name for pair in discover_pairs(data)]
    rows = []
    for workers in (1, 2):  # the same pairs again, into a scratch folder; process start-up counted
        scratch = args.out / f"throughput_synth_{workers}"
        if scratch.exists():
            shutil.rmtree(scratch)
        start = time.perf_counter()
        write_dataset(scratch, args.n, seed=0, duration_range_s=(30.0, 40.0), progress=False, workers=workers)
        seconds = time.perf_counter() - start
        shutil.rmtree(scratch)
        rows.append(
            (
                f"synthetic pairs (musicedit synth), local, {workers} worker(s), {args.n} pairs of 30-40 s",
                f"{args.n / seconds:.2f} pairs/s ({seconds:.1f} s)",
            )
        )
        print(f"{rows[-1][0]}: {rows[-1][1]}", flush=True)
    t0 = time.perf_counter()
    ray_init(num_cpus=2)
    rows.append(("Ray start-up (local instance, 2 CPUs)", f"{time.perf_counter() - t0:.1f} s"))
    for backend, workers in (("local", 1), ("local", 2), ("ray", 1), ("ray", 2)):
        cache_dir = args.out / f"throughput_cache_{backend}_{workers}"
        if cache_dir.exists():
            shutil.rmtree(cache_dir)
        executor = Executor(backend, workers)
        warm = precache(
            data, args.out / "throughput_warmup", samples=names[:workers], executor=executor, progress=False
        )
        assert not warm.failed, warm.failed
        shutil.rmtree(args.out / "throughput_warmup")
        start = time.perf_counter()
        result = precache(data, cache_dir, executor=executor, progress=False)
        seconds = time.perf_counter() - start
        assert not result.failed, result.failed
        n = len(result.computed)
        rows.append(
            (
                f"precache, {backend}, {workers} worker(s), {n} generated pairs ({result.audio_seconds / 60:.1f} min of audio)",
                f"{n / seconds:.2f} samples/s ({result.audio_seconds / seconds:.0f}x real time, {seconds:.1f} s)",
            )
        )
        print(f"{rows[-1][0]}: {rows[-1][1]}", flush=True)
    return rows


def build_long_pair(args: argparse.Namespace) -> Path:
    """A data set with one pair ``long`` of ``--long-minutes``, from 10-minute pieces written end to end."""
    import soundfile as sf

    from editor_env.synth import write_dataset

    data = args.out / f"long_{args.long_minutes}min"
    raw_path, edit_path = data / "input" / "long_raw.wav", data / "desired_output" / "long_edit.wav"
    if raw_path.is_file() and edit_path.is_file():
        return data
    pieces = args.out / "long_pieces"
    n = max(args.long_minutes // 10, 1)
    for i in range(n):
        if not (pieces / f"p{i}" / "input" / "synth_0000_raw.wav").is_file():
            write_dataset(pieces / f"p{i}", 1, seed=1000 + i, duration_range_s=(600.0, 600.0), progress=False)
            print(f"piece {i + 1}/{n} generated", flush=True)
    for kind, path in (("input/synth_0000_raw.wav", raw_path), ("desired_output/synth_0000_edit.wav", edit_path)):
        path.parent.mkdir(parents=True, exist_ok=True)
        first = sf.info(str(pieces / "p0" / kind))
        with sf.SoundFile(str(path), "w", first.samplerate, first.channels, subtype="PCM_16") as out:
            for i in range(n):
                for block in sf.blocks(str(pieces / f"p{i}" / kind), blocksize=1 << 20, dtype="float32"):
                    out.write(block)
    return data


def _child(stage: str, args: argparse.Namespace, data: Path, timeout: float | None = None) -> dict:
    command = [sys.executable, __file__, "--child", stage, "--data", str(data), "--out", str(args.out)]
    command += ["--align-limit-gb", str(args.align_limit_gb)]
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return {"error": f"did not finish within {timeout:.0f} s"}
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    if done.returncode != 0 or not lines:
        return {"error": (done.stderr.strip().splitlines() or ["failed"])[-1][:200]}
    return json.loads(lines[-1])


def child(stage: str, data: Path, args: argparse.Namespace) -> None:
    """One stage in this fresh process; prints its peak RSS and time as JSON."""
    import resource

    start = time.perf_counter()
    extra: dict = {}
    if stage == "precache":
        from editor_env.cache import precache

        result = precache(data, args.out / "long_cache", progress=False)
        assert not result.failed, result.failed
        extra["audio_minutes"] = round(result.audio_seconds / 60, 1)
    elif stage == "pointer":
        import numpy as np
        import torch as th

        th.set_num_threads(1)
        from editor_env.cache import load_analysis
        from pointer_baseline.data import model_inputs
        from pointer_baseline.model import PointerNetwork
        from pointer_baseline.trainers.pointer_trainer import PointerTrainConfig

        th.manual_seed(0)
        config = PointerTrainConfig.from_json(ROOT / "configs" / "pointer_full.json").model
        model = PointerNetwork(config).eval()
        analysis = load_analysis(args.out / "long_cache", "long")
        inputs = model_inputs(
            analysis, use_beat_features=config.use_beat_features, recurrence_lags=config.recurrence_lags
        )
        pointers, info = model.decode(inputs, n_steps=int(round(0.67 * analysis.mel.shape[1])))
        extra.update(raw_frames=int(analysis.mel.shape[1]), output_frames=int(np.asarray(pointers).size))
    elif stage in ("align_piece", "align_long"):
        from imitation_data.align import align_files

        if stage == "align_long":
            limit = int(args.align_limit_gb * GIB)
            resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
            raw, edit = data / "input" / "long_raw.wav", data / "desired_output" / "long_edit.wav"
        else:
            piece = args.out / "long_pieces" / "p0"
            raw, edit = piece / "input" / "synth_0000_raw.wav", piece / "desired_output" / "synth_0000_edit.wav"
        done = align_files(raw, edit, args.out / f"{stage}_out", sample=stage, plot=False, force=True)
        extra["edit_frames"] = int(done.alignment.info["edit_frames"])
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    print(json.dumps({"peak_gib": round(peak / GIB, 2), "seconds": round(time.perf_counter() - start, 1), **extra}))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=8, help="generated pairs for the throughput figures (default 8)")
    parser.add_argument("--long-minutes", type=int, default=120, help="length of the long recording (default 120)")
    parser.add_argument("--out", type=Path, default=ROOT / "bench_output" / "scale")
    parser.add_argument("--skip-throughput", action="store_true")
    parser.add_argument("--skip-long", action="store_true")
    parser.add_argument(
        "--stages",
        default="precache,pointer,align_piece,align_long",
        help="long-recording stages to run, comma-separated (default all; pointer needs precache's cache)",
    )
    parser.add_argument("--align-limit-gb", type=float, default=8.0, help="address-space limit of the long alignment")
    parser.add_argument("--align-timeout", type=float, default=900.0, help="seconds allowed to the long alignment")
    parser.add_argument("--child", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--data", type=Path, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child, args.data, args)
        return 0
    args.out.mkdir(parents=True, exist_ok=True)
    rows: list[tuple[str, str]] = []
    if not args.skip_throughput:
        rows += throughput(args)
    if not args.skip_long:
        data = build_long_pair(args)
        label = f"{args.long_minutes}-minute generated recording"
        stages = (
            ("precache", f"precache of a {label} (raw: mel, beats, features; edit: mel), chunked", None),
            ("pointer", f"pointer inference on the {label}: full recipe, 0.67 x frames decoded, from its cache", None),
            ("align_piece", "alignment of one 10-minute piece of it (raw vs its edit)", None),
            ("align_long", f"alignment of the whole {label} and its edit (streamed)", args.align_timeout),
        )
        wanted = {name.strip() for name in args.stages.split(",") if name.strip()}
        unknown = wanted - {stage for stage, _, _ in stages}
        if unknown:
            parser.error(f"unknown stage(s) {', '.join(sorted(unknown))}")
        for stage, what, timeout in stages:
            if stage not in wanted:
                continue
            result = _child(stage, args, data, timeout)
            if "error" in result:
                figure = f"not measured: {result['error']}"
            else:
                details = ", ".join(f"{k} {v}" for k, v in result.items() if k not in ("peak_gib", "seconds"))
                figure = f"peak {result['peak_gib']} GiB, {result['seconds']} s" + (f" ({details})" if details else "")
            rows.append((what, figure))
            print(f"{what}: {figure}", flush=True)
    print("\n| what | figure |\n|---|---|")
    for what, figure in rows:
        print(f"| {what} | {figure} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Benchmark: precache throughput (load + mel + beats + 121 features) in x real time.

Generates about 10 minutes of synthetic raw/edit audio (or uses ``--audio-dir`` with real
recordings, e.g. Debian's hyperrogue-music OGGs), then times a cold precache into a fresh
cache with 1 and 2 worker processes, and the stages of the analysis on one core.

    python scripts/bench_precache.py [--minutes 10] [--audio-dir DIR] [--out bench_output]

Prints a Markdown table; the README's performance table quotes it.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")  # one core per worker: the figure is per core

import numpy as np


def build_dataset(root: Path, minutes: float, audio_dir: Path | None) -> Path:
    """A data set of about ``minutes`` of raw audio (generated pairs, or real files as raws)."""
    data = root / "training_data"
    if audio_dir is None:
        from editor_env.synth import write_dataset

        n = max(1, int(round(minutes * 60 / 75)))
        write_dataset(data, n, seed=1, duration_range_s=(70.0, 80.0), progress=False)
        return data
    (data / "input").mkdir(parents=True)
    total = 0.0
    import soundfile as sf

    for path in sorted(audio_dir.glob("*")):
        if path.suffix.lower() not in (".ogg", ".wav", ".flac") or total >= minutes * 60:
            continue
        os.symlink(path.resolve(), data / "input" / f"{path.stem.replace('_', '-')}_raw{path.suffix}")
        total += sf.info(path).duration
    return data


def audio_seconds(data: Path) -> float:
    import soundfile as sf

    return sum(sf.info(p).duration for p in data.rglob("*") if p.suffix.lower() in (".wav", ".ogg", ".flac"))


def time_precache(data: Path, cache: Path, workers: int) -> float:
    from editor_env.cache import precache

    shutil.rmtree(cache, ignore_errors=True)
    start = time.perf_counter()
    result = precache(data, cache, workers=workers, progress=False)
    elapsed = time.perf_counter() - start
    if result.failed:
        sys.exit(f"precache failed: {result.failed}")
    return elapsed


def stage_times(data: Path) -> dict[str, float]:
    """Seconds per stage for every raw file, in this process (one core)."""
    import librosa

    from editor_env.audio import analysis_signal, load_audio, mel_spectrogram, stft_power
    from editor_env.beats import track_beats
    from editor_env.features import analyze_signal

    totals = dict.fromkeys(["load + resample", "STFT + mel", "onset + beats", "all features (incl. mel, beats)"], 0.0)
    for path in sorted((data / "input").iterdir()):
        t0 = time.perf_counter()
        y = analysis_signal(load_audio(path))
        t1 = time.perf_counter()
        mel = mel_spectrogram(y, power=stft_power(y))
        t2 = time.perf_counter()
        onset = librosa.onset.onset_strength(S=mel * 80 - 80)
        track_beats(onset, duration=y.size / 22050)
        t3 = time.perf_counter()
        analyze_signal(y)
        t4 = time.perf_counter()
        for key, dt in zip(totals, (t1 - t0, t2 - t1, t3 - t2, t4 - t3)):
            totals[key] += dt
    return totals


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--minutes", type=float, default=10.0, help="minutes of raw audio (default 10)")
    parser.add_argument("--audio-dir", type=Path, default=None, help="real recordings to use as raws")
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    args = parser.parse_args()

    from editor_env.features import analyze_signal

    analyze_signal(np.random.default_rng(0).standard_normal(22050).astype(np.float32))  # JIT warm-up
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        print(
            f"Building the data set ({args.minutes:g} min of raw audio{' from ' + str(args.audio_dir) if args.audio_dir else ', generated'}) …",
            flush=True,
        )
        data = build_dataset(root, args.minutes, args.audio_dir)
        seconds = audio_seconds(data)
        raw_seconds = audio_seconds(data / "input")
        source = f"real audio ({args.audio_dir.name})" if args.audio_dir else "generated pairs"
        print(f"{seconds / 60:.1f} min of audio in all ({raw_seconds / 60:.1f} min raw + edits), {source}\n")
        print("| workers | wall s | audio s | x real time | x real time per worker |")
        print("|---|---|---|---|---|")
        for workers in args.workers:
            elapsed = time_precache(data, root / f"cache{workers}", workers)
            print(
                f"| {workers} | {elapsed:.1f} | {seconds:.0f} | {seconds / elapsed:.0f}x | {seconds / elapsed / workers:.0f}x |",
                flush=True,
            )
        print("\nStages on one core (raw files only):\n")
        print("| stage | s | x real time |")
        print("|---|---|---|")
        for stage, dt in stage_times(data).items():
            print(f"| {stage} | {dt:.2f} | {raw_seconds / dt:.0f}x |")


if __name__ == "__main__":
    main()

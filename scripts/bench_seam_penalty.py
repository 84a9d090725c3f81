"""Reward and seams of the pointer network's constrained decoding (``musicedit edit``) against its cost per seam.

    python scripts/bench_seam_penalty.py --checkpoint editor_env/models/pointer.pt \
        --data defaults_work/heldout/training_data --audio-dir DIR [--n-real N] [--penalties 0,2,5] [--slack 2]

For every penalty (nats per seam, ``pointer_baseline.decode.SEAM_PENALTY`` is the default), runs
``editor_env.benchmark.run_benchmark`` for the pointer paradigm, asked for 0.67 of the raw +- ``--slack`` s as
``musicedit edit`` asks, on

- ``--data``: generated pairs with their reference edits (the full common reward);
- ``--audio-dir``: real recordings without references (the reward's reference-free components: length, seams,
  repetition, silence), the first ``--n-real`` in name order (default all; e.g. the 17 OGG tracks of Debian's
  ``hyperrogue-music``: ``apt-get download hyperrogue-music && dpkg -x hyperrogue-music_*.deb DIR``; they are
  linked into ``--work-dir``, never copied or changed).

Prints one row per data set and penalty: mean reward, mean and largest number of seams, repetition rate.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

AUDIO_SUFFIXES = (".wav", ".flac", ".ogg", ".mp3")


def real_data_dir(audio_dir: Path, work_dir: Path, n: int) -> Path:
    """A data set folder under ``work_dir`` whose ``input/`` links the first ``n`` (0: all) recordings of ``audio_dir``."""
    files = sorted(p for p in audio_dir.iterdir() if p.suffix.lower() in AUDIO_SUFFIXES)[: n or None]
    if not files:
        raise SystemExit(f"No audio files ({', '.join(AUDIO_SUFFIXES)}) in {audio_dir}.")
    inputs = work_dir / f"real_{n or 'all'}" / "input"
    inputs.mkdir(parents=True, exist_ok=True)
    for f in files:
        link = inputs / f"{f.stem}_raw{f.suffix}"
        if not link.exists():
            link.symlink_to(f.resolve())
    return inputs.parent


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--checkpoint", type=Path, default=REPO / "editor_env" / "models" / "pointer.pt")
    parser.add_argument("--data", type=Path, help="generated pairs (input/, pointer_sequences/)")
    parser.add_argument("--audio-dir", type=Path, help="real recordings, no references")
    parser.add_argument("--n-real", type=int, default=0, help="real recordings to use (0: all)")
    parser.add_argument("--penalties", default="0,2,5", help="comma-separated nats per seam")
    parser.add_argument("--slack", type=float, default=2.0)
    parser.add_argument("--work-dir", type=Path, default=Path("bench_output/seam_penalty"), help="caches")
    args = parser.parse_args(argv)
    if args.data is None and args.audio_dir is None:
        parser.error("give --data, --audio-dir or both")

    import torch as th

    from editor_env.benchmark import run_benchmark

    th.set_num_threads(1)
    sets = []
    if args.data is not None:
        sets.append(("generated", args.data, args.data.parent / "cache"))
    if args.audio_dir is not None:
        real = real_data_dir(args.audio_dir, args.work_dir, args.n_real)
        sets.append(("real", real, args.work_dir / "real_cache"))
    penalties = [float(p) for p in args.penalties.split(",")]
    print(f"pointer network {args.checkpoint}, asked for 0.67 +- {args.slack:g} s\n")
    print(f"{'data':<10} {'recordings':>10} {'penalty':>8} {'reward':>7} {'seams':>6} {'most':>5} {'repetition':>10}")
    for label, data_dir, cache_dir in sets:
        for penalty in penalties:
            result = run_benchmark(
                data_dir,
                ["pointer"],
                checkpoints={"pointer": str(args.checkpoint)},
                cache_dir=cache_dir,
                slack_s=args.slack,
                seam_penalty=penalty,
                device="cpu",
                progress=False,
            )
            rows = [r for r in result.rows if not r["error"]]
            failed = len(result.rows) - len(rows)
            seams = np.array([r["n_seams"] for r in rows])
            print(
                f"{label:<10} {len(rows):>10} {penalty:>8g} {np.mean([r['reward'] for r in rows]):>7.3f} "
                f"{seams.mean():>6.2f} {seams.max():>5.0f} {np.mean([r['repetition_rate'] for r in rows]):>10.3f}"
                + (f"  ({failed} failed)" if failed else "")
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())

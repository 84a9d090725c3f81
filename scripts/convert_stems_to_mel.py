"""Turn cached stems into mels: ``{cache_dir}/stems_mel/{sample}_stems.npz``.

Four ``(128, T)`` mels (drums, bass, vocals, other), normalised as the raw mel
(``editor_env.audio.mel_spectrogram``: ``(clip(dB, -80, 0) + 80) / 80``) and frame for frame
with it, plus their frame RMS levels for the beat features. Reads what
``scripts/precache_stems.py`` wrote; finished samples are skipped, files are written atomically.

    python scripts/convert_stems_to_mel.py --cache_dir cache [--backend local|ray] [--workers N] [--ray-address ADDR]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    from editor_env.cli import report_failures
    from editor_env.errors import MusicEditError
    from editor_env.executor import add_executor_args, executor_from_args
    from editor_env.stems import convert_stems_to_mel

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("samples", nargs="*", help="sample names (default: every cached stem file)")
    parser.add_argument("--cache_dir", "--cache-dir", type=Path, default=Path("cache"))
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    add_executor_args(parser)
    args = parser.parse_args(argv)
    try:
        result = convert_stems_to_mel(
            args.cache_dir, samples=args.samples or None, progress=not args.quiet, executor=executor_from_args(args)
        )
    except MusicEditError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(
        f"{len(result.computed)} converted into {args.cache_dir / 'stems_mel'}, "
        f"{len(result.skipped)} already done, {len(result.failed)} failed"
    )
    return report_failures(result.failed)


if __name__ == "__main__":
    sys.exit(main())

"""Separate every raw recording of a data set into drums, bass, vocals and other stems.

Writes ``{cache_dir}/stems/{sample}_stems.npz``: the four stems, mono at the analysis rate
(22050 Hz) to keep the cache small, with the separator that made them ('source'), its settings
and the cache key. Finished samples are skipped, files are written atomically.

Demucs runs from a local weights folder (``--repo`` or ``MUSICEDIT_DEMUCS_REPO``; nothing is
downloaded), on CUDA when there is one. Without a folder the fallback separator (HPSS +
frequency bands, a rough estimate) runs instead, and the output says so.

    python scripts/precache_stems.py --data_dir training_data --cache_dir cache [--repo DIR] [--device auto]
                                     [--backend local|ray] [--workers N] [--ray-address ADDR]

Then ``scripts/convert_stems_to_mel.py`` makes their mels, and ``musicedit precache`` fills
the stem-energy beat features.
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    from editor_env.cli import report_failures
    from editor_env.errors import MusicEditError
    from editor_env.executor import add_executor_args, executor_from_args
    from editor_env.stems import DEFAULT_MODEL, FALLBACK_SOURCE, METHODS, REPO_ENV, precache_stems, separator_source

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("samples", nargs="*", help="sample names (default: all)")
    parser.add_argument("--data_dir", "--data-dir", type=Path, default=Path("training_data"))
    parser.add_argument("--cache_dir", "--cache-dir", type=Path, default=Path("cache"))
    parser.add_argument("--repo", type=Path, default=None, help=f"local Demucs weights folder (default ${REPO_ENV})")
    parser.add_argument(
        "--model", default=DEFAULT_MODEL, help=f"Demucs model name in the folder (default {DEFAULT_MODEL})"
    )
    parser.add_argument(
        "--method", choices=METHODS, default="auto", help="auto: Demucs when weights are configured, else the fallback"
    )
    parser.add_argument("--device", default="auto", help="auto (CUDA when available), cpu, cuda (Demucs only)")
    parser.add_argument("--segment", type=float, default=None, help="Demucs chunk length in s (default: the model's)")
    parser.add_argument("--force", action="store_true", help="recompute everything (also replaces Demucs stems)")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    parser.add_argument("--verbose", action="store_true", help="one log line per separated sample")
    add_executor_args(parser)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING, format="%(message)s")

    try:
        source = separator_source(method=args.method, repo=args.repo, model_name=args.model)
        note = " (no Demucs weights configured: a rough estimate)" if source == FALLBACK_SOURCE else ""
        print(f"Separating {args.data_dir} into {args.cache_dir / 'stems'} with {source}{note}", flush=True)
        result = precache_stems(
            args.data_dir,
            args.cache_dir,
            method=args.method,
            repo=args.repo,
            model_name=args.model,
            device=args.device,
            segment_s=args.segment,
            samples=args.samples or None,
            force=args.force,
            progress=not args.quiet,
            executor=executor_from_args(args),
        )
    except MusicEditError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(
        f"[{result.source}] {len(result.computed)} separated ({result.audio_seconds:.0f} s of audio), "
        f"{len(result.skipped)} already cached, {len(result.failed)} failed"
    )
    return report_failures(result.failed)


if __name__ == "__main__":
    sys.exit(main())

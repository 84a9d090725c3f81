"""Fine-tune a trained pointer network on its training pairs plus newly generated ones.

    python scripts/finetune_pointer.py --init-from W/model/best.pt --data-dir W/train_data --cache-dir W/cache_train \
        --work-dir W2 [--extra-seed 300] [--n-extra 800] [--skip-first 30] [--budget-minutes 70] \
        [--learning-rate 7e-4] [--threads 2] [--keep-context FRAMES] [--n-layers N] [--device auto] [--workers N]
        [--val-fraction F] [--hard-steps N]

Without ``--data-dir`` and ``--cache-dir`` it trains on the new pairs alone (a machine with no old pairs cached).

1. Writes ``--n-extra`` (0: none, fine-tune on the old pairs alone) generated pairs of seed ``--extra-seed`` without the generator's random moves and repeats
   (``editor_env.synth``, as ``scripts/eval_pointer.py --no-restructure`` writes its pairs) into
   ``--work-dir``/extra_data and precaches them into ``extra_cache`` (skipped when present), both on ``--workers``
   processes (on one core about 0.1 s a pair of 40-80 s to generate and 0.3 s to precache). The first
   ``--skip-first`` of them are left out of training: sample ``i`` of a seed shares its tempo, key and
   instruments with sample ``i`` of every other data set of that seed, and ``scripts/train_defaults.sh``
   benchmarks on the first 30 pairs of seed 300.
2. Builds ``combined/``: a data set of symbolic links (nothing is copied or changed) to the cached features and
   pointer sequences of both, named ``a_{sample}`` (``--data-dir`` / ``--cache-dir``) and ``b_{sample}`` (the new
   pairs).
3. Trains on it with the training config saved in ``--init-from`` (the recipe it was trained with), starting
   from its weights (``init_from``: fresh optimizer, learning-rate warm-up and cosine decay over the budget),
   ``--learning-rate`` peak, for ``--budget-minutes`` on ``--device`` (auto: CUDA when present, else the CPU with
   ``--threads``); ``best.pt`` by ``val/free_within5`` as always.
   A rerun resumes from ``model/latest.pt``.

Then score it: ``python scripts/eval_pointer.py --no-restructure --checkpoint W2/model/best.pt``.
Measured (2026-12-04: the shipped model of 2026-11-25 and 770 more pairs, ``--budget-minutes 85``, two threads: 10
epochs, best at 6): on 50 held-out pairs frames within 5 0.884 -> 0.909, exact 0.872 -> 0.903, but 0.827 -> 0.812
on the 30-pair benchmark as ``musicedit edit`` runs it, so it is not shipped. 2026-12-05: ``--n-layers 4 --n-extra 0``
(a fourth encoder block, the shipped model's own 800 pairs) overfitted them (validation loss 0.30 -> 0.52 in 15
epochs) and scored within 5 0.873 on the 50 held-out pairs: more pairs help, more layers alone do not. 2026-12-06:
3,600 fresh pairs (``--data-dir`` a linked set of seeds 900, 1100 and 1300, ``--extra-seed 700 --n-extra 1200
--skip-first 0 --budget-minutes 105``): within 5 0.909 on the 50 and 0.913 on 100 of seed 400, but 0.934 against
0.988 on real music, so not shipped; the same with ``--hard-steps 0`` peaked at epoch 5 of 7.5 minutes (within 5
0.905 and 0.869 on 100 of seed 400; stop precision 0.828), then overfitted. See docs/pointer_experiments.md.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def link_dataset(cache_dir: Path, pointer_dir: Path, out: Path, prefix: str, skip: set[str] = frozenset()) -> int:
    """Link every cached file of ``cache_dir`` (its subfolders) and every file of ``pointer_dir`` into ``out`` as
    ``cache/<subfolder>/{prefix}{name}`` and ``pointer_sequences/{prefix}{name}``, leaving out samples in ``skip``.
    Returns the number of samples linked."""
    from pointer_baseline.data import discover_samples

    names = [n for n in discover_samples(cache_dir, pointer_dir) if n not in skip]
    pairs = [(sub, out / "cache" / sub.name) for sub in sorted(cache_dir.iterdir()) if sub.is_dir()]
    pairs.append((pointer_dir, out / "pointer_sequences"))
    for src_dir, dst_dir in pairs:
        dst_dir.mkdir(parents=True, exist_ok=True)
        for name in names:
            for src in src_dir.glob(f"{name}_*"):
                dst = dst_dir / f"{prefix}{src.name}"
                if not dst.is_symlink():
                    dst.symlink_to(src.resolve())
    return len(names)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--init-from", type=Path, required=True, help="the trained checkpoint to start from")
    parser.add_argument(
        "--data-dir", type=Path, help="its training data set (pointer_sequences/); leave out to train on new pairs only"
    )
    parser.add_argument("--cache-dir", type=Path, help="its feature cache (with --data-dir)")
    parser.add_argument("--work-dir", type=Path, required=True, help="new pairs, the combined set and the model")
    parser.add_argument("--extra-seed", type=int, default=300)
    parser.add_argument("--n-extra", type=int, default=800)
    parser.add_argument("--skip-first", type=int, default=30, help="new pairs left out (a benchmark's seed)")
    parser.add_argument("--budget-minutes", type=float, default=70.0)
    parser.add_argument("--learning-rate", type=float, default=7e-4, help="peak learning rate")
    parser.add_argument("--threads", type=int, default=2, help="torch threads on CPU")
    parser.add_argument("--device", default="auto", help="auto (CUDA when present), cpu or cuda")
    parser.add_argument(
        "--workers", type=int, default=None, help="processes that generate and precache the new pairs (default 1)"
    )
    parser.add_argument(
        "--hard-steps",
        type=int,
        default=None,
        metavar="N",
        help="each recording's N most-wrong decoder steps added to its random ones (0: no mining, about half the "
        "time a step; scripts/bench_pointer_train.py); default: as --init-from",
    )
    parser.add_argument(
        "--val-fraction",
        type=float,
        default=None,
        help="share of the recordings held out for validation (decoded free-running after every epoch); "
        "default: as --init-from",
    )
    parser.add_argument(
        "--keep-context",
        type=int,
        default=None,
        metavar="FRAMES",
        help="give the decoder the keep head's verdict around each step (the model config's keep_context; new "
        "inputs start at zero weight); default: as --init-from",
    )
    parser.add_argument(
        "--n-layers",
        type=int,
        default=None,
        metavar="N",
        help="grow the encoder to N layers (the model config's n_layers; the new blocks start as the identity); "
        "default: as --init-from",
    )
    args = parser.parse_args(argv)
    if (args.data_dir is None) != (args.cache_dir is None):
        parser.error("give --data-dir and --cache-dir together (the old pairs), or neither")
    if args.data_dir is None and args.n_extra < 1:
        parser.error("no pairs to train on: give --data-dir and --cache-dir, or --n-extra above 0")

    from editor_env.executor import Executor
    from editor_env.synth import write_dataset
    from pointer_baseline.checkpoint import read_checkpoint
    from pointer_baseline.precache import precache_pointer_data
    from pointer_baseline.trainers.pointer_trainer import PointerTrainConfig, train

    payload = read_checkpoint(args.init_from)
    if "train_config" not in payload:
        raise SystemExit(f"{args.init_from} holds no training config: give a checkpoint written by the trainer.")
    work = args.work_dir
    extra_data, extra_cache = work / "extra_data", work / "extra_cache"
    combined = work / "combined"
    n_old = 0
    if args.data_dir is not None:
        n_old = link_dataset(args.cache_dir, args.data_dir / "pointer_sequences", combined, "a_")
    n_new = 0
    if args.n_extra > 0:
        executor = Executor(workers=args.workers)
        write_dataset(
            extra_data, args.n_extra, seed=args.extra_seed, restructure=False, progress=True, executor=executor
        )
        result = precache_pointer_data(extra_data, extra_cache, progress=True, executor=executor)
        if result.failed:
            raise SystemExit(f"precache failed: {result.failed}")
        skip = {f"synth_{i:04d}" for i in range(args.skip_first)}
        n_new = link_dataset(extra_cache, extra_data / "pointer_sequences", combined, "b_", skip)
    print(f"{n_old} + {n_new} pairs linked into {combined}")

    config = PointerTrainConfig.from_dict(payload["train_config"], source=f"{args.init_from} train_config")
    grown = {"keep_context": args.keep_context, "n_layers": args.n_layers}
    grown = {k: v for k, v in grown.items() if v is not None}
    if grown:
        config = dataclasses.replace(config, model=dataclasses.replace(config.model, **grown))
    if args.val_fraction is not None:
        config = dataclasses.replace(config, val_fraction=args.val_fraction)
    if args.hard_steps is not None:
        config = dataclasses.replace(config, hard_steps=args.hard_steps)
    config = dataclasses.replace(
        config,
        cache_dir=str(combined / "cache"),
        pointer_dir=str(combined / "pointer_sequences"),
        save_dir=str(work / "model"),
        init_from=str(args.init_from),
        learning_rate=args.learning_rate,
        max_minutes=args.budget_minutes,
        device=args.device,
        num_threads=args.threads,
        progress=False,
    )
    latest = work / "model" / "latest.pt"
    result = train(config, resume=str(latest) if latest.is_file() else None)
    print(
        f"Done: {result.epoch} epoch(s) in {result.seconds / 60:.1f} min; best val/free_within5 {result.best_score:.4f}; "
        f"{work / 'model' / 'best.pt'}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""``musicedit`` subcommands of :mod:`imitation_data` (listed in ``editor_env.cli.PACKAGE_CLIS``).

``align`` aligns a raw recording and its edit (or a whole data set) into pointer sequences;
``bc-dataset`` builds the BC data sets (``bc_rich.npz``, and with ``--augment`` ``bc_augmented.npz``);
``bc-pretrain`` pretrains a MaskablePPO policy on them. Handlers import their heavy dependencies
only when run.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from editor_env.cli import report_failures
from editor_env.errors import MusicEditError
from editor_env.executor import add_executor_args, executor_from_args


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add this package's subcommands to the ``musicedit`` parser."""
    _add_align(subparsers)
    _add_bc_dataset(subparsers)
    _add_bc_pretrain(subparsers)


# -- align -------------------------------------------------------------------------------------------
def _add_align(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "align",
        help="align raw recordings with their edits: pointer sequences, op labels, junk labels, a picture",
        description=(
            "Align RAW and EDIT into OUT/{sample}_pointers.npy, _ops.npy, _labels.json (the raw spans the "
            "edit never plays, as junk), _info.json and _alignment.png ({sample}: RAW's name without _raw), or "
            "every pair of a data set with --data-dir. Pairs already aligned with the same settings are "
            "skipped. Ground truth (the synthetic generator's or the jam maker's pointers and labels) is never "
            "replaced: for a data set whose pointer_sequences/ holds it, the default output is "
            "pointer_sequences_aligned/."
        ),
    )
    p.add_argument("raw", type=Path, nargs="?", help="the raw recording (with EDIT; or use --data-dir)")
    p.add_argument("edit", type=Path, nargs="?", help="its edited version")
    p.add_argument("--data-dir", type=Path, default=None, help="align every pair of this data set instead")
    p.add_argument(
        "--out",
        type=Path,
        default=None,
        help="output folder (required for RAW EDIT; with --data-dir default DATA_DIR/pointer_sequences, or "
        "DATA_DIR/pointer_sequences_aligned when that holds ground truth)",
    )
    p.add_argument("--samples", nargs="*", default=None, help="with --data-dir: only these samples")
    p.add_argument("--sample", default=None, help="with RAW EDIT: the sample name (default RAW's name minus _raw)")
    p.add_argument("--force", action="store_true", help="realign even if aligned with the same settings")
    p.add_argument("--no-plot", action="store_true", help="do not draw {sample}_alignment.png")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    add_executor_args(p)
    p.set_defaults(func=_run_align)


def _run_align(args: argparse.Namespace) -> int:

    from imitation_data.align import align_dataset, align_files

    if args.data_dir is not None:
        if args.raw is not None or args.edit is not None:
            raise MusicEditError("Give either RAW EDIT or --data-dir, not both.")
        result = align_dataset(
            args.data_dir,
            args.out,
            samples=args.samples,
            force=args.force,
            plot=not args.no_plot,
            progress=not args.no_progress,
            executor=executor_from_args(args),
        )
        if result.ground_truth and args.out is None:
            print(
                f"{args.data_dir}/pointer_sequences holds ground truth: alignments go to {result.out_dir} "
                "(the ground truth is never replaced)."
            )
        print(
            f"{len(result.aligned)} aligned, {len(result.skipped)} already aligned with these settings, "
            f"{len(result.failed)} failed; files in {result.out_dir}"
        )
        return report_failures(result.failed)
    if args.raw is None or args.edit is None:
        raise MusicEditError("align needs RAW and EDIT (two audio files), or --data-dir DATA_DIR.")
    if args.out is None:
        raise MusicEditError("align RAW EDIT needs --out DIR: the folder to write the pointer files into.")
    done = align_files(args.raw, args.edit, args.out, sample=args.sample, force=args.force, plot=not args.no_plot)
    if done.skipped:
        print(f"{done.sample}: already aligned with these settings in {args.out} (--force to redo).")
        return 0
    info = done.alignment.info
    print(
        f"{done.sample}: {info['edit_frames']} edit frames, {info['n_segments']} segment(s), mean confidence "
        f"{info['confidence']:.3f}, {100 * info['new_fraction']:.1f}% new material, {info['timings_s']['total']:.2f} s"
    )
    print("Wrote " + ", ".join(str(path) for path in done.paths.values()))
    return 0


# -- bc-dataset --------------------------------------------------------------------------------------
def _add_bc_dataset(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "bc-dataset",
        help="BC labels + env observations of a data set's edits as imitation Transitions (bc_rich.npz)",
    )
    p.add_argument("--data-dir", type=Path, default=Path("training_data"), help="data set (default training_data)")
    p.add_argument("--cache-dir", type=Path, default=Path("cache"), help="its cache (default cache)")
    p.add_argument("--out", type=Path, default=Path("bc_rich.npz"), help="the data set to write (default bc_rich.npz)")
    p.add_argument("--samples", nargs="*", default=None, help="only these samples (default: all with pointers)")
    p.add_argument("--augment", action="store_true", help="also write synthetic examples of rare action types")
    p.add_argument("--min-samples", type=int, default=50, help="steps wanted per rare action type (default 50)")
    p.add_argument("--out-augmented", type=Path, default=Path("bc_augmented.npz"), help="default bc_augmented.npz")
    p.add_argument("--seed", type=int, default=0, help="seed of the augmentation (default 0)")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    add_executor_args(p)
    p.set_defaults(func=_run_bc_dataset)


def _run_bc_dataset(args: argparse.Namespace) -> int:
    from editor_env.actions import ActionType
    from imitation_data.transitions import build_dataset

    progress = not args.no_progress
    dataset, labels, tasks = build_dataset(
        args.data_dir, args.cache_dir, samples=args.samples, progress=progress, executor=executor_from_args(args)
    )
    dataset.save(args.out)
    unreachable = sum(lab.unreachable_beats for lab in labels)
    total = sum(lab.play_order.size for lab in labels)
    counts = dataset.type_counts()
    print(f"{dataset.n_episodes} edit(s), {len(dataset)} steps -> {args.out}")
    print("  steps per type: " + ", ".join(f"{ActionType(i).name} {c}" for i, c in enumerate(counts) if c))
    agreement = [v["replay_agreement"] for v in dataset.provenance["samples"].values()]
    print(f"  beats the labels could not reproduce: {unreachable} of {total}")
    print(
        f"  replaying the labels in the env: beat agreement with the pointers mean {sum(agreement) / len(agreement):.4f},"
        f" min {min(agreement):.4f} ({sum(a >= 0.95 for a in agreement)} of {len(agreement)} edits at >= 0.95)"
    )
    if args.augment:
        from imitation_data.augment import augment

        aug, _, report = augment(
            tasks, min_samples=args.min_samples, existing_counts=counts, seed=args.seed, progress=progress
        )
        if aug is None:
            print("Augmentation: every type already has enough steps; nothing written.")
        else:
            aug.save(args.out_augmented)
            print(
                f"Augmentation: {report.episodes} edit(s), {len(aug)} steps -> {args.out_augmented} ({report.seconds} s)"
            )
            grown = {k: (report.before[k], v) for k, v in report.after.items() if v != report.before[k]}
            print(
                "  steps per type (before -> with augmentation): "
                + ", ".join(f"{k} {a}->{b}" for k, (a, b) in grown.items())
            )
        if report.short:
            print(f"  still short of {args.min_samples}: {report.short}")
    return report_failures(dataset.provenance.get("failed", {}))


# -- bc-pretrain -------------------------------------------------------------------------------------
def _add_bc_pretrain(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("bc-pretrain", help="pretrain a MaskablePPO policy with behavioural cloning (imitation's BC)")
    p.add_argument(
        "--data",
        type=Path,
        action="append",
        required=True,
        help="BC data set npz; repeat to add more (e.g. bc_augmented.npz): held-out edits come from the first only",
    )
    p.add_argument("--epochs", type=int, default=10, help="passes over the data (default 10)")
    p.add_argument("--save-dir", type=Path, default=Path("models/bc"), help="where to save (default models/bc)")
    p.add_argument("--device", default="auto", help="auto, cpu or cuda (default auto)")
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--lr", type=float, default=1e-3, help="Adam learning rate (default 1e-3)")
    p.add_argument("--ent-weight", type=float, default=1e-3, help="entropy bonus weight (default 1e-3)")
    p.add_argument("--val-fraction", type=float, default=0.2, help="edits held out for accuracy (default 0.2)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument(
        "--policy-kwargs",
        type=json.loads,
        default=None,
        help="MlpPolicy policy_kwargs as JSON, e.g. '{\"net_arch\": [256, 256]}'",
    )
    p.add_argument("--progress", action="store_true", help="show imitation's progress bar")
    p.set_defaults(func=_run_bc_pretrain)


def training_sets(paths: list[Path], val_fraction: float, seed: int):
    """Train and validation sets: validation edits from the first data set; the others (e.g.
    augmented examples) join training, except episodes built on a held-out recording."""
    from imitation_data.transitions import BCDataset

    first = BCDataset.load(paths[0])
    train, val = first.split(val_fraction, seed)
    held_out = set(val.samples.tolist())
    parts = [train]
    for path in paths[1:]:
        extra = BCDataset.load(path)
        bases = [s.split("+", 1)[0] for s in extra.samples.tolist()]
        keep = [k for k, base in enumerate(bases) if base not in held_out]
        if keep:
            parts.append(extra.subset(keep))
    if len(parts) > 1:
        train = BCDataset.concatenate(parts, {"kind": "combined", "parts": [str(p) for p in paths]})
    return train, val


def _run_bc_pretrain(args: argparse.Namespace) -> int:
    from imitation_data.bc import BCConfig, bc_pretrain

    config = BCConfig(
        epochs=args.epochs,
        batch_size=args.batch_size,
        learning_rate=args.lr,
        ent_weight=args.ent_weight,
        val_fraction=args.val_fraction,
        seed=args.seed,
        device=args.device,
        policy_kwargs=args.policy_kwargs,
    )
    config.check()
    missing = [str(p) for p in args.data if not p.is_file()]
    if missing:
        raise MusicEditError(f"No BC data set at {missing}: build it with `musicedit bc-dataset`.")
    train, val = training_sets(args.data, args.val_fraction, args.seed)
    print(f"BC on {len(train)} steps ({train.n_episodes} edits), {len(val)} held-out steps ({val.n_episodes} edits)")
    report = bc_pretrain(
        train,
        args.save_dir,
        config=config,
        val_data=val,
        progress=args.progress,
        data_info={"paths": [str(p) for p in args.data]},
    )
    acc = report.val_accuracy
    print(
        f"Held-out accuracy: type {acc['type']:.3f}, size {acc['size']:.3f}, amount {acc['amount']:.3f}, "
        f"whole action {acc['action']:.3f}; loss {report.initial_train_loss:.3f} -> {report.train_loss[-1]:.3f} "
        f"in {report.seconds:.1f} s"
    )
    print(f"Saved {report.model_path} (TensorBoard: {args.save_dir / 'tb'})")
    return 0

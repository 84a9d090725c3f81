"""``musicedit`` subcommands of :mod:`policies` (listed in ``editor_env.cli.PACKAGE_CLIS``)."""

from __future__ import annotations

import argparse


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``train-ppo``: the same as ``python -m policies.train`` (every flag is passed on)."""
    p = subparsers.add_parser(
        "train-ppo",
        help="train the BC + PPO agent (python -m policies.train; see its --help)",
        add_help=False,
    )
    # every argument after train-ppo goes to policies.train (editor_env.cli passes them on)
    p.set_defaults(func=_run_train, pass_through=True)


def _run_train(args: argparse.Namespace) -> int:
    from policies.train import main

    return main(args.pass_through_args)

"""Train the MusicEdit agent: MaskablePPO with the NATTEN policy, optionally BC-mixed.

    python -m policies.train --config configs/ppo_bc.json [--bc-mixed bc_rich.npz --bc-weight 0.5]
                             [--data-dir training_data --cache-dir cache] [--save-dir models/v1]
                             [--checkpoint models/v1/latest.pt] [--subprocess] [--total-timesteps N]

Read top to bottom: settings (one dataclass, JSON config, flags override), data (tasks split
into training and held-out recordings), envs (thunks; SubprocVecEnv with ``--subprocess``),
the model (new, or resumed from a checkpoint with its step counter), callbacks (observation
statistics, evaluation with the common reward, atomic ``latest.pt``/``best.pt``), learning.
TensorBoard logs go to ``{save_dir}/tb``.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from pathlib import Path
from typing import Any

import numpy as np

from editor_env.errors import MusicEditError
from editor_env.io import config_from_args


@dataclasses.dataclass
class TrainConfig:
    """Settings of one training run; ``configs/ppo_bc.json`` holds the recipe."""

    data_dir: str | None = None
    """Data set in the training_data layout (None: the embedded synthetic default)."""
    cache_dir: str | None = None
    """Its feature cache (None: beside the data set)."""
    save_dir: str = "models/ppo"
    """Where latest.pt, best.pt, config.json and TensorBoard logs (tb/) go."""
    total_timesteps: int = 50_000
    """Environment steps to train for (in all, counting a resumed run's earlier steps)."""
    n_envs: int = 2
    """Parallel environments."""
    subprocess: bool = False
    """Run the environments in subprocesses (SubprocVecEnv) instead of in this process."""
    held_out_fraction: float = 0.25
    """Share of the recordings kept out of training for evaluation (at least one when there are two)."""
    seed: int = 0
    device: str = "auto"
    """"auto" (CUDA when present), "cpu" or "cuda"."""
    learning_rate: float = 3e-4
    n_steps: int = 512
    """Steps per environment per rollout."""
    batch_size: int = 128
    n_epochs: int = 4
    gamma: float = 0.99
    gae_lambda: float = 0.95
    clip_range: float = 0.2
    ent_coef: float = 0.01
    """Entropy coefficient (the policy's entropy is per head: at most ln 20)."""
    vf_coef: float = 0.5
    target_kl: float | None = 0.05
    bc_mixed: str | None = None
    """BC data set (npz from ``musicedit bc-dataset``) whose NLL joins the PPO loss."""
    bc_weight: float = 0.5
    """Weight of the BC loss at the start."""
    bc_weight_schedule: str = "linear"
    """"linear" (decays to 0 at the end) or "constant"."""
    bc_pretrain: str | None = None
    """BC data set to pretrain the policy on before PPO (imitation's BC)."""
    bc_pretrain_epochs: int = 10
    extractor: dict[str, Any] = dataclasses.field(
        default_factory=lambda: {
            "hidden_dim": 64,
            "num_heads": 2,
            "kernel_size": 5,
            "num_layers": 2,
            "features_dim": 128,
        }
    )
    """NATTENFeaturesExtractor settings."""
    net_arch: list[int] = dataclasses.field(default_factory=lambda: [64])
    """Hidden layers of the policy and value heads."""
    aux_weights: dict[str, float] = dataclasses.field(
        default_factory=lambda: {"tempo": 0.0, "energy": 0.0, "phrase": 0.0, "mel": 0.0}
    )
    """Weights of the auxiliary tasks' losses in PPO and BC (:mod:`policies.auxiliary`); 0 = no head."""
    eval_freq: int = 5_000
    """Evaluate and checkpoint every this many steps."""
    n_eval_episodes: int = 4
    tb_log_name: str = "ppo_bc"

    @classmethod
    def from_json(cls, path: str | Path) -> TrainConfig:
        from editor_env.io import check_config_fields, read_json

        config = cls(**check_config_fields(cls, read_json(path, "training config"), str(path)))
        config.check_aux_weights(f"{path}: aux_weights")
        return config

    def check_aux_weights(self, source: str = "Training config: aux_weights") -> None:
        """Fail, naming ``source`` and the known tasks, on an unknown auxiliary task or a bad weight."""
        from policies.auxiliary import check_aux_weights

        check_aux_weights(self.aux_weights, source, MusicEditError)

    def check(self) -> None:
        """Fail fast, naming the field, on settings that make no sense."""
        problems = []
        if self.total_timesteps < 1:
            problems.append("total_timesteps must be positive")
        if self.n_envs < 1:
            problems.append("n_envs must be at least 1")
        if self.batch_size > self.n_steps * self.n_envs:
            problems.append(
                f"batch_size {self.batch_size} exceeds the rollout (n_steps x n_envs = {self.n_steps * self.n_envs})"
            )
        if not 0 <= self.held_out_fraction < 1:
            problems.append("held_out_fraction must lie in [0, 1)")
        if self.bc_weight_schedule not in ("linear", "constant"):
            problems.append("bc_weight_schedule must be 'linear' or 'constant'")
        if self.bc_weight < 0:
            problems.append("bc_weight must be >= 0")
        if problems:
            raise MusicEditError("Training config: " + "; ".join(problems) + ".")
        self.check_aux_weights()


def split_tasks(tasks: list, held_out_fraction: float, seed: int) -> tuple[list, list]:
    """Training and held-out tasks, split by recording with a seeded shuffle."""
    order = np.random.default_rng(seed).permutation(len(tasks))
    n_held = int(round(held_out_fraction * len(tasks)))
    if held_out_fraction > 0 and len(tasks) >= 2:
        n_held = max(n_held, 1)
    held = [tasks[i] for i in sorted(order[:n_held])]
    train = [tasks[i] for i in sorted(order[n_held:])]
    return train, (held or train)


def make_env_fn(tasks: list, seed: int):
    """A thunk that builds one MusicEditEnv (picklable for SubprocVecEnv)."""

    def thunk():
        from editor_env.env import MusicEditEnv

        env = MusicEditEnv(tasks=tasks)
        env.reset(seed=seed)
        return env

    return thunk


def build_model(config: TrainConfig, venv, demonstrations, tensorboard_log: str):
    from policies.policy import MusicEditPolicy
    from policies.ppo import BCMaskablePPO

    weight = config.bc_weight
    schedule = (lambda progress: weight * progress) if config.bc_weight_schedule == "linear" else weight
    return BCMaskablePPO(
        MusicEditPolicy,
        venv,
        demonstrations=demonstrations,
        bc_weight=schedule if demonstrations is not None else 0.0,
        learning_rate=config.learning_rate,
        n_steps=config.n_steps,
        batch_size=config.batch_size,
        n_epochs=config.n_epochs,
        gamma=config.gamma,
        gae_lambda=config.gae_lambda,
        clip_range=config.clip_range,
        ent_coef=config.ent_coef,
        vf_coef=config.vf_coef,
        target_kl=config.target_kl,
        tensorboard_log=tensorboard_log,
        policy_kwargs={
            "features_extractor_kwargs": dict(config.extractor),
            "net_arch": {"pi": list(config.net_arch), "vf": list(config.net_arch)},
            "aux_weights": dict(config.aux_weights),
        },
        seed=config.seed,
        device=config.device,
    )


def train(config: TrainConfig, *, checkpoint: str | None = None, progress: bool = True, callbacks: list | None = None):
    """Run one training; returns the model. Writes ``{save_dir}/config.json``, ``latest.pt``, ``best.pt``.

    :param checkpoint: resume from this ``latest.pt`` / ``best.pt`` (weights, optimiser, observation
        statistics, step counter); the BC weight schedule continues where it was, since its progress is
        measured against ``config.total_timesteps``.
    :param callbacks: extra SB3 callbacks (e.g. one that stops early; ``latest.pt`` is written at the stop).

    Ctrl-C writes ``latest.pt`` (atomically) before it stops, so the run resumes from there.
    """
    from sb3_contrib import MaskablePPO  # noqa: F401  (registers the maskable classes)
    from stable_baselines3.common.vec_env import DummyVecEnv, SubprocVecEnv, VecMonitor

    from editor_env.env import MusicEditEnv
    from editor_env.io import atomic_write_text
    from editor_env.tasks import load_tasks
    from policies.callbacks import CheckpointAndEvalCallback, ObservationStatsCallback, atomic_save
    from policies.ppo import BCMaskablePPO, load_demonstrations

    config.check()
    save_dir = Path(config.save_dir)
    save_dir.mkdir(parents=True, exist_ok=True)
    atomic_write_text(save_dir / "config.json", json.dumps(dataclasses.asdict(config), indent=2))

    tasks = load_tasks(config.data_dir, config.cache_dir)
    train_tasks, held_out = split_tasks(tasks, config.held_out_fraction, config.seed)
    print(f"{len(train_tasks)} training and {len(held_out)} held-out recording(s)")

    thunks = [make_env_fn(train_tasks, config.seed + i) for i in range(config.n_envs)]
    venv = VecMonitor(SubprocVecEnv(thunks) if config.subprocess else DummyVecEnv(thunks))
    demonstrations = load_demonstrations(config.bc_mixed) if config.bc_mixed else None

    best = None
    if checkpoint:
        from editor_env.checkpoints import check_paradigm

        info = check_paradigm(checkpoint, "bc_ppo")  # a pointer or supervised checkpoint is named, not read as SB3
        best = ((info.state if info is not None else None) or {}).get("best_common_reward")
        model = BCMaskablePPO.load(checkpoint, env=venv, device=config.device)
        model.demonstrations = demonstrations
        print(f"Resumed from {checkpoint} at step {model.num_timesteps}")
    else:
        model = build_model(config, venv, demonstrations, str(save_dir / "tb"))
        if config.bc_pretrain:
            from imitation_data.bc import pretrain_policy

            pretrain_policy(model, config.bc_pretrain, epochs=config.bc_pretrain_epochs, seed=config.seed)
    initial_obs = demonstrations.obs if demonstrations is not None else None
    checkpointer = CheckpointAndEvalCallback(
        MusicEditEnv(tasks=held_out),
        save_dir,
        eval_freq=config.eval_freq,
        n_eval_episodes=config.n_eval_episodes,
        config=dataclasses.asdict(config),
        best=best,
    )
    callbacks = [*(callbacks or []), ObservationStatsCallback(initial=initial_obs), checkpointer]
    remaining = max(config.total_timesteps - model.num_timesteps, 0)
    try:
        model.learn(
            remaining,
            callback=callbacks,
            tb_log_name=config.tb_log_name,
            reset_num_timesteps=checkpoint is None,
            progress_bar=progress,
        )
    except KeyboardInterrupt:
        state = {"best_common_reward": checkpointer.best} if np.isfinite(checkpointer.best) else None
        atomic_save(model, save_dir / "latest.pt", config=dataclasses.asdict(config), state=state)
        print(f"Interrupted at step {model.num_timesteps}: resume with --checkpoint {save_dir / 'latest.pt'}")
        raise
    finally:
        venv.close()
    return model


def parse_args(argv: list[str] | None = None) -> tuple[TrainConfig, str | None, bool]:
    parser = argparse.ArgumentParser(
        prog="python -m policies.train", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--config", help="JSON config (configs/ppo_bc.json); flags override it")
    parser.add_argument("--data-dir"), parser.add_argument("--cache-dir"), parser.add_argument("--save-dir")
    parser.add_argument("--total-timesteps", type=int)
    parser.add_argument("--n-envs", type=int)
    parser.add_argument("--subprocess", action="store_true", default=None, help="SubprocVecEnv")
    parser.add_argument("--seed", type=int)
    parser.add_argument("--device")
    parser.add_argument("--bc-mixed", help="BC data set mixed into PPO")
    parser.add_argument("--bc-weight", type=float)
    parser.add_argument("--bc-pretrain", help="BC data set to pretrain on first")
    parser.add_argument("--bc-pretrain-epochs", type=int)
    parser.add_argument("--eval-freq", type=int)
    parser.add_argument("--checkpoint", help="resume from this latest.pt / best.pt")
    parser.add_argument("--no-progress", action="store_true")
    args = parser.parse_args(argv)
    config = config_from_args(TrainConfig, args)
    return config, args.checkpoint, not args.no_progress


def main(argv: list[str] | None = None) -> int:
    try:
        config, checkpoint, progress = parse_args(argv)
        train(config, checkpoint=checkpoint, progress=progress)
    except MusicEditError as exc:
        print(f"policies.train: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())

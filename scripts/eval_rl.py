"""Check of the RL paradigm (issue 5): BC, then BC + PPO, against the retarget editor, on held-out pairs.

    python scripts/eval_rl.py [--budget-minutes 30] [--train 30] [--held-out 10] [--seed 0]
                              [--out bench_output/eval_rl] [--config configs/ppo_bc.json]
                              [--variants up2,down2,eq] [--quick]

Everything runs on the CPU with fixed seeds, within a wall-clock budget that covers every stage:

1. ``--train + --held-out`` synthetic pairs (30-60 s) generated and precached into OUT; the BC data
   sets ``bc_rich.npz`` and ``bc_augmented.npz`` (rare action types) of the training pairs, their union
   ``bc_train.npz``, and ``bc_held_out.npz`` of the held-out pairs (never trained on). The training
   recordings come with their sound variants (``--variants``: pitch +-2 semitones, EQ; the same
   performance and reference edit, :mod:`imitation_data.variants`), so BC and PPO see 4 x 30
   recordings of 30 performances; the held-out recordings are never varied.
2. BC pretraining of a ``MusicEditPolicy`` (NATTEN extractor, ``configs/ppo_bc.json``'s settings) on
   ``bc_train.npz``; accuracy per head (masked mode) on the held-out pairs' demonstrations.
3. Held-out common reward (deterministic, masked episodes) of BC alone, the retarget editor, keeping
   everything, and the reference edit itself (for scale).
4. BC + PPO (BC-mixed on ``bc_train.npz``, starting from the BC policy) for the time left: one
   calibration iteration (rollout + update) on a throwaway model gives the seconds per iteration,
   ``total_timesteps`` is chosen to fit, and a callback stops learning at the deadline regardless.
5. The BC + PPO policy's held-out common reward; a Markdown table with the figures and PASS/FAIL of the
   issue's checks, printed and written to ``OUT/eval_rl.md`` and ``OUT/eval_rl.json``.

``--quick`` is a 2-minute smoke version (6 + 2 short pairs, 3 BC epochs) unless flags say otherwise.
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")

import argparse
import dataclasses
import json
import platform
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


class Clock:
    """Wall time per stage and the deadline of the whole run."""

    def __init__(self, budget_s: float) -> None:
        self.start = time.perf_counter()
        self.budget_s = budget_s
        self.deadline = self.start + budget_s
        self.stages: dict[str, float] = {}

    def elapsed(self) -> float:
        return time.perf_counter() - self.start

    def left(self) -> float:
        return self.deadline - time.perf_counter()

    def stage(self, name: str):
        clock = self

        class _Stage:
            def __enter__(self):
                print(f"\n== {name} (at {clock.elapsed():.1f} s of {clock.budget_s:.0f} s)", flush=True)
                self.t0 = time.perf_counter()
                return self

            def __exit__(self, *exc):
                seconds = time.perf_counter() - self.t0
                clock.stages[name] = round(seconds, 1)
                print(f"-- {name}: {seconds:.1f} s", flush=True)
                return False

        return _Stage()


def make_callbacks(deadline: float, report_every_s: float = 60.0):
    from stable_baselines3.common.callbacks import BaseCallback

    from editor_env.actions import ActionType

    class DeadlineAndCounters(BaseCallback):
        """Stops learning at ``deadline`` (perf_counter); records ``counters/n_keep_ratio`` of every rollout
        (the fraction of KEEP among the rollout's action types, as BCMaskablePPO logs it)."""

        def __init__(self) -> None:
            super().__init__()
            self.keep_ratios: list[float] = []
            self.stopped_by_deadline = False
            self._last_report = time.perf_counter()
            self._t0 = time.perf_counter()

        def _on_step(self) -> bool:
            if time.perf_counter() >= deadline:
                self.stopped_by_deadline = True
                return False
            return True

        def _on_rollout_end(self) -> None:
            types = self.model.rollout_buffer.actions[..., 0]
            self.keep_ratios.append(float(np.mean(types == ActionType.KEEP)))
            now = time.perf_counter()
            if now - self._last_report >= report_every_s:
                self._last_report = now
                print(
                    f"   PPO step {self.num_timesteps}: {now - self._t0:.0f} s, n_keep_ratio {self.keep_ratios[-1]:.3f}",
                    flush=True,
                )

    return DeadlineAndCounters()


def counting_env_class():
    from editor_env.env import MusicEditEnv

    class CountingEnv(MusicEditEnv):
        """MusicEditEnv that counts the action types it is given (for the deterministic keep ratio)."""

        def __init__(self, *args, **kwargs) -> None:
            super().__init__(*args, **kwargs)
            self.type_counts = np.zeros(20, np.int64)

        def step(self, action):
            self.type_counts[int(np.asarray(action).reshape(-1)[0])] += 1
            return super().step(action)

    return CountingEnv


def evaluate_policy(model, env, n: int) -> dict:
    from policies.callbacks import evaluate_common_reward

    env.type_counts[:] = 0
    t0 = time.perf_counter()
    result = evaluate_common_reward(model, env, n)
    result["keep_ratio_deterministic"] = float(env.type_counts[0] / max(env.type_counts.sum(), 1))
    result["steps"] = int(env.type_counts.sum())
    result["seconds"] = round(time.perf_counter() - t0, 2)
    return result


def evaluate_editors(tasks, reward_config, params) -> dict:
    """Mean common reward of the retarget editor, of keeping everything and of the reference edit."""
    from editor_env.edl import EditList, Effects, Segment
    from editor_env.errors import MusicEditError
    from editor_env.retarget import RetargetConfig, retarget
    from editor_env.reward import Scorer

    sr = params.sample_rate
    out = {"retarget": [], "keep_everything": [], "reference": [], "retarget_failed": []}
    for task in tasks:
        scorer = Scorer(task.analysis, task.reference, reward_config, params)
        length = max(int(round(task.analysis.duration * sr)), 1)
        try:
            edl = retarget(
                task.analysis,
                sample_rate=sr,
                raw_length=length,
                config=RetargetConfig(target_ratio=reward_config.target_ratio),
            )
            out["retarget"].append(scorer.score(edl).total)
        except MusicEditError as exc:  # counted as 0: the editor gave no edit
            out["retarget"].append(0.0)
            out["retarget_failed"].append(f"{task.name}: {exc}")
        whole = EditList(sr, length, [Segment(0, length, Effects(), 0.0, float(task.analysis.beats.n_beats))])
        out["keep_everything"].append(scorer.score(whole).total)
        out["reference"].append(scorer.score(task.reference).total)
    return out


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--budget-minutes", type=float, default=None, help="wall-clock budget of the whole run (30)")
    p.add_argument("--train", type=int, default=None, help="training pairs (30)")
    p.add_argument("--held-out", type=int, default=None, help="held-out pairs (10)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", type=Path, default=None, help="output folder (bench_output/eval_rl)")
    p.add_argument("--bc-epochs", type=int, default=None, help="BC epochs (10)")
    p.add_argument(
        "--ppo-timesteps", type=int, default=None, help="fix PPO's total_timesteps (default: fit the budget)"
    )
    p.add_argument("--threads", type=int, default=1, help="torch threads (1)")
    p.add_argument(
        "--config", type=Path, default=REPO / "configs" / "ppo_bc.json", help="PPO config (configs/ppo_bc.json)"
    )
    p.add_argument(
        "--variants",
        default="up2,down2,eq",
        help="sound variants of the training recordings (imitation_data.variants) added to BC's demonstrations "
        "and PPO's episodes: comma-separated, '' for none (default up2,down2,eq)",
    )
    p.add_argument("--quick", action="store_true", help="2-minute smoke version")
    args = p.parse_args(argv)
    defaults = (
        dict(budget_minutes=2.0, train=6, held_out=2, bc_epochs=3, out=Path("bench_output/eval_rl_quick"))
        if args.quick
        else dict(budget_minutes=30.0, train=30, held_out=10, bc_epochs=10, out=Path("bench_output/eval_rl"))
    )
    for key, value in defaults.items():
        if getattr(args, key) is None:
            setattr(args, key, value)
    args.duration_range_s = (30.0, 35.0) if args.quick else (30.0, 60.0)
    return args


def main(argv=None) -> int:
    args = parse_args(argv)
    import torch as th

    th.set_num_threads(args.threads)

    from stable_baselines3.common.vec_env import DummyVecEnv, VecMonitor

    from editor_env.cache import precache
    from editor_env.params import DEFAULT_PARAMS
    from editor_env.synth import write_dataset
    from imitation_data.augment import augment
    from imitation_data.bc import pretrain_policy
    from imitation_data.cli import training_sets
    from imitation_data.transitions import build_dataset
    from imitation_data.variants import parse_variants, write_variants
    from policies.callbacks import ObservationStatsCallback, atomic_save
    from policies.ppo import load_demonstrations
    from policies.train import TrainConfig, build_model, make_env_fn

    clock = Clock(args.budget_minutes * 60.0)
    out = args.out
    out.mkdir(parents=True, exist_ok=True)
    data_dir, cache_dir = out / "training_data", out / "cache"
    config = TrainConfig.from_json(args.config)
    config.seed, config.device, config.save_dir = args.seed, "cpu", str(out / "ppo")
    n = args.train + args.held_out
    print(
        f"eval_rl: {args.train} training + {args.held_out} held-out synthetic pairs "
        f"({args.duration_range_s[0]:g}-{args.duration_range_s[1]:g} s), seed {args.seed}, CPU budget "
        f"{args.budget_minutes:g} min for all stages ({args.threads} torch thread(s), {os.cpu_count()} cores), "
        f"BC {args.bc_epochs} epochs, PPO config {args.config} (n_envs {config.n_envs}, "
        f"n_steps {config.n_steps}, bc_weight {config.bc_weight} {config.bc_weight_schedule})",
        flush=True,
    )

    # 1. data ---------------------------------------------------------------------------------------
    with clock.stage("1a. synthesise pairs"):
        names = write_dataset(data_dir, n, seed=args.seed, duration_range_s=args.duration_range_s, progress=False)
    with clock.stage("1b. precache"):
        result = precache(data_dir, cache_dir, workers=2, progress=False)
        if result.failed:
            raise SystemExit(f"precache failed: {result.failed}")
    train_names, held_names = names[: args.train], names[args.train :]
    variants = parse_variants(args.variants)
    if variants:
        with clock.stage("1b'. sound variants of the training recordings"):
            variant_names = write_variants(data_dir, train_names, variants)
            result = precache(data_dir, cache_dir, workers=2, progress=False)
            if result.failed:
                raise SystemExit(f"precache failed: {result.failed}")
            print(f"   {len(variant_names)} variants ({', '.join(variants)}) of {len(train_names)} recordings")
        train_names = train_names + variant_names
    with clock.stage("1c. BC data sets"):
        rich, _, train_tasks = build_dataset(data_dir, cache_dir, samples=train_names, progress=False)
        rich.save(out / "bc_rich.npz")
        aug, _, aug_report = augment(
            train_tasks, min_samples=50, existing_counts=rich.type_counts(), seed=args.seed, progress=False
        )
        paths = [out / "bc_rich.npz"]
        if aug is not None:
            aug.save(out / "bc_augmented.npz")
            paths.append(out / "bc_augmented.npz")
        train_set, _ = training_sets(paths, 0.0, args.seed)
        train_set.save(out / "bc_train.npz")
        held, _, held_tasks = build_dataset(data_dir, cache_dir, samples=held_names, progress=False)
        held.save(out / "bc_held_out.npz")
        assert not set(train_names) & set(held_names)
        print(
            f"   rich {len(rich)} steps ({rich.n_episodes} edits), augmented {0 if aug is None else len(aug)} steps "
            f"({aug_report.episodes} edits; still short: {aug_report.short}), held-out {len(held)} steps "
            f"({held.n_episodes} edits)"
        )
        type_share = rich.type_counts() / max(len(rich), 1)
        print(f"   KEEP share of the rich demonstrations: {type_share[0]:.3f}")

    # 2. BC ---------------------------------------------------------------------------------------------
    config.bc_mixed = str(out / "bc_train.npz")
    demos = load_demonstrations(config.bc_mixed)

    def venv_of(tasks):
        return VecMonitor(DummyVecEnv([make_env_fn(tasks, args.seed + i) for i in range(config.n_envs)]))

    with clock.stage("2. BC pretraining"):
        venv = venv_of(train_tasks)
        model = build_model(config, venv, demos, str(out / "tb"))
        bc_report = pretrain_policy(model, train_set, epochs=args.bc_epochs, seed=args.seed, val_data=held, verbose=1)
        atomic_save(model, out / "bc_policy.zip", paradigm="bc", config=dataclasses.asdict(config))
        acc = bc_report.val_accuracy
        print(
            f"   held-out accuracy: type {acc['type']:.3f}, size {acc['size']:.3f}, amount {acc['amount']:.3f}, "
            f"whole action {acc['action']:.3f} (train: type {bc_report.train_accuracy['type']:.3f})"
        )

    # 3. baselines on the held-out recordings -----------------------------------------------------------
    CountingEnv = counting_env_class()
    eval_env = CountingEnv(tasks=held_tasks)
    with clock.stage("3. held-out evaluation: BC, retarget, keep everything"):
        bc_eval = evaluate_policy(model, eval_env, len(held_tasks))
        editors = evaluate_editors(held_tasks, eval_env.reward_config, DEFAULT_PARAMS)
        print(f"   BC {bc_eval['common_reward']:.4f}, retarget {np.mean(editors['retarget']):.4f}")

    # 4. BC + PPO within the budget ---------------------------------------------------------------------
    reserve_s = 2.0 * bc_eval["seconds"] + 10.0  # the final evaluation and the report
    iteration_steps = config.n_steps * config.n_envs
    ppo = {"reserve_s": reserve_s}
    with clock.stage("4a. PPO calibration"):
        calib = build_model(config, venv_of(train_tasks), demos, None)
        t0 = time.perf_counter()
        calib.learn(iteration_steps, progress_bar=False)
        seconds_per_iteration = time.perf_counter() - t0
        calib.env.close()
        del calib
        ppo["seconds_per_iteration"] = round(seconds_per_iteration, 2)
        ppo["steps_per_s"] = round(iteration_steps / seconds_per_iteration, 1)
        print(f"   one iteration ({iteration_steps} steps + update): {seconds_per_iteration:.2f} s")
    available = clock.left() - reserve_s
    iterations = int(0.85 * available / seconds_per_iteration)
    total = args.ppo_timesteps or iterations * iteration_steps
    ppo.update(available_s=round(available, 1), total_timesteps=total)
    callback = make_callbacks(clock.deadline - reserve_s)
    with clock.stage("4b. BC + PPO"):
        if total >= iteration_steps and available > 0:
            print(f"   {available:.0f} s left for PPO: total_timesteps {total} ({total // iteration_steps} iterations)")
            t0 = time.perf_counter()
            model.learn(
                total,
                callback=[ObservationStatsCallback(initial=demos.obs), callback],
                tb_log_name=config.tb_log_name,
                progress_bar=False,
            )
            ppo["seconds"] = round(time.perf_counter() - t0, 1)
            atomic_save(model, out / "bc_ppo_policy.zip", paradigm="bc_ppo", config=dataclasses.asdict(config))
        else:
            print("   no time left for PPO: BC + PPO is BC alone")
        ppo.update(
            timesteps_done=int(model.num_timesteps),
            stopped_by_deadline=callback.stopped_by_deadline,
            keep_ratio_per_rollout=[round(k, 4) for k in callback.keep_ratios],
        )
    venv.close()

    # 5. BC + PPO on the held-out recordings, the report ----------------------------------------------
    with clock.stage("5. held-out evaluation: BC + PPO"):
        ppo_eval = evaluate_policy(model, eval_env, len(held_tasks))

    keeps = callback.keep_ratios
    keep_max = max(keeps) if keeps else float("nan")
    retarget_mean = float(np.mean(editors["retarget"]))
    checks = [
        ("BC held-out type accuracy >= 0.80", f"{acc['type']:.3f}", acc["type"] >= 0.80),
        (
            "BC + PPO held-out common reward > BC",
            f"{ppo_eval['common_reward']:.4f} vs {bc_eval['common_reward']:.4f}",
            ppo_eval["common_reward"] > bc_eval["common_reward"],
        ),
        (
            "BC + PPO held-out common reward > retarget",
            f"{ppo_eval['common_reward']:.4f} vs {retarget_mean:.4f}",
            ppo_eval["common_reward"] > retarget_mean,
        ),
        ("counters/n_keep_ratio < 0.90 (max over PPO rollouts)", f"{keep_max:.3f}", bool(keep_max < 0.90)),
    ]
    lines = [
        f"## eval_rl: {args.train} training / {args.held_out} held-out synthetic pairs, seed {args.seed}, "
        f"CPU budget {args.budget_minutes:g} min",
        "",
        "| figure | value |",
        "|---|---|",
        f"| BC held-out accuracy: type / size / amount / whole action | {acc['type']:.3f} / {acc['size']:.3f} / "
        f"{acc['amount']:.3f} / {acc['action']:.3f} (chance for type about 0.05) |",
        f"| BC demonstrations: train steps (rich + augmented) / held-out steps | {len(train_set)} ({len(rich)} + "
        f"{len(train_set) - len(rich)}) / {len(held)} |",
        f"| held-out common reward: BC alone | {bc_eval['common_reward']:.4f} (output ratio "
        f"{bc_eval['output_ratio']:.3f}, KEEP share {bc_eval['keep_ratio_deterministic']:.3f}) |",
        f"| held-out common reward: BC + PPO | {ppo_eval['common_reward']:.4f} (output ratio "
        f"{ppo_eval['output_ratio']:.3f}, KEEP share {ppo_eval['keep_ratio_deterministic']:.3f}) |",
        f"| held-out common reward: retarget editor | {retarget_mean:.4f} ({len(editors['retarget_failed'])} failed, "
        "scored 0) |",
        f"| held-out common reward: keep everything | {np.mean(editors['keep_everything']):.4f} |",
        f"| held-out common reward: the reference edit | {np.mean(editors['reference']):.4f} |",
        f"| PPO: steps done / planned, steps/s (calibration), stopped at deadline | {ppo['timesteps_done']} / "
        f"{ppo['total_timesteps']}, {ppo['steps_per_s']}, {ppo['stopped_by_deadline']} |",
        "| counters/n_keep_ratio over PPO rollouts: first / last / max | "
        + (f"{keeps[0]:.3f} / {keeps[-1]:.3f} / {keep_max:.3f} |" if keeps else "n/a |"),
        "| wall time per stage (s) | "
        + ", ".join(f"{k.split('.')[0]}{k[k.index('.') + 1 :]} {v}" for k, v in clock.stages.items())
        + " |",
        f"| total wall time | {clock.elapsed():.0f} s of {clock.budget_s:.0f} s |",
        "",
        "| check | figure | result |",
        "|---|---|---|",
        *(f"| {name} | {figure} | {'PASS' if ok else 'FAIL'} |" for name, figure, ok in checks),
    ]
    table = "\n".join(lines)
    print("\n" + table)
    (out / "eval_rl.md").write_text(table + "\n")
    report = {
        "args": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()},
        "config": dataclasses.asdict(config),
        "samples": {"train": train_names, "held_out": held_names},
        "bc": {
            "val_accuracy": acc,
            "train_accuracy": bc_report.train_accuracy,
            "train_loss": bc_report.train_loss,
            "val_loss": bc_report.val_loss,
            "seconds": bc_report.seconds,
            "n_train": bc_report.n_train,
            "n_val": bc_report.n_val,
            "aux_losses": bc_report.aux_losses,
        },
        "augment": aug_report.to_dict(),
        "eval": {"bc": bc_eval, "bc_ppo": ppo_eval, **{k: v for k, v in editors.items()}},
        "ppo": ppo,
        "checks": {name: {"figure": figure, "pass": bool(ok)} for name, figure, ok in checks},
        "stages_s": clock.stages,
        "total_s": round(clock.elapsed(), 1),
        "platform": {"python": platform.python_version(), "torch": th.__version__, "cpus": os.cpu_count()},
    }
    (out / "eval_rl.json").write_text(json.dumps(report, indent=2, default=float))
    print(f"\nWrote {out / 'eval_rl.md'} and {out / 'eval_rl.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Check of the PPO trainer's resume (issue 5): stopping and resuming gives the same step count and no
spike in the loss.

    python scripts/check_resume.py [--out bench_output/check_resume] [--seed 0]

Two runs of ``policies.train.train`` with the same config and seed on 6 generated pairs (BC-mixed on their
demonstrations, so ``train/bc_loss`` is logged too):

- **continuous**: ``total_timesteps`` steps in one go;
- **resumed**: the same run stopped at half of them by a callback (as Ctrl-C would: ``latest.pt`` is
  written at the stop); then ``--checkpoint latest.pt`` with the same config to the total.

It prints both runs' ``train/loss``, ``train/value_loss``, ``train/bc_loss`` and ``train/approx_kl`` per PPO
iteration around the resume point, and judges:

- the step counts agree (the resumed run ends at the continuous run's step, to within one rollout);
- **no spike**: for each loss, the change from the last iteration before the resume to the first one
  after it is no larger than the largest change between two consecutive iterations of the continuous
  run in the same stretch (the iterations around the resume). The resumed run's rollouts differ from the
  continuous run's after the resume (the envs restart their episodes), so the curves are not identical;
  a lost optimiser state or lost observation statistics would show as a jump far outside that range.
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")

import argparse
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

TAGS = ("train/loss", "train/value_loss", "train/bc_loss", "train/approx_kl")


def scalars(tb_dir: Path) -> dict[str, dict[int, float]]:
    """``{tag: {step: value}}`` of every TensorBoard event file under ``tb_dir`` (later files win)."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    out: dict[str, dict[int, float]] = {tag: {} for tag in TAGS}
    for events in sorted(tb_dir.rglob("events.out.tfevents*"), key=lambda p: p.stat().st_mtime):
        acc = EventAccumulator(str(events), size_guidance={"scalars": 0})
        acc.Reload()
        for tag in TAGS:
            if tag in acc.Tags()["scalars"]:
                out[tag].update({e.step: e.value for e in acc.Scalars(tag)})
    return out


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", type=Path, default=Path("bench_output/check_resume"))
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--total", type=int, default=6144, help="steps of the continuous run (6144)")
    args = p.parse_args(argv)

    import torch as th

    th.set_num_threads(1)
    from editor_env.synth import write_dataset
    from imitation_data.transitions import build_dataset
    from policies.train import TrainConfig, train

    out = args.out
    data_dir, cache_dir = out / "training_data", out / "cache"
    write_dataset(data_dir, 6, seed=args.seed, duration_range_s=(20.0, 30.0), progress=False)
    demos, _, _ = build_dataset(data_dir, cache_dir, progress=False)
    demos.save(out / "bc_rich.npz")

    def config(save: str, total: int) -> TrainConfig:
        c = TrainConfig.from_json(REPO / "configs" / "ppo_bc.json")
        c.data_dir, c.cache_dir, c.save_dir = str(data_dir), str(cache_dir), str(out / save)
        c.total_timesteps, c.n_envs, c.n_steps, c.batch_size, c.n_epochs = total, 1, 256, 64, 2
        c.eval_freq, c.n_eval_episodes, c.seed, c.device = 10**9, 1, args.seed, "cpu"
        c.bc_mixed = str(out / "bc_rich.npz")
        return c

    from stable_baselines3.common.callbacks import BaseCallback

    class StopAt(BaseCallback):
        def __init__(self, step: int) -> None:
            super().__init__()
            self.step = step

        def _on_step(self) -> bool:
            return self.num_timesteps < self.step

    half = args.total // 2
    print(f"continuous run: {args.total} steps", flush=True)
    continuous = train(config("continuous", args.total), progress=False)
    print(f"resumed run: the same, stopped at step {half}, resumed from latest.pt to {args.total}", flush=True)
    first = train(config("resumed", args.total), progress=False, callbacks=[StopAt(half)])
    stopped_at = first.num_timesteps
    resumed = train(config("resumed", args.total), checkpoint=str(out / "resumed" / "latest.pt"), progress=False)

    a, b = scalars(out / "continuous" / "tb"), scalars(out / "resumed" / "tb")
    rollout = 256
    steps = sorted(s for s in a["train/loss"] if abs(s - stopped_at) <= 4 * rollout)
    print(f"\nresume at step {stopped_at}; iterations around it (continuous | resumed):\n")
    print("| step | " + " | ".join(f"{t} (cont. / resumed)" for t in TAGS) + " |")
    print("|---|" + "---|" * len(TAGS))
    for s in steps:
        cells = [f"{a[t].get(s, float('nan')):.4f} / {b[t].get(s, float('nan')):.4f}" for t in TAGS]
        print(f"| {s}{' (resume)' if s == stopped_at + rollout else ''} | " + " | ".join(cells) + " |")

    checks = [
        (
            "step counts agree",
            f"continuous {continuous.num_timesteps}, resumed {resumed.num_timesteps} (stopped at {stopped_at})",
            abs(continuous.num_timesteps - resumed.num_timesteps) < rollout,
        )
    ]
    # SB3 writes an update's losses at the next rollout's log call, so the last update before a stop
    # is never logged: the resumed run's log skips one iteration; compare over the same gap.
    for tag in TAGS:
        logged = sorted(b[tag])
        before = max((s for s in logged if s <= stopped_at), default=None)
        after = min((s for s in logged if s > stopped_at), default=None)
        if before is None or after is None:
            checks.append((f"no spike in {tag}", "not logged around the resume", False))
            continue
        jump = abs(b[tag][after] - b[tag][before])
        gap = after - before
        window = [s for s in steps if s in a[tag] and s + gap in a[tag]]
        normal = max((abs(a[tag][s + gap] - a[tag][s]) for s in window), default=float("inf"))
        checks.append(
            (
                f"no spike in {tag}",
                f"change at the resume {jump:.4f} vs largest continuous change {normal:.4f}",
                jump <= normal,
            )
        )
    print("\n| check | figure | result |\n|---|---|---|")
    for name, figure, ok in checks:
        print(f"| {name} | {figure} | {'PASS' if ok else 'FAIL'} |")
    return 0 if all(ok for _, _, ok in checks) else 1


if __name__ == "__main__":
    raise SystemExit(main())

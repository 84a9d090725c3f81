"""Benchmark: MusicEdit-v0 steps per second and the time of the episode-end reward.

    python scripts/bench_env.py [--steps 20000] [--minutes 10]

Rows: one env stepping with masked random actions (the step alone, and step + action_masks as
MaskablePPO calls them); SubprocVecEnv with 2 envs; the common reward at an episode's end for a
1-minute and a ``--minutes`` recording. Prints a Markdown table for the README.
"""

from __future__ import annotations

import argparse
import os
import time

os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np


def make_tasks(durations: list[float], seed: int = 0):
    from editor_env.audio import analysis_signal
    from editor_env.features import analyze_signal
    from editor_env.synth import generate_pair
    from editor_env.tasks import EditingTask

    tasks = []
    for i, seconds in enumerate(durations):
        pair = generate_pair(seed + i, duration_range_s=(seconds, seconds))
        tasks.append(EditingTask(f"bench_{i}", analyze_signal(analysis_signal(pair.raw)), pair.pointers))
    return tasks


def random_actions(rng: np.random.Generator, n: int) -> np.ndarray:
    return np.stack([rng.integers(0, 20, n), rng.integers(0, 5, n), rng.integers(0, 5, n)], axis=1)


def bench_single(tasks, steps: int, with_masks: bool) -> tuple[float, float]:
    """(steps per second, share of time in episode-end scoring)."""
    from editor_env.env import MusicEditEnv

    env = MusicEditEnv(tasks=tasks)
    rng = np.random.default_rng(0)
    actions = random_actions(rng, steps)
    env.reset(seed=0)
    start = time.perf_counter()
    for action in actions:
        if with_masks:
            mask = env.action_masks()
            action = action.copy()
            action[0] = action[0] if mask[action[0]] else np.flatnonzero(mask[:20])[0]
            action[1] = action[1] if mask[20 + action[1]] else np.flatnonzero(mask[20:25])[0]
        _, _, terminated, truncated, _ = env.step(action)
        if terminated or truncated:
            env.reset()
    return steps / (time.perf_counter() - start)


def make_env(tasks):
    def thunk():
        from editor_env.env import MusicEditEnv

        return MusicEditEnv(tasks=tasks)

    return thunk


def bench_subproc(tasks, steps: int, n_envs: int = 2) -> float:
    from stable_baselines3.common.vec_env import SubprocVecEnv

    vec = SubprocVecEnv([make_env(tasks) for _ in range(n_envs)])
    vec.seed(0)
    vec.reset()
    rng = np.random.default_rng(0)
    n_calls = steps // n_envs
    start = time.perf_counter()
    for _ in range(n_calls):
        vec.step(random_actions(rng, n_envs))
    elapsed = time.perf_counter() - start
    vec.close()
    return n_calls * n_envs / elapsed


def bench_reward(task, repeats: int = 20) -> tuple[float, float]:
    """Milliseconds for the common reward of the reference edit of ``task``: a cold
    ``score()`` call, and ``Scorer.score`` with the recording prepared once (as the env does)."""
    from editor_env.edl import EditList
    from editor_env.reward import Scorer, score

    pointers = task.reference
    edl = EditList.from_pointers(pointers, sample_rate=22050, raw_length=int(task.analysis.duration * 22050))
    score(task.analysis, edl, reference=pointers)  # imports
    start = time.perf_counter()
    for _ in range(repeats):
        score(task.analysis, edl, reference=pointers)
    cold = (time.perf_counter() - start) / repeats * 1000
    scorer = Scorer(task.analysis, pointers)
    start = time.perf_counter()
    for _ in range(repeats):
        scorer.score(edl)
    return cold, (time.perf_counter() - start) / repeats * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=20_000)
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--repeats", type=int, default=3, help="best of this many runs per row (default 3)")
    args = parser.parse_args()

    print("Generating recordings …", flush=True)
    tasks = make_tasks([60.0, 60.0, 60.0])
    long_task = make_tasks([args.minutes * 60.0], seed=100)[0]
    print(
        f"\nMusicEdit-v0 on 1-minute synthetic jams ({tasks[0].analysis.beats.n_beats} beats), {args.steps} steps, best of {args.repeats}\n"
    )
    print("| what | figure |")
    print("|---|---|")
    best = lambda run: max(run() for _ in range(args.repeats))  # noqa: E731  (best of N: the machine is shared)
    print(f"| 1 env, step only | {best(lambda: bench_single(tasks, args.steps, False)):,.0f} steps/s |", flush=True)
    print(
        f"| 1 env, action_masks + step | {best(lambda: bench_single(tasks, args.steps, True)):,.0f} steps/s |",
        flush=True,
    )
    print(f"| SubprocVecEnv, 2 envs | {best(lambda: bench_subproc(tasks, args.steps)):,.0f} steps/s |", flush=True)
    for label, task, repeats in (("1-minute", tasks[0], 20), (f"{args.minutes:g}-minute", long_task, 5)):
        cold, prepared = bench_reward(task, repeats)
        beats = task.analysis.beats.n_beats
        print(f"| episode-end reward, {label} recording ({beats} beats), cold `score()` | {cold:.1f} ms |")
        print(f"| episode-end reward, {label} recording, prepared `Scorer` (as in the env) | {prepared:.1f} ms |")


if __name__ == "__main__":
    main()

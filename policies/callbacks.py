"""Training callbacks: running observation statistics kept in the model, atomic checkpoints,
and evaluation on held-out recordings with the common reward."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
from stable_baselines3.common.callbacks import BaseCallback

from editor_env.io import atomic_path
from editor_env.state import ObservationNormalizer


def atomic_save(
    model, path: str | os.PathLike, *, paradigm: str = "bc_ppo", config: dict | None = None, state: dict | None = None
) -> Path:
    """``model.save`` to a temporary file beside ``path``, then rename: never a half-written checkpoint.

    The archive also carries ``musicedit.json`` (:func:`editor_env.checkpoints.write_agent_header`): its
    ``paradigm`` (``bc_ppo`` for PPO training, ``bc`` for BC alone), format version, ``config`` and ``state``
    (what a resumed run needs beside the weights: ``best_common_reward``)."""
    from editor_env.checkpoints import write_agent_header

    with atomic_path(path) as tmp:
        model.save(tmp)
        write_agent_header(tmp, paradigm, config, state)
    return Path(path)


def _extractors(policy) -> list:
    """The policy's feature extractors that keep observation statistics (one, or pi and vf)."""
    found = [m for m in policy.modules() if hasattr(m, "set_observation_stats")]
    return list({id(m): m for m in found}.values())


class ObservationStatsCallback(BaseCallback):
    """Accumulates running mean/variance of the rollouts' observations and writes them into the
    feature extractor's buffers after every rollout, so they are saved with the weights.

    :param initial: observations to start the statistics with (e.g. the BC demonstrations).
    """

    def __init__(self, initial: np.ndarray | None = None, verbose: int = 0) -> None:
        super().__init__(verbose)
        self.initial = initial
        self.normalizer: ObservationNormalizer | None = None

    def _on_training_start(self) -> None:
        size = int(np.prod(self.model.observation_space.shape))
        self.normalizer = ObservationNormalizer(size)
        extractor = _extractors(self.model.policy)
        saved = extractor[0] if extractor else None
        if saved is not None and float(saved.obs_count) > 0:  # resumed: continue from the saved stats
            self.normalizer.load_state_dict(
                {
                    "mean": saved.obs_mean.cpu().numpy(),
                    "var": saved.obs_var.cpu().numpy(),
                    "count": float(saved.obs_count),
                    "clip": saved.obs_clip,
                }
            )
        elif self.initial is not None and len(self.initial):
            self.normalizer.update(self.initial)
            self._publish()

    def _publish(self) -> None:
        stats = self.normalizer.stats
        for extractor in _extractors(self.model.policy):
            extractor.set_observation_stats(stats.mean, stats.var, stats.count)

    def _on_rollout_end(self) -> None:
        obs = self.model.rollout_buffer.observations
        self.normalizer.update(obs.reshape(-1, obs.shape[-1]))
        self._publish()

    def _on_step(self) -> bool:
        return True


class CheckpointAndEvalCallback(BaseCallback):
    """Every ``eval_freq`` steps: evaluate deterministically (with masks) on held-out tasks,
    log ``eval/common_reward`` and ``eval/episode_reward``, write ``latest.pt`` and, when the
    common reward improves, ``best.pt`` (both atomically, best.pt first) into ``save_dir``.

    :param config: the training config, recorded in each checkpoint (:func:`atomic_save`).
    :param best: the best common reward so far (a resumed run's, from its checkpoint), so ``best.pt`` is replaced
        only by a better model.
    """

    def __init__(
        self,
        eval_env,
        save_dir: str | os.PathLike,
        eval_freq: int,
        n_eval_episodes: int,
        verbose: int = 0,
        *,
        config: dict | None = None,
        best: float | None = None,
    ) -> None:
        super().__init__(verbose)
        self.eval_env = eval_env
        self.save_dir = Path(save_dir)
        self.eval_freq = max(int(eval_freq), 1)
        self.n_eval_episodes = n_eval_episodes
        self.config = config
        self.best = -np.inf if best is None else float(best)
        self._last = 0

    def _on_step(self) -> bool:
        if self.num_timesteps - self._last >= self.eval_freq:
            self._last = self.num_timesteps
            self.evaluate_and_save()
        return True

    def _on_training_end(self) -> None:
        self.evaluate_and_save()

    def evaluate_and_save(self) -> float:
        common = evaluate_common_reward(self.model, self.eval_env, self.n_eval_episodes)
        self.logger.record("eval/common_reward", common["common_reward"])
        self.logger.record("eval/episode_reward", common["episode_reward"])
        self.logger.record("eval/output_ratio", common["output_ratio"])
        state = {"best_common_reward": max(self.best, common["common_reward"])}
        if common["common_reward"] > self.best:  # best.pt first: a latest.pt that records this best implies best.pt
            self.best = common["common_reward"]
            atomic_save(self.model, self.save_dir / "best.pt", config=self.config, state=state)
        atomic_save(self.model, self.save_dir / "latest.pt", config=self.config, state=state)
        return common["common_reward"]


def evaluate_common_reward(model, env, n_episodes: int) -> dict[str, float]:
    """Mean common reward, episode reward and output ratio of deterministic masked episodes.

    ``env`` is a plain MusicEditEnv (not vectorised); its tasks are visited in turn.
    """
    totals, rewards, ratios = [], [], []
    for episode in range(n_episodes):
        task = env.tasks[episode % len(env.tasks)]
        obs, _ = env.reset(seed=episode, options={"task": task})
        done, episode_reward = False, 0.0
        while not done:
            action, _ = model.predict(obs, action_masks=env.action_masks(), deterministic=True)
            obs, reward, terminated, truncated, info = env.step(action)
            episode_reward += reward
            done = terminated or truncated
        totals.append(info["reward_total"])
        rewards.append(episode_reward)
        ratios.append(info["output_ratio"])
    return {
        "common_reward": float(np.mean(totals)),
        "episode_reward": float(np.mean(rewards)),
        "output_ratio": float(np.mean(ratios)),
    }

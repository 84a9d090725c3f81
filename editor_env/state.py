"""The observation of MusicEdit-v0: the beat context around the cursor plus global edit state.

With the defaults it is a flat ``float32`` vector of 867 values: the 121 features of the 7
beats centred on the cursor (3 before, the cursor's, 3 after; zeros past either end), then
the 20 global values of :data:`GLOBAL_NAMES`. A flat Box is what both SB3 policies and
``imitation``'s BC consume directly; :func:`split_observation` recovers the two parts (the
NATTEN extractor uses it).

Features are clipped to ``[-OBS_CLIP, OBS_CLIP]`` so observations lie in the declared space.
The env returns raw (unnormalised) observations, comparable across runs; the trainer keeps
running statistics in an :class:`ObservationNormalizer` and saves them with the model.
"""

from __future__ import annotations

import numpy as np

from editor_env.features import N_BEAT_FEATURES

CONTEXT_BEATS = 3
"""Beats of context on each side of the cursor."""
OBS_CLIP = 10.0
RECENT_ACTIONS = 4

GLOBAL_NAMES: tuple[str, ...] = (
    "cursor_fraction",  # cursor / n_beats
    "output_fraction",  # output beats / n_beats
    "target_progress",  # output beats / (target_ratio * n_beats)
    "remaining_fraction",  # 1 - cursor / n_beats
    "target_ratio",  # the requested output/raw length ratio
    "keep_rate",  # output beats / beats passed so far
    "beats_since_seam",  # / 16, clipped to 1
    "n_seams",  # / 32, clipped to 1
    *(f"recent_type_{i}" for i in range(RECENT_ACTIONS)),  # (type + 1) / 20, 0 = none yet
    "last_size",  # size index / 4
    "step_fraction",  # step / max_steps
    "room_fraction",  # output beats still free (budget - output - open keep-locked) / n_beats
    "locked_here",  # +1 the cursor's beat is keep-locked, -1 cut-locked, 0 free
    "next_keep_lock",  # beats from the cursor to the next open keep-locked beat / 32, clipped to 1 (1 = none)
    "next_cut_lock",  # beats from the cursor to the next cut-locked beat / 32, clipped to 1 (1 = none)
    "open_keep_fraction",  # keep-locked beats not yet in the output / n_beats
    "cut_ahead_fraction",  # cut-locked beats at or after the cursor / n_beats
)
N_GLOBAL = len(GLOBAL_NAMES)


def observation_size(context_beats: int = CONTEXT_BEATS) -> int:
    return (2 * context_beats + 1) * N_BEAT_FEATURES + N_GLOBAL


OBS_DIM = observation_size()
assert OBS_DIM == 867, OBS_DIM


class ObservationBuilder:
    """Builds observations for one recording cheaply (a slice of a padded feature matrix).

    :param features: ``(n_beats, 121)`` beat features of the raw recording.
    :param context_beats: beats of context on each side of the cursor.
    """

    def __init__(self, features: np.ndarray, context_beats: int = CONTEXT_BEATS) -> None:
        self.context = context_beats
        n_beats, dim = features.shape
        self.padded = np.zeros((n_beats + 2 * context_beats + 1, dim), np.float32)
        self.padded[context_beats : context_beats + n_beats] = np.clip(features, -OBS_CLIP, OBS_CLIP)
        self.size = observation_size(context_beats)

    def observe(self, cursor: int, global_state: np.ndarray) -> np.ndarray:
        """``(obs_dim,)`` float32: the context window at ``cursor`` and the globals."""
        cursor = min(max(cursor, 0), self.padded.shape[0] - 2 * self.context - 1)
        window = self.padded[cursor : cursor + 2 * self.context + 1]
        out = np.empty(self.size, np.float32)
        out[: window.size] = window.ravel()
        out[window.size :] = global_state
        return out


def split_observation(obs, context_beats: int = CONTEXT_BEATS):
    """``(..., obs_dim)`` -> context ``(..., 2c+1, 121)`` and globals ``(..., 20)``.

    Works for numpy arrays and torch tensors alike.
    """
    n_context = (2 * context_beats + 1) * N_BEAT_FEATURES
    context = obs[..., :n_context].reshape(*obs.shape[:-1], 2 * context_beats + 1, N_BEAT_FEATURES)
    return context, obs[..., n_context:]


class ObservationNormalizer:
    """Running mean and variance of observations, saved with a model.

    Built on SB3's ``RunningMeanStd`` (the statistics ``VecNormalize`` keeps). Unlike
    ``VecNormalize``, whose statistics are pickled with the vectorised env, its state is a
    plain dict of arrays (:meth:`state_dict`) that a checkpoint stores beside the weights, so a
    trained agent normalises exactly as in training when it edits a file.

    :param size: observation length (867 by default).
    :param clip: normalised values are clipped to ``[-clip, clip]``.
    """

    def __init__(self, size: int = OBS_DIM, *, clip: float = 10.0, epsilon: float = 1e-8) -> None:
        from stable_baselines3.common.running_mean_std import RunningMeanStd

        self.stats = RunningMeanStd(shape=(size,))
        self.clip = clip
        self.epsilon = epsilon

    def update(self, obs: np.ndarray) -> None:
        """Add a batch ``(n, size)`` (or one ``(size,)``) of raw observations to the statistics."""
        self.stats.update(np.atleast_2d(np.asarray(obs, np.float64)))

    def normalize(self, obs: np.ndarray) -> np.ndarray:
        """``(obs - mean) / sqrt(var + eps)``, clipped, float32; any leading shape."""
        scaled = (np.asarray(obs) - self.stats.mean) / np.sqrt(self.stats.var + self.epsilon)
        return np.clip(scaled, -self.clip, self.clip).astype(np.float32)

    def state_dict(self) -> dict[str, np.ndarray | float]:
        return {
            "mean": self.stats.mean.copy(),
            "var": self.stats.var.copy(),
            "count": float(self.stats.count),
            "clip": self.clip,
        }

    def load_state_dict(self, state: dict) -> None:
        """Restore saved statistics; a size that differs is refused with what differs."""
        from editor_env.errors import MusicEditError

        mean = np.asarray(state["mean"], np.float64)
        if mean.shape != self.stats.mean.shape:
            raise MusicEditError(
                f"Saved observation statistics have size {mean.shape[0]}, this env's observations "
                f"{self.stats.mean.shape[0]}: the model was trained with another observation layout."
            )
        self.stats.mean, self.stats.var = mean, np.asarray(state["var"], np.float64)
        self.stats.count, self.clip = float(state["count"]), float(state["clip"])

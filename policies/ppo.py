"""MaskablePPO with a behavioural-cloning loss mixed into every update.

The factored 3-head action space (500 combinations) makes pure RL exploration inefficient;
demonstrations (the BC labels of human edits, :mod:`imitation_data`) keep supervising rare action
types during PPO (seed notes, "BC Mixed Training"). Each minibatch update adds
``bc_weight * NLL(demo actions | demo obs, demo masks)`` to sb3-contrib's loss; ``bc_weight`` may
be a schedule of the progress remaining (1 -> 0), e.g. a linear decay. With ``bc_weight=0`` the
update is exactly MaskablePPO's.

A policy with auxiliary heads (:class:`~policies.policy.MusicEditPolicy` with ``aux_weights``,
:mod:`policies.auxiliary`) adds their weighted losses on each minibatch's observations, logged as
``train/aux_<task>_loss``; the targets come from the observations in the rollout buffer.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import numpy as np
import torch as th
from gymnasium import spaces
from sb3_contrib import MaskablePPO
from stable_baselines3.common.utils import explained_variance
from torch.nn import functional as F

from editor_env.actions import ActionType
from policies.errors import PolicyConfigError


@dataclasses.dataclass
class Demonstrations:
    """Demonstration steps for the BC loss.

    :param obs: ``(n, obs_dim)`` float32 observations.
    :param acts: ``(n, 3)`` int64 actions (type, size, amount).
    :param masks: ``(n, 30)`` bool action masks at each step; every action must be allowed by its
        mask (a forbidden one has log-probability about -1e8 under the masked policy).
    """

    obs: np.ndarray
    acts: np.ndarray
    masks: np.ndarray

    def __post_init__(self) -> None:
        n = len(self.obs)
        if self.acts.shape != (n, 3) or self.masks.shape != (n, 30):
            raise PolicyConfigError(
                f"Demonstrations need obs (n, d), acts (n, 3) and masks (n, 30); got {self.obs.shape}, "
                f"{self.acts.shape}, {self.masks.shape}."
            )
        offsets = np.array([0, 20, 25])
        allowed = np.take_along_axis(self.masks, self.acts + offsets, axis=1).all(axis=1)
        if not allowed.all():
            bad = np.flatnonzero(~allowed)[:5].tolist()
            raise PolicyConfigError(
                f"{(~allowed).sum()} demonstration action(s) are forbidden by their own masks (steps {bad} …): "
                "rebuild the BC data set; a forbidden action would dominate the BC loss."
            )


Schedule = Callable[[float], float]


class BCMaskablePPO(MaskablePPO):
    """MaskablePPO whose update adds a BC loss on demonstrations.

    :param demonstrations: the demonstration steps (kept out of saved models).
    :param bc_weight: weight of the BC loss, a constant or a function of the progress remaining
        (1 at the start of ``learn``, 0 at the end).
    :param bc_batch_size: demonstration steps per minibatch update (default: ``batch_size``).
    Other parameters are MaskablePPO's.
    """

    def __init__(
        self,
        *args,
        demonstrations: Demonstrations | None = None,
        bc_weight: float | Schedule = 0.0,
        bc_batch_size: int | None = None,
        **kwargs,
    ) -> None:
        self.demonstrations = demonstrations
        self.bc_weight = bc_weight
        self.bc_batch_size = bc_batch_size
        super().__init__(*args, **kwargs)

    def _setup_learn(self, *args, **kwargs):
        """MaskablePPO's, but without TensorBoard it logs in memory (and to stdout when verbose) instead of
        letting SB3 create an empty ``/tmp/SB3-<date>`` folder on every ``learn``."""
        if self.tensorboard_log is None and not self._custom_logger:
            from stable_baselines3.common.logger import Logger, make_output_format

            self.set_logger(Logger(None, [make_output_format("stdout", "")] if self.verbose >= 1 else []))
        return super()._setup_learn(*args, **kwargs)

    def _excluded_save_params(self) -> list[str]:
        # demonstrations can be large and belong to the data set, not the model
        return [*super()._excluded_save_params(), "demonstrations"]

    def current_bc_weight(self) -> float:
        weight = self.bc_weight(self._current_progress_remaining) if callable(self.bc_weight) else self.bc_weight
        return float(weight) if self.demonstrations is not None else 0.0

    def _bc_loss(self) -> tuple[th.Tensor, th.Tensor]:
        """NLL and per-head entropy of a random batch of demonstrations under the current policy."""
        demos = self.demonstrations
        size = self.bc_batch_size or self.batch_size
        idx = th.randint(len(demos.obs), (size,)).numpy()
        obs = th.as_tensor(demos.obs[idx], device=self.device)
        acts = th.as_tensor(demos.acts[idx], device=self.device)
        masks = th.as_tensor(demos.masks[idx], device=self.device)
        _, log_prob, entropy = self.policy.evaluate_actions(obs, acts, action_masks=masks)
        return -log_prob.mean(), entropy.mean()

    def train(self) -> None:
        """sb3-contrib's ``MaskablePPO.train`` with the BC loss (marked "BC-mixed") and the auxiliary losses added."""
        self.policy.set_training_mode(True)
        self._update_learning_rate(self.policy.optimizer)
        clip_range = self.clip_range(self._current_progress_remaining)
        if self.clip_range_vf is not None:
            clip_range_vf = self.clip_range_vf(self._current_progress_remaining)

        entropy_losses = []
        pg_losses, value_losses = [], []
        clip_fractions = []
        bc_losses, bc_entropies = [], []  # BC-mixed
        bc_weight = self.current_bc_weight()  # BC-mixed
        aux_heads = getattr(self.policy, "aux_heads", None)  # auxiliary tasks
        aux_losses: dict[str, list[float]] = {}

        continue_training = True
        for epoch in range(self.n_epochs):
            approx_kl_divs = []
            for rollout_data in self.rollout_buffer.get(self.batch_size):
                actions = rollout_data.actions
                if isinstance(self.action_space, spaces.Discrete):
                    actions = rollout_data.actions.long().flatten()

                if aux_heads is None:
                    values, log_prob, entropy = self.policy.evaluate_actions(
                        rollout_data.observations,
                        actions,
                        action_masks=rollout_data.action_masks,
                    )
                else:  # auxiliary tasks: their losses from the same pass of the extractor
                    values, log_prob, entropy, aux_total, aux_parts = self.policy.evaluate_actions_and_aux(
                        rollout_data.observations, actions, action_masks=rollout_data.action_masks
                    )
                values = values.flatten()
                advantages = rollout_data.advantages
                if self.normalize_advantage:
                    advantages = (advantages - advantages.mean()) / (advantages.std() + 1e-8)
                ratio = th.exp(log_prob - rollout_data.old_log_prob)
                policy_loss_1 = advantages * ratio
                policy_loss_2 = advantages * th.clamp(ratio, 1 - clip_range, 1 + clip_range)
                policy_loss = -th.min(policy_loss_1, policy_loss_2).mean()
                pg_losses.append(policy_loss.item())
                clip_fractions.append(th.mean((th.abs(ratio - 1) > clip_range).float()).item())
                if self.clip_range_vf is None:
                    values_pred = values
                else:
                    values_pred = rollout_data.old_values + th.clamp(
                        values - rollout_data.old_values, -clip_range_vf, clip_range_vf
                    )
                value_loss = F.mse_loss(rollout_data.returns, values_pred)
                value_losses.append(value_loss.item())
                entropy_loss = -th.mean(-log_prob) if entropy is None else -th.mean(entropy)
                entropy_losses.append(entropy_loss.item())

                loss = policy_loss + self.ent_coef * entropy_loss + self.vf_coef * value_loss

                # BC-mixed: the demonstrations' negative log-likelihood joins the loss
                if bc_weight > 0:
                    bc_loss, bc_entropy = self._bc_loss()
                    loss = loss + bc_weight * bc_loss
                    bc_losses.append(bc_loss.item())
                    bc_entropies.append(bc_entropy.item())

                # Auxiliary tasks: the heads' weighted losses on this minibatch's observations
                if aux_heads is not None:
                    loss = loss + aux_total
                    for name, part in aux_parts.items():
                        aux_losses.setdefault(name, []).append(part.item())

                with th.no_grad():
                    log_ratio = log_prob - rollout_data.old_log_prob
                    approx_kl_div = th.mean((th.exp(log_ratio) - 1) - log_ratio).cpu().numpy()
                    approx_kl_divs.append(approx_kl_div)
                if self.target_kl is not None and approx_kl_div > 1.5 * self.target_kl:
                    continue_training = False
                    if self.verbose >= 1:
                        print(f"Early stopping at step {epoch} due to reaching max kl: {approx_kl_div:.2f}")
                    break

                self.policy.optimizer.zero_grad()
                loss.backward()
                th.nn.utils.clip_grad_norm_(self.policy.parameters(), self.max_grad_norm)
                self.policy.optimizer.step()

            self._n_updates += 1
            if not continue_training:
                break
        explained_var = explained_variance(self.rollout_buffer.values.flatten(), self.rollout_buffer.returns.flatten())

        self.logger.record("train/entropy_loss", np.mean(entropy_losses))
        self.logger.record("train/policy_gradient_loss", np.mean(pg_losses))
        self.logger.record("train/value_loss", np.mean(value_losses))
        self.logger.record("train/approx_kl", np.mean(approx_kl_divs))
        self.logger.record("train/clip_fraction", np.mean(clip_fractions))
        self.logger.record("train/loss", loss.item())
        self.logger.record("train/explained_variance", explained_var)
        self.logger.record("train/n_updates", self._n_updates, exclude="tensorboard")
        self.logger.record("train/clip_range", clip_range)
        if self.clip_range_vf is not None:
            self.logger.record("train/clip_range_vf", clip_range_vf)
        # BC-mixed: DESIGN.md's signals (entropy is per head: the policy divides by 3)
        self.logger.record("train/entropy", -np.mean(entropy_losses))
        self.logger.record("train/bc_weight", bc_weight)
        if bc_losses:
            self.logger.record("train/bc_loss", np.mean(bc_losses))
            self.logger.record("train/bc_entropy", np.mean(bc_entropies))
        for name, values in aux_losses.items():
            self.logger.record(f"train/aux_{name}_loss", np.mean(values))
        types = self.rollout_buffer.actions[..., 0]
        self.logger.record("counters/n_keep_ratio", float(np.mean(types == ActionType.KEEP)))


def load_demonstrations(path: str) -> Demonstrations:
    """Demonstrations from a BC data set npz (``musicedit bc-dataset``): its ``obs``, ``acts`` and ``masks``."""
    from pathlib import Path

    path = Path(path)
    try:
        with np.load(path, allow_pickle=False) as data:
            return Demonstrations(
                data["obs"].astype(np.float32), data["acts"].astype(np.int64), data["masks"].astype(bool)
            )
    except (OSError, KeyError, ValueError) as exc:
        raise PolicyConfigError(
            f"Cannot read BC data set {path} ({exc}); build it with `musicedit bc-dataset`."
        ) from exc

"""The 3-head maskable actor-critic policy of MusicEdit-v0, with the NATTEN extractor.

SB3 sums the entropies of the three heads of ``MultiDiscrete([20, 5, 5])``: the maximum,
ln 20 + ln 5 + ln 5 ≈ 6.2 nats, swamps the reward signal (seed notes). The policy reports the
mean over heads instead (the sum divided by 3), so ``ent_coef`` and the logged
``train/entropy`` read per head (at most ln 20 ≈ 3.0).
"""

from __future__ import annotations

from typing import Any

import torch as th
from sb3_contrib.common.maskable.policies import MaskableActorCriticPolicy

from policies.extractor import NATTENFeaturesExtractor


class MusicEditPolicy(MaskableActorCriticPolicy):
    """``MaskableActorCriticPolicy`` with :class:`NATTENFeaturesExtractor` by default and the
    entropy of :meth:`evaluate_actions` divided by the number of action heads."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("features_extractor_class", NATTENFeaturesExtractor)
        kwargs.setdefault("net_arch", {"pi": [64], "vf": [64]})
        super().__init__(*args, **kwargs)
        self.n_heads = len(self.action_space.nvec)

    def evaluate_actions(
        self, obs: th.Tensor, actions: th.Tensor, action_masks: th.Tensor | None = None
    ) -> tuple[th.Tensor, th.Tensor, th.Tensor | None]:
        values, log_prob, entropy = super().evaluate_actions(obs, actions, action_masks)
        # Changed from MaskableActorCriticPolicy: the mean entropy per head, not the sum
        return values, log_prob, None if entropy is None else entropy / self.n_heads

    def head_entropies(self, obs: th.Tensor, action_masks: th.Tensor | None = None) -> th.Tensor:
        """``[batch, 3]`` entropy of each head (type, size, amount), after masking."""
        distribution = self.get_distribution(obs, action_masks)
        return th.stack([d.entropy() for d in distribution.distributions], dim=1)

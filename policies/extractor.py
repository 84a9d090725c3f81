"""The NATTEN feature extractor (HybridNATTENEncoder) for Stable-Baselines3 policies.

The observation of MusicEdit-v0 is split into its beat context ``(2c+1, 121)`` and its global
state ``(N_GLOBAL,)`` (:func:`editor_env.state.split_observation`). The beats are projected to tokens
with a learned position embedding, mixed by neighborhood-attention blocks (pre-norm attention and
MLP, residual), pooled (the cursor's token and the mean of all tokens) and fused with an
embedding of the global state.
"""

from __future__ import annotations

import gymnasium as gym
import torch as th
from stable_baselines3.common.torch_layers import BaseFeaturesExtractor
from torch import nn

from editor_env.features import N_BEAT_FEATURES
from editor_env.state import N_GLOBAL, observation_size, split_observation
from policies.attention import NeighborhoodAttention1D, check_config
from policies.errors import PolicyConfigError


class NABlock(nn.Module):
    """Pre-norm neighborhood-attention block: ``x + NA(LN(x))`` then ``x + MLP(LN(x))``."""

    def __init__(
        self,
        dim: int,
        num_heads: int,
        kernel_size: int,
        dilation: int = 1,
        mlp_ratio: float = 2.0,
        backend: str = "auto",
    ) -> None:
        super().__init__()
        self.norm1 = nn.LayerNorm(dim)
        self.attn = NeighborhoodAttention1D(dim, num_heads, kernel_size, dilation, backend=backend)
        self.norm2 = nn.LayerNorm(dim)
        self.mlp = nn.Sequential(nn.Linear(dim, int(dim * mlp_ratio)), nn.GELU(), nn.Linear(int(dim * mlp_ratio), dim))

    def forward(self, x: th.Tensor) -> th.Tensor:
        x = x + self.attn(self.norm1(x))
        return x + self.mlp(self.norm2(x))


class NATTENFeaturesExtractor(BaseFeaturesExtractor):
    """Beat-context encoder with neighborhood attention, fused with the global edit state.

    :param observation_space: MusicEdit-v0's ``Box((2c+1) * 121 + N_GLOBAL,)``.
    :param context_beats: ``c``, beats of context on each side (the env's ``context_beats``).
    :param hidden_dim: token size; divisible by ``num_heads``, and ``hidden_dim / num_heads``
        a power of two of at least 32 for NATTEN's CUDA kernels.
    :param num_heads: attention heads.
    :param kernel_size: odd neighbourhood, at most ``2c + 1``.
    :param num_layers: attention blocks.
    :param global_dim: size of the global-state embedding.
    :param features_dim: output size.
    :param backend: ``"auto"`` (natten on CUDA, exact banded PyTorch elsewhere), ``"natten"`` or ``"banded"``.
    """

    def __init__(
        self,
        observation_space: gym.spaces.Box,
        context_beats: int = 3,
        hidden_dim: int = 64,
        num_heads: int = 2,
        kernel_size: int = 5,
        num_layers: int = 2,
        global_dim: int = 32,
        features_dim: int = 128,
        backend: str = "auto",
    ) -> None:
        super().__init__(observation_space, features_dim)
        n_tokens = 2 * context_beats + 1
        expected = observation_size(context_beats)
        if observation_space.shape != (expected,):
            raise PolicyConfigError(
                f"NATTENFeaturesExtractor(context_beats={context_beats}) expects observations of {expected} values, "
                f"the env gives {observation_space.shape}: set context_beats to the env's."
            )
        check_config(dim=hidden_dim, num_heads=num_heads, kernel_size=kernel_size, length=n_tokens)
        head_dim = hidden_dim // num_heads
        if head_dim < 32 or head_dim & (head_dim - 1):
            raise PolicyConfigError(
                f"hidden_dim / num_heads = {head_dim}: NATTEN needs a power of two of at least 32 per head; "
                f"e.g. hidden_dim={32 * num_heads} or num_heads={max(hidden_dim // 32, 1)}."
            )
        self.context_beats = context_beats
        self.beat_proj = nn.Linear(N_BEAT_FEATURES, hidden_dim)
        self.position = nn.Parameter(th.zeros(1, n_tokens, hidden_dim))
        nn.init.normal_(self.position, std=0.02)
        self.blocks = nn.ModuleList(
            NABlock(hidden_dim, num_heads, kernel_size, backend=backend) for _ in range(num_layers)
        )
        self.norm = nn.LayerNorm(hidden_dim)
        self.global_proj = nn.Sequential(nn.Linear(N_GLOBAL, global_dim), nn.GELU())
        self.fuse = nn.Sequential(nn.Linear(2 * hidden_dim + global_dim, features_dim), nn.GELU())
        # Running observation statistics, saved with the model's weights (state dict buffers);
        # filled by policies.callbacks.ObservationStatsCallback. Identity until then.
        self.register_buffer("obs_mean", th.zeros(expected))
        self.register_buffer("obs_var", th.ones(expected))
        self.register_buffer("obs_count", th.zeros(()))
        self.obs_clip = 10.0

    def set_observation_stats(self, mean, var, count: float) -> None:
        """Use these running statistics (``(obs_dim,)`` each, from ``count`` observations)."""
        self.obs_mean.copy_(th.as_tensor(mean, dtype=th.float32))
        self.obs_var.copy_(th.as_tensor(var, dtype=th.float32))
        self.obs_count.fill_(float(count))

    def normalize(self, observations: th.Tensor) -> th.Tensor:
        """``(obs - mean) / sqrt(var + 1e-8)`` clipped to ``[-10, 10]``."""
        return ((observations - self.obs_mean) / th.sqrt(self.obs_var + 1e-8)).clamp(-self.obs_clip, self.obs_clip)

    def encode_beats(self, observations: th.Tensor) -> th.Tensor:
        """``[batch, obs_dim]`` -> beat tokens after the attention blocks, ``[batch, 2c+1, hidden_dim]``."""
        context, _ = split_observation(observations, self.context_beats)
        tokens = self.beat_proj(context) + self.position
        for block in self.blocks:
            tokens = block(tokens)
        return self.norm(tokens)

    def forward(self, observations: th.Tensor) -> th.Tensor:
        observations = self.normalize(observations)
        tokens = self.encode_beats(observations)
        _, global_state = split_observation(observations, self.context_beats)
        pooled = th.cat([tokens[:, self.context_beats], tokens.mean(dim=1), self.global_proj(global_state)], dim=1)
        return self.fuse(pooled)

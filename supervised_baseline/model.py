"""The supervised mel-reconstruction model: EditEncoder -> per-frame latent -> MelDecoder -> edited mel.

How raw and edit line up
------------------------
Everything runs on the *edit's* frame grid. For each output frame ``t`` the edit labels give
the raw frame it plays (``pointers[t]``, from the reference edit in training and from the
retarget editor at inference) and an op (:class:`editor_env.ops.EditOp`: COPY, SKIP, LOOP, FADE,
GAIN, NEW), plus seven label features (distances to the edit's ends, to the neighbouring seams
and to the ends of the current op's run, and the segment's gain;
:func:`supervised_baseline.data.label_features`). So the encoder's input is the raw mel gathered
into output order, ``raw_mel[:, pointers]``, with a label embedding; the output is the edited
mel, exactly the edit's length. What is left to learn is what the rearrangement alone does not
give: seams (crossfades), fades, gain changes and other effects. Choosing *which* raw frames to
play is not this model's job (the retarget editor, or a label predictor, does it).

Architecture
------------
- :class:`EditEncoder`: the gathered raw mel, normalised per bin with the training set's mean
  and std (stored in the model, so a checkpoint carries its normalisation), is projected to
  ``d_model``; the op embedding plus a projection of the seven label features is another
  ``d_model`` vector; the two are concatenated and mixed by a linear layer + GELU, sinusoidal
  positions are added, and a pre-norm transformer encoder of ``encoder_layers`` layers runs over
  the frames; a linear layer gives the latent (``latent_dim`` per frame).
- :class:`MelDecoder`: the latent is projected back to ``d_model``, positions are added, a second
  transformer stack of ``decoder_layers`` layers and a layer norm follow, and an output
  projection gives a per-bin *change*; the **residual path** adds it to the gathered raw mel (in
  the mel's own [0, 1] scale). The output projection starts at zero, so an untrained model
  reproduces the rearranged raw exactly and training only has to learn the differences.

Tensors are frame-major: ``(batch, frames, n_mels)``; ``valid`` ``(batch, frames)`` is False on
padding, which attention ignores.
"""

from __future__ import annotations

import math

import torch as th
from torch import nn

from supervised_baseline.config import ModelConfig
from supervised_baseline.data import N_LABEL_FEATURES, N_OPS


def sinusoidal_positions(n_frames: int, dim: int, device: th.device | None = None) -> th.Tensor:
    """``(n_frames, dim)`` sinusoidal position codes (Vaswani et al., 2017), any length."""
    pos = th.arange(n_frames, dtype=th.float32, device=device)[:, None]
    freq = th.exp(th.arange(0, dim, 2, dtype=th.float32, device=device) * (-math.log(10000.0) / dim))
    out = th.zeros(n_frames, dim, device=device)
    out[:, 0::2] = th.sin(pos * freq)
    out[:, 1::2] = th.cos(pos * freq[: dim // 2])
    return out


def _transformer(config: ModelConfig, n_layers: int) -> nn.Module:
    if n_layers == 0:
        return nn.Identity()
    layer = nn.TransformerEncoderLayer(
        config.d_model,
        config.n_heads,
        dim_feedforward=config.ff_dim,
        dropout=config.dropout,
        activation="gelu",
        batch_first=True,
        norm_first=True,
    )
    return nn.TransformerEncoder(layer, n_layers, enable_nested_tensor=False)


def _run(stack: nn.Module, x: th.Tensor, valid: th.Tensor | None) -> th.Tensor:
    if isinstance(stack, nn.Identity):
        return x
    return stack(x, src_key_padding_mask=None if valid is None else ~valid)


class EditEncoder(nn.Module):
    """Raw mel projection + edit-label embedding, combined, then a transformer -> latent.

    :param config: the model sizes.
    """

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        d = config.d_model
        self.mel_proj = nn.Linear(config.n_mels, d)
        self.op_embedding = nn.Embedding(N_OPS, d)
        self.label_proj = nn.Linear(N_LABEL_FEATURES, d)
        self.combine = nn.Sequential(nn.Linear(2 * d, d), nn.GELU())
        self.dropout = nn.Dropout(config.dropout)
        self.transformer = _transformer(config, config.encoder_layers)
        self.to_latent = nn.Linear(d, config.latent_dim)

    def forward(self, mel_norm: th.Tensor, ops: th.Tensor, features: th.Tensor, valid: th.Tensor | None = None):
        """:param mel_norm: ``(B, T, n_mels)`` normalised gathered raw mel.
        :param ops: ``(B, T)`` int64 op per frame. :param features: ``(B, T, 7)`` label features.
        :returns: ``(B, T, latent_dim)``."""
        labels = self.op_embedding(ops) + self.label_proj(features)
        x = self.combine(th.cat([self.mel_proj(mel_norm), labels], dim=-1))
        x = self.dropout(x + sinusoidal_positions(x.shape[1], x.shape[2], x.device))
        return self.to_latent(_run(self.transformer, x, valid))


class MelDecoder(nn.Module):
    """Latent -> transformer -> output projection, plus the residual path from the raw mel.

    :param config: the model sizes.
    """

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        d = config.d_model
        self.from_latent = nn.Linear(config.latent_dim, d)
        self.dropout = nn.Dropout(config.dropout)
        self.transformer = _transformer(config, config.decoder_layers)
        self.norm = nn.LayerNorm(d)
        self.out_proj = nn.Linear(d, config.n_mels)
        nn.init.zeros_(self.out_proj.weight)  # start as the identity edit: output = gathered raw mel
        nn.init.zeros_(self.out_proj.bias)

    def forward(self, latent: th.Tensor, residual_mel: th.Tensor, valid: th.Tensor | None = None) -> th.Tensor:
        """:param latent: ``(B, T, latent_dim)``. :param residual_mel: ``(B, T, n_mels)`` gathered raw
        mel in [0, 1]. :returns: the edited mel ``(B, T, n_mels)`` (not clipped)."""
        x = self.from_latent(latent)
        x = self.dropout(x + sinusoidal_positions(x.shape[1], x.shape[2], x.device))
        x = self.norm(_run(self.transformer, x, valid))
        return residual_mel + self.out_proj(x)


class SupervisedEditModel(nn.Module):
    """EditEncoder + MelDecoder with the input normalisation as buffers (saved with the weights).

    :param config: the model sizes.
    """

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        self.config = config
        self.encoder = EditEncoder(config)
        self.decoder = MelDecoder(config)
        self.register_buffer("mel_mean", th.zeros(config.n_mels))
        self.register_buffer("mel_std", th.ones(config.n_mels))

    def set_normalisation(self, mean, std) -> None:
        """Per-bin mean and std ``(n_mels,)`` of the training raw mels."""
        self.mel_mean.copy_(th.as_tensor(mean, dtype=th.float32))
        self.mel_std.copy_(th.as_tensor(std, dtype=th.float32).clamp_min(1e-3))

    def forward(
        self, gathered: th.Tensor, ops: th.Tensor, features: th.Tensor, valid: th.Tensor | None = None
    ) -> th.Tensor:
        """:param gathered: ``(B, T, n_mels)`` raw mel in output order, [0, 1].
        :param ops: ``(B, T)`` int64. :param features: ``(B, T, 7)``. :param valid: ``(B, T)`` bool.
        :returns: the predicted edited mel ``(B, T, n_mels)``."""
        latent = self.encoder((gathered - self.mel_mean) / self.mel_std, ops, features, valid)
        return self.decoder(latent, gathered, valid)


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters() if p.requires_grad)

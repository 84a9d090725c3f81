"""Losses of the supervised baseline, on mels normalised like the cache ((mel_db + 80) / 80).

All take frame-major tensors ``(batch, frames, n_mels)`` and an optional ``valid`` mask
``(batch, frames)`` (False on padding, left out of every mean):

- :func:`l1_loss`, :func:`mse_loss`: per-bin error on the mel.
- :func:`multi_scale_spectral_loss`: a multi-resolution STFT loss along the *time axis* of the
  mel, the documented equivalent of the seed's audio-domain loss at 512, 1024 and 2048-point
  FFTs. The mel frames already are a 2048-point audio STFT, so instead of a second audio STFT it
  compares the modulation spectra of every mel band: for each size ``n`` of ``fft_sizes`` (512,
  1024, 2048) the band's frame sequence is cut into Hann windows of ``n // window_divisor``
  frames (16, 32 and 64 frames by default, i.e. 0.37, 0.74 and 1.49 s; the 1:2:4 ratio of the
  three audio FFTs), a quarter window apart, and each window is Fourier transformed at its own
  length (zero padding to ``n`` points would only interpolate the spectrum, at 40x the cost:
  measured 8 s against 0.2 s per batch of 8 x 256 frames on one core). The three resolutions
  trade time resolution against modulation-frequency resolution (onsets and crossfades vs.
  rhythm and fade envelopes). Per resolution the loss is ``mean |S_pred - S_target| + mean
  |log(S_pred + eps) - log(S_target + eps)|`` of the magnitudes; the resolutions are averaged.
  A crop shorter than a window is zero-padded to it; padding frames are zeroed in both inputs,
  so they add no difference.
- :func:`edit_consistency_loss`: mean ``|pred - gathered raw|`` on the frames whose op is COPY
  (the labels say "keep this raw frame unchanged"), so the model changes only what the labels
  say to change.
- :func:`feature_loss` (optional, weight 0 by default): L1 of coarse band energies (16 bands of
  8 bins) and of their frame-to-frame deltas (onsets), a cheap perceptual proxy.

:func:`total_loss` weighs them by a :class:`~supervised_baseline.config.TrainConfig` and returns
every part for logging.
"""

from __future__ import annotations

import torch as th

from editor_env.ops import EditOp

LOG_EPS = 0.1
"""Added to magnitudes before the log in the spectral loss. A 16-frame Hann window of a mel at
0.5 has a DC magnitude of about 4; with a small floor the log term is dominated by near-empty
modulation bins, i.e. by noise (measured here: with 1e-5, 1% Gaussian noise on a mel doubles the
loss), and a tiny model learned a fade about half as fast with 1e-2 as with 0.1."""


def _masked_mean(values: th.Tensor, valid: th.Tensor | None) -> th.Tensor:
    """Mean of ``values (B, T, ...)`` over the frames where ``valid (B, T)`` is True (0 when none)."""
    if valid is None:
        return values.mean()
    mask = valid.to(values.dtype).reshape(valid.shape + (1,) * (values.dim() - valid.dim()))
    weight = mask.expand_as(values)
    return (values * weight).sum() / weight.sum().clamp_min(1.0)


def l1_loss(pred: th.Tensor, target: th.Tensor, valid: th.Tensor | None = None) -> th.Tensor:
    """Mean absolute error per mel bin over valid frames."""
    return _masked_mean((pred - target).abs(), valid)


def mse_loss(pred: th.Tensor, target: th.Tensor, valid: th.Tensor | None = None) -> th.Tensor:
    """Mean squared error per mel bin over valid frames."""
    return _masked_mean((pred - target) ** 2, valid)


def modulation_spectrogram(x: th.Tensor, win_length: int) -> th.Tensor:
    """Magnitudes ``(B, n_mels, n_windows, win_length // 2 + 1)`` of the STFT along the frame axis
    of ``x (B, T, n_mels)``: Hann windows of ``win_length`` frames, hop ``max(win_length // 4, 1)``,
    no centring."""
    series = x.transpose(1, 2)  # (B, n_mels, T)
    if series.shape[-1] < win_length:
        series = th.nn.functional.pad(series, (0, win_length - series.shape[-1]))
    hop = max(win_length // 4, 1)
    frames = series.unfold(-1, win_length, hop)  # (B, n_mels, n_windows, win_length)
    window = th.hann_window(win_length, periodic=False, dtype=x.dtype, device=x.device)
    return th.fft.rfft(frames * window).abs()


def multi_scale_spectral_loss(
    pred: th.Tensor,
    target: th.Tensor,
    valid: th.Tensor | None = None,
    *,
    fft_sizes: tuple[int, ...] = (512, 1024, 2048),
    window_divisor: int = 32,
) -> th.Tensor:
    """Multi-resolution STFT loss along the mel's time axis (see the module docstring)."""
    if valid is not None:
        keep = valid.to(pred.dtype)[..., None]
        pred, target = pred * keep, target * keep
    parts = []
    for n_fft in fft_sizes:
        win = n_fft // window_divisor
        sp, st = modulation_spectrogram(pred, win), modulation_spectrogram(target, win)
        parts.append((sp - st).abs().mean() + (th.log(sp + LOG_EPS) - th.log(st + LOG_EPS)).abs().mean())
    return th.stack(parts).mean()


def edit_consistency_loss(
    pred: th.Tensor, gathered: th.Tensor, ops: th.Tensor, valid: th.Tensor | None = None
) -> th.Tensor:
    """Mean ``|pred - gathered|`` over frames whose op is COPY (kept unchanged); 0 without any."""
    keep = ops == int(EditOp.COPY)
    if valid is not None:
        keep = keep & valid
    return _masked_mean((pred - gathered).abs(), keep)


def band_energies(mel: th.Tensor, bins_per_band: int = 8) -> th.Tensor:
    """Mean of every ``bins_per_band`` adjacent bins: ``(B, T, n_mels // bins_per_band)``."""
    n = (mel.shape[-1] // bins_per_band) * bins_per_band
    return mel[..., :n].reshape(*mel.shape[:-1], n // bins_per_band, bins_per_band).mean(dim=-1)


def feature_loss(pred: th.Tensor, target: th.Tensor, valid: th.Tensor | None = None) -> th.Tensor:
    """L1 of 16-band energies plus L1 of their frame-to-frame deltas (both frames of a delta valid)."""
    bp, bt = band_energies(pred), band_energies(target)
    level = _masked_mean((bp - bt).abs(), valid)
    dp, dt = bp[:, 1:] - bp[:, :-1], bt[:, 1:] - bt[:, :-1]
    pair_valid = None if valid is None else valid[:, 1:] & valid[:, :-1]
    if dp.shape[1] == 0:
        return level
    return level + _masked_mean((dp - dt).abs(), pair_valid)


def total_loss(
    pred: th.Tensor,
    target: th.Tensor,
    gathered: th.Tensor,
    ops: th.Tensor,
    valid: th.Tensor | None,
    config,
) -> tuple[th.Tensor, dict[str, float]]:
    """Weighted sum of the losses (weights from ``config``, a TrainConfig) and each part as a float.

    Parts with weight 0 are not computed (and reported as 0), except L1, always reported."""
    parts: dict[str, th.Tensor] = {"l1_loss": l1_loss(pred, target, valid)}
    if config.mse_weight:
        parts["mse_loss"] = mse_loss(pred, target, valid)
    if config.msstft_weight:
        parts["msstft_loss"] = multi_scale_spectral_loss(
            pred, target, valid, fft_sizes=tuple(config.msstft_fft_sizes), window_divisor=config.msstft_window_divisor
        )
    if config.consistency_weight:
        parts["consistency_loss"] = edit_consistency_loss(pred, gathered, ops, valid)
    if config.feature_weight:
        parts["feature_loss"] = feature_loss(pred, target, valid)
    weights = {
        "l1_loss": config.l1_weight,
        "mse_loss": config.mse_weight,
        "msstft_loss": config.msstft_weight,
        "consistency_loss": config.consistency_weight,
        "feature_loss": config.feature_weight,
    }
    total = sum(weights[name] * value for name, value in parts.items())
    logged = {name: 0.0 for name in weights}
    logged.update({name: float(value.detach()) for name, value in parts.items()})
    logged["total_loss"] = float(total.detach())
    return total, logged

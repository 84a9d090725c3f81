"""Losses of the supervised baseline on known inputs."""

from __future__ import annotations

import numpy as np
import pytest
import torch as th

from editor_env.ops import EditOp
from supervised_baseline import losses as L
from supervised_baseline.config import TrainConfig


@pytest.fixture
def mels():
    g = th.Generator().manual_seed(0)
    target = th.rand(2, 80, 128, generator=g)
    return target, th.ones(2, 80, dtype=th.bool)


def test_identical_inputs_give_zero(mels):
    target, valid = mels
    assert L.l1_loss(target, target, valid).item() == 0.0
    assert L.mse_loss(target, target, valid).item() == 0.0
    assert L.multi_scale_spectral_loss(target, target, valid).item() == 0.0
    assert L.feature_loss(target, target, valid).item() == 0.0
    ops = th.zeros(2, 80, dtype=th.long)
    assert L.edit_consistency_loss(target, target, ops, valid).item() == 0.0


def test_constant_offset_gives_known_l1_mse_and_feature_loss(mels):
    target, valid = mels
    pred = target + 0.25
    assert L.l1_loss(pred, target, valid).item() == pytest.approx(0.25, abs=1e-6)
    assert L.mse_loss(pred, target, valid).item() == pytest.approx(0.0625, abs=1e-6)
    # band levels move by the offset, their frame-to-frame deltas do not
    assert L.feature_loss(pred, target, valid).item() == pytest.approx(0.25, abs=1e-5)


def test_padding_is_ignored(mels):
    target, valid = mels
    pred = target.clone()
    valid = valid.clone()
    valid[1, 60:] = False
    pred[1, 60:] += 5.0  # garbage on padding frames
    assert L.l1_loss(pred, target, valid).item() == 0.0
    assert L.mse_loss(pred, target, valid).item() == 0.0
    assert L.multi_scale_spectral_loss(pred, target, valid).item() == 0.0
    # and the mean is over valid frames only
    pred[0] += 0.5
    assert L.l1_loss(pred, target, valid).item() == pytest.approx(0.5 * 80 / 140, abs=1e-6)


def _numpy_msstft(pred: np.ndarray, target: np.ndarray, sizes, divisor) -> float:
    """Independent reference: per band, Hann-windowed frames, rfft magnitudes, L1 + log L1."""
    parts = []
    for n in sizes:
        win = n // divisor
        hop = max(win // 4, 1)
        w = np.hanning(win)  # numpy's Hann is the symmetric one, like hann_window(periodic=False)

        def spec(x, win=win, hop=hop, w=w):
            x = np.swapaxes(x, 1, 2)  # (B, n_mels, T)
            starts = range(0, x.shape[-1] - win + 1, hop)
            frames = np.stack([x[..., s : s + win] for s in starts], axis=-2)
            return np.abs(np.fft.rfft(frames * w, axis=-1))

        sp, st = spec(pred.astype(np.float64)), spec(target.astype(np.float64))
        parts.append(np.abs(sp - st).mean() + np.abs(np.log(sp + L.LOG_EPS) - np.log(st + L.LOG_EPS)).mean())
    return float(np.mean(parts))


def test_multi_scale_spectral_loss_matches_a_numpy_reference(mels):
    target, valid = mels
    pred = th.rand(target.shape, generator=th.Generator().manual_seed(1))
    got = L.multi_scale_spectral_loss(pred, target, valid).item()
    want = _numpy_msstft(pred.numpy(), target.numpy(), (512, 1024, 2048), 32)
    assert got == pytest.approx(want, rel=1e-4)


def test_multi_scale_spectral_loss_of_a_constant_offset_has_a_closed_form():
    # target silent (0), prediction a constant c: every window's spectrum is c * |DFT(hann)|
    c = 0.3
    target = th.zeros(1, 128, 8)
    pred = th.full((1, 128, 8), c)
    want = []
    for n in (512, 1024, 2048):
        spectrum = c * np.abs(np.fft.rfft(th.hann_window(n // 32, periodic=False).numpy().astype(np.float64)))
        log_part = np.abs(np.log(spectrum + L.LOG_EPS) - np.log(L.LOG_EPS)).mean()
        want.append(spectrum.mean() + log_part)
    assert L.multi_scale_spectral_loss(pred, target).item() == pytest.approx(float(np.mean(want)), rel=1e-5)


def test_spectral_loss_sees_time_structure_that_l1_misses():
    # same values, different order in time: L1 per frame differs, but so must the modulation spectra;
    # a slowly varying signal vs the same signal with a fast flicker of equal mean
    t = th.arange(256, dtype=th.float32)
    slow = (0.5 + 0.2 * th.sin(2 * th.pi * t / 128))[None, :, None].expand(1, 256, 128)
    flicker = slow + 0.1 * (1 - 2 * (t % 2))[None, :, None]
    small = slow + 0.1  # same L1 as the flicker
    assert L.l1_loss(flicker, slow).item() == pytest.approx(L.l1_loss(small, slow).item(), rel=1e-3)
    assert L.multi_scale_spectral_loss(flicker, slow).item() > 2 * L.multi_scale_spectral_loss(small, slow).item()


def test_edit_consistency_only_penalises_change_on_copy_frames():
    gathered = th.rand(1, 10, 128, generator=th.Generator().manual_seed(2))
    ops = th.full((1, 10), int(EditOp.COPY))
    ops[0, 5:] = int(EditOp.FADE)
    pred = gathered.clone()
    pred[0, 5:] -= 0.4  # a fade: allowed
    assert L.edit_consistency_loss(pred, gathered, ops).item() == 0.0
    pred[0, :5] += 0.1  # a change where the labels say keep
    assert L.edit_consistency_loss(pred, gathered, ops).item() == pytest.approx(0.1, abs=1e-6)
    # no COPY frame at all: nothing to penalise
    assert L.edit_consistency_loss(pred, gathered, th.full((1, 10), int(EditOp.FADE))).item() == 0.0


def test_total_loss_is_the_weighted_sum_of_its_parts(mels):
    target, valid = mels
    pred = target + 0.1
    ops = th.zeros(2, 80, dtype=th.long)
    config = TrainConfig(l1_weight=2.0, mse_weight=3.0, msstft_weight=0.5, consistency_weight=0.25, feature_weight=1.5)
    total, parts = L.total_loss(pred, target, target, ops, valid, config)
    want = (
        2.0 * parts["l1_loss"]
        + 3.0 * parts["mse_loss"]
        + 0.5 * parts["msstft_loss"]
        + 0.25 * parts["consistency_loss"]
        + 1.5 * parts["feature_loss"]
    )
    assert total.item() == pytest.approx(want, rel=1e-5)
    assert parts["consistency_loss"] == pytest.approx(0.1, abs=1e-6)
    _, parts = L.total_loss(pred, target, target, ops, valid, TrainConfig(feature_weight=0.0))
    assert parts["feature_loss"] == 0.0

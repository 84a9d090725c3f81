"""Label features, gathering and the model's shapes, residual start and padding."""

from __future__ import annotations

import numpy as np
import pytest
import torch as th

from editor_env.ops import EditOp
from supervised_baseline.config import ModelConfig
from supervised_baseline.data import N_LABEL_FEATURES, SupervisedSample, gather_raw, label_features, seam_starts
from supervised_baseline.errors import SupervisedError
from supervised_baseline.model import SupervisedEditModel

TINY = ModelConfig(d_model=32, n_heads=2, encoder_layers=1, decoder_layers=1, ff_dim=64, latent_dim=16, dropout=0.0)


def test_gather_raw_puts_raw_frames_in_output_order_and_zeros_new_material():
    raw = np.arange(12, dtype=np.float32).reshape(2, 6)  # (n_mels=2, T_raw=6)
    out = gather_raw(raw, np.array([4, 5, 0, -1]))
    np.testing.assert_array_equal(out, [[4, 5, 0, 0], [10, 11, 6, 0]])
    with pytest.raises(SupervisedError, match="raw frame 6"):
        gather_raw(raw, np.array([6]))


def test_label_features_measure_distances_to_ends_seams_and_op_runs():
    pointers = np.array([10, 11, 12, 3, 4, 5, 6, 7])
    ops = np.array([0, 0, 0, EditOp.LOOP, 0, 0, EditOp.FADE, EditOp.FADE])
    gain = np.array([0, 0, 0, -6, -6, -6, -6, -6], dtype=float)
    np.testing.assert_array_equal(seam_starts(pointers, ops), [0, 0, 0, 1, 0, 0, 0, 0])
    f = label_features(pointers, ops, scale_frames=10, gain_db=gain)
    assert f.shape == (8, N_LABEL_FEATURES)
    np.testing.assert_allclose(f[:, 0] * 10, np.arange(8))  # since start
    np.testing.assert_allclose(f[:, 1] * 10, 7 - np.arange(8))  # until end
    np.testing.assert_allclose(f[:, 2] * 10, [0, 1, 2, 0, 1, 2, 3, 4])  # since seam
    np.testing.assert_allclose(f[:, 3] * 10, [2, 1, 0, 4, 3, 2, 1, 0])  # until seam
    np.testing.assert_allclose(f[:, 4] * 10, [0, 1, 2, 0, 0, 1, 0, 1])  # since op-run start
    np.testing.assert_allclose(f[:, 5] * 10, [2, 1, 0, 0, 1, 0, 1, 0])  # until op-run end
    np.testing.assert_allclose(f[:, 6], gain / 12)
    # a jump without a SKIP/LOOP op is a seam too; distances are clipped to 1
    assert seam_starts(np.array([0, 1, 9, 10]), np.zeros(4))[2]
    assert label_features(np.arange(50), np.zeros(50), scale_frames=10)[:, :6].max() == 1.0


def test_sample_checks_name_the_problem():
    raw = np.zeros((128, 20), np.float32)
    with pytest.raises(SupervisedError, match="edit mel"):
        SupervisedSample("s", raw, np.arange(5), np.zeros(5), edit_mel=np.zeros((128, 6), np.float32))
    with pytest.raises(SupervisedError, match="EditOp"):
        SupervisedSample("s", raw, np.arange(5), np.full(5, 9))


def _inputs(batch: int, frames: int, seed: int = 0):
    g = th.Generator().manual_seed(seed)
    gathered = th.rand(batch, frames, 128, generator=g)
    ops = th.randint(0, 5, (batch, frames), generator=g)
    feats = th.rand(batch, frames, N_LABEL_FEATURES, generator=g)
    return gathered, ops, feats


def test_untrained_model_returns_the_gathered_raw_mel_through_its_residual_path():
    model = SupervisedEditModel(TINY).eval()
    gathered, ops, feats = _inputs(2, 40)
    out = model(gathered, ops, feats)
    assert out.shape == (2, 40, 128)
    th.testing.assert_close(out, gathered)


def test_padding_does_not_change_the_valid_frames():
    th.manual_seed(0)
    model = SupervisedEditModel(TINY).eval()
    th.nn.init.normal_(model.decoder.out_proj.weight, std=0.1)  # make the model do something
    gathered, ops, feats = _inputs(1, 30)
    alone = model(gathered, ops, feats)
    pad = 10
    padded = model(
        th.cat([gathered, th.rand(1, pad, 128)], 1),
        th.cat([ops, th.zeros(1, pad, dtype=th.long)], 1),
        th.cat([feats, th.rand(1, pad, N_LABEL_FEATURES)], 1),
        th.cat([th.ones(1, 30, dtype=th.bool), th.zeros(1, pad, dtype=th.bool)], 1),
    )
    assert not th.allclose(alone, gathered)
    th.testing.assert_close(padded[:, :30], alone, atol=1e-5, rtol=1e-5)


def test_model_config_rejects_nonsense():
    with pytest.raises(SupervisedError, match="divisible"):
        ModelConfig(d_model=30, n_heads=4)

"""Observation layout and the running normaliser saved with a model (editor_env.state)."""

from __future__ import annotations

import numpy as np
import pytest

from editor_env.errors import MusicEditError
from editor_env.state import GLOBAL_NAMES, OBS_DIM, ObservationBuilder, ObservationNormalizer, split_observation


def test_layout_867_and_split():
    assert OBS_DIM == 867 and len(GLOBAL_NAMES) == 20
    features = np.arange(10 * 121, dtype=np.float32).reshape(10, 121) / 1000
    builder = ObservationBuilder(features)
    obs = builder.observe(0, np.ones(20))
    context, globals_ = split_observation(obs)
    assert context.shape == (7, 121) and globals_.shape == (20,)
    assert np.all(context[:3] == 0)  # nothing before the first beat
    np.testing.assert_array_equal(context[3:], features[:4])
    end = split_observation(builder.observe(9, np.zeros(20)))[0]
    np.testing.assert_array_equal(end[3], features[9])
    assert np.all(end[4:] == 0)  # nothing after the last beat


def test_normalizer_learns_and_round_trips():
    rng = np.random.default_rng(0)
    batch = rng.normal(5.0, 3.0, size=(4000, OBS_DIM))
    norm = ObservationNormalizer()
    norm.update(batch[:2000])
    norm.update(batch[2000:])
    out = norm.normalize(batch)
    assert out.dtype == np.float32 and abs(out.mean()) < 0.01 and abs(out.std() - 1) < 0.01
    restored = ObservationNormalizer()
    restored.load_state_dict(norm.state_dict())
    np.testing.assert_array_equal(restored.normalize(batch[:5]), norm.normalize(batch[:5]))
    with pytest.raises(MusicEditError, match="size 867.*another observation layout"):
        ObservationNormalizer(100).load_state_dict(norm.state_dict())

"""The content model: features, targets, the keep decision, a tiny training run, checkpoints that say what differs."""

from __future__ import annotations

import numpy as np
import pytest

from editor_env.content import (
    CONTENT_KINDS,
    N_CONTENT_FEATURES,
    ContentConfig,
    ContentModel,
    beat_targets,
    content_features,
    content_length,
    keep_decision,
)
from editor_env.content_train import ContentTrainConfig, train_content_model
from editor_env.errors import MusicEditError
from editor_env.labels import RawLabels, labels_path
from editor_env.synth import write_dataset
from editor_env.tasks import load_tasks


@pytest.fixture(scope="module")
def labelled(tmp_path_factory):
    """Four synthetic pairs with labels (train) and two more (val), precached."""
    root = tmp_path_factory.mktemp("content")
    write_dataset(root / "train" / "training_data", 4, seed=21, duration_range_s=(20.0, 30.0), progress=False)
    write_dataset(root / "val" / "training_data", 2, seed=22, duration_range_s=(20.0, 30.0), progress=False)
    return root


def test_features_and_targets_have_one_row_per_beat(labelled):
    data = labelled / "train" / "training_data"
    task = load_tasks(data)[0]
    x = content_features(task.analysis)
    assert x.shape == (task.analysis.beats.n_beats, N_CONTENT_FEATURES) and x.dtype == np.float32
    assert np.isfinite(x).all()
    labels = RawLabels.load(labels_path(data, task.name))
    junk, kinds = beat_targets(labels, task.analysis)
    assert junk.shape == kinds.shape == (task.analysis.beats.n_beats,)
    assert 0 <= junk.min() and junk.max() <= 1 and 0.1 < junk.mean() < 0.6  # the generator's 25-40 % junk
    assert set(np.unique(kinds)) <= set(range(-1, len(CONTENT_KINDS)))
    assert ((kinds >= 0) <= (junk >= 0.5)).all()  # a kind only where the beat is mostly junk


def test_keep_decision_follows_confident_beats_and_smooths_isolated_ones():
    song = np.array([0.9] * 8 + [0.1] * 8 + [0.9] * 3 + [0.4] + [0.9] * 4)
    keep = keep_decision(song, switch_cost=2.0)
    assert keep[:8].all() and not keep[8:16].any() and keep[16:].all()  # the lone 0.4 follows its neighbours
    assert keep_decision(np.zeros(0)).size == 0


def test_a_tiny_model_trains_saves_loads_and_predicts(labelled, tmp_path):
    config = ContentTrainConfig(epochs=2, batch_size=2, model=ContentConfig(hidden=8, dilations=(1,)), threads=1)
    train = [labelled / "train" / "training_data"]
    val = [labelled / "val" / "training_data"]
    best = train_content_model(train, val, tmp_path / "m", config, progress=False)
    assert 0.0 <= best["junk_f"] <= 1.0 and best["epoch"] in (1, 2)
    model = ContentModel.load(tmp_path / "m" / "best.pt")
    task = load_tasks(val[0])[0]
    prediction = model.predict(task.analysis)
    n = task.analysis.beats.n_beats
    assert prediction.song.shape == (n,) and prediction.kinds.shape == (n, len(CONTENT_KINDS))
    assert (0 <= prediction.song).all() and (prediction.song <= 1).all()
    np.testing.assert_allclose(prediction.kinds.sum(axis=1), 1.0, atol=1e-5)
    target, slack = content_length(prediction, task.analysis, task.analysis.duration)
    assert 0 < target <= task.analysis.duration and slack >= 2.0
    # a stopped run resumes from latest.pt; an existing run is not overwritten without --resume
    with pytest.raises(MusicEditError, match="--resume"):
        train_content_model(train, val, tmp_path / "m", config, progress=False)
    config.epochs = 3
    again = train_content_model(train, val, tmp_path / "m", config, resume=True, progress=False)
    assert again["epoch"] in (1, 2, 3)


def test_a_checkpoint_for_other_features_or_another_model_is_refused(labelled, tmp_path):
    import torch as th

    config = ContentTrainConfig(epochs=1, batch_size=4, model=ContentConfig(hidden=8, dilations=(1,)), threads=1)
    train_content_model(
        [labelled / "train" / "training_data"], [labelled / "val" / "training_data"], tmp_path, config, progress=False
    )
    payload = th.load(tmp_path / "best.pt", weights_only=False)
    payload["feature_version"] = 0
    payload["n_features"] = 99
    th.save(payload, tmp_path / "old.pt")
    with pytest.raises(MusicEditError, match="feature version 0.*99 input features"):
        ContentModel.load(tmp_path / "old.pt")
    th.save({"format": "musicedit-pointer"}, tmp_path / "other.pt")
    with pytest.raises(MusicEditError, match="not a content-model checkpoint"):
        ContentModel.load(tmp_path / "other.pt")

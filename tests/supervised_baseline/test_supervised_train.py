"""Tiny trainings of the supervised baseline: the loss falls, checkpoints resume and refuse what does not fit."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from editor_env.ops import EditOp
from supervised_baseline.checkpoint import load_model, read_checkpoint
from supervised_baseline.config import ModelConfig, TrainConfig
from supervised_baseline.data import SupervisedSample, gather_raw
from supervised_baseline.errors import SupervisedError

TINY_MODEL = ModelConfig(
    d_model=32, n_heads=2, encoder_layers=1, decoder_layers=1, ff_dim=64, latent_dim=16, dropout=0.0
)


def fade_sample(name: str, seed: int, n_raw: int = 150, n_out: int = 96) -> SupervisedSample:
    """A raw mel, an edit that plays two raw spans with a seam, and a fade-out over the last
    32 frames (the edit mel drops linearly by up to 0.4 there): what a model must learn is the fade."""
    rng = np.random.default_rng(seed)
    raw = np.clip(0.5 + 0.1 * rng.standard_normal((128, n_raw)).cumsum(axis=1) / 10, 0, 1).astype(np.float32)
    pointers = np.concatenate([np.arange(10, 10 + n_out // 2), np.arange(80, 80 + n_out - n_out // 2)])
    ops = np.zeros(n_out, np.int64)
    ops[n_out // 2] = EditOp.SKIP
    ops[-32:] = EditOp.FADE
    edit = gather_raw(raw, pointers)
    edit[:, -32:] -= 0.4 * np.linspace(0, 1, 32, dtype=np.float32)
    return SupervisedSample(name, raw, pointers, ops, np.clip(edit, 0, 1))


def tiny_config(tmp_path, **kwargs) -> TrainConfig:
    values = dict(
        save_dir=str(tmp_path / "model"),
        epochs=6,
        batch_size=4,
        segment_frames=64,
        crops_per_sample=16,
        val_fraction=0.0,
        learning_rate=3e-3,
        warmup_steps=0,
        device="cpu",
        torch_threads=1,
        model=TINY_MODEL,
    )
    values.update(kwargs)
    return TrainConfig(**values)


def quiet(*_args, **_kwargs) -> None:
    pass


def test_tiny_model_overfits_a_fade_and_the_loss_stays_finite(tmp_path):
    from supervised_baseline.trainer import train

    samples = [fade_sample("a", 0), fade_sample("b", 1)]
    result = train(tiny_config(tmp_path, epochs=8), samples=samples, progress=False, log=quiet)
    val = [h["val_total_loss"] for h in result.history]
    assert [h["epoch"] for h in result.history] == list(range(9))
    assert all(np.isfinite(v) for v in val)
    assert val[-1] < 0.7 * val[0], val  # clearly better than copying the raw frames
    assert result.best.is_file() and result.latest.is_file()
    assert (tmp_path / "model" / "config.json").is_file()
    data = read_checkpoint(result.best)
    assert data["epoch"] == int(np.argmin(val))
    assert len(data["normalisation"]["mean"]) == 128

    # TensorBoard got the scalars DESIGN.md names
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    events = EventAccumulator(str(tmp_path / "model" / "tb"))
    events.Reload()
    tags = set(events.Tags()["scalars"])
    assert {"train/l1_loss", "train/msstft_loss", "val/total_loss"} <= tags


def test_resume_continues_the_epoch_counter_and_matches_an_uninterrupted_run(tmp_path):
    from supervised_baseline.trainer import train

    samples = [fade_sample("a", 0), fade_sample("b", 1)]
    # a constant rate: a cosine schedule depends on the planned epochs, which resuming changes here
    straight = train(
        tiny_config(tmp_path / "one", epochs=3, lr_schedule="constant"), samples=samples, progress=False, log=quiet
    )
    train(tiny_config(tmp_path / "two", epochs=2, lr_schedule="constant"), samples=samples, progress=False, log=quiet)
    resumed = train(
        tiny_config(tmp_path / "two", epochs=3, lr_schedule="constant"),
        samples=samples,
        resume=tmp_path / "two" / "model" / "latest.pt",
        progress=False,
        log=quiet,
    )
    assert [h["epoch"] for h in resumed.history] == [0, 1, 2, 3]
    assert read_checkpoint(resumed.latest)["epoch"] == 3
    assert resumed.history[-1]["val_total_loss"] == pytest.approx(straight.history[-1]["val_total_loss"], rel=1e-5)


def test_a_checkpoint_of_another_config_is_refused_naming_the_fields(tmp_path):
    from supervised_baseline.trainer import train

    samples = [fade_sample("a", 0)]
    result = train(tiny_config(tmp_path, epochs=1), samples=samples, progress=False, log=quiet)
    other = dataclasses.replace(TINY_MODEL, d_model=64, encoder_layers=2)
    with pytest.raises(SupervisedError) as info:
        load_model(result.latest, config=other)
    message = str(info.value)
    assert "d_model (checkpoint 32, wanted 64)" in message
    assert "encoder_layers (checkpoint 1, wanted 2)" in message
    assert "decoder_layers" not in message
    with pytest.raises(SupervisedError, match="d_model"):
        train(
            tiny_config(tmp_path, epochs=2, model=other),
            samples=samples,
            resume=result.latest,
            progress=False,
            log=quiet,
        )
    model, _ = load_model(result.latest)  # its own config loads
    assert model.config == TINY_MODEL


def test_truncated_or_foreign_checkpoints_give_a_clear_error(tmp_path):
    from supervised_baseline.trainer import train

    result = train(tiny_config(tmp_path, epochs=1), samples=[fade_sample("a", 0)], progress=False, log=quiet)
    blob = result.latest.read_bytes()
    truncated = tmp_path / "truncated.pt"
    truncated.write_bytes(blob[: len(blob) // 2])
    with pytest.raises(SupervisedError, match="truncated"):
        load_model(truncated)
    foreign = tmp_path / "foreign.pt"
    import torch as th

    th.save({"weights": th.zeros(3)}, foreign)
    with pytest.raises(SupervisedError, match="not a supervised-baseline checkpoint"):
        load_model(foreign)
    with pytest.raises(SupervisedError, match="does not exist"):
        load_model(tmp_path / "missing.pt")


def test_config_json_round_trip_and_unknown_fields(tmp_path):
    config = TrainConfig.from_json("configs/supervised_tiny.json")
    config.check()
    again = TrainConfig.from_dict(config.to_dict())
    assert again == config
    bad = tmp_path / "bad.json"
    bad.write_text('{"epochs": 2, "learning_rte": 0.1}')
    with pytest.raises(SupervisedError, match="learning_rte"):
        TrainConfig.from_json(bad)
    with pytest.raises(SupervisedError, match="batch_size"):
        TrainConfig(batch_size=0).check()


def test_learning_rate_warms_up_then_follows_a_cosine_to_zero():
    from supervised_baseline.trainer import learning_rate

    config = TrainConfig(learning_rate=1.0, warmup_steps=10, lr_schedule="cosine")
    assert learning_rate(config, 0, 110) == pytest.approx(0.1)
    assert learning_rate(config, 9, 110) == pytest.approx(1.0)
    assert learning_rate(config, 60, 110) == pytest.approx(0.5)
    assert learning_rate(config, 110, 110) == pytest.approx(0.0)
    constant = TrainConfig(learning_rate=1.0, warmup_steps=0, lr_schedule="constant")
    assert learning_rate(constant, 0, 110) == learning_rate(constant, 109, 110) == 1.0

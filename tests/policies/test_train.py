"""The training entry point end to end on a tiny generated data set: checkpoints, resume, logs."""

from __future__ import annotations

import json

import pytest
import torch as th

from editor_env.synth import write_dataset
from policies.train import TrainConfig, main, train

pytestmark = pytest.mark.usefixtures("one_torch_thread")  # tiny models: ~10x faster on a busy machine

TINY = {"hidden_dim": 64, "num_heads": 2, "kernel_size": 3, "num_layers": 1, "features_dim": 32}


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    root = tmp_path_factory.mktemp("train")
    write_dataset(root / "training_data", 3, seed=5, duration_range_s=(20.0, 25.0), progress=False)
    return root / "training_data"


def tiny_config(data_dir, save_dir, total):
    return TrainConfig(
        data_dir=str(data_dir),
        save_dir=str(save_dir),
        total_timesteps=total,
        n_envs=1,
        n_steps=64,
        batch_size=32,
        n_epochs=1,
        eval_freq=128,
        n_eval_episodes=1,
        extractor=dict(TINY),
        net_arch=[16],
    )


def test_train_writes_checkpoints_and_resumes(data_dir, tmp_path):
    save = tmp_path / "run"
    model = train(tiny_config(data_dir, save, 192), progress=False)
    assert model.num_timesteps >= 192
    assert {"latest.pt", "best.pt", "config.json"} <= {p.name for p in save.iterdir()}
    assert json.loads((save / "config.json").read_text())["total_timesteps"] == 192
    assert any((save / "tb").rglob("events.out.tfevents*"))
    extractor = model.policy.features_extractor
    assert float(extractor.obs_count) > 0 and not th.allclose(extractor.obs_var, th.ones_like(extractor.obs_var))

    resumed = train(tiny_config(data_dir, save, 320), checkpoint=str(save / "latest.pt"), progress=False)
    assert 320 <= resumed.num_timesteps < 320 + 64
    saved_stats = resumed.policy.features_extractor.obs_mean.clone()
    from policies.ppo import BCMaskablePPO

    reloaded = BCMaskablePPO.load(save / "latest.pt", device="cpu")
    assert th.equal(reloaded.policy.features_extractor.obs_mean, saved_stats)  # statistics travel with the weights
    assert reloaded.num_timesteps == resumed.num_timesteps


def test_bad_config_names_the_field(tmp_path, capsys):
    config = tmp_path / "bad.json"
    config.write_text(json.dumps({"total_timesteps": 10, "n_stepz": 5}))
    assert main(["--config", str(config)]) == 2
    assert "unknown field(s) ['n_stepz']" in capsys.readouterr().err
    config.write_text(json.dumps({"batch_size": 4096, "n_steps": 64, "n_envs": 1}))
    assert main(["--config", str(config), "--save-dir", str(tmp_path / "x")]) == 2
    assert "batch_size 4096 exceeds the rollout" in capsys.readouterr().err


def test_trained_agent_edits_a_file(data_dir, tmp_path, capsys):
    from editor_env.cli import main as musicedit

    save = tmp_path / "agent"
    train(tiny_config(data_dir, save, 128), progress=False)
    raw = data_dir / "input" / "synth_0000_raw.wav"
    out = tmp_path / "out" / "edited.flac"
    code = musicedit(["edit", str(raw), "-o", str(out), "--policy", "agent", "--checkpoint", str(save / "best.pt")])
    assert code == 0, capsys.readouterr().err
    assert out.is_file() and (out.parent / "edited.edl.json").is_file()
    edl = json.loads((out.parent / "edited.edl.json").read_text())
    assert edl["meta"]["paradigm"] == "agent" and edl["segments"]
    # a truncated checkpoint is refused with the file's name
    broken = tmp_path / "broken.pt"
    broken.write_bytes((save / "best.pt").read_bytes()[:200])
    assert (
        musicedit(["edit", str(raw), "-o", str(tmp_path / "x.wav"), "--policy", "agent", "--checkpoint", str(broken)])
        == 2
    )
    assert "broken.pt" in capsys.readouterr().err
    assert musicedit(["edit", str(raw), "-o", str(tmp_path / "y.wav"), "--policy", "agent"]) == 2
    assert "needs a trained model" in capsys.readouterr().err


def test_musicedit_train_ppo_passes_flags_on(tmp_path, capsys):
    from editor_env.cli import main as musicedit

    config = tmp_path / "bad.json"
    config.write_text(json.dumps({"n_stepz": 5}))
    assert musicedit(["train-ppo", "--config", str(config)]) == 2
    assert "unknown field(s) ['n_stepz']" in capsys.readouterr().err

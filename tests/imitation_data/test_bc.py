"""BC pretraining through imitation's BC: a tiny run lowers the loss, reports per-head accuracy,
logs to TensorBoard, saves atomically and reloads into MaskablePPO."""

from __future__ import annotations

import json

import numpy as np
import pytest

from editor_env.cli import main
from imitation_data.bc import BCConfig, bc_pretrain, load_model, pretrain_policy
from imitation_data.transitions import BCDataset


@pytest.fixture(scope="module")
def demos(tmp_path_factory):
    """A few hundred demonstration steps: 3 synthetic edits plus augmented rare actions."""
    from editor_env.audio import analysis_signal
    from editor_env.features import analyze_signal
    from editor_env.synth import generate_pair
    from editor_env.tasks import EditingTask
    from imitation_data.augment import augment
    from imitation_data.labels import infer_labels

    tasks, labels = [], []
    for seed in (31, 32, 33):
        pair = generate_pair(seed, duration_range_s=(20.0, 30.0))
        task = EditingTask(f"synth_{seed}", analyze_signal(analysis_signal(pair.raw)), pair.pointers)
        tasks.append(task)
        labels.append(infer_labels(task, pair.pointers, edl=pair.edl, collect_observations=True))
    rich = BCDataset.from_labels(labels, {"kind": "rich"})
    aug, _, _ = augment(tasks, min_samples=3, existing_counts=rich.type_counts(), progress=False)
    data = BCDataset.concatenate([rich, aug])
    assert 150 <= len(data) <= 1500, len(data)
    path = tmp_path_factory.mktemp("bc") / "bc_small.npz"
    data.save(path)
    return path


def test_tiny_bc_run_learns_saves_and_reloads(demos, tmp_path):
    config = BCConfig(epochs=2, batch_size=32, learning_rate=3e-3, val_fraction=0.2, policy_kwargs={"net_arch": [32]})
    report = bc_pretrain(demos, tmp_path / "bc", config=config, verbose=0)
    assert report.train_loss[-1] < report.initial_train_loss
    assert len(report.train_loss) == 2 and report.n_val > 0
    for head in ("type", "size", "amount", "action"):
        assert 0.0 <= report.val_accuracy[head] <= 1.0
    saved = json.loads((tmp_path / "bc" / "bc_report.json").read_text())
    assert saved["val_accuracy"] == report.val_accuracy and saved["config"]["policy_kwargs"] == {"net_arch": [32]}
    assert list((tmp_path / "bc" / "tb").glob("events.out.tfevents.*"))
    assert not list((tmp_path / "bc").glob(".*tmp*"))

    model = load_model(tmp_path / "bc")
    data = BCDataset.load(demos)
    action, _ = model.predict(data.obs[:5], deterministic=True, action_masks=data.masks[:5])
    assert action.shape == (5, 3)
    offsets = np.array([0, 20, 25])
    assert np.take_along_axis(data.masks[:5], action + offsets, axis=1).all()  # masked predictions


def test_pretrain_policy_trains_an_existing_model_in_place(demos):
    """What ``policies.train`` calls: the model's own policy is the one BC trains."""
    from imitation_data.bc import build_model

    model = build_model(BCConfig(policy_kwargs={"net_arch": [16]}))
    before = [p.detach().clone() for p in model.policy.parameters()]
    report = pretrain_policy(model, demos, epochs=1, seed=3, verbose=0)
    assert any(not np.allclose(a.numpy(), b.detach().numpy()) for a, b in zip(before, model.policy.parameters()))
    assert report.config["epochs"] == 1 and report.config["seed"] == 3


def test_bc_pretrain_cli(demos, tmp_path, capsys):
    args = ["bc-pretrain", "--data", str(demos), "--epochs", "1", "--save-dir", str(tmp_path / "m")]
    assert main([*args, "--batch-size", "64", "--policy-kwargs", '{"net_arch": [16]}']) == 0
    out = capsys.readouterr().out
    assert "Held-out accuracy: type" in out and (tmp_path / "m" / "bc_policy.zip").is_file()
    assert main(["bc-pretrain", "--data", str(tmp_path / "none.npz"), "--save-dir", str(tmp_path / "x")]) == 2
    assert "musicedit bc-dataset" in capsys.readouterr().err

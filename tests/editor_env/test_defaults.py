"""The embedded default editor: scripts/ship_default.py's choice and editor_env.defaults reading it."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

from editor_env.defaults import default_model
from editor_env.errors import MusicEditError

REPO = Path(__file__).resolve().parents[2]


def ship(argv):
    spec = importlib.util.spec_from_file_location("ship_default", REPO / "scripts" / "ship_default.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.main(argv)


def benchmark(tmp_path: Path, rewards: dict[str, float]) -> Path:
    checkpoints = {}
    for name in rewards:
        if name != "retarget":
            checkpoints[name] = str(tmp_path / f"{name}_model.zip")
            Path(checkpoints[name]).write_bytes(name.encode() * 100)
    bench = {
        "settings": {"data_dir": "held", "samples": ["a", "b"], "checkpoints": checkpoints},
        "summary": [{"paradigm": name, "reward": value, "failed": 0} for name, value in rewards.items()],
    }
    path = tmp_path / "benchmark.json"
    path.write_text(json.dumps(bench))
    (tmp_path / "benchmark.md").write_text("| paradigm | reward |\n")
    return path


def test_the_best_learned_model_ships_only_when_it_beats_retarget(tmp_path):
    models = tmp_path / "models"
    assert default_model(models).paradigm == "retarget" and default_model(models).checkpoint is None
    ship(
        [
            "--benchmark",
            str(benchmark(tmp_path, {"retarget": 0.75, "bc": 0.70, "bc_ppo": 0.77})),
            "--models-dir",
            str(models),
        ]
    )
    chosen = default_model(models)
    assert chosen.paradigm == "bc_ppo" and chosen.checkpoint.read_bytes() == b"bc_ppo" * 100
    assert chosen.record["benchmark"]["reward"]["retarget"] == 0.75 and (models / "benchmark.md").is_file()
    assert "bc_ppo" in chosen.describe() and "0.770 vs retarget 0.750" in chosen.describe()

    ship(["--benchmark", str(benchmark(tmp_path, {"retarget": 0.75, "pointer": 0.74})), "--models-dir", str(models)])
    fallback = default_model(models)
    assert fallback.paradigm == "retarget" and "no learned model" in fallback.record["why"]
    # the learned model stays shipped (for --policy bc_ppo) when retarget becomes the default
    assert (models / "bc_ppo.zip").exists()


def test_a_missing_default_checkpoint_is_reported(tmp_path):
    (tmp_path / "default.json").write_text(json.dumps({"paradigm": "pointer", "checkpoint": "pointer.pt"}))
    with pytest.raises(MusicEditError, match="pointer.pt, which is missing"):
        default_model(tmp_path)
    (tmp_path / "default.json").write_text("{not json")
    with pytest.raises(MusicEditError, match="unreadable"):
        default_model(tmp_path)


def test_resolve_editor_uses_the_shipped_model_unless_told_otherwise(tmp_path):
    from editor_env.defaults import resolve_editor

    assert resolve_editor(None, None, tmp_path)[:2] == ("retarget", None)  # nothing shipped
    (tmp_path / "pointer.pt").write_bytes(b"weights")
    (tmp_path / "default.json").write_text(json.dumps({"paradigm": "pointer", "checkpoint": "pointer.pt", "seed": 0}))
    policy, checkpoint, text = resolve_editor(None, None, tmp_path)
    assert (policy, Path(checkpoint)) == ("pointer", tmp_path / "pointer.pt") and "shipped default" in text
    assert resolve_editor("pointer", None, tmp_path)[1] == str(tmp_path / "pointer.pt")
    assert resolve_editor("retarget", None, tmp_path)[:2] == ("retarget", None)
    assert resolve_editor("bc", "my.zip", tmp_path)[:2] == ("bc", "my.zip")
    assert resolve_editor("bc_ppo", None, tmp_path)[1] is None  # not the shipped paradigm: its own error later
    with pytest.raises(MusicEditError, match="my.zip does not exist"):  # --checkpoint alone: read from the file
        resolve_editor(None, "my.zip", tmp_path)

"""Checkpoints that say what they are (issue 34): every paradigm's checkpoint names its paradigm, a loader of
another paradigm says which one it got and which ``--policy`` reads it, ``--checkpoint`` alone picks the
paradigm, and the benchmark falls back on the shipped model."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import pytest
import torch as th

from editor_env.checkpoints import (
    AGENT_HEADER,
    FORMAT_VERSION,
    check_paradigm,
    checkpoint_info,
    compatible,
    identify_checkpoint,
)
from editor_env.errors import MusicEditError

REPO = Path(__file__).resolve().parents[2]
PARADIGMS = ("bc", "bc_ppo", "pointer", "supervised", "content")

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _agent(path: Path, paradigm: str | None) -> Path:
    """A tiny SB3 agent saved as ``paradigm`` (None: as before agents carried a header)."""
    from imitation_data.bc import BCConfig, build_model, save_model
    from policies.callbacks import atomic_save

    model = build_model(BCConfig(device="cpu", policy_kwargs={"net_arch": [8]}))
    if paradigm == "bc":
        return save_model(model, path, BCConfig(device="cpu"))
    if paradigm == "bc_ppo":
        model.num_timesteps = 128
        return atomic_save(model, path, config={"total_timesteps": 128}, state={"best_common_reward": 0.5})
    model.save(path)
    return path


@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory) -> dict[str, Path]:
    """One checkpoint of each paradigm (and of the content model), written by the code that writes them."""
    from pointer_baseline.checkpoint import save_checkpoint as save_pointer
    from pointer_baseline.model import PointerModelConfig, PointerNetwork
    from supervised_baseline.checkpoint import save_checkpoint as save_supervised

    folder = tmp_path_factory.mktemp("checkpoints")
    model = json.loads((REPO / "configs" / "pointer_tiny.json").read_text())["model"]
    paths = {
        "bc": _agent(folder / "bc_policy.zip", "bc"),
        "bc_ppo": _agent(folder / "latest.pt", "bc_ppo"),
        "pointer": save_pointer(folder / "pointer.pt", PointerNetwork(PointerModelConfig(**model)), epoch=1, step=7),
        "supervised": save_supervised(
            folder / "supervised.pt", {"model_config": {"base": 8}, "params": {}, "model_state": {}, "global_step": 3}
        ),
    }
    th.save({"format": "musicedit-content-model", "config": {"hidden": 8}, "state_dict": {}}, folder / "content.pt")
    paths["content"] = folder / "content.pt"
    return paths


def test_every_checkpoint_records_its_paradigm_version_and_config(checkpoints):
    for paradigm, path in checkpoints.items():
        info = checkpoint_info(path)
        assert info.paradigm == paradigm and identify_checkpoint(path) == paradigm
        assert info.config, f"{paradigm} records no config"
        if paradigm != "content":  # the content model's file is written by editor_env.content_train
            assert info.recorded and info.format_version == FORMAT_VERSION
    assert checkpoint_info(checkpoints["pointer"]).step == 7
    agent = checkpoint_info(checkpoints["bc_ppo"])
    assert agent.step == 128 and agent.state == {"best_common_reward": 0.5}
    with zipfile.ZipFile(checkpoints["bc"]) as archive:  # SB3 keeps its own members; ours is beside them
        assert {AGENT_HEADER, "data", "policy.pth"} <= set(archive.namelist())


def test_old_checkpoints_without_the_new_fields_are_still_identified_and_load(tmp_path, checkpoints):
    from pointer_baseline.checkpoint import load_model
    from policies.ppo import BCMaskablePPO

    payload = th.load(checkpoints["pointer"], weights_only=True)
    for key in ("paradigm", "format_version"):
        payload.pop(key)
    th.save(payload, tmp_path / "old_pointer.pt")
    info = checkpoint_info(tmp_path / "old_pointer.pt")
    assert (info.paradigm, info.recorded, info.format_version) == ("pointer", False, None)
    load_model(tmp_path / "old_pointer.pt")
    old_bc = _agent(tmp_path / "old_bc.zip", None)  # model.save alone: no musicedit.json
    assert (checkpoint_info(old_bc).paradigm, checkpoint_info(old_bc).recorded) == ("bc", False)
    BCMaskablePPO.load(checkpoints["bc_ppo"], device="cpu")  # SB3 ignores the header member
    shipped = checkpoint_info(REPO / "editor_env" / "models" / "pointer.pt")  # written before format versions
    assert shipped.paradigm == "pointer"


def _loaders():
    from editor_env.content import ContentModel
    from pointer_baseline.checkpoint import read_checkpoint as read_pointer
    from policies.infer import load_agent
    from supervised_baseline.checkpoint import read_checkpoint as read_supervised

    return {
        "pointer": read_pointer,
        "supervised": read_supervised,
        "bc_ppo": lambda path: load_agent(str(path), "cpu"),
        "content": ContentModel.load,
    }


@pytest.mark.parametrize("loader", ["pointer", "supervised", "bc_ppo", "content"])
def test_a_checkpoint_loaded_as_another_paradigm_names_the_paradigm(checkpoints, loader):
    load = _loaders()[loader]
    for paradigm, path in checkpoints.items():
        if compatible(loader, paradigm):
            continue
        with pytest.raises(MusicEditError) as caught:
            load(path)
        message = str(caught.value)
        assert str(path) in message and f"paradigm {paradigm}" in message, message
        if paradigm == "content":
            assert "MUSICEDIT_CONTENT_MODEL" in message
        else:
            assert f"--policy {paradigm}" in message
        assert "truncated" not in message  # issue 34: a valid checkpoint is not reported as a broken copy


def test_the_paradigm_check_runs_before_any_work(checkpoints):
    from editor_env.paradigms import check_checkpoint

    with pytest.raises(MusicEditError, match="BC \\+ PPO agent checkpoint.*--policy bc_ppo"):
        check_checkpoint("pointer", str(checkpoints["bc_ppo"]))
    check_checkpoint("bc", str(checkpoints["bc_ppo"]))  # the agents share one loader
    check_checkpoint("agent", str(checkpoints["bc"]))
    assert check_paradigm(checkpoints["pointer"], "pointer").paradigm == "pointer"


def test_truncated_and_foreign_files_are_told_apart_from_other_paradigms(tmp_path, checkpoints):
    from pointer_baseline.checkpoint import read_checkpoint

    data = checkpoints["bc_ppo"].read_bytes()
    (tmp_path / "cut.pt").write_bytes(data[: len(data) // 2])
    with pytest.raises(MusicEditError, match="cut.pt.*truncated or corrupt"):
        checkpoint_info(tmp_path / "cut.pt")
    with pytest.raises(MusicEditError, match="truncated or corrupt"):
        read_checkpoint(tmp_path / "cut.pt")
    (tmp_path / "notes.pt").write_text("not a model")
    with pytest.raises(MusicEditError, match="notes.pt.*not a MusicEdit checkpoint"):
        checkpoint_info(tmp_path / "notes.pt")
    with pytest.raises(MusicEditError, match="does not exist|cannot be read"):
        checkpoint_info(tmp_path / "missing.pt")


def test_checkpoint_alone_picks_the_paradigm(checkpoints, tmp_path, capsys):
    from editor_env.cli import main as musicedit
    from editor_env.defaults import resolve_editor

    for paradigm in ("bc", "bc_ppo", "pointer", "supervised"):
        policy, checkpoint, text = resolve_editor(None, str(checkpoints[paradigm]))
        assert (policy, checkpoint) == (paradigm, str(checkpoints[paradigm])) and paradigm in text
    with pytest.raises(MusicEditError, match="content model, not an editor"):
        resolve_editor(None, str(checkpoints["content"]))

    from editor_env.audio import write_audio
    from editor_env.synth import generate_pair

    jam = generate_pair(5, duration_range_s=(12.0, 14.0)).raw
    raw = write_audio(tmp_path / "raw.wav", jam.samples, jam.sample_rate)
    out = tmp_path / "out.wav"
    shipped = REPO / "editor_env" / "models" / "pointer.pt"
    assert musicedit(["edit", str(raw), "-o", str(out), "--checkpoint", str(shipped)]) == 0
    assert "with the pointer editor" in capsys.readouterr().out
    assert json.loads((tmp_path / "out.edl.json").read_text())["meta"]["paradigm"] == "pointer"
    code = musicedit(
        ["edit", str(raw), "-o", str(out), "--policy", "pointer", "--checkpoint", str(checkpoints["bc_ppo"])]
    )
    err = capsys.readouterr().err
    assert code == 2 and "paradigm bc_ppo" in err and "--policy bc_ppo" in err and "Traceback" not in err


def test_benchmark_without_checkpoint_uses_the_shipped_model_or_names_the_trainer():
    from editor_env.benchmark import resolve_checkpoints

    checkpoints, shipped = resolve_checkpoints(["retarget", "pointer"])
    assert Path(shipped["pointer"]) == REPO / "editor_env" / "models" / "pointer.pt" == Path(checkpoints["pointer"])
    assert resolve_checkpoints(["pointer"], {"pointer": "mine.pt"}) == ({"pointer": "mine.pt"}, {})
    with pytest.raises(MusicEditError, match="none ships.*musicedit bc-pretrain.*--checkpoint bc=PATH"):
        resolve_checkpoints(["bc"])


def test_the_shipped_model_of_a_paradigm_is_found_by_what_the_file_says(tmp_path, checkpoints):
    import shutil

    from editor_env.defaults import shipped_checkpoint

    assert shipped_checkpoint("pointer", tmp_path) is None
    shutil.copyfile(checkpoints["supervised"], tmp_path / "some_name.pt")
    (tmp_path / "broken.zip").write_bytes(b"PK\x03\x04 cut")
    assert shipped_checkpoint("supervised", tmp_path) == tmp_path / "some_name.pt"
    assert shipped_checkpoint("agent", tmp_path) is None

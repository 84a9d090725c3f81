"""The ``musicedit`` command line end to end on generated data (synth, precache, info)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from editor_env.cli import main


@pytest.fixture(scope="module")
def synth_dir(tmp_path_factory):
    root = tmp_path_factory.mktemp("cli")
    out = root / "training_data"
    assert (
        main(["synth", "--n", "2", "--out", str(out), "--seed", "3", "--min-duration", "20", "--max-duration", "30"])
        == 0
    )
    return root


def test_synth_writes_the_layout(synth_dir, capsys):
    data = synth_dir / "training_data"
    for name in ["synth_0000", "synth_0001"]:
        assert (data / "input" / f"{name}_raw.wav").is_file()
        assert (data / "desired_output" / f"{name}_edit.wav").is_file()
        pointers = np.load(data / "pointer_sequences" / f"{name}_pointers.npy")
        ops = np.load(data / "pointer_sequences" / f"{name}_ops.npy")
        assert pointers.dtype == np.int64 and ops.dtype == np.int8 and pointers.shape == ops.shape
        assert json.loads((data / "pointer_sequences" / f"{name}_edl.json").read_text())["format"] == "musicedit-edl"


def test_precache_then_info(synth_dir, capsys):
    data, cache = synth_dir / "training_data", synth_dir / "cache"
    assert main(["precache", "--data-dir", str(data), "--cache-dir", str(cache)]) == 0
    assert "2 computed, 0 already cached, 0 failed" in capsys.readouterr().out
    assert main(["precache", "--data-dir", str(data), "--cache-dir", str(cache), "synth_0001"]) == 0
    assert "0 computed, 1 already cached" in capsys.readouterr().out
    assert main(["info", str(data), "--cache-dir", str(cache), "--plot", str(synth_dir / "pics"), "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["n_samples"] == 2
    for entry in summary["samples"]:
        assert entry["cached"] and 0.6 <= entry["edit_ratio"] <= 0.75
        assert entry["features_shape"][1] == 121
        assert (synth_dir / "pics" / f"{entry['sample']}_analysis.png").stat().st_size > 10_000


def test_info_on_a_file(synth_dir, capsys):
    raw = synth_dir / "training_data" / "input" / "synth_0000_raw.wav"
    assert main(["info", str(raw)]) == 0
    out = capsys.readouterr().out
    assert "tempo_bpm" in out and "n_beats" in out


def test_errors_name_the_file_and_exit_2(tmp_path, capsys):
    bad = tmp_path / "broken.wav"
    bad.write_bytes(b"not audio at all")
    assert main(["info", str(bad)]) == 2
    assert "broken.wav" in capsys.readouterr().err
    assert main(["precache", "--data-dir", str(tmp_path), "--cache-dir", str(tmp_path / "c")]) == 2
    assert "no input/ folder" in capsys.readouterr().err
    assert main(["synth", "--n", "0", "--out", str(tmp_path / "x")]) == 2
    assert "--n must be at least 1" in capsys.readouterr().err


def test_precache_reports_failures_and_exits_1(synth_dir, tmp_path, capsys):
    import shutil

    import soundfile as sf

    data = tmp_path / "training_data"
    shutil.copytree(synth_dir / "training_data", data)
    y, sr = sf.read(data / "input" / "synth_0001_raw.wav", dtype="float32")
    y[100:200] = np.nan
    sf.write(data / "input" / "synth_0001_raw.wav", y, sr, subtype="FLOAT")
    assert main(["precache", "--data-dir", str(data), "--cache-dir", str(tmp_path / "cache")]) == 1
    captured = capsys.readouterr()
    assert "1 computed" in captured.out and "1 failed" in captured.out
    assert "FAILED synth_0001" in captured.err and "synth_0001_raw.wav contains NaN" in captured.err


def test_synth_refuses_to_replace_other_files_unless_told(synth_dir, tmp_path, capsys):
    import shutil

    out = tmp_path / "training_data"
    shutil.copytree(synth_dir / "training_data", out)
    info = out / "pointer_sequences" / "synth_0000_info.json"
    older = json.loads(info.read_text()) | {"generator_version": 1}  # as an older generator left it
    info.write_text(json.dumps(older))
    args = ["synth", "--n", "1", "--out", str(out), "--seed", "3", "--min-duration", "20", "--max-duration", "30"]
    assert main(args) == 2
    assert "synth_0000_info.json" in capsys.readouterr().err and json.loads(info.read_text()) == older
    assert main([*args, "--overwrite"]) == 0
    assert (
        info.read_bytes() == (synth_dir / "training_data" / "pointer_sequences" / "synth_0000_info.json").read_bytes()
    )

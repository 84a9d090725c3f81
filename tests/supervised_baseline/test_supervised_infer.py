"""End to end on CPU: train a tiny model from a synthetic data set with the CLI, edit a recording
with it, and score the predicted mel with the common reward."""

from __future__ import annotations

import subprocess
import sys
import time

import numpy as np
import pytest
import soundfile as sf


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    from editor_env.synth import write_dataset
    from supervised_baseline.trainer import main as train_main

    root = tmp_path_factory.mktemp("supervised")
    data_dir = root / "training_data"
    write_dataset(data_dir, 2, seed=5, duration_range_s=(14.0, 16.0), progress=False)
    start = time.perf_counter()
    rc = train_main(
        [
            "--config",
            "configs/supervised_tiny.json",
            "--data-dir",
            str(data_dir),
            "--cache-dir",
            str(root / "cache"),
            "--save-dir",
            str(root / "model"),
            "--epochs",
            "1",
            "--no-progress",
        ]
    )
    assert rc == 0
    return root, data_dir, time.perf_counter() - start


def test_cli_trains_and_infers_on_cpu_within_a_minute(trained, tmp_path):
    from editor_env.audio import analysis_signal, load_audio
    from editor_env.edl import EditList
    from editor_env.features import analyze_signal
    from editor_env.reward import Scorer
    from supervised_baseline.infer import main as infer_main

    root, data_dir, train_seconds = trained
    raw_path = data_dir / "input" / "synth_0000_raw.wav"
    out = tmp_path / "edited.wav"
    start = time.perf_counter()
    rc = infer_main([str(raw_path), "--checkpoint", str(root / "model" / "best.pt"), "-o", str(out), "--n-iter", "4"])
    infer_seconds = time.perf_counter() - start
    assert rc == 0
    assert train_seconds + infer_seconds < 60, (train_seconds, infer_seconds)

    mel = np.load(tmp_path / "edited.mel.npy")
    edl = EditList.load(tmp_path / "edited.edl.json")
    assert edl.meta["paradigm"] == "supervised" and edl.meta["labels"] == "retarget with the content model"
    assert mel.dtype == np.float32 and mel.shape == (128, edl.to_pointers().size)
    assert 0.0 <= mel.min() and mel.max() <= 1.0
    audio, sr = sf.read(out)
    assert sr == 22050 and abs(audio.shape[0] / sr - mel.shape[1] * 512 / sr) < 0.1
    assert np.abs(audio).max() > 0.01  # not silence

    raw = load_audio(raw_path)
    analysis = analyze_signal(analysis_signal(raw))
    reference = np.load(data_dir / "pointer_sequences" / "synth_0000_pointers.npy")
    result = Scorer(analysis, reference).score(mel)
    assert 0.0 <= result.total <= 1.0
    assert result.details["output_kind"] == "mel"


def test_python_api_returns_mel_edl_and_audio(trained):
    from supervised_baseline import supervised_edit

    root, data_dir, _ = trained
    mel, edl, audio = supervised_edit(
        data_dir / "input" / "synth_0001_raw.wav", root / "model" / "best.pt", device="cpu", n_iter=2
    )
    assert mel.shape[1] == edl.to_pointers().size
    assert audio.ndim == 1 and audio.size > 0


def test_infer_refuses_to_overwrite_its_input(trained, tmp_path, capsys):
    from supervised_baseline.infer import main as infer_main

    root, data_dir, _ = trained
    raw_path = tmp_path / "take.wav"
    raw_path.write_bytes((data_dir / "input" / "synth_0000_raw.wav").read_bytes())
    before = raw_path.read_bytes()
    rc = infer_main([str(raw_path), "--checkpoint", str(root / "model" / "best.pt"), "-o", str(raw_path)])
    assert rc == 2
    assert "Refusing to overwrite the input" in capsys.readouterr().err
    assert raw_path.read_bytes() == before
    rc = infer_main([str(raw_path), "--checkpoint", str(root / "model" / "missing.pt"), "-o", str(tmp_path / "o.wav")])
    assert rc == 2
    assert "does not exist" in capsys.readouterr().err


def test_training_without_pointer_sequences_says_what_to_run(trained, tmp_path):
    from supervised_baseline.data import load_samples
    from supervised_baseline.errors import SupervisedError

    _, data_dir, _ = trained
    copy = tmp_path / "training_data"
    for sub in ("input", "desired_output"):
        (copy / sub).mkdir(parents=True)
        for f in (data_dir / sub).iterdir():
            (copy / sub / f.name).write_bytes(f.read_bytes())
    with pytest.raises(SupervisedError, match="musicedit align"):
        load_samples(copy, tmp_path / "cache")


def test_importing_the_package_does_not_import_torch():
    code = "import sys, supervised_baseline; supervised_baseline.TrainConfig; assert 'torch' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True)


def test_musicedit_edit_with_the_supervised_policy(trained, tmp_path, capsys):
    from editor_env.cli import main as musicedit

    root, data_dir, _ = trained
    out = tmp_path / "sup.wav"
    raw = data_dir / "input" / "synth_0001_raw.wav"
    code = musicedit(
        ["edit", str(raw), "-o", str(out), "--policy", "supervised", "--checkpoint", str(root / "model" / "best.pt")]
    )
    assert code == 0, capsys.readouterr().err
    assert out.is_file() and (tmp_path / "sup.mel.npy").is_file() and (tmp_path / "sup.edl.json").is_file()
    assert musicedit(["edit", str(raw), "-o", str(tmp_path / "x.wav"), "--policy", "supervised"]) == 2
    assert "needs a trained model" in capsys.readouterr().err

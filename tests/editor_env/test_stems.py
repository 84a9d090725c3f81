"""Stems (editor_env.stems): Demucs from a local folder, the fallback, the stem cache and features.

The Demucs tests build a tiny HTDemucs, save it into a temporary folder in the format Demucs'
own ``LocalRepo`` reads (``{sig}-{checksum}.th`` plus a ``{name}.yaml`` bag, as the real
``htdemucs`` weights are laid out) and load it through ``demucs.pretrained.get_model`` like
real weights: nothing is downloaded.
"""

from __future__ import annotations

import importlib.util
import shutil
from pathlib import Path

import numpy as np
import pytest
from conftest import click_track

from editor_env.audio import Audio
from editor_env.cache import beats_path, precache, stems_mel_path, stems_path
from editor_env.errors import MusicEditError
from editor_env.features import feature_slice
from editor_env.params import AudioParams
from editor_env.stems import (
    FALLBACK_SOURCE,
    FALLBACK_SUM_TOLERANCE,
    REPO_ENV,
    FallbackParams,
    FallbackSeparator,
    convert_stems_to_mel,
    load_stem_mels,
    load_stems,
    precache_stems,
    separate,
)

SR = 22050
MODEL = "tiny_htdemucs"
REPO_ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(autouse=True)
def _no_repo_env(monkeypatch):
    """A weights folder configured on the machine running the tests must not change them."""
    monkeypatch.delenv(REPO_ENV, raising=False)


def _tiny_htdemucs():
    import torch as th
    from demucs.htdemucs import HTDemucs

    th.manual_seed(0)
    # depth 4 as the real htdemucs (so the transformer sees a short sequence); 2 s segments
    # so that 5 s of audio is separated in overlapping chunks
    return HTDemucs(
        ["drums", "bass", "other", "vocals"],
        channels=8,
        depth=4,
        t_layers=1,
        t_heads=2,
        t_hidden_scale=1.0,
        dconv_depth=1,
        nfft=2048,
        segment=2,
    ).eval()


@pytest.fixture(scope="module")
def demucs_repo(tmp_path_factory):
    """A local Demucs weights folder holding the tiny model as the bag ``tiny_htdemucs``."""
    pytest.importorskip("demucs")
    from demucs.states import get_state, save_with_checksum

    model = _tiny_htdemucs()
    args, kwargs = model._init_args_kwargs
    package = {
        "klass": type(model),
        "args": args,
        "kwargs": kwargs,
        "state": get_state(model, None),
        "training_args": {},
    }
    repo = tmp_path_factory.mktemp("demucs_repo")
    save_with_checksum(package, repo / "0123abcd.th")  # writes 0123abcd-<sha256[:8]>.th, checked on load
    (repo / f"{MODEL}.yaml").write_text("models: ['0123abcd']\n")
    return repo


def _mix(seconds=5.0, sr=SR):
    """Clicks and kicks plus a bass line and a melody, mono float32."""
    t = np.arange(int(seconds * sr)) / sr
    y = click_track(120, seconds, sr) + 0.2 * np.sin(2 * np.pi * 55 * t) + 0.1 * np.sin(2 * np.pi * 660 * t)
    return (0.7 * y).astype(np.float32)


def test_demucs_from_local_repo_separates(demucs_repo):
    import torch as th
    from demucs.apply import BagOfModels

    from editor_env.stems import load_demucs

    model = load_demucs(demucs_repo, MODEL)  # demucs.pretrained.get_model(MODEL, repo=demucs_repo)
    assert isinstance(model, BagOfModels)
    original = _tiny_htdemucs()
    for name, value in original.state_dict().items():
        th.testing.assert_close(model.models[0].state_dict()[name], value, msg=name)

    audio = Audio(_mix()[None], SR)  # 5 s mono at 22.05 kHz: resampled to 44.1 kHz stereo and back
    stems = separate(audio, repo=demucs_repo, model_name=MODEL, device="auto")
    assert stems.source == f"demucs:{MODEL}" and not stems.is_fallback
    assert stems.waveforms.shape == (4, 1, audio.n_samples) and stems.sample_rate == SR
    assert np.isfinite(stems.waveforms).all()
    assert all(np.abs(stems.waveforms[i]).max() > 0 for i in range(4)), "a stem is silent"


def test_demucs_chosen_by_environment_variable(demucs_repo, monkeypatch):
    monkeypatch.setenv(REPO_ENV, str(demucs_repo))
    audio = Audio(np.stack([_mix(1.0, 44100), _mix(1.0, 44100)]), 44100)
    stems = separate(audio, model_name=MODEL, device="cpu")
    assert stems.source == f"demucs:{MODEL}" and stems.waveforms.shape == (4, 2, 44100)


def test_missing_folder_names_it_and_the_fallback(tmp_path):
    audio = Audio(_mix(1.0)[None], SR)
    missing = tmp_path / "no_such_weights"
    with pytest.raises(MusicEditError, match=rf"(?s){missing}.*does not exist.*fallback.*--method fallback"):
        separate(audio, repo=missing)
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(MusicEditError, match=rf"(?s){empty} holds no model 'htdemucs'.*955717e8.*fallback"):
        separate(audio, repo=empty)
    with pytest.raises(MusicEditError, match=rf"(?s)needs a local weights folder.*{REPO_ENV}.*fallback"):
        separate(audio, method="demucs")


@pytest.mark.parametrize("damage", ["truncated", "truncated_without_checksum", "bit_flip", "bag_without_weights"])
def test_corrupt_weights_name_the_folder_and_the_fallback(demucs_repo, tmp_path, damage):
    repo = tmp_path / "weights"
    shutil.copytree(demucs_repo, repo)
    weights = next(repo.glob("*.th"))
    data = weights.read_bytes()
    if damage.startswith("truncated"):
        if damage == "truncated_without_checksum":  # torch.load itself fails, not the checksum
            weights.unlink()
            weights = repo / "0123abcd.th"
        weights.write_bytes(data[: len(data) // 2])
    elif damage == "bit_flip":
        weights.write_bytes(data[:-100] + bytes([data[-100] ^ 0xFF]) + data[-99:])
    else:
        weights.unlink()
    with pytest.raises(MusicEditError, match=rf"(?s)Cannot load Demucs model '{MODEL}' from {repo}.*fallback"):
        separate(Audio(_mix(1.0)[None], SR), repo=repo, model_name=MODEL)


@pytest.mark.parametrize(("channels", "sr"), [(1, 22050), (2, 44100)])
def test_fallback_stems_sum_back_to_the_mix(channels, sr):
    y = _mix(5.0, sr)
    audio = Audio(np.stack([y, 0.5 * y][:channels]), sr)
    stems = separate(audio)  # no weights configured: the fallback
    assert stems.source == FALLBACK_SOURCE and stems.is_fallback
    assert stems.waveforms.shape == (4, channels, audio.n_samples) and stems.sample_rate == sr
    assert np.abs(stems.mix() - audio.samples).max() <= FALLBACK_SUM_TOLERANCE
    # the stems are not trivial: the 55 Hz bass line lands in bass, the clicks in drums
    energy = (stems.waveforms[:, 0].astype(np.float64) ** 2).sum(axis=1)
    assert energy[1] > 0.5 * energy.sum()
    assert energy[0] > 0.01 * energy.sum()


def test_fallback_blocks_cross_fade_and_still_sum_back():
    y = _mix(7.0)
    separator = FallbackSeparator(FallbackParams(block_s=2.0, margin_s=1.0))
    blocks = separator.separate(Audio(y[None], SR))
    whole = FallbackSeparator().separate(Audio(y[None], SR))
    assert np.abs(blocks.mix()[0] - y).max() <= FALLBACK_SUM_TOLERANCE
    # blocks with context agree with one pass over the whole file (measured: 1.5% RMS)
    diff = blocks.waveforms[:3] - whole.waveforms[:3]
    assert np.sqrt((diff**2).mean() / (whole.waveforms[:3] ** 2).mean()) < 0.05


def _run_script(name: str, argv: list[str]) -> int:
    spec = importlib.util.spec_from_file_location(name, REPO_ROOT / "scripts" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.main(argv)


def test_stem_cache_fills_the_stem_features(make_dataset, tmp_path, capsys):
    root = make_dataset({"s0": (_mix(6.0), None)})
    cache_dir = tmp_path / "cache"
    assert precache(root, cache_dir, progress=False).computed == ["s0"]
    with np.load(beats_path(cache_dir, "s0")) as beats:
        assert np.all(beats["features"][:, feature_slice("stems_available")] == 0)

    # the scripts: separate (fallback, no weights configured), then make the mels
    argv = ["--data_dir", str(root), "--cache_dir", str(cache_dir), "--quiet"]
    assert _run_script("precache_stems", argv) == 0
    assert f"[{FALLBACK_SOURCE}] 1 separated" in capsys.readouterr().out
    stems = load_stems(cache_dir, "s0")
    assert stems.source == FALLBACK_SOURCE and stems.sample_rate == SR and stems.waveforms.shape[:2] == (4, 1)
    with np.load(stems_path(cache_dir, "s0")) as data:
        assert str(data["source"]) == FALLBACK_SOURCE and data["drums"].dtype == np.float32

    # stems appeared: the features are recomputed with the stem slots filled
    second = precache(root, cache_dir, progress=False)
    assert second.computed == ["s0"]
    with np.load(beats_path(cache_dir, "s0")) as beats:
        features = beats["features"]
        assert str(beats["stem_source"]) == FALLBACK_SOURCE
    assert np.all(features[:, feature_slice("stems_available")] == 1)
    energy = features[:, feature_slice("stem_energy")] * 80  # dBFS, floor -100
    assert np.all(energy < 0) and np.all(energy >= -100.01)
    assert energy[:, 1].mean() > energy[:, 2].mean() + 20, "the bass line is louder in bass than in vocals"
    assert precache(root, cache_dir, progress=False).skipped == ["s0"]

    assert _run_script("convert_stems_to_mel", ["--cache_dir", str(cache_dir), "--quiet"]) == 0
    mels = load_stem_mels(cache_dir, "s0")
    with np.load(cache_dir / "features" / "s0_raw.npz") as raw:
        assert mels.shape == (4, 128, raw["mel"].shape[1]) and mels.dtype == np.float32
    assert 0.0 <= mels.min() and mels.max() <= 1.0
    # the same stems through their mel file: same identity, nothing to recompute, same values
    assert precache(root, cache_dir, progress=False).skipped == ["s0"]
    stems_path(cache_dir, "s0").unlink()
    assert precache(root, cache_dir, progress=False).skipped == ["s0"]
    beats_path(cache_dir, "s0").unlink()
    precache(root, cache_dir, progress=False)
    with np.load(beats_path(cache_dir, "s0")) as beats:
        np.testing.assert_allclose(beats["features"], features, atol=1e-6)

    # everything done: both steps skip
    assert _run_script("precache_stems", argv) == 0
    assert convert_stems_to_mel(cache_dir, progress=False).skipped == ["s0"]


def test_stems_of_an_older_recording_are_ignored(make_dataset, tmp_path):
    from conftest import write

    root = make_dataset({"s0": (_mix(6.0), None)})
    cache_dir = tmp_path / "cache"
    precache_stems(root, cache_dir, progress=False)
    write(root / "input" / "s0_raw.wav", _mix(5.0), SR)
    precache(root, cache_dir, progress=False)
    with np.load(beats_path(cache_dir, "s0")) as beats:
        assert np.all(beats["features"][:, feature_slice("stems_available")] == 0)
    assert precache_stems(root, cache_dir, progress=False).computed == ["s0"]


def test_demucs_stems_are_kept_when_only_the_fallback_is_at_hand(make_dataset, tmp_path, demucs_repo):
    root = make_dataset({"s0": (_mix(4.5), None)})
    cache_dir = tmp_path / "cache"
    result = precache_stems(root, cache_dir, repo=demucs_repo, model_name=MODEL, device="cpu", progress=False)
    assert result.computed == ["s0"] and result.source == f"demucs:{MODEL}"
    assert load_stems(cache_dir, "s0").source == f"demucs:{MODEL}"
    assert precache_stems(root, cache_dir, progress=False).skipped == ["s0"]
    assert precache_stems(root, cache_dir, method="fallback", force=True, progress=False).computed == ["s0"]
    assert load_stems(cache_dir, "s0").source == FALLBACK_SOURCE


def test_missing_stem_mels_say_what_to_run(tmp_path):
    with pytest.raises(MusicEditError, match="precache_stems.py.*convert_stems_to_mel.py"):
        load_stem_mels(tmp_path, "s0")
    assert not stems_mel_path(tmp_path, "s0").exists()


def test_other_parameters_are_refused_by_the_mel_conversion(make_dataset, tmp_path):
    root = make_dataset({"s0": (_mix(4.5), None)})
    cache_dir = tmp_path / "cache"
    precache_stems(root, cache_dir, progress=False)
    result = convert_stems_to_mel(cache_dir, params=AudioParams(sample_rate=16000), progress=False)
    assert "other analysis parameters" in result.failed["s0"]

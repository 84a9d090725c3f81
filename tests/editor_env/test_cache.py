"""The feature cache (editor_env.cache): keys, recomputation, atomic writes and resuming."""

from __future__ import annotations

import hashlib

import numpy as np
import pytest
from conftest import click_track

from editor_env import cache as cache_mod
from editor_env.cache import beats_path, features_path, load_analysis, precache
from editor_env.errors import MusicEditError
from editor_env.params import AudioParams

SR = 22050


def _dataset(make_dataset, n=3):
    return make_dataset(
        {f"s{i}": (click_track(100 + 10 * i, 6.0, SR), click_track(100 + 10 * i, 4.5, SR)) for i in range(n)}
    )


def _snapshot(folder):
    return {p: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.rglob("*")) if p.is_file()}


def test_precache_writes_then_skips(make_dataset, tmp_path):
    root = _dataset(make_dataset)
    before = _snapshot(root)
    cache_dir = tmp_path / "cache"
    first = precache(root, cache_dir, progress=False)
    assert sorted(first.computed) == ["s0", "s1", "s2"] and not first.failed
    assert first.audio_seconds == pytest.approx(3 * (6.0 + 4.5), abs=0.01)
    for name in ["s0", "s1", "s2"]:
        with np.load(features_path(cache_dir, name, "raw")) as mel, np.load(beats_path(cache_dir, name)) as beats:
            assert mel["mel"].shape[0] == 128
            assert beats["features"].shape == (beats["beat_times"].size, 121)
        assert features_path(cache_dir, name, "edit").is_file()
    assert not [p for p in cache_dir.rglob("*") if p.name.startswith(".")], "temporary files left behind"
    mtimes = {p: p.stat().st_mtime_ns for p in cache_dir.rglob("*.npz")}
    second = precache(root, cache_dir, progress=False)
    assert second.computed == [] and sorted(second.skipped) == ["s0", "s1", "s2"]
    assert {p: p.stat().st_mtime_ns for p in cache_dir.rglob("*.npz")} == mtimes
    assert _snapshot(root) == before, "the user's data folder was modified"


def test_other_parameters_are_recomputed(make_dataset, tmp_path):
    root = _dataset(make_dataset, n=1)
    cache_dir = tmp_path / "cache"
    precache(root, cache_dir, progress=False)
    other = AudioParams(n_mels=64)
    result = precache(root, cache_dir, params=other, progress=False)
    assert result.computed == ["s0"]
    with np.load(features_path(cache_dir, "s0")) as data:
        assert data["mel"].shape[0] == 64
    with pytest.raises(MusicEditError, match="other analysis parameters.*n_mels"):
        load_analysis(cache_dir, "s0", AudioParams())
    assert load_analysis(cache_dir, "s0", other).mel.shape[0] == 64


def test_changed_recording_is_recomputed(make_dataset, tmp_path):
    root = _dataset(make_dataset, n=1)
    cache_dir = tmp_path / "cache"
    precache(root, cache_dir, progress=False)
    from conftest import write

    write(root / "input" / "s0_raw.wav", click_track(150, 7.0, SR), SR)
    result = precache(root, cache_dir, progress=False)
    assert result.computed == ["s0"]
    assert load_analysis(cache_dir, "s0").duration == pytest.approx(7.0)


def test_interrupted_precache_resumes(make_dataset, tmp_path, monkeypatch):
    root = _dataset(make_dataset)
    cache_dir = tmp_path / "cache"
    real = cache_mod.precache_sample
    calls = []

    def interrupted(pair, *args, **kwargs):
        calls.append(pair.name)
        if len(calls) == 2:
            raise KeyboardInterrupt  # the user presses Ctrl-C during the second sample
        return real(pair, *args, **kwargs)

    monkeypatch.setattr(cache_mod, "precache_sample", interrupted)
    with pytest.raises(KeyboardInterrupt):
        precache(root, cache_dir, progress=False)
    assert features_path(cache_dir, "s0").is_file() and not features_path(cache_dir, "s1").is_file()
    done = features_path(cache_dir, "s0").stat().st_mtime_ns

    monkeypatch.setattr(cache_mod, "precache_sample", real)
    result = precache(root, cache_dir, progress=False)
    assert result.skipped == ["s0"] and result.computed == ["s1", "s2"]
    assert features_path(cache_dir, "s0").stat().st_mtime_ns == done


def test_truncated_cache_file_is_recomputed(make_dataset, tmp_path):
    root = _dataset(make_dataset, n=1)
    cache_dir = tmp_path / "cache"
    precache(root, cache_dir, progress=False)
    path = beats_path(cache_dir, "s0")
    path.write_bytes(path.read_bytes()[:100])
    assert precache(root, cache_dir, progress=False).computed == ["s0"]
    assert load_analysis(cache_dir, "s0").features.shape[1] == 121


def test_failed_sample_does_not_stop_the_others(make_dataset, tmp_path):
    root = _dataset(make_dataset, n=2)
    # a float WAV whose header is fine but whose samples hold NaNs: it fails at decode time
    bad = click_track(100, 6.0, SR)
    bad[1000:2000] = np.nan
    from conftest import write

    write(root / "input" / "s1_raw.wav", bad, SR, "FLOAT")
    result = precache(root, tmp_path / "cache", progress=False)
    assert result.computed == ["s0"]
    assert list(result.failed) == ["s1"] and "s1_raw.wav contains NaN" in result.failed["s1"]


def test_two_workers_match_one(make_dataset, tmp_path):
    root = _dataset(make_dataset, n=2)
    one = precache(root, tmp_path / "c1", progress=False, workers=1)
    two = precache(root, tmp_path / "c2", progress=False, workers=2)
    assert sorted(one.computed) == sorted(two.computed) == ["s0", "s1"]
    for name in ["s0", "s1"]:
        a, b = load_analysis(tmp_path / "c1", name), load_analysis(tmp_path / "c2", name)
        np.testing.assert_array_equal(a.features, b.features)
        np.testing.assert_array_equal(a.mel, b.mel)
    with pytest.raises(MusicEditError, match="--workers"):
        precache(root, tmp_path / "c3", workers=0)

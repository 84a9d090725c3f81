"""Shared fixtures: tiny synthetic audio written to temporary files."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf


def click_track(bpm: float = 120.0, seconds: float = 8.0, sr: int = 22050, accent_every: int = 4) -> np.ndarray:
    """Mono float32 clicks on every beat: every ``accent_every``-th one (the downbeat) is a
    kick drum (a fast pitch drop from 120 to 45 Hz), the others short high clicks, so a
    downbeat estimator can find the bar phase."""
    y = np.zeros(int(seconds * sr), dtype=np.float32)
    rng = np.random.default_rng(0)
    for i, t in enumerate(np.arange(0.0, seconds, 60.0 / bpm)):
        start = int(t * sr)
        if i % accent_every == 0:
            tt = np.arange(min(int(0.25 * sr), y.size - start)) / sr
            phase = 2 * np.pi * (45 * tt + (120 - 45) / 30 * (1 - np.exp(-30 * tt)))
            y[start : start + tt.size] += 0.9 * np.sin(phase) * np.exp(-tt * 12)
        else:
            n = min(int(0.02 * sr), y.size - start)
            burst = np.diff(rng.standard_normal(n + 1))
            y[start : start + n] += 0.15 * burst * np.exp(-np.arange(n) / sr * 200)
    return y


def write(path: Path, y: np.ndarray, sr: int, subtype: str | None = None) -> Path:
    """Write ``(n,)`` or ``(channels, n)`` samples; the format follows the suffix."""
    data = y.T if y.ndim == 2 else y
    sf.write(path, data, sr, subtype=subtype)
    return path


@pytest.fixture
def make_dataset(tmp_path):
    """Build a tiny ``training_data/`` layout: ``make_dataset({name: (raw, edit)}, sr)``."""

    def _make(pairs: dict[str, tuple[np.ndarray, np.ndarray | None]], sr: int = 22050) -> Path:
        root = tmp_path / "training_data"
        (root / "input").mkdir(parents=True, exist_ok=True)
        (root / "desired_output").mkdir(parents=True, exist_ok=True)
        for name, (raw, edit) in pairs.items():
            write(root / "input" / f"{name}_raw.wav", raw, sr)
            if edit is not None:
                write(root / "desired_output" / f"{name}_edit.wav", edit, sr)
        return root

    return _make


@pytest.fixture
def rng():
    return np.random.default_rng(1234)


@pytest.fixture(scope="session")
def synth_tasks():
    """Two short synthetic recordings as env tasks, with their ground-truth edits."""
    from editor_env.audio import analysis_signal
    from editor_env.features import analyze_signal
    from editor_env.synth import generate_pair
    from editor_env.tasks import EditingTask

    tasks = []
    for seed in (11, 12):
        pair = generate_pair(seed, duration_range_s=(20.0, 30.0))
        tasks.append(EditingTask(f"synth_{seed}", analyze_signal(analysis_signal(pair.raw)), pair.pointers))
    return tasks


@pytest.fixture(scope="session", autouse=True)
def _musicedit_home(tmp_path_factory):
    """Generated defaults go to a temporary MUSICEDIT_HOME, never the user's home."""
    import os

    home = tmp_path_factory.mktemp("musicedit_home")
    old = os.environ.get("MUSICEDIT_HOME")
    os.environ["MUSICEDIT_HOME"] = str(home)
    yield home
    if old is None:
        os.environ.pop("MUSICEDIT_HOME", None)
    else:
        os.environ["MUSICEDIT_HOME"] = old


@pytest.fixture
def one_torch_thread():
    """Torch on one thread for the test: tiny models run faster without thread hand-offs on a shared machine."""
    th = pytest.importorskip("torch")
    old = th.get_num_threads()
    th.set_num_threads(1)
    yield
    th.set_num_threads(old)

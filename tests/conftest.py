"""Shared fixtures: tiny synthetic audio written to temporary files."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf


def click_track(bpm: float = 120.0, seconds: float = 8.0, sr: int = 22050, accent_every: int = 4) -> np.ndarray:
    """Mono float32 clicks on every beat; every ``accent_every``-th click (the downbeat) is a
    louder, lower, longer thump so a downbeat estimator can find the bar phase."""
    y = np.zeros(int(seconds * sr), dtype=np.float32)
    period = 60.0 / bpm
    for i, t in enumerate(np.arange(0.0, seconds, period)):
        start = int(t * sr)
        accented = i % accent_every == 0
        n = int((0.12 if accented else 0.03) * sr)
        tt = np.arange(min(n, y.size - start)) / sr
        freq = 60.0 if accented else 1500.0
        amp = 0.9 if accented else 0.35
        y[start : start + tt.size] += amp * np.sin(2 * np.pi * freq * tt) * np.exp(-tt * (25 if accented else 120))
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

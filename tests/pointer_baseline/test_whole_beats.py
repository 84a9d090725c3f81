"""Exits on whole beats: the fitted beat period and the exits it moves (pointer_baseline.whole_beats)."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

from editor_env.audio import mel_spectrogram
from editor_env.params import DEFAULT_PARAMS
from pointer_baseline.whole_beats import (
    EXIT_TOLERANCE_FRAMES,
    beat_period,
    onset_envelope,
    round_to_whole_beats,
    segments_of,
    whole_beat_pointers,
)

HOP = DEFAULT_PARAMS.hop_length


def click_track(period_frames: float, seconds: float = 40.0, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """A mel of decaying noise bursts on every beat, and the beats' onsets in frames."""
    sr = DEFAULT_PARAMS.sample_rate
    rng = np.random.default_rng(seed)
    y = 0.001 * rng.standard_normal(int(seconds * sr)).astype(np.float32)
    beats = np.arange(0.0, y.size / HOP - period_frames, period_frames)
    burst = rng.standard_normal(4000).astype(np.float32) * np.exp(-np.arange(4000) / 600.0).astype(np.float32)
    for frame in beats:
        start = int(round(frame * HOP))
        y[start : start + burst.size] += 0.5 * burst[: y.size - start]
    return mel_spectrogram(y, DEFAULT_PARAMS), beats


def run(first: int, n: int) -> np.ndarray:
    return np.arange(first, first + n)


@pytest.fixture(scope="module")
def steady():
    mel, beats = click_track(20.0)  # beats on frames 0, 20, 40, ...
    return mel, beats, onset_envelope(mel)


def test_the_fitted_period_is_far_finer_than_the_tracked_beats():
    mel, beats = click_track(20.37, seed=1)
    tracked = np.round(beats) + np.random.default_rng(2).integers(-1, 2, beats.size)  # a tracker's frame jitter
    assert abs(np.median(np.diff(tracked)) - 20.37) > 0.3
    assert beat_period(onset_envelope(mel), tracked) == pytest.approx(20.37, abs=0.005)


def test_too_few_beats_give_no_period(steady):
    _, beats, envelope = steady
    assert beat_period(envelope, beats[:5]) is None


def test_exits_move_to_whole_beats_from_their_landing_and_the_last_segment_stays(steady):
    _, _, envelope = steady
    pointers = np.concatenate([run(40, 4 * 20 + 2), run(200, 3 * 20 - 1), run(400, 33)])  # late 2, early 1, the end
    moved, n = round_to_whole_beats(pointers, envelope, 20.0)
    assert n == 2
    assert segments_of(moved) == [(40, 120), (200, 260), (400, 433)]


def test_an_exit_beyond_the_tolerance_or_a_landing_off_the_beat_stays(steady):
    _, _, envelope = steady
    far = np.concatenate([run(40, 4 * 20 + EXIT_TOLERANCE_FRAMES + 1), run(400, 30)])
    assert round_to_whole_beats(far, envelope, 20.0)[1] == 0
    off_beat = np.concatenate([run(50, 4 * 20 + 2), run(400, 30)])  # lands half a beat after a click
    assert round_to_whole_beats(off_beat, envelope, 20.0)[1] == 0
    on_beat = np.concatenate([run(60, 4 * 20 + 2), run(400, 30)])
    assert round_to_whole_beats(on_beat, envelope, 20.0)[1] == 1


def test_whole_beat_pointers_on_an_analysis(steady):
    mel, beats, _ = steady
    pointers = np.concatenate([run(40, 4 * 20 + 2), run(400, 33)])
    same, info = whole_beat_pointers(pointers, SimpleNamespace(mel=mel), DEFAULT_PARAMS)
    assert same is pointers and info == {"whole_beats": "no beat grid"}
    analysis = SimpleNamespace(mel=mel, beats=SimpleNamespace(times=beats * DEFAULT_PARAMS.frame_seconds))
    moved, info = whole_beat_pointers(pointers, analysis, DEFAULT_PARAMS)
    assert segments_of(moved) == [(40, 120), (400, 433)]
    assert info["exits_moved"] == 1 and info["beat_period_frames"] == pytest.approx(20.0, abs=0.005)

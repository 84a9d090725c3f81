"""Beats and the 121 beat features (editor_env.beats, editor_env.features)."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import click_track, write

from editor_env.audio import analysis_signal, load_audio
from editor_env.features import FEATURE_GROUPS, FEATURE_NAMES, N_BEAT_FEATURES, analyze_signal, feature_slice
from editor_env.params import AudioParams

SR = 22050


def test_feature_table_names_every_dimension():
    assert N_BEAT_FEATURES == 121 == len(FEATURE_NAMES) == len(set(FEATURE_NAMES))
    assert sum(size for _, size, _ in FEATURE_GROUPS) == 121
    assert feature_slice("chroma").stop - feature_slice("chroma").start == 12
    with pytest.raises(KeyError, match="no feature group"):
        feature_slice("nope")


def _signals():
    rng = np.random.default_rng(0)
    return {
        "silence": np.zeros(4 * SR, np.float32),
        "click_track": click_track(120, 8.0, SR),
        "white_noise": (0.3 * rng.standard_normal(4 * SR)).astype(np.float32),
        "one_second": click_track(120, 1.0, SR),
        "tiny": (0.1 * rng.standard_normal(600)).astype(np.float32),
    }


@pytest.mark.parametrize("name", list(_signals()))
def test_features_shape_and_finite(name):
    y = _signals()[name]
    analysis = analyze_signal(y)
    n_beats = analysis.beats.n_beats
    assert n_beats >= 1
    assert analysis.features.shape == (n_beats, 121)
    assert analysis.features.dtype == np.float32
    assert np.isfinite(analysis.features).all()
    assert analysis.mel.shape[0] == 128 and np.isfinite(analysis.mel).all()
    times = analysis.beats.times
    assert times[0] == 0.0 and np.all(np.diff(times) > 0) and times[-1] < y.size / SR
    # bar-position one-hot is a one-hot
    assert np.all(analysis.features[:, feature_slice("bar_position")].sum(1) == 1)


def test_silence_uses_fallback_grid_and_is_marked_silent():
    analysis = analyze_signal(np.zeros(4 * SR, np.float32))
    assert analysis.beats.source == "fallback-grid"
    np.testing.assert_allclose(np.diff(analysis.beats.times), 0.5)
    assert np.all(analysis.features[:, feature_slice("silence_fraction")] == 1.0)


def test_multichannel_96k_file(tmp_path):
    rng = np.random.default_rng(1)
    y = np.tile(click_track(100, 6.0, 96000), (5, 1)) + 0.01 * rng.standard_normal((5, 6 * 96000))
    path = write(tmp_path / "five.wav", y.astype(np.float32), 96000, "PCM_24")
    audio = load_audio(path)
    assert audio.n_channels == 5 and audio.sample_rate == 96000
    analysis = analyze_signal(analysis_signal(audio))
    assert analysis.features.shape == (analysis.beats.n_beats, 121)
    assert np.isfinite(analysis.features).all()


def test_click_track_beats_and_downbeats():
    bpm = 120.0
    y = click_track(bpm, 16.0, SR)
    analysis = analyze_signal(y)
    beats = analysis.beats
    assert beats.source == "librosa"
    assert abs(beats.tempo - bpm) / bpm < 0.05
    clicks = np.arange(0, 16.0, 60 / bpm)
    # every tracked beat lies within 70 ms of a click
    err = np.abs(beats.times[:, None] - clicks[None, :]).min(axis=1)
    assert np.median(err) < 0.07
    # the accented clicks (every 4th) are the downbeats
    down_times = beats.times[beats.downbeats]
    accents = clicks[::4]
    hits = np.abs(down_times[:, None] - accents[None, :]).min(axis=1) < 0.07
    assert hits.mean() > 0.8


def test_loudness_feature_tracks_level():
    rng = np.random.default_rng(2)
    noise = rng.standard_normal(4 * SR).astype(np.float32)
    loud = analyze_signal(0.5 * noise).features[:, feature_slice("rms_db_mean")].mean()
    quiet = analyze_signal(0.005 * noise).features[:, feature_slice("rms_db_mean")].mean()
    assert (loud - quiet) * 80 == pytest.approx(40.0, abs=2.0)


def test_stem_slots_filled_when_given():
    y = click_track(120, 4.0, SR)
    n_frames = 1 + y.size // AudioParams().hop_length
    stems = np.full((4, n_frames), -20.0)
    analysis = analyze_signal(y, stem_energy_db=stems)
    assert np.all(analysis.features[:, feature_slice("stems_available")] == 1.0)
    np.testing.assert_allclose(analysis.features[:, feature_slice("stem_energy")], -0.25, atol=1e-6)
    plain = analyze_signal(y)
    assert np.all(plain.features[:, feature_slice("stems_available")] == 0.0)


def test_downbeats_follow_the_bar_through_odd_length_junk():
    """Synthetic jams hold count-ins, false starts and gaps of odd beat counts, after which a
    single global bar phase would be wrong; the local phase keeps most downbeats right."""
    import mir_eval

    from editor_env.synth import generate_pair

    scores = []
    for seed in (1, 4, 7):
        pair = generate_pair(seed, duration_range_s=(40.0, 50.0))
        analysis = analyze_signal(analysis_signal(pair.raw))
        times = np.array(pair.info["beat_times_s"])
        truth = times[np.array(pair.info["downbeats"], bool)]
        found = analysis.beats.times[analysis.beats.downbeats]
        scores.append(mir_eval.onset.f_measure(truth, found, window=0.07)[0])
    assert np.mean(scores) > 0.75, scores

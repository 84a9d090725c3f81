"""Long recordings are read and analysed in chunks: the same frames, beats and features as in one piece."""

from __future__ import annotations

import numpy as np
from conftest import click_track, write

from editor_env import cache
from editor_env.audio import analysis_signal, load_audio, stream_analysis_signal
from editor_env.features import beat_analysis, frame_features


def a_tempo(onset: np.ndarray) -> float:
    """librosa's own global tempo estimate, as the beat tracker makes it."""
    import librosa

    return float(librosa.feature.tempo(onset_envelope=onset, sr=22050, hop_length=512, start_bpm=120.0)[0])


def test_chunked_analysis_equals_one_piece(tmp_path, monkeypatch):
    t = np.arange(20 * 44100) / 44100
    noise = np.random.default_rng(0).standard_normal(t.size)
    # clicks over a chord and a -50 dB noise floor: no frame is near-silent (see the contrast note below)
    y = click_track(113, 20.0, sr=44100) + 0.1 * np.sin(2 * np.pi * 220 * t) + 0.003 * noise
    y = y.astype(np.float32)
    path = write(tmp_path / "long_raw.wav", np.stack([y, 0.5 * y]), 44100)  # stereo, 44.1 kHz: resampled in a stream
    whole_signal = analysis_signal(load_audio(path))
    streamed = np.concatenate(list(stream_analysis_signal(path, block_seconds=1.7)))
    np.testing.assert_allclose(streamed, whole_signal, atol=1e-6)

    whole = frame_features(whole_signal)
    chunked, n_samples = cache.stream_frame_features(path, chunk_frames=37)  # 23 chunks, one short at the end
    assert n_samples == whole_signal.size and chunked.n_frames == whole.n_frames == 1 + n_samples // 512
    for name in ("mel", "onset", "bass", "chroma"):
        np.testing.assert_allclose(getattr(chunked, name), getattr(whole, name), atol=1e-5, err_msg=name)
    # spectral contrast (rows 7-13) is floored 80 dB below each chunk's loudest value (cache.CONTEXT_FRAMES):
    # equal here because no frame is that quiet
    np.testing.assert_allclose(chunked.rows, whole.rows, atol=1e-5)

    assert cache.chunked_tempo(chunked.onset, chunk_frames=100) == a_tempo(whole.onset)
    a = beat_analysis(whole, n_samples / 22050)
    b = beat_analysis(chunked, n_samples / 22050)
    np.testing.assert_array_equal(b.beats.times, a.beats.times)
    np.testing.assert_array_equal(b.beats.bar_position, a.beats.bar_position)
    np.testing.assert_allclose(b.features, a.features, atol=1e-4)

    # precache takes the chunked path (and the chunked tempo) above LONG_INPUT_SECONDS: the same beats
    monkeypatch.setattr(cache, "LONG_INPUT_SECONDS", 10.0)
    monkeypatch.setattr(cache, "CHUNK_FRAMES", 300)
    (tmp_path / "data" / "input").mkdir(parents=True)
    path.rename(tmp_path / "data" / "input" / "long_raw.wav")
    result = cache.precache(tmp_path / "data", tmp_path / "cache", progress=False)
    assert result.computed == ["long"] and result.audio_seconds == n_samples / 22050
    cached = cache.load_analysis(tmp_path / "cache", "long")
    np.testing.assert_allclose(cached.mel, whole.mel, atol=1e-5)
    np.testing.assert_array_equal(cached.beats.times, a.beats.times)

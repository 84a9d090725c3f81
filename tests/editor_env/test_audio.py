"""Loading, resampling, writing and the normalised mel (editor_env.audio)."""

from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf
from conftest import write

from editor_env.audio import analysis_signal, load_audio, mel_spectrogram, resample, write_audio
from editor_env.errors import AudioLoadError
from editor_env.params import AudioParams


@pytest.mark.parametrize(
    ("suffix", "subtype", "channels", "sr"),
    [
        (".wav", "PCM_16", 1, 22050),
        (".wav", "PCM_24", 2, 44100),
        (".wav", "FLOAT", 5, 96000),
        (".wav", "PCM_U8", 1, 8000),
        (".flac", "PCM_16", 2, 48000),
        (".ogg", "VORBIS", 2, 44100),
    ],
)
def test_load_formats(tmp_path, rng, suffix, subtype, channels, sr):
    y = (0.5 * rng.uniform(-1, 1, size=(channels, sr // 2))).astype(np.float32)
    path = write(tmp_path / f"x{suffix}", y, sr, subtype)
    audio = load_audio(path)
    assert audio.samples.dtype == np.float32
    assert audio.samples.shape[0] == channels
    assert audio.sample_rate == sr
    assert abs(audio.n_samples - sr // 2) <= (2048 if suffix == ".ogg" else 0)
    if suffix != ".ogg":  # lossy codecs may overshoot full scale slightly
        assert np.abs(audio.samples).max() <= 1.0
        assert np.allclose(audio.samples, y, atol=2 / 2**7 if subtype == "PCM_U8" else 1e-4)


def test_corrupt_and_empty_files_name_the_file(tmp_path):
    empty = tmp_path / "empty.wav"
    empty.write_bytes(b"")
    with pytest.raises(AudioLoadError, match="empty.wav"):
        load_audio(empty)
    corrupt = tmp_path / "corrupt.wav"
    corrupt.write_bytes(b"RIFF\x00\x00\x00\x00WAVEnot really audio" * 10)
    with pytest.raises(AudioLoadError, match="corrupt.wav"):
        load_audio(corrupt)
    no_samples = tmp_path / "nosamples.wav"
    sf.write(no_samples, np.zeros((0, 1), np.float32), 22050)
    with pytest.raises(AudioLoadError, match="nosamples.wav.*no samples"):
        load_audio(no_samples)
    with pytest.raises(AudioLoadError, match="missing.wav"):
        load_audio(tmp_path / "missing.wav")


def test_resample_and_analysis_signal(rng):
    y = rng.standard_normal((2, 48000)).astype(np.float32)
    out = resample(y, 48000, 22050)
    assert out.shape == (2, 22050) and out.dtype == np.float32
    assert resample(y[0], 48000, 48000) is not None
    from editor_env.audio import Audio

    mono = analysis_signal(Audio(y, 48000))
    assert mono.shape == (22050,)


def test_write_audio_is_atomic_and_round_trips(tmp_path, rng):
    y = (0.5 * rng.uniform(-1, 1, size=(2, 1000))).astype(np.float32)
    path = write_audio(tmp_path / "out.flac", y, 44100)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.flac"]
    back = load_audio(path)
    assert back.samples.shape == (2, 1000)
    np.testing.assert_allclose(back.samples, y, atol=1e-4)


def test_mel_is_normalised(rng):
    params = AudioParams()
    sr = params.sample_rate
    t = np.arange(sr) / sr
    full_scale = np.sin(2 * np.pi * 440 * t).astype(np.float32)
    mel = mel_spectrogram(full_scale, params)
    assert mel.shape == (128, 1 + sr // params.hop_length)
    assert mel.dtype == np.float32
    assert mel.min() >= 0.0 and mel.max() <= 1.0
    assert mel.max() > 0.95  # a full-scale sine is at 0 dB
    quiet = mel_spectrogram(0.01 * full_scale, params)
    assert 0.45 < quiet.max() < 0.55  # -40 dB -> 0.5
    assert mel_spectrogram(np.zeros(sr, np.float32), params).max() == 0.0

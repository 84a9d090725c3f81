"""Audio input and output, resampling and the normalised mel spectrogram.

Loading accepts WAV, FLAC and OGG (anything libsndfile reads): mono, stereo or more channels,
8-96 kHz, integer or float samples. Analysis works on a mono copy at ``AudioParams.sample_rate``;
rendering works on the original samples at the original rate.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import soundfile as sf
import soxr

from editor_env.errors import AudioLoadError
from editor_env.io import atomic_path
from editor_env.params import DEFAULT_PARAMS, AudioParams

MIN_SAMPLE_RATE = 8000
MAX_SAMPLE_RATE = 192000


@dataclasses.dataclass
class Audio:
    """Samples of one recording.

    :param samples: ``np.ndarray [shape=(channels, n_samples), dtype=float32]``, nominally in [-1, 1]
        (float files and lossy codecs may overshoot; nothing is clipped on load).
    :param sample_rate: samples per second, Hz.
    :param path: where it was read from, if anywhere (used in error messages).
    """

    samples: np.ndarray
    sample_rate: int
    path: Path | None = None

    @property
    def n_channels(self) -> int:
        return self.samples.shape[0]

    @property
    def n_samples(self) -> int:
        return self.samples.shape[1]

    @property
    def duration(self) -> float:
        """Length in seconds."""
        return self.n_samples / self.sample_rate

    def mono(self) -> np.ndarray:
        """Channel mean, ``(n_samples,)`` float32."""
        return self.samples.mean(axis=0, dtype=np.float32)


def load_audio(path: str | os.PathLike) -> Audio:
    """Read an audio file at its own rate and channel count, as float32 ``(channels, n)``.

    :raises AudioLoadError: the file is missing, empty, unreadable, has no samples, contains
        non-finite values, or has a sample rate outside 8-192 kHz. The message names the file.
    """
    path = Path(path)
    if not path.is_file():
        raise AudioLoadError(f"Audio file {path} does not exist (or is not a file).")
    if path.stat().st_size == 0:
        raise AudioLoadError(f"Audio file {path} is empty (0 bytes): re-export or remove it.")
    try:
        data, sample_rate = sf.read(path, dtype="float32", always_2d=True)
    except (sf.LibsndfileError, RuntimeError, TypeError, ValueError) as exc:
        raise AudioLoadError(
            f"Cannot decode audio file {path}: {exc}. It may be corrupt or in a format "
            "libsndfile does not read; convert it to WAV or FLAC."
        ) from exc
    if data.shape[0] == 0:
        raise AudioLoadError(f"Audio file {path} holds no samples: re-export or remove it.")
    if not MIN_SAMPLE_RATE <= sample_rate <= MAX_SAMPLE_RATE:
        raise AudioLoadError(
            f"Audio file {path} has sample rate {sample_rate} Hz; MusicEdit reads "
            f"{MIN_SAMPLE_RATE}-{MAX_SAMPLE_RATE} Hz. Resample it first."
        )
    if not np.isfinite(data).all():
        raise AudioLoadError(f"Audio file {path} contains NaN or infinite samples.")
    return Audio(np.ascontiguousarray(data.T), int(sample_rate), path)


def audio_extent(path: str | os.PathLike) -> tuple[int, int]:
    """``(sample_rate, n_samples)`` of an audio file from its header, without decoding it.

    :raises AudioLoadError: the file is missing or unreadable (the message names it).
    """
    try:
        info = sf.info(str(path))
    except (sf.LibsndfileError, RuntimeError, TypeError, ValueError) as exc:
        raise AudioLoadError(f"Cannot read the header of audio file {path}: {exc}.") from exc
    return int(info.samplerate), int(info.frames)


def resample(y: np.ndarray, orig_sr: int, target_sr: int) -> np.ndarray:
    """Resample the last axis with soxr (high quality). ``y``: ``(n,)`` or ``(channels, n)``."""
    if orig_sr == target_sr:
        return y.astype(np.float32, copy=False)
    if y.ndim == 1:
        return soxr.resample(y, orig_sr, target_sr, quality="HQ").astype(np.float32)
    # soxr takes (frames, channels)
    return np.ascontiguousarray(soxr.resample(y.T, orig_sr, target_sr, quality="HQ").T, dtype=np.float32)


def analysis_signal(audio: Audio, params: AudioParams = DEFAULT_PARAMS) -> np.ndarray:
    """Mono float32 ``(n,)`` at the analysis rate ``params.sample_rate``."""
    return resample(audio.mono(), audio.sample_rate, params.sample_rate)


def stream_analysis_signal(
    path: str | os.PathLike, params: AudioParams = DEFAULT_PARAMS, *, block_seconds: float = 60.0
) -> Iterator[np.ndarray]:
    """:func:`analysis_signal` of a file, block by block: mono float32 ``(n,)`` pieces at
    ``params.sample_rate`` whose concatenation is the whole recording (resampled by a soxr stream,
    equal to the one-shot resampling within float rounding). Memory stays at one block
    (``block_seconds`` of the file) however long the recording.

    :raises AudioLoadError: as :func:`load_audio` (the message names the file).
    """
    path = Path(path)
    if not path.is_file() or path.stat().st_size == 0:
        load_audio(path)  # raises the missing / empty file's error
    sample_rate, _ = audio_extent(path)
    if not MIN_SAMPLE_RATE <= sample_rate <= MAX_SAMPLE_RATE:
        raise AudioLoadError(
            f"Audio file {path} has sample rate {sample_rate} Hz; MusicEdit reads "
            f"{MIN_SAMPLE_RATE}-{MAX_SAMPLE_RATE} Hz. Resample it first."
        )
    stream = None
    if sample_rate != params.sample_rate:
        stream = soxr.ResampleStream(sample_rate, params.sample_rate, 1, dtype="float32", quality="HQ")
    blocksize = max(int(block_seconds * sample_rate), 1)
    try:
        for block in sf.blocks(str(path), blocksize=blocksize, dtype="float32", always_2d=True):
            if not np.isfinite(block).all():
                raise AudioLoadError(f"Audio file {path} contains NaN or infinite samples.")
            mono = block.mean(axis=1, dtype=np.float32)
            yield mono if stream is None else stream.resample_chunk(mono)
    except (sf.LibsndfileError, RuntimeError, TypeError, ValueError) as exc:
        raise AudioLoadError(
            f"Cannot decode audio file {path}: {exc}. It may be corrupt or in a format "
            "libsndfile does not read; convert it to WAV or FLAC."
        ) from exc
    if stream is not None:
        yield stream.resample_chunk(np.zeros(0, np.float32), last=True)


def write_audio(path: str | os.PathLike, samples: np.ndarray, sample_rate: int, *, subtype: str | None = None) -> Path:
    """Write ``(channels, n)`` or ``(n,)`` float samples atomically; the format follows the suffix.

    Samples are clipped to [-1, 1]. WAV files are written as 16-bit PCM unless ``subtype`` says
    otherwise (e.g. ``"FLOAT"``).
    """
    path = Path(path)
    data = np.clip(np.asarray(samples, dtype=np.float32), -1.0, 1.0)
    if data.ndim == 2:
        data = data.T
    if subtype is None and path.suffix.lower() == ".wav":
        subtype = "PCM_16"
    with atomic_path(path) as tmp:
        sf.write(tmp, data, sample_rate, subtype=subtype)
    return path


def mel_spectrogram(
    y: np.ndarray, params: AudioParams = DEFAULT_PARAMS, *, power: np.ndarray | None = None
) -> np.ndarray:
    """Normalised log-mel spectrogram ``(n_mels, n_frames)`` float32 in [0, 1].

    ``(clip(power_to_db(mel, ref=1), -top_db, 0) + top_db) / top_db`` with unnormalised
    triangular mel filters: 0 is -80 dB (or quieter), 1 is a full-scale sine at a filter centre. ``y`` is mono at ``params.sample_rate``; pass ``power`` (the STFT power
    spectrogram ``(1 + n_fft/2, n_frames)``) to reuse an STFT already computed.
    """
    import librosa

    if power is None:
        power = stft_power(y, params)
    mel = librosa.feature.melspectrogram(S=power, sr=params.sample_rate, n_mels=params.n_mels, norm=None)
    return normalise_mel_db(librosa.power_to_db(mel, ref=1.0, amin=1e-10, top_db=None), params)


def normalise_mel_db(mel_db: np.ndarray, params: AudioParams = DEFAULT_PARAMS) -> np.ndarray:
    """Map mel dB (ref = full scale) into [0, 1]: ``(clip(mel_db, -top_db, 0) + top_db) / top_db``."""
    return ((np.clip(mel_db, -params.top_db, 0.0) + params.top_db) / params.top_db).astype(np.float32)


def stft_power(y: np.ndarray, params: AudioParams = DEFAULT_PARAMS) -> np.ndarray:
    """Power spectrogram ``|STFT|^2`` of shape ``(1 + n_fft // 2, n_frames)``, float32.

    Frames are centred (librosa's default): frame ``f`` is centred on sample ``f * hop``. The
    magnitude is divided by ``n_fft / 4`` (the Hann window's coherent gain), so a full-scale
    sine has power 1 (0 dB) at its peak bin: levels are absolute and comparable across files.
    """
    import librosa

    spec = librosa.stft(y, n_fft=params.n_fft, hop_length=params.hop_length)
    return (np.abs(spec) ** 2 / (params.n_fft / 4) ** 2).astype(np.float32)

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


MAX_ABS_SAMPLE = 1e4
"""Largest sample magnitude accepted (full scale is 1.0; 1e4 is 80 dB above it). Float files may overshoot
full scale a little; values far beyond it are a broken export, and squared in the analysis they overflow."""
READ_WHOLE_BYTES = 1 << 30
"""A file whose declared samples (as float32) exceed this and 32 times its size is read block by block, so
a header that claims more than the file holds (20 h in a few kB) cannot make the reader allocate it all."""


def _decode_error(path: Path, exc: BaseException) -> AudioLoadError:
    reason = str(exc).strip().rstrip(".") or type(exc).__name__
    return AudioLoadError(
        f"Cannot decode audio file {path}: {reason}. It may be corrupt or in a format "
        "libsndfile does not read; convert it to WAV or FLAC."
    )


def _check_rate(path: Path, sample_rate: int) -> None:
    if not MIN_SAMPLE_RATE <= sample_rate <= MAX_SAMPLE_RATE:
        raise AudioLoadError(
            f"Audio file {path} has sample rate {sample_rate} Hz; MusicEdit reads "
            f"{MIN_SAMPLE_RATE}-{MAX_SAMPLE_RATE} Hz. Resample it first."
        )


def check_samples(path: Path, samples: np.ndarray) -> None:
    """Refuse non-finite samples and magnitudes above :data:`MAX_ABS_SAMPLE`, naming the file."""
    if not np.isfinite(samples).all():
        raise AudioLoadError(f"Audio file {path} contains NaN or infinite samples: re-export it.")
    peak = float(np.max(np.abs(samples))) if samples.size else 0.0
    if peak > MAX_ABS_SAMPLE:
        raise AudioLoadError(
            f"Audio file {path} has samples up to {peak:.3g} (full scale is 1.0): it is not a usable recording "
            "(a wrong gain or a broken export); normalise or re-export it."
        )


def load_audio(path: str | os.PathLike) -> Audio:
    """Read an audio file at its own rate and channel count, as float32 ``(channels, n)``.

    A header that declares far more samples than the file can hold is not trusted: such a file is read
    block by block (:data:`READ_WHOLE_BYTES`), so only the samples really there take memory.

    :raises AudioLoadError: the file is missing, empty, unreadable, has no samples, contains
        non-finite or absurdly large values (:func:`check_samples`), has a sample rate outside 8-192 kHz, or
        does not fit in memory. The message names the file.
    """
    path = Path(path)
    if not path.is_file():
        raise AudioLoadError(f"Audio file {path} does not exist (or is not a file).")
    size = path.stat().st_size
    if size == 0:
        raise AudioLoadError(f"Audio file {path} is empty (0 bytes): re-export or remove it.")
    sample_rate = frames = 0
    try:
        with sf.SoundFile(str(path)) as fh:
            sample_rate, channels, frames = int(fh.samplerate), int(fh.channels), int(fh.frames)
            _check_rate(path, sample_rate)
            if frames * channels * 4 > max(READ_WHOLE_BYTES, 32 * size):
                blocks = list(fh.blocks(blocksize=1 << 16, dtype="float32", always_2d=True))
                data = np.concatenate(blocks) if blocks else np.zeros((0, channels), np.float32)
            else:
                data = fh.read(dtype="float32", always_2d=True)
    except AudioLoadError:
        raise
    except MemoryError as exc:
        raise AudioLoadError(
            f"Audio file {path} is too long to load into memory ({frames / max(sample_rate, 1) / 3600:.1f} h "
            "declared): split it into shorter recordings."
        ) from exc
    except (sf.LibsndfileError, RuntimeError, TypeError, ValueError, OverflowError) as exc:
        raise _decode_error(path, exc) from exc
    if data.shape[0] == 0:
        raise AudioLoadError(f"Audio file {path} holds no samples: re-export or remove it.")
    check_samples(path, data)
    return Audio(np.ascontiguousarray(data.T), int(sample_rate), path)


def audio_extent(path: str | os.PathLike) -> tuple[int, int]:
    """``(sample_rate, n_samples)`` of an audio file from its header, without decoding it.

    :raises AudioLoadError: the file is missing or unreadable (the message names it).
    """
    try:
        info = sf.info(str(path))
    except (sf.LibsndfileError, RuntimeError, TypeError, ValueError) as exc:
        raise AudioLoadError(f"Cannot read the header of audio file {path}: {str(exc).rstrip('.')}.") from exc
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
    _check_rate(path, sample_rate)
    stream = None
    if sample_rate != params.sample_rate:
        stream = soxr.ResampleStream(sample_rate, params.sample_rate, 1, dtype="float32", quality="HQ")
    blocksize = max(int(block_seconds * sample_rate), 1)
    try:
        for block in sf.blocks(str(path), blocksize=blocksize, dtype="float32", always_2d=True):
            check_samples(path, block)
            mono = block.mean(axis=1, dtype=np.float32)
            yield mono if stream is None else stream.resample_chunk(mono)
    except (sf.LibsndfileError, RuntimeError, TypeError, ValueError) as exc:
        raise _decode_error(path, exc) from exc
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
        try:
            sf.write(tmp, data, sample_rate, subtype=subtype)
        except sf.LibsndfileError as exc:  # libsndfile says "System error." for a full disk: give the OS's reason
            raise _os_error(tmp, data.nbytes, exc) from exc
    return path


def _os_error(path: Path, nbytes: int, exc: Exception) -> OSError:
    """The :class:`OSError` behind a failed libsndfile write of ``nbytes`` to ``path``: ``ENOSPC`` when its
    file system has less room than that left, else ``EIO`` with libsndfile's message
    (:func:`editor_env.io.atomic_path` turns a full disk into an error naming the folder)."""
    import errno

    try:
        stat = os.statvfs(path.parent)
        free = stat.f_bavail * stat.f_frsize
    except (OSError, AttributeError):
        free = None
    if free is not None and free < nbytes:
        return OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(path))
    return OSError(errno.EIO, f"cannot write audio ({exc})", str(path))


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

"""Per-beat feature vectors (121 values a beat) and the one table that names every dimension.

:func:`analyze_signal` is the whole analysis of one recording: one STFT reused for the mel,
the spectral shape, MFCCs, chroma and onset strength; beats; then frame features averaged
over each beat.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from editor_env.beats import BeatGrid, track_beats
from editor_env.params import DEFAULT_PARAMS, AudioParams

N_STEMS = 4
STEM_NAMES = ("drums", "bass", "vocals", "other")

#: ``(group, size, meaning)`` for every block of the beat feature vector, in order.
#: Levels are in dB relative to full scale divided by 80, so they lie roughly in [-1, 0].
FEATURE_GROUPS: tuple[tuple[str, int, str], ...] = (
    ("rms_db_mean", 1, "mean frame RMS level over the beat, dBFS / 80"),
    ("rms_db_std", 1, "standard deviation of the frame RMS level, dB / 80"),
    ("rms_db_max", 1, "loudest frame RMS level, dBFS / 80"),
    ("silence_fraction", 1, "fraction of frames quieter than -60 dBFS"),
    ("spectral_centroid", 1, "log2 of the mean spectral centroid in Hz, / 14"),
    ("spectral_bandwidth", 1, "log2 of the mean spectral bandwidth in Hz, / 14"),
    ("spectral_rolloff", 1, "log2 of the mean 85% roll-off frequency in Hz, / 14"),
    ("spectral_flatness", 1, "mean spectral flatness in [0, 1] (1 = noise-like)"),
    ("zero_crossing_rate", 1, "mean zero-crossing rate per sample"),
    ("spectral_contrast", 7, "mean spectral contrast in 7 octave bands, dB / 50"),
    ("mfcc_mean", 20, "mean of MFCCs 0-19 (from the log mel), / 100"),
    ("mfcc_std", 20, "standard deviation of MFCCs 0-19 over the beat, / 100"),
    ("chroma", 12, "mean chroma C..B, each frame normalised to max 1"),
    ("tonnetz", 6, "mean tonal centroid (fifths, minor thirds, major thirds; x, y)"),
    ("mel_band", 32, "mean normalised mel in 32 bands of 4 mel bins, in [0, 1]"),
    ("onset_mean", 1, "mean onset strength over the beat, / 10"),
    ("onset_max", 1, "peak onset strength over the beat, / 10"),
    ("novelty", 1, "cosine distance of this beat's mean MFCC 1-19 to the previous beat's"),
    ("bar_position", 4, "one-hot position in the 4/4 bar (first = downbeat)"),
    ("beat_duration", 1, "beat length in seconds"),
    ("local_tempo", 1, "60 / beat_duration in BPM, / 200"),
    ("song_position", 1, "beat onset / recording duration, in [0, 1]"),
    ("stem_energy", 4, "RMS level of drums, bass, vocals, other over the beat, dBFS / 80"),
    ("stems_available", 1, "1 when stem energies come from separated stems, else 0"),
)


def _feature_names() -> tuple[str, ...]:
    names = []
    for group, size, _ in FEATURE_GROUPS:
        names.extend([group] if size == 1 else [f"{group}_{i:02d}" for i in range(size)])
    return tuple(names)


FEATURE_NAMES: tuple[str, ...] = _feature_names()
N_BEAT_FEATURES = len(FEATURE_NAMES)
assert N_BEAT_FEATURES == 121, N_BEAT_FEATURES


def feature_slice(group: str) -> slice:
    """Columns of ``group`` (a name from :data:`FEATURE_GROUPS`) in the feature vector."""
    start = 0
    for name, size, _ in FEATURE_GROUPS:
        if name == group:
            return slice(start, start + size)
        start += size
    raise KeyError(f"no feature group {group!r}; groups: {[g for g, _, _ in FEATURE_GROUPS]}")


@dataclasses.dataclass
class Analysis:
    """Everything the cache stores for one recording.

    :param mel: ``(n_mels, n_frames)`` float32 normalised mel in [0, 1].
    :param beats: the beat grid.
    :param features: ``(n_beats, 121)`` float32 beat features (:data:`FEATURE_NAMES`).
    :param duration: seconds of audio analysed.
    """

    mel: np.ndarray
    beats: BeatGrid
    features: np.ndarray
    duration: float


@dataclasses.dataclass
class FrameFeatures:
    """What the beat features are made of, frame by frame (centred frames at the analysis hop).

    Every value of frame ``f`` depends only on the samples around ``f * hop`` (one STFT window,
    and for the onset envelopes the three frames before), so a long recording can be analysed in
    chunks with a little context and the chunks concatenated (:meth:`concatenate`).

    :param mel: ``(n_mels, n_frames)`` float32 in [0, 1] (:func:`editor_env.audio.mel_spectrogram`).
    :param onset: ``(n_frames,)`` onset strength of the mel. :param bass: of its lowest eighth.
    :param chroma: ``(12, n_frames)``.
    :param rows: ``(d, n_frames)`` float32, the frame rows that beat statistics average (RMS dB,
        silence, centroid, bandwidth, roll-off, flatness, ZCR, contrast, MFCC, chroma, tonnetz, mel
        bands, onset); None when made with ``mel_only``.
    """

    mel: np.ndarray
    onset: np.ndarray | None = None
    bass: np.ndarray | None = None
    chroma: np.ndarray | None = None
    rows: np.ndarray | None = None

    @property
    def n_frames(self) -> int:
        return self.mel.shape[1]

    def frames(self, start: int, stop: int) -> FrameFeatures:
        """Frames ``[start, stop)``."""
        cut = lambda a: None if a is None else a[..., start:stop]  # noqa: E731
        return FrameFeatures(cut(self.mel), cut(self.onset), cut(self.bass), cut(self.chroma), cut(self.rows))

    @classmethod
    def concatenate(cls, parts: list[FrameFeatures]) -> FrameFeatures:
        join = lambda name: (
            None if getattr(parts[0], name) is None else np.concatenate([getattr(p, name) for p in parts], axis=-1)
        )  # noqa: E731,E501
        return cls(*(join(name) for name in ("mel", "onset", "bass", "chroma", "rows")))


def frame_features(y: np.ndarray, params: AudioParams = DEFAULT_PARAMS, *, mel_only: bool = False) -> FrameFeatures:
    """The per-frame part of :func:`analyze_signal` of a mono signal at ``params.sample_rate``."""
    import librosa

    from editor_env.audio import mel_spectrogram, stft_power

    sr, hop = params.sample_rate, params.hop_length
    power = stft_power(y, params)
    mel = mel_spectrogram(y, params, power=power)
    if mel_only:
        return FrameFeatures(mel)
    magnitude = np.sqrt(power)
    n_frames = power.shape[1]
    mel_db = mel * params.top_db - params.top_db

    onset = librosa.onset.onset_strength(S=mel_db, sr=sr, hop_length=hop)
    bass = librosa.onset.onset_strength(S=mel_db[: params.n_mels // 8], sr=sr, hop_length=hop)
    chroma = librosa.feature.chroma_stft(S=power, sr=sr, n_fft=params.n_fft, tuning=0.0)

    rms = _fit(librosa.feature.rms(y=y, frame_length=params.n_fft, hop_length=hop)[0], n_frames)
    rms_db = librosa.amplitude_to_db(np.maximum(rms, 1e-5), ref=1.0, top_db=None)
    freqs = {"sr": sr, "n_fft": params.n_fft}
    centroid = librosa.feature.spectral_centroid(S=magnitude, **freqs)[0]
    bandwidth = librosa.feature.spectral_bandwidth(S=magnitude, **freqs)[0]
    rolloff = librosa.feature.spectral_rolloff(S=magnitude, **freqs)[0]
    flatness = librosa.feature.spectral_flatness(S=magnitude)[0]
    contrast = librosa.feature.spectral_contrast(S=magnitude, **freqs)
    zcr = librosa.feature.zero_crossing_rate(y, frame_length=params.n_fft, hop_length=hop)[0][:n_frames]
    mfcc = librosa.feature.mfcc(S=mel_db, n_mfcc=params.n_mfcc)
    tonnetz = librosa.feature.tonnetz(chroma=chroma)
    mel_bands = mel[: (params.n_mels // 32) * 32].reshape(32, -1, n_frames).mean(axis=1)

    log_hz = lambda hz: np.log2(np.maximum(hz, 1.0)) / 14.0  # noqa: E731
    frame_rows = np.vstack(
        [
            rms_db / 80.0,
            (rms_db < -60).astype(np.float32),
            log_hz(centroid),
            log_hz(bandwidth),
            log_hz(rolloff),
            flatness,
            _fit(zcr, n_frames),
            contrast / 50.0,
            mfcc / 100.0,
            chroma,
            np.nan_to_num(tonnetz),
            mel_bands,
            onset[:n_frames] / 10.0,
        ]
    )
    return FrameFeatures(mel, onset, bass, chroma, frame_rows)


def analyze_signal(
    y: np.ndarray,
    params: AudioParams = DEFAULT_PARAMS,
    *,
    stem_energy_db: np.ndarray | None = None,
) -> Analysis:
    """Mel, beats and beat features of a mono signal at ``params.sample_rate``.

    :param y: ``(n_samples,)`` float32 mono audio at the analysis rate.
    :param stem_energy_db: optional ``(4, n_frames)`` frame RMS levels in dBFS of the drums,
        bass, vocals and other stems; without it the stem slots are 0 and the flag is 0.
    """
    return beat_analysis(frame_features(y, params), y.size / params.sample_rate, params, stem_energy_db=stem_energy_db)


def beat_analysis(
    frames: FrameFeatures,
    duration: float,
    params: AudioParams = DEFAULT_PARAMS,
    *,
    stem_energy_db: np.ndarray | None = None,
    tempo_bpm: float | None = None,
) -> Analysis:
    """Beats and beat features from :func:`frame_features` of a whole recording of ``duration`` seconds
    (``tempo_bpm``: the global tempo when already estimated, see :func:`editor_env.beats.track_beats`)."""
    mel, frame_rows, n_frames = frames.mel, frames.rows, frames.n_frames
    beats = track_beats(
        frames.onset,
        duration=duration,
        params=params,
        bass_envelope=frames.bass,
        chroma=frames.chroma,
        tempo_bpm=tempo_bpm,
    )
    starts = np.clip(beats.frames(params), 0, max(n_frames - 1, 0))
    starts = np.maximum.accumulate(starts)
    mean, std, peak = _beat_stats(frame_rows, starts)
    rows = {name: i for i, name in enumerate(["rms", "silence", "centroid", "bandwidth", "rolloff", "flatness", "zcr"])}
    c0 = len(rows)
    contrast_rows = slice(c0, c0 + 7)
    mfcc_rows = slice(c0 + 7, c0 + 7 + params.n_mfcc)
    chroma_rows = slice(mfcc_rows.stop, mfcc_rows.stop + 12)
    tonnetz_rows = slice(chroma_rows.stop, chroma_rows.stop + 6)
    mel_rows = slice(tonnetz_rows.stop, tonnetz_rows.stop + 32)
    onset_row = mel_rows.stop

    mfcc_mean = mean[mfcc_rows].T
    novelty = np.zeros(beats.n_beats)
    if beats.n_beats > 1:
        timbre = mfcc_mean[:, 1:]  # MFCC 0 is loudness; novelty is about timbre
        a, b = timbre[1:], timbre[:-1]
        cos = (a * b).sum(1) / np.maximum(np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1), 1e-8)
        novelty[1:] = 1.0 - cos
    bounds = np.append(beats.times, duration)
    beat_duration = np.maximum(np.diff(bounds), 1e-3)
    stems = np.zeros((beats.n_beats, N_STEMS))
    stems_flag = np.zeros(beats.n_beats)
    if stem_energy_db is not None:
        stems = _beat_stats(np.asarray(stem_energy_db)[:, :n_frames] / 80.0, starts)[0].T
        stems_flag[:] = 1.0

    blocks = {
        "rms_db_mean": mean[rows["rms"]],
        "rms_db_std": std[rows["rms"]],
        "rms_db_max": peak[rows["rms"]],
        "silence_fraction": mean[rows["silence"]],
        "spectral_centroid": mean[rows["centroid"]],
        "spectral_bandwidth": mean[rows["bandwidth"]],
        "spectral_rolloff": mean[rows["rolloff"]],
        "spectral_flatness": mean[rows["flatness"]],
        "zero_crossing_rate": mean[rows["zcr"]],
        "spectral_contrast": mean[contrast_rows].T,
        "mfcc_mean": mfcc_mean,
        "mfcc_std": std[mfcc_rows].T,
        "chroma": mean[chroma_rows].T,
        "tonnetz": mean[tonnetz_rows].T,
        "mel_band": mean[mel_rows].T,
        "onset_mean": mean[onset_row],
        "onset_max": peak[onset_row],
        "novelty": novelty,
        "bar_position": np.eye(4)[beats.bar_position % 4],
        "beat_duration": beat_duration,
        "local_tempo": 60.0 / beat_duration / 200.0,
        "song_position": beats.times / max(duration, 1e-9),
        "stem_energy": stems,
        "stems_available": stems_flag,
    }
    columns = [np.asarray(blocks[g], dtype=np.float64).reshape(beats.n_beats, size) for g, size, _ in FEATURE_GROUPS]
    features = np.nan_to_num(np.hstack(columns), nan=0.0, posinf=0.0, neginf=0.0).astype(np.float32)
    return Analysis(mel=mel, beats=beats, features=features, duration=duration)


def _fit(row: np.ndarray, n: int) -> np.ndarray:
    """Trim or edge-pad a frame row to ``n`` frames."""
    return row[:n] if row.size >= n else np.pad(row, (0, n - row.size), mode="edge")


def _beat_stats(rows: np.ndarray, starts: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Mean, std and max of ``rows (d, n_frames)`` over frame spans starting at ``starts``.

    Span ``i`` is ``[starts[i], starts[i+1])``; the last runs to the end. An empty span (two
    beats in one frame) takes the single frame at its start. Returns three ``(d, n_beats)``.
    """
    n_frames = rows.shape[1]
    ends = np.append(starts[1:], n_frames)
    ends = np.maximum(ends, np.minimum(starts + 1, n_frames))
    counts = (ends - starts)[None, :].astype(np.float64)
    csum = np.concatenate([np.zeros((rows.shape[0], 1)), np.cumsum(rows, axis=1, dtype=np.float64)], axis=1)
    csq = np.concatenate([np.zeros((rows.shape[0], 1)), np.cumsum(rows.astype(np.float64) ** 2, axis=1)], axis=1)
    mean = (csum[:, ends] - csum[:, starts]) / counts
    var = np.maximum((csq[:, ends] - csq[:, starts]) / counts - mean**2, 0.0)
    peak = np.maximum.reduceat(rows, starts, axis=1) if starts.size else np.zeros_like(mean)
    return mean, np.sqrt(var), peak

"""Align a raw recording and its edited version: pointers, per-frame edit ops and confidence.

An edit made of copies of the raw (cuts, loops, reorders, with crossfades, fades, gain and light
EQ) is explained, frame by frame, by *where in the raw each edit frame came from*. Monotonic DTW
cannot express loops or reorders, so the alignment is found in four stages instead:

1. **Offset voting** (coarse, whole raw). Both recordings become gain-invariant log-mel frames
   (each frame centred over its bands and scaled to unit length, so gain changes and fades do
   not matter). The edit is cut into windows of ``AlignConfig.window_frames`` frames; every
   window is correlated with every raw position at once (a matrix product followed by sums
   along the diagonals of the frame-similarity matrix) and its ``n_candidates`` best raw
   offsets are kept. This finds where each part of the edit came from, wherever it lies.
2. **Candidate refinement** (sample level). Each candidate frame offset becomes an exact sample
   offset by FFT cross-correlation of the window's waveform with the raw around it. Exact
   copies correlate near 1 at one lag; a *re-played* section (the same riff played again)
   sounds alike in the mel but does not correlate sample by sample, so copies are told apart
   from repeats. The offset is found to a fraction of a sample: a copy that starts on a whole
   sample of a 48 kHz (44.1, 32 kHz) recording lies between two analysis samples, and without
   interpolation an exact copy there correlates less than a near copy on the grid (a loop-based
   song's next bar), which the path would then follow.
   Offsets that fit one window well are also tried on its neighbours (tracking), so a copy is
   not lost where a song repeats a section more often than there are candidates.
3. **Viterbi path** over edit frames. The states of a frame are the refined offsets of its
   window and the two windows beside it, plus a ``NEW`` state (material not in the raw). A
   frame's score for an offset is the normalised cross-correlation of its samples with the raw
   there (both pre-emphasised, so that bass lines do not make unrelated audio look alike);
   staying on an offset is free, changing it costs ``jump_cost``; ``NEW`` scores a constant
   ``new_score``. Frames too quiet to judge score the same for every state.
4. **Seams and effects** (sample level). Every change of offset is placed at the sample that
   best splits the two explanations (least squares of the edit against each gain-matched raw
   copy, found on the pre-emphasised signals and placed to the sample on the plain ones), at
   the recordings' own rate when edit and raw share it. Fades are fitted as the
   renderer's equal-power curves, level steps inside a continuous stretch split it, and each
   segment's gain and low/high shelf EQ are fitted to its level difference per mel band, so
   an EQ shelf does not pass for a gain change.

The result follows :meth:`editor_env.edl.EditList.to_pointers` and
:func:`editor_env.synth.ops_from_edl` exactly: pointer ``p[i]`` is the raw analysis frame that
plays at edit time ``i * hop / sr``; ``SKIP``/``LOOP`` mark the first frame after a forward or
backward jump (frame 0 is ``SKIP`` when the edit does not start at the raw's start), ``FADE`` the
frames inside fades and ``GAIN`` the frames of gain-changed segments; EQ and other effects are
``COPY``. Frames the raw cannot explain are ``NEW`` with pointer ``-1`` and confidence 0.

An edit that shares (almost) nothing with its raw raises :class:`MusicEditError`: a pointer file
is never written for it. :func:`save_alignment` also writes the raw's junk labels
(``{sample}_labels.json``, :mod:`editor_env.labels`): the raw spans the edit never plays.

**Memory.** The samples are only ever touched a window at a time (the correlations) or a chunk at
a time (features, pre-emphasis, decimation, per-frame energies, running sums whose every value
equals that of the whole array). :func:`align_files` therefore streams a pair longer than
:data:`STREAM_SECONDS`: the files are read block by block, the derived signals are written to
scratch files and read back window by window, so memory holds the voting features and the
decimated copies rather than the recordings (a 2-hour pair: see README, "Long recordings"). The
streamed path gives the in-memory path's result exactly (``tests/imitation_data/test_align.py``).
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
import math
import os
import time
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from editor_env.audio import Audio, analysis_signal
from editor_env.edl import EditList, Effects, Segment
from editor_env.errors import MusicEditError
from editor_env.ops import EditOp
from editor_env.params import DEFAULT_PARAMS, AudioParams

if TYPE_CHECKING:
    from editor_env.executor import Executor

METHOD = "offset voting + Viterbi over candidate offsets + sample-level seams"
ALIGN_VERSION = 2
"""Bumped whenever the same inputs and settings would give a different alignment."""
NO_POINTER = -1
"""Pointer value of ``NEW`` frames: they come from no raw frame."""
LONG_FRAMES = 430
"""Frames (about 10 s) over which a finished run's offset is measured again."""
PRE_EMPHASIS = 0.97
"""Coefficient of the pre-emphasis applied before every waveform correlation."""
DECIMATION = 4
"""Decimation of the signals for the coarse lag search."""
EQ_THRESHOLD_DB = 1.5
"""Smallest shelf gain reported in a segment's effects."""
COARSE_PEAKS = 3
"""Peaks of the decimated correlation polished at the full rate."""
CARRY_NCC = 0.8
"""An offset that correlates this well with a window is tried on the windows beside it."""
CERTAIN_NCC = 0.97
"""A window explained this well by one offset needs no further search."""
STREAM_SECONDS = 20 * 60.0
""":func:`align_files` reads recordings longer than this (either of the two) block by block and
keeps their derived signals in scratch files rather than in memory."""
CHUNK_SAMPLES = 1 << 22
"""Samples per chunk of the streamed path's passes over a signal (190 s at 22,050 Hz)."""
MEL_BLOCK_FRAMES = 2048
"""Frames per block of the voting features' spectra."""
SPAN_FRAMES = 4096
"""Frames per piece of a span's per-frame correlation sums."""
REUSE_NCC = 0.9
"""A window reuses an offset found before (no new FFT search) only when it correlates this well:
in sustained sounds an offset one waveform period off still correlates well, but not this well."""
FRACTION_TAPS = 12
"""Taps of the Kaiser-windowed sinc that delays the raw by a fraction of a sample (β = 3: an
exact copy at a fractional offset then correlates above 0.999 on real music)."""
MIN_FRACTION = 0.05
"""A candidate offset's fractional part below this is taken as 0 (no interpolation)."""
FRACTION_FITS = 0.995
"""A whole-sample lag that correlates this well needs no fraction."""
FRACTION_GAIN = 0.01
"""A fraction is kept only when it raises the correlation by at least this much."""


@dataclasses.dataclass(frozen=True)
class AlignConfig:
    """Settings of :func:`align`. The defaults suit edits made in a DAW (copies, crossfades,
    fades, gain, light EQ); the units are analysis frames unless a name says otherwise."""

    n_mels: int = 32
    """Mel bands of the voting features (gain-invariant log-mel)."""
    n_fft: int = 1024
    """FFT size of those features (their frames stay on the analysis grid of ``hop_length``)."""
    window_frames: int = 32
    """Edit frames per voting window (32 frames = 0.74 s at the default parameters)."""
    n_candidates: int = 6
    """Raw offsets kept per window by the vote."""
    min_candidate_ncc: float = 0.15
    """A refined candidate whose waveform correlation over its window is below this is dropped."""
    jump_cost: float = 4.0
    """Viterbi cost of changing offset (in units of one frame's correlation score)."""
    new_score: float = 0.3
    """Viterbi score per frame of the ``NEW`` state: frames whose best copy correlates less than
    this for long enough are called new material."""
    silence_rms: float = 1e-4
    """Edit frames quieter than this RMS (-80 dBFS) carry no evidence: every state scores the
    same there and the path continues through them."""
    max_fade_s: float = 30.0
    """Longest fade looked for, seconds."""
    gain_threshold_db: float = 1.5
    """A segment whose level differs from the raw by at least this is labelled ``GAIN``."""
    min_gain_step_db: float = 1.0
    """A step of at least this in the level of a continuous stretch splits it in two segments."""
    min_aligned_fraction: float = 0.25
    """Raise :class:`MusicEditError` when less than this fraction of the edit's audible frames
    is found in the raw: the two files are not an edit and its raw."""

    def __post_init__(self) -> None:
        checks = {
            "n_mels": self.n_mels >= 8,
            "n_fft": self.n_fft >= 64,
            "window_frames": self.window_frames >= 4,
            "n_candidates": self.n_candidates >= 1,
            "min_candidate_ncc": -1.0 <= self.min_candidate_ncc < 1.0,
            "jump_cost": self.jump_cost >= 0,
            "new_score": -1.0 <= self.new_score <= 1.0,
            "silence_rms": self.silence_rms >= 0,
            "max_fade_s": self.max_fade_s >= 0,
            "gain_threshold_db": self.gain_threshold_db > 0,
            "min_gain_step_db": self.min_gain_step_db > 0,
            "min_aligned_fraction": 0.0 <= self.min_aligned_fraction <= 1.0,
        }
        for field, ok in checks.items():
            if not ok:
                raise MusicEditError(
                    f"AlignConfig.{field}={getattr(self, field)!r} makes no sense; "
                    f"the default is {getattr(AlignConfig, field)!r}."
                )

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def settings_hash(params: AudioParams = DEFAULT_PARAMS, config: AlignConfig | None = None) -> str:
    """Short stable hash of everything that shapes an alignment: analysis parameters, align
    settings and :data:`ALIGN_VERSION`. Alignments made with another hash are recomputed."""
    config = AlignConfig() if config is None else config
    text = json.dumps(
        {"params": params.to_dict(), "config": config.to_dict(), "version": ALIGN_VERSION}, sort_keys=True
    )
    return hashlib.sha256(text.encode()).hexdigest()[:16]


@dataclasses.dataclass
class AlignedSpan:
    """A stretch of the edit explained by one raw copy (or by nothing: new material).

    Positions are in samples at the *edit's* rate (``edit_*``) and the *raw's* rate (``raw_*``).
    """

    edit_start: int
    edit_end: int
    raw_start: int | None
    """Raw sample playing at ``edit_start``; ``None`` for new material."""
    effects: Effects = dataclasses.field(default_factory=Effects)
    """Estimated gain, fades and low/high shelf EQ (other effects are not estimated)."""
    confidence: float = 0.0
    """Median frame confidence over the span."""

    @property
    def is_new(self) -> bool:
        return self.raw_start is None

    def to_dict(self, edit_rate: int, raw_rate: int) -> dict[str, Any]:
        entry: dict[str, Any] = {
            "edit_start_s": round(self.edit_start / edit_rate, 6),
            "edit_end_s": round(self.edit_end / edit_rate, 6),
        }
        if self.raw_start is None:
            entry["new"] = True
        else:
            length = (self.edit_end - self.edit_start) * raw_rate / edit_rate
            entry["raw_start_s"] = round(self.raw_start / raw_rate, 6)
            entry["raw_end_s"] = round((self.raw_start + length) / raw_rate, 6)
            entry["effects"] = self.effects.to_dict()
        entry["confidence"] = round(float(self.confidence), 4)
        return entry


@dataclasses.dataclass
class Alignment:
    """The alignment of an edit against its raw recording.

    :param pointers: ``np.ndarray [shape=(edit_frames,), dtype=int64]``: the raw analysis frame
        playing at each edit analysis frame (``edit_frames = 1 + n // hop`` for ``n`` edit samples
        at the analysis rate, the edit's mel frame count); :data:`NO_POINTER` (-1) on ``NEW``
        frames.
    :param ops: ``np.ndarray [shape=(edit_frames,), dtype=int8]``: :class:`EditOp` per frame.
    :param confidence: ``np.ndarray [shape=(edit_frames,), dtype=float32]`` in [0, 1]: how well
        the raw copy explains the frame (waveform correlation); 0 on ``NEW`` frames; quiet frames
        take their segment's median.
    :param spans: the edit in order, as raw copies and new-material stretches.
    :param segments: the raw copies as an :class:`EditList` at the raw's own rate (new material
        left out; ``meta["edit_starts"]`` holds each segment's start in edit samples).
    :param info: JSON-able metadata: method, version, confidence, timings per stage, versions,
        parameters and their hash.
    """

    pointers: np.ndarray
    ops: np.ndarray
    confidence: np.ndarray
    spans: list[AlignedSpan]
    segments: EditList
    info: dict[str, Any]

    def __post_init__(self) -> None:
        n = self.pointers.shape
        if self.pointers.ndim != 1 or self.ops.shape != n or self.confidence.shape != n:
            raise MusicEditError("Alignment: pointers, ops and confidence must be 1-D arrays of one length.")


# --------------------------------------------------------------------------------------------
# Features
# --------------------------------------------------------------------------------------------
def _mel_db(y: _Track, params: AudioParams, n_mels: int, n_fft: int) -> np.ndarray:
    """Mel power in dB ``(n_mels, 1 + n // hop)`` float32 (no floor but -120 dB), from centred
    frames of ``n_fft`` samples (the frame grid does not depend on ``n_fft``).

    Computed :data:`MEL_BLOCK_FRAMES` frames at a time, each block from the samples under its
    frames (zeros beyond the signal, as centred frames see them), so that memory stays at one
    block's spectra and a recording gives the same features whether it is held in memory or
    read from disk (a matrix product over more columns sums in another order)."""
    import librosa

    hop = params.hop_length
    n_fft = max(n_fft, hop)
    fb = librosa.filters.mel(sr=params.sample_rate, n_fft=n_fft, n_mels=n_mels, norm=None).astype(np.float32)
    n_frames = 1 + y.n // hop
    out = np.empty((n_mels, n_frames), dtype=np.float32)
    for f0 in range(0, n_frames, MEL_BLOCK_FRAMES):
        f1 = min(f0 + MEL_BLOCK_FRAMES, n_frames)
        segment = y.read(f0 * hop - n_fft // 2, (f1 - 1) * hop + n_fft - n_fft // 2)
        spec = librosa.stft(segment, n_fft=n_fft, hop_length=hop, center=False)
        power = (np.abs(spec) ** 2 / (n_fft / 4) ** 2).astype(np.float32)
        out[:, f0:f1] = 10.0 * np.log10(fb @ power + 1e-12)
    return out


def _voting_features(mel_db: np.ndarray, floor_db: float = 80.0) -> np.ndarray:
    """Gain-invariant frame features: log-mel floored ``floor_db`` below the frame's loudest
    band, centred over bands and scaled to unit length ``(n_mels, n_frames)``."""
    feat = np.maximum(mel_db, mel_db.max(axis=0, keepdims=True) - floor_db)
    feat = feat - feat.mean(axis=0, keepdims=True)
    feat /= np.linalg.norm(feat, axis=0, keepdims=True) + 1e-6
    return np.ascontiguousarray(feat, dtype=np.float32)


def _vote(edit_feat: np.ndarray, raw_feat: np.ndarray, window: int, n_best: int) -> list[np.ndarray]:
    """Best raw offsets (raw frame - edit frame) of every edit window, best first.

    The similarity of window ``[a, a + W)`` with raw frames ``[t, t + W)`` is the mean of the
    frame similarities along that diagonal; all ``t`` at once by a skewed view of the window's
    similarity rows.
    """
    from numpy.lib.stride_tricks import as_strided
    from scipy.ndimage import maximum_filter1d

    n_edit, n_raw = edit_feat.shape[1], raw_feat.shape[1]
    pad = window  # raw starts from -pad: a window overlapping the raw's start still counts
    block = np.zeros((window, n_raw + 2 * pad), dtype=np.float32)
    out = []
    for a in range(0, n_edit, window):
        w = min(window, n_edit - a)
        np.matmul(edit_feat[:, a : a + w].T, raw_feat, out=block[:w, pad : pad + n_raw])
        # skew[j, k] = block[j, k + j] = sim(edit frame a + j, raw frame k + j - pad), so
        # summing over j scores the diagonal that starts at raw frame k - pad.
        skew = as_strided(
            block, shape=(w, n_raw + pad), strides=(block.strides[0] + block.strides[1], block.strides[1])
        )
        score = skew.sum(axis=0) / w
        peaks = np.flatnonzero(maximum_filter1d(score, 5, mode="constant", cval=-np.inf) == score)
        best = peaks[np.argsort(score[peaks])[::-1][:n_best]]
        out.append((best - pad - a).astype(np.int64))
    return out


# --------------------------------------------------------------------------------------------
# Sample-level helpers
# --------------------------------------------------------------------------------------------
def _emphasis(y: np.ndarray) -> np.ndarray:
    """Pre-emphasis ``y[n] - 0.97 y[n - 1]`` followed by ``[1, 1] / 2`` (a zero at Nyquist).

    The pre-emphasis flattens the spectrum of music, so correlations weigh all frequencies
    rather than the bass: two unrelated bass lines can correlate well over a few cycles, two
    unrelated whitened signals cannot. The smoothing keeps the top octave from dominating,
    where an offset half a sample off (a copy from a 44.1 kHz file seen at 22.05 kHz) would
    already decorrelate. Linear: gain and fades pass unchanged.
    """
    taps = np.convolve([1.0, -PRE_EMPHASIS], [0.5, 0.5]).astype(np.float32)
    return np.convolve(np.asarray(y, dtype=np.float32), taps)[: y.size]


class _Track:
    """A float32 signal read window by window: ``offset`` zeros, then ``n`` samples of data (an
    array in memory, or a raw float32 file on disk read with ``pread``, so that no more than the
    window read is ever resident), then zeros up to ``size``. Slicing (``x[a:b]``, ``a, b >= 0``)
    follows NumPy: it is clipped to ``[0, size)``."""

    dtype = np.dtype(np.float32)

    def __init__(
        self, data: np.ndarray | Path, n: int | None = None, *, offset: int = 0, size: int | None = None
    ) -> None:
        self.array = data if isinstance(data, np.ndarray) else None
        self.path = None if isinstance(data, np.ndarray) else Path(data)
        total = data.size if isinstance(data, np.ndarray) else self.path.stat().st_size // 4
        self.n = total if n is None else min(n, total)
        self.offset = offset
        self.size = offset + self.n if size is None else size
        self._fd: int | None = None

    def view(self, *, n: int | None = None, offset: int = 0, size: int | None = None) -> _Track:
        """The same data, with another padding (and at most ``n`` of its samples)."""
        return _Track(self.array if self.array is not None else self.path, n, offset=offset, size=size)

    def _data(self, a: int, b: int) -> np.ndarray:
        if self.array is not None:
            return self.array[a:b]
        if self._fd is None:
            self._fd = os.open(self.path, os.O_RDONLY)
        out = np.empty(b - a, dtype=np.float32)
        if out.size and os.preadv(self._fd, [out], 4 * a) != out.nbytes:
            raise MusicEditError(f"align: short read from the scratch file {self.path}")
        return out

    def read(self, lo: int, hi: int) -> np.ndarray:
        """Samples ``[lo, hi)`` with zeros outside the data (and outside ``[0, size)``)."""
        a, b = max(lo, self.offset, 0), min(hi, self.offset + self.n, self.size)
        if a == lo and b == hi:
            return self._data(a - self.offset, b - self.offset)
        out = np.zeros(max(hi - lo, 0), dtype=np.float32)
        if b > a:
            out[a - lo : b - lo] = self._data(a - self.offset, b - self.offset)
        return out

    def __getitem__(self, key: slice) -> np.ndarray:
        start = 0 if key.start is None else min(key.start, self.size)
        stop = self.size if key.stop is None else min(key.stop, self.size)
        return self.read(start, max(start, stop))

    def chunks(self, chunk: int) -> Iterator[tuple[int, int]]:
        """``[c0, c1)`` covering ``[0, size)``, ``chunk`` samples each."""
        for c0 in range(0, self.size, chunk):
            yield c0, min(c0 + chunk, self.size)

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    def __del__(self) -> None:
        self.close()


class _Store:
    """Where the derived signals of an alignment live: in memory (``folder`` None), or as raw
    float32 files in ``folder`` (the streamed path)."""

    def __init__(self, folder: Path | None) -> None:
        self.folder = folder
        self.tracks: list[_Track] = []

    def track(self, name: str, blocks: Iterable[np.ndarray]) -> _Track:
        """A track holding the concatenation of ``blocks`` (float32)."""
        if self.folder is None:
            parts = [np.asarray(b, dtype=np.float32) for b in blocks]
            data = parts[0] if len(parts) == 1 else np.concatenate(parts) if parts else np.zeros(0, np.float32)
            track = _Track(data)
        else:
            path = self.folder / f"{name}.f32"
            with open(path, "wb") as fh:
                for block in blocks:
                    np.asarray(block, dtype=np.float32).tofile(fh)
            track = _Track(path)
        self.tracks.append(track)
        return track

    def close(self) -> None:
        for track in self.tracks:
            track.close()


class _CumSum:
    """``concatenate([[0.0], cumsum(x.astype(float64) ** 2)])`` of a track, looked up without
    being stored: every ``step``-th value is kept and the others are summed again from the one
    before them, in the same order, so every value equals the full array's exactly."""

    def __init__(self, track: _Track, step: int = 4096, chunk: int | None = None) -> None:
        self.track, self.step = track, step
        chunk = track.n if chunk is None else max(chunk // step, 1) * step
        running, marks = 0.0, []
        for c0 in range(0, track.n, max(chunk, 1)):
            c1 = min(c0 + chunk, track.n)
            values = np.empty(c1 - c0 + 1)
            values[0] = running
            np.square(track._data(c0, c1), out=values[1:], dtype=np.float64)
            np.cumsum(values, out=values)
            marks.append(values[0 : c1 - c0 : step].copy())  # a copy: not a view keeping the chunk
            running = float(values[-1])
        if track.n % step == 0:
            marks.append(np.array([running]))
        self.marks = np.concatenate(marks) if marks else np.zeros(1)

    def _values(self, j: np.ndarray) -> np.ndarray:
        """Cumulative sums at data positions ``j`` (``0 <= j <= n``)."""
        if j.size == 0:
            return np.zeros(0)
        k = int(j.min()) // self.step
        a, b = k * self.step, int(j.max())
        x = self.track._data(a, b).astype(np.float64)
        values = np.cumsum(np.concatenate([[self.marks[k]], x * x]))
        return values[j - a]

    def __getitem__(self, key: int | slice | np.ndarray) -> float | np.ndarray:
        t = self.track
        if isinstance(key, slice):
            key = np.arange(key.start, key.stop)
        j = np.clip(np.asarray(key, dtype=np.int64) - t.offset, 0, t.n)
        if j.ndim == 0:
            return float(self._values(j.reshape(1))[0])
        return self._values(j)


def _emphasised(store: _Store, name: str, y: _Track, chunk: int | None) -> _Track:
    """:func:`_emphasis` of a track, chunk by chunk (equal to the one-piece result)."""
    chunk = y.n if chunk is None else chunk

    def blocks() -> Iterator[np.ndarray]:
        for c0 in range(0, y.n, max(chunk, 1)):
            lo = max(c0 - 2, 0)
            yield _emphasis(y._data(lo, min(c0 + chunk, y.n)))[c0 - lo :]

    return store.track(name, blocks())


def _decimated(y: _Track, dec: int, chunk: int | None) -> np.ndarray:
    """``resample_poly(y, 1, dec)`` of the whole (padded) track as float32, chunk by chunk
    (equal to the one-piece result: every output sample sees the same samples and taps)."""
    from scipy.signal import resample_poly

    if chunk is None:
        return resample_poly(y.read(0, y.size), 1, dec).astype(np.float32)
    chunk = max(chunk // dec, 1) * dec
    context = 64 * dec  # beyond the filter's 10 * dec + dec taps on either side
    out = np.empty(-(-y.size // dec), dtype=np.float32)
    for c0, c1 in y.chunks(chunk):
        s, e = max(0, c0 - context), min(y.size, c1 + context)
        part = resample_poly(y.read(s, e), 1, dec)
        a = (c0 - s) // dec
        out[c0 // dec : -(-c1 // dec)] = part[a : a + (-(-c1 // dec) - c0 // dec)]
    return out


def _block_energy(x: _Track, n_blocks: int, hop: int, chunk: int | None) -> np.ndarray:
    """Energy (float64) of blocks ``[i * hop, (i + 1) * hop)`` of a track, ``i < n_blocks``."""
    rows = n_blocks if chunk is None else max(chunk // hop, 1)
    out = np.empty(n_blocks, dtype=np.float64)
    for b0 in range(0, n_blocks, max(rows, 1)):
        b1 = min(b0 + rows, n_blocks)
        blocks = x.read(b0 * hop, b1 * hop).reshape(b1 - b0, hop)
        out[b0:b1] = np.einsum("ij,ij->i", blocks, blocks, dtype=np.float64)
    return out


class _Signals:
    """Pre-emphasised edit and raw mono signals at the analysis rate, zero-padded so that any
    block of the search lies inside, with per-frame energies and audibility.

    The signals are :class:`_Track` windows (in memory, or files read on demand) and the raw's
    cumulative energies :class:`_CumSum` look-ups, so memory does not grow with the recordings
    but for the decimated copies (a quarter of the samples) and per-frame values."""

    def __init__(
        self,
        y_edit: _Track,
        y_raw: _Track,
        e_edit: _Track,
        e_raw: _Track,
        hop: int,
        margin: int,
        silence_rms: float,
        chunk: int | None = None,
    ):
        """``y_*``: the analysis signals; ``e_*``: the same pre-emphasised (:func:`_emphasised`)."""
        self.hop = hop
        self.half = hop // 2
        self.n_edit, self.n_raw = y_edit.n, y_raw.n
        self.n_frames = 1 + y_edit.n // hop
        plain = y_edit.view(n=self.n_frames * hop - self.half, offset=self.half, size=self.n_frames * hop)
        level = _block_energy(plain, self.n_frames, hop, chunk)
        self.audible = level >= silence_rms**2 * hop
        """Frames loud enough to judge (plain signal: pre-emphasis would hide a bass line)."""
        # Decimated plain copies for the coarse lag search: decimated pre-emphasised audio would
        # hold most of its energy near the new Nyquist, where half a sample of lag decorrelates.
        self.dec = DECIMATION if hop % DECIMATION == 0 and margin % DECIMATION == 0 else 1
        self.margin = margin
        edit_size, raw_size = self.n_frames * hop + hop, y_raw.n + 2 * margin
        if self.dec > 1:
            self.edit_dec = _decimated(y_edit.view(offset=self.half, size=edit_size), self.dec, chunk)
            self.raw_dec = _decimated(y_raw.view(offset=margin, size=raw_size), self.dec, chunk)
        else:
            self.edit_dec = y_edit.view(offset=self.half, size=edit_size).read(0, edit_size)
            self.raw_dec = y_raw.view(offset=margin, size=raw_size).read(0, raw_size)
        # edit frame i's block: edit samples [i*hop - half, i*hop - half + hop)
        self.edit = e_edit.view(offset=self.half, size=edit_size)
        self.edit_energy = _block_energy(self.edit, self.n_frames, hop, chunk)
        self.raw = e_raw.view(offset=margin, size=raw_size)
        self.raw_cum = _CumSum(self.raw, chunk=chunk)
        self.raw_dec_cum = _CumSum(_Track(self.raw_dec), chunk=chunk)

    def edit_blocks(self, f0: int, f1: int) -> np.ndarray:
        """Edit frames ``[f0, f1)`` as blocks ``(f1 - f0, hop)``."""
        return self.edit[f0 * self.hop : f1 * self.hop].reshape(f1 - f0, self.hop)

    def raw_at(self, start: int, n: int, fraction: float) -> np.ndarray | None:
        """``n`` padded-raw samples from ``start + fraction`` (:func:`_delayed`: interpolated when
        ``fraction`` is not 0), or None when they fall outside the padded raw."""
        if fraction == 0.0:
            return None if start < 0 or start + n > self.raw.size else self.raw[start : start + n]
        lo, hi = start - FRACTION_TAPS // 2 + 1, start + n + FRACTION_TAPS // 2
        if lo < 0 or hi > self.raw.size:
            return None
        return _delayed(self.raw[lo:hi], fraction)

    def window_ncc(self, f0: int, f1: int, offset: float) -> float:
        """Normalised correlation of edit frames ``[f0, f1)`` with the raw at ``offset`` (analysis
        samples, a fraction of a sample included)."""
        whole, fraction = _split_offset(offset)
        x = self.edit[f0 * self.hop : f1 * self.hop]
        start = f0 * self.hop - self.half + whole + self.margin
        r = self.raw_at(start, x.size, fraction)
        if r is None:
            return -1.0
        if fraction == 0.0:
            energy = self.raw_cum[start + x.size] - self.raw_cum[start]
        else:
            energy = float(np.dot(r, r))
        edit_energy = float(self.edit_energy[f0:f1].sum())
        return float(np.dot(x, r)) / math.sqrt(edit_energy * energy + 1e-20)

    def frame_stats(self, f0: int, f1: int, offset: float) -> tuple[np.ndarray, np.ndarray, bool]:
        """Dot products and raw energies of edit frames ``[f0, f1)`` against the raw at ``offset``
        (analysis samples, a fraction included; ``(f1 - f0,)`` each); False when the raw blocks
        fall outside the padded raw."""
        hop = self.hop
        whole, fraction = _split_offset(offset)
        start = f0 * hop - self.half + whole + self.margin
        r = self.raw_at(start, (f1 - f0) * hop, fraction)
        if r is None:
            return np.zeros(f1 - f0), np.zeros(f1 - f0), False
        raw_blocks = r.reshape(f1 - f0, hop)
        dots = np.einsum("ij,ij->i", self.edit_blocks(f0, f1), raw_blocks, dtype=np.float64)
        if fraction == 0.0:
            cum = self.raw_cum[start + hop * np.arange(f1 - f0 + 1)]
            energy = cum[1:] - cum[:-1]
        else:
            energy = np.einsum("ij,ij->i", raw_blocks, raw_blocks, dtype=np.float64)
        return dots, energy, True


def _split_offset(offset: float) -> tuple[int, float]:
    """Whole samples and fraction (``|fraction| <= 0.5``, 0 below :data:`MIN_FRACTION`) of an offset."""
    whole = int(round(offset))
    fraction = float(offset - whole)
    return whole, (fraction if abs(fraction) >= MIN_FRACTION else 0.0)


@functools.lru_cache(maxsize=1024)
def _fraction_taps(fraction: float) -> np.ndarray:
    """Kaiser-windowed sinc of :data:`FRACTION_TAPS` taps (unit sum) at delays ``k - fraction``,
    ``k = -T/2 + 1 ... T/2``: :func:`_delayed` reads a band-limited signal ``fraction`` of a
    sample later."""
    k = np.arange(-(FRACTION_TAPS // 2) + 1, FRACTION_TAPS // 2 + 1)
    taps = np.sinc(k - fraction) * np.kaiser(FRACTION_TAPS, 3.0)
    return taps / taps.sum()


def _delayed(block: np.ndarray, fraction: float) -> np.ndarray:
    """``x(n + fraction)`` for the ``block.size - FRACTION_TAPS + 1`` samples ``n`` of ``block``
    from its ``FRACTION_TAPS // 2 - 1``-th on (``y[n] = sum_k taps[k] x[n + k]``).

    Both recordings are resampled to the analysis rate, so a copy that starts on a whole sample
    of a 48 kHz (or 44.1 kHz, 32 kHz) raw starts between two analysis samples: compared without
    interpolation, an exact copy half a sample off correlates only about 0.9 per frame
    (pre-emphasised audio is bright), less than another, merely similar, loop of the song."""
    return np.convolve(block.astype(np.float64), _fraction_taps(round(fraction, 4))[::-1], mode="valid")


def _ncc(dots: np.ndarray, edit_energy: np.ndarray, raw_energy: np.ndarray) -> np.ndarray:
    return dots / np.sqrt(edit_energy * raw_energy + 1e-20)


def _refine_offset(sig: _Signals, f0: int, f1: int, guess: float, radius: int) -> tuple[float, float]:
    """Offset in ``guess ± radius`` (analysis samples, to a fraction of a sample) where edit
    frames ``[f0, f1)`` correlate best with the raw, and that normalised correlation: FFT
    cross-correlation of the decimated signals, then the full-rate lags around the best
    decimated one on (up to 8192 samples of) the middle of the frames, then the fraction of a
    sample (:func:`_fraction`)."""
    import scipy.fft

    hop, dec = sig.hop, sig.dec
    guess = int(round(guess))
    x = sig.edit_dec[f0 * hop // dec : f1 * hop // dec]
    base = (f0 * hop - sig.half + sig.margin) // dec  # decimated raw index of offset 0
    lo = base + (guess - radius) // dec
    n_lags = (2 * radius) // dec + 2
    if lo < 0 or lo + x.size + n_lags > sig.raw_dec.size:
        return guess, -1.0
    y = sig.raw_dec[lo : lo + x.size + n_lags]
    n = scipy.fft.next_fast_len(y.size, real=True)
    corr = scipy.fft.irfft(np.conj(scipy.fft.rfft(x, n)) * scipy.fft.rfft(y, n), n)[:n_lags]
    energy = sig.raw_dec_cum[lo + x.size : lo + x.size + n_lags] - sig.raw_dec_cum[lo : lo + n_lags]
    ncc = corr / np.sqrt(energy + 1e-20)
    mid, half = (f0 + f1) * hop // 2, min((f1 - f0) * hop, 8192) // 2
    xf = sig.edit[mid - half : mid + half]
    start = mid - half - sig.half + sig.margin
    if dec == 1:
        best = lo - base + int(np.argmax(ncc))
        offset = best + _fraction(sig, xf, start + best)
        return offset, sig.window_ncc(f0, f1, offset)
    # The best few decimated peaks, each polished at the full rate: in sustained sounds the
    # decimated correlation can prefer a lag a waveform period away from the exact one.
    inner = ncc[1:-1]
    peaks = np.flatnonzero((inner >= ncc[:-2]) & (inner >= ncc[2:])) + 1
    if peaks.size == 0:
        peaks = np.array([int(np.argmax(ncc))])
    peaks = peaks[np.argsort(ncc[peaks])[::-1][:COARSE_PEAKS]]
    best, best_value = (lo - base + int(peaks[0])) * dec, -np.inf
    for peak in peaks:
        coarse = (lo - base + int(peak)) * dec
        for lag in range(coarse - dec - 1, coarse + dec + 2):
            if abs(lag - guess) > radius or start + lag < 0 or start + lag + xf.size > sig.raw.size:
                continue
            r = sig.raw[start + lag : start + lag + xf.size]
            energy_r = sig.raw_cum[start + lag + xf.size] - sig.raw_cum[start + lag]
            value = float(np.dot(xf, r)) / math.sqrt(energy_r + 1e-20)
            if value > best_value:
                best, best_value = lag, value
    offset = best + _fraction(sig, xf, start + best)
    return offset, sig.window_ncc(f0, f1, offset)


def _fraction(sig: _Signals, x: np.ndarray, start: int) -> float:
    """Fraction of a sample (in [-0.5, 0.5]) to add to the whole-sample lag where ``x`` best
    matches the padded raw from ``start``: the correlation at fractions -0.5 ... 0.5 in steps of
    0.25 (:func:`_delayed`), and the vertex of the parabola through the best and its neighbours.

    0 when the whole-sample lag already fits (correlation :data:`FRACTION_FITS`) or when no
    fraction fits better by :data:`FRACTION_GAIN`: only an exact copy gains from interpolation,
    a merely similar passage does not, and is then scored without it (faster)."""
    grid = np.linspace(-0.5, 0.5, 5)
    values = np.full(grid.size, -np.inf)
    for k in (2, 0, 1, 3, 4):  # the whole-sample lag first
        r = sig.raw_at(start, x.size, float(grid[k]))
        if r is not None:
            values[k] = float(np.dot(x, r)) / math.sqrt(float(np.dot(x, x) * np.dot(r, r)) + 1e-20)
        if k == 2 and values[k] >= FRACTION_FITS:
            return 0.0
    k = int(np.argmax(values))
    if not np.isfinite(values[k]) or values[k] < values[2] + FRACTION_GAIN:
        return 0.0
    if 0 < k < grid.size - 1 and np.isfinite(values[k - 1]) and np.isfinite(values[k + 1]):
        a, b, c = values[k - 1], values[k], values[k + 1]
        curvature = a - 2 * b + c
        step = 0.5 * (a - c) / curvature if curvature < 0 else 0.0
        return float(grid[k] + 0.25 * min(max(step, -0.5), 0.5))
    return float(grid[k])


# --------------------------------------------------------------------------------------------
# The alignment
# --------------------------------------------------------------------------------------------
def align(
    raw: Audio, edit: Audio, *, params: AudioParams = DEFAULT_PARAMS, config: AlignConfig | None = None
) -> Alignment:
    """Align an edited recording against the raw recording it was made from.

    Parameters
    ----------
    raw : Audio
        The raw recording (any rate, any channels).
    edit : Audio
        The edited version: copies of the raw with crossfades, fades, gain, light effects, and
        possibly material that is not in the raw.
    params : AudioParams
        Analysis parameters: pointers and ops are on their frame grid.
    config : AlignConfig
        Alignment settings (default ``AlignConfig()``).

    Returns
    -------
    Alignment
        ``pointers``, ``ops`` and ``confidence`` per edit analysis frame, the spans and EDL,
        and ``info`` (see :class:`Alignment`).

    Raises
    ------
    MusicEditError
        Less than ``config.min_aligned_fraction`` of the edit's audible frames is found in the
        raw (the files are not an edit and its raw), or a recording is empty.
    """
    if raw.n_samples == 0 or edit.n_samples == 0:
        raise MusicEditError("align: the raw and the edit must both hold samples.")
    return _align_recordings(
        _Recording.from_audio(raw, params), _Recording.from_audio(edit, params), params, config, folder=None
    )


@dataclasses.dataclass
class _Recording:
    """What the alignment reads of a recording: its extent, and its mono samples block by block
    (at the analysis rate, and at its own rate), from memory or from its file."""

    sample_rate: int
    n_samples: int
    path: Path | None
    analysis_blocks: Callable[[], Iterable[np.ndarray]]
    own_blocks: Callable[[], Iterable[np.ndarray]]

    @property
    def duration(self) -> float:
        return self.n_samples / self.sample_rate

    @classmethod
    def from_audio(cls, audio: Audio, params: AudioParams) -> _Recording:
        return cls(
            audio.sample_rate,
            audio.n_samples,
            audio.path,
            lambda: [analysis_signal(audio, params)],
            lambda: [audio.mono()],
        )

    @classmethod
    def from_file(cls, path: Path, params: AudioParams, block_seconds: float = 60.0) -> _Recording:
        """Read block by block (:func:`editor_env.audio.stream_analysis_signal`): a resampled
        recording equals its one-shot resampling within float rounding, one at the analysis
        rate is read exactly."""
        import soundfile as sf

        from editor_env.audio import audio_extent, load_audio, stream_analysis_signal

        path = Path(path)
        if not path.is_file() or path.stat().st_size == 0:
            load_audio(path)  # raises the missing / empty file's error
        sample_rate, n_samples = audio_extent(path)
        if n_samples == 0:
            load_audio(path)  # raises "holds no samples"

        def own() -> Iterator[np.ndarray]:
            size = max(int(block_seconds * sample_rate), 1)
            for block in sf.blocks(str(path), blocksize=size, dtype="float32", always_2d=True):
                yield block.mean(axis=1, dtype=np.float32)

        return cls(
            sample_rate,
            n_samples,
            path,
            lambda: stream_analysis_signal(path, params, block_seconds=block_seconds),
            own,
        )


def _align_recordings(
    raw: _Recording,
    edit: _Recording,
    params: AudioParams,
    config: AlignConfig | None,
    *,
    folder: Path | None,
    chunk: int | None = None,
) -> Alignment:
    """:func:`align` of two recordings; the derived signals live in memory (``folder`` None,
    every pass in one piece) or in scratch files in ``folder`` (passes of ``chunk`` samples)."""
    store = _Store(folder)
    try:
        return _align_stored(raw, edit, params, config, store, chunk)
    finally:
        store.close()


def _align_stored(
    raw: _Recording, edit: _Recording, params: AudioParams, config: AlignConfig | None, store: _Store, chunk: int | None
) -> Alignment:
    config = AlignConfig() if config is None else config
    timings: dict[str, float] = {}
    clock = time.perf_counter()

    def lap(name: str) -> None:
        nonlocal clock
        now = time.perf_counter()
        timings[name] = round(now - clock, 4)
        clock = now

    hop, sr_a = params.hop_length, params.sample_rate
    y_raw = store.track("raw", raw.analysis_blocks())
    y_edit = store.track("edit", edit.analysis_blocks())
    for name, audio, y in (("raw recording", raw, y_raw), ("edit", edit, y_edit)):
        if not _peak(y, chunk) > config.silence_rms:
            where = f" {audio.path}" if audio.path else ""
            raise MusicEditError(
                f"The {name}{where} is silent (no sample above {config.silence_rms:g}): nothing to align."
            )
    e_raw = _emphasised(store, "raw_emphasised", y_raw, chunk)
    e_edit = _emphasised(store, "edit_emphasised", y_edit, chunk)
    lap("resample")

    raw_db = _mel_db(y_raw, params, config.n_mels, config.n_fft)
    edit_db = _mel_db(y_edit, params, config.n_mels, config.n_fft)
    n_edit, n_raw = edit_db.shape[1], raw_db.shape[1]
    lap("features")

    window = min(config.window_frames, n_edit)
    votes = _vote(_voting_features(edit_db), _voting_features(raw_db), window, config.n_candidates)
    lap("vote")

    margin = (window + 4) * hop
    sig = _Signals(y_edit, y_raw, e_edit, e_raw, hop, margin, config.silence_rms, chunk)
    offsets, window_states = _candidate_offsets(sig, votes, window, config)
    lap("refine")

    path = _viterbi(sig, offsets, window_states, window, config)
    lap("viterbi")

    aligned_fraction = float(((path >= 0) & sig.audible).sum() / max(sig.audible.sum(), 1))
    if aligned_fraction < config.min_aligned_fraction:
        raise MusicEditError(
            f"The edit{f' {edit.path}' if edit.path else ''} shares almost nothing with the raw "
            f"recording{f' {raw.path}' if raw.path else ''}: only {100 * aligned_fraction:.1f}% of its audible "
            f"frames were found in the raw (at least {100 * config.min_aligned_fraction:.0f}% needed). "
            "Check that the pair belongs together (same sample name, not another song's edit)."
        )

    # Work at the recordings' own rate when they share it: seams to the sample there.
    # (At the analysis rate the analysis signals are the recordings' own mono samples.)
    work_rate, work_edit, work_raw, plain = sr_a, e_edit, e_raw, (y_edit, y_raw)
    if raw.sample_rate == edit.sample_rate != sr_a:
        work_rate = raw.sample_rate
        plain = (store.track("edit_own_plain", edit.own_blocks()), store.track("raw_own_plain", raw.own_blocks()))
        work_edit = _emphasised(store, "edit_own", plain[0], chunk)
        work_raw = _emphasised(store, "raw_own", plain[1], chunk)
    work_spans = _spans_from_path(path, offsets, sig, work_edit, work_raw, work_rate, sr_a, plain)
    lap("seams")

    work_spans = _estimate_effects(work_spans, sig, edit_db, raw_db, work_edit, work_raw, work_rate, params, config)
    lap("effects")

    pointers, ops, confidence = _labels(work_spans, sig, work_edit, work_raw, n_raw, work_rate, params, config)
    spans = _output_spans(work_spans, work_rate, edit.sample_rate, raw.sample_rate)
    segments = _edit_list(spans, raw, edit.sample_rate)
    lap("labels")

    timings["total"] = round(sum(timings.values()), 4)
    new_frames = ops == EditOp.NEW
    info = {
        "method": METHOD,
        "align_version": ALIGN_VERSION,
        "confidence": round(float(confidence[~new_frames].mean()) if (~new_frames).any() else 0.0, 4),
        "min_span_confidence": round(min((s.confidence for s in spans if not s.is_new), default=0.0), 4),
        "aligned_fraction": round(aligned_fraction, 4),
        "new_fraction": round(float(new_frames.mean()), 4),
        "edit_frames": int(n_edit),
        "raw_frames": int(n_raw),
        "n_segments": len(segments.segments),
        "n_candidates_found": len(offsets),
        "op_counts": {op.name: int((ops == op).sum()) for op in EditOp},
        "raw_sample_rate": raw.sample_rate,
        "edit_sample_rate": edit.sample_rate,
        "raw_duration_s": round(raw.duration, 6),
        "edit_duration_s": round(edit.duration, 6),
        "spans": [s.to_dict(edit.sample_rate, raw.sample_rate) for s in spans],
        "timings_s": timings,
        "versions": _versions(),
        "params": params.to_dict(),
        "config": config.to_dict(),
        "params_hash": settings_hash(params, config),
    }
    return Alignment(pointers, ops, confidence, spans, segments, info)


def _peak(y: _Track, chunk: int | None) -> float:
    """Largest absolute sample of a track."""
    chunk = max(y.n if chunk is None else chunk, 1)
    return max(
        (float(np.abs(y._data(c0, min(c0 + chunk, y.n))).max(initial=0.0)) for c0 in range(0, y.n, chunk)), default=0.0
    )


def _candidate_offsets(
    sig: _Signals, votes: list[np.ndarray], window: int, config: AlignConfig
) -> tuple[list[float], list[list[int]]]:
    """Exact offsets of every window's candidates: the distinct offsets found (analysis samples,
    raw sample - edit sample, to a fraction of a sample) and, per window, the ids of those that
    fit it.

    Offsets are *tracked* too: one that correlates at least :data:`CARRY_NCC` with a window is
    tried on the windows beside it (forwards, then backwards), so a copy stays a candidate
    through windows whose vote it did not win (a song that repeats a section many times).
    Once a window has an offset that fits it to :data:`CERTAIN_NCC`, its remaining vote
    candidates are only matched to offsets already known (no new search).
    """
    hop, radius, n_frames = sig.hop, 3 * sig.hop // 2, sig.n_frames
    offsets: list[float] = []
    scores: list[dict[int, float]] = []
    carried: list[int] = []
    for a, cands in enumerate(votes):
        f0, f1 = a * window, min((a + 1) * window, n_frames)
        scored = {sid: sig.window_ncc(f0, f1, offsets[sid]) for sid in carried}
        certain = max(scored.values(), default=-1.0) >= CERTAIN_NCC
        for d in cands:
            guess = int(d) * hop
            best_ncc = -np.inf
            for sid in _near(offsets, guess, radius):  # an offset found before
                if sid not in scored:
                    scored[sid] = sig.window_ncc(f0, f1, offsets[sid])
                best_ncc = max(best_ncc, scored[sid])
            if best_ncc < REUSE_NCC and not certain:
                offset, value = _refine_offset(sig, f0, f1, guess, radius)
                if value >= config.min_candidate_ncc:
                    near = _near(offsets, offset, 0.5)  # the same copy, to half a sample
                    if near:
                        sid = near[0]
                    else:
                        offsets.append(offset)
                        sid = len(offsets) - 1
                    scored[sid] = max(scored.get(sid, -1.0), value)
            certain = certain or max(scored.values(), default=-1.0) >= CERTAIN_NCC
        scores.append(scored)
        carried = [sid for sid, value in scored.items() if value >= CARRY_NCC]
    for a in range(len(votes) - 2, -1, -1):  # backwards: a copy found late is tried earlier
        f0, f1 = a * window, min((a + 1) * window, n_frames)
        for sid, value in list(scores[a + 1].items()):
            if value >= CARRY_NCC and sid not in scores[a]:
                scores[a][sid] = sig.window_ncc(f0, f1, offsets[sid])
    keep = config.n_candidates + 2
    window_states = [
        [
            sid
            for sid, value in sorted(scored.items(), key=lambda kv: -kv[1])[:keep]
            if value >= config.min_candidate_ncc
        ]
        for scored in scores
    ]
    return offsets, window_states


def _near(offsets: list[float], value: float, radius: float) -> list[int]:
    """Ids of known offsets within ``radius`` samples of ``value``, nearest first."""
    if not offsets:
        return []
    arr = np.asarray(offsets)
    dist = np.abs(arr - value)
    ids = np.flatnonzero(dist <= radius)
    return [int(i) for i in ids[np.argsort(dist[ids])]]


def _viterbi(
    sig: _Signals, offsets: list[float], window_states: list[list[int]], window: int, config: AlignConfig
) -> np.ndarray:
    """Best path of offset ids over edit frames (-1 = new material)."""
    n_frames, n_windows = sig.n_frames, len(window_states)
    new_id = len(offsets)
    silent = ~sig.audible
    value = np.zeros(new_id + 1)
    history = []
    for a in range(n_windows):
        f0, f1 = a * window, min((a + 1) * window, n_frames)
        ids = sorted({s for b in (a - 1, a, a + 1) if 0 <= b < n_windows for s in window_states[b]})
        ids_arr = np.array([*ids, new_id], dtype=np.int64)
        scores = np.full((f1 - f0, ids_arr.size), config.new_score, dtype=np.float64)
        for j, sid in enumerate(ids):
            dots, energy, ok = sig.frame_stats(f0, f1, offsets[sid])
            ncc = _ncc(dots, sig.edit_energy[f0:f1], energy) if ok else np.full(f1 - f0, -1.0)
            ncc = np.where(energy > 1e-12, ncc, -1.0)  # outside the raw or digital silence there
            scores[:, j] = ncc
        scores[silent[f0:f1]] = config.new_score
        v = value[ids_arr] if a > 0 else np.zeros(ids_arr.size)
        if a > 0:  # states new to this window may only be entered by a jump
            prev = set(history[-1][0].tolist())
            fresh = np.array([s not in prev for s in ids_arr])
            v = np.where(fresh, -np.inf, v)
            best_prev = value[history[-1][0]].max()
        else:
            best_prev = 0.0 + config.jump_cost  # the first frame starts anywhere for free
        stay_rows = np.zeros((f1 - f0, ids_arr.size), dtype=bool)
        jump_from = np.zeros(f1 - f0, dtype=np.int64)
        prev_ids = history[-1][0] if a > 0 else ids_arr
        prev_arg = int(prev_ids[np.argmax(value[prev_ids])]) if a > 0 else new_id
        for j in range(f1 - f0):
            jump = best_prev - config.jump_cost
            stay = v >= jump
            v = scores[j] + np.where(stay, v, jump)
            stay_rows[j] = stay
            jump_from[j] = prev_arg
            k = int(np.argmax(v))
            best_prev, prev_arg = v[k], int(ids_arr[k])
        value[:] = -np.inf
        value[ids_arr] = v
        history.append((ids_arr, stay_rows, jump_from))

    path = np.empty(n_frames, dtype=np.int64)
    ids_arr = history[-1][0]
    state = int(ids_arr[np.argmax(value[ids_arr])])
    for a in range(n_windows - 1, -1, -1):
        ids_arr, stay_rows, jump_from = history[a]
        f0 = a * window
        for j in range(stay_rows.shape[0] - 1, -1, -1):
            path[f0 + j] = state
            col = int(np.searchsorted(ids_arr, state))
            if not stay_rows[j, col]:
                state = int(jump_from[j])
    path[path == new_id] = -1

    return path


def _read(x: np.ndarray | _Track, lo: int, hi: int) -> np.ndarray:
    """``x[lo:hi]`` with zeros where ``[lo, hi)`` lies outside ``x``."""
    if isinstance(x, _Track):
        return x.read(lo, hi)
    if lo >= 0 and hi <= x.size:
        return x[lo:hi]
    out = np.zeros(max(hi - lo, 0), dtype=x.dtype)
    a, b = max(lo, 0), min(hi, x.size)
    if b > a:
        out[a - lo : b - lo] = x[a:b]
    return out


def _best_split(edit: np.ndarray, raw_a: np.ndarray, raw_b: np.ndarray, guess: int) -> int:
    """Sample ``c`` where ``edit[:c]`` is best explained by ``raw_a`` and ``edit[c:]`` by
    ``raw_b`` (each after a least-squares gain fitted on its side of ``guess``)."""

    def gain(r: np.ndarray, e: np.ndarray) -> float:
        rr = float(r @ r)
        return float(r @ e) / rr if rr > 1e-12 else 0.0

    g_a = gain(raw_a[:guess], edit[:guess])
    g_b = gain(raw_b[guess:], edit[guess:])
    err_a = (edit - g_a * raw_a).astype(np.float64) ** 2
    err_b = (edit - g_b * raw_b).astype(np.float64) ** 2
    cum_a = np.concatenate([[0.0], np.cumsum(err_a)])
    cum_b = np.concatenate([[0.0], np.cumsum(err_b)])
    cost = cum_a + (cum_b[-1] - cum_b)
    centre = np.abs(np.arange(cost.size) - guess)
    return int(np.argmin(cost + 1e-12 * centre))


def _plain_split(edit: np.ndarray, raw_a: np.ndarray, raw_b: np.ndarray, cut: int) -> int:
    """:func:`_best_split` found on pre-emphasised signals, placed again on the plain ones (the
    same samples before emphasis) among ``cut - 3 ... cut + 1``.

    The emphasis filter has 3 taps, so the two emphasised explanations overlap on the 2 samples
    after a cut and the emphasised split lands 0-2 samples late (a frame centred on the seam
    then takes the outgoing copy's pointer). The plain signals tell those samples apart; the
    search stays this close to ``cut`` because their bass would blur a search any wider."""

    def gain(r: np.ndarray, e: np.ndarray) -> float:
        rr = float(r @ r)
        return float(r @ e) / rr if rr > 1e-12 else 0.0

    if not 4 <= cut <= edit.size - 2:
        return cut
    e = edit.astype(np.float64)
    g_a, g_b = gain(raw_a[:cut], edit[:cut]), gain(raw_b[cut:], edit[cut:])
    cum_a = np.concatenate([[0.0], np.cumsum((e - g_a * raw_a) ** 2)])
    cum_b = np.concatenate([[0.0], np.cumsum((e - g_b * raw_b) ** 2)])
    candidates = np.arange(cut - 3, cut + 2)
    cost = cum_a[candidates] + (cum_b[-1] - cum_b[candidates])
    return int(candidates[np.argmin(cost + 1e-12 * np.abs(candidates - cut))])


def _runs(path: np.ndarray) -> list[tuple[int, int, int]]:
    """``(first_frame, end_frame, state)`` of each run of equal states."""
    change = np.flatnonzero(np.diff(path)) + 1
    bounds = np.concatenate([[0], change, [path.size]])
    return [(int(a), int(b), int(path[a])) for a, b in zip(bounds[:-1], bounds[1:])]


@dataclasses.dataclass
class _WorkSpan:
    """A span in *work* samples (the shared rate of edit and raw, else the analysis rate)."""

    start: int
    end: int
    offset: int | None  # raw sample = edit sample + offset; None = new material
    effects: Effects = dataclasses.field(default_factory=Effects)
    confidence: float = 0.0


def _spans_from_path(
    path: np.ndarray,
    offsets: list[float],
    sig: _Signals,
    work_edit: _Track,
    work_raw: _Track,
    work_rate: int,
    sr_a: int,
    plain: tuple[_Track, _Track] | None = None,
) -> list[_WorkSpan]:
    """Runs of the Viterbi path as spans, offsets refined and seams placed at the work rate
    (``work_*``: pre-emphasised; ``plain``: the same edit and raw before emphasis, to place each
    seam to the sample, :func:`_plain_split`)."""
    ratio = work_rate / sr_a
    hop_w = int(round(sig.hop * ratio))
    # Each run's offset again, over (up to 10 s of) the whole run: a window's best lag can be a
    # waveform period off in sustained sounds, the run's cannot.
    runs: list[list] = []
    for a, b, sid in _runs(path):
        offset = None
        if sid >= 0:
            mid, half = (a + b) // 2, min((b - a) // 2, LONG_FRAMES // 2)
            offset, _ = _refine_offset(sig, max(mid - half, a), min(mid + half + 1, b), offsets[sid], sig.hop)
        runs.append([a, b, offset])
    # Merge neighbours whose offsets differ by a couple of samples: one copy, not a jump.
    merged: list[list] = []
    for a, b, offset in runs:
        if merged and offset is not None and merged[-1][2] is not None and abs(offset - merged[-1][2]) <= 2:
            if b - a > merged[-1][1] - merged[-1][0]:
                merged[-1][2] = offset
            merged[-1][1] = b
        elif merged and offset is None and merged[-1][2] is None:
            merged[-1][1] = b
        else:
            merged.append([a, b, offset])

    spans: list[_WorkSpan] = []
    for a, b, offset in merged:
        start = int(round((a * sig.hop - sig.half) * ratio)) if a > 0 else 0
        if offset is not None:
            offset = int(round(offset * ratio))
            if work_rate != sr_a:
                radius = int(math.ceil(ratio)) + 1
                offset = _refine_work_offset(work_edit, work_raw, a, b, offset, ratio, sig.hop, radius)
        spans.append(_WorkSpan(start, 0, offset))
    for k, span in enumerate(spans):
        span.end = spans[k + 1].start if k + 1 < len(spans) else work_edit.size

    for k in range(1, len(spans)):
        left, right = spans[k - 1], spans[k]
        if left.offset is None or right.offset is None:
            continue
        guess = right.start
        lo = max(guess - 2 * hop_w, left.start + (left.end - left.start) // 2)
        hi = min(guess + 2 * hop_w, right.end - (right.end - right.start) // 2)
        if hi - lo < 4 or not lo <= guess <= hi:
            continue
        edit_part = _read(work_edit, lo, hi)
        raw_a = _read(work_raw, lo + left.offset, hi + left.offset)
        raw_b = _read(work_raw, lo + right.offset, hi + right.offset)
        cut = _best_split(edit_part, raw_a, raw_b, guess - lo)
        if plain is not None:
            plain_edit, plain_raw = plain
            cut = _plain_split(
                _read(plain_edit, lo, hi),
                _read(plain_raw, lo + left.offset, hi + left.offset),
                _read(plain_raw, lo + right.offset, hi + right.offset),
                cut,
            )
        left.end = right.start = lo + cut
    return [s for s in spans if s.end > s.start]


def _refine_work_offset(
    work_edit: _Track, work_raw: _Track, f0: int, f1: int, offset: int, ratio: float, hop: int, radius: int
) -> int:
    """Best offset within ``radius`` work samples, by correlation over (up to 2 s of) the run."""
    lo = int(round(f0 * hop * ratio))
    hi = int(round(f1 * hop * ratio))
    mid, half = (lo + hi) // 2, min((hi - lo) // 2, int(22050 * ratio))
    lo, hi = max(mid - half, 0), min(mid + half, work_edit.size)
    if hi - lo < 64:
        return offset
    e = work_edit[lo:hi]
    best, best_value = offset, -np.inf
    for lag in range(offset - radius, offset + radius + 1):
        r = _read(work_raw, lo + lag, hi + lag)
        value = float(e @ r) / math.sqrt(float(r @ r) + 1e-20)
        if value > best_value:
            best, best_value = lag, value
    return best


def _span_frames(span: _WorkSpan, work_rate: int, fs: float, n_frames: int) -> tuple[int, int]:
    """Analysis frames ``[i0, i1)`` whose time ``i * fs`` lies in the span."""
    i0 = int(math.ceil(span.start / work_rate / fs - 1e-9))
    i1 = int(math.ceil(span.end / work_rate / fs - 1e-9))
    return min(max(i0, 0), n_frames), min(max(i1, 0), n_frames)


def _span_stats(
    work_edit: _Track,
    work_raw: _Track,
    span: _WorkSpan,
    i0: int,
    i1: int,
    work_rate: int,
    params: AudioParams,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Frame NCC, least-squares amplitude gain and raw energy of edit frames ``[i0, i1)``
    against the span's copy, at the work rate with the span's exact offset (``(i1 - i0,)``
    each; NaN where the raw is silent)."""
    ratio = work_rate / params.sample_rate
    half = params.hop_length // 2
    bounds = np.round((np.arange(i0, i1 + 1) * params.hop_length - half) * ratio).astype(np.int64)
    bounds = np.clip(bounds, 0, work_edit.size)
    edges = bounds - bounds[0]
    # Per-frame sums as differences of running sums over the whole span, SPAN_FRAMES frames at
    # a time (each piece's running sums continue the last: the same values as in one piece).
    sums = np.empty((3, i1 - i0))
    carry = [0.0, 0.0, 0.0]
    for k0 in range(0, i1 - i0, SPAN_FRAMES):
        k1 = min(k0 + SPAN_FRAMES, i1 - i0)
        lo, hi = int(bounds[k0]), int(bounds[k1])
        e = work_edit[lo:hi].astype(np.float64)
        r = _read(work_raw, lo + span.offset, hi + span.offset).astype(np.float64)
        local = bounds[k0 : k1 + 1] - lo
        for j, x in enumerate((e * r, e * e, r * r)):
            cum = np.cumsum(np.concatenate([[carry[j]], x]))
            sums[j, k0:k1] = cum[local[1:]] - cum[local[:-1]]
            carry[j] = float(cum[-1])
    dots, edit_energy, raw_energy = sums
    valid = raw_energy > 1e-10 * np.maximum(edges[1:] - edges[:-1], 1)
    ncc = np.where(valid, _ncc(dots, edit_energy, raw_energy), np.nan)
    gain = np.where(valid, dots / np.maximum(raw_energy, 1e-12), np.nan)
    return ncc, gain, raw_energy


def _fit_fade(t: np.ndarray, g: np.ndarray, w: np.ndarray, max_len: float, min_len: float, step: float) -> float:
    """Length of an equal-power fade ``G sin(pi/2 min(t / L, 1))`` fitted to gains ``g`` at
    times ``t`` (seconds from the fade's silent end, weights ``w``), or 0 when no fade fits.

    Each candidate length ``L`` is judged on the frames up to ``1.5 L + 0.3 s`` only (the fade
    and a stretch of level after it: the level may change again further on), by the share of
    their variance around a constant level that the fade explains.
    """
    if t.size < 6 or max_len < min_len or w.sum() <= 0:
        return 0.0
    coarse = _fade_ratios(t, g, w, np.geomspace(min_len, max_len, max(int(np.log(max_len / min_len) / 0.02), 2)))[0]
    lengths = np.arange(max(coarse * 0.96, min_len), min(coarse * 1.04, max_len) + step / 2, step)
    best, big_g, ratio = _fade_ratios(t, g, w, lengths)
    if not ratio < 0.1:
        return 0.0
    early = w * (t < 0.25 * best)
    if early.sum() > 0 and (early * g).sum() / early.sum() > 0.6 * big_g:
        return 0.0
    return best


def _fade_ratios(t: np.ndarray, g: np.ndarray, w: np.ndarray, lengths: np.ndarray) -> tuple[float, float, float]:
    """Best fade length among ``lengths``, its level and unexplained variance share."""
    t_max = 1.5 * lengths.max() + 0.3
    keep = t < t_max
    t, g, w = t[keep], g[keep], w[keep]
    inside = w[None, :] * (t[None, :] < 1.5 * lengths[:, None] + 0.3)
    n = inside.sum(axis=1)
    model = np.sin(0.5 * np.pi * np.minimum(t[None, :] / lengths[:, None], 1.0))
    big_g = (inside * model * g).sum(axis=1) / np.maximum((inside * model**2).sum(axis=1), 1e-12)
    sse = (inside * (g[None, :] - big_g[:, None] * model) ** 2).sum(axis=1)
    mean = (inside * g).sum(axis=1) / np.maximum(n, 1e-12)
    sse0 = (inside * (g[None, :] - mean[:, None]) ** 2).sum(axis=1)
    ratio = np.where((n >= 4) & (big_g > 0), sse / np.maximum(sse0, 1e-12), np.inf)
    k = int(np.argmin(ratio))
    return float(lengths[k]), float(big_g[k]), float(ratio[k])


def _gain_splits(h: np.ndarray, valid: np.ndarray, min_step: float, half_window: int) -> list[int]:
    """Frames where the level ``h`` (dB per frame; ``valid`` frames only) steps by at least
    ``min_step``: the median of the ``half_window`` valid frames after a frame differs from that
    of the ones before, and the difference peaks there."""
    from scipy.ndimage import median_filter

    idx = np.flatnonzero(valid)
    n, w = idx.size, half_window
    if n < 2 * w:
        return []
    values = h[idx]
    med = median_filter(values, size=w, mode="nearest")
    i = np.arange(w, n - w + 1)
    # medians of values[i - w : i] and values[i : i + w] (scipy centres even windows late)
    before = med[i - (w // 2) - 1] if w % 2 else med[i - w // 2]
    after = med[np.minimum(i + w // 2, n - 1)]
    robust = np.abs(after - before)
    # means locate a step exactly (their difference peaks there); medians judge it
    cum = np.concatenate([[0.0], np.cumsum(values)])
    sharp = np.abs((cum[i + w] - cum[i]) - (cum[i] - cum[i - w])) / w
    splits: list[int] = []
    for k in np.argsort(sharp)[::-1]:
        if sharp[k] < 0.5 * min_step:
            break
        if robust[k] >= min_step and all(abs(int(i[k]) - s) >= w for s in splits):
            splits.append(int(i[k]))
    return sorted(int(idx[s]) for s in splits)


def _estimate_effects(
    spans: list[_WorkSpan],
    sig: _Signals,
    edit_db: np.ndarray,
    raw_db: np.ndarray,
    work_edit: _Track,
    work_raw: _Track,
    work_rate: int,
    params: AudioParams,
    config: AlignConfig,
) -> list[_WorkSpan]:
    """Fades, gain steps (splitting spans), and gain and shelf EQ per span."""
    sr_a, fs = params.sample_rate, params.frame_seconds
    n_frames = edit_db.shape[1]
    shapes = _shelf_shapes(params, edit_db.shape[0])
    audible = sig.audible
    out: list[_WorkSpan] = []
    for span in spans:
        if span.offset is None:
            out.append(span)
            continue
        i0, i1 = _span_frames(span, work_rate, fs, n_frames)
        if i1 - i0 < 3:
            out.append(span)
            continue
        _, gain, energy = _span_stats(work_edit, work_raw, span, i0, i1, work_rate, params)
        valid = np.isfinite(gain) & audible[i0:i1] & (energy > 1e-3 * max(float(np.median(energy)), 1e-12))
        t = np.arange(i0, i1) * fs
        start_s, end_s = span.start / work_rate, span.end / work_rate
        duration = end_s - start_s
        w = valid.astype(np.float64)
        g = np.where(valid, gain, 0.0)
        max_len = min(config.max_fade_s, 0.6 * duration)
        first = t - start_s < 0.6 * duration
        fade_in = _fit_fade(t[first] - start_s, g[first], w[first], max_len, 0.1, fs / 4)
        last = end_s - t <= 0.6 * duration
        fade_out = _fit_fade(end_s - t[last], g[last], w[last], max_len, 0.1, fs / 4)
        flat = valid & (t - start_s >= fade_in) & (end_s - t > fade_out)
        h = 20 * np.log10(np.maximum(np.abs(g), 1e-6))
        splits = _gain_splits(h, flat, config.min_gain_step_db, half_window=12)
        # Place each gain step to the sample: same copy, two gains.
        cuts = []
        hop_w = int(round(sig.hop * work_rate / sr_a))
        for s in splits:
            guess = int(round((i0 + s) * fs * work_rate - hop_w / 2))
            lo, hi = guess - 2 * hop_w, guess + 2 * hop_w
            e = _read(work_edit, lo, hi)
            r = _read(work_raw, lo + span.offset, hi + span.offset)
            cuts.append(lo + _best_split(e, r, r, guess - lo))
        bounds = [span.start, *cuts, span.end]
        pieces = [_WorkSpan(a, b, span.offset) for a, b in zip(bounds[:-1], bounds[1:]) if b > a]
        pieces[0].effects.fade_in_s = fade_in
        pieces[-1].effects.fade_out_s = fade_out
        for piece in pieces:
            levels = _piece_levels(piece, edit_db, raw_db, shapes, work_rate, fs, config)
            piece.effects.gain_db, piece.effects.eq_low_db, piece.effects.eq_high_db = levels
        # A level step that the band fit does not confirm (an EQ'd passage whose broadband level
        # follows its content) is no boundary: merge such pieces back.
        merged = [pieces[0]]
        for piece in pieces[1:]:
            prev = merged[-1]
            if _same_levels(prev.effects, piece.effects, config):
                prev.end = piece.end
                prev.effects.fade_out_s = piece.effects.fade_out_s
                levels = _piece_levels(prev, edit_db, raw_db, shapes, work_rate, fs, config)
                prev.effects.gain_db, prev.effects.eq_low_db, prev.effects.eq_high_db = levels
            else:
                merged.append(piece)
        out.extend(merged)
    return out


def _same_levels(a: Effects, b: Effects, config: AlignConfig) -> bool:
    """Whether two pieces of one copy have the same gain (and about the same shelves)."""
    return (
        abs(a.gain_db - b.gain_db) < config.min_gain_step_db
        and abs(a.eq_low_db - b.eq_low_db) < 2 * EQ_THRESHOLD_DB
        and abs(a.eq_high_db - b.eq_high_db) < 2 * EQ_THRESHOLD_DB
    )


def _shelf_shapes(params: AudioParams, n_mels: int) -> np.ndarray:
    """dB response per dB of gain, at the centre of every mel band, of the renderer's low and
    high shelves (:data:`editor_env.render.LOW_SHELF_HZ`, ``HIGH_SHELF_HZ``; RBJ shelves with
    Q = 1/sqrt(2), as pedalboard builds them): ``(2, n_mels)``, about 1 where a shelf acts
    fully and 0 where it does not act."""
    import librosa
    from scipy.signal import freqz

    from editor_env.render import HIGH_SHELF_HZ, LOW_SHELF_HZ

    sr = params.sample_rate
    freqs = librosa.mel_frequencies(n_mels + 2, fmax=sr / 2)[1:-1]
    gain_db = 6.0
    big_a = 10 ** (gain_db / 40)
    shapes = []
    for cutoff, high in ((LOW_SHELF_HZ, False), (HIGH_SHELF_HZ, True)):
        w0 = 2 * np.pi * min(cutoff, 0.45 * sr) / sr
        cos_w0, alpha = np.cos(w0), np.sin(w0) / np.sqrt(2)
        root = 2 * np.sqrt(big_a) * alpha
        sign = 1 if high else -1
        b = big_a * np.array(
            [
                (big_a + 1) + sign * (big_a - 1) * cos_w0 + root,
                -2 * sign * ((big_a - 1) + sign * (big_a + 1) * cos_w0),
                (big_a + 1) + sign * (big_a - 1) * cos_w0 - root,
            ]
        )
        a = np.array(
            [
                (big_a + 1) - sign * (big_a - 1) * cos_w0 + root,
                2 * sign * ((big_a - 1) - sign * (big_a + 1) * cos_w0),
                (big_a + 1) - sign * (big_a - 1) * cos_w0 - root,
            ]
        )
        _, response = freqz(b, a, worN=freqs, fs=sr)
        shapes.append(20 * np.log10(np.abs(response)) / gain_db)
    return np.array(shapes)


def _piece_levels(
    span: _WorkSpan,
    edit_db: np.ndarray,
    raw_db: np.ndarray,
    shapes: np.ndarray,
    work_rate: int,
    fs: float,
    config: AlignConfig,
) -> tuple[float, float, float]:
    """Gain, low-shelf and high-shelf dB of a span.

    Per mel band, the median level difference edit - raw over the span's frames (outside fades,
    where both are within 30 dB of their loudest band) is fitted as ``gain + low * shape_low +
    high * shape_high`` by least squares, the shelves lightly pulled towards 0 so that a
    difference the bands cannot tell apart counts as gain. An EQ shelf thus does not pass for
    a gain change (EQ is not an op of its own: its frames are ``COPY``).
    """
    n_frames, n_raw = edit_db.shape[1], raw_db.shape[1]
    i0, i1 = _span_frames(span, work_rate, fs, n_frames)
    start_s, end_s = span.start / work_rate, span.end / work_rate
    t = np.arange(i0, i1) * fs
    keep = (t - start_s >= span.effects.fade_in_s + 2 * fs) & (end_s - t > span.effects.fade_out_s + 2 * fs)
    frames = np.arange(i0, i1)[keep]
    if frames.size == 0:
        return 0.0, 0.0, 0.0
    ptr = np.clip(np.round(frames + span.offset / work_rate / fs).astype(np.int64), 0, n_raw - 1)
    e, r = edit_db[:, frames], raw_db[:, ptr]
    loud = (e > e.max(axis=0, keepdims=True) - 30) & (r > r.max(axis=0, keepdims=True) - 30) & (e > -100) & (r > -100)
    counts = loud.sum(axis=1)
    bands = np.flatnonzero(counts >= max(3, 0.05 * frames.size))
    if bands.size == 0:
        return 0.0, 0.0, 0.0
    diff = np.where(loud, e - r, np.nan)[bands]
    level = np.nanmedian(diff, axis=1)
    weight = np.sqrt(counts[bands].astype(np.float64))
    design = np.column_stack([np.ones(bands.size), shapes[0, bands], shapes[1, bands]])
    ridge = 0.05 * weight.sum() * np.diag([0.0, 1.0, 1.0])
    lhs = design.T @ (design * weight[:, None]) + ridge
    rhs = design.T @ (level * weight)
    gain, low, high = np.linalg.solve(lhs, rhs)
    gain = round(float(gain), 2) if abs(gain) >= config.gain_threshold_db else 0.0
    low = round(float(low), 1) if abs(low) >= EQ_THRESHOLD_DB else 0.0
    high = round(float(high), 1) if abs(high) >= EQ_THRESHOLD_DB else 0.0
    return gain, low, high


def _labels(
    spans: list[_WorkSpan],
    sig: _Signals,
    work_edit: _Track,
    work_raw: _Track,
    n_raw: int,
    work_rate: int,
    params: AudioParams,
    config: AlignConfig,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Pointers, ops and confidence per edit frame, with the semantics of
    :meth:`EditList.to_pointers` and :func:`editor_env.synth.ops_from_edl`."""
    sr_a, fs, n_frames = params.sample_rate, params.frame_seconds, sig.n_frames
    t = np.arange(n_frames) * fs
    starts = np.array([s.start / work_rate for s in spans])
    index = np.clip(np.searchsorted(starts, t, side="right") - 1, 0, None)
    pointers = np.full(n_frames, NO_POINTER, dtype=np.int64)
    ops = np.full(n_frames, EditOp.COPY, dtype=np.int8)
    confidence = np.zeros(n_frames, dtype=np.float32)
    audible = sig.audible
    tolerance = 2 * work_rate / sr_a  # offsets this close are one copy, not a jump
    prev_end = None
    for k, span in enumerate(spans):
        frames = np.flatnonzero(index == k)
        if span.offset is None:
            ops[frames] = EditOp.NEW
            span.confidence = 0.0
            continue
        start_s, end_s = span.start / work_rate, span.end / work_rate
        if frames.size:
            off_s = span.offset / work_rate
            pointers[frames] = np.clip(np.round((t[frames] + off_s) / fs), 0, n_raw - 1).astype(np.int64)
            fx = span.effects
            if fx.gain_db != 0:
                ops[frames] = EditOp.GAIN
            local = t[frames] - start_s
            fading = (local < fx.fade_in_s) | (end_s - start_s - local <= fx.fade_out_s)
            ops[frames[fading]] = EditOp.FADE
            ncc, _, _ = _span_stats(work_edit, work_raw, span, int(frames[0]), int(frames[-1]) + 1, work_rate, params)
            good = np.isfinite(ncc) & audible[frames]
            fill = float(np.median(ncc[good])) if good.any() else 0.0
            conf = np.clip(np.where(good, ncc, fill), 0.0, 1.0)
            confidence[frames] = conf
            span.confidence = float(np.median(conf))
            first = int(frames[0])
            raw_first = span.start + span.offset
            if prev_end is None:
                if raw_first > tolerance:
                    ops[first] = EditOp.SKIP
            elif raw_first > prev_end + tolerance:
                ops[first] = EditOp.SKIP
            elif raw_first < prev_end - tolerance:
                ops[first] = EditOp.LOOP
        prev_end = span.end + span.offset
    return pointers, ops, confidence


def _output_spans(spans: list[_WorkSpan], work_rate: int, edit_rate: int, raw_rate: int) -> list[AlignedSpan]:
    out = []
    for span in spans:
        start = int(round(span.start * edit_rate / work_rate))
        end = int(round(span.end * edit_rate / work_rate))
        raw_start = None if span.offset is None else int(round((span.start + span.offset) * raw_rate / work_rate))
        out.append(AlignedSpan(start, end, raw_start, span.effects, span.confidence))
    return out


def _edit_list(spans: list[AlignedSpan], raw: Audio, edit_rate: int) -> EditList:
    """The copies as an EDL of the raw (new material left out), at the raw's own rate."""
    segments, edit_starts = [], []
    for span in spans:
        if span.raw_start is None:
            continue
        length = int(round((span.edit_end - span.edit_start) * raw.sample_rate / edit_rate))
        start = min(max(span.raw_start, 0), raw.n_samples - 1)
        end = min(max(span.raw_start + length, start + 1), raw.n_samples)
        segments.append(Segment(start, end, span.effects))
        edit_starts.append(span.edit_start)
    meta = {"source": "musicedit.align", "align_version": ALIGN_VERSION, "edit_starts": edit_starts}
    return EditList(raw.sample_rate, raw.n_samples, segments, meta=meta)


def _versions() -> dict[str, str]:
    import importlib.metadata

    versions = {}
    for name in ("musicedit", "numpy", "scipy", "librosa"):
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            versions[name] = "unknown"
    return versions


# --------------------------------------------------------------------------------------------
# Files: pointer_sequences/{sample}_pointers.npy, _ops.npy, _labels.json, _info.json, _alignment.png
# --------------------------------------------------------------------------------------------
GROUND_TRUTH_METHOD = "synthetic ground truth"
"""``method`` in the info JSON of files the synthetic generator wrote: never overwritten."""
GROUND_TRUTH_METHODS = (GROUND_TRUTH_METHOD, "jam ground truth")
"""``method`` values of ground truth (the synthetic generator's, the jam maker's): never overwritten."""
GROUND_TRUTH_SOURCES = ("musicedit.synth", "musicedit.jams")
"""Label file ``source`` prefixes of the generators' ground truth junk spans: never overwritten."""
LABELS_SOURCE = "musicedit align"
"""``source`` of the label files :func:`save_alignment` writes."""
ALIGNED_FOLDER = "pointer_sequences_aligned"
"""Where :func:`align_dataset` writes by default when ``pointer_sequences/`` holds ground truth."""


def sample_name(raw_path: str | os.PathLike) -> str:
    """``{sample}`` of ``{sample}_raw.wav`` (the file's stem when it does not end in ``_raw``)."""
    stem = Path(raw_path).stem
    return stem[: -len("_raw")] if stem.endswith("_raw") and len(stem) > 4 else stem


def output_paths(out_dir: str | os.PathLike, sample: str) -> dict[str, Path]:
    """The five files of one alignment, keyed ``pointers``, ``ops``, ``labels``, ``plot``, ``info``
    (the order they are written in: the info JSON last, so its presence marks a finished sample)."""
    out_dir = Path(out_dir)
    return {
        "pointers": out_dir / f"{sample}_pointers.npy",
        "ops": out_dir / f"{sample}_ops.npy",
        "labels": out_dir / f"{sample}_labels.json",
        "plot": out_dir / f"{sample}_alignment.png",
        "info": out_dir / f"{sample}_info.json",
    }


def _read_info(path: Path) -> dict[str, Any] | None:
    try:
        info = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return info if isinstance(info, dict) else None


def _source(path: Path) -> dict[str, Any]:
    stat = path.stat()
    return {"path": str(path), "size": stat.st_size, "mtime_ns": stat.st_mtime_ns}


def _check_writable(paths: dict[str, Path], sample: str, force: bool) -> None:
    """Refuse to replace ground truth (ever) or another tool's files (unless ``force``): judged by
    the info JSON's ``method``, and by the label file's ``source`` (junk spans written by a
    generator, or by hand, are not an alignment's to replace)."""
    elsewhere = (
        f"Write elsewhere (--out DIR; `musicedit align --data-dir` uses {ALIGNED_FOLDER}/ for data sets "
        "that hold ground truth)."
    )
    info = _read_info(paths["info"]) if paths["info"].is_file() else None
    if info is not None:
        method = info.get("method")
        if method in GROUND_TRUTH_METHODS:
            raise MusicEditError(
                f"{paths['info'].parent} holds the ground truth of {sample} ({paths['info'].name} says method "
                f"{method!r}); an alignment never replaces it. {elsewhere}"
            )
        if method != METHOD and not force:
            raise MusicEditError(
                f"{paths['info']} was not written by `musicedit align` (method {method!r}); pass --force "
                "to replace it, or write elsewhere with --out DIR."
            )
    label_file = paths.get("labels")
    if label_file is None or not label_file.is_file():
        return
    labels = _read_info(label_file)  # any JSON object
    source = str((labels or {}).get("source", ""))
    if source.startswith(GROUND_TRUTH_SOURCES):
        raise MusicEditError(
            f"{label_file} holds the ground truth junk spans of {sample} (source {source!r}); an alignment "
            f"never replaces them. {elsewhere}"
        )
    if source != LABELS_SOURCE and not force:
        raise MusicEditError(
            f"{label_file} was not written by `musicedit align` (source {source!r}); pass --force to replace "
            "it, or write elsewhere with --out DIR."
        )


def is_aligned(
    paths: dict[str, Path],
    raw_path: Path,
    edit_path: Path,
    params: AudioParams = DEFAULT_PARAMS,
    config: AlignConfig | None = None,
    *,
    plot: bool = True,
) -> bool:
    """Whether ``paths`` hold a finished alignment of these very files with these settings
    (same settings hash, same size and modification time of both recordings; the picture too
    when ``plot``)."""
    if not all(path.is_file() for key, path in paths.items() if plot or key != "plot"):
        return False
    info = _read_info(paths["info"])
    if info is None or info.get("method") != METHOD:
        return False
    sources = info.get("sources", {})
    try:
        same = sources.get("raw") == _source(raw_path) and sources.get("edit") == _source(edit_path)
    except OSError:
        return False
    return same and info.get("params_hash") == settings_hash(params, config)


def save_alignment(
    alignment: Alignment,
    out_dir: str | os.PathLike,
    sample: str,
    *,
    sources: dict[str, Any] | None = None,
    plot: bool = True,
    force: bool = False,
) -> dict[str, Path]:
    """Write ``{sample}_pointers.npy`` (int64), ``_ops.npy`` (int8), ``_labels.json``,
    ``_alignment.png`` and ``_info.json`` (last) into ``out_dir``, each atomically.

    ``_labels.json`` (:class:`editor_env.labels.RawLabels`) lists the raw spans the edit never
    plays (at least :meth:`~editor_env.labels.RawLabels.from_unplayed`'s 0.25 s, kind
    ``"cut"``) as junk, so a human pair feeds the same training and junk-removed / song-kept
    scoring as the jams and synthetic pairs.

    :param sources: recorded in the info JSON under ``sources`` (the recordings' path, size and
        modification time, so a rerun knows whether they changed).
    :raises MusicEditError: the folder holds ground truth for this sample (the synthetic
        generator's or the jam maker's, never replaced), or another tool's alignment or label
        file (replaced only with ``force``).
    """
    from editor_env.io import atomic_open, atomic_write_text
    from editor_env.labels import RawLabels

    paths = output_paths(out_dir, sample)
    _check_writable(paths, sample, force)
    with atomic_open(paths["pointers"], "wb") as fh:
        np.save(fh, alignment.pointers.astype(np.int64), allow_pickle=False)
    with atomic_open(paths["ops"], "wb") as fh:
        np.save(fh, alignment.ops.astype(np.int8), allow_pickle=False)
    params = AudioParams(**alignment.info["params"]) if "params" in alignment.info else DEFAULT_PARAMS
    labels = RawLabels.from_unplayed(
        alignment.pointers, float(alignment.info["raw_duration_s"]), params=params, source=LABELS_SOURCE
    )
    labels.save(paths["labels"])
    if plot:
        plot_alignment(alignment, paths["plot"], title=sample)
    else:
        paths.pop("plot")
    info = {
        "sample": sample,
        **alignment.info,
        "sources": sources or {},
        "files": {k: p.name for k, p in paths.items()},
    }
    atomic_write_text(paths["info"], json.dumps(info, indent=2) + "\n")
    return paths


def plot_alignment(
    alignment: Alignment, path: str | os.PathLike, *, title: str | None = None, params: AudioParams = DEFAULT_PARAMS
) -> Path:
    """Write a PNG of an alignment (atomically): edit time against raw time, every frame
    coloured by its confidence, cuts (``SKIP``/``LOOP``) marked, new material shaded; below,
    the confidence over the edit with fades and gain changes marked."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    from editor_env.io import atomic_path

    fs = params.frame_seconds
    t = np.arange(alignment.pointers.size) * fs
    ops, conf, ptr = alignment.ops, alignment.confidence, alignment.pointers
    fig = Figure(figsize=(12, 8), layout="constrained")
    FigureCanvasAgg(fig)
    ax_ptr, ax_conf = fig.subplots(2, 1, height_ratios=(3, 1), sharex=True)
    copied = ptr >= 0
    points = ax_ptr.scatter(
        t[copied], ptr[copied] * fs, c=conf[copied], s=3, cmap="viridis", vmin=0.0, vmax=1.0, linewidths=0
    )
    fig.colorbar(points, ax=ax_ptr, label="confidence", fraction=0.03)
    for op, colour, label in ((EditOp.SKIP, "tab:red", "cut (skip)"), (EditOp.LOOP, "tab:blue", "cut (loop back)")):
        first = True
        for i in np.flatnonzero(ops == op):
            ax_ptr.axvline(t[i], color=colour, linewidth=0.8, alpha=0.7, label=label if first else None)
            first = False
    for k, (a, b) in enumerate(_true_runs(ops == EditOp.NEW)):
        label = "new material" if k == 0 else None
        ax_ptr.axvspan(t[a], t[b - 1] + fs, color="0.5", alpha=0.3, linewidth=0, label=label)
    ax_ptr.set_ylabel("raw time (s)")
    raw_s = alignment.info.get("raw_duration_s")
    if raw_s:
        ax_ptr.set_ylim(0, raw_s)
    ax_ptr.set_title(
        f"{title or 'alignment'}: {alignment.info.get('n_segments', '?')} segment(s), mean confidence "
        f"{alignment.info.get('confidence', 0):.3f}, {100 * alignment.info.get('new_fraction', 0):.1f}% new",
        fontsize=10,
    )
    if ax_ptr.get_legend_handles_labels()[0]:
        ax_ptr.legend(loc="upper left", fontsize=8)
    ax_conf.fill_between(t, 0, conf, color="tab:green", alpha=0.4, linewidth=0, step="mid")
    for op, colour, label in ((EditOp.FADE, "tab:orange", "fade"), (EditOp.GAIN, "tab:purple", "gain")):
        sel = ops == op
        if sel.any():
            ax_conf.scatter(t[sel], np.full(sel.sum(), 1.04), s=2, color=colour, label=label)
    ax_conf.set_ylim(0, 1.1)
    ax_conf.set_ylabel("confidence")
    ax_conf.set_xlabel("edit time (s)")
    if ax_conf.get_legend_handles_labels()[0]:
        ax_conf.legend(loc="lower left", fontsize=8, markerscale=4)
    ax_conf.set_xlim(0, max(t[-1] + fs, fs) if t.size else 1.0)
    path = Path(path)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=90)
    return path


def _true_runs(mask: np.ndarray) -> list[tuple[int, int]]:
    """``[start, end)`` of every run of True."""
    edges = np.diff(np.concatenate([[0], mask.astype(np.int8), [0]]))
    return list(zip(np.flatnonzero(edges == 1).tolist(), np.flatnonzero(edges == -1).tolist()))


@dataclasses.dataclass
class AlignFileResult:
    """What :func:`align_files` did for one pair."""

    sample: str
    paths: dict[str, Path]
    skipped: bool
    """True when the files were already aligned with these settings (nothing was written)."""
    alignment: Alignment | None = None


def align_files(
    raw_path: str | os.PathLike,
    edit_path: str | os.PathLike,
    out_dir: str | os.PathLike,
    *,
    sample: str | None = None,
    params: AudioParams = DEFAULT_PARAMS,
    config: AlignConfig | None = None,
    force: bool = False,
    plot: bool = True,
    stream_seconds: float = STREAM_SECONDS,
    chunk_samples: int = CHUNK_SAMPLES,
) -> AlignFileResult:
    """Align two audio files and write the four files of :func:`save_alignment`.

    A pair already aligned with the same settings (and unchanged recordings) is skipped unless
    ``force``. ``sample`` defaults to :func:`sample_name` of ``raw_path``.

    When either recording is longer than ``stream_seconds`` (default 20 minutes) the pair is
    streamed: both files are read block by block, their derived signals (analysis-rate mono,
    pre-emphasised copies) go to scratch files in the temporary folder (``TMPDIR``; about 8 bytes
    a sample at the analysis rate, plus as much again at the own rate when that differs) and are
    read back window by window, and every pass over them takes ``chunk_samples`` at a time.
    Memory then holds the features and the decimated copies (a quarter of the samples), not the
    recordings. The result equals the in-memory one, except that a recording resampled to the
    analysis rate is resampled by a soxr stream (equal to one-shot resampling within float
    rounding).
    """
    from editor_env.audio import audio_extent, load_audio

    raw_path, edit_path = Path(raw_path), Path(edit_path)
    sample = sample or sample_name(raw_path)
    paths = output_paths(out_dir, sample)
    if not force and is_aligned(paths, raw_path, edit_path, params, config, plot=plot):
        return AlignFileResult(sample, paths, skipped=True)
    _check_writable(paths, sample, force)
    longest = 0.0
    for path in (raw_path, edit_path):
        if path.is_file() and path.stat().st_size > 0:
            rate, n = audio_extent(path)
            longest = max(longest, n / rate)
    if longest > stream_seconds:
        import tempfile

        raw, edit = _Recording.from_file(raw_path, params), _Recording.from_file(edit_path, params)
        with tempfile.TemporaryDirectory(prefix="musicedit-align-") as folder:
            alignment = _align_recordings(raw, edit, params, config, folder=Path(folder), chunk=chunk_samples)
    else:
        alignment = align(load_audio(raw_path), load_audio(edit_path), params=params, config=config)
    sources = {"raw": _source(raw_path), "edit": _source(edit_path)}
    written = save_alignment(alignment, out_dir, sample, sources=sources, plot=plot, force=force)
    return AlignFileResult(sample, written, skipped=False, alignment=alignment)


@dataclasses.dataclass
class AlignDatasetResult:
    """What :func:`align_dataset` did: sample names by outcome, failures with their reason."""

    out_dir: Path
    aligned: list[str] = dataclasses.field(default_factory=list)
    skipped: list[str] = dataclasses.field(default_factory=list)
    failed: dict[str, str] = dataclasses.field(default_factory=dict)
    ground_truth: bool = False
    """True when the data set's ``pointer_sequences/`` holds synthetic ground truth (and the
    default output folder was therefore :data:`ALIGNED_FOLDER`)."""


def holds_ground_truth(folder: str | os.PathLike) -> bool:
    """Whether any ``*_info.json`` in ``folder`` holds ground truth (written by the synthetic
    generator or the jam maker: :data:`GROUND_TRUTH_METHODS`)."""
    folder = Path(folder)
    if not folder.is_dir():
        return False
    return any((_read_info(p) or {}).get("method") in GROUND_TRUTH_METHODS for p in sorted(folder.glob("*_info.json")))


def _align_pair(pair, *, out_dir, params, config, force, plot) -> bool:
    """Align one data-set pair (a :func:`map_samples` task); True when it was already aligned."""
    if pair.edit_path is None:
        raise MusicEditError(f"no edit: expected {pair.raw_path.parent.parent}/desired_output/{pair.name}_edit.wav")
    done = align_files(
        pair.raw_path, pair.edit_path, out_dir, sample=pair.name, params=params, config=config, force=force, plot=plot
    )
    return done.skipped


def align_dataset(
    data_dir: str | os.PathLike,
    out_dir: str | os.PathLike | None = None,
    *,
    samples: list[str] | None = None,
    params: AudioParams = DEFAULT_PARAMS,
    config: AlignConfig | None = None,
    force: bool = False,
    plot: bool = True,
    progress: bool = True,
    executor: Executor | None = None,
) -> AlignDatasetResult:
    """Align every (raw, edit) pair of a data set in the ``training_data/`` layout.

    Output goes to ``out_dir``; by default to ``{data_dir}/pointer_sequences/``, except when
    that folder holds the synthetic generator's ground truth (``"method": "synthetic ground
    truth"``): then to ``{data_dir}/pointer_sequences_aligned/``, so the alignments can be
    compared with the truth and the truth is never replaced. Even with an explicit ``out_dir``
    a ground-truth file is never overwritten: that pair fails with a message saying so.

    Pairs run on ``executor`` (:class:`editor_env.executor.Executor`, default this process). Pairs already aligned with the same settings are skipped (unless
    ``force``). A pair that fails (unreadable audio, no edit, an edit unrelated to its raw ...)
    is recorded in ``failed`` with its reason and the others go on.
    """
    import functools

    from editor_env.dataset import discover_pairs
    from editor_env.executor import map_samples

    data_dir = Path(data_dir)
    pairs = discover_pairs(data_dir, require_edit=False, samples=samples, check_audio=False)
    ground_truth = holds_ground_truth(data_dir / "pointer_sequences")
    if out_dir is None:
        out_dir = data_dir / (ALIGNED_FOLDER if ground_truth else "pointer_sequences")
    result = AlignDatasetResult(Path(out_dir), ground_truth=ground_truth)
    task = functools.partial(_align_pair, out_dir=str(out_dir), params=params, config=config, force=force, plot=plot)
    outcomes = map_samples(task, pairs, executor=executor, desc="aligning", progress=progress)
    for outcome in outcomes:
        if not outcome.ok:
            result.failed[outcome.name] = outcome.error
        else:
            (result.skipped if outcome.value else result.aligned).append(outcome.name)
    return result

"""The common reward: one scorer for every paradigm (DESIGN.md, "The common reward").

:func:`score` takes the raw recording's :class:`~editor_env.features.Analysis`, the output of
an editor and, when known, the reference (human or ground-truth) edit, and returns a
:class:`RewardResult`: a total in [0, 1] plus named components, each in [0, 1] (1 = best).

The output may be

- an :class:`~editor_env.edl.EditList` (BC + PPO agent, ``retarget``): seams and cuts come
  exactly from its segments (a boundary where only the effects change is no seam);
- a 1-D integer pointer sequence, the raw analysis frame played at each output frame
  (pointer network): a seam is a step that is not ``+1`` within ``pointer_jitter_frames``
  (so a reversed pointer run is a seam at every frame: give reversed material as an EDL);
- a 2-D mel ``(n_mels, T_out)`` normalised like the cache (supervised baseline, which only
  generates a mel): a beat-resolution pointer sequence is *estimated* by cutting the output
  into chunks of the raw recording's median beat length (at the best of a few beat phases) and
  matching each chunk to the most similar raw beat (cosine of the mean mel in 32 bands,
  centred on the recording's average spectrum), with a continuity prior (a Viterbi path that
  prefers beat ``b+1`` after beat ``b`` unless another beat is clearly closer). The
  pointer-based components (sequence, cuts, repetition, noise) then apply to that estimate;
  ``mel_similarity`` and the level part of ``silence`` use the generated mel itself;
  ``seam_quality`` is left out (a generated mel has no seams to inspect).

The reference may be ``None``, an :class:`EditList` or a pointer sequence.

Components (all in [0, 1], 1 = best; :data:`COMPONENT_DOCS` has one line each):

against the reference (left out without one)
    ``sequence_similarity``, ``mel_similarity``, ``cut_f_measure``
intrinsic
    ``length``, ``seam_quality`` (left out for a mel-only output), ``repetition``, ``silence``
content (left out unless the raw's labels or a content prediction are given to the :class:`Scorer`)
    ``content``: the junk-removed / song-kept F of the output (:func:`editor_env.labels.junk_song_score`) with
    labels, else its estimate from the content model (:func:`content_estimate`). This is what lets the
    reference-free reward tell junk from song.

The total is the weighted mean of the components that could be computed, with the weights of
:class:`RewardConfig` renormalised over them (``RewardResult.weights_used`` sums to 1), so it
lies in [0, 1] and is comparable across paradigms; an empty output scores 0 on everything.

Duplicate material: raw beats that are the same audio (a copy-pasted loop, a section the jam
repeats identically; ``duplicate_beat_similarity``) count as one in ``sequence_similarity``
and ``cut_f_measure``, so playing the second copy instead of the first is not a mistake, and
a mel-only output (which cannot tell the copies apart) is not penalised for picking either.
``repetition`` still counts raw beats, so replaying one bar is caught even where it has copies.

Effects are not simulated: seams, silence and mel similarity read the raw material (a gain
change or a fade over a seam neither helps nor hurts its score).

Reward hacking: no single component is enough. Keeping everything maxes ``seam_quality`` and
``repetition`` but fails ``length``; cutting every third beat hits the length exactly but puts
a bar-phase-breaking seam every 1.5 s (``seam_quality`` has a seam-rate factor) and matches
neither the reference's beats nor its cuts; looping one good bar fails ``repetition``.
Without a reference and without ``content``, an honest but uninspired edit (one contiguous 67% stretch
without silence) scores about as well as a good one; the ``content`` component (labels or the content model)
is what tells which material a musician keeps.

Costs: vectorised numpy, nothing on the full mel beyond a per-frame maximum and a strided
sample. Scoring a 10-minute recording (1,200 beats) takes about 8-26 ms for an EDL or
pointers (one segment per beat, reference included) and about 40 ms for a mel-only output,
on one core of the 2-core development machine. ``mir_eval`` is imported on the first call
that compares cut points (about 1 s once, for scipy.stats).
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
from pathlib import Path
from typing import Any

import numpy as np

from editor_env.edl import EditList
from editor_env.errors import MusicEditError
from editor_env.features import Analysis, feature_slice
from editor_env.params import DEFAULT_PARAMS, AudioParams

REFERENCE_COMPONENTS: tuple[str, ...] = ("sequence_similarity", "mel_similarity", "cut_f_measure")
INTRINSIC_COMPONENTS: tuple[str, ...] = ("length", "seam_quality", "repetition", "silence")
CONTENT_COMPONENTS: tuple[str, ...] = ("content",)
COMPONENTS: tuple[str, ...] = REFERENCE_COMPONENTS + INTRINSIC_COMPONENTS + CONTENT_COMPONENTS

#: Default weights of the total (``configs/reward.json`` holds the same values).
DEFAULT_WEIGHTS: dict[str, float] = {
    "sequence_similarity": 2.0,
    "mel_similarity": 1.0,
    "cut_f_measure": 1.0,
    "length": 1.0,
    "seam_quality": 1.5,
    "repetition": 0.5,
    "silence": 1.0,
    "content": 3.0,
}

SEAM_PARTS: tuple[str, ...] = ("spectral", "loudness", "phase")
DEFAULT_SEAM_PART_WEIGHTS: dict[str, float] = {"spectral": 0.4, "loudness": 0.2, "phase": 0.4}

#: One line per component: its range and meaning (also in ``RewardResult.describe()``).
COMPONENT_DOCS: dict[str, str] = {
    "sequence_similarity": "[0, 1]: 2 * LCS / (n_out + n_ref) of the output's and the reference's sequences of "
    "raw beats (one token per output beat, duplicate material as one); 1 = the same beats in the same order",
    "mel_similarity": "[0, 1]: (1 - mean |mel_out - mel_ref| / mel_l1_scale) over the shorter length, times "
    "shorter/longer length; 1 = identical mels",
    "cut_f_measure": "[0, 1]: F-measure of the output's cut points (raw times where it leaves or enters the raw "
    "timeline, duplicate material as one) against the reference's, matched within cut_tolerance_beats; "
    "1 when both have none",
    "length": "[0, 1]: 1 while output/raw length is within target_ratio +- ratio_slack, then a Gaussian fall-off "
    "of width ratio_tolerance",
    "seam_quality": "[0, 1]: mean per-seam score (spectral and loudness jump beyond the raw's own change at the "
    "seam's ends, bar/beat phase kept, seam on a beat) times a seam-rate factor; 1 with no seams",
    "repetition": "[0, 1]: 1 - fraction of output frames that replay a raw beat beyond max_uses times",
    "silence": "[0, 1]: 1 - fraction of output frames that are silent (mel peak below silence_level) or come from "
    "a silent or noise-like raw beat",
    "content": "[0, 1]: what a musician keeps: with the raw's junk labels, the junk-removed / song-kept F "
    "(editor_env.labels); without them, the same F estimated from the content model's per-beat song "
    "probabilities (editor_env.content); left out when neither is given",
}


# -- configuration ---------------------------------------------------------------------------
@dataclasses.dataclass
class RewardConfig:
    """Weights and tolerances of the common reward; ``configs/reward.json`` holds the defaults.

    Set a weight to 0 to leave a component out of the total (it is still reported).
    """

    weights: dict[str, float] = dataclasses.field(default_factory=lambda: dict(DEFAULT_WEIGHTS))
    """Weight of each component in the total (names in :data:`COMPONENTS`); a name left out of
    a config file keeps its default weight."""
    target_ratio: float = 0.67
    """Target output/raw length ratio."""
    ratio_slack: float = 0.05
    """Ratios within ``target_ratio +- ratio_slack`` (fractions of the raw length) score 1."""
    ratio_tolerance: float = 0.10
    """Width (fraction of raw length) of the Gaussian fall-off of ``length`` beyond the slack:
    0.61 at one tolerance past the slack, 0.14 at two."""
    pointer_jitter_frames: int = 2
    """A pointer step ``s`` is continuous playback when ``|s - 1| <= pointer_jitter_frames``
    (absorbs alignment jitter and mild time stretch); anything else is a jump (a seam)."""
    min_token_fraction: float = 0.3
    """Runs of output frames on one raw beat shorter than this fraction of the median beat are
    rounding slivers at cuts, not output beats, and are dropped from the beat sequence."""
    mel_l1_scale: float = 0.25
    """Mean mel L1 (mel in [0, 1]) at which ``mel_similarity`` reaches 0. With 1.0 it is plain
    ``1 - L1``, but two unrelated stretches of music differ by only about 0.1-0.2 on average,
    so that would score any edit 0.8-0.9; 0.25 spreads the range."""
    cut_tolerance_beats: float = 1.0
    """Cut points match when within this many (median) raw beats."""
    seam_context_frames: int = 2
    """Frames averaged on each side of a seam (about 46 ms at the default hop)."""
    seam_min_frame_change: float = 0.01
    """Floor of the recording's typical frame-to-frame mel change (mean |diff|) that spectral
    discontinuity is measured against, so a very steady recording does not blow it up."""
    seam_spectral_scale: float = 2.0
    """Spectral score ``exp(-x / scale)``, ``x`` = how much more the mel changes across the seam
    than the raw changes at either of its ends, in units of the typical frame-to-frame change."""
    seam_loudness_tolerance_db: float = 1.0
    """Loudness jumps (beyond the raw's own change at either end) up to this many dB score 1."""
    seam_loudness_scale_db: float = 6.0
    """Loudness score ``exp(-max(0, jump_db - tolerance) / scale)``."""
    seam_beat_tolerance_s: float = 0.07
    """A seam within this many seconds of a raw beat onset is on the beat."""
    seam_on_beat_score: float = 0.9
    """Grid factor of a seam on a beat that is not a downbeat (a downbeat scores 1)."""
    seam_off_beat_score: float = 0.6
    """Grid factor of a seam between beats (e.g. in the middle of a note)."""
    seam_bar_mismatch_score: float = 0.5
    """Factor of a jump that lands on another position in the bar than the one it left."""
    seam_part_weights: dict[str, float] = dataclasses.field(default_factory=lambda: dict(DEFAULT_SEAM_PART_WEIGHTS))
    """Weights of the spectral, loudness and phase parts of a seam's score."""
    seams_free_per_minute: float = 4.0
    """Seams per minute of output (at least one minute is assumed) that cost nothing ..."""
    seams_rate_scale_per_minute: float = 8.0
    """... beyond which ``seam_quality`` is multiplied by ``exp(-excess_rate / scale)``."""
    max_uses: float = 2.0
    """A raw beat may be played this many times (a loop of two) before it counts as repetition."""
    silence_level: float = 0.25
    """A frame whose loudest mel bin is below this normalised level (0.25 = -60 dB) is silent."""
    silent_beat_fraction: float = 0.5
    """A raw beat whose ``silence_fraction`` feature exceeds this is silent."""
    noise_flatness: float = 0.35
    """A raw beat whose ``spectral_flatness`` feature exceeds this is noise."""
    mel_match_jump_penalty: float = 0.5
    """Mel-only outputs: centred-cosine margin a non-consecutive raw beat needs to win a chunk."""
    duplicate_beat_similarity: float = 0.98
    """Two raw beats whose mean spectra (centred cosine of 32 mel bands) are at least this
    similar, and so are the beats before them or the beats after them, are the same material
    (a copy-pasted loop, a repeated take): the reference components compare them as one, so
    playing the repeat instead of the first take costs nothing, and a mel-only output, which
    cannot tell them apart, is not penalised. Set above 1 to compare raw beat indices only."""

    def __post_init__(self) -> None:
        self.weights = _merge_named("weights", self.weights, DEFAULT_WEIGHTS)
        self.seam_part_weights = _merge_named("seam_part_weights", self.seam_part_weights, DEFAULT_SEAM_PART_WEIGHTS)
        if sum(self.weights.values()) <= 0:
            raise MusicEditError("RewardConfig.weights: at least one weight must be positive.")
        if sum(self.seam_part_weights.values()) <= 0:
            raise MusicEditError("RewardConfig.seam_part_weights: at least one weight must be positive.")
        checks = {  # evaluated lazily, once the value is known to be a number
            "target_ratio": lambda v: 0 < v <= 4,
            "ratio_slack": lambda v: 0 <= v < 1,
            "ratio_tolerance": lambda v: v > 0,
            "pointer_jitter_frames": lambda v: v >= 0,
            "min_token_fraction": lambda v: 0 <= v < 1,
            "mel_l1_scale": lambda v: v > 0,
            "cut_tolerance_beats": lambda v: v > 0,
            "seam_context_frames": lambda v: v >= 1,
            "seam_min_frame_change": lambda v: v > 0,
            "seam_spectral_scale": lambda v: v > 0,
            "seam_loudness_tolerance_db": lambda v: v >= 0,
            "seam_loudness_scale_db": lambda v: v > 0,
            "seam_beat_tolerance_s": lambda v: v >= 0,
            "seam_on_beat_score": lambda v: 0 <= v <= 1,
            "seam_off_beat_score": lambda v: 0 <= v <= 1,
            "seam_bar_mismatch_score": lambda v: 0 <= v <= 1,
            "seams_free_per_minute": lambda v: v >= 0,
            "seams_rate_scale_per_minute": lambda v: v > 0,
            "max_uses": lambda v: v >= 1,
            "silence_level": lambda v: 0 <= v <= 1,
            "silent_beat_fraction": lambda v: 0 <= v <= 1,
            "noise_flatness": lambda v: 0 <= v <= 1,
            "mel_match_jump_penalty": lambda v: v >= 0,
            "duplicate_beat_similarity": lambda v: 0 < v,
        }
        integers = ("pointer_jitter_frames", "seam_context_frames")
        for name, ok in checks.items():
            value = getattr(self, name)
            number = isinstance(value, int if name in integers else (int, float)) and not isinstance(value, bool)
            if not number or not math.isfinite(value) or not ok(value):
                default = getattr(RewardConfig, name)
                raise MusicEditError(f"RewardConfig.{name}={value!r} is invalid; the default is {default!r}.")

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, values: dict[str, Any], *, source: str = "reward config") -> RewardConfig:
        from editor_env.io import check_config_fields

        values = check_config_fields(cls, values, source)
        try:
            return cls(**values)
        except MusicEditError as exc:
            raise MusicEditError(f"{source}: {exc}") from exc

    def to_json(self, path: str | os.PathLike) -> Path:
        """Write the config as JSON (atomically)."""
        from editor_env.io import atomic_write_text

        return atomic_write_text(path, json.dumps(self.to_dict(), indent=2) + "\n")

    @classmethod
    def from_json(cls, path: str | os.PathLike) -> RewardConfig:
        from editor_env.io import read_json

        return cls.from_dict(read_json(path, "reward config"), source=str(path))


def _merge_named(field: str, given: Any, defaults: dict[str, float]) -> dict[str, float]:
    if not isinstance(given, dict):
        raise MusicEditError(f"RewardConfig.{field} must be a mapping of name -> weight, not {given!r}.")
    unknown = sorted(set(given) - set(defaults))
    if unknown:
        raise MusicEditError(f"RewardConfig.{field}: unknown name(s) {unknown}; known: {list(defaults)}.")
    merged = dict(defaults)
    for name, value in given.items():
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0:
            raise MusicEditError(f"RewardConfig.{field}[{name!r}]={value!r} must be a finite number >= 0.")
        merged[name] = float(value)
    return merged


# -- result ----------------------------------------------------------------------------------
@dataclasses.dataclass
class RewardResult:
    """The score of one output.

    :param total: weighted mean of ``components`` with ``weights_used``, in [0, 1].
    :param components: the components that could be computed, each in [0, 1] (1 = best);
        :data:`COMPONENT_DOCS` gives each one's meaning.
    :param weights_used: the weights of those components, renormalised to sum to 1.
    :param details: diagnostics (output kind, ratio, number of seams and cuts, per-seam scores ...).
    """

    total: float
    components: dict[str, float]
    weights_used: dict[str, float]
    details: dict[str, Any]

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly copy (arrays become lists)."""
        details = {k: (v.tolist() if isinstance(v, np.ndarray) else v) for k, v in self.details.items()}
        return {
            "total": self.total,
            "components": dict(self.components),
            "weights_used": dict(self.weights_used),
            "details": details,
        }


# -- the raw recording and the output, as the scorer sees them -------------------------------
_CANONICAL_BLOCK = 2048
"""Rows of the beat-similarity matrix computed at once when finding duplicate beats (memory)."""


class _Raw:
    """Per-recording quantities shared by every component (cheap: no full-mel passes)."""

    def __init__(self, raw: Analysis, params: AudioParams):
        self.analysis = raw
        self.params = params
        self.mel = raw.mel
        if self.mel.ndim != 2 or self.mel.shape[1] == 0:
            raise MusicEditError(f"Analysis.mel must be (n_mels, n_frames) with frames; got {self.mel.shape}.")
        self.n_frames = int(self.mel.shape[1])
        self.fs = params.frame_seconds
        self.duration = float(raw.duration) if raw.duration > 0 else self.n_frames * self.fs
        beats = raw.beats
        self.n_beats = beats.n_beats
        self.times = np.asarray(beats.times, dtype=np.float64)
        self.beat_frames = np.maximum.accumulate(np.clip(beats.frames(params), 0, self.n_frames - 1))
        ends = np.append(self.beat_frames[1:], self.n_frames)
        self.beat_len = np.maximum(ends - self.beat_frames, 1).astype(np.float64)
        self.beat_seconds = np.diff(np.append(self.times, max(self.duration, self.times[-1] + self.fs)))
        self.bar_position = np.asarray(beats.bar_position, dtype=np.int64)
        self.beats_per_bar = params.beats_per_bar
        if self.n_beats > 1:
            self.median_beat_s = float(np.median(np.diff(self.times)))
        else:
            self.median_beat_s = 60.0 / params.default_bpm
        self.median_beat_frames = max(self.median_beat_s / self.fs, 1.0)
        feats = raw.features
        if (
            feats.ndim == 2
            and feats.shape[0] == self.n_beats
            and feats.shape[1] >= feature_slice("spectral_flatness").stop
        ):
            silent = feats[:, feature_slice("silence_fraction")][:, 0]
            flat = feats[:, feature_slice("spectral_flatness")][:, 0]
        else:
            silent = flat = np.zeros(self.n_beats)
        self._silent_fraction, self._flatness = silent, flat
        self._frame_change: float | None = None
        self._peak: np.ndarray | None = None
        self._mel_rows: np.ndarray | None = None
        self._beat_vectors: np.ndarray | None = None
        self._canonical: dict[float, np.ndarray] = {}

    def beat_of(self, frames: np.ndarray) -> np.ndarray:
        """Raw beat index of each raw frame."""
        return np.clip(np.searchsorted(self.beat_frames, frames, side="right") - 1, 0, self.n_beats - 1)

    def bad_beats(self, config: RewardConfig) -> np.ndarray:
        return (self._silent_fraction > config.silent_beat_fraction) | (self._flatness > config.noise_flatness)

    def beat_vectors(self) -> tuple[np.ndarray, np.ndarray]:
        """Unit-norm mean 32-band mel of every raw beat, centred on the recording's average
        ``(n_beats, 32)``, and that average ``(32,)``."""
        if self._beat_vectors is None:
            vec = _beat_means(_mel_bands(self.mel), self.beat_frames)
            centre = vec.mean(axis=0)
            vec = vec - centre
            vec /= np.maximum(np.linalg.norm(vec, axis=1, keepdims=True), 1e-8)
            self._beat_vectors = (vec.astype(np.float32), centre.astype(np.float32))
        return self._beat_vectors

    def canonical_beats(self, threshold: float) -> np.ndarray:
        """For every raw beat, the first raw beat that is the same material (itself if none):
        the two beats, and the beats before them or the beats after them, are at least
        ``threshold`` similar (one similar chord in another context is not a copy)."""
        if threshold > 1.0:
            return np.arange(self.n_beats)
        if threshold not in self._canonical:
            vec, _ = self.beat_vectors()
            n = self.n_beats
            canon = np.arange(n)
            block = _CANONICAL_BLOCK
            for r0 in range(0, n, block):
                r1 = min(r0 + block, n)
                lo, hi = max(r0 - 1, 0), min(r1 + 1, n)
                sim = vec[lo:hi] @ vec.T  # rows lo..hi-1: one matmul covers the neighbour rows
                rows = np.arange(r0, r1)
                own = sim[rows - lo]
                # the best of s[i-1, j-1] and s[i+1, j+1] (-1 where a neighbour is missing)
                neighbour = np.full_like(own, -1.0)
                p0 = 1 if r0 == 0 else 0  # rows with a beat before them: p0 ..
                neighbour[p0:, 1:] = sim[rows[p0:] - 1 - lo, :-1]
                q1 = rows.size - 1 if r1 == n else rows.size  # rows with a beat after them: .. q1
                nxt = neighbour[:q1, :-1]  # a view: written in place
                np.maximum(nxt, sim[rows[:q1] + 1 - lo, 1:], out=nxt)
                match = np.minimum(own, neighbour) >= threshold
                match[np.arange(rows.size), rows] = True
                canon[r0:r1] = np.argmax(match, axis=1)
            self._canonical[threshold] = canon
        return self._canonical[threshold]

    def canonical_position(self, t: np.ndarray, threshold: float, *, before: bool, slack: float) -> np.ndarray:
        """Raw times moved onto the same place in the first copy of their material, read from
        the beat ``slack`` seconds before (``before``: where a cut leaves) or after ``t`` (where
        it enters), so that a cut rounded a frame past a beat boundary still reads its own beat."""
        probe = t - slack if before else t + slack
        beat = np.clip(np.searchsorted(self.times, probe, side="right") - 1, 0, self.n_beats - 1)
        return self.times[self.canonical_beats(threshold)[beat]] + (t - self.times[beat])

    def mel_rows(self) -> np.ndarray:
        """The mel as contiguous frame rows ``(n_frames, n_mels)``: gathering frames is fast."""
        if self._mel_rows is None:
            self._mel_rows = np.ascontiguousarray(self.mel.T)
        return self._mel_rows

    def frame_peak(self) -> np.ndarray:
        """Loudest mel bin of every raw frame, ``(n_frames,)``."""
        if self._peak is None:
            self._peak = self.mel.max(axis=0)
        return self._peak

    def typical_frame_change(self) -> float:
        """Median over (a strided sample of) frames of the mean |mel[t+1] - mel[t]|."""
        if self._frame_change is None:
            if self.n_frames < 2:
                self._frame_change = 0.0
            else:
                stride = max(1, (self.n_frames - 1) // 4096)
                nxt = self.mel[:, 1::stride]
                diff = np.abs(nxt - self.mel[:, : self.n_frames - 1 : stride][:, : nxt.shape[1]])
                self._frame_change = float(np.median(diff.mean(axis=0)))
        return self._frame_change


@dataclasses.dataclass
class _View:
    """An output or reference reduced to what the components need."""

    kind: str  # "edl", "pointers" or "mel"
    pointers: np.ndarray  # (n_out,) raw frame per output frame
    ratio: float  # output / raw length
    tokens: np.ndarray  # raw beat per output beat
    jumps: np.ndarray  # (n_jumps, 2) raw times (s) where the output leaves the raw and where it re-enters
    ends: tuple[float, float]  # raw times (s) where the output starts and where it stops
    seam_leave: np.ndarray | None  # last raw frame played before each seam (None: no seams defined)
    seam_enter: np.ndarray | None  # first raw frame played after each seam
    mel: np.ndarray | None = None  # the output's own mel (mel-only outputs)

    @property
    def n_frames(self) -> int:
        return int(self.pointers.size)


def _tokens_from_pointers(raw: _Raw, p: np.ndarray, jump: np.ndarray, config: RewardConfig) -> np.ndarray:
    """One raw beat index per output beat: runs of frames on one raw beat without a jump,
    slivers shorter than ``min_token_fraction`` of a beat dropped, neighbours merged back."""
    if p.size == 0:
        return np.zeros(0, dtype=np.int64)
    beat = raw.beat_of(p)
    brk = np.zeros(p.size, dtype=bool)
    brk[0] = True
    brk[1:] = (beat[1:] != beat[:-1]) | jump
    starts = np.flatnonzero(brk)
    lengths = np.diff(np.append(starts, p.size))
    keep = lengths >= config.min_token_fraction * raw.median_beat_frames
    if not keep.any():
        keep = lengths == lengths.max()
    starts = starts[keep]
    tokens = beat[starts]
    # a dropped sliver must not split one beat in two: merge equal neighbours with no jump between
    jumps_before = np.concatenate([[0], np.cumsum(jump)])[starts]
    same = np.zeros(tokens.size, dtype=bool)
    same[1:] = (tokens[1:] == tokens[:-1]) & (jumps_before[1:] == jumps_before[:-1])
    return tokens[~same]


def _view_from_pointers(raw: _Raw, pointers: np.ndarray, config: RewardConfig, *, kind: str = "pointers") -> _View:
    p = pointers
    step = np.diff(p)
    jump = np.abs(step - 1) > config.pointer_jitter_frames
    idx = np.flatnonzero(jump) + 1
    leave, enter = p[idx - 1], p[idx]
    return _View(
        kind=kind,
        pointers=p,
        ratio=p.size * raw.fs / raw.duration,
        tokens=_tokens_from_pointers(raw, p, jump, config),
        jumps=np.stack([(leave + 1) * raw.fs, enter * raw.fs], axis=1),
        ends=(p[0] * raw.fs, (p[-1] + 1) * raw.fs) if p.size else (0.0, 0.0),
        seam_leave=leave,
        seam_enter=enter,
    )


def _view_from_edl(raw: _Raw, edl: EditList, config: RewardConfig, params: AudioParams) -> _View:
    raw_s = edl.raw_length / edl.sample_rate
    if abs(raw_s - raw.duration) > 0.1 + 0.01 * raw.duration:
        raise MusicEditError(
            f"The EDL was made for a {raw_s:.2f} s recording but the analysis is of {raw.duration:.2f} s: "
            "score it against the analysis of the recording it edits."
        )
    out_lengths = np.array([seg.output_length() for seg in edl.segments], dtype=np.int64)
    p = np.minimum(edl.to_pointers(params), raw.n_frames - 1)
    sr, fs = edl.sample_rate, raw.fs
    segs = edl.segments
    leave_s = np.array([(s.raw_start if s.effects.reverse else s.raw_end) / sr for s in segs])
    enter_s = np.array([(s.raw_end if s.effects.reverse else s.raw_start) / sr for s in segs])
    # a boundary is a seam when the raw position jumps (an effect change alone is no seam)
    gap = np.abs(enter_s[1:] - leave_s[:-1])
    is_seam = gap > config.pointer_jitter_frames * fs + 1e-9
    out_starts = np.cumsum(out_lengths)[:-1]  # output sample where segments 1.. start
    seam_out = out_starts[is_seam] / sr
    seam_leave_s, seam_enter_s = leave_s[:-1][is_seam], enter_s[1:][is_seam]
    # the beat sequence splits at these seams (the pointers alone cannot see a reverse/stretch seam)
    jump = np.zeros(max(p.size - 1, 0), dtype=bool)
    if p.size > 1 and seam_out.size:
        at = np.clip(np.round(seam_out / fs).astype(np.int64), 1, p.size - 1)
        jump[at - 1] = True
    return _View(
        kind="edl",
        pointers=p,
        ratio=float(out_lengths.sum()) / edl.raw_length,
        tokens=_tokens_from_pointers(raw, p, jump, config),
        jumps=np.stack([seam_leave_s, seam_enter_s], axis=1),
        ends=(float(enter_s[0]), float(leave_s[-1])) if segs else (0.0, 0.0),
        seam_leave=np.clip(np.round(seam_leave_s / fs).astype(np.int64) - 1, 0, raw.n_frames - 1),
        seam_enter=np.clip(np.round(seam_enter_s / fs).astype(np.int64), 0, raw.n_frames - 1),
    )


def _beat_means(mel: np.ndarray, starts: np.ndarray) -> np.ndarray:
    """Mean of ``mel`` over frame spans starting at ``starts`` (to the next start), ``(n, n_mels)``."""
    n = mel.shape[1]
    starts = np.minimum(starts, n - 1)
    ends = np.maximum(np.append(starts[1:], n), starts + 1)
    sums = np.add.reduceat(mel, starts, axis=1)  # a repeated start gives that one frame: fine
    return (sums / (ends - starts)).T


MEL_MATCH_PHASES = 4
"""Mel-only outputs: beat phases (per beat) tried when cutting the output into beat chunks."""


def _mel_bands(mel: np.ndarray) -> np.ndarray:
    """Mean of every 4 adjacent mel bins (128 bins -> 32 bands): enough to match beats, 4x cheaper."""
    n = (mel.shape[0] // 4) * 4
    mel = mel.astype(np.float32, copy=False)
    return mel[:n].reshape(n // 4, 4, mel.shape[1]).sum(axis=1) * np.float32(0.25) if n else mel


def _chunk_starts(n_out: int, chunk: float, phase: float) -> np.ndarray:
    """Starts of beat-long chunks of an ``n_out``-frame output whose beats fall at ``phase + k *
    chunk``; a partial chunk shorter than half a beat at either end joins its neighbour."""
    grid = np.round(phase + np.arange(int(np.ceil(n_out / chunk)) + 1) * chunk).astype(np.int64)
    starts = np.unique(np.concatenate([[0], grid[grid < n_out]]))
    if starts.size > 1 and starts[1] < chunk / 2:
        starts = np.delete(starts, 1)
    if starts.size > 1 and n_out - starts[-1] < chunk / 2:
        starts = starts[:-1]
    return starts


def _view_from_mel(raw: _Raw, mel: np.ndarray, config: RewardConfig) -> _View:
    n_out = mel.shape[1]
    chunk = raw.median_beat_frames
    b, centre = raw.beat_vectors()
    bands = _mel_bands(mel)
    csum = np.concatenate([np.zeros((bands.shape[0], 1)), np.cumsum(bands, axis=1, dtype=np.float64)], axis=1)

    def similarity(starts: np.ndarray, ends: np.ndarray) -> np.ndarray:
        a = ((csum[:, ends] - csum[:, starts]) / (ends - starts)).T - centre
        a = a.astype(np.float32)
        a /= np.maximum(np.linalg.norm(a, axis=1, keepdims=True), 1e-8)
        return a @ b.T  # (n_chunks, n_beats), centred cosine in [-1, 1]

    # the output's beats need not start at its frame 0: try a few phases (on at most 256
    # evenly spread chunks), keep the one whose chunks best find a raw beat each
    best_fit, starts = -np.inf, None
    for phase in np.arange(MEL_MATCH_PHASES) * chunk / MEL_MATCH_PHASES:
        cand = _chunk_starts(n_out, chunk, phase)
        ends = np.append(cand[1:], n_out)
        pick = np.unique(np.linspace(0, cand.size - 1, min(cand.size, 256)).astype(np.int64))
        fit = float((similarity(cand[pick], ends[pick]).max(axis=1) * (ends - cand)[pick]).sum())
        if fit > best_fit + 1e-9:
            best_fit, starts = fit, cand
    sim = similarity(starts, np.append(starts[1:], n_out))
    lengths = np.diff(np.append(starts, n_out))
    tokens = _viterbi(sim, config.mel_match_jump_penalty)
    first = raw.beat_frames[tokens].copy()
    if lengths[0] < chunk - 0.5:  # a partial first beat is the end of its raw beat
        first[0] = max(first[0] + int(raw.beat_len[tokens[0]]) - int(lengths[0]), 0)
    offsets = np.arange(n_out) - np.repeat(starts, lengths)
    pointers = np.minimum(np.repeat(first, lengths) + offsets, raw.n_frames - 1)
    # jumps: where consecutive chunks are not consecutive raw beats
    k = np.flatnonzero(tokens[1:] != tokens[:-1] + 1)
    bounds = np.append(raw.times, raw.duration)
    return _View(
        kind="mel",
        pointers=pointers.astype(np.int64),
        ratio=n_out * raw.fs / raw.duration,
        tokens=tokens,
        jumps=np.stack([bounds[tokens[k] + 1], raw.times[tokens[k + 1]]], axis=1),
        ends=(pointers[0] * raw.fs, (pointers[-1] + 1) * raw.fs),
        seam_leave=None,
        seam_enter=None,
        mel=mel,
    )


def _viterbi(sim: np.ndarray, penalty: float) -> np.ndarray:
    """Best raw-beat path through ``sim (n_chunks, n_beats)``: moving to beat ``b+1`` is free,
    any other move costs ``penalty``. O(n_chunks x n_beats), a few numpy operations a chunk."""
    n_chunks, n_beats = sim.shape
    value = sim[0].astype(np.float64)
    nxt = np.empty(n_beats)
    from_prev = np.zeros((n_chunks, n_beats), dtype=bool)
    jump_from = np.zeros(n_chunks, dtype=np.int64)
    for k in range(1, n_chunks):
        best = int(value.argmax())
        jump_val = value[best] - penalty
        jump_from[k] = best
        np.greater_equal(value[:-1], jump_val, out=from_prev[k, 1:])
        np.maximum(value[:-1], jump_val, out=nxt[1:])
        nxt[0] = jump_val
        np.add(nxt, sim[k], out=value)
    path = np.empty(n_chunks, dtype=np.int64)
    path[-1] = int(value.argmax())
    for k in range(n_chunks - 1, 0, -1):
        path[k - 1] = path[k] - 1 if from_prev[k, path[k]] else jump_from[k]
    return path


def _as_view(raw: _Raw, thing: Any, config: RewardConfig, params: AudioParams, *, role: str) -> _View:
    if isinstance(thing, EditList):
        return _view_from_edl(raw, thing, config, params)
    arr = np.asarray(thing)
    if arr.ndim == 1:
        if arr.size and not np.issubdtype(arr.dtype, np.integer):
            if not np.issubdtype(arr.dtype, np.number) or not np.all(np.equal(np.mod(arr, 1), 0)):
                raise MusicEditError(f"The {role} pointer sequence must hold integer raw frame indices.")
        p = arr.astype(np.int64)
        if p.size and (p.min() < 0 or p.max() > raw.n_frames - 1 + 2):
            raise MusicEditError(
                f"The {role} pointer sequence points at raw frames {p.min()}..{p.max()} but the raw "
                f"recording has {raw.n_frames} frames: was it made for another recording or hop?"
            )
        return _view_from_pointers(raw, np.minimum(p, raw.n_frames - 1), config)
    if arr.ndim == 2 and role == "output":
        if arr.shape[0] != raw.mel.shape[0]:
            raise MusicEditError(
                f"The output mel has {arr.shape[0]} bins but the raw analysis has {raw.mel.shape[0]}: "
                "give the mel as (n_mels, frames) with the analysis parameters."
            )
        if not np.all(np.isfinite(arr)):
            raise MusicEditError("The output mel holds NaN or infinite values.")
        if arr.size and (arr.min() < -0.5 or arr.max() > 1.5):
            raise MusicEditError(
                f"The output mel spans {arr.min():.2f}..{arr.max():.2f}; it must be normalised like the cache, "
                "(mel_db + top_db) / top_db in [0, 1] (values slightly outside are clipped)."
            )
        if arr.shape[1] == 0:
            return _view_from_pointers(raw, np.zeros(0, dtype=np.int64), config, kind="mel")
        return _view_from_mel(raw, np.clip(arr.astype(np.float32), 0.0, 1.0), config)
    what = "an EditList, a 1-D pointer sequence or a 2-D mel" if role == "output" else "None, an EditList or pointers"
    raise MusicEditError(f"The {role} must be {what}; got an array of shape {arr.shape}.")


# -- components ------------------------------------------------------------------------------
def length_score(ratio: float, config: RewardConfig) -> float:
    """``length``, in [0, 1]: 1 within ``target_ratio +- ratio_slack``, Gaussian fall-off beyond."""
    excess = max(0.0, abs(ratio - config.target_ratio) - config.ratio_slack)
    return float(math.exp(-0.5 * (excess / config.ratio_tolerance) ** 2))


def sequence_similarity(raw: _Raw, out: _View, ref: _View, config: RewardConfig) -> float:
    """``sequence_similarity``, in [0, 1]: ``2 * LCS / (n_out + n_ref)`` of the two raw-beat
    sequences (the ratio difflib reports, with the longest common subsequence in place of its
    greedy matching blocks); 1 = the same beats in the same order. Duplicate raw beats (see
    ``duplicate_beat_similarity``) count as one."""
    n, m = out.tokens.size, ref.tokens.size
    if n == 0 and m == 0:
        return 1.0
    canon = raw.canonical_beats(config.duplicate_beat_similarity)
    return 2.0 * lcs_length(canon[out.tokens], canon[ref.tokens]) / (n + m)


def lcs_length(a: np.ndarray, b: np.ndarray) -> int:
    """Length of the longest common subsequence, bit-parallel (Allison-Dix / Hyyrö): one pass
    over ``a`` with big-integer bit vectors over ``b``, O(len(a) * len(b) / 64) word operations."""
    if a.size == 0 or b.size == 0:
        return 0
    masks: dict[int, int] = {}
    for j, sym in enumerate(b.tolist()):
        masks[sym] = masks.get(sym, 0) | (1 << j)
    full = (1 << b.size) - 1
    v = full
    for sym in a.tolist():
        u = v & masks.get(sym, 0)
        v = ((v + u) | (v - u)) & full
    return b.size - v.bit_count()


def mel_similarity(raw: _Raw, out: _View, ref: _View, config: RewardConfig) -> float:
    """``mel_similarity``, in [0, 1]: ``(1 - L1 / mel_l1_scale)`` over the shorter length (both
    mels read from the raw mel through the pointers; a mel-only output uses its own mel), times
    the length factor shorter/longer."""
    n_o, n_r = out.n_frames, ref.n_frames
    if n_o == 0 or n_r == 0:
        return float(n_o == n_r)
    n = min(n_o, n_r)
    pr = ref.pointers[:n]
    if out.mel is not None:
        l1 = float(np.abs(out.mel[:, :n] - raw.mel[:, pr]).mean())
    else:
        po = out.pointers[:n]
        differ = np.flatnonzero(po != pr)
        rows = raw.mel_rows()
        l1 = float(np.abs(rows[po[differ]] - rows[pr[differ]]).sum()) / (raw.mel.shape[0] * n)
    return float(max(0.0, 1.0 - l1 / config.mel_l1_scale) * n / max(n_o, n_r))


def cut_points(raw: _Raw, view: _View, config: RewardConfig) -> np.ndarray:
    """Sorted raw times where ``view`` leaves or enters the raw timeline, on the first copy of
    duplicated material; a jump between two copies of the same material (leaving one where
    the other goes on) is no cut. The output's start and end are cuts unless they are the
    raw's own start and end."""
    tol = (config.pointer_jitter_frames + 1) * raw.fs
    slack = min((config.pointer_jitter_frames + 0.5) * raw.fs, 0.25 * raw.median_beat_s)

    def canonical(t: np.ndarray, before: bool) -> np.ndarray:
        return raw.canonical_position(t, config.duplicate_beat_similarity, before=before, slack=slack)

    leave, enter = view.jumps[:, 0], view.jumps[:, 1]
    leave_b, enter_b, leave_a, enter_a = (
        canonical(leave, True),
        canonical(enter, True),
        canonical(leave, False),
        canonical(enter, False),
    )
    real = (np.abs(leave_b - enter_b) > tol) & (np.abs(leave_a - enter_a) > tol)
    cuts = [leave_b[real], enter_a[real]]
    if view.n_frames:
        start, stop = np.array([view.ends[0]]), np.array([view.ends[1]])
        if start[0] > tol:
            cuts.append(canonical(start, False))
        if stop[0] < raw.duration - tol:
            cuts.append(canonical(stop, True))
    return np.sort(np.concatenate(cuts))


def cut_f_measure(raw: _Raw, out_cuts: np.ndarray, ref_cuts: np.ndarray, config: RewardConfig) -> float:
    """``cut_f_measure``, in [0, 1]: F-measure of the output's cut points against the
    reference's (:func:`cut_points`) matched within ``cut_tolerance_beats`` (mir_eval's
    bipartite matching); 1 when neither has a cut."""
    if out_cuts.size == 0 and ref_cuts.size == 0:
        return 1.0
    if out_cuts.size == 0 or ref_cuts.size == 0:
        return 0.0
    import mir_eval.util

    window = config.cut_tolerance_beats * raw.median_beat_s
    hits = len(mir_eval.util.match_events(ref_cuts, out_cuts, window))
    if hits == 0:
        return 0.0
    precision, recall = hits / out_cuts.size, hits / ref_cuts.size
    return float(2 * precision * recall / (precision + recall))


def seam_quality(raw: _Raw, out: _View, config: RewardConfig) -> tuple[float, dict[str, Any]]:
    """``seam_quality``, in [0, 1]: mean per-seam score times the seam-rate factor; 1 with no seams.

    Per seam (last raw frame played ``a``, first raw frame after ``b``), three parts in [0, 1]:

    - spectral: the mean mel L1 across the seam (``seam_context_frames`` before ``a`` against
      as many from ``b``) beyond the larger of the raw's own changes at the two ends
      (``a -> a+1`` and ``b-1 -> b``), in units of the recording's typical frame-to-frame
      change ``x``: ``exp(-x / seam_spectral_scale)``. A cut into an onset the raw has anyway
      (a downbeat, or the music resuming after a cut-out silence) costs nothing; a cut from the
      middle of one sustained note into the middle of another scores near 0;
    - loudness: the same in dB of frame power, ``exp(-max(0, excess_db - tol) / scale)``;
    - phase: ``(1 - 2 * beat-phase error) x bar factor x grid factor``: the beat phase error is
      how far (fraction of a beat, circular) ``b`` sits from where ``a+1`` sat in its beat;
      the bar factor is ``seam_bar_mismatch_score`` when the jump lands on another position
      in the bar; the grid factor is 1 on a downbeat, ``seam_on_beat_score`` on another beat and
      ``seam_off_beat_score`` between beats (a cut in the middle of a note).
    """
    n_seams = 0 if out.seam_leave is None else int(out.seam_leave.size)
    minutes = out.n_frames * raw.fs / 60.0
    details: dict[str, Any] = {"n_seams": n_seams, "seams_per_minute": n_seams / max(minutes, 1e-9)}
    if n_seams == 0:
        return 1.0, details
    last = raw.n_frames - 1
    a = np.clip(out.seam_leave, 0, last)
    b = np.clip(out.seam_enter, 0, last)
    # Two strips of 2w+2 raw frames per seam: a-w .. a+w+1 and b-w-1 .. b+w. In both, strip
    # positions s+1 .. s+w are the w frames "before" the boundary shifted by s, and
    # s+w+1 .. s+2w the w frames "after" it (s in -1, 0, 1: pointers round to frames).
    w = config.seam_context_frames
    strip_a = _strip_stats(raw, a[:, None] + np.arange(-w, w + 2))
    strip_b = _strip_stats(raw, b[:, None] + np.arange(-w - 1, w + 1))

    def window(strip: tuple[np.ndarray, np.ndarray], side: str, shift: int) -> tuple[np.ndarray, np.ndarray]:
        lo = shift + 1 if side == "before" else shift + w + 1
        return strip[0][:, :, lo : lo + w].mean(axis=2), strip[1][:, lo : lo + w].mean(axis=1)

    def change(x: tuple[np.ndarray, np.ndarray], y: tuple[np.ndarray, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
        return np.abs(x[0] - y[0]).mean(axis=0), np.abs(x[1] - y[1])

    across = change(window(strip_a, "before", 0), window(strip_b, "after", 0))
    # the raw's own change at either end of the seam, within a frame
    natural = [change(window(st, "before", k), window(st, "after", k)) for st in (strip_a, strip_b) for k in (-1, 0, 1)]
    natural_mel = np.max([n[0] for n in natural], axis=0)
    natural_db = np.max([n[1] for n in natural], axis=0)
    tau = max(raw.typical_frame_change(), config.seam_min_frame_change)
    x = np.maximum(0.0, across[0] - natural_mel) / tau
    spectral = np.exp(-x / config.seam_spectral_scale)
    jump_db = np.maximum(0.0, across[1] - natural_db)
    loudness = np.exp(-np.maximum(0.0, jump_db - config.seam_loudness_tolerance_db) / config.seam_loudness_scale_db)

    nat = np.minimum(a + 1, last)
    beat_n, beat_d = raw.beat_of(nat), raw.beat_of(b)
    frac_n = np.clip((nat - raw.beat_frames[beat_n]) / raw.beat_len[beat_n], 0.0, 1.0)
    frac_d = np.clip((b - raw.beat_frames[beat_d]) / raw.beat_len[beat_d], 0.0, 1.0)
    bpb = raw.beats_per_bar
    phi_n = (raw.bar_position[beat_n] + frac_n) % bpb
    phi_d = (raw.bar_position[beat_d] + frac_d) % bpb
    bar_dist = np.abs(phi_n - phi_d)
    bar_dist = np.minimum(bar_dist, bpb - bar_dist)
    frac_dist = np.abs(frac_n - frac_d)
    frac_dist = np.minimum(frac_dist, 1.0 - frac_dist)
    beat_term = 1.0 - 2.0 * frac_dist
    bar_term = np.where(bar_dist <= 0.5, 1.0, config.seam_bar_mismatch_score)
    off_s = np.minimum(frac_d, 1.0 - frac_d) * raw.beat_seconds[beat_d]
    nearest = np.where(frac_d < 0.5, beat_d, np.minimum(beat_d + 1, raw.n_beats - 1))
    nearest_pos = np.where(
        (frac_d >= 0.5) & (beat_d + 1 >= raw.n_beats), (raw.bar_position[beat_d] + 1) % bpb, raw.bar_position[nearest]
    )
    on_beat = off_s <= config.seam_beat_tolerance_s
    grid = np.where(on_beat, np.where(nearest_pos == 0, 1.0, config.seam_on_beat_score), config.seam_off_beat_score)
    phase = beat_term * bar_term * grid

    pw = config.seam_part_weights
    per_seam = (pw["spectral"] * spectral + pw["loudness"] * loudness + pw["phase"] * phase) / sum(pw.values())
    rate = n_seams / max(minutes, 1.0)
    rate_factor = math.exp(-max(0.0, rate - config.seams_free_per_minute) / config.seams_rate_scale_per_minute)
    details.update(
        seam_scores=per_seam,
        seam_spectral=float(spectral.mean()),
        seam_loudness=float(loudness.mean()),
        seam_phase=float(phase.mean()),
        seam_rate_factor=rate_factor,
    )
    return float(np.clip(per_seam.mean() * rate_factor, 0.0, 1.0)), details


def _strip_stats(raw: _Raw, frames: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mel ``(n_mels, n, k)`` and level in dB of frame power ``(n, k)`` of raw ``frames (n, k)``."""
    mel = raw.mel[:, np.clip(frames, 0, raw.n_frames - 1)]
    top = raw.params.top_db
    power = np.exp(mel * np.float32(top * np.log(10.0) / 10.0)).mean(axis=0, dtype=np.float64)
    return mel, 10.0 * np.log10(np.maximum(power, 1e-30)) - top


def repetition_score(raw: _Raw, out: _View, config: RewardConfig) -> tuple[float, float]:
    """``repetition``, in [0, 1]: 1 - fraction of output frames that replay a raw beat beyond
    ``max_uses`` times (counted in frames, so a half-beat loop counts half)."""
    counts = np.bincount(raw.beat_of(out.pointers), minlength=raw.n_beats).astype(np.float64)
    excess = np.maximum(0.0, counts - config.max_uses * raw.beat_len).sum()
    rate = float(excess / out.n_frames)
    return 1.0 - min(rate, 1.0), rate


def silence_score(raw: _Raw, out: _View, config: RewardConfig) -> tuple[float, float]:
    """``silence``, in [0, 1]: 1 - fraction of output frames that are silent (loudest mel bin
    below ``silence_level``) or lie in a raw beat that is mostly silent or noise-like."""
    p = out.pointers
    peak = out.mel.max(axis=0) if out.mel is not None else raw.frame_peak()[p]
    bad = (peak < config.silence_level) | raw.bad_beats(config)[raw.beat_of(p)]
    rate = float(bad.mean())
    return 1.0 - rate, rate


def content_estimate(raw: _Raw, out: _View, song: np.ndarray) -> tuple[float, float]:
    """Junk removed and song kept as the content model sees them: with ``song`` ``(n_beats,)`` the per-beat
    song probabilities and ``played`` the share of each beat's frames the output plays, JR =
    ``1 - sum(junk * played * dur) / sum(junk * dur)`` and SK = ``sum(song * played * dur) / sum(song * dur)``.
    NaN for JR when the model sees no junk."""
    frames = np.unique(out.pointers[(out.pointers >= 0) & (out.pointers < raw.n_frames)])
    played = np.bincount(raw.beat_of(frames), minlength=raw.n_beats)[: raw.n_beats] / raw.beat_len
    played = np.clip(played, 0.0, 1.0)
    song = np.clip(np.asarray(song, dtype=np.float64), 0.0, 1.0) * raw.beat_len
    junk = raw.beat_len - song
    removed = float(1.0 - (junk * played).sum() / junk.sum()) if junk.sum() > 1e-6 else float("nan")
    kept = float((song * played).sum() / song.sum()) if song.sum() > 1e-6 else float("nan")
    return removed, kept


def _harmonic(removed: float, kept: float) -> float:
    """F of junk removed and song kept (song kept alone when there is no junk)."""
    if math.isnan(removed):
        return 0.0 if math.isnan(kept) else kept
    return 0.0 if removed + kept <= 0 else 2 * removed * kept / (removed + kept)


# -- the scorer ------------------------------------------------------------------------------
class Scorer:
    """The common reward for one raw recording (and its reference), prepared once.

    Scoring many outputs of the same recording (an env's episodes, a benchmark's paradigms)
    reuses the per-recording quantities and the reference's pointers and cut points.

    :param raw: the raw recording's analysis (its mel, beats and beat features).
    :param reference: the reference edit as an :class:`EditList` or pointer sequence, or None.
    :param config: weights and tolerances (default :class:`RewardConfig`).
    :param params: the analysis parameters ``raw`` was made with.
    :param labels: the raw's junk spans (:class:`~editor_env.labels.RawLabels`), when known: ``content`` is the
        exact junk-removed / song-kept F.
    :param content: the content model's prediction for ``raw`` (:class:`~editor_env.content.ContentPrediction`),
        used for ``content`` when there are no labels.
    """

    def __init__(
        self,
        raw: Analysis,
        reference: EditList | np.ndarray | None = None,
        config: RewardConfig | None = None,
        params: AudioParams = DEFAULT_PARAMS,
        *,
        labels=None,
        content=None,
    ) -> None:
        self.config = RewardConfig() if config is None else config
        self.params = params
        self.labels = labels
        self.content = content
        self._ctx = _Raw(raw, params)
        if content is not None and np.asarray(content.song).shape != (self._ctx.n_beats,):
            raise MusicEditError(
                f"The content prediction has {np.asarray(content.song).size} beats but the recording {self._ctx.n_beats}: "
                "predict it from the same analysis."
            )
        self._ref = None if reference is None else _as_view(self._ctx, reference, self.config, params, role="reference")
        if self._ref is not None and self._ref.kind == "mel":
            raise MusicEditError("The reference must be an EditList or a pointer sequence, not a mel.")
        self._ref_cuts = None if self._ref is None else cut_points(self._ctx, self._ref, self.config)

    @property
    def reference_pointers(self) -> np.ndarray | None:
        """``(n_ref,)`` raw analysis frame per reference frame, or None without a reference."""
        return None if self._ref is None else self._ref.pointers

    def output_pointers(self, output: EditList | np.ndarray) -> np.ndarray:
        """``(n_out,)`` raw analysis frame per output frame: exact for an EDL or pointers, estimated
        by beat matching for a mel (the same estimate the components use)."""
        return _as_view(self._ctx, output, self.config, self.params, role="output").pointers

    def score(self, output: EditList | np.ndarray) -> RewardResult:
        """Score ``output``: an :class:`EditList`, a 1-D int pointer sequence (raw analysis
        frame per output frame) or a 2-D mel ``(n_mels, T_out)`` in [0, 1]."""
        config, ctx, ref = self.config, self._ctx, self._ref
        out = _as_view(ctx, output, config, self.params, role="output")
        names = [c for c in COMPONENTS if (ref is not None or c not in REFERENCE_COMPONENTS)]
        if out.seam_leave is None:
            names.remove("seam_quality")
        if self.labels is None and self.content is None:
            names.remove("content")
        details: dict[str, Any] = {
            "output_kind": out.kind,
            "ratio": out.ratio,
            "output_frames": out.n_frames,
            "output_beats": int(out.tokens.size),
        }
        if ref is not None:
            out_cuts, ref_cuts = cut_points(ctx, out, config), self._ref_cuts
            details.update(reference_ratio=ref.ratio, output_cuts=int(out_cuts.size), reference_cuts=int(ref_cuts.size))

        if out.n_frames == 0:
            components = dict.fromkeys(names, 0.0)
            details["empty"] = True
        else:
            components = {}
            if ref is not None:
                components["sequence_similarity"] = sequence_similarity(ctx, out, ref, config)
                components["mel_similarity"] = mel_similarity(ctx, out, ref, config)
                components["cut_f_measure"] = cut_f_measure(ctx, out_cuts, ref_cuts, config)
            components["length"] = length_score(out.ratio, config)
            if "seam_quality" in names:
                components["seam_quality"], seam_details = seam_quality(ctx, out, config)
                details.update(seam_details)
            components["repetition"], details["repeated_fraction"] = repetition_score(ctx, out, config)
            components["silence"], details["silent_fraction"] = silence_score(ctx, out, config)
            if "content" in names:
                if self.labels is not None:
                    from editor_env.labels import junk_song_score

                    junk = junk_song_score(self.labels, out.pointers, self.params)
                    details.update(junk_removed=junk.junk_removed, song_kept=junk.song_kept, content_source="labels")
                    components["content"] = junk.f
                else:
                    removed, kept = content_estimate(ctx, out, self.content.song)
                    details.update(junk_removed=removed, song_kept=kept, content_source="content model")
                    components["content"] = _harmonic(removed, kept)
            components = {c: float(np.clip(components[c], 0.0, 1.0)) for c in names}

        weight_sum = sum(config.weights[c] for c in names)
        if weight_sum <= 0:
            raise MusicEditError(
                f"RewardConfig.weights give no weight to any component available here ({names}); "
                "give at least one of them a positive weight."
            )
        weights_used = {c: config.weights[c] / weight_sum for c in names}
        total = float(sum(weights_used[c] * components[c] for c in names))
        return RewardResult(float(np.clip(total, 0.0, 1.0)), components, weights_used, details)


def score(
    raw: Analysis,
    output: EditList | np.ndarray,
    reference: EditList | np.ndarray | None = None,
    config: RewardConfig | None = None,
    params: AudioParams = DEFAULT_PARAMS,
    *,
    labels=None,
    content=None,
) -> RewardResult:
    """Score an edit of ``raw`` (see the module docstring for the inputs and components).

    :param raw: the raw recording's analysis (its mel, beats and beat features).
    :param output: an :class:`EditList`, a 1-D int pointer sequence (raw analysis frame per
        output frame) or a 2-D mel ``(n_mels, T_out)`` in [0, 1].
    :param reference: the reference edit as an :class:`EditList` or pointer sequence, or None.
    :param config: weights and tolerances (default :class:`RewardConfig`).
    :param params: the analysis parameters ``raw`` was made with.
    :param labels, content: for the ``content`` component, as :class:`Scorer`.
    :returns: the total in [0, 1] (weighted mean of the available components) and the components.

    To score many outputs of one recording, make a :class:`Scorer` once instead.
    """
    return Scorer(raw, reference, config, params, labels=labels, content=content).score(output)


__all__ = [
    "COMPONENTS",
    "CONTENT_COMPONENTS",
    "COMPONENT_DOCS",
    "DEFAULT_WEIGHTS",
    "INTRINSIC_COMPONENTS",
    "REFERENCE_COMPONENTS",
    "RewardConfig",
    "RewardResult",
    "Scorer",
    "content_estimate",
    "score",
]

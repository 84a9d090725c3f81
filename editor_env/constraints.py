"""What a user asks of an edit: target length, locked regions, alternatives, ending; checked in one place.

Every paradigm receives the same :class:`EditConstraints` (through
:class:`editor_env.paradigms.EditRequest`), so ``musicedit edit --keep 10-20 --cut 55-62
--target-duration 90 --alternatives 3 --ending phrase`` means the same thing to each of them:

- **target**: ``target_duration_s`` *or* ``target_ratio`` (output / raw length), within ``slack_s``
  seconds (default :data:`DEFAULT_SLACK_S`). With neither, **the music chooses the length**: the content
  model (:mod:`editor_env.content`) says which beats are song worth keeping, and the target becomes their
  duration with a wider slack (:func:`editor_env.paradigms.resolve_length`; :attr:`EditConstraints.length_mode`
  ``"content"``, recorded in every EDL's meta). Without a shipped content model the 0.67 prior remains;
- **keep regions**: raw spans ``(start_s, end_s)`` that the edit must play;
- **cut regions**: raw spans the edit must never play;
- **ending**: ``"natural"`` (what ``musicedit edit`` asks by default) gives an edit that starts inside sound a
  short fade-in and moves an end inside sound to a phrase end with a fade-out (:func:`inside_sound` says what
  "inside sound" means); ``"fade"`` fades the last :data:`ENDING_FADE_S` seconds; ``"phrase"`` also ends the
  edit where a phrase of the raw ends (:func:`phrase_boundaries`); ``"none"`` (or None) leaves start and end as
  the editor made them;
- :func:`finish_edit` applies the length window and the ending the same way to every paradigm's edit;
- **n_alternatives**: how many distinct edits to return, best first (ranked by the common reward).

Editors work on beats, so regions are snapped to the beat grid by :func:`beat_masks`. The rounding
rule (documented, tested): a beat that overlaps a keep region at all (more than
:data:`OVERLAP_EPS_S`) is *locked-keep* — a keep region is never shortened; a beat more than half
inside the cut regions is *locked-cut* unless it is locked-keep — a cut region's ends snap to the
nearest beat boundary. So up to half a beat at either end of a cut region may still play.

:meth:`EditConstraints.validate` fails fast, before any analysis or model work where it can, with a
message naming the option and what to change; :func:`constraint_report` says whether an edit meets
the constraints (used by the tests, the benchmark and the alternatives).
"""

from __future__ import annotations

import dataclasses
import math
import re
from typing import Any

import numpy as np

from editor_env.edl import EditList
from editor_env.errors import MusicEditError
from editor_env.params import DEFAULT_PARAMS

DEFAULT_SLACK_S = 2.0
"""Allowed miss of the target length when the user gives none, seconds (the retarget default)."""
ENDING_FADE_S = 3.0
"""Length of the fade-out of ``ending="fade"`` / ``"phrase"``, seconds (at most the last segment)."""
OVERLAP_EPS_S = 1e-3
"""Overlaps shorter than this (seconds) are rounding, not overlaps."""
REGION_TOLERANCE_S = 0.05
"""A region may end this far past the recording's end (rounding of a typed duration)."""
BARS_PER_PHRASE = 4
"""Bars in a phrase (the action space's PHRASE size is 16 beats = 4 bars of 4/4)."""
ENDINGS = ("natural", "fade", "phrase", "none")
"""``--ending`` choices; ``"none"`` is the same as None (no finish of the start or the end)."""
NATURAL_FADE_IN_S = 0.1
"""Fade-in of an edit that starts inside sound (``natural``, ``fade``, ``phrase``), seconds (at most half the
first segment): long enough to remove the click of a cut into a sustained sound, short enough to keep the
attack of what follows."""
SOUND_PROBE_S = 0.05
"""How much raw audio :func:`inside_sound` listens to beside a cut, seconds (two analysis frames)."""
INSIDE_SOUND_DB = -30.0
"""A cut is inside sound where the raw beside it is within this many dB of the recording's loud level."""
MAX_ALTERNATIVES = 20

Region = tuple[float, float]

_REGION = re.compile(r"^\s*([0-9:.]+)\s*-\s*([0-9:.]+)\s*$")


def parse_time(text: str, option: str = "time") -> float:
    """Seconds from ``"75"``, ``"75.5"``, ``"1:15"`` or ``"1:01:15"``."""
    parts = text.strip().split(":")
    try:
        values = [float(p) for p in parts]
    except ValueError:
        values = []
    if not values or len(values) > 3 or any(v < 0 or not math.isfinite(v) for v in values):
        raise MusicEditError(f"{option}: {text!r} is not a time; write seconds (75.5) or minutes:seconds (1:15.5).")
    seconds = 0.0
    for v in values:
        seconds = 60.0 * seconds + v
    return seconds


def parse_region(text: str, option: str = "--keep") -> Region:
    """``(start_s, end_s)`` from ``"START-END"`` (each seconds or m:ss), e.g. ``"12.5-30"`` or ``"1:05-1:40"``."""
    match = _REGION.match(text)
    if not match:
        raise MusicEditError(f"{option} {text!r}: write START-END in seconds or m:ss, e.g. {option} 12.5-30.")
    start, end = parse_time(match.group(1), option), parse_time(match.group(2), option)
    if not end > start:
        raise MusicEditError(f"{option} {text!r}: the end ({end:g} s) must come after the start ({start:g} s).")
    return start, end


def merge_regions(regions: list[Region]) -> list[Region]:
    """Sorted union of ``(start_s, end_s)`` spans (overlapping or touching spans merged)."""
    merged: list[list[float]] = []
    for start, end in sorted(regions):
        if merged and start <= merged[-1][1] + OVERLAP_EPS_S:
            merged[-1][1] = max(merged[-1][1], end)
        else:
            merged.append([start, end])
    return [(a, b) for a, b in merged]


def _total(regions: list[Region]) -> float:
    return float(sum(b - a for a, b in merge_regions(regions)))


def _fmt(region: Region) -> str:
    return f"{region[0]:g}-{region[1]:g}"


@dataclasses.dataclass
class EditConstraints:
    """The controls of one edit request (module docstring). Times are raw-recording seconds.

    :param target_ratio: output / raw length; exclusive with ``target_duration_s``; both None:
        the paradigm's default (0.67).
    :param target_duration_s: output length in seconds.
    :param slack_s: allowed miss of the target, seconds (None: :data:`DEFAULT_SLACK_S`).
    :param keep_regions: raw spans ``(start_s, end_s)`` that must be played.
    :param cut_regions: raw spans that must not be played.
    :param ending: None (= ``"none"``), ``"natural"``, ``"fade"`` or ``"phrase"`` (:data:`ENDINGS`).
    :param n_alternatives: distinct edits wanted (>= 1), ranked by the common reward.
    :param min_jump_beats: shortest jump (in beats) constrained decoding may take (None: one bar).
    :param seam_penalty: nats constrained decoding takes off an edit's score per seam (None: the decoder's
        default, :data:`pointer_baseline.decode.SEAM_PENALTY`; higher: fewer seams).
    :param content_target_s: the length the music asks for, seconds: set by
        :func:`editor_env.paradigms.resolve_length` from the content model when neither ``target_ratio`` nor
        ``target_duration_s`` is given (:attr:`length_mode` ``"content"``); not a user option.
    :param content_slack_s: the slack that goes with it (a given ``slack_s`` wins).
    """

    target_ratio: float | None = None
    target_duration_s: float | None = None
    slack_s: float | None = None
    keep_regions: list[Region] = dataclasses.field(default_factory=list)
    cut_regions: list[Region] = dataclasses.field(default_factory=list)
    ending: str | None = None
    n_alternatives: int = 1
    min_jump_beats: int | None = None
    seam_penalty: float | None = None
    content_target_s: float | None = None
    content_slack_s: float | None = None

    def __post_init__(self) -> None:
        self.keep_regions = [(float(a), float(b)) for a, b in self.keep_regions]
        self.cut_regions = [(float(a), float(b)) for a, b in self.cut_regions]

    # -- the target ------------------------------------------------------------------------
    @property
    def explicit_target(self) -> bool:
        """Whether the user asked for a length (``target_ratio`` or ``target_duration_s``)."""
        return self.target_ratio is not None or self.target_duration_s is not None

    @property
    def length_mode(self) -> str:
        """``"target"`` (the user's), ``"content"`` (what the content model judges worth keeping) or ``"prior"``
        (no content model: the 0.67 prior)."""
        if self.explicit_target:
            return "target"
        return "content" if self.content_target_s is not None else "prior"

    def target_s(self, raw_duration_s: float, default_ratio: float = 0.67) -> float:
        """The output length asked for, seconds."""
        if self.target_duration_s is not None:
            return float(self.target_duration_s)
        if self.target_ratio is not None:
            return float(self.target_ratio) * raw_duration_s
        if self.content_target_s is not None:
            return float(self.content_target_s)
        return float(default_ratio) * raw_duration_s

    def ratio(self, raw_duration_s: float, default_ratio: float = 0.67) -> float:
        """The output / raw length asked for."""
        return self.target_s(raw_duration_s, default_ratio) / raw_duration_s

    @property
    def slack(self) -> float:
        """Allowed miss of the target, seconds."""
        if self.slack_s is not None:
            return float(self.slack_s)
        if self.length_mode == "content" and self.content_slack_s is not None:
            return float(self.content_slack_s)
        return DEFAULT_SLACK_S

    @property
    def has_regions(self) -> bool:
        return bool(self.keep_regions or self.cut_regions)

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly (for EDL metadata)."""
        values = dataclasses.asdict(self)
        values["keep_regions"] = [list(r) for r in self.keep_regions]
        values["cut_regions"] = [list(r) for r in self.cut_regions]
        return values

    # -- the one validation ----------------------------------------------------------------
    def validate(self, raw_duration_s: float | None = None, beat_times: np.ndarray | None = None) -> EditConstraints:
        """Fail fast on a request that cannot be met; returns ``self``.

        Without ``raw_duration_s`` only the options themselves are checked (before the audio is
        read); with it, also the regions against the recording and the target; with
        ``beat_times`` ``(n_beats,)`` s, also the keep regions once snapped to beats.

        :raises MusicEditError: naming the option(s) and what to change.
        """
        if self.target_ratio is not None and self.target_duration_s is not None:
            raise MusicEditError("Give --target-duration or --target-ratio, not both.")
        if self.target_ratio is not None and not 0 < self.target_ratio <= 4:
            raise MusicEditError(f"--target-ratio {self.target_ratio:g} must lie in (0, 4] (0.67 = two thirds).")
        if self.target_duration_s is not None and not self.target_duration_s > 0:
            raise MusicEditError(f"--target-duration {self.target_duration_s:g} must be a positive number of seconds.")
        if self.slack_s is not None and not (self.slack_s > 0 and math.isfinite(self.slack_s)):
            raise MusicEditError(f"--slack {self.slack_s:g} must be a positive number of seconds.")
        if self.ending is not None and self.ending not in ENDINGS:
            raise MusicEditError(f"--ending {self.ending!r}: choose one of {', '.join(ENDINGS)}.")
        if not 1 <= int(self.n_alternatives) <= MAX_ALTERNATIVES:
            raise MusicEditError(f"--alternatives {self.n_alternatives} must lie in [1, {MAX_ALTERNATIVES}].")
        if self.min_jump_beats is not None and self.min_jump_beats < 1:
            raise MusicEditError(f"min_jump_beats={self.min_jump_beats} must be at least 1 beat.")
        if self.seam_penalty is not None and not (self.seam_penalty >= 0 and math.isfinite(self.seam_penalty)):
            raise MusicEditError(f"seam_penalty={self.seam_penalty:g} must be a finite number of nats >= 0.")
        for option, regions in (("--keep", self.keep_regions), ("--cut", self.cut_regions)):
            for start, end in regions:
                if not (math.isfinite(start) and math.isfinite(end) and 0 <= start < end):
                    raise MusicEditError(f"{option} {_fmt((start, end))}: write START-END with 0 <= START < END.")
        for keep in self.keep_regions:
            for cut in self.cut_regions:
                lo, hi = max(keep[0], cut[0]), min(keep[1], cut[1])
                if hi - lo > OVERLAP_EPS_S:
                    raise MusicEditError(
                        f"--keep {_fmt(keep)} and --cut {_fmt(cut)} overlap ({lo:g}-{hi:g} s): a moment cannot be "
                        "both kept and cut; change one of them."
                    )
        if raw_duration_s is None:
            return self
        raw_s = float(raw_duration_s)
        for option, regions in (("--keep", self.keep_regions), ("--cut", self.cut_regions)):
            for start, end in regions:
                if end > raw_s + REGION_TOLERANCE_S:
                    raise MusicEditError(
                        f"{option} {_fmt((start, end))} lies outside the recording, which lasts {raw_s:.2f} s: "
                        f"give a region within 0-{raw_s:.2f}."
                    )
        target, slack = self.target_s(raw_s), self.slack
        if target - slack > 4 * raw_s:
            raise MusicEditError(
                f"The target {target:.1f} s is more than four times the {raw_s:.1f} s recording: ask for less."
            )
        keep_total = _total(self.keep_regions)
        if keep_total > target + slack:
            raise MusicEditError(
                f"The --keep regions total {keep_total:.1f} s, longer than the target {target:.1f} s +- {slack:g} s: "
                "keep less, or raise --target-duration / --target-ratio or --slack."
            )
        left = raw_s - _total(self.cut_regions)
        if target <= raw_s and left < target - slack:
            raise MusicEditError(
                f"After the --cut regions only {left:.1f} s of the {raw_s:.1f} s recording remain, less than the "
                f"target {target:.1f} s - {slack:g} s: cut less, or lower the target or raise --slack."
            )
        if beat_times is not None and self.keep_regions:
            keep_beats, _ = beat_masks(self, beat_times, raw_s)
            bounds = beat_bounds_s(beat_times, raw_s)
            snapped = float(np.diff(bounds)[keep_beats].sum())
            if snapped > target + slack:
                raise MusicEditError(
                    f"The --keep regions, widened to whole beats, last {snapped:.1f} s, longer than the target "
                    f"{target:.1f} s +- {slack:g} s: keep less, or raise the target or --slack."
                )
        return self


def beat_bounds_s(beat_times: np.ndarray, raw_duration_s: float) -> np.ndarray:
    """``(n_beats + 1,)`` beat boundaries in seconds: the onsets, then the recording's end."""
    times = np.asarray(beat_times, dtype=np.float64)
    return np.append(times, max(float(raw_duration_s), float(times[-1]) if times.size else 0.0))


def _overlap(bounds: np.ndarray, regions: list[Region]) -> np.ndarray:
    """``(n_beats,)`` seconds of each beat inside the union of ``regions``."""
    starts, ends = bounds[:-1], bounds[1:]
    total = np.zeros(starts.size)
    for a, b in merge_regions(regions):
        total += np.clip(np.minimum(ends, b) - np.maximum(starts, a), 0.0, None)
    return total


def beat_masks(
    constraints: EditConstraints | None, beat_times: np.ndarray, raw_duration_s: float
) -> tuple[np.ndarray, np.ndarray]:
    """Locked beats ``(keep_beats, cut_beats)``, each ``(n_beats,)`` bool, by the module's rounding rule:
    overlapping a keep region at all -> keep; more than half inside the cut regions (and not keep) -> cut."""
    bounds = beat_bounds_s(beat_times, raw_duration_s)
    n = bounds.size - 1
    if constraints is None:
        return np.zeros(n, dtype=bool), np.zeros(n, dtype=bool)
    keep = _overlap(bounds, constraints.keep_regions) > OVERLAP_EPS_S
    cut = (_overlap(bounds, constraints.cut_regions) > 0.5 * np.diff(bounds)) & ~keep
    return keep, cut


def phrase_boundaries(
    bar_position: np.ndarray,
    beats_per_bar: int = 4,
    bars_per_phrase: int = BARS_PER_PHRASE,
    silent: np.ndarray | None = None,
) -> np.ndarray:
    """``(n_beats + 1,)`` bool: True at boundary ``k`` (before beat ``k``) where a phrase starts or the music stops.

    A phrase is ``bars_per_phrase`` bars counted in downbeats from the first downbeat of the recording
    (counting downbeats follows the local bar phase through false starts); the start and the end of
    the recording are boundaries, and so is every boundary where sound gives way to a ``silent``
    ``(n_beats,)`` beat (silence or noise: the music stops there)."""
    bar_position = np.asarray(bar_position) % beats_per_bar
    down = bar_position == 0
    bars_before = np.cumsum(down) - 1  # bar index of each beat (-1 before the first downbeat)
    starts = down & (bars_before % bars_per_phrase == 0)
    bounds = np.concatenate([starts | (np.arange(down.size) == 0), [True]])
    if silent is not None and down.size > 1:
        silent = np.asarray(silent, dtype=bool)
        bounds[1:-1] |= silent[1:] & ~silent[:-1]
    return bounds


def silent_beats(analysis) -> np.ndarray:
    """``(n_beats,)`` bool: beats of silence or noise, as the common reward judges them
    (``silent_beat_fraction`` and ``noise_flatness`` of :class:`~editor_env.reward.RewardConfig`)."""
    from editor_env.features import feature_slice
    from editor_env.reward import RewardConfig

    config = RewardConfig()
    features = analysis.features
    silence = features[:, feature_slice("silence_fraction")][:, 0]
    flatness = features[:, feature_slice("spectral_flatness")][:, 0]
    return (silence > config.silent_beat_fraction) | (flatness > config.noise_flatness)


def analysis_phrase_boundaries(analysis) -> np.ndarray:
    """:func:`phrase_boundaries` of an analysed recording (its bar positions and :func:`silent_beats`)."""
    return phrase_boundaries(analysis.beats.bar_position, DEFAULT_PARAMS.beats_per_bar, silent=silent_beats(analysis))


def reward_config(constraints: EditConstraints | None, raw_duration_s: float, default_ratio: float = 0.67, base=None):
    """The common reward's config (``base`` or the default) with its length target at the request's:
    ``target_ratio`` and ``ratio_slack`` (the slack as a fraction of the raw), for ranking and reports."""
    from editor_env.reward import RewardConfig

    base = RewardConfig() if base is None else base
    if constraints is None:
        return dataclasses.replace(base, target_ratio=default_ratio)
    ratio = min(max(constraints.ratio(raw_duration_s, default_ratio), 1e-3), 4.0)
    return dataclasses.replace(base, target_ratio=ratio, ratio_slack=min(constraints.slack / raw_duration_s, 0.99))


# -- the ending --------------------------------------------------------------------------------
def _end_in_raw(edl: EditList) -> float:
    last = edl.segments[-1]
    return (last.raw_start if last.effects.reverse else last.raw_end) / edl.sample_rate


_LEVELS: dict[int, tuple[np.ndarray, np.ndarray]] = {}
"""Frame levels of the last few mels (by identity): finishing and checking an edit reads them several times."""


def _frame_levels_db(analysis) -> np.ndarray:
    """``(n_frames,)`` level of each analysis frame, dB full scale: the power summed over the mel bands of the
    normalised mel (:func:`editor_env.audio.mel_spectrogram`; -80 dB per band is its floor). Computed once per
    mel: every candidate of a ranking asks for it at its start and its end."""
    mel = analysis.mel
    cached = _LEVELS.get(id(mel))
    if cached is not None and cached[0] is mel:
        return cached[1]
    top_db = DEFAULT_PARAMS.top_db
    band_db = np.asarray(mel, dtype=np.float64) * top_db - top_db
    levels = 10.0 * np.log10(np.sum(np.power(10.0, band_db / 10.0), axis=0))
    if len(_LEVELS) >= 4:
        _LEVELS.pop(next(iter(_LEVELS)))
    _LEVELS[id(mel)] = (mel, levels)
    return levels


def inside_sound(analysis, raw_s: float, *, before: bool) -> tuple[bool, float]:
    """Whether a cut at raw second ``raw_s`` lies inside sound, and the level that says so (dB against the
    recording's loud level).

    **Inside sound** means: the :data:`SOUND_PROBE_S` of raw audio on the side the edit cuts off (``before``
    the cut for an edit's start, after it for its end) is within :data:`INSIDE_SOUND_DB` of the recording's
    loud level, its 95th-percentile analysis-frame level. A start after a pause, or an end where the music
    stops, is not inside sound; a start or an end in the middle of a held chord is. At the recording's very
    start (or end) there is nothing to cut off, so the probe listens to the side that plays instead: a
    recording that begins mid-note starts inside sound. Levels are read from the analysis mel (frames of
    about 23 ms, centred), so no audio is read again.
    """
    levels = _frame_levels_db(analysis)
    n = levels.size
    fs = DEFAULT_PARAMS.frame_seconds
    probe = max(int(round(SOUND_PROBE_S / fs)), 1)
    duration = (n - 1) * fs
    if before and raw_s < SOUND_PROBE_S:
        before = False
    elif not before and raw_s > duration - SOUND_PROBE_S:
        before = True
    if before:
        last = min(int(np.floor(raw_s / fs + 1e-9)), n - 1)
        frames = levels[max(last - probe + 1, 0) : last + 1]
    else:
        first = min(int(np.ceil(raw_s / fs - 1e-9)), n - 1)
        frames = levels[first : first + probe]
    level = 10.0 * np.log10(np.mean(np.power(10.0, frames / 10.0))) - float(np.percentile(levels, 95))
    return bool(level >= INSIDE_SOUND_DB), float(level)


def _edit_edges(edl: EditList) -> tuple[tuple[float, bool], tuple[float, bool]]:
    """Where the edit starts and ends in the raw (seconds) and which side of each the edit cuts off:
    ``((start_s, before), (end_s, before))`` (a reversed segment plays the raw backwards)."""
    sr = edl.sample_rate
    first, last = edl.segments[0], edl.segments[-1]
    start = (first.raw_end / sr, False) if first.effects.reverse else (first.raw_start / sr, True)
    end = (last.raw_start / sr, True) if last.effects.reverse else (last.raw_end / sr, False)
    return start, end


def _natural_fade_out_s(analysis) -> float:
    """The fade-out of a natural ending: one bar at the recording's median beat, within [0.5 s, ENDING_FADE_S]."""
    times = np.asarray(analysis.beats.times, dtype=np.float64)
    beat = float(np.median(np.diff(times))) if times.size > 1 else 0.5
    return float(np.clip(DEFAULT_PARAMS.beats_per_bar * beat, 0.5, ENDING_FADE_S))


def _natural_ok(edl: EditList, analysis) -> bool:
    """A natural ending is met when an edit that starts inside sound fades in and one that ends inside sound
    fades out (a phrase end is sought, not required: see :func:`finish_edit`)."""
    (start_s, start_before), (end_s, end_before) = _edit_edges(edl)
    start_ok = edl.segments[0].effects.fade_in_s > 0 or not inside_sound(analysis, start_s, before=start_before)[0]
    end_ok = edl.segments[-1].effects.fade_out_s > 0 or not inside_sound(analysis, end_s, before=end_before)[0]
    return bool(start_ok and end_ok)


def _move_end(edl: EditList, allowed: np.ndarray, keep_beats, cut_beats, bounds, target: float, slack: float):
    """The nearest new end (by output duration) on an ``allowed`` boundary ``(n_beats + 1,)`` that puts the
    edit inside ``target +- slack`` s and keeps the locks: ``(segment index, boundary index)`` or None.
    The new end lies in a plain (not reversed or stretched) segment, cut back, or the last one played on."""
    sr = edl.sample_rate
    segs = edl.segments
    out_starts = edl.output_starts() / sr
    current = edl.output_length() / sr
    beat_len = np.diff(bounds)
    options = []
    for s, seg in enumerate(segs):
        if seg.effects.reverse or seg.effects.stretch != 1.0:
            continue
        a, b = seg.raw_start / sr, seg.raw_end / sr
        upto = bounds[-1] if s == len(segs) - 1 else b
        for k in np.flatnonzero(allowed & (bounds > a + 0.5) & (bounds <= upto + 1e-9)):
            out = out_starts[s] + (bounds[k] - a)
            if abs(out - target) <= slack + 1e-9:
                options.append((abs(out - current), s, int(k)))
    for _, s, k in sorted(options):
        spans = [(x.raw_start / sr, x.raw_end / sr) for x in segs[:s]] + [(segs[s].raw_start / sr, float(bounds[k]))]
        played = _overlap(bounds, spans)
        if not (keep_beats & (played < beat_len - 0.01)).any() and not (cut_beats & (played > 0.01)).any():
            return s, k
    return None


def finish_edit(edl: EditList, constraints: EditConstraints | None, analysis, *, raw_duration_s: float) -> EditList:
    """The edit made to meet the constraints every paradigm shares (in place, and returned):

    1. **length**: an edit outside the target +- slack has its end moved to the nearest end of a bar (a
       phrase boundary with ``ending="phrase"``) that brings it inside: its tail is cut back (trailing
       segments may go) or its last segment plays on in the raw, never dropping a locked-keep beat or
       playing a locked-cut one (``meta["length_fit"]``);
    2. **start**: with any ending but ``"none"``, an edit that starts inside sound (:func:`inside_sound`)
       fades in over :data:`NATURAL_FADE_IN_S` (at most half its first segment);
    3. **ending** ``"natural"``: an end inside sound is moved the same way to a phrase boundary
       (:func:`phrase_boundaries`) when one fits the window and the regions (``meta["ending"]["on_phrase"]``),
       and, if the new end is still inside sound, fades out over a bar (:func:`_natural_fade_out_s`, at most
       half the last segment); an end where the music stops is left alone;
    4. **ending** ``"phrase"``: an end that is not on a phrase boundary is moved the same way; when no
       boundary qualifies the edit keeps its end and ``meta["ending"]["met"]`` is False;
    5. **fade**: with ``"fade"`` or ``"phrase"``, the last ``ENDING_FADE_S`` seconds (at most half the last
       segment) fade out (``meta["ending"]``).
    """
    if constraints is None or not edl.segments:
        return edl
    sr = edl.sample_rate
    beats = analysis.beats
    bpb = DEFAULT_PARAMS.beats_per_bar
    bounds = beat_bounds_s(beats.times, raw_duration_s)
    keep_beats, cut_beats = beat_masks(constraints, beats.times, raw_duration_s)
    target, slack = constraints.target_s(raw_duration_s), constraints.slack
    phrase = analysis_phrase_boundaries(analysis)
    bar_ends = np.concatenate([[False], np.asarray(beats.bar_position) % bpb == bpb - 1]) | (
        np.arange(bounds.size) == bounds.size - 1
    )
    allowed = phrase if constraints.ending == "phrase" else bar_ends

    def move(reason: str, where: np.ndarray = allowed) -> bool:
        found = _move_end(edl, where, keep_beats, cut_beats, bounds, target, slack)
        if found is None:
            return False
        s, k = found
        before = edl.output_length() / sr
        del edl.segments[s + 1 :]
        last = edl.segments[-1]
        last.raw_end = min(int(round(bounds[k] * sr)), edl.raw_length)
        last.raw_end_beat = float(k)
        edl.meta.setdefault("length_fit", []).append(
            {"reason": reason, "output_s": [round(before, 3), round(edl.output_length() / sr, 3)]}
        )
        return True

    if abs(edl.output_length() / sr - target) > slack:
        move("outside the target +- slack")
    if constraints.ending in (None, "none"):
        return edl
    info: dict[str, Any] = {"requested": constraints.ending, "met": True}
    (start_s, start_before), _ = _edit_edges(edl)
    start_inside, start_level = inside_sound(analysis, start_s, before=start_before)
    info["start"] = {"inside_sound": start_inside, "level_db": round(start_level, 1)}
    if start_inside:
        first = edl.segments[0]
        first.effects.fade_in_s = max(first.effects.fade_in_s, min(NATURAL_FADE_IN_S, first.raw_length / sr / 2))
        info["fade_in_s"] = first.effects.fade_in_s
    if constraints.ending == "natural":

        def end_inside_sound() -> bool:
            _, (end_s, end_before) = _edit_edges(edl)
            inside, level = inside_sound(analysis, end_s, before=end_before)
            info["end"] = {"inside_sound": inside, "level_db": round(level, 1)}
            return inside

        if end_inside_sound():
            on_phrase = bool(np.min(np.abs(bounds[phrase] - _end_in_raw(edl))) <= 0.01)
            if not on_phrase:
                on_phrase = move("natural ending on a phrase boundary", phrase)
            info["on_phrase"] = on_phrase
            if end_inside_sound():  # the new end may lie where the music stops
                last = edl.segments[-1]
                last.effects.fade_out_s = max(
                    last.effects.fade_out_s, min(_natural_fade_out_s(analysis), last.raw_length / sr / 2)
                )
                info["fade_out_s"] = last.effects.fade_out_s
        edl.meta["ending"] = info
        return edl
    if constraints.ending == "phrase":
        on_phrase = np.min(np.abs(bounds[phrase] - _end_in_raw(edl))) <= 0.01
        if not on_phrase and not move("ending on a phrase boundary"):
            info.update(met=False, reason="no phrase boundary keeps the edit within the target and the regions")
    last = edl.segments[-1]
    last.effects.fade_out_s = min(ENDING_FADE_S, last.raw_length / sr / 2)
    info["fade_out_s"] = last.effects.fade_out_s
    edl.meta["ending"] = info
    return edl


# -- the one checker ---------------------------------------------------------------------------
def played_seconds(edl: EditList, bounds_s: np.ndarray) -> np.ndarray:
    """``(n_beats,)`` seconds of each raw beat ``[bounds_s[k], bounds_s[k+1])`` that the edit plays (at least once)."""
    sr = edl.sample_rate
    spans = merge_regions([(s.raw_start / sr, s.raw_end / sr) for s in edl.segments])
    return _overlap(np.asarray(bounds_s, dtype=np.float64), spans)


def constraint_report(
    edl: EditList, constraints: EditConstraints, analysis, *, tolerance_s: float = 0.01
) -> dict[str, Any]:
    """Whether ``edl`` meets ``constraints`` on the recording of ``analysis`` (its beat grid, and its beat
    features for the phrase boundaries).

    :param tolerance_s: rounding allowed per beat and on the duration (sample rounding of bounds).
    :returns: ``output_s``, ``target_s``, ``slack_s``, ``duration_ok``; ``keep_missing_s`` (seconds of
        locked-keep beats the edit does not play) and ``keep_ok``; ``cut_played_s`` (seconds of
        locked-cut beats it plays) and ``cut_ok``; ``ending_ok`` (``"fade"`` / ``"phrase"``: a fade-out on the
        last segment, and for ``"phrase"`` an end on a phrase boundary of the raw; ``"natural"``: a fade where the
        edit starts or ends inside sound); ``ok``: all of them.
    """
    raw_s = edl.raw_length / edl.sample_rate
    beats = analysis.beats
    bounds = beat_bounds_s(beats.times, raw_s)
    keep_beats, cut_beats = beat_masks(constraints, beats.times, raw_s)
    played = played_seconds(edl, bounds)
    beat_s = np.diff(bounds)
    keep_missing = float(np.clip(beat_s - played - tolerance_s, 0, None)[keep_beats].sum())
    cut_played = float(np.clip(played - tolerance_s, 0, None)[cut_beats].sum())
    output_s = edl.output_length() / edl.sample_rate
    target_s, slack = constraints.target_s(raw_s), constraints.slack
    report: dict[str, Any] = {
        "output_s": output_s,
        "target_s": target_s,
        "slack_s": slack,
        "duration_ok": bool(abs(output_s - target_s) <= slack + tolerance_s),
        "keep_missing_s": keep_missing,
        "keep_ok": keep_missing == 0.0,
        "cut_played_s": cut_played,
        "cut_ok": cut_played == 0.0,
        "ending_ok": True,
    }
    if constraints.ending == "natural" and edl.segments:
        report["ending_ok"] = _natural_ok(edl, analysis)
    elif constraints.ending not in (None, "none") and edl.segments:
        ok = edl.segments[-1].effects.fade_out_s > 0
        if constraints.ending == "phrase":
            phrase = analysis_phrase_boundaries(analysis)
            ok = ok and bool(np.min(np.abs(bounds[phrase] - _end_in_raw(edl))) <= tolerance_s)
        report["ending_ok"] = bool(ok)
    report["ok"] = all(report[k] for k in ("duration_ok", "keep_ok", "cut_ok", "ending_ok"))
    return report


__all__ = [
    "DEFAULT_SLACK_S",
    "ENDINGS",
    "ENDING_FADE_S",
    "NATURAL_FADE_IN_S",
    "inside_sound",
    "EditConstraints",
    "finish_edit",
    "beat_bounds_s",
    "beat_masks",
    "constraint_report",
    "merge_regions",
    "parse_region",
    "parse_time",
    "analysis_phrase_boundaries",
    "phrase_boundaries",
    "silent_beats",
    "played_seconds",
    "reward_config",
]

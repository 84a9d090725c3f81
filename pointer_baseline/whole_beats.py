"""Whole-beat segment lengths: the network's exits moved onto the recording's beat.

Edits cut on beats, so a kept segment of a recording at a steady tempo lasts a whole number of beats.
The network finds *where* to cut well (which section, which landing frame) but often leaves a section
one frame early or late: the frame on a section boundary holds half of each section in its analysis
window (``n_fft`` = 4 hops), and at an exit into silence nothing in the audio marks the boundary at
all. Greedy decoding then shifts every later output frame by one. :func:`round_to_whole_beats` keeps
every landing and moves each exit (but the last, where the stop head ends the edit) to the nearest
whole number of beats from its segment's landing, when that is at most ``tolerance`` frames away and
the segment keeps the beat (below).

The beat period has to be known far better than the beat tracker's frames: over a 48-beat segment
an error of 0.02 frames a beat moves the exit by a frame. :func:`beat_period` fits it to the whole
recording: the period (to 0.0005 frames) whose beat grid, at its best phase, collects the most onset
strength (a comb over the mel's onset envelope, :func:`librosa.onset.onset_strength`, read between
frames by linear interpolation), searched within a frame of the tracked beats' median interval. On the synthetic
pairs it is exact (84 of 90 recordings; the other 6 are the tracker's half or double tempo, whose
multiples the tolerance mostly rules out).

A segment *keeps the beat* when the grid through its landing at that period, over the segment's own
frames, is the best-scoring phase give or take a frame (:func:`landing_offset`, measured against
:data:`ONSET_LAG_FRAMES`): the landing is on a beat and the tempo holds through the segment. A
passage whose tempo drifts, or a landing off the beat, fails and its exit stays where the network put it.

Measured (ad hoc, the shipped model of 2026-11-25, greedy; 80 validation recordings / 10 held-out
pairs of ``scripts/eval_pointer.py --no-restructure``): frames exactly right 0.637 -> 0.864 /
0.699 -> 0.831, edits right to the frame 28 -> 49 of 80 / 6 -> 8 of 10; within 5 unchanged (0.872 /
0.830): the segments themselves are the network's. The fit takes about 0.16 s for a 70 s recording and
5 s for 39 minutes (``scripts/bench_pointer.py``)."""

from __future__ import annotations

import numpy as np

EXIT_TOLERANCE_FRAMES = 4
"""Exits move to whole beats by at most this many frames (93 ms at the default hop, a quarter beat at the fastest
synthetic tempo). Chosen on the 80 validation recordings (ad hoc, exact frames: 3 frames 0.852, 4: 0.864;
without the landing check, 5 frames gained nothing over 4)."""
ONSET_LAG_FRAMES = -1.0
"""Where the onset envelope (``center=False``) peaks relative to a beat that starts on frame ``b``: at ``b - 1``
(the frame before holds the first quarter of the new beat in its window, and a log-mel rises most there).
Measured: 126 of 128 reference segments of 50 synthetic recordings."""
LANDING_SLACK_FRAMES = 1.0
"""A segment keeps the beat when its best grid phase lies within this many frames of :data:`ONSET_LAG_FRAMES`."""
MIN_BEATS = 8
"""Fewer tracked beats than this: no period is fitted."""


def onset_envelope(mel: np.ndarray) -> np.ndarray:
    """``(T,)`` onset strength of a mel ``(n_mels, T)``, frame ``i`` the rise from frame ``i - 1``."""
    import librosa

    return librosa.onset.onset_strength(S=np.asarray(mel, dtype=np.float32), center=False)


def _grid_strength(envelope: np.ndarray, origins: np.ndarray, period: float, n_beats: int) -> np.ndarray:
    """Mean onset strength on the grids ``origin + k * period`` (``k < n_beats``) for each origin (frames)."""
    grid = origins[:, None] + period * np.arange(n_beats)[None]
    inside = (grid >= 0) & (grid <= envelope.size - 1)
    strength = np.interp(grid, np.arange(envelope.size), envelope) * inside
    return strength.sum(axis=1) / np.maximum(inside.sum(axis=1), 1)


def _comb_scores(envelope: np.ndarray, periods: np.ndarray, phase_step: float) -> np.ndarray:
    """For each period, the best mean onset strength over its beat grids through the whole envelope (any phase)."""
    return np.array(
        [_grid_strength(envelope, np.arange(0.0, p, phase_step), p, int(envelope.size / p) + 1).max() for p in periods]
    )


def beat_period(envelope: np.ndarray, beat_frames: np.ndarray, *, span: float = 1.0) -> float | None:
    """Frames per beat of a recording, fitted to its onsets (see the module docstring).

    :param envelope: ``(T,)`` :func:`onset_envelope` of the raw.
    :param beat_frames: ``(n_beats,)`` tracked beat onsets in frames (``beats.times / frame_seconds``).
    :param span: periods within ``+- span`` frames of the tracked beats' median interval are searched.
    :returns: the period, or None with fewer than :data:`MIN_BEATS` beats.
    """
    beat_frames = np.asarray(beat_frames, dtype=np.float64)
    if beat_frames.size < MIN_BEATS or envelope.size < 4:
        return None
    start = float(np.median(np.diff(beat_frames)))
    if not start > 2 * span:
        return None
    coarse = np.arange(start - span, start + span + 1e-9, 0.01)
    best = coarse[int(np.argmax(_comb_scores(envelope, coarse, 0.25)))]
    fine = np.arange(best - 0.01, best + 0.01 + 1e-9, 0.0005)
    return float(fine[int(np.argmax(_comb_scores(envelope, fine, 0.125)))])


def landing_offset(envelope: np.ndarray, first: int, end: int, period: float) -> float:
    """The best phase of the beat grid at ``period`` over raw frames ``[first, end)``, relative to ``first``
    (frames, in ``[-period / 2, period / 2)``, steps of 0.25)."""
    offsets = np.arange(-period / 2, period / 2, 0.25)
    n_beats = max(int((end - first) / period), 1)
    return float(offsets[int(np.argmax(_grid_strength(envelope, first + offsets, period, n_beats)))])


def segments_of(pointers: np.ndarray) -> list[tuple[int, int]]:
    """Runs of consecutive raw frames ``[(first raw frame, one past the last), ...]`` in output order."""
    pointers = np.asarray(pointers, dtype=np.int64)
    if pointers.size == 0:
        return []
    breaks = np.flatnonzero(np.diff(pointers) != 1) + 1
    firsts = np.concatenate([[0], breaks])
    lasts = np.concatenate([breaks, [pointers.size]]) - 1
    return [(int(pointers[a]), int(pointers[b]) + 1) for a, b in zip(firsts, lasts)]


def round_to_whole_beats(
    pointers: np.ndarray, envelope: np.ndarray, period: float, *, tolerance: int = EXIT_TOLERANCE_FRAMES
) -> tuple[np.ndarray, int]:
    """Move every exit but the last to a whole number of beats from its segment's landing, where the segment keeps
    the beat (see the module docstring).

    :param pointers: ``(T_out,)`` raw frame of each output frame.
    :param envelope: ``(T,)`` :func:`onset_envelope` of the raw; no segment is extended past it.
    :param period: frames per beat (:func:`beat_period`).
    :param tolerance: an exit moves by at most this many frames, else it stays.
    :returns: ``(pointers, exits moved)``.
    """
    segments = segments_of(pointers)
    moved = 0
    for i, (first, end) in enumerate(segments[:-1]):
        whole = first + int(round(max(round((end - first) / period), 1) * period))
        if whole == end or abs(whole - end) > tolerance or whole > envelope.size:
            continue
        if abs(landing_offset(envelope, first, end, period) - ONSET_LAG_FRAMES) <= LANDING_SLACK_FRAMES:
            segments[i] = (first, whole)
            moved += 1
    if not moved:
        return np.asarray(pointers, dtype=np.int64), 0
    return np.concatenate([np.arange(a, b, dtype=np.int64) for a, b in segments]), moved


def whole_beat_pointers(pointers: np.ndarray, analysis, params) -> tuple[np.ndarray, dict]:
    """:func:`round_to_whole_beats` at the recording's fitted :func:`beat_period`.

    :param analysis: the raw's analysis (``mel``, ``beats.times``); without beats nothing is moved.
    :param params: its :class:`~editor_env.params.AudioParams` (``frame_seconds``).
    :returns: ``(pointers, info)``; ``info`` holds the period and the exits moved, or why none were.
    """
    beats = getattr(analysis, "beats", None)
    if beats is None:
        return pointers, {"whole_beats": "no beat grid"}
    envelope = onset_envelope(analysis.mel)
    period = beat_period(envelope, np.asarray(beats.times) / params.frame_seconds)
    if period is None:
        return pointers, {"whole_beats": "too few beats"}
    pointers, moved = round_to_whole_beats(pointers, envelope, period)
    return pointers, {"beat_period_frames": round(period, 4), "exits_moved": moved}

"""Whole-beat segment lengths: the network's exits moved onto the recording's beat.

Edits cut on beats, so a kept segment of a recording at a steady tempo lasts a whole number of beats.
The network finds *where* to cut well (which section, which landing frame) but often leaves a section
one frame early or late: the frame on a section boundary holds half of each section in its analysis
window (``n_fft`` = 4 hops), and at an exit into silence nothing in the audio marks the boundary at
all. Greedy decoding then shifts every later output frame by one. With :class:`BeatExits` as its
``exit_snap`` (:meth:`pointer_baseline.model.PointerNetwork.decode`), the decoder moves each exit (but
the last, where the stop head ends the edit) to the nearest whole number of beats from its segment's
landing, when that is at most ``tolerance`` frames away and the segment keeps the beat (below), and
takes the seam the network picks at that step: its landing is then chosen where the network was
trained to choose it, at the true exit.

The beat period has to be known far better than the beat tracker's frames: over a 48-beat segment
an error of 0.02 frames a beat moves the exit by a frame. :func:`beat_period` fits it to the whole
recording: the period (to 0.0005 frames) whose beat grid, at its best phase, collects the most onset
strength (a comb over the mel's onset envelope, :func:`librosa.onset.onset_strength`, read between
frames by linear interpolation), searched within a frame of the tracked beats' median interval. On
the synthetic pairs it is exact (84 of 90 recordings; the other 6 are the tracker's half or double
tempo, whose multiples the tolerance mostly rules out). The fit takes about 0.16 s for a 70 s
recording and 5 s for 39 minutes (``scripts/bench_pointer.py``).

A segment *keeps the beat* when its landing is on a beat, give or take a frame (measured against
:data:`ONSET_LAG_FRAMES`), of either grid at that period:

- the segment's own: the best-scoring phase over the segment's frames (:func:`landing_offset`), so the tempo
  holds through the segment even where the recording as a whole drifts;
- the recording's: the best-scoring phase over the whole recording (:func:`recording_phase`), for a segment
  whose own onsets do not show its beat: a quiet intro, or a part that plays on the off-beats. (The segment's
  grid alone left two such intros' exits 3 frames late on 80 validation recordings, and one on 10 held-out
  pairs, where the late exit then took the seam into a false start.)

A landing off both grids fails and its exit stays where the network put it.

Measured (ad hoc, the shipped model of 2026-11-25, greedy; 80 validation recordings / 10 held-out
pairs of ``scripts/eval_pointer.py --no-restructure``): frames exactly right 0.637 -> 0.884 /
0.699 -> 0.896, within 5 0.872 -> 0.884 / 0.830 -> 0.896, edits right to the frame 28 -> 51 of 80 /
6 -> 9 of 10 (the segment's grid alone: 0.876 / 0.831 exact, 50 / 8 right to the frame). Rounding the exits
after decoding instead (each landing as the network chose it at its own exit) gave 0.864 and 0.872 on
validation: choosing the landing at the true exit mends a few more."""

from __future__ import annotations

import dataclasses

import numpy as np

EXIT_TOLERANCE_FRAMES = 4
"""Exits move to whole beats by at most this many frames (93 ms at the default hop, a quarter beat at the fastest
synthetic tempo). Chosen on the 80 validation recordings (ad hoc, exact frames: 3 frames 0.863, 4: 0.876, 5: 0.876)."""
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


def recording_phase(envelope: np.ndarray, period: float) -> float:
    """The best phase of the beat grid at ``period`` over the whole recording (frames in ``[0, period)``, steps of
    0.25): its beats lie on ``phase - ONSET_LAG_FRAMES + k * period``."""
    phases = np.arange(0.0, period, 0.25)
    return float(phases[int(np.argmax(_grid_strength(envelope, phases, period, int(envelope.size / period) + 1)))])


@dataclasses.dataclass(frozen=True)
class BeatExits:
    """Where a segment should leave: on whole beats from its landing (the decoder's ``exit_snap``, see the module
    docstring).

    :param envelope: ``(T,)`` :func:`onset_envelope` of the raw.
    :param period: frames per beat (:func:`beat_period`).
    :param tolerance: an exit moves by at most this many frames.
    :param phase: the recording's grid phase (:func:`recording_phase`); None: only the segment's grid counts.
    """

    envelope: np.ndarray
    period: float
    tolerance: int = EXIT_TOLERANCE_FRAMES
    phase: float | None = None

    def __call__(self, landing: int, exit: int) -> int:
        """The exit of a segment that landed on raw frame ``landing`` and leaves before ``exit``: ``exit`` moved to
        the nearest whole number of beats from ``landing`` when that is within the tolerance and the segment keeps
        the beat, else ``exit``."""
        whole = landing + int(round(max(round((exit - landing) / self.period), 1) * self.period))
        if whole == exit or abs(whole - exit) > self.tolerance or not landing < whole <= self.envelope.size:
            return exit
        return whole if self.on_a_beat(landing, exit) else exit

    def on_a_beat(self, landing: int, exit: int) -> bool:
        """Whether a segment landing on raw frame ``landing`` (and leaving before ``exit``) lands on a beat of its own
        grid or of the recording's (the module docstring)."""
        offset = landing_offset(self.envelope, landing, exit, self.period)
        if abs(offset - ONSET_LAG_FRAMES) <= LANDING_SLACK_FRAMES:
            return True
        if self.phase is None:
            return False
        half = self.period / 2
        off_grid = (landing + ONSET_LAG_FRAMES - self.phase + half) % self.period - half
        return abs(off_grid) <= LANDING_SLACK_FRAMES


def beat_exits(analysis, params) -> tuple[BeatExits | None, dict]:
    """:class:`BeatExits` of a recording at its fitted :func:`beat_period`.

    :param analysis: the raw's analysis (``mel``, ``beats.times``); without beats there are none.
    :param params: its :class:`~editor_env.params.AudioParams` (``frame_seconds``).
    :returns: ``(exits or None, info)``; ``info`` holds the period, or why there is none.
    """
    beats = getattr(analysis, "beats", None)
    if beats is None:
        return None, {"whole_beats": "no beat grid"}
    envelope = onset_envelope(analysis.mel)
    period = beat_period(envelope, np.asarray(beats.times) / params.frame_seconds)
    if period is None:
        return None, {"whole_beats": "too few beats"}
    return BeatExits(envelope, period, phase=recording_phase(envelope, period)), {
        "beat_period_frames": round(period, 4)
    }

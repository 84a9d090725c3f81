"""Beat and downbeat tracking (librosa), completed into a grid that covers the whole recording."""

from __future__ import annotations

import dataclasses

import numpy as np

from editor_env.params import DEFAULT_PARAMS, AudioParams


@dataclasses.dataclass
class BeatGrid:
    """Beats of one recording.

    :param times: ``(n_beats,)`` float64 beat onsets in seconds, strictly increasing; the first
        is at or near 0 and beat ``i`` spans ``[times[i], times[i+1])`` (the last one runs to
        the end of the recording), so the beats tile the whole recording.
    :param bar_position: ``(n_beats,)`` int64 position in the bar, 0 = downbeat.
    :param tempo: global tempo estimate in BPM.
    :param source: ``"librosa"`` when the tracker found the beats, ``"fallback-grid"`` when it
        found too few (silence, noise, very short audio) and a grid at the default tempo is used.
    """

    times: np.ndarray
    bar_position: np.ndarray
    tempo: float
    source: str

    def __post_init__(self) -> None:
        if self.times.ndim != 1 or self.times.size == 0:
            raise ValueError("BeatGrid needs at least one beat")
        if self.times.size > 1 and not np.all(np.diff(self.times) > 0):
            raise ValueError("beat times must be strictly increasing")

    @property
    def n_beats(self) -> int:
        return int(self.times.size)

    @property
    def downbeats(self) -> np.ndarray:
        """``(n_beats,)`` bool: True on the first beat of each bar."""
        return self.bar_position == 0

    def frames(self, params: AudioParams = DEFAULT_PARAMS) -> np.ndarray:
        """Analysis frame of each beat onset, ``(n_beats,)`` int64."""
        return np.round(self.times / params.frame_seconds).astype(np.int64)


def track_beats(
    onset_envelope: np.ndarray,
    *,
    duration: float,
    params: AudioParams = DEFAULT_PARAMS,
    bass_envelope: np.ndarray | None = None,
) -> BeatGrid:
    """Beats from an onset-strength envelope, completed to tile ``[0, duration)``.

    librosa's dynamic-programming tracker finds the beats. Its grid is then completed: beats
    are extended at the median interval back to 0 s and forward to the end, and gaps longer
    than 1.5 intervals (silences, breaks) are filled evenly, so that every moment of the
    recording belongs to a beat an agent can act on. When the tracker finds fewer than two
    beats, an even grid at ``params.default_bpm`` is used (``source="fallback-grid"``).

    Downbeats: librosa has no downbeat tracker, so the bar phase is the one of the
    ``beats_per_bar`` phases whose beats carry the most low-frequency onset energy
    (``bass_envelope``, or the onset envelope when not given) — kick drums and bass notes
    mark the "one" in most popular music.

    :param onset_envelope: ``(n_frames,)`` onset strength at the analysis hop.
    :param duration: recording length in seconds.
    :param bass_envelope: ``(n_frames,)`` optional low-band onset strength for the bar phase.
    """
    import librosa

    tempo, beat_frames = librosa.beat.beat_track(
        onset_envelope=onset_envelope,
        sr=params.sample_rate,
        hop_length=params.hop_length,
        start_bpm=params.default_bpm,
        trim=False,
    )
    tempo = float(np.atleast_1d(tempo)[0])
    beat_times = np.unique(librosa.frames_to_time(beat_frames, sr=params.sample_rate, hop_length=params.hop_length))
    beat_times = beat_times[beat_times < duration]
    if beat_times.size >= 2 and tempo > 0:
        interval = float(np.median(np.diff(beat_times)))
        source = "librosa"
    else:
        interval = 60.0 / params.default_bpm
        beat_times = np.array([0.0])
        tempo = params.default_bpm
        source = "fallback-grid"
    times = _complete_grid(beat_times, interval, duration)

    strength = onset_envelope if bass_envelope is None else bass_envelope
    frames = np.clip(np.round(times / params.frame_seconds).astype(np.int64), 0, strength.size - 1)
    per_beat = strength[frames] if strength.size else np.zeros(times.size)
    n_per_bar = params.beats_per_bar
    phase_scores = [per_beat[p::n_per_bar].mean() if per_beat[p::n_per_bar].size else 0.0 for p in range(n_per_bar)]
    phase = int(np.argmax(phase_scores)) if source == "librosa" else 0
    bar_position = (np.arange(times.size) - phase) % n_per_bar
    return BeatGrid(times, bar_position.astype(np.int64), tempo, source)


def _complete_grid(beat_times: np.ndarray, interval: float, duration: float) -> np.ndarray:
    """Extend beats back to 0 and on to ``duration`` at ``interval``; fill gaps > 1.5 intervals."""
    first, last = beat_times[0], beat_times[-1]
    n_before = int(np.floor(first / interval + 1e-9))
    before = first - interval * np.arange(n_before, 0, -1)
    n_after = int(np.floor((duration - last) / interval - 1e-9))
    after = last + interval * np.arange(1, max(n_after, 0) + 1)
    filled = [before]
    for a, b in zip(beat_times[:-1], beat_times[1:]):
        n_sub = max(int(round((b - a) / interval)), 1) if (b - a) > 1.5 * interval else 1
        filled.append(a + (b - a) * np.arange(n_sub) / n_sub)
    filled.extend([beat_times[-1:], after])
    times = np.concatenate(filled)
    # a beat before 0 cannot be; snap a near-zero first beat onto 0 so the grid starts there
    times = times[times >= 0]
    if times.size == 0 or times[0] > 0:
        if times.size and times[0] < 0.5 * interval:
            times[0] = 0.0
        else:
            times = np.concatenate([[0.0], times])
    return times[times < duration] if duration > 0 else times[:1]

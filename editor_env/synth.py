"""Synthetic raw/edit pairs with exact ground truth: procedural songs, jams around them, edits.

A song is rendered with numpy only: drums (kick, snare, hats from sine and noise envelopes),
bass, chords and a lead melody, at one constant tempo (70-170 BPM, 4/4) and in sections with
distinct material (intro, verse, chorus, bridge, solo, breakdown, outro: each its own chord
progression, melody, drum and bass pattern). The *raw* jam plays the song's sections in order
with what a human editor removes inserted between them: a count-in or tuning noise at the
start, false starts (a section begun and abandoned), noodling bars (wrong notes, off-beat
hits), an over-long repeat of a section, silence gaps, and a trailing end.

Ground truth is exact by construction:

1. the raw is a sequence of beat-aligned chunks on one beat grid (a beat is a whole number of
   samples, so the tempo is ``60 * sample_rate / samples_per_beat``); a beat is also a whole
   number of analysis hops (:func:`beat_samples`), so every cut of the edit lies on the frame
   grid and each edit frame copies one raw frame exactly (no rounding of the pointers by where
   inside a frame a segment starts);
2. the edit is an :class:`~editor_env.edl.EditList` of whole chunks (segments on raw beat
   boundaries, ``raw_start_beat``/``raw_end_beat`` set) that keeps the song's sections in order,
   and per the seed also fades in or out, changes the gain of a section, moves a later section
   earlier, or loops a section;
3. the edit audio is rendered from the raw by :func:`editor_env.render.render`, so the pointer
   sequence ``edl.to_pointers(params)`` says exactly where every edit frame comes from.

The amount of junk is set so that the edit is 0.62-0.73 of the raw length (checked to lie in
0.6-0.75). Everything is drawn from one ``numpy.random.Generator`` seeded by ``seed``: the same
seed gives the same pair, bit for bit, and :func:`write_dataset` writes byte-identical files.
"""

from __future__ import annotations

import dataclasses
import io
import os
from pathlib import Path
from typing import Any

import numpy as np

from editor_env.audio import Audio
from editor_env.edl import EditList, Effects, Segment, analysis_frame_count
from editor_env.errors import MusicEditError
from editor_env.io import atomic_path, files_finished, json_bytes, npy_bytes, write_sample_files
from editor_env.labels import JUNK_COLOURS, JunkSpan, RawLabels
from editor_env.ops import EditOp
from editor_env.params import DEFAULT_PARAMS, AudioParams

GENERATOR_NAME = "musicedit.synth"
GENERATOR_VERSION = 2
"""Bumped whenever the same seed would give different audio or ground truth.

2: a beat is a whole number of analysis hops (:func:`beat_samples`); version 1 rounded the tempo to
whole samples only, so the reference pointers after a seam were rounded by the cut's phase within
a frame, which no frame-level editor can see (about half of the frames after a seam off by one).
"""
BEATS_PER_BAR = 4
STEPS_PER_BEAT = 4
"""Sixteenth notes: patterns are written on a grid of 16 steps per bar."""
BPM_RANGE = (70.0, 170.0)
TARGET_RATIO_RANGE = (0.62, 0.73)
"""Edit/raw length ratio drawn per song (the junk is sized to reach it)."""
RATIO_BOUNDS = (0.6, 0.75)
"""Every generated pair's edit/raw length ratio lies in this interval (checked)."""
SECTION_KINDS = ("intro", "verse", "chorus", "bridge", "solo", "breakdown", "outro")
JUNK_LABELS = ("count_in", "tuning", "false_start", "noodle", "repeat", "silence", "tail")
RAW_PEAK = 0.45
"""Peak level of the raw jam: leaves headroom for gain changes (at most +4.5 dB) and seams."""

_MAJOR = (0, 2, 4, 5, 7, 9, 11)
_MINOR = (0, 2, 3, 5, 7, 8, 10)
_NOTE_NAMES = ("C", "C#", "D", "D#", "E", "F", "F#", "G", "G#", "A", "A#", "B")
_PROGRESSIONS = (
    (0, 4, 5, 3),
    (0, 5, 3, 4),
    (5, 3, 0, 4),
    (0, 3, 4, 0),
    (0, 3, 5, 4),
    (1, 4, 0, 5),
    (0, 2, 3, 4),
    (3, 4, 5, 5),
    (5, 4, 3, 4),
    (0, 0, 3, 4),
    (3, 0, 4, 5),
    (0, 6, 5, 4),
    (2, 5, 1, 4),
    (3, 3, 0, 0),
)
# 16-step drum patterns (1 = hit). Index = sixteenth note within the bar.
_KICKS = {
    "four": (0, 4, 8, 12),
    "rock": (0, 8, 10),
    "push": (0, 6, 8),
    "synco": (0, 3, 8, 11),
    "half": (0, 10),
    "sparse": (0,),
}
_SNARES = {"back": (4, 12), "half": (8,), "back_ghost": (4, 12, 15), "none": ()}
_HATS = {
    "eighths": tuple(range(0, 16, 2)),
    "sixteenths": tuple(range(16)),
    "quarters": (0, 4, 8, 12),
    "offbeat": (2, 6, 10, 14),
    "none": (),
}
_BASS_PATTERNS = (
    (0, 8),
    (0, 4, 8, 12),
    tuple(range(0, 16, 2)),
    (0, 3, 6, 10, 12),
    (0, 6, 8, 14),
    (0, 10),
)
# Per section kind: (drum choices, chord style choices, lead?, relative size in units)
_KIND_STYLE: dict[str, dict[str, Any]] = {
    "intro": {
        "kick": ("sparse", "half"),
        "snare": ("none",),
        "hat": ("quarters", "none"),
        "chords": ("pad",),
        "lead": False,
        "units": 1,
    },
    "verse": {
        "kick": ("rock", "push", "synco"),
        "snare": ("back", "back_ghost"),
        "hat": ("eighths", "quarters"),
        "chords": ("pad", "arp"),
        "lead": True,
        "units": 2,
    },
    "chorus": {
        "kick": ("four", "synco", "rock"),
        "snare": ("back", "back_ghost"),
        "hat": ("sixteenths", "offbeat", "eighths"),
        "chords": ("stabs", "pad"),
        "lead": True,
        "units": 2,
    },
    "bridge": {
        "kick": ("half", "sparse"),
        "snare": ("half",),
        "hat": ("quarters", "eighths"),
        "chords": ("pad", "arp"),
        "lead": True,
        "units": 1,
    },
    "solo": {
        "kick": ("rock", "four"),
        "snare": ("back",),
        "hat": ("sixteenths", "eighths"),
        "chords": ("stabs", "arp"),
        "lead": True,
        "units": 2,
    },
    "breakdown": {
        "kick": ("four", "sparse"),
        "snare": ("none", "half"),
        "hat": ("offbeat", "none"),
        "chords": ("pad",),
        "lead": False,
        "units": 1,
    },
    "outro": {
        "kick": ("sparse", "half"),
        "snare": ("none", "half"),
        "hat": ("quarters",),
        "chords": ("pad",),
        "lead": False,
        "units": 1,
    },
}
_MIX = {
    "kick": 0.9,
    "snare": 0.55,
    "hat": 0.22,
    "click": 0.5,
    "bass": 0.45,
    "chords": 0.16,
    "lead": 0.28,
    "noise": 1.0,
}
_TABLE_SIZE = 4096


# --------------------------------------------------------------------------------------------
# Public result
# --------------------------------------------------------------------------------------------
@dataclasses.dataclass
class SynthPair:
    """One synthetic raw jam and its polished edit, with exact ground truth.

    :param raw: the raw jam, ``samples`` ``(n_channels, raw_samples)`` float32.
    :param edit: the edit rendered from ``raw`` by ``render(edl, raw)``,
        ``(n_channels, edl.output_length())`` float32.
    :param edl: the beat-level edit: segments on raw beat boundaries, in output order.
    :param pointers: ``(edit_frames,)`` int64, raw analysis frame of every edit analysis frame
        (``edl.to_pointers(params)``).
    :param ops: ``(edit_frames,)`` int8 :class:`~editor_env.ops.EditOp` per edit frame
        (:func:`ops_from_edl`).
    :param info: JSON-able metadata: generator, seed, tempo, beat grid, raw section layout with
        junk labels, edit layout, lengths and ratio.
    """

    raw: Audio
    edit: Audio
    edl: EditList
    pointers: np.ndarray
    ops: np.ndarray
    info: dict[str, Any]


# --------------------------------------------------------------------------------------------
# Ground-truth op labels
# --------------------------------------------------------------------------------------------
def ops_from_edl(edl: EditList, params: AudioParams = DEFAULT_PARAMS) -> np.ndarray:
    """Per-frame edit op labels of an edit, on the frame grid of :meth:`EditList.to_pointers`.

    Parameters
    ----------
    edl : EditList
        The edit.
    params : AudioParams
        Analysis parameters (frame hop and rate).

    Returns
    -------
    np.ndarray [shape=(edit_frames,), dtype=int8]
        :class:`EditOp` values: ``SKIP`` at the first frame of a segment whose raw start lies
        after the previous segment's raw end (a forward jump; also frame 0 when the edit does
        not start at the raw's first sample), ``LOOP`` at the first frame after a backward jump,
        ``FADE`` inside fades, ``GAIN`` in segments with a gain change, else ``COPY``
        (precedence as in :class:`EditOp`). Effects that have no op of their own (stretch,
        pitch, EQ ...) are labelled ``COPY``.
    """
    n_frames = analysis_frame_count(edl.output_length(), edl.sample_rate, params)
    out_t = np.arange(n_frames) * params.frame_seconds
    starts_s = edl.output_starts() / edl.sample_rate
    seg_idx = np.clip(np.searchsorted(starts_s, out_t, side="right") - 1, 0, None)
    ops = np.full(n_frames, EditOp.COPY, dtype=np.int8)
    for k, seg in enumerate(edl.segments):
        sel = seg_idx == k
        if not sel.any():
            continue
        fx = seg.effects
        if fx.gain_db != 0:
            ops[sel] = EditOp.GAIN
        local = out_t - starts_s[k]
        duration = seg.output_length() / edl.sample_rate
        fading = sel & ((local < fx.fade_in_s) | ((fx.fade_out_s > 0) & (duration - local <= fx.fade_out_s)))
        ops[fading] = EditOp.FADE
        first = int(np.flatnonzero(sel)[0])
        if k == 0:
            if (seg.raw_end if fx.reverse else seg.raw_start) > 0:
                ops[first] = EditOp.SKIP
            continue
        prev = edl.segments[k - 1]
        prev_last = prev.raw_start if prev.effects.reverse else prev.raw_end
        cur_first = seg.raw_end if fx.reverse else seg.raw_start
        if cur_first > prev_last:
            ops[first] = EditOp.SKIP
        elif cur_first < prev_last:
            ops[first] = EditOp.LOOP
    return ops


# --------------------------------------------------------------------------------------------
# Instruments (numpy only)
# --------------------------------------------------------------------------------------------
def _midi_hz(midi: float) -> float:
    return 440.0 * 2.0 ** ((midi - 69.0) / 12.0)


def _wavetable(harmonics: np.ndarray) -> np.ndarray:
    """One period of a waveform with the given harmonic amplitudes, peak-normalised."""
    phase = np.arange(_TABLE_SIZE) / _TABLE_SIZE
    k = np.arange(1, harmonics.size + 1)[:, None]
    wave = (harmonics[:, None] * np.sin(2 * np.pi * k * phase)).sum(axis=0)
    return (wave / np.abs(wave).max()).astype(np.float32)


class _Instruments:
    """Per-song timbres and one-shot drum samples; pitched notes are cached by (pitch, length)."""

    def __init__(self, sr: int, rng: np.random.Generator):
        self.sr = sr
        k = np.arange(1, 9)
        self.tables = {
            "bass": _wavetable(k ** -rng.uniform(1.0, 1.6) * (k <= 6)),
            "chords": _wavetable(k ** -rng.uniform(1.6, 2.4) * (k <= 5)),
            "lead": _wavetable(k**-1.0 * np.where(k % 2 == 1, 1.0, rng.uniform(0.0, 0.5))),
        }
        self.shapes = {  # attack s, decay s, sustain level, release s
            "bass": (0.005, rng.uniform(0.15, 0.4), 0.5, 0.04),
            "chords": (rng.uniform(0.02, 0.08), 0.6, 0.6, 0.15),
            "lead": (0.008, rng.uniform(0.1, 0.3), 0.45, 0.06),
        }
        self.drums = self._drum_kit(rng)
        self._cache: dict[tuple[str, int, int], np.ndarray] = {}

    def _drum_kit(self, rng: np.random.Generator) -> dict[str, np.ndarray]:
        sr = self.sr
        t = np.arange(int(0.45 * sr)) / sr
        f0, f1 = rng.uniform(110, 160), rng.uniform(40, 55)
        freq = f1 + (f0 - f1) * np.exp(-t / 0.03)
        kick = np.sin(2 * np.pi * np.cumsum(freq) / sr) * np.exp(-t / rng.uniform(0.15, 0.3))
        kick[: int(0.003 * sr)] += rng.standard_normal(int(0.003 * sr)) * 0.3
        t = np.arange(int(0.3 * sr)) / sr
        noise = np.diff(rng.standard_normal(t.size + 1))
        snare = 0.5 * noise * np.exp(-t / rng.uniform(0.08, 0.15)) + 0.7 * np.sin(
            2 * np.pi * rng.uniform(170, 220) * t
        ) * np.exp(-t / 0.06)
        t = np.arange(int(0.12 * sr)) / sr
        hat = np.diff(rng.standard_normal(t.size + 2), n=2) * np.exp(-t / rng.uniform(0.02, 0.04))
        t = np.arange(int(0.05 * sr)) / sr
        click = np.sin(2 * np.pi * 2000 * t) * np.exp(-t / 0.008)
        kit = {"kick": kick, "snare": snare, "hat": hat, "click": click}
        return {name: (x / np.abs(x).max()).astype(np.float32) for name, x in kit.items()}

    def note(self, inst: str, midi: float, n: int) -> np.ndarray:
        """A note of ``n`` samples (plus its release) at ``midi`` (fractional = detuned)."""
        key = (inst, int(round(midi * 100)), n)
        tone = self._cache.get(key)
        if tone is None:
            tone = self._render_note(inst, midi, n)
            self._cache[key] = tone
        return tone

    def _render_note(self, inst: str, midi: float, n: int) -> np.ndarray:
        sr = self.sr
        attack, decay, sustain, release = self.shapes[inst]
        total = n + int(4 * release * sr)
        t = np.arange(total) / sr
        step = np.full(total, _midi_hz(midi) / sr)
        if inst == "lead":  # delayed vibrato
            step *= 1.0 + 0.004 * np.sin(2 * np.pi * 5.5 * t) * np.clip(t / 0.3 - 0.5, 0, 1)
        phase = np.cumsum(step)
        table = self.tables[inst]
        wave = table[((phase % 1.0) * _TABLE_SIZE).astype(np.int64) % _TABLE_SIZE]
        if inst == "chords":  # a second, detuned oscillator: chorus
            detuned = (phase * 1.003 % 1.0) * _TABLE_SIZE
            wave = 0.5 * (wave + table[detuned.astype(np.int64) % _TABLE_SIZE])
        env = np.minimum(t / attack, 1.0) * (sustain + (1 - sustain) * np.exp(-t / decay))
        held = t >= n / sr
        env[held] *= np.exp(-(t[held] - n / sr) / release)
        return (wave * env).astype(np.float32)


class _Score:
    """Events of the whole raw jam, rendered at once (notes ring across chunk boundaries)."""

    def __init__(self) -> None:
        self.notes: list[tuple[str, int, int, float, float]] = []
        self.hits: list[tuple[str, int, float]] = []
        self.noises: list[tuple[int, int, float, float]] = []

    def note(self, inst: str, onset: int, n: int, midi: float, vel: float) -> None:
        self.notes.append((inst, int(onset), max(int(n), 1), float(midi), float(vel)))

    def hit(self, drum: str, onset: int, vel: float) -> None:
        self.hits.append((drum, int(onset), float(vel)))

    def noise(self, onset: int, n: int, level: float, decay_s: float) -> None:
        self.noises.append((int(onset), int(n), float(level), float(decay_s)))

    def render(
        self, instruments: _Instruments, n_samples: int, n_channels: int, rng: np.random.Generator
    ) -> np.ndarray:
        tracks = {name: np.zeros(n_samples, dtype=np.float32) for name in _MIX}

        def add(track: np.ndarray, onset: int, wave: np.ndarray, gain: float) -> None:
            onset = max(onset, 0)
            end = min(onset + wave.size, n_samples)
            if end > onset:
                track[onset:end] += np.float32(gain) * wave[: end - onset]

        for inst, onset, n, midi, vel in self.notes:
            add(tracks[inst], onset, instruments.note(inst, midi, n), vel)
        for drum, onset, vel in self.hits:
            add(tracks[drum], onset, instruments.drums[drum], vel)
        for onset, n, level, decay_s in self.noises:
            t = np.arange(n, dtype=np.float32) / instruments.sr
            burst = rng.standard_normal(n, dtype=np.float32) * np.exp(-t / decay_s)
            add(tracks["noise"], onset, burst, level)
        # room noise under everything, slightly low-passed
        room = rng.standard_normal(n_samples + 3, dtype=np.float32) * np.float32(10 ** (-66 / 20))
        tracks["noise"] += np.convolve(room, np.full(4, 0.5, np.float32), mode="valid")

        pans = {
            "kick": 0.0,
            "snare": 0.15,
            "hat": 0.45,
            "click": 0.0,
            "bass": 0.0,
            "chords": -0.25,
            "lead": float(rng.uniform(-0.35, 0.35)),
            "noise": 0.0,
        }
        mix = np.zeros((n_channels, n_samples), dtype=np.float32)
        for name, track in tracks.items():
            if n_channels == 1:
                mix[0] += np.float32(_MIX[name]) * track
            else:
                angle = (pans[name] + 1.0) * np.pi / 4
                mix[0] += np.float32(_MIX[name] * np.cos(angle) * np.sqrt(2)) * track
                mix[1] += np.float32(_MIX[name] * np.sin(angle) * np.sqrt(2)) * track
        peak = float(np.abs(mix).max())
        if peak > 0:
            mix *= np.float32(RAW_PEAK / peak)
        return mix


# --------------------------------------------------------------------------------------------
# The song: key, tempo, per-section material
# --------------------------------------------------------------------------------------------
@dataclasses.dataclass
class _Material:
    chords: tuple[int, ...]
    chord_style: str
    kick: tuple[int, ...]
    snare: tuple[int, ...]
    hat: tuple[int, ...]
    bass: tuple[int, ...]
    bass_octaves: bool
    melody: list[tuple[int, int, int]] | None
    """(step in a 2-bar motif, length in steps, chord-tone index) or None: no lead."""


def beat_samples(bpm: float, sample_rate: int, params: AudioParams = DEFAULT_PARAMS) -> int:
    """Samples per beat of a song at about ``bpm``: a whole number of analysis hops.

    The hop at ``sample_rate`` is ``params.hop_length * sample_rate / params.sample_rate``
    samples; the beat is the multiple of it nearest ``60 * sample_rate / bpm`` that keeps the
    tempo within :data:`BPM_RANGE` (at 22050 Hz and hop 512: 21 tempos, 71.8-161.5 BPM). When
    the hop is not a whole number of samples at ``sample_rate`` the beat is rounded to whole
    samples only (the pointers after a seam are then rounded by the cut's phase in a frame).
    """
    hop = params.hop_length * sample_rate / params.sample_rate
    step = int(hop) if float(hop).is_integer() else 1
    lo = int(np.ceil(60.0 * sample_rate / BPM_RANGE[1] / step))
    hi = int(np.floor(60.0 * sample_rate / BPM_RANGE[0] / step))
    return step * min(max(int(round(60.0 * sample_rate / bpm / step)), lo), max(hi, lo))


class _Song:
    def __init__(self, rng: np.random.Generator, sr: int, bpm: float, params: AudioParams = DEFAULT_PARAMS):
        self.sr = sr
        self.spb = beat_samples(bpm, sr, params)  # samples per beat: the beat grid is exact
        self.bpm = 60.0 * sr / self.spb
        self.root = int(rng.integers(0, 12))
        self.minor = bool(rng.random() < 0.5)
        self.scale = _MINOR if self.minor else _MAJOR
        self.instruments = _Instruments(sr, rng)
        progressions = rng.permutation(len(_PROGRESSIONS))
        self.materials = {
            kind: self._material(rng, kind, _PROGRESSIONS[progressions[i]]) for i, kind in enumerate(SECTION_KINDS)
        }

    def _material(self, rng: np.random.Generator, kind: str, chords: tuple[int, ...]) -> _Material:
        style = _KIND_STYLE[kind]
        pick = lambda options: options[int(rng.integers(len(options)))]  # noqa: E731
        melody = None
        if style["lead"]:
            density = {"solo": 0.7, "chorus": 0.5}.get(kind, 0.35)
            steps = [s for s in range(0, 32, 2) if rng.random() < density] or [0]
            melody = []
            tone = int(rng.integers(0, 4))
            for i, s in enumerate(steps):
                nxt = steps[i + 1] if i + 1 < len(steps) else 32
                tone = int(np.clip(tone + rng.integers(-2, 3), 0, 5))
                melody.append((s, max(1, min(nxt - s, int(rng.integers(1, 7)))), tone))
        return _Material(
            chords=chords,
            chord_style=pick(style["chords"]),
            kick=_KICKS[pick(style["kick"])],
            snare=_SNARES[pick(style["snare"])],
            hat=_HATS[pick(style["hat"])],
            bass=pick(_BASS_PATTERNS),
            bass_octaves=bool(rng.random() < 0.4),
            melody=melody,
        )

    def midi(self, degree: int, octave_base: int) -> int:
        """MIDI note of a scale degree (any integer) above ``octave_base`` (a C)."""
        return octave_base + self.root + self.scale[degree % 7] + 12 * (degree // 7)

    def step_sample(self, start: int, step: float) -> int:
        return start + int(round(step * self.spb / STEPS_PER_BEAT))

    # -- chunk players ---------------------------------------------------------------------
    def play_section(
        self,
        score: _Score,
        rng: np.random.Generator,
        kind: str,
        start: int,
        n_bars_section: int,
        first_bar: int,
        n_beats: int,
        *,
        stop_beats: float | None = None,
    ) -> None:
        """Bars ``first_bar ...`` of a section for ``n_beats`` beats from sample ``start``.

        ``stop_beats``: the players stop there (a false start): later notes are not played and
        ringing ones are cut short.
        """
        mat = self.materials[kind]
        q = self.spb / STEPS_PER_BEAT
        stop = None if stop_beats is None else start + int(round(stop_beats * self.spb))
        jitter = 0.004 * self.sr

        def play(inst: str, step: float, n_steps: float, midi: float, vel: float) -> None:
            onset = self.step_sample(start, step) + int(rng.normal(0, jitter))
            n = int(n_steps * q * 0.92)
            if stop is not None:
                if onset >= stop:
                    return
                n = min(n, stop - onset)
            score.note(inst, onset, n, midi, vel * rng.uniform(0.85, 1.0))

        def hit(drum: str, step: float, vel: float) -> None:
            onset = max(self.step_sample(start, step) + int(rng.normal(0, jitter)), start)
            if stop is None or onset < stop:
                score.hit(drum, onset, vel * rng.uniform(0.8, 1.0))

        n_steps_total = n_beats * STEPS_PER_BEAT
        for b in range(-(-n_steps_total // 16)):
            bar = first_bar + b
            base = 16 * b
            degree = mat.chords[bar % len(mat.chords)]
            last_bar = bar == n_bars_section - 1
            room = n_steps_total - base  # steps of this bar inside the chunk
            for s in mat.kick:
                if s < room:
                    hit("kick", base + s, 1.0)
            snare = (12, 13, 14, 15) if last_bar and mat.snare else mat.snare
            for s in snare:
                if s < room:
                    hit("snare", base + s, 0.5 + 0.5 * (s % 4 == 0) if last_bar else 1.0)
            for s in mat.hat:
                if s < room:
                    hit("hat", base + s, 1.0 if s % 4 == 0 else 0.7)
            for i, s in enumerate(mat.bass):
                if s < room:
                    nxt = mat.bass[i + 1] if i + 1 < len(mat.bass) else 16
                    octave = 12 if mat.bass_octaves and i % 2 == 1 else 0
                    play("bass", base + s, nxt - s, self.midi(degree, 36) + octave, 1.0)
            triad = [self.midi(degree + d, 48) for d in (0, 2, 4)]
            if mat.chord_style == "pad" and room > 0:
                for m in triad:
                    play("chords", base, 16, m, 1.0)
            elif mat.chord_style == "stabs":
                for s in (2, 6, 10, 14):
                    if s < room:
                        for m in triad:
                            play("chords", base + s, 1.5, m, 1.1)
            elif mat.chord_style == "arp":
                for j, s in enumerate(range(0, 16, 2)):
                    if s < room:
                        play("chords", base + s, 2, triad[j % 3] + 12 * (j // 3 % 2), 1.2)
            if mat.melody is not None:
                half = 16 * (bar % 2)
                for s, length, tone in mat.melody:
                    if half <= s < half + 16 and s - half < room:
                        m = self.midi(degree + (0, 2, 4, 7, 9, 11)[tone], 72)
                        play("lead", base + s - half, length, m, 1.0)

    def play_noodle(self, score: _Score, rng: np.random.Generator, start: int, n_beats: int):
        """Aimless playing: wrong (chromatic) notes, off-beat hits, no steady groove."""
        q = self.spb / STEPS_PER_BEAT
        for s in range(n_beats * STEPS_PER_BEAT):
            onset = self.step_sample(start, s) + int(rng.normal(0, 0.02 * self.sr))
            onset = max(onset, start)
            if rng.random() < (0.45 if s % 2 else 0.2):
                inst = "lead" if rng.random() < 0.6 else "bass"
                midi = int(rng.integers(60, 84) if inst == "lead" else rng.integers(33, 52))
                n = int(rng.integers(1, 6) * q)
                score.note(inst, onset, n, midi + rng.choice([0, 0.0, 0.5]), rng.uniform(0.3, 0.9))
            if s % 2 and rng.random() < 0.12:
                score.hit(str(rng.choice(["kick", "snare", "hat"])), onset, rng.uniform(0.3, 0.8))

    def play_count_in(self, score: _Score, rng: np.random.Generator, start: int, n_beats: int):
        for b in range(n_beats):
            score.hit("click", start + b * self.spb, 1.0 if b % 4 == 0 else 0.7)

    def play_tuning(self, score: _Score, rng: np.random.Generator, start: int, n_beats: int):
        """A player tuning up: the same string plucked again and again, slowly coming in tune."""
        inst = "bass" if rng.random() < 0.5 else "lead"
        midi = self.midi(0, 36 if inst == "bass" else 60)
        n_plucks = max(2, n_beats // 2 + int(rng.integers(0, 2)))
        for i in range(n_plucks):
            onset = start + int((i + rng.uniform(0, 0.5)) * n_beats * self.spb / n_plucks)
            detune = rng.uniform(-0.6, 0.6) * (1 - i / n_plucks)
            score.note(inst, onset, int(self.spb * rng.uniform(0.8, 1.6)), midi + detune, 0.7)
        score.noise(start, n_beats * self.spb, 0.004, n_beats * self.spb / self.sr)

    def play_tail(self, score: _Score, rng: np.random.Generator, start: int, n_beats: int):
        """The end of the take: a last chord ringing out, a cymbal wash and amp noise fading."""
        n = n_beats * self.spb
        for m in (self.midi(d, 48) for d in (0, 2, 4)):
            score.note("chords", start, int(n * 0.6), m, 0.6)
        score.hit("snare", start, 0.4)
        score.noise(start, n, 0.02, max(n / self.sr / 3, 0.2))


# --------------------------------------------------------------------------------------------
# The jam: song form, junk, edit
# --------------------------------------------------------------------------------------------
@dataclasses.dataclass
class _Chunk:
    label: str  # a section kind or a junk label
    n_beats: int
    section: int | None = None  # index into the song form (sections, repeats, false starts)
    first_bar: int = 0
    start_beat: int = 0


def _song_form(rng: np.random.Generator, target_bars: float) -> tuple[list[str], list[int]]:
    """Section kinds and bar counts of the song, about ``target_bars`` bars in all."""
    unit = 1 if target_bars < 12 else 2 if target_bars < 28 else 4
    bars = lambda kind: _KIND_STYLE[kind]["units"] * unit  # noqa: E731
    form = ["intro", "verse", "chorus"]
    middle = ["verse", "chorus"]
    while sum(map(bars, form)) + bars("outro") < target_bars:
        if not middle:
            middle = [str(rng.choice(["bridge", "solo", "breakdown"])), "chorus"]
            if rng.random() < 0.5:
                middle = ["verse", *middle]
        form.append(middle.pop(0))
    form.append("outro")
    return form, [bars(kind) for kind in form]


def _plan_edit(
    rng: np.random.Generator, form: list[str], form_bars: list[int], restructure: bool = True
) -> tuple[list[tuple[int, int, int, str]], dict[str, bool]]:
    """The edit as (section index, first bar, n bars, role) in output order.

    With ``restructure`` a section may be moved earlier (30 %) and one played again (30 %); both
    are drawn at random, independent of the audio, so nothing in the raw tells an editor which.
    """
    m = len(form)
    plan = [(i, 0, form_bars[i], "keep") for i in range(m)]
    features = {"reorder": False, "loop": False}
    if not restructure:
        return plan, features
    if m >= 4 and rng.random() < 0.3:  # a later section moved earlier
        j = int(rng.integers(2, m - 1))
        i = int(rng.integers(1, j))
        moved = plan.pop(j)
        plan.insert(i, (moved[0], moved[1], moved[2], "reorder"))
        features["reorder"] = True
    if rng.random() < 0.3:  # a section (or its second half) played again: a backward jump
        pos = int(rng.integers(1, m - 1))
        sec, _, n_bars, _ = plan[pos]
        half = n_bars // 2 if n_bars >= 2 and rng.random() < 0.5 else 0
        plan.insert(pos + 1, (sec, half, n_bars - half, "loop"))
        features["loop"] = True
    return plan, features


def _plan_raw(rng: np.random.Generator, form: list[str], form_bars: list[int], junk_beats: int) -> list[_Chunk]:
    """The raw jam: the song's sections in order with ``junk_beats`` beats of junk around them."""
    m = len(form)
    opening = _Chunk("count_in" if rng.random() < 0.6 else "tuning", 4)
    tail = _Chunk("tail", int(rng.integers(2, 9)))
    junk_beats = max(junk_beats, 6)  # unreachable for songs of >= 6 bars; keeps the plan valid
    if opening.n_beats + tail.n_beats > junk_beats:
        tail.n_beats = max(junk_beats - opening.n_beats, 1)
        opening.n_beats = junk_beats - tail.n_beats
    budget = junk_beats - opening.n_beats - tail.n_beats
    before: list[list[_Chunk]] = [[] for _ in range(m + 1)]  # junk before section k (m: end)
    repeats: list[_Chunk | None] = [None] * m
    false_starts: list[_Chunk | None] = [None] * m
    while budget >= 2:
        kind = str(rng.choice(["false_start", "noodle", "repeat", "silence", "noodle"]))
        if kind == "repeat":
            k = int(rng.integers(1, m))
            n_bars = form_bars[k] if form_bars[k] * 4 <= budget else form_bars[k] // 2
            if repeats[k] is not None or n_bars < 1 or n_bars * 4 > budget:
                continue
            repeats[k] = _Chunk("repeat", n_bars * 4, k, form_bars[k] - n_bars)
            budget -= n_bars * 4
        elif kind == "false_start":
            k = int(rng.integers(1, m))
            size = min(int(rng.integers(3, 9)) + int(rng.integers(1, 4)), budget)
            if false_starts[k] is not None or size < 3:
                continue
            false_starts[k] = _Chunk("false_start", size, k)
            budget -= size
        else:
            low, high = (2, 6) if kind == "silence" else (3, 13)
            size = min(int(rng.integers(low, high + 1)), budget)
            before[int(rng.integers(0, m + 1))].append(_Chunk(kind, size))
            budget -= size
    tail.n_beats += budget  # 0 or 1 beat left over
    chunks = [opening]
    for k in range(m + 1):
        if k > 0 and repeats[k - 1] is not None:
            chunks.append(repeats[k - 1])
        chunks.extend(before[k])
        if k < m:
            if false_starts[k] is not None:
                chunks.append(false_starts[k])
            chunks.append(_Chunk(form[k], form_bars[k] * 4, k))
    chunks.append(tail)
    beat = 0
    for chunk in chunks:
        chunk.start_beat = beat
        beat += chunk.n_beats
    return chunks


def _render_raw(
    song: _Song,
    rng: np.random.Generator,
    chunks: list[_Chunk],
    form_bars: list[int],
    form: list[str],
    n_channels: int,
) -> np.ndarray:
    score = _Score()
    for chunk in chunks:
        start = chunk.start_beat * song.spb
        if chunk.label in SECTION_KINDS or chunk.label == "repeat":
            k = chunk.section
            song.play_section(score, rng, form[k], start, form_bars[k], chunk.first_bar, chunk.n_beats)
        elif chunk.label == "false_start":
            k = chunk.section
            played = max(2.0, chunk.n_beats - rng.integers(1, 4) + rng.uniform(-0.5, 0.0))
            song.play_section(
                score,
                rng,
                form[k],
                start,
                form_bars[k],
                0,
                chunk.n_beats,
                stop_beats=min(played, chunk.n_beats),
            )
        elif chunk.label == "noodle":
            song.play_noodle(score, rng, start, chunk.n_beats)
        elif chunk.label == "count_in":
            song.play_count_in(score, rng, start, chunk.n_beats)
        elif chunk.label == "tuning":
            song.play_tuning(score, rng, start, chunk.n_beats)
        elif chunk.label == "tail":
            song.play_tail(score, rng, start, chunk.n_beats)
        # "silence": room noise only
    n_samples = sum(c.n_beats for c in chunks) * song.spb
    return score.render(song.instruments, n_samples, n_channels, rng)


def generate_pair(
    seed: int,
    *,
    sample_rate: int = 22050,
    n_channels: int = 1,
    duration_range_s: tuple[float, float] = (40.0, 80.0),
    effects: bool = True,
    restructure: bool = True,
    params: AudioParams = DEFAULT_PARAMS,
) -> SynthPair:
    """Generate one raw jam and its polished edit with exact ground truth.

    Parameters
    ----------
    seed : int
        Seeds the only random generator used: the same seed (and arguments) give the same pair.
    sample_rate : int
        Sample rate of both recordings, Hz.
    n_channels : int
        1 (mono) or 2 (stereo: instruments panned).
    duration_range_s : (float, float)
        Range the raw jam's length is drawn from, seconds. The song is built from whole
        sections, so the actual length lands near the draw, not exactly on it.
    effects : bool
        If False the edit is made of cuts, reorders and loops only (no fades, no gain).
    restructure : bool
        If False no section is moved or played again: the edit is the song's sections in order
        with the junk cut, which the raw audio determines (the random reorders and loops of the
        default cannot be told from the audio, so they bound what any editor can reproduce
        frame by frame). The raw audio differs from the default's for the same seed.
    params : AudioParams
        Analysis parameters of the pointer and op sequences.

    Returns
    -------
    SynthPair
        ``edit.n_samples / raw.n_samples`` lies in :data:`RATIO_BOUNDS`.
    """
    from editor_env.render import render

    if n_channels not in (1, 2):
        raise MusicEditError(f"generate_pair: n_channels={n_channels!r} must be 1 or 2.")
    low, high = sorted(float(d) for d in duration_range_s)
    if low <= 0:
        raise MusicEditError("generate_pair: duration_range_s must be positive seconds.")
    rng = np.random.default_rng(seed)
    song = _Song(rng, int(sample_rate), float(rng.uniform(*BPM_RANGE)), params)
    ratio_target = float(rng.uniform(*TARGET_RATIO_RANGE))
    raw_target_s = float(rng.uniform(low, high))
    beat_s = song.spb / sample_rate
    form, form_bars = _song_form(rng, raw_target_s * ratio_target / beat_s / BEATS_PER_BAR)
    plan, features = _plan_edit(rng, form, form_bars, restructure)
    edit_beats = sum(n_bars * BEATS_PER_BAR for _, _, n_bars, _ in plan)
    song_beats = sum(form_bars) * BEATS_PER_BAR
    junk_beats = int(round(edit_beats / ratio_target)) - song_beats
    chunks = _plan_raw(rng, form, form_bars, junk_beats)
    mix = _render_raw(song, rng, chunks, form_bars, form, n_channels)
    raw = Audio(mix, int(sample_rate))

    # The edit: whole sections (or halves) of the raw, on its beat grid.
    section_start = {c.section: c.start_beat for c in chunks if c.label in SECTION_KINDS}
    segments = []
    for sec, first_bar, n_bars, _ in plan:
        a = section_start[sec] + first_bar * BEATS_PER_BAR
        b = a + n_bars * BEATS_PER_BAR
        segments.append(Segment(a * song.spb, b * song.spb, Effects(), float(a), float(b)))
    features.update(fade_in=False, fade_out=False, gain=False)
    if effects:
        if rng.random() < 0.4:
            beats = min(
                int(rng.integers(2, 9)),
                int(segments[0].raw_end_beat - segments[0].raw_start_beat) // 2,
            )
            segments[0].effects.fade_in_s = max(beats, 1) * beat_s
            features["fade_in"] = True
        if rng.random() < 0.5:
            last = segments[-1]
            beats = min(int(rng.integers(2, 9)), int(last.raw_end_beat - last.raw_start_beat) // 2)
            last.effects.fade_out_s = max(beats, 1) * beat_s
            features["fade_out"] = True
        if rng.random() < 0.4 and len(segments) > 2:
            k = int(rng.integers(1, len(segments) - 1))
            segments[k].effects.gain_db = float(rng.choice([-6.0, -4.5, -3.0, 3.0, 4.5]))
            features["gain"] = True
    edl = EditList(
        int(sample_rate),
        raw.n_samples,
        segments,
        meta={"source": GENERATOR_NAME, "generator_version": GENERATOR_VERSION, "seed": seed},
    )
    edit = Audio(render(edl, raw), int(sample_rate))
    ratio = edit.n_samples / raw.n_samples
    if not RATIO_BOUNDS[0] <= ratio <= RATIO_BOUNDS[1]:  # a bug in the planner, not user input
        raise RuntimeError(f"synth seed {seed}: edit/raw ratio {ratio:.3f} outside {RATIO_BOUNDS}")
    pointers = edl.to_pointers(params)
    ops = ops_from_edl(edl, params)

    n_raw_beats = raw.n_samples // song.spb
    downbeats = np.zeros(n_raw_beats, dtype=bool)
    for c in chunks:
        if c.label == "silence":
            continue
        downbeats[c.start_beat : c.start_beat + c.n_beats : BEATS_PER_BAR] = True
    out_starts = edl.output_starts()
    info = {
        "generator": GENERATOR_NAME,
        "generator_version": GENERATOR_VERSION,
        "seed": int(seed),
        "method": "synthetic ground truth",
        "confidence": 1.0,
        "sample_rate": int(sample_rate),
        "n_channels": n_channels,
        "bpm": song.bpm,
        "samples_per_beat": song.spb,
        "beats_per_bar": BEATS_PER_BAR,
        "key": f"{_NOTE_NAMES[song.root]} {'minor' if song.minor else 'major'}",
        "raw_samples": raw.n_samples,
        "edit_samples": edit.n_samples,
        "raw_duration_s": raw.duration,
        "edit_duration_s": edit.duration,
        "ratio": ratio,
        "raw_frames": analysis_frame_count(raw.n_samples, raw.sample_rate, params),
        "edit_frames": int(pointers.size),
        "duration_range_s": [low, high],
        "effects": bool(effects),
        **({} if restructure else {"restructure": False}),  # absent = True: older files stay valid
        "params": params.to_dict(),
        "params_hash": params.hash(),
        "edit_features": features,
        "raw_sections": [
            {
                "label": c.label,
                "junk": c.label in JUNK_LABELS,
                "section": None if c.section is None else f"{form[c.section]}#{c.section}",
                "start_beat": c.start_beat,
                "end_beat": c.start_beat + c.n_beats,
                "start_s": c.start_beat * beat_s,
                "end_s": (c.start_beat + c.n_beats) * beat_s,
            }
            for c in chunks
        ],
        "edit_sections": [
            {
                "section": f"{form[sec]}#{sec}",
                "role": role,
                "raw_start_beat": seg.raw_start_beat,
                "raw_end_beat": seg.raw_end_beat,
                "output_start_s": int(start) / sample_rate,
                "effects": seg.effects.to_dict(),
            }
            for (sec, _, _, role), seg, start in zip(plan, segments, out_starts)
        ],
        "beat_times_s": [round(b * beat_s, 6) for b in range(n_raw_beats)],
        "downbeats": downbeats.astype(int).tolist(),
    }
    return SynthPair(raw, edit, edl, pointers, ops, info)


# --------------------------------------------------------------------------------------------
# Data set on disk
# --------------------------------------------------------------------------------------------
_TARGETS = (  # (key, folder, file name pattern): the training_data layout of DESIGN.md
    ("raw", "input", "{name}_raw.wav"),
    ("edit", "desired_output", "{name}_edit.wav"),
    ("pointers", "pointer_sequences", "{name}_pointers.npy"),
    ("ops", "pointer_sequences", "{name}_ops.npy"),
    ("edl", "pointer_sequences", "{name}_edl.json"),
    ("labels", "pointer_sequences", "{name}_labels.json"),
    ("info", "pointer_sequences", "{name}_info.json"),  # last: it marks a finished sample
)


def sample_seed(seed: int, index: int) -> int:
    """Seed of sample ``index`` of a data set made with ``seed`` (numpy ``SeedSequence``).

    Independent of how many samples the data set holds: sample 3 is the same in a data set of 4
    and one of 400.
    """
    state = np.random.SeedSequence(int(seed), spawn_key=(int(index),)).generate_state(1, np.uint64)
    return int(state[0])


def _wav_bytes(audio: Audio) -> bytes:
    """16-bit PCM WAV of ``audio`` (clipped to [-1, 1]), as :func:`editor_env.audio.write_audio`
    writes it."""
    import soundfile as sf

    buf = io.BytesIO()
    data = np.clip(audio.samples, -1.0, 1.0).T
    sf.write(buf, data, audio.sample_rate, format="WAV", subtype="PCM_16")
    return buf.getvalue()


def pair_labels(pair: SynthPair) -> RawLabels:
    """The raw's junk spans (:class:`~editor_env.labels.RawLabels`) from the generator's section layout. The
    generator humanises every section it plays, so its repeats and false starts are not exact copies: no
    ``same_as_s``."""
    junk = [
        JunkSpan(sec["start_s"], min(sec["end_s"], pair.raw.duration), sec["label"])
        for sec in pair.info["raw_sections"]
        if sec["junk"] and sec["start_s"] < pair.raw.duration
    ]
    return RawLabels(pair.raw.duration, junk, f"{GENERATOR_NAME} v{GENERATOR_VERSION}")


def pair_file_bytes(pair: SynthPair) -> dict[str, bytes]:
    """The bytes of each file of a pair, keyed ``raw``, ``edit``, ``pointers``, ``ops``,
    ``edl`` (the beat-level edit JSON), ``labels`` (the junk spans) and ``info``."""
    return {
        "raw": _wav_bytes(pair.raw),
        "edit": _wav_bytes(pair.edit),
        "pointers": npy_bytes(pair.pointers.astype(np.int64)),
        "ops": npy_bytes(pair.ops.astype(np.int8)),
        "edl": json_bytes(pair.edl.to_json_dict()),
        "labels": pair_labels(pair).json_bytes(),
        "info": json_bytes(pair.info),
    }


_INFO_DEFAULTS = {"restructure": True}
"""Settings an info file leaves out when they have their default value."""


@dataclasses.dataclass(frozen=True)
class _SampleJob:
    """One pair of a data set to write (picklable, for :class:`editor_env.executor.Executor`)."""

    out_dir: Path
    name: str
    seed: int  # the pair's own seed (sample_seed of the data set's)
    data_seed: int  # the data set's, for messages
    overwrite: bool
    plot: bool
    generate_kwargs: dict[str, Any]

    @property
    def paths(self) -> dict[str, Path]:
        return {key: self.out_dir / folder / pattern.format(name=self.name) for key, folder, pattern in _TARGETS}

    @property
    def picture(self) -> Path:
        return self.out_dir / "pointer_sequences" / f"{self.name}_synth.png"


def _write_sample(job: _SampleJob) -> str:
    """Generate and write one pair (atomic writes, ``info`` last); refuses to replace a file that differs unless
    ``job.overwrite``, and then writes nothing of that pair. Returns the sample name."""
    pair = generate_pair(job.seed, **job.generate_kwargs)
    write_sample_files(
        job.paths,
        pair_file_bytes(pair),
        overwrite=job.overwrite,
        what=f"synthetic sample {job.name} of seed {job.data_seed}",
    )
    if job.plot:
        plot_pair(pair, job.picture, title=job.name)
    return job.name


def write_dataset(
    out_dir: str | os.PathLike,
    n: int,
    *,
    seed: int = 0,
    overwrite: bool = False,
    plot: bool = False,
    progress: bool = True,
    workers: int | None = None,
    executor: Any = None,
    **generate_kwargs: Any,
) -> list[str]:
    """Write ``n`` synthetic pairs in the ``training_data/`` layout of DESIGN.md.

    Per sample ``synth_0000`` ...: ``input/{sample}_raw.wav``, ``desired_output/{sample}_edit.wav``
    (16-bit PCM), and in ``pointer_sequences/``: ``{sample}_pointers.npy`` (int64),
    ``{sample}_ops.npy`` (int8), ``{sample}_edl.json`` (the beat-level edit) and
    ``{sample}_info.json`` (written last); with ``plot`` also ``{sample}_synth.png``
    (:func:`plot_pair`). Every write is atomic.

    Parameters
    ----------
    out_dir : path
        The data-set folder (created if missing).
    n : int
        Number of pairs.
    seed : int
        Data-set seed; sample ``i`` uses :func:`sample_seed` ``(seed, i)``. The same seed and
        arguments give byte-identical files, whatever the workers.
    overwrite : bool
        Replace existing files that differ from what would be written. Without it such a file
        raises :class:`MusicEditError` and nothing of that sample is written (the other samples are).
    plot : bool
        Also write a picture of every pair.
    progress : bool
        Show a tqdm progress bar.
    workers, executor
        Where the pairs are generated, as for :func:`editor_env.cache.precache`: ``workers=N`` local processes
        (short for ``Executor(workers=N)``), or an :class:`editor_env.executor.Executor`; default this process.
        About 0.1 s a pair of 40-80 s on one core (16 pairs of 30-40 s a second: ``scripts/bench_scale.py``).
    **generate_kwargs
        Passed to :func:`generate_pair` (``sample_rate``, ``n_channels``, ``duration_range_s``,
        ``effects``, ``restructure``, ``params``).

    Returns
    -------
    list of str
        The sample names, in order.

    Notes
    -----
    A rerun resumes: a sample whose files all exist and whose info matches these settings is
    skipped (without starting a worker); files identical to what would be written are left alone.
    """
    from editor_env.executor import Executor

    if n < 0:
        raise MusicEditError(f"write_dataset: n={n!r} must be >= 0.")
    if executor is not None and workers is not None:
        raise MusicEditError("write_dataset: give workers (local processes) or an executor, not both.")
    unknown = set(generate_kwargs) - {
        "sample_rate",
        "n_channels",
        "duration_range_s",
        "effects",
        "restructure",
        "params",
    }
    if unknown:
        raise MusicEditError(f"write_dataset: unknown argument(s) {sorted(unknown)}.")
    out_dir = Path(out_dir)
    params = generate_kwargs.get("params", DEFAULT_PARAMS)
    low, high = sorted(float(d) for d in generate_kwargs.get("duration_range_s", (40.0, 80.0)))
    names, todo = [], []
    for index in range(n):
        name = f"synth_{index:04d}"
        names.append(name)
        job = _SampleJob(out_dir, name, sample_seed(seed, index), seed, overwrite, plot, generate_kwargs)
        expected = {
            "generator": GENERATOR_NAME,
            "generator_version": GENERATOR_VERSION,
            "seed": job.seed,
            "sample_rate": int(generate_kwargs.get("sample_rate", 22050)),
            "n_channels": int(generate_kwargs.get("n_channels", 1)),
            "duration_range_s": [low, high],
            "effects": bool(generate_kwargs.get("effects", True)),
            "restructure": bool(generate_kwargs.get("restructure", True)),
            "params_hash": params.hash(),
        }
        if overwrite or not files_finished(job.paths, expected, _INFO_DEFAULTS) or (plot and not job.picture.is_file()):
            todo.append(job)
    outcomes = (executor or Executor(workers=workers)).map(
        _write_sample, todo, desc="synthetic pairs", progress=progress
    )
    failed = [o.error for o in outcomes if not o.ok]
    if failed:
        raise MusicEditError("\n".join(failed))
    return names


# --------------------------------------------------------------------------------------------
# Picture
# --------------------------------------------------------------------------------------------
def plot_pair(pair: SynthPair, path: str | os.PathLike, *, title: str | None = None) -> Path:
    """Write a PNG of a synthetic pair (atomically).

    Three panels: the raw waveform with its junk sections shaded and labelled, the edit
    waveform with its segments labelled, and the pointer path (edit time vs raw time, coloured
    by edit op, junk shaded).
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    from editor_env.plots import pointer_scatter, waveform_envelope

    info = pair.info
    fig = Figure(figsize=(13, 9), layout="constrained")
    FigureCanvasAgg(fig)
    ax_raw, ax_edit, ax_ptr = fig.subplots(3, 1, height_ratios=(1, 1, 1.6))
    waveform_envelope(ax_raw, pair.raw.samples, pair.raw.sample_rate, "0.35")
    for sec in info["raw_sections"]:
        if sec["junk"]:
            colour = JUNK_COLOURS.get(sec["label"], "tab:red")
            ax_raw.axvspan(sec["start_s"], sec["end_s"], color=colour, alpha=0.25, linewidth=0)
            ax_ptr.axhspan(sec["start_s"], sec["end_s"], color=colour, alpha=0.12, linewidth=0)
        else:
            ax_raw.axvline(sec["start_s"], color="0.6", linewidth=0.6)
        y = 0.92 if sec["junk"] else 0.04
        ax_raw.text(
            (sec["start_s"] + sec["end_s"]) / 2,
            y,
            sec["label"].replace("_", " "),
            transform=ax_raw.get_xaxis_transform(),
            ha="center",
            va="top" if y > 0.5 else "bottom",
            fontsize=7,
            rotation=0 if sec["end_s"] - sec["start_s"] > 3 else 90,
        )
    ax_raw.set_title(
        f"{title or 'synthetic pair'} - raw jam: {info['raw_duration_s']:.1f} s, "
        f"{info['bpm']:.1f} BPM, {info['key']} (junk shaded)",
        fontsize=9,
    )
    waveform_envelope(ax_edit, pair.edit.samples, pair.edit.sample_rate, "tab:blue")
    for sec in info["edit_sections"]:
        ax_edit.axvline(sec["output_start_s"], color="0.3", linewidth=0.6)
        label = sec["section"].split("#")[0] + ("" if sec["role"] == "keep" else f" ({sec['role']})")
        if sec["effects"]:
            label += " " + ",".join(sorted(sec["effects"]))
        ax_edit.text(
            sec["output_start_s"],
            0.95,
            " " + label,
            transform=ax_edit.get_xaxis_transform(),
            ha="left",
            va="top",
            fontsize=7,
        )
    ax_edit.set_title(f"edit: {info['edit_duration_s']:.1f} s ({100 * info['ratio']:.0f}% of the raw)", fontsize=9)
    ax_edit.set_xlabel("time (s)", fontsize=8)
    fs = info["params"]["hop_length"] / info["params"]["sample_rate"]
    pointer_scatter(ax_ptr, pair.pointers, pair.ops, fs, info["raw_duration_s"])
    for ax in (ax_raw, ax_edit, ax_ptr):
        ax.tick_params(labelsize=7)
    path = Path(path)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=90)
    return path

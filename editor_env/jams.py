"""Raw jams made from finished real recordings, with exact ground truth (``musicedit jams``).

A finished track (any file :func:`editor_env.audio.load_audio` reads) becomes a *raw jam* and its *edit*:

- the **edit** is the track, or a polished excerpt of it (bar-aligned, with a fade-in when it starts inside
  the track and a fade-out when it ends inside it; some edits also fade where the track does not, or change
  the gain of the whole edit or of one section);
- the **raw** plays the excerpt's material in order, with what a human editor removes put in between, at bar
  starts: a count-in before the song, talk, tuning, noodling, false starts, a worse earlier take, over-long
  repeats, dead air, applause, a feedback swell, a ringing tail. Each kind of junk is a function below
  (:data:`JUNK_MAKERS`), made from the recording's own sound wherever possible: noodling and tuning play
  fragments of one isolated instrument (the stems separator: Demucs with a local weights folder, else the
  HPSS + bands fallback) out of time, detuned and quieter; a bad take is the coming section detuned, drifting
  in tempo and at the wrong level; count-in clicks are the track's own percussive hits; talk and the spoken
  count-in are ``espeak-ng`` (Debian's text-to-speech) when it is installed, else a formant voice;
- the **recording chain** varies per jam: sample rate, mono or stereo, gain, low and high shelves, a noise
  floor (pink noise with mains hum).

Ground truth is exact by construction: the raw is assembled from the excerpt's own samples (then the chain is
applied to the whole raw and it is quantised to 16 bits, as written), the edit is an
:class:`~editor_env.edl.EditList` of the raw's song spans rendered from it by :func:`editor_env.render.render`,
so the pointers (``edl.to_pointers``) say where every edit frame comes from and, away from seams and fades,
the edit's samples are the raw's. The labels (:class:`editor_env.labels.RawLabels`) list every junk span with
its kind; the song spans are exactly the spans the edit plays, so every raw second is junk or played.

Everything is drawn from a ``numpy.random.Generator`` seeded by the data-set seed, the track's name and the
jam's index: the same seed gives byte-identical files, whatever the order or the number of workers.
"""

from __future__ import annotations

import dataclasses
import hashlib
import io
import json
import os
import re
import shutil
import subprocess
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from editor_env.audio import Audio, analysis_signal, load_audio, resample
from editor_env.edl import EditList, Effects, Segment, analysis_frame_count
from editor_env.errors import MusicEditError
from editor_env.labels import JUNK_COLOURS, JunkSpan, RawLabels
from editor_env.params import DEFAULT_PARAMS, AudioParams

GENERATOR_NAME = "musicedit.jams"
GENERATOR_VERSION = 1
"""Bumped whenever the same seed and track would give other files."""
JUNK_KINDS = (
    "count_in",
    "talk",
    "tuning",
    "noodle",
    "false_start",
    "bad_take",
    "repeat",
    "dead_air",
    "applause",
    "feedback",
    "tail",
)
"""Every kind of junk a jam can hold (each has a maker in :data:`JUNK_MAKERS`)."""
OPENING_KINDS = ("count_in", "talk", "tuning", "noodle", "dead_air")
MIDDLE_KINDS = ("talk", "tuning", "noodle", "false_start", "bad_take", "repeat", "dead_air", "feedback")
MIDDLE_WEIGHTS = (0.10, 0.10, 0.14, 0.16, 0.14, 0.18, 0.09, 0.09)
CLOSING_KINDS = ("tail", "applause", "dead_air", "talk", "feedback")
MIN_EXCERPT_S = 20.0
"""A track (or the excerpt of it) shorter than this makes no jam: the track is skipped, named."""
SAMPLE_RATES = (44100, 48000, 32000, 22050)
SAMPLE_RATE_WEIGHTS = (0.45, 0.35, 0.1, 0.1)
TALK_LINES = (
    "okay, let's take it from the top",
    "hold on, I'm out of tune",
    "was that too fast?",
    "sorry, sorry, again",
    "one more time, from the chorus",
    "can you turn the bass down a bit",
    "wait, wait, I lost the click",
    "alright, that was good, let's do another",
    "is it recording?",
    "yeah, let's try it slower",
    "that's the one, keep going",
    "give me a second",
)
COUNT_WORDS = ("one", "two", "three", "four")


# --------------------------------------------------------------------------------------------
# Settings and the track material
# --------------------------------------------------------------------------------------------
@dataclasses.dataclass(frozen=True)
class JamSettings:
    """How jams are drawn (every field has a documented default; ``musicedit jams`` takes a few as flags)."""

    junk_fraction: tuple[float, float] = (0.1, 0.5)
    """Share of the raw's time that is junk, drawn uniformly per jam (the realised share is close to it)."""
    excerpt_s: tuple[float, float] = (45.0, 150.0)
    """Length of the edit when it is an excerpt; a track up to the upper bound is often used whole."""
    whole_track_p: float = 0.5
    """Chance that a track no longer than ``excerpt_s[1]`` is the edit whole."""
    fade_p: float = 0.3
    """Chance of a fade-in / fade-out where the excerpt starts / ends at the track's own start / end."""
    gain_p: float = 0.3
    """Chance of a gain change: of the whole edit (two thirds of them) or of one section."""
    voice: str = "auto"
    """``"auto"`` (espeak-ng when installed, else the formant voice), ``"espeak"`` (required) or ``"formant"``."""
    separator: str = "auto"
    """Stems for tuning and noodling: ``"auto"`` (Demucs with a configured weights folder, else the fallback),
    ``"demucs"`` or ``"fallback"`` (:func:`editor_env.stems.load_separator`)."""

    def __post_init__(self) -> None:
        lo, hi = self.junk_fraction
        if not 0 <= lo <= hi < 0.9:
            raise MusicEditError(f"junk_fraction {self.junk_fraction} must satisfy 0 <= low <= high < 0.9.")
        lo, hi = self.excerpt_s
        if not MIN_EXCERPT_S <= lo <= hi:
            raise MusicEditError(f"excerpt_s {self.excerpt_s} must satisfy {MIN_EXCERPT_S} <= low <= high.")
        if self.voice not in ("auto", "espeak", "formant"):
            raise MusicEditError(f"voice must be auto, espeak or formant (got {self.voice!r}).")

    def to_dict(self) -> dict[str, Any]:
        return {k: list(v) if isinstance(v, tuple) else v for k, v in dataclasses.asdict(self).items()}


@dataclasses.dataclass
class Material:
    """The excerpt of a track that the edit plays, at the jam's rate and channel count.

    :param samples: ``(channels, n)`` float32.
    :param sample_rate: Hz.
    :param beats: ``(n_beats,)`` int64 beat onsets in samples (from the beat tracker), increasing.
    :param downbeats: ``(n_bars,)`` int64 bar starts in samples (a subset of ``beats``).
    :param level_db: RMS level of the excerpt in dBFS (junk is levelled against it).
    """

    samples: np.ndarray
    sample_rate: int
    beats: np.ndarray
    downbeats: np.ndarray
    level_db: float

    @property
    def n(self) -> int:
        return self.samples.shape[1]

    @property
    def beat_len(self) -> int:
        """Median beat length in samples."""
        return int(np.median(np.diff(self.beats))) if self.beats.size > 1 else self.sample_rate // 2

    def bar_after(self, position: int, n_bars: int) -> int:
        """The sample ``n_bars`` bars after the bar start ``position`` (the excerpt's end at most)."""
        later = self.downbeats[self.downbeats > position]
        return int(later[n_bars - 1]) if later.size >= n_bars else self.n

    def bar_before(self, position: int, n_bars: int) -> int:
        earlier = self.downbeats[self.downbeats < position]
        return int(earlier[-n_bars]) if earlier.size >= n_bars else 0


@dataclasses.dataclass
class JunkPiece:
    """One piece of junk to insert at a bar start of the excerpt.

    :param kind: one of :data:`JUNK_KINDS`.
    :param samples: ``(channels, n)`` float32 at the jam's rate.
    :param copy_of: ``(start, stop)`` excerpt samples that the first ``stop - start`` samples of the piece copy
        exactly, or None.
    :param params: what was drawn (for the info file).
    """

    kind: str
    samples: np.ndarray
    copy_of: tuple[int, int] | None = None
    params: dict[str, Any] = dataclasses.field(default_factory=dict)


class JamContext:
    """What the junk makers draw on: the material, the RNG, the stems (separated lazily), the voice."""

    def __init__(self, material: Material, rng: np.random.Generator, settings: JamSettings):
        self.material = material
        self.rng = rng
        self.settings = settings
        self._stems: dict[tuple[int, int], np.ndarray] = {}
        self.stem_source: str | None = None
        self.voice = _Voice(settings.voice, material.sample_rate, material.samples.shape[0])

    @property
    def sr(self) -> int:
        return self.material.sample_rate

    @property
    def channels(self) -> int:
        return self.material.samples.shape[0]

    def level(self, relative_db: float) -> float:
        """A linear RMS level ``relative_db`` dB from the excerpt's level."""
        return float(10 ** ((self.material.level_db + relative_db) / 20))

    def stem_window(self, seconds: float = 10.0) -> tuple[np.ndarray, str]:
        """One isolated instrument from a random window of the excerpt: ``((channels, n), stem name)``.

        The separator runs once per window on its mono mix; the stem is the loudest of bass, vocals and other
        (a melodic part) or, with a third of the chance, drums."""
        m, rng = self.material, self.rng
        n = min(int(seconds * m.sample_rate), m.n)
        start = int(rng.integers(0, m.n - n + 1))
        key = (start, n)
        if key not in self._stems:
            from editor_env.stems import load_separator

            separator = load_separator(method=self.settings.separator)
            stems = separator.separate(
                Audio(m.samples[:, start : start + n].mean(axis=0, keepdims=True), m.sample_rate)
            )
            self.stem_source = stems.source
            self._stems[key] = stems.waveforms[:, 0, :]
        waves = self._stems[key]
        rms = np.sqrt((waves**2).mean(axis=1) + 1e-12)
        melodic = 1 + int(np.argmax(rms[1:]))
        index = 0 if rng.random() < 0.33 and rms[0] > 0.3 * rms[melodic] else melodic
        names = ("drums", "bass", "vocals", "other")
        return np.repeat(waves[index][None], self.channels, axis=0), names[index]

    def room(self, n: int, level_db: float) -> np.ndarray:
        """``n`` samples of room noise ``(channels, n)``: pink noise at ``level_db`` dBFS RMS."""
        return pink_noise(self.rng, int(n), self.channels, level_db)

    def room_s(self, seconds: float, level_db: float) -> np.ndarray:
        """Room noise lasting ``seconds``."""
        return self.room(int(seconds * self.sr), level_db)


# --------------------------------------------------------------------------------------------
# Signal helpers
# --------------------------------------------------------------------------------------------
def pink_noise(rng: np.random.Generator, n: int, channels: int, level_db: float) -> np.ndarray:
    """``(channels, n)`` float32 pink (1/f) noise at ``level_db`` dBFS RMS."""
    if n <= 0:
        return np.zeros((channels, 0), np.float32)
    from scipy.fft import next_fast_len

    size = next_fast_len(n, real=True)  # an FFT of a prime length takes seconds; this one milliseconds
    white = rng.standard_normal((channels, size))
    spectrum = np.fft.rfft(white, axis=1)
    f = np.arange(spectrum.shape[1], dtype=np.float64)
    f[0] = 1.0
    noise = np.fft.irfft(spectrum / np.sqrt(f), n=size, axis=1)[:, :n]
    noise /= np.sqrt((noise**2).mean()) + 1e-12
    return (noise * 10 ** (level_db / 20)).astype(np.float32)


def _fade(x: np.ndarray, n_in: int, n_out: int) -> np.ndarray:
    """A copy of ``x`` ``(channels, n)`` with linear fades of ``n_in`` / ``n_out`` samples."""
    x = np.array(x, dtype=np.float32)
    n = x.shape[1]
    n_in, n_out = min(n_in, n), min(n_out, n)
    if n_in > 0:
        x[:, :n_in] *= np.linspace(0, 1, n_in, dtype=np.float32)
    if n_out > 0:
        x[:, n - n_out :] *= np.linspace(1, 0, n_out, dtype=np.float32)
    return x


def _rms(x: np.ndarray) -> float:
    return float(np.sqrt(np.mean(np.square(x, dtype=np.float64)) + 1e-12))


def _at_level(x: np.ndarray, level: float) -> np.ndarray:
    """``x`` scaled to RMS ``level`` (over its non-silent part, so gaps do not count)."""
    loud = np.abs(x).max(axis=0) > 1e-4
    rms = _rms(x[:, loud]) if loud.any() else _rms(x)
    return (x * (level / rms)).astype(np.float32)


def detune(x: np.ndarray, cents: float, sr: int) -> np.ndarray:
    """``x`` played ``cents`` sharp (flat if negative) by resampling, as a tape or a mistuned string would:
    the length changes by the same factor."""
    if abs(cents) < 1e-3:
        return x
    factor = 2 ** (cents / 1200)
    return resample(np.ascontiguousarray(x, dtype=np.float32), int(round(sr * factor)), sr)


def _place(length: int, channels: int, parts: list[tuple[int, np.ndarray]]) -> np.ndarray:
    """Mix ``(offset, (channels, n))`` parts into ``(channels, length)`` zeros (parts are cut at the end)."""
    out = np.zeros((channels, length), np.float32)
    for offset, part in parts:
        if offset >= length:
            continue
        n = min(part.shape[1], length - offset)
        out[:, offset : offset + n] += part[:, :n]
    return out


def _reverb(x: np.ndarray, sr: int, room_size: float, wet: float, tail_s: float = 0.0) -> np.ndarray:
    """``x`` through pedalboard's reverb, with ``tail_s`` seconds of silence appended to ring into."""
    import pedalboard

    padded = np.concatenate([x, np.zeros((x.shape[0], int(tail_s * sr)), np.float32)], axis=1)
    board = pedalboard.Pedalboard([pedalboard.Reverb(room_size=room_size, wet_level=wet, dry_level=1 - wet)])
    return board(np.ascontiguousarray(padded), sr).astype(np.float32)


# --------------------------------------------------------------------------------------------
# Voices
# --------------------------------------------------------------------------------------------
class _Voice:
    """Speech for talk and the spoken count-in: espeak-ng when installed (``settings.voice``), else formants."""

    VOICES = ("en-us", "en", "en-us+m3", "en+m7", "en-us+f2", "en+f4")

    def __init__(self, mode: str, sr: int, channels: int):
        self.sr, self.channels = sr, channels
        binary = shutil.which("espeak-ng")
        if mode == "espeak" and binary is None:
            raise MusicEditError(
                "voice='espeak' needs the espeak-ng program (Debian: apt-get install espeak-ng); "
                "use voice='auto' or 'formant' without it."
            )
        self.binary = binary if mode in ("auto", "espeak") else None

    @property
    def name(self) -> str:
        return "espeak-ng" if self.binary else "formant"

    def say(self, text: str, rng: np.random.Generator) -> np.ndarray:
        """``text`` spoken, ``(channels, n)`` float32 at the jam's rate, peak about 1, silence trimmed."""
        voice = str(rng.choice(self.VOICES))
        speed, pitch = int(rng.integers(140, 190)), int(rng.integers(25, 70))
        if self.binary:
            y, sr = self._espeak(text, voice, speed, pitch)
        else:
            y, sr = _formant_speech(text, rng, speed), 22050
        y = resample(y.astype(np.float32), sr, self.sr)
        loud = np.flatnonzero(np.abs(y) > 0.02 * (np.abs(y).max() + 1e-9))
        if loud.size:
            y = y[max(loud[0] - 64, 0) : loud[-1] + 64]
        y = y / (np.abs(y).max() + 1e-9)
        return np.repeat(y[None].astype(np.float32), self.channels, axis=0)

    def _espeak(self, text: str, voice: str, speed: int, pitch: int) -> tuple[np.ndarray, int]:
        import soundfile as sf

        try:
            done = subprocess.run(
                [self.binary, "-v", voice, "-s", str(speed), "-p", str(pitch), "--stdout", text],
                capture_output=True,
                timeout=30,
                check=True,
            )
            y, sr = sf.read(io.BytesIO(done.stdout), dtype="float32")
        except (subprocess.SubprocessError, OSError, RuntimeError) as exc:
            raise MusicEditError(f"espeak-ng failed to speak {text!r}: {exc}") from exc
        return (y.mean(axis=1) if y.ndim == 2 else y), int(sr)


def _formant_speech(text: str, rng: np.random.Generator, speed: int) -> np.ndarray:
    """A speech-like signal at 22,050 Hz without a synthesiser: one voiced syllable (a glottal pulse train
    through two vowel formants, with a falling pitch) per vowel group of ``text``."""
    sr = 22050
    vowels = {"a": (730, 1090), "e": (530, 1840), "i": (390, 1990), "o": (570, 840), "u": (440, 1020)}
    syllables = re.findall(r"[aeiouy]+", text.lower()) or ["a"]
    from scipy.signal import lfilter

    out = []
    f0 = rng.uniform(95, 200)
    for syl in syllables:
        n = int(sr * rng.uniform(0.12, 0.22) * 170 / speed)
        pitch = f0 * np.linspace(1.08, 0.92, n)
        phase = np.cumsum(pitch / sr)
        pulses = (np.diff(np.floor(phase), prepend=0) > 0).astype(np.float64)
        y = pulses
        for formant in vowels.get(syl[0], vowels["a"]):
            r = np.exp(-np.pi * 90 / sr)
            theta = 2 * np.pi * formant / sr
            y = lfilter([1 - r], [1, -2 * r * np.cos(theta), r * r], y)
        env = np.sin(np.linspace(0, np.pi, n)) ** 0.5
        out += [y * env, np.zeros(int(sr * rng.uniform(0.03, 0.1)))]
    return np.concatenate(out).astype(np.float32)


# --------------------------------------------------------------------------------------------
# The junk makers: (context, position in the excerpt) -> JunkPiece
# --------------------------------------------------------------------------------------------
def count_in(ctx: JamContext, position: int) -> JunkPiece:
    """One or two bars counted in at the song's tempo: the track's own percussive hits as stick clicks
    (a synthetic stick when the drum stem holds no clear hit), and half the time a voice counting
    "one, two, three, four" on the beats; room noise underneath."""
    rng, sr, m = ctx.rng, ctx.sr, ctx.material
    beat, n_bars = m.beat_len, int(rng.choice([1, 2], p=[0.6, 0.4]))
    click = _click_sound(ctx)
    spoken = rng.random() < 0.5
    parts = []
    for b in range(4 * n_bars):
        parts.append((b * beat, click * (1.0 if b % 4 == 0 else 0.7)))
        if spoken and b >= 4 * (n_bars - 1):
            word = ctx.voice.say(COUNT_WORDS[b % 4], rng)[:, : int(0.9 * beat)]
            parts.append((b * beat, _at_level(word, ctx.level(-4))))
    lead = int(rng.uniform(0.1, 0.6) * sr)
    body = _place(4 * n_bars * beat, ctx.channels, parts)
    out = np.concatenate([ctx.room(lead, m.level_db - 45), body], axis=1)
    out += ctx.room(out.shape[1], m.level_db - 45)
    return JunkPiece("count_in", out, params={"bars": n_bars, "spoken": spoken, "voice": ctx.voice.name})


def _click_sound(ctx: JamContext) -> np.ndarray:
    """A stick click: the sharpest short hit of the excerpt's drum stem, else a synthetic stick."""
    rng, sr = ctx.rng, ctx.sr
    n = int(0.08 * sr)
    drums, name = ctx.stem_window(6.0)
    if name == "drums" or rng.random() < 0.5:
        env = np.abs(drums.mean(axis=0))
        if env.size > 2 * n:
            peak = int(np.argmax(env[n:-n])) + n
            hit = drums[:, peak - int(0.005 * sr) : peak + n]
            if _rms(hit) > 1e-4:
                return _fade(_at_level(hit, ctx.level(-3)), 16, n // 2)
    t = np.arange(n) / sr
    f = rng.uniform(1800, 3200)
    stick = np.sin(2 * np.pi * f * t) * np.exp(-t / 0.012) + 0.5 * rng.standard_normal(n) * np.exp(-t / 0.004)
    return _at_level(np.repeat(stick[None].astype(np.float32), ctx.channels, axis=0), ctx.level(-3))


def talk(ctx: JamContext, position: int) -> JunkPiece:
    """One to three spoken lines between takes (:data:`TALK_LINES`), quiet, in a roomy reverb, with pauses."""
    rng, sr = ctx.rng, ctx.sr
    lines = [str(line) for line in rng.choice(TALK_LINES, size=int(rng.integers(1, 4)), replace=False)]
    parts, t = [], int(rng.uniform(0.2, 0.8) * sr)
    for line in lines:
        speech = _at_level(ctx.voice.say(line, rng), ctx.level(rng.uniform(-16, -8)))
        parts.append((t, speech))
        t += speech.shape[1] + int(rng.uniform(0.3, 1.2) * sr)
    dry = _place(t, ctx.channels, parts)
    out = _reverb(dry, sr, room_size=rng.uniform(0.3, 0.7), wet=rng.uniform(0.15, 0.35))[:, :t]
    out += ctx.room(t, ctx.material.level_db - 40)
    return JunkPiece("talk", out, params={"lines": lines, "voice": ctx.voice.name})


def tuning(ctx: JamContext, position: int) -> JunkPiece:
    """A player tuning: short held notes of one isolated instrument, each plucked two to four times while its
    detuning converges (e.g. +40, +18, +5 cents), with pauses, quieter than the song."""
    rng, sr = ctx.rng, ctx.sr
    stem, name = ctx.stem_window()
    parts, t = [], int(rng.uniform(0.2, 0.6) * sr)
    length = rng.uniform(4.0, 14.0) * sr
    while t < length:
        n = int(rng.uniform(0.4, 1.4) * sr)
        start = int(rng.integers(0, max(stem.shape[1] - n, 1)))
        note = _fade(stem[:, start : start + n], 64, n // 3)
        cents = rng.choice([-1, 1]) * rng.uniform(25, 60)
        for k in range(int(rng.integers(2, 5))):
            played = detune(note, cents * 0.45**k, sr)
            parts.append((t, played))
            t += played.shape[1] + int(rng.uniform(0.15, 0.6) * sr)
    out = _at_level(_place(t, ctx.channels, parts), ctx.level(rng.uniform(-14, -6)))
    out += ctx.room(t, ctx.material.level_db - 45)
    return JunkPiece("tuning", out, params={"stem": name, "separator": ctx.stem_source})


def noodle(ctx: JamContext, position: int) -> JunkPiece:
    """Noodling: fragments (a sixth of a beat to a beat) of one isolated instrument, in random order and out of
    time, some detuned, at uneven and lower levels."""
    rng, sr, beat = ctx.rng, ctx.sr, ctx.material.beat_len
    stem, name = ctx.stem_window()
    parts, t = [], 0
    length = rng.uniform(4.0, 18.0) * sr
    while t < length:
        n = int(beat * rng.uniform(0.17, 1.0))
        start = int(rng.integers(0, max(stem.shape[1] - n, 1)))
        frag = _fade(stem[:, start : start + n], 32, n // 4) * rng.uniform(0.4, 1.0)
        if rng.random() < 0.3:
            frag = detune(frag, rng.uniform(-80, 80), sr)
        parts.append((t, frag))
        t += int(frag.shape[1] * rng.uniform(0.6, 1.6)) + int(rng.exponential(0.15) * sr)
    out = _at_level(_place(t, ctx.channels, parts), ctx.level(rng.uniform(-12, -4)))
    out += ctx.room(t, ctx.material.level_db - 45)
    return JunkPiece("noodle", out, params={"stem": name, "separator": ctx.stem_source})


def false_start(ctx: JamContext, position: int) -> JunkPiece:
    """The coming section started and abandoned: one to three bars of it played exactly, then it breaks off a
    beat or three into the next bar (a 40 ms fade), followed by room noise and sometimes a word."""
    rng, sr, m = ctx.rng, ctx.sr, ctx.material
    n_bars = int(rng.integers(1, 4))
    stop = min(m.bar_after(position, n_bars) + int(rng.integers(1, 4)) * m.beat_len, m.n)
    copy = m.samples[:, position:stop]
    fade = min(int(0.04 * sr), copy.shape[1] // 4)
    played = _fade(copy, 0, fade)
    gap = ctx.room_s(rng.uniform(0.4, 2.5), m.level_db - 42)
    parts = [played, gap]
    if rng.random() < 0.4:
        parts.append(_at_level(ctx.voice.say(str(rng.choice(["sorry", "again", "wait", "oops"])), rng), ctx.level(-10)))
        parts.append(ctx.room_s(rng.uniform(0.3, 1.0), m.level_db - 42))
    return JunkPiece(
        "false_start",
        np.concatenate(parts, axis=1),
        copy_of=(position, stop - fade),
        params={"bars": n_bars, "played_s": (stop - position) / sr},
    )


def bad_take(ctx: JamContext, position: int) -> JunkPiece:
    """A worse earlier take of the coming two to eight bars: detuned (25-70 cents), drifting in tempo
    (time-stretched 0.92-1.08), at the wrong level (3-8 dB off) and sometimes muffled; then a pause."""
    import pedalboard

    rng, sr, m = ctx.rng, ctx.sr, ctx.material
    n_bars = int(rng.integers(2, 9))
    stop = m.bar_after(position, n_bars)
    take = m.samples[:, position:stop]
    cents = float(rng.choice([-1, 1]) * rng.uniform(25, 70))
    stretch = float(rng.uniform(0.92, 1.08))
    level_db = float(rng.choice([-1, 1]) * rng.uniform(3, 8))
    plugins = [pedalboard.PitchShift(semitones=cents / 100)]
    muffled = bool(rng.random() < 0.3)
    if muffled:
        plugins.append(pedalboard.LowpassFilter(cutoff_frequency_hz=float(rng.uniform(1200, 3000))))
    worse = pedalboard.time_stretch(np.ascontiguousarray(take), sr, stretch)
    worse = pedalboard.Pedalboard(plugins)(np.ascontiguousarray(worse, dtype=np.float32), sr)
    worse = _fade(worse * 10 ** (level_db / 20), 64, int(rng.uniform(0.03, 0.5) * sr))
    out = np.concatenate([worse, ctx.room_s(rng.uniform(0.5, 2.0), m.level_db - 42)], axis=1)
    return JunkPiece(
        "bad_take",
        out,
        params={"bars": n_bars, "cents": cents, "stretch": stretch, "level_db": level_db, "muffled": muffled},
    )


def repeat(ctx: JamContext, position: int) -> JunkPiece:
    """An over-long repeat: the bar, two bars or phrase (four bars) just played, played again one to three more
    times, exactly."""
    rng, m = ctx.rng, ctx.material
    n_bars = int(rng.choice([1, 2, 4], p=[0.4, 0.35, 0.25]))
    start = m.bar_before(position, n_bars)
    times = int(rng.integers(1, 4)) if n_bars < 4 else 1
    copy = m.samples[:, start:position]
    return JunkPiece(
        "repeat", np.tile(copy, (1, times)), copy_of=(start, position), params={"bars": n_bars, "times": times}
    )


def dead_air(ctx: JamContext, position: int) -> JunkPiece:
    """Nothing played: room noise with mains hum and now and then a small knock, two to ten seconds."""
    rng, sr = ctx.rng, ctx.sr
    seconds = rng.uniform(2.0, 10.0)
    n = int(seconds * sr)
    out = ctx.room(n, ctx.material.level_db - rng.uniform(35, 50))
    hum_hz = float(rng.choice([50.0, 60.0]))
    t = np.arange(n) / sr
    hum = sum(np.sin(2 * np.pi * hum_hz * k * t) / k for k in (1, 2, 3)) * ctx.level(-50)
    out += hum.astype(np.float32)[None]
    for _ in range(int(rng.poisson(seconds / 4))):
        at, k = int(rng.integers(0, n)), int(0.05 * sr)
        knock = rng.standard_normal(k) * np.exp(-np.arange(k) / (0.008 * sr)) * ctx.level(-20)
        out[:, at : at + k] += knock[: n - at].astype(np.float32)
    return JunkPiece("dead_air", out, params={"seconds": seconds, "hum_hz": hum_hz})


def applause(ctx: JamContext, position: int) -> JunkPiece:
    """Applause: hundreds of hand claps (band-passed noise bursts of 5-15 ms, one clap sound per clapper) that
    swell in and die away over three to ten seconds, with a little cheering noise."""
    from scipy.signal import butter, sosfilt

    rng, sr = ctx.rng, ctx.sr
    seconds = rng.uniform(3.0, 10.0)
    n = int(seconds * sr)
    out = np.zeros((ctx.channels, n), np.float32)
    clappers = int(rng.integers(8, 40))
    env_t = np.linspace(0, 1, n)
    crowd = np.minimum(env_t / 0.15, 1.0) * np.exp(-np.maximum(env_t - 0.4, 0) * 4)
    for _ in range(clappers):
        centre = rng.uniform(800, 2500)
        sos = butter(2, [centre * 0.6, min(centre * 1.6, sr / 2 - 1)], btype="band", fs=sr, output="sos")
        k = int(rng.uniform(0.005, 0.015) * sr * 4)
        clap = sosfilt(sos, rng.standard_normal(k) * np.exp(-np.arange(k) / (k / 4))).astype(np.float32)
        rate = rng.uniform(3, 6)
        at = rng.uniform(0, 0.3)
        pan = rng.uniform(0.3, 1.0, size=(ctx.channels, 1))
        while at < seconds:
            i = int(at * sr)
            if rng.random() < crowd[min(i, n - 1)]:
                out[:, i : i + k] += (pan * clap[: n - i]) * rng.uniform(0.5, 1.0)
            at += 1 / rate * rng.uniform(0.85, 1.15)
    out += pink_noise(rng, n, ctx.channels, 0) * (crowd * 0.15).astype(np.float32)
    out = _reverb(_at_level(out, ctx.level(rng.uniform(-10, -2))), sr, 0.6, 0.2)
    return JunkPiece("applause", out, params={"seconds": seconds, "clappers": clappers})


def feedback(ctx: JamContext, position: int) -> JunkPiece:
    """A feedback swell: a tone at the excerpt's strongest spectral peak (the resonance that howls), rising
    exponentially over one to four seconds with vibrato and amplifier distortion, over a held note of the
    track, then cut."""
    import pedalboard

    rng, sr, m = ctx.rng, ctx.sr, ctx.material
    seconds = rng.uniform(1.5, 5.0)
    n = int(seconds * sr)
    probe = m.samples.mean(axis=0)[: min(m.n, 10 * sr)]
    spectrum = np.abs(np.fft.rfft(probe))
    freqs = np.fft.rfftfreq(probe.size, 1 / sr)
    band = (freqs > 400) & (freqs < 3000)
    f0 = float(freqs[band][np.argmax(spectrum[band])]) if band.any() else 1000.0
    t = np.arange(n) / sr
    phase = 2 * np.pi * np.cumsum(f0 * (1 + 0.003 * np.sin(2 * np.pi * 5.5 * t))) / sr
    swell = np.exp((t / seconds - 1) * rng.uniform(4, 7))
    tone = np.tanh(3 * np.sin(phase) * swell) * swell
    out = np.repeat(tone[None].astype(np.float32), ctx.channels, axis=0)
    out = pedalboard.Pedalboard([pedalboard.Distortion(drive_db=float(rng.uniform(5, 15)))])(out, sr)
    out = _at_level(out, ctx.level(rng.uniform(-8, 0)))
    out = _fade(out, 0, int(0.02 * sr)) + ctx.room(out.shape[1], m.level_db - 40)
    return JunkPiece("feedback", out, params={"seconds": seconds, "hz": f0})


def tail(ctx: JamContext, position: int) -> JunkPiece:
    """A ringing tail after the song: its last beat rings on in a large reverb and dies away over three to ten
    seconds into room noise."""
    rng, sr, m = ctx.rng, ctx.sr, ctx.material
    seconds = rng.uniform(3.0, 10.0)
    last = m.samples[:, max(m.n - m.beat_len, 0) :]
    ring = _reverb(_fade(last, 0, last.shape[1] // 2), sr, rng.uniform(0.85, 0.98), 1.0, tail_s=seconds)
    ring = ring[:, last.shape[1] : last.shape[1] + int(seconds * sr)]
    ring *= np.exp(-np.arange(ring.shape[1]) / (seconds * sr / 4)).astype(np.float32)
    ring = _at_level(ring, ctx.level(rng.uniform(-12, -4)))
    out = ring + ctx.room(ring.shape[1], m.level_db - 45)
    return JunkPiece("tail", out, params={"seconds": seconds})


JUNK_MAKERS: dict[str, Callable[[JamContext, int], JunkPiece]] = {
    "count_in": count_in,
    "talk": talk,
    "tuning": tuning,
    "noodle": noodle,
    "false_start": false_start,
    "bad_take": bad_take,
    "repeat": repeat,
    "dead_air": dead_air,
    "applause": applause,
    "feedback": feedback,
    "tail": tail,
}
assert set(JUNK_MAKERS) == set(JUNK_KINDS)


# --------------------------------------------------------------------------------------------
# One jam
# --------------------------------------------------------------------------------------------
@dataclasses.dataclass
class JamPair:
    """One raw jam and its edit, with exact ground truth.

    :param raw: the raw jam, ``(channels, n)`` float32 (16-bit values, as written).
    :param edit: ``render(edl, raw)``, 16-bit values.
    :param edl: the edit as raw segments in output order (seconds in its JSON).
    :param pointers: ``(edit_frames,)`` int64 raw analysis frame of every edit frame.
    :param ops: ``(edit_frames,)`` int8 :class:`~editor_env.ops.EditOp` per edit frame.
    :param labels: the raw's junk spans.
    :param info: JSON-able provenance: generator, seed, track, chain, excerpt, junk pieces, lengths.
    """

    raw: Audio
    edit: Audio
    edl: EditList
    pointers: np.ndarray
    ops: np.ndarray
    labels: RawLabels
    info: dict[str, Any]


def jam_seed(seed: int, track_name: str, index: int) -> int:
    """Seed of jam ``index`` of the track named ``track_name`` in a data set made with ``seed``."""
    key = (zlib.crc32(track_name.encode()), int(index))
    return int(np.random.SeedSequence(int(seed), spawn_key=key).generate_state(1, np.uint64)[0])


def _quantise(samples: np.ndarray) -> np.ndarray:
    """The values a 16-bit PCM file holds for ``samples`` (clipped to [-1, 1])."""
    return (np.round(np.clip(samples, -1.0, 1.0) * 32767.0) / 32767.0).astype(np.float32)


def _load_material(track: Audio, rng: np.random.Generator, settings: JamSettings, params: AudioParams):
    """Draw the chain's rate and channels and the excerpt; analyse its beats. Returns (material, excerpt info)."""
    from editor_env.features import analyze_signal

    sr = int(rng.choice(SAMPLE_RATES, p=SAMPLE_RATE_WEIGHTS))
    channels = 1 if track.n_channels == 1 or rng.random() < 0.3 else 2
    duration = track.duration
    if duration < MIN_EXCERPT_S:
        raise MusicEditError(f"{track.path}: {duration:.1f} s is shorter than a jam needs ({MIN_EXCERPT_S:.0f} s).")
    lo, hi = settings.excerpt_s
    whole = duration <= hi and rng.random() < settings.whole_track_p
    if whole:
        start_s, length_s = 0.0, duration
    else:
        length_s = min(rng.uniform(lo, hi), duration)
        start_s = rng.uniform(0, duration - length_s)
    pad = 2.0
    a = int(max(start_s - (0 if whole else pad), 0) * track.sample_rate)
    b = int(min(start_s + length_s + (0 if whole else pad), duration) * track.sample_rate)
    window = track.samples[:, a:b]
    if channels == 1:
        window = window.mean(axis=0, keepdims=True)
    elif window.shape[0] > 2:  # more channels than stereo: the first two
        window = window[:2]
    window = resample(np.ascontiguousarray(window), track.sample_rate, sr)
    analysis = analyze_signal(analysis_signal(Audio(window, sr), params), params)
    beats = np.round(analysis.beats.times * sr).astype(np.int64)
    down = beats[analysis.beats.downbeats]
    if whole:
        first, last = 0, window.shape[1]
    else:
        rel_start = int((start_s - a / track.sample_rate) * sr)
        after = down[down >= rel_start]
        first = int(after[0]) if after.size else rel_start
        ends = down[down <= first + int(length_s * sr)]
        last = int(ends[-1]) if ends.size and ends[-1] > first else min(first + int(length_s * sr), window.shape[1])
    samples = window[:, first:last]
    if samples.shape[1] < MIN_EXCERPT_S * sr:
        raise MusicEditError(f"{track.path}: its excerpt of {samples.shape[1] / sr:.1f} s is too short for a jam.")
    in_range = (beats >= first) & (beats < last)
    beats_x = beats[in_range] - first
    down_x = down[(down >= first) & (down < last)] - first
    if beats_x.size < 8 or down_x.size < 4:
        raise MusicEditError(f"{track.path}: too few beats ({beats_x.size}) found in its excerpt for a jam.")
    level = 20 * np.log10(_rms(samples))
    track_start_s, track_end_s = a / track.sample_rate + first / sr, a / track.sample_rate + last / sr
    excerpt = {
        "whole_track": bool(whole),
        "track_start_s": round(track_start_s, 6),
        "track_end_s": round(track_end_s, 6),
        "starts_inside": bool(track_start_s > 0.5),
        "ends_inside": bool(track_end_s < duration - 0.5),
        "tempo_bpm": round(float(analysis.beats.tempo), 2),
    }
    material = Material(np.ascontiguousarray(samples, dtype=np.float32), sr, beats_x, down_x, float(level))
    return material, excerpt


def _plan_junk(ctx: JamContext) -> list[tuple[int, str]]:
    """``[(position in the excerpt, kind), ...]`` in raw order: an opening, the middle pieces at free bar
    starts, a closing; the junk's expected share drawn from ``settings.junk_fraction``."""
    rng, m = ctx.rng, ctx.material
    fraction = rng.uniform(*ctx.settings.junk_fraction)
    budget_s = fraction * (m.n / m.sample_rate) / (1 - fraction)
    typical = {
        "count_in": 4 * m.beat_len / m.sample_rate + 0.3,
        "talk": 4.5,
        "tuning": 9.0,
        "noodle": 11.0,
        "false_start": 12 * m.beat_len / m.sample_rate / 2 + 1.5,
        "bad_take": 20 * m.beat_len / m.sample_rate + 1.2,
        "repeat": 7 * m.beat_len / m.sample_rate,
        "dead_air": 6.0,
        "applause": 6.5,
        "feedback": 3.2,
        "tail": 6.5,
    }
    plan: list[tuple[int, str]] = []
    if rng.random() < 0.85:
        kind = "count_in" if rng.random() < 0.6 else str(rng.choice(OPENING_KINDS[1:]))
        plan.append((0, kind))
        budget_s -= typical[kind]
    closing = None
    if rng.random() < 0.7:
        closing = str(rng.choice(CLOSING_KINDS, p=(0.4, 0.25, 0.15, 0.1, 0.1)))
        budget_s -= typical[closing]
    bars = m.downbeats[(m.downbeats >= 2 * 4 * m.beat_len) & (m.downbeats <= m.n - 2 * 4 * m.beat_len)]
    free = list(rng.permutation(bars))
    while budget_s > 0 and free:
        kind = str(rng.choice(MIDDLE_KINDS, p=np.asarray(MIDDLE_WEIGHTS) / sum(MIDDLE_WEIGHTS)))
        position = int(free.pop())
        plan.append((position, kind))
        budget_s -= typical[kind]
        free = [p for p in free if abs(p - position) >= 4 * 4 * m.beat_len]  # pieces at least 4 bars apart
    if closing is not None:
        plan.append((m.n, closing))
    return sorted(plan, key=lambda item: item[0])


def _apply_chain(raw: np.ndarray, sr: int, rng: np.random.Generator) -> tuple[np.ndarray, dict[str, Any]]:
    """The recording chain on the whole raw: gain, low and high shelves, noise floor, then a safety gain so
    that nothing clips. Returns (samples, the chain's settings)."""
    import pedalboard

    gain_db = float(rng.uniform(-9, 3))
    low_db, high_db = float(rng.uniform(-4, 4)), float(rng.uniform(-6, 3))
    noise_db = float(rng.uniform(-72, -52))
    board = pedalboard.Pedalboard(
        [
            pedalboard.LowShelfFilter(cutoff_frequency_hz=200.0, gain_db=low_db),
            pedalboard.HighShelfFilter(cutoff_frequency_hz=5000.0, gain_db=high_db),
            pedalboard.Gain(gain_db=gain_db),
        ]
    )
    out = board(np.ascontiguousarray(raw), sr) + pink_noise(rng, raw.shape[1], raw.shape[0], noise_db)
    peak = float(np.abs(out).max())
    safety_db = min(0.0, 20 * np.log10(0.97 / peak)) if peak > 0 else 0.0
    out *= np.float32(10 ** (safety_db / 20))
    chain = {
        "gain_db": round(gain_db, 3),
        "low_shelf_db": round(low_db, 3),
        "high_shelf_db": round(high_db, 3),
        "noise_floor_dbfs": round(noise_db, 3),
        "safety_gain_db": round(safety_db, 3),
    }
    return out.astype(np.float32), chain


def _edit_effects(rng: np.random.Generator, n_segments: int, excerpt: dict[str, Any], settings: JamSettings):
    """Per segment :class:`Effects` of the edit: fades where the excerpt starts/ends inside the track (and
    sometimes elsewhere), and sometimes a gain change (of the whole edit or of one segment)."""
    effects = [Effects() for _ in range(n_segments)]
    if excerpt["starts_inside"] or rng.random() < settings.fade_p:
        effects[0] = dataclasses.replace(effects[0], fade_in_s=round(float(rng.uniform(0.3, 2.0)), 3))
    if excerpt["ends_inside"] or rng.random() < settings.fade_p:
        effects[-1] = dataclasses.replace(effects[-1], fade_out_s=round(float(rng.uniform(1.5, 6.0)), 3))
    gain = None
    if rng.random() < settings.gain_p:
        gain_db = round(float(rng.choice([-1, 1]) * rng.uniform(2.0, 5.0)), 2)
        if n_segments > 1 and rng.random() < 1 / 3:
            k = int(rng.integers(0, n_segments))
            effects[k] = dataclasses.replace(effects[k], gain_db=gain_db)
            gain = {"segment": k, "gain_db": gain_db}
        else:
            effects = [dataclasses.replace(fx, gain_db=gain_db) for fx in effects]
            gain = {"segment": "all", "gain_db": gain_db}
    return effects, gain


def make_jam(
    track: Audio,
    seed: int,
    *,
    settings: JamSettings = JamSettings(),
    params: AudioParams = DEFAULT_PARAMS,
    track_name: str | None = None,
) -> JamPair:
    """Make one raw jam and its edit from a finished track (module docstring).

    :param track: the finished recording (any rate and channel count).
    :param seed: the jam's own seed (:func:`jam_seed`).
    :raises MusicEditError: the track is too short, or the beat tracker finds too few beats in it.
    """
    from editor_env.render import render
    from editor_env.synth import ops_from_edl

    rng = np.random.default_rng(seed)
    material, excerpt = _load_material(track, rng, settings, params)
    ctx = JamContext(material, rng, settings)
    sr, channels = material.sample_rate, ctx.channels
    plan = _plan_junk(ctx)
    # assemble: song chunks between the pieces, each piece made at its position
    pieces: list[tuple[int, JunkPiece]] = [(position, JUNK_MAKERS[kind](ctx, position)) for position, kind in plan]
    blocks, song_spans, junk_spans, cursor, out_pos = [], [], [], 0, 0

    def add_song(stop: int) -> None:
        nonlocal cursor, out_pos
        if stop > cursor:
            blocks.append(material.samples[:, cursor:stop])
            song_spans.append((out_pos, out_pos + stop - cursor, cursor))
            out_pos += stop - cursor
            cursor = stop

    for position, piece in pieces:
        add_song(position)
        blocks.append(piece.samples.astype(np.float32))
        junk_spans.append((out_pos, out_pos + piece.samples.shape[1], piece))
        out_pos += piece.samples.shape[1]
    add_song(material.n)
    raw = np.concatenate(blocks, axis=1)
    raw, chain = _apply_chain(raw, sr, rng)
    raw = _quantise(raw)
    raw_audio = Audio(raw, sr)

    def raw_of(excerpt_sample: int) -> int:
        """The raw sample of the song chunk that plays excerpt sample ``excerpt_sample``."""
        for a, b, x in song_spans:
            if x <= excerpt_sample < x + (b - a):
                return a + excerpt_sample - x
        raise AssertionError("excerpt sample outside the song")

    effects, gain = _edit_effects(rng, len(song_spans), excerpt, settings)
    segments = [Segment(a, b, fx) for (a, b, _), fx in zip(song_spans, effects)]
    edl = EditList(sr, raw.shape[1], segments, meta={"paradigm": "ground truth", "generator": GENERATOR_NAME})
    edit = _quantise(render(edl, raw_audio))
    pointers = edl.to_pointers(params)
    ops = ops_from_edl(edl, params)

    junk, pieces_info = [], []
    for a, b, piece in junk_spans:
        same_as = None
        if piece.copy_of is not None:
            x0, x1 = piece.copy_of
            r0 = raw_of(x0)
            same_as = (r0 / sr, (r0 + x1 - x0) / sr)
            copy_end = a + x1 - x0
            junk.append(JunkSpan(a / sr, copy_end / sr, piece.kind, same_as))
            if b > copy_end:
                junk.append(JunkSpan(copy_end / sr, b / sr, piece.kind))
        else:
            junk.append(JunkSpan(a / sr, b / sr, piece.kind))
        pieces_info.append({"kind": piece.kind, "start_s": round(a / sr, 6), "end_s": round(b / sr, 6), **piece.params})
    labels = RawLabels(raw.shape[1] / sr, junk, f"{GENERATOR_NAME} v{GENERATOR_VERSION}")
    name = track_name or (track.path.name if track.path else "track")
    info = {
        "generator": GENERATOR_NAME,
        "generator_version": GENERATOR_VERSION,
        "seed": int(seed),
        "method": "jam ground truth",
        "confidence": 1.0,
        "track": name,
        "sample_rate": sr,
        "n_channels": channels,
        "chain": chain,
        "excerpt": excerpt,
        "settings": settings.to_dict(),
        "voice": ctx.voice.name,
        "separator": ctx.stem_source,
        "raw_samples": int(raw.shape[1]),
        "edit_samples": int(edit.shape[1]),
        "raw_duration_s": raw.shape[1] / sr,
        "edit_duration_s": edit.shape[1] / sr,
        "ratio": edit.shape[1] / raw.shape[1],
        "junk_fraction": labels.junk_seconds() / (raw.shape[1] / sr),
        "junk_kinds": labels.kinds,
        "junk": pieces_info,
        "edit_gain": gain,
        "raw_frames": analysis_frame_count(raw.shape[1], sr, params),
        "edit_frames": int(pointers.size),
        "params": params.to_dict(),
        "params_hash": params.hash(),
    }
    return JamPair(raw_audio, Audio(edit, sr), edl, pointers, ops, labels, info)


# --------------------------------------------------------------------------------------------
# Data set on disk
# --------------------------------------------------------------------------------------------
_TARGETS = (  # (key, folder, file name pattern): the training_data layout of DESIGN.md
    ("raw", "input", "{name}_raw.flac"),
    ("edit", "desired_output", "{name}_edit.flac"),
    ("pointers", "pointer_sequences", "{name}_pointers.npy"),
    ("ops", "pointer_sequences", "{name}_ops.npy"),
    ("edl", "pointer_sequences", "{name}_edl.json"),
    ("labels", "pointer_sequences", "{name}_labels.json"),
    ("info", "pointer_sequences", "{name}_info.json"),  # last: it marks a finished sample
)


def _flac_bytes(audio: Audio) -> bytes:
    """16-bit FLAC of ``audio`` (lossless for the 16-bit values a jam holds, about half a WAV's size)."""
    import soundfile as sf

    buf = io.BytesIO()
    sf.write(buf, np.clip(audio.samples, -1.0, 1.0).T, audio.sample_rate, format="FLAC", subtype="PCM_16")
    return buf.getvalue()


def jam_file_bytes(pair: JamPair) -> dict[str, bytes]:
    """The bytes of each file of a jam, keyed as :data:`_TARGETS`."""
    from editor_env.io import json_bytes, npy_bytes

    return {
        "raw": _flac_bytes(pair.raw),
        "edit": _flac_bytes(pair.edit),
        "pointers": npy_bytes(pair.pointers.astype(np.int64)),
        "ops": npy_bytes(pair.ops.astype(np.int8)),
        "edl": json_bytes(pair.edl.to_json_dict()),
        "labels": pair.labels.json_bytes(),
        "info": json_bytes(pair.info),
    }


def track_name(path: Path, root: Path | None = None) -> str:
    """A sample-name-safe name of a track: its path under ``root`` without the suffix, ``/`` as ``-``."""
    rel = path.relative_to(root) if root is not None and path.is_relative_to(root) else Path(path.name)
    text = str(rel.with_suffix("")).replace(os.sep, "-")
    return re.sub(r"[^A-Za-z0-9._+-]+", "-", text).strip("-") or "track"


@dataclasses.dataclass(frozen=True)
class _JamJob:
    """One jam to write (picklable, for :class:`editor_env.executor.Executor`)."""

    track: Path
    track_name: str
    index: int
    out_dir: Path
    data_seed: int
    overwrite: bool
    plot: bool
    settings: JamSettings

    @property
    def name(self) -> str:
        return f"{self.track_name}_j{self.index}"

    @property
    def seed(self) -> int:
        return jam_seed(self.data_seed, self.track_name, self.index)

    @property
    def paths(self) -> dict[str, Path]:
        return {key: self.out_dir / folder / pattern.format(name=self.name) for key, folder, pattern in _TARGETS}

    @property
    def picture(self) -> Path:
        return self.out_dir / "pointer_sequences" / f"{self.name}_jam.png"

    def finished(self) -> bool:
        from editor_env.io import files_finished

        expected = {"generator": GENERATOR_NAME, "generator_version": GENERATOR_VERSION, "seed": self.seed}
        return files_finished(self.paths, expected) and (not self.plot or self.picture.is_file())


def _write_jam(job: _JamJob) -> str:
    """Make and write one jam (atomic writes, info last). A file that differs is never replaced unless
    ``job.overwrite``; then nothing of that jam is written."""
    from editor_env.io import write_sample_files

    try:  # an unreadable (AudioLoadError) or unusable track is named and skipped
        pair = make_jam(load_audio(job.track), job.seed, settings=job.settings, track_name=job.track_name)
    except MusicEditError as exc:
        raise MusicEditError(f"track {job.track} skipped: {exc}") from exc
    write_sample_files(
        job.paths,
        jam_file_bytes(pair),
        overwrite=job.overwrite,
        what=f"jam {job.name} of seed {job.data_seed}",
    )
    if job.plot:
        plot_jam(pair, job.picture, title=job.name)
    return job.name


def find_tracks(tracks: str | os.PathLike | list) -> list[Path]:
    """Audio files under a folder (recursively, sorted), or the given list of files."""
    from editor_env.dataset import AUDIO_SUFFIXES

    if isinstance(tracks, list | tuple):
        return [Path(t) for t in tracks]
    root = Path(tracks)
    if root.is_file():
        return [root]
    if not root.is_dir():
        raise MusicEditError(f"--tracks {root} is neither a folder nor an audio file.")
    suffixes = (*AUDIO_SUFFIXES, ".mp3", ".opus")
    return sorted(p for p in root.rglob("*") if p.is_file() and p.suffix.lower() in suffixes)


@dataclasses.dataclass
class JamsResult:
    """What :func:`write_jams` did: ``written`` and ``skipped`` (already there) sample names, and ``failed``:
    ``{sample: message}`` for tracks that made no jam (each message names the file)."""

    written: list[str]
    skipped: list[str]
    failed: dict[str, str]


def write_jams(
    tracks: str | os.PathLike | list,
    out_dir: str | os.PathLike,
    *,
    per_track: int = 1,
    seed: int = 0,
    settings: JamSettings = JamSettings(),
    overwrite: bool = False,
    plot: bool = False,
    progress: bool = True,
    workers: int | None = None,
    executor: Any = None,
    root: str | os.PathLike | None = None,
) -> JamsResult:
    """Write ``per_track`` jams of every track in the ``training_data/`` layout.

    Per jam ``{track}_j{k}``: ``input/{name}_raw.flac``, ``desired_output/{name}_edit.flac`` (16-bit FLAC), and in
    ``pointer_sequences/``: ``_pointers.npy``, ``_ops.npy``, ``_edl.json``, ``_labels.json`` and ``_info.json``
    (written last); with ``plot`` also ``{name}_jam.png`` (:func:`plot_jam`).

    :param tracks: a folder of finished recordings (searched recursively) or a list of files.
    :param root: names are paths under this folder (default: ``tracks`` when it is a folder).
    :param seed: the data-set seed; the same seed gives byte-identical files, whatever the workers.
    :param workers, executor: as :func:`editor_env.synth.write_dataset`.
    :returns: a :class:`JamsResult`. A track that cannot be read, or is too short, is named in ``failed``
        and the other tracks' jams are made. A rerun resumes: finished jams are skipped.
    """
    from editor_env.executor import Executor

    if per_track < 1:
        raise MusicEditError(f"--per-track must be at least 1 (got {per_track}).")
    if executor is not None and workers is not None:
        raise MusicEditError("write_jams: give workers (local processes) or an executor, not both.")
    paths = find_tracks(tracks)
    if not paths:
        raise MusicEditError(f"No audio files found in {tracks}.")
    if root is None and not isinstance(tracks, list | tuple) and Path(tracks).is_dir():
        root = Path(tracks)
    names = [track_name(p, Path(root) if root else None) for p in paths]
    duplicates = {n for n in names if names.count(n) > 1}
    if duplicates:
        raise MusicEditError(f"Tracks with the same name {sorted(duplicates)}: rename them or pass a root folder.")
    jobs = [
        _JamJob(path, name, k, Path(out_dir), int(seed), overwrite, plot, settings)
        for path, name in zip(paths, names)
        for k in range(per_track)
    ]
    todo = [job for job in jobs if overwrite or not job.finished()]
    outcomes = (executor or Executor(workers=workers)).map(_write_jam, todo, desc="jams", progress=progress)
    failed = {o.name: o.error for o in outcomes if not o.ok}
    done = {o.name for o in outcomes if o.ok}
    return JamsResult(
        written=[j.name for j in todo if j.name in done],
        skipped=[j.name for j in jobs if j not in todo],
        failed=failed,
    )


# --------------------------------------------------------------------------------------------
# Picture
# --------------------------------------------------------------------------------------------


def plot_jam(pair: JamPair, path: str | os.PathLike, *, title: str | None = None) -> Path:
    """Write a PNG of a jam (atomically): the raw with its junk spans coloured by kind, the edit, and the
    pointer path (edit time against raw time)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.patches import Patch

    from editor_env.io import atomic_path
    from editor_env.plots import pointer_scatter, waveform_envelope

    info = pair.info
    fig = Figure(figsize=(13, 8), layout="constrained")
    FigureCanvasAgg(fig)
    ax_raw, ax_edit, ax_ptr = fig.subplots(3, 1, height_ratios=(1, 1, 1.5))
    waveform_envelope(ax_raw, pair.raw.samples, pair.raw.sample_rate, "0.35")
    for span in pair.labels.junk:
        colour = JUNK_COLOURS.get(span.kind, "tab:red")
        ax_raw.axvspan(span.start_s, span.end_s, color=colour, alpha=0.35, linewidth=0)
        ax_ptr.axhspan(span.start_s, span.end_s, color=colour, alpha=0.15, linewidth=0)
    handles = [Patch(color=JUNK_COLOURS[k], alpha=0.5, label=k.replace("_", " ")) for k in pair.labels.kinds]
    if handles:
        ax_raw.legend(handles=handles, loc="upper right", fontsize=7, ncol=min(len(handles), 6))
    ax_raw.set_title(
        f"{title or 'jam'} - raw: {info['raw_duration_s']:.1f} s at {info['sample_rate']} Hz, "
        f"{100 * info['junk_fraction']:.0f}% junk (coloured by kind); track {info['track']}",
        fontsize=9,
    )
    waveform_envelope(ax_edit, pair.edit.samples, pair.edit.sample_rate, "tab:blue")
    ax_edit.set_title(f"edit: {info['edit_duration_s']:.1f} s ({100 * info['ratio']:.0f}% of the raw)", fontsize=9)
    pointer_scatter(ax_ptr, pair.pointers, pair.ops, DEFAULT_PARAMS.frame_seconds, info["raw_duration_s"])
    for ax in (ax_raw, ax_edit, ax_ptr):
        ax.tick_params(labelsize=7)
    ax_edit.set_xlabel("time (s)", fontsize=8)
    path = Path(path)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=90)
    return path


def file_sha256(path: str | os.PathLike) -> str:
    """Hex SHA-256 of a file's bytes."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def read_info(data_dir: str | os.PathLike, sample: str) -> dict[str, Any]:
    """The ``_info.json`` of a sample (empty when missing)."""
    path = Path(data_dir) / "pointer_sequences" / f"{sample}_info.json"
    return json.loads(path.read_text()) if path.is_file() else {}

"""Render an edit list (EDL) into audio from the raw recording's own samples.

Rendering works at the raw recording's sample rate and channel count, so an edit loses no
quality: every output sample is a raw sample, possibly weighted by a crossfade, a fade or a
gain, or passed through an effect.

How a render is built
---------------------
1. Segments that continue each other seamlessly (:func:`editor_env.edl.segments_continuous`)
   are merged into *runs*; every boundary between two runs is a seam
   (:meth:`EditList.seams`).
2. Each run is read from the raw with some context on each side that borders a seam (half a
   crossfade plus the zero-crossing search window), reversed if asked, time-stretched with
   ``pedalboard.time_stretch`` and trimmed or padded to exactly its output length plus
   context, then passed through the pedalboard effects that are not neutral, then gain and
   equal-power fades (numpy). Context that would lie outside the recording is silence.
3. At every seam an equal-power crossfade is centred on the cut: the outgoing run fades out with
   ``cos``, the incoming run fades in with ``sin``. Its length is ``edl.crossfade_s``, or, when the
   EDL asks for it in beats (``crossfade_beats``) and knows the beat (:meth:`EditList.beat_period_s`),
   that fraction of a beat within [:data:`MIN_CROSSFADE_S`, :data:`MAX_CROSSFADE_S`]
   (:func:`seam_crossfade_s`): a seam in slow music gets a longer, smoother crossfade than one in fast
   music, where a long one would smear the next beat's attack. The cut point is snapped to the sample
   within ``ZERO_CROSSING_SEARCH_S`` of the seam where both signals are closest to zero. Only the
   crossfade centre moves: no segment's length or raw position changes, so the output length is
   ``edl.output_length()`` and the pointer sequence (:meth:`EditList.to_pointers`) stays exact up to
   that couple of milliseconds.
4. With ``edl.loudness_match`` (what ``musicedit edit`` writes), the momentary loudness either side of
   every seam is matched (:func:`loudness_match` documents the rule): when the material after a seam is
   louder or quieter than the material before by more than the raw's own change at the seam's two ends
   (plus :data:`MATCH_TOLERANCE_DB`), a gain of at most :data:`MAX_MATCH_DB` in all meets the two sides
   halfway. The gain is held over the crossfade and the :data:`MOMENTARY_S` either side of it (the ear
   judges loudness over about that long) and eases back to unity over :data:`MATCH_RELEASE_S`, so the
   output is the raw's own samples again a couple of seconds from each seam, and untouched everywhere
   when no seam needs it.

Effect order within a run: reverse, time stretch, pitch shift, low shelf, high shelf,
distortion, reverb (pedalboard), then gain, then fades, then the seam matching gain.
Gain comes after distortion so that ``gain_db`` is a level change, not a change of drive.

:func:`render` can report every seam (``seam_info``): where it is, its crossfade, the loudness step
before and after matching and the gain applied; ``musicedit edit`` stores that list in the EDL's
``meta["seams"]`` and the report (``--report``) shows it.
"""

from __future__ import annotations

import dataclasses
import math
import warnings

import numpy as np

from editor_env.audio import Audio
from editor_env.edl import EditList, Effects, segments_continuous
from editor_env.errors import MusicEditError

ZERO_CROSSING_SEARCH_S = 0.002
"""Half-width in seconds of the window around each seam searched for a zero-crossing cut."""
LOW_SHELF_HZ = 250.0
"""Cutoff of the ``eq_low_db`` low-shelf filter, Hz."""
HIGH_SHELF_HZ = 4000.0
"""Cutoff of the ``eq_high_db`` high-shelf filter, Hz."""
CROSSFADE_BEATS = 0.125
"""The crossfade ``musicedit edit`` asks for, as a fraction of a beat (a 32nd note in 4/4: 62 ms at 120 BPM)."""
MIN_CROSSFADE_S = 0.01
"""Shortest tempo-following crossfade, seconds (shorter ones click on low notes)."""
MAX_CROSSFADE_S = 0.12
"""Longest tempo-following crossfade, seconds (longer ones are heard as two sounds at once)."""
MOMENTARY_S = 0.4
"""Window of the momentary loudness (EBU R128 / ITU-R BS.1770), seconds."""
MIN_LOUDNESS_WINDOW_S = 0.1
"""A seam side with less material than this (a very short run) is not measured, seconds."""
MATCH_TOLERANCE_DB = 1.0
"""Loudness steps within this many dB of the raw's own change are left alone (the reward's
``seam_loudness_tolerance_db``; equal-level material fluctuates by a fraction of a dB between windows)."""
MAX_MATCH_DB = 6.0
"""Largest total matching gain at one seam, dB (half on each side)."""
MATCH_RELEASE_S = 2.0
"""Time over which a matching gain eases back to unity after its hold, seconds (at most 3 dB/s for a 6 dB
correction: a swell, not a step)."""
SILENT_LUFS = -60.0
"""Material quieter than this (LUFS) counts as silence: no matching against it."""


@dataclasses.dataclass
class _Run:
    """Consecutive segments rendered as one piece (no seam between them)."""

    raw_start: int
    raw_end: int
    effects: Effects
    out_start: int
    out_length: int


def _runs(edl: EditList) -> list[_Run]:
    runs: list[_Run] = []
    starts = edl.output_starts()
    for k, seg in enumerate(edl.segments):
        length = seg.output_length()
        if k > 0 and segments_continuous(edl.segments[k - 1], seg):
            run = runs[-1]
            run.raw_start = min(run.raw_start, seg.raw_start)
            run.raw_end = max(run.raw_end, seg.raw_end)
            run.out_length += length
        else:
            runs.append(_Run(seg.raw_start, seg.raw_end, seg.effects, int(starts[k]), length))
    return [run for run in runs if run.out_length > 0]


def _read(samples: np.ndarray, lo: int, hi: int) -> np.ndarray:
    """``samples[:, lo:hi]`` with silence where ``[lo, hi)`` lies outside the recording."""
    n = samples.shape[1]
    if lo >= 0 and hi <= n:
        return samples[:, lo:hi]
    out = np.zeros((samples.shape[0], hi - lo), dtype=np.float32)
    a, b = max(lo, 0), min(hi, n)
    if b > a:
        out[:, a - lo : b - lo] = samples[:, a:b]
    return out


def _pedalboard_chain(fx: Effects) -> list:
    """The pedalboard plugins for the non-neutral effects of ``fx`` (empty if none)."""
    plugins = []
    if fx.pitch_semitones == 0 and fx.eq_low_db == 0 and fx.eq_high_db == 0:
        if fx.distortion_db == 0 and fx.reverb_mix == 0:
            return plugins
    import pedalboard

    if fx.pitch_semitones != 0:
        plugins.append(pedalboard.PitchShift(semitones=float(fx.pitch_semitones)))
    if fx.eq_low_db != 0:
        plugins.append(pedalboard.LowShelfFilter(cutoff_frequency_hz=LOW_SHELF_HZ, gain_db=fx.eq_low_db))
    if fx.eq_high_db != 0:
        plugins.append(pedalboard.HighShelfFilter(cutoff_frequency_hz=HIGH_SHELF_HZ, gain_db=fx.eq_high_db))
    if fx.distortion_db != 0:
        plugins.append(pedalboard.Distortion(drive_db=float(fx.distortion_db)))
    if fx.reverb_mix != 0:
        plugins.append(pedalboard.Reverb(wet_level=float(fx.reverb_mix), dry_level=1.0 - fx.reverb_mix))
    return plugins


def equal_power_fade(n: int, *, fade_in: bool) -> np.ndarray:
    """Equal-power fade curve of ``n`` samples, ``(n,)`` float32.

    ``sin(pi/2 x)`` rising (fade in) or ``cos(pi/2 x)`` falling (fade out), sampled at sample
    centres ``x = (i + 0.5) / n``, so a fade-out and a fade-in of the same length sum to unit
    power at every sample.
    """
    x = (np.arange(n, dtype=np.float64) + 0.5) / max(n, 1)
    curve = np.sin(0.5 * np.pi * x) if fade_in else np.cos(0.5 * np.pi * x)
    return curve.astype(np.float32)


def _render_run(raw: Audio, run: _Run, pre: int, post: int) -> np.ndarray:
    """Audio of one run with ``pre`` / ``post`` output samples of context on each side.

    :returns: ``(channels, pre + run.out_length + post)`` float32, in output order.
    """
    fx, sr = run.effects, raw.sample_rate
    stretch = float(fx.stretch)
    pre_raw, post_raw = math.ceil(pre * stretch), math.ceil(post * stretch)
    if fx.reverse:
        # Output order runs backwards through the raw: the context before the run's output
        # start lies after its raw end.
        audio = _read(raw.samples, run.raw_start - post_raw, run.raw_end + pre_raw)[:, ::-1]
    else:
        audio = _read(raw.samples, run.raw_start - pre_raw, run.raw_end + post_raw)
    total = pre + run.out_length + post
    if stretch != 1.0:
        import pedalboard

        stretched = pedalboard.time_stretch(np.ascontiguousarray(audio), sr, stretch)
        first = max(int(round(pre_raw / stretch)) - pre, 0)
        audio = stretched[:, first : first + total]
    if audio.shape[1] != total:  # stretch rounding, or a run of pure context (never longer)
        fixed = np.zeros((audio.shape[0], total), dtype=np.float32)
        fixed[:, : min(total, audio.shape[1])] = audio[:, :total]
        audio = fixed
    plugins = _pedalboard_chain(fx)
    if plugins:
        import pedalboard

        audio = pedalboard.Pedalboard(plugins)(np.ascontiguousarray(audio), sr)
    if fx.gain_db != 0 or fx.fade_in_s > 0 or fx.fade_out_s > 0:
        audio = np.array(audio, dtype=np.float32)  # a copy: never scale the raw in place
        if fx.gain_db != 0:
            audio *= np.float32(10.0 ** (fx.gain_db / 20.0))
        n_in = min(int(round(fx.fade_in_s * sr)), run.out_length)
        if n_in > 0:
            audio[:, :pre] = 0.0
            audio[:, pre : pre + n_in] *= equal_power_fade(n_in, fade_in=True)
        n_out = min(int(round(fx.fade_out_s * sr)), run.out_length)
        if n_out > 0:
            end = pre + run.out_length
            audio[:, end - n_out : end] *= equal_power_fade(n_out, fade_in=False)
            audio[:, end:] = 0.0
    return audio


def _snap_cut(outgoing: np.ndarray, incoming: np.ndarray) -> int:
    """Best cut in a window of candidates: where ``|outgoing[i]| + |incoming[i]|`` (the last
    outgoing and the first incoming sample of cut ``i``) is smallest, nearest the centre on
    ties: the cut that lands both signals closest to a zero crossing."""
    cost = np.abs(outgoing).sum(axis=0) + np.abs(incoming).sum(axis=0)
    centre = (cost.size - 1) / 2
    cost = cost + 1e-9 * np.abs(np.arange(cost.size) - centre)
    return int(np.argmin(cost))


def seam_crossfade_s(edl: EditList) -> float:
    """The crossfade of every seam of ``edl``, seconds: ``crossfade_beats`` of a beat within
    [:data:`MIN_CROSSFADE_S`, :data:`MAX_CROSSFADE_S`] when the EDL asks for one in beats and knows the beat
    (:meth:`EditList.beat_period_s`), else ``edl.crossfade_s``."""
    beat = edl.beat_period_s() if edl.crossfade_beats is not None else None
    if beat is None:
        return float(edl.crossfade_s)
    return float(np.clip(edl.crossfade_beats * beat, MIN_CROSSFADE_S, MAX_CROSSFADE_S))


def momentary_loudness(samples: np.ndarray, sample_rate: int) -> float:
    """Loudness of ``samples`` ``(channels, n)`` or ``(n,)`` as one ITU-R BS.1770 block, LUFS (``-inf`` for
    silence): K-weighting and channel weights from ``pyloudnorm``. Over :data:`MOMENTARY_S` seconds it is
    the EBU R128 momentary loudness; shorter windows give the same measure over less material. More than
    five channels are mixed down to one (BS.1770 weighs at most five)."""
    import pyloudnorm

    x = np.asarray(samples, dtype=np.float64)
    x = x[None] if x.ndim == 1 else x
    if x.shape[0] > 5:
        x = x.mean(axis=0, keepdims=True)
    n = x.shape[1]
    if n < 2:
        return float("-inf")
    # One block spanning the window: pyloudnorm gates per block, and one block is the momentary value. The
    # half sample keeps its length check (n >= block * rate) true despite float rounding.
    meter = pyloudnorm.Meter(sample_rate, block_size=(n - 0.5) / sample_rate)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return float(meter.integrated_loudness(np.ascontiguousarray(x.T)))


def loudness_step_db(audio: np.ndarray, sample_rate: int, at: int, *, gap: int = 0, window: int | None = None) -> float:
    """Momentary loudness of ``audio[:, at + gap : at + gap + window]`` minus that of
    ``audio[:, at - gap - window : at - gap]``, dB: the loudness step a listener hears across sample ``at``
    (``gap``: samples left out either side, e.g. half a crossfade; ``window``: default :data:`MOMENTARY_S`,
    shortened at the edges of ``audio``). NaN where either side is silent or shorter than
    :data:`MIN_LOUDNESS_WINDOW_S`."""
    audio = audio[None] if audio.ndim == 1 else audio
    n = audio.shape[1]
    w = int(round(MOMENTARY_S * sample_rate)) if window is None else int(window)
    before = audio[:, max(at - gap - w, 0) : max(at - gap, 0)]
    after = audio[:, min(at + gap, n) : min(at + gap + w, n)]
    if min(before.shape[1], after.shape[1]) < MIN_LOUDNESS_WINDOW_S * sample_rate:
        return float("nan")
    lo, hi = momentary_loudness(before, sample_rate), momentary_loudness(after, sample_rate)
    if min(lo, hi) < SILENT_LUFS:
        return float("nan")
    return hi - lo


def _ramp_db(n: int, origin: int, hold_from: int, hold_to: int, release: int, gain_db: float, *, rising: bool):
    """``(n,)`` dB envelope of one seam side on a buffer whose sample 0 is output sample ``origin``:
    ``gain_db`` over ``[hold_from, hold_to)`` (output samples), easing linearly to 0 over ``release`` samples
    before it (``rising``: the outgoing side) or after it (the incoming side)."""
    t = origin + np.arange(n, dtype=np.float64)
    env = np.zeros(n)
    if rising:
        env[t >= hold_from] = gain_db  # through the hold and the crossfade's tail
        mask = (t >= hold_from - release) & (t < hold_from)
        env[mask] = gain_db * (t[mask] - (hold_from - release)) / max(release, 1)
    else:
        env[t < hold_to] = gain_db  # the crossfade's start and the hold
        mask = (t >= hold_to) & (t < hold_to + release)
        env[mask] = gain_db * (1.0 - (t[mask] - hold_to) / max(release, 1))
    return env


def _raw_change_db(raw: Audio, position: int, w: int, *, forward: bool) -> float | None:
    """How much the raw's own loudness changes at sample ``position``: the :data:`MOMENTARY_S` after it minus
    the one before it (``forward``; reversed material plays the raw backwards, so the other way round), with
    silence counted as :data:`SILENT_LUFS`. None where a window would leave the recording."""
    if position - w < 0 or position + w > raw.n_samples:
        return None
    sr = raw.sample_rate
    before = max(momentary_loudness(raw.samples[:, position - w : position], sr), SILENT_LUFS)
    after = max(momentary_loudness(raw.samples[:, position : position + w], sr), SILENT_LUFS)
    return (after - before) if forward else (before - after)


def loudness_match(step_db: float, raw_changes: list[float]) -> float:
    """The total matching gain of one seam, dB (added to the step: half raises the quieter side, half lowers
    the louder one).

    The raw's own changes at the seam's two ends (:data:`MOMENTARY_S` after minus before where the output
    leaves the raw, and where it re-enters it) span an interval ``[lo, hi]`` that always holds 0: a step inside
    it is one the raw makes there anyway (a cut into a chorus the raw also gets louder into). A step more than
    :data:`MATCH_TOLERANCE_DB` outside it is brought back to the interval's nearer end, by at most
    :data:`MAX_MATCH_DB`; otherwise the gain is 0.

    :param step_db: the loudness step across the seam (after minus before, beyond the segments' own
        ``gain_db`` difference), dB.
    :param raw_changes: the raw's own changes at the seam's ends, dB (those that could be measured).
    """
    lo, hi = min([0.0, *raw_changes]), max([0.0, *raw_changes])
    excess = step_db - float(np.clip(step_db, lo, hi))
    if abs(excess) <= MATCH_TOLERANCE_DB:
        return 0.0
    return float(np.clip(-excess, -MAX_MATCH_DB, MAX_MATCH_DB))


def _match_seams(edl, raw, runs, buffers, cuts, halves, records) -> list:
    """Loudness-match every seam in output order (module docstring, step 4); returns the run buffers with
    their matching gain applied (copies; the raw is never scaled in place) and fills ``records``.

    A run between two seams lends each half of the time between their held windows to ease back (so each
    seam's windows hold exactly its own gain); at the edit's start or end a run shorter than the release ends
    still partly matched."""
    sr = raw.sample_rate
    w_full = int(round(MOMENTARY_S * sr))
    release = int(round(MATCH_RELEASE_S * sr))
    envelopes = [np.zeros(buf.shape[1]) for _, buf in buffers]
    origins = [run.out_start - pre for run, (pre, _) in zip(runs, buffers)]

    def loudness(j: int, lo: int, hi: int, with_gain: bool) -> float:
        part = buffers[j][1][:, lo - origins[j] : hi - origins[j]]
        if with_gain:
            part = part * np.power(10.0, envelopes[j][lo - origins[j] : hi - origins[j]] / 20.0)
        return momentary_loudness(part, sr)

    # The windows either side of every seam, then how long each side's gain may take to ease back: at most
    # MATCH_RELEASE_S, and within a run its two seams share the gap between their windows, so one seam's
    # release never reaches into the other's measured (and held) window.
    w_outs = [min(w_full, cut - h - left.out_start) for cut, h, left in zip(cuts, halves, runs[:-1])]
    w_ins = [
        min(w_full, right.out_start + right.out_length - (cut + h)) for cut, h, right in zip(cuts, halves, runs[1:])
    ]
    rel_out, rel_in = [release] * len(cuts), [release] * len(cuts)
    for j in range(1, len(cuts)):  # run j lies between seam j - 1 and seam j
        gap = (cuts[j] - halves[j] - w_outs[j]) - (cuts[j - 1] + halves[j - 1] + w_ins[j - 1])
        rel_in[j - 1] = rel_out[j] = min(release, max(gap, 0) // 2)

    for j, (left, right) in enumerate(zip(runs[:-1], runs[1:])):
        cut, h = cuts[j], halves[j]
        record = records[j]
        w_out, w_in = w_outs[j], w_ins[j]
        record.update(window_s=round(min(w_out, w_in) / sr, 4))
        if min(w_out, w_in) < MIN_LOUDNESS_WINDOW_S * sr:
            record["skipped"] = "a side shorter than the loudness window"
            continue
        intentional = right.effects.gain_db - left.effects.gain_db
        plain_out = loudness(j, cut - h - w_out, cut - h, False)
        plain_in = loudness(j + 1, cut + h, cut + h + w_in, False)
        if min(plain_out, plain_in) >= SILENT_LUFS:
            record["step_before_db"] = round(plain_in - plain_out - intentional, 3)
        if not edl.loudness_match:
            continue
        if left.effects.fade_out_s > 0 or right.effects.fade_in_s > 0:
            record["skipped"] = "a fade at the seam"
            continue
        l_out = loudness(j, cut - h - w_out, cut - h, True)
        l_in = loudness(j + 1, cut + h, cut + h + w_in, True)
        if min(l_out, l_in) < SILENT_LUFS:
            record["skipped"] = "silence on one side"
            continue
        step = l_in - l_out - intentional
        leave = left.raw_start if left.effects.reverse else left.raw_end
        enter = right.raw_end if right.effects.reverse else right.raw_start
        changes = [
            _raw_change_db(raw, leave, w_full, forward=not left.effects.reverse),
            _raw_change_db(raw, enter, w_full, forward=not right.effects.reverse),
        ]
        record["raw_change_db"] = [None if c is None else round(c, 3) for c in changes]
        gain = loudness_match(step, [c for c in changes if c is not None])
        record["gain_db"] = round(gain, 3)
        if gain == 0.0:
            continue
        # Half the gain on each side, held over the crossfade and the measured windows, then released.
        envelopes[j] += _ramp_db(
            envelopes[j].size, origins[j], cut - h - w_out, cut + h, rel_out[j], -gain / 2, rising=True
        )
        envelopes[j + 1] += _ramp_db(
            envelopes[j + 1].size, origins[j + 1], cut - h, cut + h + w_in, rel_in[j], gain / 2, rising=False
        )
        record["release_s"] = round(min(rel_out[j], rel_in[j]) / sr, 3)
    matched = []
    for (pre, buf), env in zip(buffers, envelopes):
        if np.any(env != 0):
            gain = np.power(10.0, np.clip(env, -MAX_MATCH_DB, MAX_MATCH_DB) / 20.0).astype(np.float32)
            buf = buf * gain
        matched.append((pre, buf))
    return matched


def render(edl: EditList, raw: Audio, *, seam_info: list | None = None) -> np.ndarray:
    """Render an edit list from the raw recording.

    Parameters
    ----------
    edl : EditList
        The edit, made for ``raw`` (same sample rate and length in samples).
    raw : Audio
        The raw recording, ``samples`` of shape ``(channels, n_samples)`` float32.
    seam_info : list, optional
        When given, one dict per seam is appended: ``index`` (1-based), ``output_s`` (the cut, seconds into
        the output), ``crossfade_s``, ``window_s`` (the loudness windows either side), ``step_before_db`` and
        ``step_after_db`` (the momentary loudness step across the seam, beyond the segments' own ``gain_db``
        difference, before and after matching; absent where a side is silent or too short), and with
        ``edl.loudness_match`` ``raw_change_db`` (the raw's own change at the seam's two ends), ``gain_db``
        (the total matching gain) or ``skipped`` (why the seam was not matched).

    Returns
    -------
    np.ndarray [shape=(channels, edl.output_length()), dtype=float32]
        The edited audio at ``raw.sample_rate``. An edit that keeps everything
        (:meth:`EditList.keep_all`) returns the raw samples unchanged, bit for bit.

    Raises
    ------
    MusicEditError
        The EDL was made for a recording of another sample rate or length.
    """
    if edl.sample_rate != raw.sample_rate or edl.raw_length != raw.n_samples:
        raise MusicEditError(
            f"The EDL was made for {edl.raw_length} samples at {edl.sample_rate} Hz but the raw "
            f"recording{f' {raw.path}' if raw.path else ''} has {raw.n_samples} samples at "
            f"{raw.sample_rate} Hz: render it against the recording it was made for."
        )
    sr = raw.sample_rate
    samples = raw.samples
    if samples.dtype != np.float32:
        samples = samples.astype(np.float32)
        raw = Audio(samples, sr, raw.path)
    out = np.zeros((raw.n_channels, edl.output_length()), dtype=np.float32)
    runs = _runs(edl)
    if not runs:
        return out

    # Per seam (between run j and j + 1): half crossfade and snap window, both limited so that
    # neighbouring crossfades of a short run never overlap.
    half_fade = int(round(seam_crossfade_s(edl) * sr / 2))
    search = int(round(ZERO_CROSSING_SEARCH_S * sr))
    halves, windows = [], []
    for left, right in zip(runs[:-1], runs[1:]):
        limit = min(left.out_length, right.out_length) // 2
        h = min(half_fade, limit)
        halves.append(h)
        windows.append(min(search, limit - h))
    buffers = []
    for j, run in enumerate(runs):
        pre = halves[j - 1] + windows[j - 1] if j > 0 else 0
        post = halves[j] + windows[j] if j < len(runs) - 1 else 0
        buffers.append((pre, _render_run(raw, run, pre, post)))

    # Cut point of every seam (output sample), snapped towards a zero crossing.
    cuts = []
    for j, (left, right) in enumerate(zip(runs[:-1], runs[1:])):
        seam, w = right.out_start, windows[j]
        left_pre, left_buf = buffers[j]
        right_pre, right_buf = buffers[j + 1]
        # candidate cuts c in [seam - w, seam + w]: the last outgoing sample is c - 1
        lo = seam - w - 1 - (left.out_start - left_pre)
        outgoing = left_buf[:, lo : lo + 2 * w + 1]
        incoming = right_buf[:, right_pre - w : right_pre + w + 1]
        cuts.append(seam - w + _snap_cut(outgoing, incoming))

    records = [
        {"index": j + 1, "output_s": round(cut / sr, 6), "crossfade_s": round(2 * h / sr, 6)}
        for j, (cut, h) in enumerate(zip(cuts, halves))
    ]
    if edl.loudness_match or seam_info is not None:
        buffers = _match_seams(edl, raw, runs, buffers, cuts, halves, records)

    for j, run in enumerate(runs):
        pre, buf = buffers[j]
        origin = run.out_start - pre  # output sample of buf[:, 0]
        lo, hi = origin, origin + buf.shape[1]
        if j > 0:
            lo = cuts[j - 1] - halves[j - 1]
        if j < len(runs) - 1:
            hi = cuts[j] + halves[j]
        piece = buf[:, lo - origin : hi - origin]
        if j == 0 and j == len(runs) - 1:
            out[:, lo:hi] = piece  # nothing to crossfade: the samples themselves
            continue
        piece = piece.copy()
        if j > 0 and halves[j - 1] > 0:
            piece[:, : 2 * halves[j - 1]] *= equal_power_fade(2 * halves[j - 1], fade_in=True)
        if j < len(runs) - 1 and halves[j] > 0:
            piece[:, -2 * halves[j] :] *= equal_power_fade(2 * halves[j], fade_in=False)
        out[:, lo:hi] += piece

    if seam_info is not None:
        for j, (record, cut, h) in enumerate(zip(records, cuts, halves)):
            if "window_s" in record:
                step = loudness_step_db(out, sr, cut, gap=h, window=int(round(record["window_s"] * sr)))
                if not math.isnan(step):
                    intentional = runs[j + 1].effects.gain_db - runs[j].effects.gain_db
                    record["step_after_db"] = round(step - intentional, 3)
        seam_info.extend(records)
    return out


def render_audio(edl: EditList, raw: Audio) -> Audio:
    """:func:`render` wrapped as an :class:`Audio` at the raw recording's sample rate."""
    return Audio(render(edl, raw), raw.sample_rate)

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
3. At every seam an equal-power crossfade of ``edl.crossfade_s`` is centred on the cut: the
   outgoing run fades out with ``cos``, the incoming run fades in with ``sin``. The cut point
   is snapped to the sample within ``ZERO_CROSSING_SEARCH_S`` of the seam where both signals are
   closest to zero. Only the crossfade centre moves: no segment's length or raw position
   changes, so the output length is ``edl.output_length()`` and the pointer sequence
   (:meth:`EditList.to_pointers`) stays exact up to that couple of milliseconds.

Effect order within a run: reverse, time stretch, pitch shift, low shelf, high shelf,
distortion, reverb (pedalboard), then gain, then fades. Gain comes after distortion so that
``gain_db`` is a level change, not a change of drive.

Not done here: loudness matching at seams. A renderer that rescales segments would no longer
reproduce the raw samples; seam loudness is scored by the reward and avoided by the editors.
"""

from __future__ import annotations

import dataclasses
import math

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


def render(edl: EditList, raw: Audio) -> np.ndarray:
    """Render an edit list from the raw recording.

    Parameters
    ----------
    edl : EditList
        The edit, made for ``raw`` (same sample rate and length in samples).
    raw : Audio
        The raw recording, ``samples`` of shape ``(channels, n_samples)`` float32.

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
    half_fade = int(round(edl.crossfade_s * sr / 2))
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
    return out


def render_audio(edl: EditList, raw: Audio) -> Audio:
    """:func:`render` wrapped as an :class:`Audio` at the raw recording's sample rate."""
    return Audio(render(edl, raw), raw.sample_rate)

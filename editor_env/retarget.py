"""The non-learned editor: music retargeting by dynamic programming over beats.

This is the baseline every learned paradigm must beat. It is built like the strongest public
retargeting systems (radiotool, Adobe Audition's Remix, the Infinite Jukebox family): beats
are the nodes of a graph, playing on is free, a jump costs how much the music after the jump
differs from the music that would naturally have followed, and a dynamic programme picks the
cheapest path of the target duration.

Cost model
----------
*Beat distance* ``D[a, b]`` (0 = identical, about 1 = a typical pair of beats of this song):
the mean of two distances, each divided by its median over all pairs of the recording so that
neither dominates — timbre, the Euclidean distance of the beats' mean MFCCs 0-19 z-scored per
coefficient over the recording (MFCC 0 is the level, so loudness jumps cost too), divided by
``sqrt(20)``; and harmony, ``1 - cos`` of the beats' mean chroma vectors.

*Context distance* ``C[a, b] = mean_m D[a + m, b + m]`` for ``m`` in
``[-lookbehind_beats, lookahead_beats)`` (offsets that fall outside the recording are left out
of the mean): two beats are alike when their neighbourhoods are alike.

*Transition* from the end of beat ``i`` to beat ``j`` (a jump; ``j = i + 1`` is simply playing
on and costs nothing): ``C[i + 1, j] + jump_penalty`` — does beat ``j`` and what follows it
sound like beat ``i + 1`` (what naturally follows ``i``) and what follows that, and does beat
``i`` sound like ``j - 1`` (what naturally precedes ``j``). Jumps must keep the bar position,
``bar_position[j] == bar_position[i + 1]``, and only the ``top_k`` cheapest such targets of each
source beat are candidates. Backward jumps (which repeat material) are only allowed when the
target is longer than the raw (``allow_backward=None``) and then cost ``backward_penalty`` more.

*Keep cost* of a beat (our choice, documented here): material that recurs elsewhere in the
song is the song; material that occurs once is usually noodling, a false start or a tuning
break. For each beat ``a`` we take the mean of the ``keep_neighbours`` smallest context
distances ``C[a, b]`` over beats ``b`` at least ``repeat_min_beats`` (two bars) away (so a beat
is not "repeated" by its own neighbours), capped at 1.5, and subtract the median of that score over the kept beats:
``keep_weight * (score - median)``. A beat repeated exactly elsewhere costs about
``-median * keep_weight``; one whose nearest repeat is as far as a typical pair of beats costs
about ``keep_weight`` more than that. Centring on the median means the total cost hardly favours
shorter or longer outputs within the slack; a wholly repetitive song gets flat keep costs (its
seams decide), a song with noodling gets high costs on the noodling. (A rank-based cost was
tried first: it spreads noise between exact repeats over the whole range.)

*Content cost* (when the content model's verdict is given, :mod:`editor_env.content`): a beat the model calls
junk with probability ``q`` costs ``content_weight * log(q / (1 - q))`` more to keep (clipped to +-4), one it
calls song as much less. With it the editor knows what a musician keeps: count-ins, talk, tuning, false starts
and bad takes, not only material that recurs. Without a target (:attr:`EditConstraints.length_mode`
``"content"``) the target is the duration of the beats the model keeps.

*Dropped beats* cannot be kept at all: silent ones (``silence_fraction`` above
``max_silence_fraction``), very quiet ones (mean level below ``min_level_dbfs``, or more than
``quiet_db`` under the recording's loud level, its 95th percentile), and noise (mean spectral
flatness above ``max_flatness``; music stays well below 0.1, white noise is about 0.5).

*Ends*: the output starts on a downbeat and ends at the end of a bar (or at the end of the
recording), so it holds whole bars. Starting late costs ``start_weight * start / duration``,
ending early ``end_weight * (1 - end / duration)``: intros and real endings are preferred. The
first segment gets a de-click fade-in of ``fade_in_s``, the last a fade-out of ``fade_out_s``.

On 12 synthetic jams (:func:`editor_env.synth.generate_pair`) about 84% of the kept audio lies
in the reference edit (80% without the keep cost). What it cannot know: which of two identical
takes a person would drop (over-long repeats are kept), and unique but wanted sections (intros,
breakdowns) look like noodling to the keep cost.

Dynamic programme
-----------------
State ``(b, c)``: the output so far ends with beat ``b``, and the current segment holds ``c``
beats, counted up to ``min_segment_beats`` (a jump is allowed only from a full count, and the
output must end on one, so every segment is at least ``min_segment_beats`` long). Layer ``t``
holds the cheapest path of ``t + 1`` output beats into every state, with its duration. A step
is vectorised over all states: play on ``(b, c) -> (b + 1, c + 1)``, or jump
``(i, full) -> (j, 1)`` through padded per-target lists of incoming candidates. States longer
than ``target + slack`` are pruned. Among finished states whose duration lies within
``target +- slack_s`` the one with the lowest cost plus ``length_weight * |duration - target| /
slack_s`` wins; a tie goes to the shorter, then the earlier beat (deterministic). Time is
``O(n_output_beats * n_beats * (min_segment_beats + top_k))``; the ``n_beats x n_beats``
distance matrices dominate memory (float32, about 6 MB each for a 10-minute recording).
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import numpy as np

from editor_env.edl import EditList, segments_from_beat_path
from editor_env.errors import MusicEditError
from editor_env.features import Analysis, feature_slice
from editor_env.params import DEFAULT_PARAMS


@dataclasses.dataclass(frozen=True)
class RetargetConfig:
    """Settings of :func:`retarget`. Costs are in units of a typical beat-to-beat distance."""

    target_ratio: float = 0.67
    """Output duration as a fraction of the raw duration."""
    slack_s: float = 2.0
    """The output duration may miss ``target_ratio * raw duration`` by this many seconds."""
    min_segment_beats: int | None = None
    """Shortest segment (and loop) in beats; None = one bar."""
    beats_per_bar: int | None = None
    """Meter of the beat grid's ``bar_position``; None = ``DEFAULT_PARAMS.beats_per_bar`` (4)."""
    lookahead_beats: int = 4
    """Beats after the seam compared by the transition cost (at least 1)."""
    lookbehind_beats: int = 1
    """Beats before the seam compared by the transition cost."""
    top_k: int = 12
    """Jump candidates kept per source beat (the cheapest bar-aligned targets)."""
    jump_penalty: float = 0.5
    """Fixed cost of every jump on top of its context distance."""
    allow_backward: bool | None = None
    """Allow jumps back (repeats, loops); None = only when ``target_ratio > 1``."""
    backward_penalty: float = 1.0
    """Extra cost of a backward jump."""
    timbre_weight: float = 1.0
    """Weight of the MFCC distance in the beat distance."""
    chroma_weight: float = 1.0
    """Weight of the chroma distance in the beat distance."""
    keep_weight: float = 1.0
    """Cost of keeping a beat whose nearest repeat is a typical beat distance away (vs. exact repeats)."""
    content_weight: float = 1.0
    """Weight of the content model's verdict in the keep cost: a beat it calls junk with probability ``q``
    costs ``content_weight * log(q / (1 - q))`` more (clipped to +-``CONTENT_LOGIT_CAP``), one it calls song as
    much less; 0 (or no content prediction) leaves the audio-only cost model."""
    keep_neighbours: int = 2
    """Nearest neighbours (``repeat_min_beats`` away or more) averaged by the keep cost."""
    repeat_min_beats: int | None = None
    """How far (in beats) a beat's neighbour must be to count as a repeat; None = two bars."""
    start_weight: float = 1.0
    """Cost of starting at the very end of the raw (linear in the start time)."""
    end_weight: float = 1.0
    """Cost of ending at the very start of the raw (linear in the time left after the end)."""
    length_weight: float = 1.0
    """Cost of missing the target duration by the full slack."""
    max_silence_fraction: float = 0.5
    """Beats with more than this fraction of frames under -60 dBFS are dropped."""
    min_level_dbfs: float = -55.0
    """Beats whose mean level is below this are dropped."""
    quiet_db: float = 35.0
    """Beats this many dB under the recording's loud level (95th percentile) are dropped."""
    max_flatness: float = 0.3
    """Beats whose mean spectral flatness is above this (noise) are dropped."""
    fade_in_s: float = 0.01
    """Fade-in at the start of the output (a de-click), seconds; 0 = none."""
    fade_out_s: float = 1.0
    """Fade-out at the end of the output, seconds; 0 = none. At most half the last segment."""
    crossfade_s: float = 0.05
    """Equal-power crossfade at every seam, seconds (short: beat estimates can be off a frame)."""
    alternative_penalty: float = 1.0
    """Extra cost, per earlier alternative, of each jump, start and end beat an earlier alternative
    used (:func:`retarget_alternatives`: the next best edit that differs)."""

    def __post_init__(self) -> None:
        checks = {
            "target_ratio": self.target_ratio > 0,
            "slack_s": self.slack_s > 0,
            "min_segment_beats": self.min_segment_beats is None or self.min_segment_beats >= 1,
            "beats_per_bar": self.beats_per_bar is None or self.beats_per_bar >= 1,
            "lookahead_beats": self.lookahead_beats >= 1,
            "lookbehind_beats": self.lookbehind_beats >= 0,
            "top_k": self.top_k >= 1,
            "keep_neighbours": self.keep_neighbours >= 1,
            "repeat_min_beats": self.repeat_min_beats is None or self.repeat_min_beats >= 1,
            "timbre_weight": self.timbre_weight >= 0 and self.timbre_weight + self.chroma_weight > 0,
            "chroma_weight": self.chroma_weight >= 0,
            "max_silence_fraction": 0 <= self.max_silence_fraction <= 1,
            "fade_in_s": self.fade_in_s >= 0,
            "fade_out_s": self.fade_out_s >= 0,
            "crossfade_s": self.crossfade_s >= 0,
        }
        for name in (
            "jump_penalty",
            "backward_penalty",
            "keep_weight",
            "content_weight",
            "start_weight",
            "end_weight",
            "length_weight",
            "alternative_penalty",
        ):
            checks[name] = getattr(self, name) >= 0 and math.isfinite(getattr(self, name))
        for name, ok in checks.items():
            if not ok:
                raise MusicEditError(
                    f"RetargetConfig.{name}={getattr(self, name)!r} makes no sense; "
                    f"the default is {getattr(RetargetConfig, name)!r}."
                )

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclasses.dataclass
class BeatCosts:
    """The cost model of one recording (exposed for inspection, tests and plots).

    :param dropped: ``(n_beats,)`` bool, beats that can never be kept.
    :param keep: ``(n_beats,)`` keep cost (``inf`` where dropped).
    :param distance: ``(n_beats, n_beats)`` float32 beat distance ``D``.
    :param context: ``(n_beats, n_beats)`` float32 context distance ``C``.
    :param jump_src, jump_dst, jump_cost: every candidate jump (end of ``src`` -> ``dst``).
    """

    dropped: np.ndarray
    keep: np.ndarray
    distance: np.ndarray
    context: np.ndarray
    jump_src: np.ndarray
    jump_dst: np.ndarray
    jump_cost: np.ndarray


def _robust_median(matrix: np.ndarray, rows: np.ndarray) -> float:
    """Median of the off-diagonal entries among ``rows`` (subsampled beyond 1,500 rows)."""
    idx = np.flatnonzero(rows)
    if idx.size > 1500:
        idx = idx[:: int(math.ceil(idx.size / 1500))]
    sub = matrix[np.ix_(idx, idx)]
    values = sub[~np.eye(idx.size, dtype=bool)]
    med = float(np.median(values)) if values.size else 0.0
    return med if med > 1e-9 else 1.0


def beat_distance(features: np.ndarray, kept: np.ndarray, config: RetargetConfig) -> np.ndarray:
    """``(n, n)`` float32 beat distance ``D`` (module docstring); statistics use kept beats."""
    ref = kept if kept.any() else np.ones_like(kept)
    mfcc = features[:, feature_slice("mfcc_mean")].astype(np.float64)
    mu, sd = mfcc[ref].mean(axis=0), mfcc[ref].std(axis=0)
    z = ((mfcc - mu) / np.maximum(sd, 1e-6)).astype(np.float32)  # float32: n x n matrices stay small
    sq = (z**2).sum(axis=1)
    timbre = np.sqrt(np.maximum(sq[:, None] + sq[None, :] - 2.0 * z @ z.T, 0.0)) / math.sqrt(z.shape[1])
    chroma = features[:, feature_slice("chroma")].astype(np.float64)
    chroma = (chroma / np.maximum(np.linalg.norm(chroma, axis=1, keepdims=True), 1e-8)).astype(np.float32)
    harmony = np.clip(1.0 - chroma @ chroma.T, 0.0, 1.0)
    wt, wc = config.timbre_weight, config.chroma_weight
    dist = wt * timbre / _robust_median(timbre, ref) + wc * harmony / _robust_median(harmony, ref)
    dist /= wt + wc
    np.fill_diagonal(dist, 0.0)
    return dist.astype(np.float32)


def context_distance(dist: np.ndarray, lookbehind: int, lookahead: int) -> np.ndarray:
    """``C[a, b] = mean_m D[a + m, b + m]`` over ``m in [-lookbehind, lookahead)`` in range."""
    n = dist.shape[0]
    total = np.zeros_like(dist)
    count = np.zeros_like(dist)
    for m in range(-lookbehind, lookahead):
        if abs(m) >= n:
            continue
        if m >= 0:
            total[: n - m, : n - m] += dist[m:, m:]
            count[: n - m, : n - m] += 1.0
        else:
            total[-m:, -m:] += dist[: n + m, : n + m]
            count[-m:, -m:] += 1.0
    return total / np.maximum(count, 1.0)


def dropped_beats(features: np.ndarray, config: RetargetConfig) -> np.ndarray:
    """``(n_beats,)`` bool: silent, very quiet or noise-like beats (never kept)."""
    silence = features[:, feature_slice("silence_fraction")][:, 0]
    level_db = features[:, feature_slice("rms_db_mean")][:, 0] * 80.0
    flatness = features[:, feature_slice("spectral_flatness")][:, 0]
    loud = float(np.percentile(level_db, 95)) if level_db.size else 0.0
    return (
        (silence > config.max_silence_fraction)
        | (level_db < config.min_level_dbfs)
        | (level_db < loud - config.quiet_db)
        | (flatness > config.max_flatness)
    )


KEEP_SCORE_CAP = 1.5
"""Repeat distances are capped here (1 = a typical pair of beats) before the keep cost."""


def keep_costs(context: np.ndarray, kept: np.ndarray, bar: int, config: RetargetConfig) -> np.ndarray:
    """Keep cost per beat (module docstring): distance to the nearest repeats, minus its median."""
    n = context.shape[0]
    keep = np.full(n, np.inf)
    idx = np.flatnonzero(kept)
    if idx.size == 0:
        return keep
    sub = context[np.ix_(idx, idx)].astype(np.float64)
    far = np.abs(idx[:, None] - idx[None, :]) >= (config.repeat_min_beats or 2 * bar)
    sub[~far] = np.inf
    k = min(config.keep_neighbours, idx.size)
    nearest = np.partition(sub, k - 1, axis=1)[:, :k]
    finite = np.isfinite(nearest)
    # a beat with no repeat two bars away (a very short recording) counts as unlike anything
    score = np.where(finite, nearest, KEEP_SCORE_CAP).mean(axis=1)
    score = np.minimum(score, KEEP_SCORE_CAP)
    keep[idx] = config.keep_weight * (score - np.median(score))
    return keep


def jump_candidates(
    context: np.ndarray,
    bar_position: np.ndarray,
    kept: np.ndarray,
    allow_backward: bool,
    config: RetargetConfig,
    locked: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Candidate jumps ``(src, dst, cost)``: for every source beat ``i`` the ``top_k`` cheapest
    kept targets ``j != i + 1`` with ``bar_position[j] == bar_position[i + 1]``; a forward jump
    never skips a ``locked`` ``(n,)`` beat (so every locked beat between the start and the end is played)."""
    n = context.shape[0]
    if n < 3:
        empty = np.zeros(0, dtype=np.int64)
        return empty, empty, np.zeros(0)
    cost = context[1:, :] + np.float32(config.jump_penalty)  # row i: jumps from the end of beat i
    src = np.arange(n - 1)
    dst = np.arange(n)
    valid = (bar_position[None, :] == bar_position[1:, None]) & kept[None, :] & kept[:-1, None]
    valid &= dst[None, :] != src[:, None] + 1
    if locked is not None and locked.any():
        before = np.concatenate([[0], np.cumsum(locked)])  # locked beats before index k
        skipped = before[dst][None, :] - before[np.minimum(src + 1, n)][:, None]  # locked in i+1 .. j-1
        valid &= ~((dst[None, :] > src[:, None] + 1) & (skipped > 0))
    backward = dst[None, :] <= src[:, None]
    if allow_backward:
        cost = cost + np.where(backward, np.float32(config.backward_penalty), np.float32(0.0))
    else:
        valid &= ~backward
    cost[~valid] = np.inf
    k = min(config.top_k, n)
    top = np.argpartition(cost, k - 1, axis=1)[:, :k]
    top_cost = np.take_along_axis(cost, top, axis=1)
    ok = np.isfinite(top_cost)
    rows = np.broadcast_to(src[:, None], top.shape)
    return rows[ok].astype(np.int64), top[ok].astype(np.int64), top_cost[ok].astype(np.float64)


CONTENT_LOGIT_CAP = 4.0
"""The content model's log-odds are clipped here before the keep cost (a sure verdict is not infinite)."""


def content_costs(song: np.ndarray, weight: float) -> np.ndarray:
    """``(n_beats,)`` keep cost of the content model's verdict: ``weight * log((1 - p) / p)``, clipped."""
    p = np.clip(np.asarray(song, dtype=np.float64), 1e-6, 1 - 1e-6)
    return weight * np.clip(np.log((1 - p) / p), -CONTENT_LOGIT_CAP, CONTENT_LOGIT_CAP)


def beat_costs(
    analysis: Analysis,
    config: RetargetConfig = RetargetConfig(),
    keep_beats: np.ndarray | None = None,
    cut_beats: np.ndarray | None = None,
    content=None,
) -> BeatCosts:
    """The whole cost model of one analysed recording; locked ``keep_beats`` ``(n,)`` are never
    dropped (even silent ones) and never jumped over, locked ``cut_beats`` always are dropped;
    ``content`` (a :class:`~editor_env.content.ContentPrediction`) adds :func:`content_costs` to the keep cost."""
    features = analysis.features
    bar = config.beats_per_bar or DEFAULT_PARAMS.beats_per_bar
    dropped = dropped_beats(features, config)
    if keep_beats is not None:
        dropped &= ~keep_beats
    if cut_beats is not None:
        dropped |= cut_beats
    kept = ~dropped
    dist = beat_distance(features, kept, config)
    context = context_distance(dist, config.lookbehind_beats, config.lookahead_beats)
    keep = keep_costs(context, kept, bar, config)
    if content is not None and config.content_weight > 0:
        keep = keep + content_costs(content.song, config.content_weight)
    allow_backward = config.target_ratio > 1 if config.allow_backward is None else config.allow_backward
    bar_position = np.asarray(analysis.beats.bar_position) % bar
    src, dst, cost = jump_candidates(context, bar_position, kept, allow_backward, config, keep_beats)
    return BeatCosts(dropped, keep, dist, context, src, dst, cost)


def _incoming(n: int, src: np.ndarray, dst: np.ndarray, cost: np.ndarray, cap: int) -> tuple[np.ndarray, np.ndarray]:
    """Padded per-target lists of incoming jumps: ``(n, width)`` sources and costs (``inf`` pad),
    at most ``cap`` per target (the cheapest)."""
    if src.size == 0:
        return np.zeros((n, 1), dtype=np.int64), np.full((n, 1), np.inf)
    order = np.lexsort((src, cost, dst))
    src, dst, cost = src[order], dst[order], cost[order]
    counts = np.bincount(dst, minlength=n)
    first = np.concatenate([[0], np.cumsum(counts)[:-1]])
    slot = np.arange(dst.size) - first[dst]
    keep = slot < cap
    width = max(int(min(counts.max(), cap)), 1)
    in_src = np.zeros((n, width), dtype=np.int64)
    in_cost = np.full((n, width), np.inf)
    in_src[dst[keep], slot[keep]] = src[keep]
    in_cost[dst[keep], slot[keep]] = cost[keep]
    return in_src, in_cost


@dataclasses.dataclass
class _Plan:
    beats: list[int]
    cost: float
    duration: float


def _dynamic_programme(
    keep: np.ndarray,
    beat_s: np.ndarray,
    start_cost: np.ndarray,
    end_cost: np.ndarray,
    in_src: np.ndarray,
    in_cost: np.ndarray,
    min_beats: int,
    target: float,
    slack: float,
    length_weight: float,
) -> tuple[_Plan | None, float | None]:
    """Best path (module docstring). Returns the plan, or None and the reachable duration
    nearest to the target."""
    n = keep.size
    M = min_beats
    lo, hi = target - slack, target + slack
    value = np.full((M, n), np.inf)
    value[0] = start_cost + keep
    dur = np.zeros((M, n))
    dur[0] = beat_s
    nearest: float | None = None

    def note_nearest(value: np.ndarray, dur: np.ndarray) -> None:
        """Remember the finished duration nearest the target (for the error message), before
        states beyond ``target + slack`` are pruned."""
        nonlocal nearest
        finished = np.isfinite(value[M - 1] + end_cost)
        if finished.any():
            d = dur[M - 1][finished]
            here = float(d[np.argmin(np.abs(d - target))])
            if nearest is None or abs(here - target) < abs(nearest - target):
                nearest = here

    note_nearest(value, dur)
    value[dur > hi] = np.inf
    preds: list[np.ndarray] = [np.full((M, n), -1, dtype=np.int64)]
    rows = np.arange(n)
    best: tuple[float, int, int] | None = None
    for t in range(10 * n + 10):
        final = value[M - 1] + end_cost
        reachable = np.isfinite(final)
        if reachable.any():
            inside = reachable & (dur[M - 1] >= lo) & (dur[M - 1] <= hi)
            if inside.any():
                score = np.where(inside, final + length_weight * np.abs(dur[M - 1] - target) / slack, np.inf)
                b = int(np.argmin(score))
                if best is None or score[b] < best[0]:
                    best = (float(score[b]), t, (M - 1) * n + b)
        if not np.isfinite(value).any():
            break
        new_value = np.full((M, n), np.inf)
        new_dur = np.zeros((M, n))
        pred = np.full((M, n), -1, dtype=np.int64)
        # jump (i, full) -> (j, 1)
        jump = value[M - 1][in_src] + in_cost
        k = np.argmin(jump, axis=1)
        jump_src = in_src[rows, k]
        jump_value = jump[rows, k] + keep
        jump_pred = (M - 1) * n + jump_src
        # play on (b, c) -> (b + 1, min(c + 1, M - 1)); row 0 of the new layer is jumps only
        # (unless M == 1, where "just started" and "long enough" are the same row)
        for c2 in range(M):
            sources = [c2 - 1] if c2 > 0 else []
            if c2 == M - 1:
                sources.append(M - 1)
            cand_v, cand_p = [], []
            for c in sources:
                v = np.full(n, np.inf)
                v[1:] = value[c, :-1] + keep[1:]
                p = np.full(n, -1, dtype=np.int64)
                p[1:] = c * n + rows[:-1]
                cand_v.append(v)
                cand_p.append(p)
            if c2 == 0:
                cand_v.append(jump_value)
                cand_p.append(jump_pred)
            v_best, p_best = cand_v[0], cand_p[0]
            for v, p in zip(cand_v[1:], cand_p[1:]):
                better = v < v_best
                v_best = np.where(better, v, v_best)
                p_best = np.where(better, p, p_best)
            new_value[c2] = v_best
            pred[c2] = p_best
        finite = np.isfinite(new_value)
        new_dur[finite] = dur.reshape(-1)[pred[finite]] + np.broadcast_to(beat_s, (M, n))[finite]
        note_nearest(new_value, new_dur)
        new_value[new_dur > hi] = np.inf
        value, dur = new_value, new_dur
        preds.append(pred)
    if best is None:
        return None, nearest
    _, t, state = best
    path = []
    while t >= 0 and state >= 0:
        path.append(state % n)
        state = int(preds[t].reshape(-1)[state])
        t -= 1
    path.reverse()
    return _Plan(path, best[0], float(beat_s[path].sum())), nearest


def retarget(
    analysis: Analysis,
    *,
    sample_rate: int,
    raw_length: int,
    config: RetargetConfig = RetargetConfig(),
    constraints=None,
    content=None,
) -> EditList:
    """Edit a recording to ``config.target_ratio`` of its length by beat-level retargeting.

    Parameters
    ----------
    analysis : Analysis
        The recording's analysis (:func:`editor_env.features.analyze_signal`).
    sample_rate : int
        The raw recording's own sample rate, Hz (segments are placed in its samples).
    raw_length : int
        The raw recording's length in samples.
    config : RetargetConfig
        Target, slack and cost weights.
    constraints : EditConstraints, optional
        The user's controls (:mod:`editor_env.constraints`): their target and slack replace the
        config's; locked-keep beats are always played (never dropped, never jumped over, the edit
        starts before the first and ends after the last); locked-cut beats are never played;
        ``ending="phrase"`` lets the edit end only where a phrase of the raw ends.
    content : ContentPrediction, optional
        The content model's verdict per beat (:func:`editor_env.content.predict`): junk costs more to keep
        (``config.content_weight``).

    Returns
    -------
    EditList
        Segments in raw samples on beat onsets, with ``raw_start_beat`` / ``raw_end_beat``
        set, whole bars from a downbeat, each at least ``min_segment_beats`` long; a short
        fade-in and fade-out at the ends; ``meta["paradigm"] == "retarget"`` with the target,
        the cost and the config.

    Raises
    ------
    MusicEditError
        The analysis belongs to a recording of another length, nothing in the recording is
        worth keeping, or no edit of whole segments lands within the slack of the target (the
        message says the nearest reachable duration and what to change).
    """
    return retarget_alternatives(
        analysis,
        sample_rate=sample_rate,
        raw_length=raw_length,
        config=config,
        constraints=constraints,
        n=1,
        content=content,
    )[0]


def retarget_alternatives(
    analysis: Analysis,
    *,
    sample_rate: int,
    raw_length: int,
    config: RetargetConfig = RetargetConfig(),
    constraints=None,
    n: int | None = None,
    content=None,
) -> list[EditList]:
    """Up to ``n`` distinct edits (default ``constraints.n_alternatives``), cheapest first.

    The first is :func:`retarget`'s edit. Each further one reruns the dynamic programme with every
    jump, start beat and end beat used by the earlier ones made ``alternative_penalty`` dearer (per
    earlier use), so it is the best edit that differs from them; a programme that returns an edit
    already found raises the penalties and tries again. Fewer than ``n`` come back when the
    recording admits fewer distinct edits. Arguments and errors as :func:`retarget`; ``content`` is the content
    model's prediction for the recording (:func:`editor_env.content.predict`), used in the keep costs.
    """
    from editor_env.constraints import analysis_phrase_boundaries, beat_masks

    if sample_rate <= 0 or raw_length <= 0:
        raise MusicEditError("retarget needs a positive sample_rate and raw_length.")
    raw_s = raw_length / sample_rate
    if abs(analysis.duration - raw_s) > 0.5:
        raise MusicEditError(
            f"The analysis covers {analysis.duration:.2f} s but the raw recording is {raw_s:.2f} s: "
            "analyse the recording being edited."
        )
    if constraints is not None:
        constraints.validate(raw_s, analysis.beats.times)
        overrides = {"target_ratio": constraints.ratio(raw_s, config.target_ratio)}
        if constraints.slack_s is not None or constraints.length_mode == "content":
            overrides["slack_s"] = float(constraints.slack)
        config = dataclasses.replace(config, **overrides)
    n = int(n if n is not None else (constraints.n_alternatives if constraints is not None else 1))
    bar = config.beats_per_bar or DEFAULT_PARAMS.beats_per_bar
    min_beats = config.min_segment_beats or bar
    beats = analysis.beats
    n_beats = beats.n_beats
    bounds = np.clip(np.round(np.append(beats.times, raw_s) * sample_rate).astype(np.int64), 0, raw_length)
    bounds[-1] = raw_length
    beat_s = np.diff(bounds) / sample_rate
    keep_beats, cut_beats = beat_masks(constraints, beats.times, raw_s)

    costs = beat_costs(analysis, config, keep_beats, cut_beats, content)
    keep = np.where(beat_s > 0, costs.keep, np.inf)
    if not np.isfinite(keep).any():
        raise MusicEditError(
            "Nothing in this recording is worth keeping: every beat is silent, very quiet or noise "
            "(see RetargetConfig.min_level_dbfs, quiet_db, max_flatness)."
        )
    bar_position = np.asarray(beats.bar_position) % bar
    start_s = bounds[:-1] / sample_rate
    end_s = bounds[1:] / sample_rate
    idx = np.arange(n_beats)
    start_cost = np.where(bar_position == 0, config.start_weight * start_s / raw_s, np.inf)
    at_bar_end = (bar_position == bar - 1) | (idx == n_beats - 1)
    if constraints is not None and constraints.ending == "phrase":
        at_bar_end = analysis_phrase_boundaries(analysis)[1:]
    end_cost = np.where(at_bar_end, config.end_weight * (1.0 - end_s / raw_s), np.inf)
    if keep_beats.any():
        locked = np.flatnonzero(keep_beats)
        start_cost[idx > locked[0]] = np.inf
        end_cost[idx < locked[-1]] = np.inf
    in_src, in_cost = _incoming(n_beats, costs.jump_src, costs.jump_dst, costs.jump_cost, cap=4 * config.top_k)

    target = config.target_ratio * raw_s
    plans: list[_Plan] = []
    used_start, used_end = np.zeros(n_beats), np.zeros(n_beats)
    used_jump = np.zeros(in_src.shape)
    weight = config.alternative_penalty
    for _ in range(3 * n):
        if len(plans) == n:
            break
        plan, nearest = _dynamic_programme(
            keep,
            beat_s,
            start_cost + weight * used_start,
            end_cost + weight * used_end,
            in_src,
            in_cost + weight * used_jump,
            min_beats,
            target,
            config.slack_s,
            config.length_weight,
        )
        if plan is None:
            if not plans:
                _cannot_meet(raw_s, target, config, nearest, min_beats, float(beat_s[np.isfinite(keep)].sum()))
            break
        if any(plan.beats == p.beats for p in plans):
            weight *= 2.0
        else:
            plans.append(plan)
        path = np.asarray(plan.beats)
        used_start[path[0]] += 1
        used_end[path[-1]] += 1
        for a, b in zip(path[:-1], path[1:]):
            if b != a + 1:
                used_jump[b] += in_src[b] == a
    return [
        _plan_edit(plan, k, bounds, sample_rate, raw_length, raw_s, target, costs, beats, config, constraints)
        for k, plan in enumerate(plans)
    ]


def _cannot_meet(raw_s, target, config, nearest, min_beats, usable) -> None:
    reach = (
        f"the nearest reachable edit lasts {nearest:.1f} s"
        if nearest is not None
        else f"no edit of whole segments of at least {min_beats} beats fits"
    )
    if usable < target - config.slack_s:
        reach += f" (only {usable:.1f} s of it is not silence, noise or cut)"
    raise MusicEditError(
        f"Cannot retarget this {raw_s:.1f} s recording to {target:.1f} s +- {config.slack_s:g} s "
        f"(target_ratio {config.target_ratio:g}): {reach}. Raise the slack, change the target ratio, "
        "loosen the --keep / --cut regions or the --ending, or lower min_segment_beats."
    )


def _plan_edit(plan, k, bounds, sample_rate, raw_length, raw_s, target, costs, beats, config, constraints) -> EditList:
    """The :class:`EditList` of one planned beat path."""
    segments = segments_from_beat_path(np.asarray(plan.beats), bounds)
    first, last = segments[0], segments[-1]
    first.effects.fade_in_s = min(config.fade_in_s, first.raw_length / sample_rate / 2)
    last.effects.fade_out_s = min(config.fade_out_s, last.raw_length / sample_rate / 2)
    output_s = sum(s.raw_length for s in segments) / sample_rate
    meta = {
        "paradigm": "retarget",
        "target_ratio": config.target_ratio,
        "target_s": target,
        "slack_s": config.slack_s,
        "output_s": output_s,
        "ratio": output_s / raw_s,
        "cost": plan.cost,
        "n_jumps": len(segments) - 1,
        "dropped_beats": int(costs.dropped.sum()),
        "n_beats": beats.n_beats,
        "beat_source": beats.source,
        "tempo_bpm": float(beats.tempo),
        "config": config.to_dict(),
    }
    if constraints is not None:
        meta.update(alternative=k + 1, constraints=constraints.to_dict())
    return EditList(sample_rate, raw_length, segments, crossfade_s=config.crossfade_s, meta=meta)

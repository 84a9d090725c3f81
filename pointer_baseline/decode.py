"""Constrained beam search over the pointer network's logits: the user's controls and the top-N edits.

Greedy decoding (:meth:`pointer_baseline.model.PointerNetwork.decode`) follows the network wherever
it points. Here the network only *scores* edits that obey the rules an editor must keep, and a beam
search finds the best-scoring ones:

- the edit is a sequence of whole raw **beats**: the output plays beat after beat, and at every beat
  boundary it either plays on, jumps, or stops;
- a **jump** lands on a beat whose bar position is the one that would have come next (so the bar
  goes on), at least ``min_jump_beats`` (default one bar) away from where playback would have
  continued; a forward jump never skips a locked-keep beat, and the first beat played is the
  recording's first beat or a downbeat, no later than the first locked-keep beat (with these rules every locked-keep beat
  is played once the edit has reached past the last one);
- a locked-cut beat is never played, and no beat is played more than ``max_plays`` times (default 2:
  a section may come back once; without the cap the search fills a long request by looping one bar
  over and over, which scores well beat by beat and sounds like a stuck record). When no edit
  obeys the cap (a request far longer than the recording), the search runs again without it;
- the edit **stops** only at the end of a bar or of the recording (or where ``end_boundaries`` allows), with its duration within
  ``target_s +- slack_s`` and every locked-keep beat played; a hypothesis that can no longer fit in the
  length window the locked-keep beats it still owes, or the shortest way to a boundary where it may
  stop (shortest paths over the allowed moves), is dropped.

Scores are the network's log-probabilities of the pointers (``stop`` and ``use_jump`` calibrated by the
thresholds greedy decoding uses, :attr:`~pointer_baseline.model.PointerModelConfig.stop_decision_threshold` and
``jump_decision_threshold``): at a boundary, ``log p(no stop) + log p(no jump) + log p(delta)`` for a move inside
the delta window (a seam or plain continuation), ``log p(no stop) + log p(jump) + log p(bucket) +
log p(landing frame)`` for a long jump (both routes summed when both can reach the frame), ``log
p(stop)`` to stop (free at the end of the recording); inside a beat every frame continues; each seam
costs ``seam_penalty`` more (:data:`SEAM_PENALTY`). Each
iteration extends every live hypothesis by one beat; the ``beam_width`` best extensions by
boundary score are scored through their beat and become the beam. Finished hypotheses are
collected apart, so a stop never competes with a continuation for a beam slot.

Cost per iteration: one decoder step per hypothesis, the jump buckets and the landing frames of
every candidate bucket, and the frames of ``beam_width`` beats: about ``beam_width`` times greedy
decoding's work, plus the jump candidates, which grow with the recording's beats. Measured (full
recipe, untrained, one thread, 3 best, beam 5): 150 s of input 3.3 s (greedy 0.8 s), 10 minutes
21 s (greedy 2.2 s).
"""

from __future__ import annotations

import contextlib
import dataclasses
import math

import numpy as np
import torch as th

from editor_env.params import DEFAULT_PARAMS, AudioParams
from pointer_baseline.errors import PointerError
from pointer_baseline.model import PointerNetwork, calibrated_log_probs, step_state_features

SEAM_PENALTY = 2.0
"""Nats per seam taken off a beam's score: a guard for recordings unlike the generated jams the network learnt
from. On the 17 tracks of Debian's hyperrogue-music (reference-free reward) the model of 2026-11-24 cut one track
into 12 pieces: 3.71 seams a track and reward 0.919 without the cost, 2.53 and 0.941 with it (generated pairs:
0.793 either way). The model of 2026-11-25 is surer: real 0.946 (1.94 seams) -> 0.956 (1.65), but on 30
generated pairs 0.825 -> 0.814. ``python scripts/bench_seam_penalty.py``."""


CONTENT_BIAS = 2.0
"""Nats per unit of the content model's clipped log-odds that a beat is song (:func:`content_beat_bias`): a beat
the model calls junk at 0.95 costs about 6 nats, more than a seam."""


def content_beat_bias(song: np.ndarray, weight: float = CONTENT_BIAS, cap: float = 4.0) -> np.ndarray:
    """``(n_beats,)`` beam-search bias from the content model's per-beat song probabilities ``song``:
    ``weight * clip(log(p / (1 - p)), -cap, cap)``."""
    p = np.clip(np.asarray(song, dtype=np.float64), 1e-6, 1 - 1e-6)
    return weight * np.clip(np.log(p / (1 - p)), -cap, cap)


@dataclasses.dataclass
class BeamEdit:
    """One decoded edit.

    :param beats: ``(n_output_beats,)`` int64 raw beats in play order.
    :param score: the network's log-probability of the edit's pointers, less ``seam_penalty`` per seam.
    :param output_s: its duration in seconds (sum of the beats' durations).
    """

    beats: np.ndarray
    score: float
    output_s: float


@dataclasses.dataclass
class _Hyp:
    node: tuple | None  # (beat, parent node): the path, shared between hypotheses
    last: int  # last raw beat played (-1 before the first)
    score: float
    length_s: float
    step: int  # output frames so far
    run: int  # output frames since the last seam
    seams: int
    reached: int  # highest raw beat played
    plays: np.ndarray | None = None  # (n_beats,) int16 times each raw beat was played; None: not counted

    def path(self) -> np.ndarray:
        beats, node = [], self.node
        while node is not None:
            beats.append(node[0])
            node = node[1]
        return np.asarray(beats[::-1], dtype=np.int64)


class _Owed:
    """A lower bound on the seconds a hypothesis must still play to meet the locked-keep beats: at beat
    ``j`` having reached ``r``, the locked beats above ``r``, a lead-in to the first of those runs (the beats
    up to its start, at most a bar less a beat: a bar-aligned jump lands that close), a bar less a beat
    before each further run, and the beats from the last locked one to its bar's end. Counted with
    the longest beat, so a hypothesis it lets through can still finish. ``ends`` ``(n_beats + 1,)`` bool:
    the boundaries an edit may stop at."""

    def __init__(self, keep: np.ndarray, beat_s: np.ndarray, ends: np.ndarray, bpb: int) -> None:
        n = keep.size
        self.locked_above = np.concatenate([np.cumsum((beat_s * keep)[::-1])[::-1][1:], [0.0]])
        self.run_starts = np.flatnonzero(keep & ~np.concatenate([[False], keep[:-1]]))
        self.run_ends = np.flatnonzero(keep & ~np.append(keep[1:], False))
        self.longest = float(beat_s.max()) if n else 0.0
        self.bpb = bpb
        self.tail = 0.0
        if keep.any():
            last = int(self.run_ends[-1])
            end = last + 1 + int(np.argmax(ends[last + 1 :]))  # the first allowed end after it
            self.tail = float(beat_s[last + 1 : end].sum())

    def __call__(self, j: np.ndarray, reached: np.ndarray) -> np.ndarray:
        if self.run_ends.size == 0:
            return np.zeros(np.shape(j))
        first = np.searchsorted(self.run_ends, reached, side="right")  # first run ending above reached
        owes = first < self.run_ends.size
        start = self.run_starts[np.minimum(first, self.run_ends.size - 1)]
        lead_first = np.where(j + 1 >= start, 0, np.minimum(start - j - 1, self.bpb - 1))
        lead_more = (self.run_ends.size - first - 1).clip(min=0) * (self.bpb - 1)
        need = self.locked_above[reached] + (lead_first + lead_more) * self.longest + self.tail
        return np.where(owes, need, 0.0)


def _moves(bar: np.ndarray, bpb: int, playable: np.ndarray, keep_before: np.ndarray, min_jump: int) -> np.ndarray:
    """``(n + 1, n)`` bool: from boundary ``k`` (beat ``k - 1`` just played; ``k = n``: the end of the
    recording) the beats that may play next: beat ``k`` (playing on), or a jump target of the natural next
    bar position at least ``min_jump`` beats from ``k`` that skips no locked-keep beat going forward."""
    n = bar.size
    k = np.arange(n + 1)[:, None]
    j = np.arange(n)[None, :]
    want = np.append(-1, (bar + 1) % bpb)[:, None]  # bar position after beat k - 1
    jump = playable[None, :] & (bar[None, :] == want) & (np.abs(j - k) >= min_jump)
    jump &= ~((j > k) & (keep_before[None, :n] - keep_before[:, None] > 0))
    jump[0] = False
    return jump | ((j == k) & playable[None, :])


def _seconds_to_end(moves: np.ndarray, beat_s: np.ndarray, ends: np.ndarray) -> np.ndarray:
    """``(n + 1,)`` the fewest seconds still to play from boundary ``k`` to a boundary where the edit may
    stop (0 at one; inf where none can be reached): shortest paths over :func:`_moves`."""
    from scipy.sparse import csr_matrix
    from scipy.sparse.csgraph import dijkstra

    n = beat_s.size
    src, dst = np.nonzero(moves)
    graph = csr_matrix((beat_s[dst], (src, dst + 1)), shape=(n + 1, n + 1))
    sinks = np.flatnonzero(ends)
    if sinks.size == 0:
        return np.full(n + 1, np.inf)
    return dijkstra(graph.T, directed=True, indices=sinks, min_only=True)


def _end_boundaries(bar: np.ndarray, bpb: int, n: int) -> np.ndarray:
    """``(n + 1,)`` bool: after the last beat of every bar, and at the end of the recording."""
    ends = np.zeros(n + 1, dtype=bool)
    ends[1:] = bar == bpb - 1
    ends[n] = True
    return ends


@contextlib.contextmanager
def _eval_mode(model: th.nn.Module):
    """The model in eval mode (no dropout) and, on CPU, torch on one thread for the block, then as it was.

    The search runs thousands of small batched steps (a few hundred rows each): threads only add
    hand-offs. Measured on the 2-core machine under load, 58 s of real music, 5 best: 2.3 s on one
    thread against 36.7 s with torch's default two."""
    was_training = model.training
    threads = th.get_num_threads()
    on_cpu = next(model.parameters()).device.type == "cpu"
    model.eval()
    if on_cpu:
        th.set_num_threads(1)
    try:
        yield
    finally:
        model.train(was_training)
        if on_cpu:
            th.set_num_threads(threads)


@th.no_grad()
def constrained_decode(
    model: PointerNetwork,
    inputs: np.ndarray | th.Tensor,
    beat_times: np.ndarray,
    bar_position: np.ndarray,
    raw_duration_s: float,
    *,
    target_s: float,
    slack_s: float,
    keep_beats: np.ndarray | None = None,
    cut_beats: np.ndarray | None = None,
    n_best: int = 1,
    beam_width: int | None = None,
    min_jump_beats: int | None = None,
    beats_per_bar: int | None = None,
    end_boundaries: np.ndarray | None = None,
    max_plays: int | None = 2,
    seam_penalty: float = SEAM_PENALTY,
    beat_bias: np.ndarray | None = None,
    params: AudioParams = DEFAULT_PARAMS,
) -> list[BeamEdit]:
    """The ``n_best`` best edits (module docstring), best first.

    :param model: a trained :class:`~pointer_baseline.model.PointerNetwork`.
    :param inputs: ``(n_inputs, T)`` model inputs (:func:`pointer_baseline.data.model_inputs`).
    :param beat_times: ``(n_beats,)`` raw beat onsets, s. :param bar_position: ``(n_beats,)`` int, 0 = downbeat.
    :param raw_duration_s: the raw recording's duration, s (the last beat ends there).
    :param target_s, slack_s: the output duration asked for and its allowed miss, s.
    :param keep_beats, cut_beats: ``(n_beats,)`` bool locked beats (:func:`editor_env.constraints.beat_masks`).
    :param n_best: edits to return (fewer when fewer finish). :param beam_width: default ``max(4, n_best + 2)``.
    :param min_jump_beats: shortest jump in beats (default ``beats_per_bar``).
    :param end_boundaries: ``(n_beats + 1,)`` bool, where the edit may stop (boundary ``k`` is before beat
        ``k``); default: the end of every bar and of the recording (phrase ends for ``--ending phrase``).
    :param seam_penalty: nats taken off an edit's score for each seam (a move that is not plain continuation;
        :data:`SEAM_PENALTY`); 0 scores by the network alone.
    :param max_plays: most times one raw beat may be played (None: no limit); when no edit obeys it,
        the search is run again without it.
    :param beat_bias: ``(n_beats,)`` nats added to an edit's score for each beat it plays: outside knowledge the
        network lacks, e.g. the content model's verdict (:func:`content_beat_bias`); None: none.
    :raises PointerError: when no edit obeys the constraints (the message says what to loosen).
    """
    if max_plays is not None and max_plays < 1:
        raise PointerError(f"max_plays={max_plays} must be at least 1 (or None: no limit).")
    kwargs = dict(
        target_s=target_s,
        slack_s=slack_s,
        keep_beats=keep_beats,
        cut_beats=cut_beats,
        n_best=n_best,
        beam_width=beam_width,
        min_jump_beats=min_jump_beats,
        beats_per_bar=beats_per_bar,
        end_boundaries=end_boundaries,
        seam_penalty=seam_penalty,
        beat_bias=beat_bias,
        params=params,
    )
    try:
        return _beam_search(model, inputs, beat_times, bar_position, raw_duration_s, max_plays=max_plays, **kwargs)
    except PointerError:
        if max_plays is None:
            raise
        return _beam_search(model, inputs, beat_times, bar_position, raw_duration_s, max_plays=None, **kwargs)


def _beam_search(
    model: PointerNetwork,
    inputs: np.ndarray | th.Tensor,
    beat_times: np.ndarray,
    bar_position: np.ndarray,
    raw_duration_s: float,
    *,
    target_s: float,
    slack_s: float,
    keep_beats: np.ndarray | None,
    cut_beats: np.ndarray | None,
    n_best: int,
    beam_width: int | None,
    min_jump_beats: int | None,
    beats_per_bar: int | None,
    end_boundaries: np.ndarray | None,
    max_plays: int | None,
    seam_penalty: float,
    beat_bias: np.ndarray | None,
    params: AudioParams,
) -> list[BeamEdit]:
    """:func:`constrained_decode` with one setting of ``max_plays``."""
    bpb = int(beats_per_bar or params.beats_per_bar)
    min_jump = int(min_jump_beats or bpb)
    width = int(beam_width or max(4, n_best + 2))
    with _eval_mode(model):
        cfg = model.config
        device = next(model.parameters()).device
        x = th.as_tensor(np.asarray(inputs, dtype=np.float32)) if not th.is_tensor(inputs) else inputs
        mem = model.memory(x.to(device).float())
        n_raw = mem.n_raw
        times = np.asarray(beat_times, dtype=np.float64)
        n = times.size
        bar = np.asarray(bar_position, dtype=np.int64) % bpb
        keep = np.zeros(n, bool) if keep_beats is None else np.asarray(keep_beats, bool)
        cut = np.zeros(n, bool) if cut_beats is None else np.asarray(cut_beats, bool)
        bounds_s = np.append(times, max(raw_duration_s, times[-1]))
        beat_s = np.diff(bounds_s)
        onset = np.clip(np.round(times / params.frame_seconds).astype(np.int64), 0, n_raw)
        onset = np.maximum.accumulate(onset)
        frames = np.append(onset, n_raw)  # frames[k]: first frame of beat k; frames[n] = end
        beat_frames = np.diff(frames)
        keep_before = np.concatenate([[0], np.cumsum(keep)])  # locked-keep beats before index k
        ends = _end_boundaries(bar, bpb, n) if end_boundaries is None else np.asarray(end_boundaries, bool)
        if ends.shape != (n + 1,):
            raise PointerError(f"end_boundaries has shape {ends.shape}; give one bool per beat boundary ({n + 1}).")
        owed = _Owed(keep, beat_s, ends, bpb)
        first_keep = int(np.flatnonzero(keep)[0]) if keep.any() else n - 1
        last_keep = int(np.flatnonzero(keep)[-1]) if keep.any() else -1
        hi, lo = target_s + slack_s, target_s - slack_s
        playable = ~cut & (beat_frames > 0)
        starts = np.flatnonzero(playable & ((bar == 0) | (np.arange(n) == 0)) & (np.arange(n) <= first_keep))
        moves = _moves(bar, bpb, playable, keep_before, min_jump)
        to_end = _seconds_to_end(moves, beat_s, ends)
        thr_stop, thr_jump = cfg.stop_decision_threshold, cfg.jump_decision_threshold
        live = [_Hyp(None, -1, 0.0, 0.0, 0, 0, 0, -1, None if max_plays is None else np.zeros(n, np.int16))]
        finished: list[_Hyp] = []
        for _ in range(4 * n + 16):
            if not live:
                break
            nxt = np.array([h.last + 1 for h in live])
            expected = frames[np.minimum(nxt, n)]
            state = step_state_features(
                np.array([h.step for h in live]),
                expected,
                np.array([h.run for h in live]),
                np.array([h.seams for h in live]),
                n_raw,
                cfg.compression_ratio,
            )
            e_t = th.as_tensor(expected, device=device)
            out = model.steps(mem, e_t, state)
            lp_stop, lp_go = calibrated_log_probs(out.stop_logit, thr_stop)
            lp_jump, lp_stay = calibrated_log_probs(out.use_jump_logit, thr_jump)
            lp_delta = out.delta_logits.log_softmax(dim=-1)
            lp_chunk = model.jump_logits(mem, out.z, e_t).log_softmax(dim=-1)

            cand_b, cand_j = [], []
            for b, h in enumerate(live):
                k = int(nxt[b])
                if h.last >= 0 and ends[h.last + 1] and lo - 1e-9 <= h.length_s <= hi + 1e-9 and h.reached >= last_keep:
                    stop = 0.0 if k >= n else float(lp_stop[b])
                    finished.append(dataclasses.replace(h, score=h.score + stop))
                targets = starts if h.last < 0 else np.flatnonzero(moves[k])
                if h.plays is not None:
                    targets = targets[h.plays[targets] < max_plays]
                if targets.size == 0:
                    continue
                new_len = h.length_s + beat_s[targets]
                reached = np.maximum(h.reached, targets)
                fits = new_len + np.maximum(owed(targets, reached), to_end[targets + 1]) <= hi + 1e-9
                targets = targets[fits]
                cand_b.extend([b] * targets.size)
                cand_j.extend(targets.tolist())
            if not cand_b:
                break
            cb = np.asarray(cand_b, dtype=np.int64)
            cj = np.asarray(cand_j, dtype=np.int64)
            boundary = _boundary_scores(
                model, mem, out, cb, cj, expected, frames, lp_go, lp_jump, lp_stay, lp_delta, lp_chunk
            )
            base = np.array([live[b].score for b in cb]) + boundary
            if seam_penalty:
                started = np.array([live[b].last >= 0 for b in cb])
                base -= seam_penalty * (started & (cj != nxt[cb]))
            if beat_bias is not None:
                base += beat_bias[cj]
            order = np.argsort(-base, kind="stable")[:width]
            cb, cj, base = cb[order], cj[order], base[order]
            inside, first_seam = _inside_scores(model, mem, live, cb, cj, expected, frames, n_raw, lp_go.device)
            total = base + inside
            keep_idx = np.argsort(-total, kind="stable")
            new_live = []
            for idx in keep_idx:
                b, j = int(cb[idx]), int(cj[idx])
                h = live[b]
                seam = bool(first_seam[idx])
                run_after_first = 0 if seam else h.run + 1
                length = int(beat_frames[j])
                plays = None
                if h.plays is not None:
                    plays = h.plays.copy()
                    plays[j] += 1
                new_live.append(
                    _Hyp(
                        (j, h.node),
                        j,
                        float(total[idx]),
                        h.length_s + float(beat_s[j]),
                        h.step + length,
                        run_after_first + length - 1,
                        h.seams + int(seam),
                        max(h.reached, j),
                        plays,
                    )
                )
            live = new_live
        if not finished:
            raise PointerError(
                f"Constrained decoding found no edit of whole beats lasting {target_s:.1f} s +- {slack_s:g} s that plays "
                "every --keep beat, no --cut beat and ends at the end of a bar: raise --slack, change the target, or "
                "loosen the regions."
            )
        finished.sort(key=lambda h: -h.score)
        results, seen = [], set()
        for h in finished:
            path = h.path()
            key = path.tobytes()
            if key in seen:
                continue
            seen.add(key)
            results.append(BeamEdit(path, h.score, float(beat_s[path].sum())))
            if len(results) == n_best:
                break
        return results


def _boundary_scores(model, mem, out, cb, cj, expected, frames, lp_go, lp_jump, lp_stay, lp_delta, lp_chunk):
    """``(n_candidates,)`` log-probability of the pointer to beat ``cj``'s first frame at hypothesis ``cb``'s
    boundary: the delta route, the long-jump route, or both (summed)."""
    cfg = model.config
    d = cfg.max_delta
    dev = lp_go.device
    b_t = th.as_tensor(cb, device=dev)
    target = th.as_tensor(frames[cj], device=dev)
    e = th.as_tensor(expected[cb], device=dev)
    delta = target - e
    in_window = delta.abs() <= d
    delta_lp = lp_delta[b_t, (delta.clamp(-d, d) + d)]
    route_delta = th.where(in_window, lp_stay[b_t] + delta_lp, th.full_like(delta_lp, -math.inf))
    is_jump = delta != 0
    route_jump = th.full_like(route_delta, -math.inf)
    if bool(is_jump.any()):
        sel = is_jump.nonzero()[:, 0]
        chunk = (target[sel] // cfg.jump_chunk).clamp(max=mem.chunk_centre.shape[0] - 1)
        pairs = th.stack([b_t[sel], chunk], dim=1)
        unique, inverse = th.unique(pairs, dim=0, return_inverse=True)
        land = model.landing_logits(mem, out.z[unique[:, 0]], unique[:, 1]).log_softmax(dim=-1)
        land_idx = (target[sel] - mem.chunk_centre[chunk] + d).clamp(0, cfg.window - 1)
        route_jump[sel] = lp_jump[b_t[sel]] + lp_chunk[b_t[sel], chunk] + land[inverse, land_idx]
    return (lp_go[b_t] + th.logaddexp(route_delta, route_jump)).cpu().numpy().astype(np.float64)


def _inside_scores(model, mem, live, cb, cj, expected, frames, n_raw, device):
    """Log-probability of continuing through every frame of beat ``cj`` after its first, per candidate,
    and whether the first frame was a seam."""
    cfg = model.config
    first_seam = frames[cj] != expected[cb]
    lengths = np.diff(frames)[cj]
    steps = np.maximum(lengths - 1, 0)
    total = np.zeros(cb.size)
    if steps.sum() == 0:
        return total, first_seam
    owner = np.repeat(np.arange(cb.size), steps)
    m = np.arange(steps.sum()) - np.repeat(np.cumsum(steps) - steps, steps) + 1  # 1 .. length - 1
    hyp_step = np.array([live[b].step for b in cb])
    hyp_run = np.array([live[b].run for b in cb])
    hyp_seams = np.array([live[b].seams for b in cb])
    run_first = np.where(first_seam, 0, hyp_run + 1)
    seams = hyp_seams + first_seam
    pos = frames[cj][owner] + m
    state = step_state_features(
        hyp_step[owner] + m, pos, run_first[owner] + m - 1, seams[owner], n_raw, cfg.compression_ratio
    )
    out = model.steps(mem, th.as_tensor(pos, device=device), state)
    _, go = calibrated_log_probs(out.stop_logit, cfg.stop_decision_threshold)
    _, stay = calibrated_log_probs(out.use_jump_logit, cfg.jump_decision_threshold)
    cont = out.delta_logits.log_softmax(dim=-1)[:, cfg.max_delta]
    per_step = (go + stay + cont).cpu().numpy().astype(np.float64)
    np.add.at(total, owner, per_step)
    return total, first_seam


__all__ = ["BeamEdit", "constrained_decode"]

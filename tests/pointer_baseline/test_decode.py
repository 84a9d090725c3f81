"""Constrained beam search over the pointer network (pointer_baseline.decode): the rules it keeps, and its
scores checked against a plain step-by-step evaluation of the network."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest

th = pytest.importorskip("torch")

import torch.nn.functional as F  # noqa: E402

from editor_env.params import DEFAULT_PARAMS  # noqa: E402
from pointer_baseline.decode import SEAM_PENALTY, constrained_decode  # noqa: E402
from pointer_baseline.errors import PointerError  # noqa: E402
from pointer_baseline.model import PointerModelConfig, PointerNetwork, step_state_features  # noqa: E402

TINY = PointerModelConfig(
    d_model=16, n_heads=2, n_layers=1, ffn_mult=2, conv_kernel=5, n_summary=4, max_delta=8, jump_chunk=8, key_dim=8
)
FRAMES_PER_BEAT = 20
N_BEATS = 50
FS = DEFAULT_PARAMS.frame_seconds


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def setup():
    """An untrained tiny network with calibrated stop and jump thresholds (unlike each other and the default), a
    random input of 50 beats of 20 frames, 4/4 with a pickup beat."""
    th.manual_seed(1)
    model = PointerNetwork(dataclasses.replace(TINY, stop_threshold=0.5, jump_threshold=-0.5)).eval()
    n_frames = N_BEATS * FRAMES_PER_BEAT
    inputs = np.random.default_rng(0).random((TINY.n_inputs, n_frames), dtype=np.float32)
    times = np.arange(N_BEATS) * FRAMES_PER_BEAT * FS
    bar = (np.arange(N_BEATS) + 3) % 4  # beat 0 is the last of a bar: beat 1 is the first downbeat
    return model, inputs, times, bar, n_frames * FS


def _reference_log_prob(model, inputs, pointers: np.ndarray, *, stops: bool) -> float:
    """The network's log-probability of ``pointers``, one step at a time (as greedy decoding reads it, with its
    calibrated thresholds)."""
    cfg = model.config
    with th.no_grad():
        mem = model.memory(th.as_tensor(inputs))
        total, expected, run, seams = 0.0, 0, 0, 0
        for i, p in enumerate(pointers.tolist() + ([None] if stops else [])):
            state = step_state_features([i], [expected], [run], [seams], mem.n_raw, cfg.compression_ratio)
            e = th.tensor([expected])
            out = model.steps(mem, e, state)
            x_stop = float(out.stop_logit[0]) - cfg.stop_decision_threshold
            if p is None:
                total += float(F.logsigmoid(th.tensor(x_stop)))
                break
            x_jump = float(out.use_jump_logit[0]) - cfg.jump_decision_threshold
            d = p - expected
            route_delta = -math.inf
            if abs(d) <= cfg.max_delta:
                route_delta = float(
                    F.logsigmoid(th.tensor(-x_jump)) + out.delta_logits[0].log_softmax(-1)[cfg.max_delta + d]
                )
            route_jump = -math.inf
            if d != 0:
                chunk = min(p // cfg.jump_chunk, mem.chunk_centre.shape[0] - 1)
                bucket = model.jump_logits(mem, out.z, e).log_softmax(-1)[0, chunk]
                land = model.landing_logits(mem, out.z, th.tensor([chunk])).log_softmax(-1)[0]
                landing = land[p - int(mem.chunk_centre[chunk]) + cfg.max_delta]
                route_jump = float(F.logsigmoid(th.tensor(x_jump)) + bucket + landing)
            total += float(F.logsigmoid(th.tensor(-x_stop))) + float(np.logaddexp(route_delta, route_jump))
            seams, run = (seams + 1, 0) if p != expected else (seams, run + 1)
            expected = p + 1
    return total


def _pointers(beats: np.ndarray) -> np.ndarray:
    return np.concatenate([np.arange(b * FRAMES_PER_BEAT, (b + 1) * FRAMES_PER_BEAT) for b in beats])


def test_beam_obeys_every_rule_and_scores_like_the_network_step_by_step(setup):
    model, inputs, times, bar, raw_s = setup
    keep = np.zeros(N_BEATS, bool)
    keep[[5, 6, 30, 31, 32]] = True
    cut = np.zeros(N_BEATS, bool)
    cut[14:22] = True
    beat_s = FRAMES_PER_BEAT * FS
    target, slack = 14 * beat_s, 1.5 * beat_s  # 12.5 .. 15.5 beats: 13, 14 or 15
    edits = constrained_decode(
        model, inputs, times, bar, raw_s, target_s=target, slack_s=slack, keep_beats=keep, cut_beats=cut, n_best=4
    )
    assert len(edits) == 4 and len({e.beats.tobytes() for e in edits}) == 4
    assert [e.score for e in edits] == sorted((e.score for e in edits), reverse=True)
    for edit in edits:
        beats = edit.beats
        assert set(np.flatnonzero(keep)) <= set(beats.tolist()) and not cut[beats].any()
        assert abs(edit.output_s - target) <= slack + 1e-9 and abs(beats.size * beat_s - edit.output_s) < 1e-9
        assert (bar[beats[0]] == 0 or beats[0] == 0) and beats[0] <= 5  # the start, or a downbeat, before beat 5
        assert bar[beats[-1]] == 3 or beats[-1] == N_BEATS - 1  # ends with a bar
        for a, b in zip(beats[:-1], beats[1:]):
            if b != a + 1:  # a jump keeps the bar going and moves at least a bar
                assert bar[b] == bar[(a + 1) % N_BEATS] and abs(b - (a + 1)) >= 4
        stops = beats[-1] != N_BEATS - 1
        seams = int((np.diff(beats) != 1).sum())
        log_prob = _reference_log_prob(model, inputs, _pointers(beats), stops=stops)
        assert edit.score == pytest.approx(log_prob - SEAM_PENALTY * seams, abs=1e-3)


def test_a_higher_seam_penalty_never_gives_more_seams(setup):
    model, inputs, times, bar, raw_s = setup
    beat_s = FRAMES_PER_BEAT * FS
    seams = []
    for penalty in (0.0, SEAM_PENALTY, 50.0):
        edit = constrained_decode(
            model, inputs, times, bar, raw_s, target_s=24 * beat_s, slack_s=2.5 * beat_s, seam_penalty=penalty
        )[0]
        seams.append(int((np.diff(edit.beats) != 1).sum()))
    assert seams == sorted(seams, reverse=True) and seams[-1] <= 1


def test_end_boundaries_and_minimum_jump(setup):
    model, inputs, times, bar, raw_s = setup
    beat_s = FRAMES_PER_BEAT * FS
    ends = np.zeros(N_BEATS + 1, bool)
    ends[[21, 37]] = True  # e.g. phrase ends
    cut = np.zeros(N_BEATS, bool)
    cut[8:12] = True  # the untrained network's favourite edit then jumps (it starts before the cut)
    edits = constrained_decode(
        model,
        inputs,
        times,
        bar,
        raw_s,
        target_s=16 * beat_s,
        slack_s=2.5 * beat_s,
        cut_beats=cut,
        end_boundaries=ends,
        min_jump_beats=8,
        n_best=3,
        seam_penalty=0.0,  # without a cost per seam: an edit after the cut, without jumps, would be cheaper
    )
    for edit in edits:
        assert edit.beats[-1] + 1 in (21, 37)
        jumps = [(a, b) for a, b in zip(edit.beats[:-1], edit.beats[1:]) if b != a + 1]
        assert jumps and all(abs(b - (a + 1)) >= 8 for a, b in jumps)


def test_impossible_request_is_a_clear_error(setup):
    model, inputs, times, bar, raw_s = setup
    cut = np.zeros(N_BEATS, bool)
    cut[1:] = True  # nothing left to play but the pickup beat
    with pytest.raises(PointerError, match="no edit of whole beats lasting"):
        constrained_decode(model, inputs, times, bar, raw_s, target_s=5.0, slack_s=1.0, cut_beats=cut)


def test_no_beat_plays_more_than_max_plays_unless_the_request_needs_it(setup):
    model, inputs, times, bar, raw_s = setup
    beat_s = FRAMES_PER_BEAT * FS
    cut = np.zeros(N_BEATS, bool)
    cut[13:] = True  # 13 beats to play (a pickup and three bars) ...
    for target_beats, max_plays in ((20, 2), (40, 2), (40, None)):
        # ... 20 beats fit in two plays of each; 40 do not: the search drops the cap rather than fail
        edits = constrained_decode(
            model,
            inputs,
            times,
            bar,
            raw_s,
            target_s=target_beats * beat_s,
            slack_s=2.5 * beat_s,
            cut_beats=cut,
            max_plays=max_plays,
            n_best=2,
        )
        for edit in edits:
            plays = np.bincount(edit.beats, minlength=N_BEATS)
            assert abs(edit.output_s - target_beats * beat_s) <= 2.5 * beat_s + 1e-9 and not plays[cut].any()
            if max_plays is not None and target_beats == 20:
                assert plays.max() <= max_plays
            else:
                assert plays.max() > 2
    with pytest.raises(PointerError, match="max_plays"):
        constrained_decode(model, inputs, times, bar, raw_s, target_s=5.0, slack_s=1.0, max_plays=0)


def test_a_beat_bias_steers_the_beam_away_from_beats_called_junk(setup):
    from pointer_baseline.decode import content_beat_bias

    model, inputs, times, bar, duration = setup
    song = np.full(N_BEATS, 0.9)
    song[9:25] = 0.02  # four bars the content model calls junk
    target = 30 * FRAMES_PER_BEAT * FS
    plain = constrained_decode(model, inputs, times, bar, duration, target_s=target, slack_s=2.0)[0]
    biased = constrained_decode(
        model, inputs, times, bar, duration, target_s=target, slack_s=2.0, beat_bias=content_beat_bias(song)
    )[0]
    junk = set(range(9, 25))
    assert sum(b in junk for b in biased.beats) < sum(b in junk for b in plain.beats)
    assert sum(b in junk for b in biased.beats) == 0

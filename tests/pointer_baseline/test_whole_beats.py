"""Exits on whole beats: the fitted beat period, the exits it moves and the decoder that moves them
(pointer_baseline.whole_beats, PointerNetwork.decode's exit_snap)."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

from editor_env.audio import mel_spectrogram
from editor_env.params import DEFAULT_PARAMS
from pointer_baseline.whole_beats import (
    EXIT_TOLERANCE_FRAMES,
    ONSET_LAG_FRAMES,
    BeatExits,
    beat_exits,
    beat_period,
    onset_envelope,
    recording_phase,
)

HOP = DEFAULT_PARAMS.hop_length


def click_track(
    period_frames: float, seconds: float = 40.0, seed: int = 0, offbeat: tuple[int, int] = (0, 0)
) -> tuple[np.ndarray, np.ndarray]:
    """A mel of decaying noise bursts on every beat (half a beat late in the frames ``offbeat`` = ``[start, end)``),
    and the beats' onsets in frames."""
    sr = DEFAULT_PARAMS.sample_rate
    rng = np.random.default_rng(seed)
    y = 0.001 * rng.standard_normal(int(seconds * sr)).astype(np.float32)
    beats = np.arange(0.0, y.size / HOP - period_frames, period_frames)
    burst = rng.standard_normal(4000).astype(np.float32) * np.exp(-np.arange(4000) / 600.0).astype(np.float32)
    clicks = beats + np.where((beats >= offbeat[0]) & (beats < offbeat[1]), period_frames / 2, 0.0)
    for frame in clicks:
        start = int(round(frame * HOP))
        y[start : start + burst.size] += 0.5 * burst[: y.size - start]
    return mel_spectrogram(y, DEFAULT_PARAMS), beats


@pytest.fixture(scope="module")
def steady():
    mel, beats = click_track(20.0)  # beats on frames 0, 20, 40, ...
    return mel, beats, BeatExits(onset_envelope(mel), 20.0)


def test_the_fitted_period_is_far_finer_than_the_tracked_beats():
    mel, beats = click_track(20.37, seed=1)
    tracked = np.round(beats) + np.random.default_rng(2).integers(-1, 2, beats.size)  # a tracker's frame jitter
    assert abs(np.median(np.diff(tracked)) - 20.37) > 0.3
    assert beat_period(onset_envelope(mel), tracked) == pytest.approx(20.37, abs=0.005)


def test_too_few_beats_give_no_period(steady):
    _, beats, exits = steady
    assert beat_period(exits.envelope, beats[:5]) is None


def test_an_exit_moves_to_whole_beats_from_its_landing(steady):
    _, _, exits = steady
    assert exits(40, 40 + 4 * 20 + 2) == 120  # two frames late
    assert exits(200, 200 + 3 * 20 - 1) == 260  # one frame early
    assert exits(40, 120) == 120


def test_an_exit_beyond_the_tolerance_or_a_landing_off_the_beat_stays(steady):
    _, _, exits = steady
    far = 40 + 4 * 20 + EXIT_TOLERANCE_FRAMES + 1
    assert exits(40, far) == far
    assert exits(50, 50 + 4 * 20 + 2) == 50 + 4 * 20 + 2  # lands half a beat after a click
    assert exits(60, 60 + 4 * 20 + 2) == 140


def test_a_segment_that_plays_the_off_beats_moves_on_the_recordings_grid():
    """A part on the off-beats (or too quiet to show its beat): its own grid puts the landing half a beat off, the
    recording's puts it on a beat, so the exit moves; a landing off both grids stays."""
    mel, _ = click_track(20.0, offbeat=(400, 560))
    envelope = onset_envelope(mel)
    own_grid_only = BeatExits(envelope, 20.0)
    exits = BeatExits(envelope, 20.0, phase=recording_phase(envelope, 20.0))
    assert exits.phase == pytest.approx(20.0 + ONSET_LAG_FRAMES, abs=0.5)  # onsets peak a frame before each beat
    assert own_grid_only(400, 400 + 6 * 20 + 2) == 400 + 6 * 20 + 2
    assert exits(400, 400 + 6 * 20 + 2) == 520
    assert exits(410, 410 + 6 * 20 + 2) == 530  # on its own clicks: the segment's grid
    assert exits(405, 405 + 6 * 20 + 2) == 405 + 6 * 20 + 2  # a quarter beat off both


def test_beat_exits_of_an_analysis(steady):
    mel, beats, _ = steady
    assert beat_exits(SimpleNamespace(mel=mel), DEFAULT_PARAMS) == (None, {"whole_beats": "no beat grid"})
    analysis = SimpleNamespace(mel=mel, beats=SimpleNamespace(times=beats * DEFAULT_PARAMS.frame_seconds))
    exits, info = beat_exits(analysis, DEFAULT_PARAMS)
    assert exits.period == pytest.approx(20.0, abs=0.005) and info["beat_period_frames"] == pytest.approx(
        20.0, abs=0.01
    )
    assert exits(40, 122) == 120


LEAVE, STOP, LAND_AFTER = (50, 150), 250, 40
"""The scripted network below leaves at these raw frames, lands LAND_AFTER frames after its exit, stops at STOP."""


def scripted_network():
    th = pytest.importorskip("torch")
    from pointer_baseline.model import PointerModelConfig, PointerNetwork, StepOutput

    class Scripted(PointerNetwork):
        def steps(self, mem, expected, state):
            out = super().steps(mem, expected, state)
            e = expected.long()
            delta = th.full_like(out.delta_logits, -10.0)
            delta[:, self.config.max_delta] = 10.0  # always continue, unless use_jump fires
            jump = th.where(th.isin(e, th.tensor(LEAVE)), 10.0, -10.0)
            return StepOutput(out.z, delta, jump, th.where(e == STOP, 10.0, -10.0), None)

        def resolve(self, mem, out, expected, *, force_seam=False):
            fire = (out.use_jump_logit > self.config.jump_decision_threshold) | force_seam
            return th.where(fire, expected + LAND_AFTER, expected)

    config = PointerModelConfig(
        n_mels=8, d_model=16, n_heads=2, n_layers=1, ffn_mult=2, conv_kernel=5, n_summary=4, max_delta=8, jump_chunk=8,
        key_dim=8, jump_threshold=0.0, stop_threshold=0.0,
    )  # fmt: skip
    return Scripted(config), np.random.default_rng(0).random((8, 400)).astype(np.float32)


def runs(pointers: np.ndarray) -> list[tuple[int, int]]:
    return [(int(r[0]), int(r[-1]) + 1) for r in np.split(pointers, np.flatnonzero(np.diff(pointers) != 1) + 1)]


@pytest.mark.parametrize("shift", [0, 3, -2])
def test_the_decoder_leaves_where_exit_snap_says_and_takes_the_seam_there(shift):
    """A later exit is played on to, an earlier one takes back the frames past it; either way the network's seam is
    taken at the new exit although its use_jump does not fire there, and every segment is asked once."""
    model, mel = scripted_network()
    plain, _ = model.decode(mel)
    assert runs(plain) == [(0, 50), (90, 150), (190, 250)]
    calls = []

    def snap(landing: int, exit: int) -> int:
        calls.append((landing, exit))
        return exit + shift

    pointers, info = model.decode(mel, exit_snap=snap)
    first_exit = 50 + shift
    second_landing = first_exit + LAND_AFTER
    assert calls == [(0, 50), (second_landing, 150)]
    assert runs(pointers) == [(0, first_exit), (second_landing, 150 + shift), (150 + shift + LAND_AFTER, 250)]
    assert info["moved_exits"] == (2 if shift else 0) and info["seams"] == 2


def test_a_forced_seam_takes_the_jump_heads_landing():
    th = pytest.importorskip("torch")
    from pointer_baseline.model import PointerModelConfig, PointerNetwork, step_state_features

    th.manual_seed(0)
    config = PointerModelConfig(
        n_mels=8, d_model=16, n_heads=2, n_layers=1, ffn_mult=2, conv_kernel=5, n_summary=4, max_delta=8, jump_chunk=8,
        key_dim=8,
    )  # fmt: skip
    model = PointerNetwork(config).eval()
    with th.no_grad():
        mem = model.memory(th.rand(8, 200))
        e = th.arange(20, 30)
        out = model.steps(mem, e, step_state_features(e.numpy(), e.numpy(), e.numpy(), np.zeros(10), 200, 0.67))
        assert bool((out.use_jump_logit < config.jump_decision_threshold).all())  # an untrained network continues
        assert model.resolve(mem, out, e).tolist() == e.tolist()
        chunk = model.jump_logits(mem, out.z, e).argmax(dim=-1)
        landing = model.landing_frame(mem, chunk, model.landing_logits(mem, out.z, chunk).argmax(dim=-1))
        assert model.resolve(mem, out, e, force_seam=True).tolist() == landing.tolist()

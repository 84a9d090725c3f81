"""Natural starts and ends (editor_env.constraints, ``--ending natural``, the default of ``musicedit edit``): an edit
that starts inside sound fades in, one that ends inside sound moves to a phrase end and fades out; ``none`` leaves
the edit as the editor made it. On a hand-made analysis: a recording whose level we choose frame by frame."""

from __future__ import annotations

import numpy as np
import pytest

from editor_env.beats import BeatGrid
from editor_env.constraints import (
    NATURAL_FADE_IN_S,
    EditConstraints,
    constraint_report,
    finish_edit,
    inside_sound,
)
from editor_env.edl import EditList, Segment
from editor_env.errors import MusicEditError
from editor_env.features import FEATURE_NAMES, Analysis
from editor_env.params import DEFAULT_PARAMS

SR = 22050
BEAT_S = 0.5
FS = DEFAULT_PARAMS.frame_seconds


def analysis(seconds: float, quiet: list[tuple[float, float]]) -> Analysis:
    """40 s at 120 BPM in 4/4 (a phrase = 16 beats = 8 s), loud everywhere but the ``quiet`` spans (silence)."""
    n_frames = int(seconds / FS) + 1
    t = np.arange(n_frames) * FS
    mel = np.full((DEFAULT_PARAMS.n_mels, n_frames), 0.7, dtype=np.float32)  # about -24 dB per band
    for a, b in quiet:
        mel[:, (t >= a) & (t < b)] = 0.0  # -80 dB: silence
    times = np.arange(0.0, seconds, BEAT_S)
    beats = BeatGrid(times, np.arange(times.size) % 4, 120.0, "librosa")
    return Analysis(mel, beats, np.zeros((times.size, len(FEATURE_NAMES)), dtype=np.float32), seconds)


def test_inside_sound_reads_the_side_the_edit_cuts_off():
    a = analysis(40.0, quiet=[(10.0, 12.0)])
    assert inside_sound(a, 20.0, before=True)[0] and inside_sound(a, 20.0, before=False)[0]
    assert not inside_sound(a, 12.0, before=True)[0]  # a start right after a pause: nothing is cut off
    assert inside_sound(a, 12.0, before=False)[0]
    assert not inside_sound(a, 10.0, before=False)[0]  # an end where the music stops
    level = inside_sound(a, 11.0, before=True)[1]
    assert level < -50  # silence, far below the recording's loud level
    assert inside_sound(a, 0.0, before=True)[0]  # the recording itself starts mid-sound: the side that plays


def _edit(start_s: float, end_s: float) -> EditList:
    return EditList(SR, 40 * SR, [Segment(int(start_s * SR), int(end_s * SR), raw_start_beat=start_s / BEAT_S)])


def test_natural_start_inside_sound_fades_in_and_end_moves_to_a_phrase_end_and_fades_out():
    a = analysis(40.0, quiet=[])
    edl = _edit(3.0, 21.0)  # starts and ends inside sound; 21 s is not a phrase end (8, 16, 24, 32 s)
    constraints = EditConstraints(target_duration_s=20.0, slack_s=3.0, ending="natural")
    finish_edit(edl, constraints, a, raw_duration_s=40.0)
    seg = edl.segments[-1]
    assert seg.effects.fade_in_s == pytest.approx(NATURAL_FADE_IN_S)
    assert seg.raw_end == 24 * SR  # the phrase end that keeps 21 s +- 3 s
    assert seg.effects.fade_out_s == pytest.approx(4 * BEAT_S)  # a bar
    assert edl.meta["ending"]["on_phrase"] and edl.meta["ending"]["start"]["inside_sound"]
    assert constraint_report(edl, constraints, a)["ending_ok"]


def test_natural_leaves_starts_and_ends_at_pauses_alone():
    a = analysis(40.0, quiet=[(0.0, 4.0), (22.0, 26.0)])
    edl = _edit(4.0, 22.0)  # starts after silence, ends where the music stops
    constraints = EditConstraints(target_duration_s=18.0, slack_s=2.0, ending="natural")
    finish_edit(edl, constraints, a, raw_duration_s=40.0)
    fx = edl.segments[0].effects
    assert (fx.fade_in_s, fx.fade_out_s, edl.segments[0].raw_end) == (0.0, 0.0, 22 * SR)
    assert constraint_report(edl, constraints, a)["ending_ok"]
    # the checker sees a missing fade where the edit does cut into sound
    cut_in = _edit(3.0, 21.0)
    assert not constraint_report(cut_in, constraints, a)["ending_ok"]


@pytest.mark.parametrize("ending", [None, "none"])
def test_ending_none_is_todays_behaviour(ending):
    a = analysis(40.0, quiet=[])
    edl = _edit(3.0, 21.0)
    finish_edit(edl, EditConstraints(target_duration_s=18.0, slack_s=3.0, ending=ending), a, raw_duration_s=40.0)
    fx = edl.segments[0].effects
    assert (fx.fade_in_s, fx.fade_out_s, edl.segments[0].raw_end) == (0.0, 0.0, 21 * SR)
    assert "ending" not in edl.meta


def test_the_other_endings_remain_and_a_start_inside_sound_fades_in():
    a = analysis(40.0, quiet=[])
    edl = _edit(3.0, 21.0)
    finish_edit(edl, EditConstraints(target_duration_s=18.0, slack_s=3.0, ending="fade"), a, raw_duration_s=40.0)
    fx = edl.segments[0].effects
    assert fx.fade_out_s == pytest.approx(3.0) and fx.fade_in_s == pytest.approx(NATURAL_FADE_IN_S)
    with pytest.raises(MusicEditError, match="choose one of natural, fade, phrase, none"):
        EditConstraints(ending="abrupt").validate()

"""Junk labels and the junk-removed / song-kept score: hand-computed figures, copies, files."""

from __future__ import annotations

import numpy as np
import pytest

from editor_env.errors import MusicEditError
from editor_env.labels import JunkSpan, RawLabels, junk_song_score, true_runs
from editor_env.params import DEFAULT_PARAMS

FS = DEFAULT_PARAMS.frame_seconds


def spans_at_frames(*items) -> list[JunkSpan]:
    """Junk spans whose ends lie half a frame before frame boundaries, so frame counts are exact."""
    out = []
    for start, stop, kind, *same in items:
        copy = None
        if same:
            copy = ((same[0] - 0.5) * FS, (same[0] + stop - start - 0.5) * FS)
        out.append(JunkSpan((start - 0.5) * FS if start else 0.0, (stop - 0.5) * FS, kind, copy))
    return out


@pytest.fixture
def labels():
    # 200 frames: junk [0, 20) count_in, [100, 140) noodle; the rest (140 frames) is song
    return RawLabels(200 * FS, spans_at_frames((0, 20, "count_in"), (100, 140, "noodle")))


def test_keep_everything_scores_zero_and_the_truth_one(labels):
    everything = np.arange(200)
    score = junk_song_score(labels, everything)
    assert score.junk_removed == 0.0 and score.song_kept == 1.0 and score.f == 0.0
    truth = np.concatenate([np.arange(20, 100), np.arange(140, 200)])
    score = junk_song_score(labels, truth)
    assert score.junk_removed == 1.0 and score.song_kept == 1.0 and score.f == 1.0
    assert score.removed_by_kind == {"count_in": 1.0, "noodle": 1.0}


def test_a_hand_made_edit_gives_the_hand_computed_figures(labels):
    # plays frames 10..119: keeps 10 of 20 count-in frames, 20 of 40 noodle frames, song 20..99 (80 of 140)
    played = np.arange(10, 120)
    score = junk_song_score(labels, played)
    jr, sk = 1 - 30 / 60, 80 / 140
    assert score.junk_removed == pytest.approx(jr)
    assert score.song_kept == pytest.approx(sk)
    assert score.f == pytest.approx(2 * jr * sk / (jr + sk))
    assert score.removed_by_kind == {"count_in": pytest.approx(0.5), "noodle": pytest.approx(0.5)}
    assert score.junk_s == pytest.approx(60 * FS) and score.song_s == pytest.approx(140 * FS)


def test_an_identical_copy_counts_once_whichever_copy_is_played():
    # song 0..49; a repeat [50, 70) copying [30, 50); song 70..99
    labels = RawLabels(100 * FS, spans_at_frames((50, 70, "repeat", 30)))
    song_first = np.concatenate([np.arange(0, 50), np.arange(70, 100)])
    copy_instead = np.concatenate([np.arange(0, 30), np.arange(50, 100)])  # plays the repeat, skips the original
    both = np.arange(100)
    for played in (song_first, copy_instead):
        score = junk_song_score(labels, played)
        assert score.junk_removed == 1.0 and score.song_kept == 1.0
    score = junk_song_score(labels, both)
    assert score.junk_removed == 0.0 and score.song_kept == 1.0 and score.f == 0.0
    # neither copy of [30, 50): 20 song frames lost, no junk played
    score = junk_song_score(labels, np.concatenate([np.arange(0, 30), np.arange(70, 100)]))
    assert score.junk_removed == 1.0 and score.song_kept == pytest.approx(60 / 80)


def test_without_junk_f_is_song_kept():
    labels = RawLabels(50 * FS, [])
    score = junk_song_score(labels, np.arange(25))
    assert np.isnan(score.junk_removed) and score.f == pytest.approx(0.5, abs=0.03)


def test_json_round_trip_and_bad_files(tmp_path, labels):
    path = labels.save(tmp_path / "x_labels.json")
    again = RawLabels.load(path)
    assert again.to_json_dict()["junk"] == labels.to_json_dict()["junk"]  # times are stored to the microsecond
    (tmp_path / "bad.json").write_text('{"format": "something else"}')
    with pytest.raises(MusicEditError, match="not a MusicEdit label file"):
        RawLabels.load(tmp_path / "bad.json")
    with pytest.raises(MusicEditError, match="overlap"):
        RawLabels(10.0, [JunkSpan(1.0, 3.0, "talk"), JunkSpan(2.0, 4.0, "talk")])
    with pytest.raises(MusicEditError, match="empty or negative"):
        JunkSpan(3.0, 3.0, "talk")


def test_labels_of_a_human_edit_are_the_raw_spans_it_never_plays():
    pointers = np.concatenate([np.arange(30, 100), np.arange(150, 200), [-1, -1]])
    labels = RawLabels.from_unplayed(pointers, 220 * FS)
    starts_ends = [(round(s.start_s / FS), round(s.end_s / FS)) for s in labels.junk]
    assert starts_ends == [(0, 30), (100, 150), (200, 220)]
    assert {s.kind for s in labels.junk} == {"cut"}
    assert junk_song_score(labels, pointers).f == pytest.approx(1.0)


def test_true_runs():
    assert true_runs(np.array([0, 1, 1, 0, 1], dtype=bool)) == [(1, 3), (4, 5)]
    assert true_runs(np.zeros(3, dtype=bool)) == []

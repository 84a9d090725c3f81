"""The jam maker: ground truth that gives back the edit, labels that agree with it, every junk kind, files."""

from __future__ import annotations

import json

import numpy as np
import pytest
import soundfile as sf

from editor_env.audio import Audio, load_audio
from editor_env.edl import EditList
from editor_env.errors import MusicEditError
from editor_env.jams import (
    JUNK_KINDS,
    JUNK_MAKERS,
    JamContext,
    JamSettings,
    _load_material,
    make_jam,
    write_jams,
)
from editor_env.labels import RawLabels, junk_song_score
from editor_env.params import DEFAULT_PARAMS
from editor_env.render import render
from editor_env.synth import generate_pair

FS = DEFAULT_PARAMS.frame_seconds


@pytest.fixture(scope="module")
def tracks(tmp_path_factory):
    """Two finished "tracks": generated songs (the edit of a synthetic pair, junk-free) rendered to files, one
    22,050 Hz mono WAV, one 44,100 Hz stereo FLAC."""
    folder = tmp_path_factory.mktemp("tracks")
    song = generate_pair(5, duration_range_s=(42.0, 48.0), restructure=False, effects=False).edit
    sf.write(folder / "song_a.wav", song.samples[0], song.sample_rate)
    song = generate_pair(6, duration_range_s=(42.0, 48.0), restructure=False, effects=False, sample_rate=44100).edit
    stereo = np.stack([song.samples[0], 0.8 * song.samples[0]])
    sf.write(folder / "song_b.flac", stereo.T, 44100)
    return folder


@pytest.fixture(scope="module")
def jams(tracks, tmp_path_factory):
    out = tmp_path_factory.mktemp("jams") / "training_data"
    result = write_jams(tracks, out, per_track=2, seed=3, progress=False)
    assert not result.failed and len(result.written) == 4
    return out


def _names(data_dir):
    return sorted(p.name[: -len("_info.json")] for p in (data_dir / "pointer_sequences").glob("*_info.json"))


def _read(data_dir, name):
    raw = load_audio(data_dir / "input" / f"{name}_raw.flac")
    edit = load_audio(data_dir / "desired_output" / f"{name}_edit.flac")
    edl = EditList.load(data_dir / "pointer_sequences" / f"{name}_edl.json")
    labels = RawLabels.load(data_dir / "pointer_sequences" / f"{name}_labels.json")
    pointers = np.load(data_dir / "pointer_sequences" / f"{name}_pointers.npy")
    return raw, edit, edl, labels, pointers


def test_the_ground_truth_edit_applied_to_the_raw_gives_back_the_edit(jams):
    for name in _names(jams):
        raw, edit, edl, labels, pointers = _read(jams, name)
        assert edl.sample_rate == raw.sample_rate and edl.raw_length == raw.n_samples
        rendered = render(edl, raw)
        assert rendered.shape == edit.samples.shape
        assert np.abs(rendered - edit.samples).max() < 2e-4  # 16-bit rounding of the crossfades only
        # away from seams and fades the edit is the raw's own samples, bit for bit
        starts = edl.output_starts()
        for seg, out_start in zip(edl.segments, starts):
            lo = int(out_start + max(seg.effects.fade_in_s, 0.05) * raw.sample_rate)
            hi = int(out_start + seg.output_length() - max(seg.effects.fade_out_s, 0.05) * raw.sample_rate)
            if hi <= lo or seg.effects.gain_db != 0:
                continue
            offset = seg.raw_start - out_start
            np.testing.assert_array_equal(edit.samples[:, lo:hi], raw.samples[:, lo + offset : hi + offset])
        # the pointers are the EDL's, one per edit frame
        np.testing.assert_array_equal(pointers, edl.to_pointers())


def test_every_raw_second_is_junk_or_played_and_labels_agree_with_the_pointers(jams):
    for name in _names(jams):
        raw, _, edl, labels, pointers = _read(jams, name)
        n_frames = int(np.ceil(raw.duration / FS))
        junk = np.zeros(n_frames, dtype=bool)
        t = np.arange(n_frames) * FS
        for span in labels.junk:
            junk |= (t >= span.start_s) & (t < span.end_s)
        played = np.zeros(n_frames, dtype=bool)
        played[pointers[pointers < n_frames]] = True
        uncovered = ~(junk | played)
        assert uncovered.sum() <= 2 * (len(edl.segments) + 1)  # a frame at the edges of each span at most
        inside = junk & played
        assert inside.sum() <= 2 * len(labels.junk)
        # song time = what the edit plays: the ground truth scores 1
        score = junk_song_score(labels, pointers)
        assert score.junk_removed > 0.99 and score.song_kept > 0.99
        assert junk_song_score(labels, np.arange(n_frames)).f == 0.0
        info = json.loads((jams / "pointer_sequences" / f"{name}_info.json").read_text())
        assert set(info["junk_kinds"]) == set(labels.kinds) and set(labels.kinds) <= set(JUNK_KINDS)
        assert labels.junk_seconds() == pytest.approx(
            raw.duration - sum(s.raw_length for s in edl.segments) / raw.sample_rate, abs=0.01
        )


def test_repeats_and_false_starts_say_which_song_span_they_copy(tracks):
    track = load_audio(tracks / "song_a.wav")
    settings = JamSettings(junk_fraction=(0.4, 0.5), voice="formant")
    for seed in range(12):  # most jams of this size hold a repeat or a false start
        pair = make_jam(track, seed, settings=settings)
        copies = [s for s in pair.labels.junk if s.same_as_s is not None]
        if copies:
            break
    assert copies, "no jam of 12 held an exact copy"
    y, sr = pair.raw.samples.mean(axis=0), pair.raw.sample_rate
    for span in copies:
        a, b = int(round(span.start_s * sr)), int(round(span.end_s * sr))
        c = int(round(span.same_as_s[0] * sr))
        assert span.kind in ("repeat", "false_start") and c + b - a <= y.size
        # the same music; only the chain's noise floor differs
        assert np.corrcoef(y[a:b], y[c : c + b - a])[0, 1] > 0.99


def test_same_seed_same_files_and_user_files_are_never_overwritten(tracks, jams, tmp_path):
    again = tmp_path / "again"
    write_jams(tracks, again, per_track=2, seed=3, progress=False)
    for path in sorted(jams.rglob("*")):
        if path.is_file():
            assert (again / path.relative_to(jams)).read_bytes() == path.read_bytes(), path
    # a user's file where a jam would go is kept, and that jam alone fails
    mine = tmp_path / "mine"
    (mine / "input").mkdir(parents=True)
    user_file = mine / "input" / "song_a_j0_raw.flac"
    user_file.write_bytes(b"my recording")
    result = write_jams(tracks, mine, per_track=1, seed=3, progress=False)
    assert user_file.read_bytes() == b"my recording"
    assert list(result.failed) == ["song_a_j0"] and "already exists" in result.failed["song_a_j0"]
    assert result.written == ["song_b_j0"]
    # a rerun skips what is finished
    assert write_jams(tracks, again, per_track=2, seed=3, progress=False).skipped == _names(jams)


def test_a_corrupt_or_too_short_track_is_named_and_skipped(tracks, tmp_path):
    folder = tmp_path / "tracks"
    folder.mkdir()
    (folder / "good.wav").write_bytes((tracks / "song_a.wav").read_bytes())
    (folder / "broken.ogg").write_bytes(b"OggS not really")
    sf.write(folder / "short.wav", np.zeros(22050 * 5, np.float32) + 0.1, 22050)
    result = write_jams(folder, tmp_path / "out", seed=1, progress=False)
    assert result.written == ["good_j0"]
    assert set(result.failed) == {"broken_j0", "short_j0"}
    assert "broken.ogg" in result.failed["broken_j0"] and "short.wav" in result.failed["short_j0"]
    assert "too short" in result.failed["short_j0"] or "shorter" in result.failed["short_j0"]


@pytest.mark.parametrize("kind", JUNK_KINDS)
def test_every_junk_maker_makes_finite_audio_of_its_kind(tracks, kind):
    track = load_audio(tracks / "song_b.flac")
    rng = np.random.default_rng(7)
    material, _ = _load_material(track, rng, JamSettings(voice="formant"), DEFAULT_PARAMS)
    ctx = JamContext(material, rng, JamSettings(voice="formant"))
    position = int(material.downbeats[len(material.downbeats) // 2])
    piece = JUNK_MAKERS[kind](ctx, position)
    assert piece.kind == kind
    assert piece.samples.ndim == 2 and piece.samples.shape[0] == material.samples.shape[0]
    assert piece.samples.shape[1] > 0.3 * material.sample_rate and np.isfinite(piece.samples).all()
    assert np.abs(piece.samples).max() < 4.0
    if piece.copy_of is not None:
        a, b = piece.copy_of
        np.testing.assert_array_equal(piece.samples[:, : b - a], material.samples[:, a:b])


def test_settings_that_make_no_sense_are_refused():
    with pytest.raises(MusicEditError, match="junk_fraction"):
        JamSettings(junk_fraction=(0.5, 0.2))
    with pytest.raises(MusicEditError, match="voice"):
        JamSettings(voice="robot")


def test_junk_fraction_follows_the_request(tracks):
    track = load_audio(tracks / "song_a.wav")
    low = [make_jam(track, s, settings=JamSettings(junk_fraction=(0.08, 0.1), voice="formant")) for s in (1, 2)]
    high = [make_jam(track, s, settings=JamSettings(junk_fraction=(0.45, 0.5), voice="formant")) for s in (1, 2)]
    assert max(j.info["junk_fraction"] for j in low) < min(j.info["junk_fraction"] for j in high)
    assert isinstance(low[0].raw, Audio)

"""Tests of editor_env.synth: exact ground truth, length ratio, determinism, the data-set layout."""

from __future__ import annotations

import functools
import json

import numpy as np
import pytest

from editor_env.audio import analysis_signal, mel_spectrogram
from editor_env.edl import EditList
from editor_env.errors import MusicEditError
from editor_env.ops import EditOp
from editor_env.params import DEFAULT_PARAMS
from editor_env.render import render
from editor_env.synth import (
    JUNK_LABELS,
    RATIO_BOUNDS,
    beat_samples,
    generate_pair,
    ops_from_edl,
    plot_pair,
    write_dataset,
)

SHORT = (20.0, 30.0)  # seconds: keeps every test fast


@functools.cache
def pair(seed: int, effects: bool = True, **kwargs):
    return generate_pair(seed, duration_range_s=SHORT, effects=effects, **kwargs)


def mel(audio):
    return mel_spectrogram(analysis_signal(audio))


def test_ratio_within_bounds_over_seeds():
    for seed in range(10):
        p = pair(seed)
        ratio = p.edit.n_samples / p.raw.n_samples
        assert RATIO_BOUNDS[0] <= ratio <= RATIO_BOUNDS[1], (seed, ratio)
        assert p.info["ratio"] == ratio
        assert p.edit.n_samples == p.edl.output_length()


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_pointers_give_back_the_edit_without_effects(seed):
    p = pair(seed, effects=False)
    raw_mel, edit_mel = mel(p.raw), mel(p.edit)
    assert edit_mel.shape[1] == p.pointers.size
    assert p.pointers.max() < raw_mel.shape[1]
    l1 = np.abs(raw_mel[:, p.pointers] - edit_mel).mean()
    # Measured 0.005-0.016 over 16 seeds (the residue is the sub-frame offset of beats that are
    # not a whole number of hops, seen mostly in the noise floor); pointers one frame off give
    # 0.018-0.05.
    assert l1 < 0.02
    for shift in (-1, 1):
        shifted = np.clip(p.pointers + shift, 0, raw_mel.shape[1] - 1)
        assert np.abs(raw_mel[:, shifted] - edit_mel).mean() > l1


@pytest.mark.parametrize("seed", [1, 5])
def test_pointers_give_back_the_edit_on_copy_frames_with_effects(seed):
    p = pair(seed, effects=True)
    assert p.info["edit_features"]["gain"] or p.info["edit_features"]["fade_in"]
    raw_mel, edit_mel = mel(p.raw), mel(p.edit)
    copy = p.ops == EditOp.COPY
    assert copy.mean() > 0.3
    assert np.abs(raw_mel[:, p.pointers[copy]] - edit_mel[:, copy]).mean() < 0.02


@pytest.mark.parametrize("seed", range(6))
def test_ops_mark_the_jumps(seed):
    p = pair(seed)
    assert p.ops.dtype == np.int8 and p.pointers.dtype == np.int64
    assert p.ops.shape == p.pointers.shape
    step = np.diff(p.pointers)
    assert p.ops[0] == EditOp.SKIP  # the count-in or tuning is cut
    np.testing.assert_array_equal(p.ops[1:] == EditOp.SKIP, step > 1)
    np.testing.assert_array_equal(p.ops[1:] == EditOp.LOOP, step < 1)
    features = p.info["edit_features"]
    assert (EditOp.LOOP in p.ops) == (features["loop"] or features["reorder"])
    assert (EditOp.FADE in p.ops) == (features["fade_in"] or features["fade_out"])
    assert (EditOp.GAIN in p.ops) == features["gain"]
    np.testing.assert_array_equal(ops_from_edl(p.edl), p.ops)


def test_effects_false_makes_only_cuts():
    for seed in range(6):
        p = pair(seed, effects=False)
        assert all(seg.effects.is_neutral() for seg in p.edl.segments)
        assert set(np.unique(p.ops)) <= {EditOp.COPY, EditOp.SKIP, EditOp.LOOP}


def test_restructure_false_keeps_the_song_in_order():
    """Without the random moves and repeats the edit is the raw's non-junk sections, in raw order, each once."""
    seen_moves = False
    for seed in range(8):
        p = pair(seed, restructure=False)
        assert p.info["restructure"] is False
        assert not p.info["edit_features"]["reorder"] and not p.info["edit_features"]["loop"]
        sections = [(s["start_beat"], s["end_beat"]) for s in p.info["raw_sections"] if not s["junk"]]
        assert [(seg.raw_start_beat, seg.raw_end_beat) for seg in p.edl.segments] == sections
        assert np.all(np.diff(p.pointers) > 0) and RATIO_BOUNDS[0] <= p.edit.n_samples / p.raw.n_samples
        features = pair(seed).info["edit_features"]
        seen_moves |= features["reorder"] or features["loop"]
        assert "restructure" not in pair(seed).info  # the default writes the same files as before
    assert seen_moves  # the default does move or repeat sections for some of these seeds


def test_layout_and_beat_grid():
    p = pair(3)
    info, spb = p.info, p.info["samples_per_beat"]
    sections = info["raw_sections"]
    assert sections[0]["label"] in ("count_in", "tuning") and sections[-1]["label"] == "tail"
    assert sections[0]["start_beat"] == 0
    for a, b in zip(sections[:-1], sections[1:]):
        assert a["end_beat"] == b["start_beat"]
    assert sections[-1]["end_beat"] * spb == p.raw.n_samples
    assert len(info["beat_times_s"]) == len(info["downbeats"]) == p.raw.n_samples // spb
    assert {s["label"] for s in sections if s["junk"]} <= set(JUNK_LABELS)
    kept = {(s["start_beat"], s["end_beat"]) for s in sections if not s["junk"]}
    for seg in p.edl.segments:
        assert seg.raw_start == seg.raw_start_beat * spb and seg.raw_end == seg.raw_end_beat * spb
        assert any(a <= seg.raw_start_beat and seg.raw_end_beat <= b for a, b in kept)
    assert abs(info["bpm"] - 60 * info["sample_rate"] / spb) < 1e-9
    assert 70 <= info["bpm"] <= 170


def test_every_cut_lies_on_the_frame_grid():
    hop = DEFAULT_PARAMS.hop_length
    for seed in range(4):
        p = pair(seed)
        assert p.info["samples_per_beat"] % hop == 0
        assert all(s.raw_start % hop == 0 and s.raw_end % hop == 0 for s in p.edl.segments)
        for seg, out_start in zip(p.edl.segments, p.edl.output_starts()):  # a segment's first frame is its raw start
            assert out_start % hop == 0 and p.pointers[out_start // hop] == seg.raw_start // hop
        # so an edit read back from the frame pointers copies exactly the reference's samples
        again = EditList.from_pointers(p.pointers, sample_rate=p.raw.sample_rate, raw_length=p.raw.n_samples)
        np.testing.assert_array_equal(again.to_pointers()[: p.pointers.size], p.pointers)
        starts = sorted(s.raw_start for s in again.segments)
        assert set(starts) <= {s.raw_start for s in p.edl.segments} | {0}
    # 44.1 kHz: the hop is 1024 samples there; 16 kHz has no whole-sample hop, beats round to samples
    assert beat_samples(120.0, 44100) % 1024 == 0 and beat_samples(120.0, 16000) == 8000
    assert 70 <= 60 * 22050 / beat_samples(70.0, 22050) and 60 * 22050 / beat_samples(170.0, 22050) <= 170


def test_edl_json_renders_the_same_edit():
    p = pair(1)
    again = EditList.from_json_dict(json.loads(json.dumps(p.edl.to_json_dict())))
    assert [(s.raw_start, s.raw_end) for s in again.segments] == [(s.raw_start, s.raw_end) for s in p.edl.segments]
    np.testing.assert_array_equal(render(again, p.raw), p.edit.samples)


def test_stereo_44k_pair():
    p = generate_pair(7, sample_rate=44100, n_channels=2, duration_range_s=SHORT)
    assert p.raw.samples.shape[0] == 2 and p.raw.sample_rate == 44100
    assert mel(p.edit).shape[1] == p.pointers.size
    assert np.abs(p.edit.samples).max() <= 1.0


def test_same_seed_same_files(tmp_path):
    kwargs = dict(seed=11, duration_range_s=SHORT, progress=False)
    names = write_dataset(tmp_path / "a", 2, **kwargs)
    assert names == ["synth_0000", "synth_0001"]
    write_dataset(tmp_path / "b", 2, workers=2, **kwargs)  # two processes write the same bytes
    files_a = sorted(p.relative_to(tmp_path / "a") for p in (tmp_path / "a").rglob("*.*"))
    files_b = sorted(p.relative_to(tmp_path / "b") for p in (tmp_path / "b").rglob("*.*"))
    assert files_a == files_b and len(files_a) == 14  # 7 files a pair (with _labels.json)
    for rel in files_a:
        assert (tmp_path / "a" / rel).read_bytes() == (tmp_path / "b" / rel).read_bytes(), rel
    pointers = np.load(tmp_path / "a" / "pointer_sequences" / "synth_0000_pointers.npy")
    ops = np.load(tmp_path / "a" / "pointer_sequences" / "synth_0000_ops.npy")
    assert pointers.dtype == np.int64 and ops.dtype == np.int8 and ops.shape == pointers.shape
    edl = EditList.load(tmp_path / "a" / "pointer_sequences" / "synth_0000_edl.json")
    assert all(seg.raw_start_beat is not None for seg in edl.segments)


def test_write_dataset_resumes_and_never_overwrites_user_files(tmp_path):
    kwargs = dict(seed=3, duration_range_s=SHORT, progress=False)
    write_dataset(tmp_path, 1, **kwargs)
    info = tmp_path / "pointer_sequences" / "synth_0000_info.json"
    stamp = info.stat().st_mtime_ns
    write_dataset(tmp_path, 2, **kwargs)  # resumes: sample 0 is skipped
    assert info.stat().st_mtime_ns == stamp
    assert (tmp_path / "input" / "synth_0001_raw.wav").is_file()

    user = tmp_path / "input" / "synth_0002_raw.wav"
    user.write_bytes(b"my own recording")
    with pytest.raises(MusicEditError, match="synth_0002_raw.wav"):
        write_dataset(tmp_path, 3, **kwargs)
    assert user.read_bytes() == b"my own recording"
    assert not (tmp_path / "pointer_sequences" / "synth_0002_info.json").exists()
    write_dataset(tmp_path, 3, overwrite=True, **kwargs)
    assert user.read_bytes()[:4] == b"RIFF"


def test_write_dataset_on_processes_keeps_user_files_and_writes_the_others(tmp_path):
    user = tmp_path / "input" / "synth_0000_raw.wav"
    user.parent.mkdir(parents=True)
    user.write_bytes(b"my own recording")
    with pytest.raises(MusicEditError, match="synth_0000_raw.wav"):
        write_dataset(tmp_path, 2, seed=3, duration_range_s=SHORT, progress=False, workers=2)
    assert user.read_bytes() == b"my own recording"
    assert not (tmp_path / "pointer_sequences" / "synth_0000_info.json").exists()
    assert (tmp_path / "pointer_sequences" / "synth_0001_info.json").is_file()


def test_write_dataset_tells_restructure_apart(tmp_path):
    kwargs = dict(seed=3, duration_range_s=SHORT, progress=False)
    write_dataset(tmp_path, 1, **kwargs)
    with pytest.raises(MusicEditError, match="synth_0000"):  # other settings: never written over silently
        write_dataset(tmp_path, 1, restructure=False, **kwargs)
    write_dataset(tmp_path / "in_order", 1, restructure=False, **kwargs)
    stamp = (tmp_path / "in_order" / "pointer_sequences" / "synth_0000_info.json").stat().st_mtime_ns
    write_dataset(tmp_path / "in_order", 1, restructure=False, **kwargs)  # resumes
    assert (tmp_path / "in_order" / "pointer_sequences" / "synth_0000_info.json").stat().st_mtime_ns == stamp


def test_plot_pair_writes_png(tmp_path):
    path = plot_pair(pair(2), tmp_path / "pair.png")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

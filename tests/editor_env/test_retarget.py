"""The non-learned retarget editor (editor_env.retarget), edit_file and ``musicedit edit``."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import soundfile as sf
from conftest import write

from editor_env.audio import analysis_signal, load_audio
from editor_env.cli import main
from editor_env.edit import edit_file
from editor_env.edl import EditList
from editor_env.errors import MusicEditError
from editor_env.features import analyze_signal
from editor_env.retarget import RetargetConfig, retarget

SR = 22050
BPM = 120.0
BEAT = 60.0 / BPM
GAP = (16.0, 24.0)
"""Seconds of the raw that hold the silent (first half) and noisy (second half) stretch."""


def _bar(chord_hz: tuple[float, ...], rng: np.random.Generator) -> np.ndarray:
    """One 4/4 bar: a low thump on the downbeat, clicks on the other beats, a sustained chord."""
    n = int(4 * BEAT * SR)
    t = np.arange(n) / SR
    y = 0.08 * sum(np.sin(2 * np.pi * f * t) for f in chord_hz)
    for beat in range(4):
        start = int(beat * BEAT * SR)
        tt = np.arange(int((0.12 if beat == 0 else 0.03) * SR)) / SR
        hit = (
            0.8 * np.sin(2 * np.pi * 60 * tt) * np.exp(-tt * 25)
            if beat == 0
            else 0.3 * np.sin(2 * np.pi * 1500 * tt) * np.exp(-tt * 120)
        )
        y[start : start + tt.size] += hit
    return (y + 0.002 * rng.standard_normal(n)).astype(np.float32)


def _jam() -> np.ndarray:
    """A 4-bar phrase (8 s) played twice, 4 s of silence and 4 s of noise, then twice more: 40 s."""
    rng = np.random.default_rng(0)
    chords = [(261.6, 329.6, 392.0), (220.0, 261.6, 329.6), (174.6, 220.0, 261.6), (196.0, 246.9, 293.7)]
    phrase = np.concatenate([_bar(c, rng) for c in chords])
    silence = 0.0005 * rng.standard_normal(int(4 * SR))
    noise = 0.3 * rng.standard_normal(int(4 * SR))
    y = np.concatenate([phrase, phrase, silence, noise, phrase, phrase]).astype(np.float32)
    assert abs(y.size / SR - 40.0) < 1e-6 and abs(2 * phrase.size / SR - GAP[0]) < 1e-6
    return y


@pytest.fixture(scope="module")
def jam(tmp_path_factory):
    path = write(tmp_path_factory.mktemp("jam") / "jam_raw.wav", _jam(), SR)
    raw = load_audio(path)
    return path, raw, analyze_signal(analysis_signal(raw))


def test_retarget_meets_the_target_on_bars_and_drops_the_gap(jam):
    _, raw, analysis = jam
    config = RetargetConfig()
    edl = retarget(analysis, sample_rate=SR, raw_length=raw.n_samples, config=config)
    raw_s = raw.n_samples / SR
    out_s = edl.output_length() / SR
    assert abs(out_s - config.target_ratio * raw_s) <= config.slack_s
    assert edl.meta["paradigm"] == "retarget" and len(edl.segments) >= 1
    bar = np.asarray(analysis.beats.bar_position) % 4
    assert bar[int(edl.segments[0].raw_start_beat)] == 0  # starts on a downbeat
    assert bar[int(edl.segments[-1].raw_end_beat) - 1] == 3  # ends at the end of a bar
    for seg in edl.segments:
        assert seg.raw_end_beat - seg.raw_start_beat >= 4  # one bar at least
        assert seg.raw_start == round(analysis.beats.times[int(seg.raw_start_beat)] * SR)
    for prev, cur in zip(edl.segments[:-1], edl.segments[1:]):
        # every jump lands where the beat after the source would have been in the bar
        assert bar[int(cur.raw_start_beat)] == (bar[int(prev.raw_end_beat) - 1] + 1) % 4
        assert cur.raw_start > prev.raw_end  # shortening: forward jumps only, nothing repeated
    # the silent and noisy stretch is dropped (a beat of tolerance at its edges)
    lo, hi = (GAP[0] + BEAT) * SR, (GAP[1] - BEAT) * SR
    for seg in edl.segments:
        assert seg.raw_end <= lo or seg.raw_start >= hi, (seg.raw_start / SR, seg.raw_end / SR)
    assert edl.meta["dropped_beats"] >= 12


def test_retarget_is_deterministic_and_respects_its_config(jam):
    _, raw, analysis = jam
    a = retarget(analysis, sample_rate=SR, raw_length=raw.n_samples)
    b = retarget(analysis, sample_rate=SR, raw_length=raw.n_samples)
    assert a.to_json_dict() == b.to_json_dict()
    config = RetargetConfig(target_ratio=0.5, slack_s=1.0, min_segment_beats=8)
    c = retarget(analysis, sample_rate=SR, raw_length=raw.n_samples, config=config)
    assert abs(c.output_length() / SR - 20.0) <= 1.0
    assert all(s.raw_end_beat - s.raw_start_beat >= 8 for s in c.segments)
    assert c.meta["config"]["min_segment_beats"] == 8


def test_retarget_says_when_the_target_cannot_be_met(jam):
    _, raw, analysis = jam
    with pytest.raises(MusicEditError, match="Cannot retarget"):
        retarget(
            analysis, sample_rate=SR, raw_length=raw.n_samples, config=RetargetConfig(target_ratio=0.03, slack_s=0.5)
        )
    with pytest.raises(MusicEditError, match="only 32.0 s of it"):  # only 32 s are not silence or noise
        retarget(
            analysis,
            sample_rate=SR,
            raw_length=raw.n_samples,
            config=RetargetConfig(target_ratio=0.9),
        )
    with pytest.raises(MusicEditError, match="analysis covers"):
        retarget(analysis, sample_rate=SR, raw_length=raw.n_samples // 2)
    with pytest.raises(MusicEditError, match="slack_s"):
        RetargetConfig(slack_s=0)


def test_retarget_can_lengthen_with_backward_jumps(jam):
    _, raw, analysis = jam
    edl = retarget(analysis, sample_rate=SR, raw_length=raw.n_samples, config=RetargetConfig(target_ratio=1.3))
    assert abs(edl.output_length() / SR - 52.0) <= 2.0
    bar = np.asarray(analysis.beats.bar_position) % 4
    for prev, cur in zip(edl.segments[:-1], edl.segments[1:]):
        assert bar[int(cur.raw_start_beat)] == (bar[int(prev.raw_end_beat) - 1] + 1) % 4


def test_musicedit_edit_writes_audio_and_edl_and_protects_its_input(jam, tmp_path, capsys):
    raw_path, raw, _ = jam
    out = tmp_path / "out" / "jam_edit.flac"
    assert main(["edit", str(raw_path), "-o", str(out), "--target-ratio", "0.67", "--slack", "2"]) == 0
    printed = capsys.readouterr().out
    assert "segment" in printed and str(out) in printed
    data, sr = sf.read(out, always_2d=True)
    assert sr == SR and abs(data.shape[0] / SR - 0.67 * 40.0) <= 2.0
    edl = EditList.load(tmp_path / "out" / "jam_edit.edl.json")
    assert edl.output_length() == data.shape[0] and edl.meta["source"] == raw_path.name
    assert edl.meta["length_mode"] == "target"
    # without a target the music chooses the length (the shipped content model), within the slack asked for
    auto = tmp_path / "out" / "jam_auto.wav"
    assert main(["edit", str(raw_path), "-o", str(auto), "--slack", "2"]) == 0
    edl = EditList.load(tmp_path / "out" / "jam_auto.edl.json")
    assert edl.meta["length_mode"] == "content"
    assert abs(edl.output_length() / SR - edl.meta["content_target_s"]) <= 2.0 + 1e-3

    before = raw_path.read_bytes()
    assert main(["edit", str(raw_path), "-o", str(raw_path)]) == 2
    assert "Refusing to overwrite the input" in capsys.readouterr().err
    assert raw_path.read_bytes() == before
    with pytest.raises(MusicEditError, match="available policies: retarget"):
        edit_file(raw_path, tmp_path / "x.wav", policy="ppo")
    with pytest.raises(MusicEditError, match="suffix"):
        edit_file(raw_path, tmp_path / "x.mp3")


def test_retarget_config_round_trips_through_the_edl_meta(jam):
    _, raw, analysis = jam
    edl = retarget(analysis, sample_rate=SR, raw_length=raw.n_samples)
    assert RetargetConfig(**edl.meta["config"]) == RetargetConfig()
    assert dataclasses.asdict(RetargetConfig()) == edl.meta["config"]


def test_retarget_refuses_recordings_too_short_or_empty():
    short = analyze_signal(_jam()[: int(1.5 * SR)])
    with pytest.raises(MusicEditError, match="no edit of whole segments of at least 4 beats"):
        retarget(short, sample_rate=SR, raw_length=int(1.5 * SR))
    silent = analyze_signal(np.zeros(4 * SR, np.float32))
    with pytest.raises(MusicEditError, match="Nothing in this recording is worth keeping"):
        retarget(silent, sample_rate=SR, raw_length=4 * SR)

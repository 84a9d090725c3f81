"""The common reward (editor_env.reward) on hand-made recordings: synthetic mels and beat grids."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from editor_env.beats import BeatGrid
from editor_env.edl import EditList, Effects, Segment
from editor_env.errors import MusicEditError
from editor_env.features import Analysis, feature_slice
from editor_env.params import DEFAULT_PARAMS
from editor_env.reward import (
    COMPONENT_DOCS,
    COMPONENTS,
    REFERENCE_COMPONENTS,
    RewardConfig,
    lcs_length,
    score,
)

SR = 22050
FS = DEFAULT_PARAMS.frame_seconds
BEAT = 0.5  # 120 BPM, 4/4
#: the notes (mel bins) of the four beats of each kind of bar
NOTES = {"A": [40, 52, 60, 52], "B": [45, 57, 64, 57], "C": [36, 48, 55, 48]}
#: a jam of 18 bars: a noodled intro, 8 bars of music, a 2-bar silence, 4 more bars, a noodled outro
LAYOUT = "NNAABBAABBSSCCABNN"


def make_raw(layout: str = LAYOUT, seed: int = 0) -> Analysis:
    """An Analysis with a mel drawn by hand: per beat a sustained note (three harmonics,
    slowly decaying) with an onset transient, a kick on every downbeat; bars ``N`` are noise
    (flat features), ``S`` silence. Beats are exactly every 0.5 s; bar position = beat % 4."""
    rng = np.random.default_rng(seed)
    n_beats = 4 * len(layout)
    duration = n_beats * BEAT
    n_frames = 1 + int(duration * SR) // DEFAULT_PARAMS.hop_length
    times = np.arange(n_beats) * BEAT
    beat_frames = np.round(times / FS).astype(int)
    beat = np.searchsorted(beat_frames, np.arange(n_frames), side="right") - 1
    in_beat = (np.arange(n_frames) - beat_frames[beat]) * FS
    mel = np.full((128, n_frames), 0.05)
    bins = np.arange(128)[:, None]
    feats = np.zeros((n_beats, 121), np.float32)
    bounds = np.append(beat_frames, n_frames)
    for i in range(n_beats):
        kind, cols = layout[i // 4], slice(bounds[i], bounds[i + 1])
        t = in_beat[cols]
        if kind == "S":
            feats[i, feature_slice("silence_fraction")] = 1.0
        elif kind == "N":
            mel[:, cols] = rng.uniform(0.35, 0.55, (128, t.size))
            feats[i, feature_slice("spectral_flatness")] = 0.6
        else:
            note = NOTES[kind][i % 4]
            tone = sum(
                amp * np.exp(-0.5 * (bins - h) ** 2) for h, amp in ((note, 0.8), (note + 12, 0.6), (note + 19, 0.45))
            ) * np.exp(-t / 1.5)
            tone = tone + 0.3 * np.exp(-t / 0.03) * (bins > 20)
            if i % 4 == 0:
                tone = tone + 0.9 * np.exp(-t / 0.12) * (bins < 10)
            mel[:, cols] = np.maximum(mel[:, cols], tone)
    mel = np.clip(mel + rng.normal(0, 0.005, mel.shape), 0, 1).astype(np.float32)
    feats[:, feature_slice("bar_position")] = np.eye(4)[np.arange(n_beats) % 4]
    return Analysis(mel, BeatGrid(times, np.arange(n_beats) % 4, 120.0, "librosa"), feats, duration)


def beats_edl(raw: Analysis, spans) -> EditList:
    """An EDL of ``(start_beat, end_beat)`` spans (fractions allowed)."""
    n = int(round(raw.duration * SR))
    segs = [Segment(int(round(a * BEAT * SR)), min(int(round(b * BEAT * SR)), n)) for a, b in spans]
    return EditList(SR, n, segs)


@pytest.fixture(scope="module")
def raw() -> Analysis:
    return make_raw()


@pytest.fixture(scope="module")
def reference(raw) -> EditList:
    """The human edit: bars 2-9 and 12-15 (no noodling, no silence), 12 of 18 bars = 0.667."""
    return beats_edl(raw, [(8, 40), (48, 64)])


def candidates(raw: Analysis, reference: EditList) -> dict:
    n = raw.beats.n_beats
    ref_p = reference.to_pointers()
    rng = np.random.default_rng(5)
    return {
        "keep_all": EditList.keep_all(SR, int(round(raw.duration * SR))),
        "every_third_beat_cut": beats_edl(raw, [(i, i + 2) for i in range(0, n - 1, 3)]),
        "first_67_percent": beats_edl(raw, [(0, 48)]),
        "middle_67_percent": beats_edl(raw, [(12, 60)]),
        "one_bar_looped": beats_edl(raw, [(8, 12)] * 12),
        "bars_shuffled": beats_edl(raw, [(4 * b, 4 * b + 4) for b in [2, 12, 4, 14, 6, 13, 8, 3, 15, 5, 9, 7]]),
        "silence_kept": beats_edl(raw, [(8, 64)]),
        "random_pointers": rng.integers(0, raw.mel.shape[1], ref_p.size),
        "reference_as_noisy_mel": np.clip(raw.mel[:, ref_p] + rng.normal(0, 0.05, (128, ref_p.size)), 0, 1),
        "noise_as_mel": rng.uniform(0, 1, (128, ref_p.size)),
    }


def test_every_component_is_documented_and_in_range(raw, reference):
    assert set(COMPONENT_DOCS) == set(COMPONENTS)
    outputs = {"reference": reference, **candidates(raw, reference)}
    for name, output in outputs.items():
        for ref in (reference, reference.to_pointers(), None):
            result = score(raw, output, ref)
            assert 0.0 <= result.total <= 1.0, name
            assert set(result.components) <= set(COMPONENTS)
            assert all(0.0 <= v <= 1.0 for v in result.components.values()), (name, result.components)
            assert set(result.weights_used) == set(result.components)
            assert sum(result.weights_used.values()) == pytest.approx(1.0)
            assert ref is not None or not set(REFERENCE_COMPONENTS) & set(result.components)
            if np.ndim(output) == 2:  # a generated mel has no seams: left out, weights renormalised
                assert "seam_quality" not in result.components
            json.dumps(result.to_dict())


def test_reference_scores_highest_against_itself(raw, reference):
    best = score(raw, reference, reference)
    for c in REFERENCE_COMPONENTS:
        assert best.components[c] == pytest.approx(1.0)
    assert best.total > 0.98
    # the same edit given as pointers, on either side, is still a perfect match
    as_pointers = score(raw, reference.to_pointers(), reference)
    for c in REFERENCE_COMPONENTS:
        assert as_pointers.components[c] == pytest.approx(1.0)
    assert score(raw, reference, reference.to_pointers()).total == pytest.approx(best.total, abs=0.01)
    for name, output in candidates(raw, reference).items():
        margin = 0.0 if name == "reference_as_noisy_mel" else 0.05  # a blurred copy of the right edit
        assert score(raw, output, reference).total < best.total - margin, name


def test_no_degenerate_edit_beats_the_reference_by_gaming_one_component(raw, reference):
    ref_result = score(raw, reference, reference)
    hack = score(raw, candidates(raw, reference)["every_third_beat_cut"], reference)
    assert hack.components["length"] == pytest.approx(1.0)  # the hack hits the length exactly ...
    for c in ("seam_quality", "cut_f_measure", "sequence_similarity"):  # ... and loses on all of these
        assert hack.components[c] < ref_result.components[c] - 0.2, c
    assert hack.total < ref_result.total - 0.3
    # without a reference the intrinsic components alone still rank the reference first
    alone = score(raw, reference).total
    for name in ("keep_all", "every_third_beat_cut", "one_bar_looped", "bars_shuffled", "silence_kept"):
        assert score(raw, candidates(raw, reference)[name]).total < alone, name


def test_seam_on_a_downbeat_between_similar_bars_beats_one_in_a_sustained_note(raw):
    # bar 2 (A) then the downbeat of bar 7 (A again): sounds like bar 3 would have
    on_downbeat = score(raw, beats_edl(raw, [(8, 12), (28, 32)]))
    # from the middle of the sustained E of beat 9 into the middle of beat 18's note (bar 4, B)
    mid_note = score(raw, beats_edl(raw, [(8, 9.5), (18.5, 22)]))
    assert on_downbeat.details["n_seams"] == mid_note.details["n_seams"] == 1
    assert on_downbeat.components["seam_quality"] > 0.9
    assert mid_note.components["seam_quality"] < on_downbeat.components["seam_quality"] - 0.3
    assert mid_note.details["seam_phase"] < on_downbeat.details["seam_phase"]
    assert mid_note.details["seam_spectral"] < on_downbeat.details["seam_spectral"]
    # a downbeat jump that lands on beat 3 of a bar breaks the bar phase
    off_phase = score(raw, beats_edl(raw, [(8, 12), (30, 34)]))
    assert off_phase.components["seam_quality"] < on_downbeat.components["seam_quality"]


def test_keep_everything_loses_on_length(raw, reference):
    keep_all = score(raw, candidates(raw, reference)["keep_all"], reference)
    assert keep_all.details["ratio"] == pytest.approx(1.0)
    assert keep_all.components["length"] < 0.1 < score(raw, reference, reference).components["length"]
    assert keep_all.components["seam_quality"] == 1.0 and keep_all.details["n_seams"] == 0


def test_length_is_flat_inside_the_slack_and_falls_smoothly():
    from editor_env.reward import length_score

    cfg = RewardConfig()
    assert length_score(0.67, cfg) == length_score(0.71, cfg) == length_score(0.63, cfg) == 1.0
    values = [length_score(r, cfg) for r in np.linspace(0.72, 1.2, 20)]
    assert all(a > b for a, b in zip(values, values[1:])) and values[-1] < 0.01


def test_kept_silence_lowers_silence(raw, reference):
    clean = score(raw, reference, reference)
    silent = score(raw, candidates(raw, reference)["silence_kept"], reference)
    assert silent.components["silence"] < clean.components["silence"] - 0.1
    assert silent.details["silent_fraction"] == pytest.approx(8 / 56, abs=0.02)  # 2 silent bars of 14
    noodle = score(raw, beats_edl(raw, [(0, 32)]))  # starts with the noise bars
    assert noodle.components["silence"] == pytest.approx(0.75, abs=0.02)


def test_one_bar_repeated_lowers_repetition(raw, reference):
    looped = score(raw, candidates(raw, reference)["one_bar_looped"], reference)
    assert looped.components["repetition"] < 0.25
    assert score(raw, beats_edl(raw, [(8, 12)] * 2)).components["repetition"] == 1.0  # a loop of two is fine
    assert score(raw, reference, reference).components["repetition"] == 1.0


def test_mel_only_output_equal_to_the_reference_mel_scores_like_the_reference(raw, reference):
    ref_result = score(raw, reference, reference)
    mel = raw.mel[:, reference.to_pointers()]
    result = score(raw, mel, reference)
    assert result.details["output_kind"] == "mel"
    assert "seam_quality" not in result.components
    assert result.components["sequence_similarity"] > 0.95
    assert result.components["cut_f_measure"] > 0.9
    assert result.components["mel_similarity"] == pytest.approx(1.0)
    assert abs(result.total - ref_result.total) < 0.03
    # a blurrier generated mel still beats the degenerate edits
    noisy = score(raw, candidates(raw, reference)["reference_as_noisy_mel"], reference)
    assert noisy.total > score(raw, candidates(raw, reference)["every_third_beat_cut"], reference).total


def test_empty_output_scores_zero(raw, reference):
    for output in (np.zeros(0, dtype=np.int64), np.zeros((128, 0), np.float32)):
        result = score(raw, output, reference)
        assert result.total == 0.0 and result.details["empty"]


def test_vectorised_pointers_match_the_edl(raw):
    n = int(round(raw.duration * 44100))
    edl = EditList(
        44100,
        n,
        [
            Segment(0, 44100),
            Segment(88200, 132300, Effects(reverse=True)),
            Segment(132300, 220500, Effects(stretch=1.25)),
            Segment(300000, 400000, Effects(stretch=0.8, gain_db=-3)),
        ],
    )
    pointers = edl.to_pointers(DEFAULT_PARAMS)
    frames_per_s = DEFAULT_PARAMS.sample_rate / DEFAULT_PARAMS.hop_length
    assert (
        pointers[0] == 0 and abs(pointers[int(1.5 * frames_per_s)] - 2.5 * frames_per_s) <= 1
    )  # reversed: runs back from 3 s
    result = score(make_raw(seed=0), edl)
    assert 0 <= result.total <= 1 and result.details["n_seams"] == 3


def test_lcs_matches_dynamic_programming():
    rng = np.random.default_rng(3)
    for _ in range(30):
        a, b = rng.integers(0, 6, rng.integers(0, 40)), rng.integers(0, 6, rng.integers(0, 90))
        table = np.zeros((a.size + 1, b.size + 1), int)
        for i in range(a.size):
            for j in range(b.size):
                table[i + 1, j + 1] = table[i, j] + 1 if a[i] == b[j] else max(table[i, j + 1], table[i + 1, j])
        assert lcs_length(a, b) == table[-1, -1]


def test_config_json_round_trip_and_errors(tmp_path):
    shipped = Path(__file__).resolve().parents[2] / "configs" / "reward.json"
    assert RewardConfig.from_json(shipped) == RewardConfig()
    cfg = RewardConfig(weights={"silence": 2.0}, target_ratio=0.5)
    assert cfg.weights["length"] == 1.0  # names left out keep their default
    path = cfg.to_json(tmp_path / "reward.json")
    assert RewardConfig.from_json(path) == cfg

    def write(data) -> Path:
        (tmp_path / "bad.json").write_text(json.dumps(data))
        return tmp_path / "bad.json"

    with pytest.raises(MusicEditError, match="target_ratioo"):
        RewardConfig.from_json(write({"target_ratioo": 0.6}))
    with pytest.raises(MusicEditError, match="seam_qualty"):
        RewardConfig.from_json(write({"weights": {"seam_qualty": 1.0}}))
    with pytest.raises(MusicEditError, match=r"weights\['length'\]"):
        RewardConfig.from_json(write({"weights": {"length": -1}}))
    with pytest.raises(MusicEditError, match="ratio_slack"):
        RewardConfig.from_json(write({"ratio_slack": "wide"}))
    with pytest.raises(MusicEditError, match="target_ratio"):
        RewardConfig(target_ratio=0.0)
    with pytest.raises(MusicEditError, match="Cannot read"):
        RewardConfig.from_json(tmp_path / "missing.json")


def test_weights_choose_and_renormalise(raw, reference):
    only_length = RewardConfig(weights=dict.fromkeys(COMPONENTS, 0.0) | {"length": 1.0})
    result = score(raw, reference, reference, config=only_length)
    assert result.total == pytest.approx(result.components["length"])
    only_reference = RewardConfig(weights=dict.fromkeys(COMPONENTS, 0.0) | {"sequence_similarity": 1.0})
    with pytest.raises(MusicEditError, match="no weight"):
        score(raw, reference, None, config=only_reference)


def test_bad_inputs_are_named(raw, reference):
    with pytest.raises(MusicEditError, match="raw frames"):
        score(raw, np.array([0, 1, 10**6]))
    with pytest.raises(MusicEditError, match="integer"):
        score(raw, np.array([0.5, 1.5]))
    with pytest.raises(MusicEditError, match="bins"):
        score(raw, np.zeros((64, 100), np.float32))
    with pytest.raises(MusicEditError, match="normalised"):
        score(raw, np.full((128, 100), -40.0, np.float32))
    with pytest.raises(MusicEditError, match="another recording|made for"):
        score(raw, EditList.keep_all(SR, SR * 5))
    with pytest.raises(MusicEditError, match="reference"):
        score(raw, reference, raw.mel)


def test_ten_minute_agent_edit_scores_in_range():
    """A 10-minute recording and an agent-style EDL of one segment per kept beat (timed by
    scripts/bench_env.py, not here: tests check behaviour)."""
    rng = np.random.default_rng(0)
    raw = make_raw("".join(rng.choice(list("AABBCNS"), 300)))  # 300 bars = 10 minutes
    assert raw.duration == 600.0
    keep_bars = np.sort(rng.choice(300, 200, replace=False))
    reference = beats_edl(raw, [(4 * b, 4 * b + 4) for b in keep_bars]).to_pointers()
    output = beats_edl(raw, [(int(b), int(b) + 1) for b in np.sort(rng.choice(1200, 800, replace=False))])
    result = score(raw, output, reference)
    assert all(0.0 <= v <= 1.0 for v in result.components.values())
    assert result.total < score(raw, reference, reference).total


def test_playing_an_identical_copy_of_the_material_is_no_mistake(raw, reference):
    # bars 2 and 3 are both A: playing bar 3 twice sounds exactly like the reference
    copy = score(raw, beats_edl(raw, [(12, 16), (12, 40), (48, 64)]), reference)
    assert copy.components["sequence_similarity"] == pytest.approx(1.0)
    assert copy.components["cut_f_measure"] == pytest.approx(1.0)
    assert copy.components["seam_quality"] > 0.95
    # with duplicates compared by raw index it is a different edit
    strict = score(
        raw, beats_edl(raw, [(12, 16), (12, 40), (48, 64)]), reference, RewardConfig(duplicate_beat_similarity=2.0)
    )
    assert strict.components["sequence_similarity"] < 0.95 and strict.components["cut_f_measure"] < 0.9


def test_duplicate_beats_blocked_equals_whole_matrix(raw, monkeypatch):
    import editor_env.reward as reward

    whole = reward._Raw(raw, DEFAULT_PARAMS).canonical_beats(0.98)
    assert (whole != np.arange(whole.size)).sum() > 10  # the A and B bars repeat
    assert np.all(whole <= np.arange(whole.size))
    for block in (1, 7, 64):
        monkeypatch.setattr(reward, "_CANONICAL_BLOCK", block)
        np.testing.assert_array_equal(reward._Raw(raw, DEFAULT_PARAMS).canonical_beats(0.98), whole)


# -- the content component --------------------------------------------------------------------
def _layout_labels(raw: Analysis, layout: str = LAYOUT):
    """Junk labels of a hand-made raw: noodled (N) and silent (S) bars are junk."""
    from editor_env.labels import JunkSpan, RawLabels

    spans = [
        JunkSpan(4 * BEAT * i, 4 * BEAT * (i + 1), "noodle" if kind == "N" else "dead_air")
        for i, kind in enumerate(layout)
        if kind in "NS"
    ]
    merged = []
    for span in spans:  # neighbouring bars of one kind make one span
        if merged and merged[-1].kind == span.kind and abs(merged[-1].end_s - span.start_s) < 1e-9:
            merged[-1] = JunkSpan(merged[-1].start_s, span.end_s, span.kind)
        else:
            merged.append(span)
    return RawLabels(raw.duration, merged)


def _bars(raw: Analysis, bars: list[int]) -> np.ndarray:
    """Pointers that play the given bars in order."""
    per_bar = 4 * BEAT / FS
    return np.concatenate([np.arange(int(round(b * per_bar)), int(round((b + 1) * per_bar))) for b in bars])


def test_content_is_one_for_the_truth_and_zero_for_keeping_everything():
    raw = make_raw()
    labels = _layout_labels(raw)
    song_bars = [i for i, kind in enumerate(LAYOUT) if kind not in "NS"]
    truth = score(raw, _bars(raw, song_bars), labels=labels)
    everything = score(raw, np.arange(raw.mel.shape[1]), labels=labels)
    assert truth.components["content"] == pytest.approx(1.0, abs=0.02)
    assert everything.components["content"] == 0.0
    assert truth.details["content_source"] == "labels"
    assert "content" not in score(raw, _bars(raw, song_bars)).components  # neither labels nor a model: left out


def test_reference_free_reward_prefers_the_junk_free_edit_to_a_same_length_excerpt():
    from editor_env.content import CONTENT_KINDS, ContentPrediction

    raw = make_raw()
    song_bars = [i for i, kind in enumerate(LAYOUT) if kind not in "NS"]
    excerpt = list(range(len(song_bars)))  # as many bars from the start: it plays the noodled intro
    n_beats = raw.beats.n_beats
    junk = np.repeat([kind in "NS" for kind in LAYOUT], 4).astype(float)
    # a content model that is right but not certain
    prediction = ContentPrediction(
        0.15 + 0.7 * (1 - junk), np.full((n_beats, len(CONTENT_KINDS)), 1 / len(CONTENT_KINDS))
    )
    good = score(raw, _bars(raw, song_bars), content=prediction)
    plain = score(raw, _bars(raw, excerpt), content=prediction)
    assert good.details["content_source"] == "content model"
    assert (
        good.components["content"] > plain.components["content"] + 0.1
    )  # an uncertain model: below 1 even for the truth
    assert good.total > plain.total
    with pytest.raises(MusicEditError, match="beats"):
        score(raw, _bars(raw, song_bars), content=ContentPrediction(np.ones(3), np.ones((3, len(CONTENT_KINDS)))))

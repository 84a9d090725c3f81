"""The editing controls (editor_env.constraints): every option honoured by every paradigm on generated audio,
impossible requests refused before any work, alternatives distinct and in reward order, seam previews."""

from __future__ import annotations

import json

import numpy as np
import pytest
import soundfile as sf

from editor_env.constraints import (
    ENDING_FADE_S,
    EditConstraints,
    beat_masks,
    constraint_report,
    parse_region,
    phrase_boundaries,
)
from editor_env.errors import MusicEditError

th = pytest.importorskip("torch")

KEEP = [(2.0, 6.0), (30.0, 33.0)]
CUT = [(12.0, 16.0)]


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def write(path, samples: np.ndarray, sample_rate: int):
    """Write ``(channels, n)`` samples (the shared conftest's ``write`` is shadowed by tests/policies/conftest.py
    when both folders are collected)."""
    sf.write(path, samples.T, sample_rate)
    return path


def _constraints(**overrides) -> EditConstraints:
    values = dict(target_duration_s=20.0, slack_s=1.5, keep_regions=KEEP, cut_regions=CUT, n_alternatives=3)
    values.update(overrides)
    return EditConstraints(**values)


@pytest.fixture(scope="module")
def jam(tmp_path_factory):
    """A 38 s generated jam written to disk, its audio and its analysis."""
    from editor_env.audio import analysis_signal, load_audio
    from editor_env.features import analyze_signal
    from editor_env.synth import generate_pair

    pair = generate_pair(3, duration_range_s=(30.0, 40.0))
    path = write(tmp_path_factory.mktemp("jam") / "jam_raw.wav", pair.raw.samples, pair.raw.sample_rate)
    raw = load_audio(path)
    return path, raw, analyze_signal(analysis_signal(raw))


def _request(jam, constraints, checkpoint=None):
    from editor_env.paradigms import EditRequest

    path, raw, analysis = jam
    return EditRequest(
        analysis,
        raw.sample_rate,
        raw.n_samples,
        raw_path=path,
        checkpoint=None if checkpoint is None else str(checkpoint),
        device="cpu",
        constraints=constraints,
    )


# -- the request itself -------------------------------------------------------------------------
def test_regions_parse_seconds_and_minutes():
    assert parse_region("12.5-30") == (12.5, 30.0)
    assert parse_region("1:05-1:40.5", "--cut") == (65.0, 100.5)
    for bad, match in (("30-12", "must come after"), ("abc", "START-END"), ("1:x-2", "START-END")):
        with pytest.raises(MusicEditError, match=match):
            parse_region(bad, "--keep")


@pytest.mark.parametrize(
    ("values", "raw_s", "match"),
    [
        (dict(keep_regions=[(5, 15)], cut_regions=[(10, 20)]), 60, r"--keep 5-15 and --cut 10-20 overlap \(10-15 s\)"),
        (dict(target_duration_s=10, slack_s=1, keep_regions=[(0, 8), (20, 25)]), 60, "total 13.0 s, longer than"),
        (dict(keep_regions=[(50, 70)]), 60, "--keep 50-70 lies outside the recording, which lasts 60.00 s"),
        (dict(cut_regions=[(0, 50)], target_ratio=0.5), 60, "only 10.0 s of the 60.0 s recording remain"),
        (dict(target_ratio=0.5, target_duration_s=20), None, "not both"),
        (dict(n_alternatives=0), None, "--alternatives 0"),
        (dict(ending="abrupt"), None, "--ending 'abrupt'"),
        (dict(slack_s=-1), None, "--slack"),
    ],
)
def test_impossible_requests_fail_fast_and_say_why(values, raw_s, match):
    with pytest.raises(MusicEditError, match=match):
        EditConstraints(**values).validate(raw_s)


def test_rounding_rule_keep_any_overlap_cut_more_than_half():
    times = np.arange(0.0, 10.0, 0.5)  # 20 beats of 0.5 s
    c = EditConstraints(keep_regions=[(1.2, 1.3)], cut_regions=[(2.1, 2.9), (3.2, 3.3), (1.45, 1.6)])
    keep, cut = beat_masks(c, times, 10.0)
    assert np.flatnonzero(keep).tolist() == [2]  # 0.1 s of a beat is enough to lock it
    assert np.flatnonzero(cut).tolist() == [4, 5]  # 0.4 of 0.5 s; 0.1 s is rounding; beat 2 stays kept
    bounds = np.append(times, 10.0)
    snapped = EditConstraints(target_duration_s=1.0, slack_s=0.1, keep_regions=[(0.9, 1.6)])
    snapped.validate(10.0)  # 0.7 s of keep regions fit 1 +- 0.1 s ...
    with pytest.raises(MusicEditError, match="widened to whole beats, last 1.5 s"):
        snapped.validate(10.0, bounds[:-1])  # ... but not the 3 beats they touch


def test_phrase_boundaries_count_four_bars_from_the_first_downbeat():
    bar_position = np.array([2, 3] + [0, 1, 2, 3] * 9)  # a pickup of two beats, then 9 bars
    starts = np.flatnonzero(phrase_boundaries(bar_position))
    assert starts.tolist() == [0, 2, 18, 34, 38]  # the start, bars 0, 4 and 8, the end
    silent = np.zeros(38, dtype=bool)
    silent[25:30] = True  # the music stops at beat 25: an ending there is graceful too
    assert np.flatnonzero(phrase_boundaries(bar_position, silent=silent)).tolist() == [0, 2, 18, 25, 34, 38]


# -- every paradigm honours every option -----------------------------------------------------------
def _check(edls, jam, constraints, n):
    """Distinct edits, in reward order, each meeting the constraints (the one checker)."""
    _, _, analysis = jam
    assert len(edls) == n
    assert len({tuple((s.raw_start, s.raw_end) for s in e.segments) for e in edls}) == n
    rewards = [e.meta["reward"]["total"] for e in edls]
    assert rewards == sorted(rewards, reverse=True)
    assert [e.meta["rank"] for e in edls] == list(range(1, n + 1))
    for edl in edls:
        report = constraint_report(edl, constraints, analysis)
        assert report["ok"], report
        assert edl.meta["constraints_report"]["ok"]


@pytest.mark.parametrize("ending", ["phrase", "fade"])
def test_retarget_honours_regions_duration_ending_and_alternatives(jam, ending):
    from editor_env.paradigms import run_alternatives

    constraints = _constraints(ending=ending)
    edls = run_alternatives("retarget", _request(jam, constraints))
    _check(edls, jam, constraints, 3)
    for e in edls:  # the ending fades out ENDING_FADE_S, or half the last segment when that is shorter
        last = e.segments[-1]
        fade = min(ENDING_FADE_S, last.raw_length / e.sample_rate / 2)
        assert e.meta["ending"]["met"] and abs(last.effects.fade_out_s - fade) < 1e-6


@pytest.fixture(scope="module")
def pointer_checkpoint(tmp_path_factory):
    from pointer_baseline.checkpoint import save_checkpoint
    from pointer_baseline.model import PointerModelConfig, PointerNetwork

    th.manual_seed(0)
    config = PointerModelConfig(
        d_model=16, n_heads=2, n_layers=1, ffn_mult=2, conv_kernel=5, n_summary=4, max_delta=8, jump_chunk=8, key_dim=8
    )
    return save_checkpoint(tmp_path_factory.mktemp("pointer") / "tiny.pt", PointerNetwork(config))


def test_pointer_network_honours_regions_duration_ending_and_alternatives(jam, pointer_checkpoint):
    from editor_env.paradigms import run_alternatives

    constraints = _constraints(ending="phrase")
    edls = run_alternatives("pointer", _request(jam, constraints, pointer_checkpoint))
    _check(edls, jam, constraints, 3)
    assert all(e.meta["decoding"] == "constrained beam search" and e.meta["ending"]["met"] for e in edls)


@pytest.fixture(scope="module")
def agent_checkpoint(jam, tmp_path_factory):
    """An untrained tiny agent (the masks, not its training, make it obey)."""
    from editor_env.env import MusicEditEnv
    from editor_env.tasks import EditingTask
    from policies.policy import MusicEditPolicy
    from policies.ppo import BCMaskablePPO

    env = MusicEditEnv(tasks=[EditingTask("jam", jam[2])])
    extractor = {"hidden_dim": 64, "num_heads": 2, "kernel_size": 3, "num_layers": 1, "features_dim": 32}
    model = BCMaskablePPO(
        MusicEditPolicy,
        env,
        n_steps=64,
        batch_size=32,
        seed=0,
        device="cpu",
        policy_kwargs={"features_extractor_kwargs": extractor, "net_arch": {"pi": [16], "vf": [16]}},
    )
    path = tmp_path_factory.mktemp("agent") / "tiny_agent.zip"
    model.save(path)
    return path


@pytest.mark.parametrize("paradigm", ["bc", "bc_ppo"])
def test_agent_honours_regions_duration_ending_and_alternatives(jam, agent_checkpoint, paradigm):
    from editor_env.paradigms import run_alternatives

    constraints = _constraints(ending="fade", slack_s=2.0)
    edls = run_alternatives(paradigm, _request(jam, constraints, agent_checkpoint))
    _check(edls, jam, constraints, 3)


def test_supervised_labels_honour_the_regions_and_refuse_alternatives(jam, tmp_path):
    from editor_env.params import DEFAULT_PARAMS
    from supervised_baseline.checkpoint import save_checkpoint
    from supervised_baseline.config import ModelConfig
    from supervised_baseline.infer import supervised_edit
    from supervised_baseline.model import SupervisedEditModel

    config = ModelConfig(d_model=16, n_heads=2, encoder_layers=1, decoder_layers=1, ff_dim=32, latent_dim=8)
    path = save_checkpoint(
        tmp_path / "tiny.pt",
        {
            "model_config": config.to_dict(),
            "params": DEFAULT_PARAMS.to_dict(),
            "model_state": SupervisedEditModel(config).state_dict(),
        },
    )
    raw_path, _, analysis = jam
    constraints = _constraints(n_alternatives=1, ending="fade")
    result = supervised_edit(raw_path, path, constraints=constraints, audio=False, analysis=analysis, device="cpu")
    assert constraint_report(result.edl, constraints, analysis)["ok"]
    assert result.mel.shape[1] == result.pointers.size  # the generated mel follows the constrained labels
    with pytest.raises(MusicEditError, match="supervised paradigm makes one edit"):
        supervised_edit(raw_path, path, constraints=_constraints(), audio=False, analysis=analysis, device="cpu")


# -- the command line ---------------------------------------------------------------------------------
def test_musicedit_edit_writes_ranked_alternatives_and_seam_previews(jam, tmp_path, capsys):
    from editor_env.cli import main

    raw_path, _, analysis = jam
    out = tmp_path / "out" / "track.wav"
    argv = ["edit", str(raw_path), "-o", str(out), "--target-duration", "0:20", "--slack", "1.5"]
    argv += ["--keep", "2-6", "--keep", "30-33", "--cut", "12-16", "--alternatives", "3", "--ending", "phrase"]
    argv += ["--preview-seams", "--report", str(tmp_path / "out" / "report.html")]
    assert main(argv) == 0
    printed = capsys.readouterr().out
    assert "rank  reward" in printed and "MISSED" not in printed
    rewards = []
    for k in (1, 2, 3):
        edl = json.loads((tmp_path / "out" / f"track.{k}.edl.json").read_text())
        assert edl["meta"]["rank"] == k and edl["meta"]["constraints_report"]["ok"]
        assert edl["meta"]["constraints"]["keep_regions"] == [[2.0, 6.0], [30.0, 33.0]]
        rewards.append(edl["meta"]["reward"]["total"])
        assert abs(edl["output_duration_s"] - 20.0) <= 1.5
        seams = edl["meta"]["seam_previews"]
        clips = sorted((tmp_path / "out" / f"track.{k}.seams").iterdir())
        assert [c.name for c in clips] == [s["clip"] for s in seams] and len(seams) == len(edl["segments"]) - 1
        assert all(s["discontinuity"] is None or 0.0 <= s["discontinuity"] <= 1.0 for s in seams), [
            s["discontinuity"] for s in seams
        ]
    assert rewards == sorted(rewards, reverse=True)
    clip = sf.info(tmp_path / "out" / "track.1.seams" / "seam_01.wav")
    assert 3.0 <= clip.duration <= 6.01  # up to 3 s either side of the seam
    page = (tmp_path / "out" / "report.html").read_text()
    assert page.count('<tr class="seam">') == len(
        json.loads((tmp_path / "out" / "track.1.edl.json").read_text())["meta"]["seam_previews"]
    )
    assert "track.1.seams/seam_01.wav" in page


def test_musicedit_edit_refuses_impossible_requests_before_any_work(jam, tmp_path, capsys):
    import time

    from editor_env.cli import main

    raw_path = jam[0]
    cases = [
        (["--keep", "5-15", "--cut", "10-20"], "overlap"),
        (["--target-duration", "10", "--keep", "0-14"], "longer than the target"),
        (["--keep", "30-90"], "outside the recording"),
        (["--keep", "5-x"], "START-END"),
        (["--alternatives", "2", "--edl", str(tmp_path / "x.json")], "--edl names one file"),
        (["--policy", "supervised", "--checkpoint", str(raw_path), "--alternatives", "2"], "makes one edit"),
        (["--policy", "supervised", "--checkpoint", str(raw_path), "--preview-seams"], "generates its audio"),
    ]
    for flags, message in cases:
        start = time.perf_counter()
        assert main(["edit", str(raw_path), "-o", str(tmp_path / "o.wav"), *flags]) == 2
        assert message in capsys.readouterr().err
        assert time.perf_counter() - start < 2.0  # refused before the analysis
    assert not (tmp_path / "o.wav").exists()
    # an alternative's path that is the input is refused, never overwritten
    victim = write(tmp_path / "take.2.wav", jam[1].samples, jam[1].sample_rate)
    before = victim.read_bytes()
    assert main(["edit", str(victim), "-o", str(tmp_path / "take.wav"), "--alternatives", "2"]) == 2
    assert "Refusing to overwrite the input" in capsys.readouterr().err and victim.read_bytes() == before


def test_constraint_report_catches_what_an_edit_misses(jam):
    from editor_env.edl import EditList, Segment

    _, raw, analysis = jam
    everything = EditList.keep_all(raw.sample_rate, raw.n_samples)
    report = constraint_report(everything, _constraints(), analysis)
    assert report["keep_ok"] and not report["cut_ok"] and not report["duration_ok"] and not report["ok"]
    assert report["cut_played_s"] > 3.0
    nothing_kept = EditList(raw.sample_rate, raw.n_samples, [Segment(0, raw.sample_rate)])
    assert constraint_report(nothing_kept, _constraints(), analysis)["keep_missing_s"] > 5.0

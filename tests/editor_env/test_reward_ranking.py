"""The common reward ranks editors as a musician would, on 20 synthetic pairs with ground truth:
the ground-truth edit > the retarget editor > keeping everything > a random agent."""

from __future__ import annotations

import numpy as np
import pytest

from editor_env.audio import analysis_signal
from editor_env.edl import EditList
from editor_env.env import MusicEditEnv
from editor_env.features import analyze_signal
from editor_env.retarget import retarget
from editor_env.reward import Scorer
from editor_env.synth import generate_pair
from editor_env.tasks import EditingTask


def random_agent_edl(task: EditingTask, seed: int) -> EditList:
    """Random masked actions without the env's length window: the window (budget, floor, LOOP plays
    capped) would hand even a random edit the target length, and this test ranks edits, not masks."""
    env = MusicEditEnv(tasks=[task], length_window=False)
    rng = np.random.default_rng(seed)
    env.reset(seed=seed)
    done = False
    while not done:
        heads = np.split(env.action_masks(), [20, 25])
        action = np.array([rng.choice(np.flatnonzero(h)) for h in heads])
        _, _, terminated, truncated, info = env.step(action)
        done = terminated or truncated
    return info["edl"]


@pytest.fixture(scope="module")
def totals():
    rows = []
    for seed in range(20):
        pair = generate_pair(1000 + seed, duration_range_s=(20.0, 35.0))
        analysis = analyze_signal(analysis_signal(pair.raw))
        scorer = Scorer(analysis, reference=pair.pointers)
        raw_rate, raw_length = pair.raw.sample_rate, pair.raw.n_samples
        task = EditingTask(f"pair_{seed}", analysis, pair.pointers)
        rows.append(
            {
                "truth": scorer.score(pair.edl).total,
                "retarget": scorer.score(retarget(analysis, sample_rate=raw_rate, raw_length=raw_length)).total,
                "keep_all": scorer.score(EditList.keep_all(raw_rate, raw_length)).total,
                "random": scorer.score(random_agent_edl(task, seed)).total,
            }
        )
    return {name: np.array([row[name] for row in rows]) for name in rows[0]}


def test_ranking_on_average(totals):
    means = {name: float(values.mean()) for name, values in totals.items()}
    assert means["truth"] > means["retarget"] > means["keep_all"] > means["random"], means


def test_truth_wins_on_every_pair(totals):
    for other in ("retarget", "keep_all", "random"):
        assert np.all(totals["truth"] > totals[other]), (other, totals["truth"], totals[other])

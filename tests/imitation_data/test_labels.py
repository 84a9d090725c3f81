"""BC label inference: replaying the labels reproduces the edit, every label is valid under the env's
mask at its step, and augmentation makes rare action types."""

from __future__ import annotations

import numpy as np
import pytest

from editor_env.actions import ACTION_TABLE, ActionType, validity_table
from editor_env.edl import EditList, Effects
from editor_env.errors import MusicEditError
from imitation_data.labels import beat_agreement, infer_labels, replay

SEEDS = {False: (21, 22), True: (11, 13)}  # effects=True seeds have reorder, fades and gain among them


@pytest.fixture(scope="module")
def pairs():
    """Synthetic pairs (raw analysed with the real beat tracker) with their ground truth."""
    from editor_env.audio import analysis_signal
    from editor_env.features import analyze_signal
    from editor_env.synth import generate_pair
    from editor_env.tasks import EditingTask

    out = {}
    for effects, seeds in SEEDS.items():
        for seed in seeds:
            pair = generate_pair(seed, duration_range_s=(20.0, 30.0), effects=effects)
            task = EditingTask(f"synth_{seed}", analyze_signal(analysis_signal(pair.raw)), pair.pointers)
            out[(effects, seed)] = (pair, task)
    return out


def assert_valid_under_masks(labels, task):
    """Every label is allowed by its recorded mask, by the env's masks and validity table at its
    step, and the env never repairs it."""
    from editor_env.env import MusicEditEnv

    env = MusicEditEnv(tasks=[task], **labels.env_kwargs)  # the settings the labels were made for
    env.reset(options={"task": task})
    for action, recorded in zip(labels.actions, labels.masks):
        mask = env.action_masks()
        np.testing.assert_array_equal(mask, recorded)
        t, s, a = (int(v) for v in action)
        assert mask[t] and mask[20 + s] and mask[25 + a]
        assert validity_table(env.editor_state())[t, s]
        _, _, terminated, truncated, info = env.step(action)
        assert not info["invalid_action"]
    assert terminated or truncated


@pytest.mark.parametrize("effects", [False, True])
def test_labels_replay_the_ground_truth(pairs, effects):
    for seed in SEEDS[effects]:
        pair, task = pairs[(effects, seed)]
        labels = infer_labels(task, pair.pointers, ops=pair.ops, edl=pair.edl)
        assert labels.actions.shape == (labels.n_steps, 3) and labels.actions.dtype == np.int64
        assert labels.unreachable_beats == 0
        edl = replay(labels, task)
        agreement = beat_agreement(edl, pair.pointers, task.analysis.beats.frames())
        assert agreement >= 0.95, (seed, agreement, labels.describe())
        assert_valid_under_masks(labels, task)


def test_gaps_are_dropped_with_cuts_largest_first(pairs):
    """One canonical labelling of every drop: CUTs (never an equivalent SKIP), largest size first."""
    from editor_env.actions import SIZE_BEATS

    for (_, seed), (pair, task) in pairs.items():
        labels = infer_labels(task, pair.pointers, ops=pair.ops, edl=pair.edl)
        types = labels.actions[:, 0]
        assert ActionType.SKIP not in types and ActionType.CUT in types, (seed, labels.describe())
        beats = [int(SIZE_BEATS[s]) for s in labels.actions[types == ActionType.CUT, 1]]
        runs = np.split(np.array(beats), np.flatnonzero(np.diff(np.flatnonzero(types == ActionType.CUT)) > 1) + 1)
        assert all(np.all(np.diff(run) <= 0) for run in runs), (seed, labels.describe())


def test_effects_become_their_action_types(pairs):
    for seed in SEEDS[True]:
        pair, task = pairs[(True, seed)]
        types = set(infer_labels(task, pair.pointers, edl=pair.edl).actions[:, 0].tolist())
        feats = pair.info["edit_features"]
        for feature, action_type in (("fade_in", "FADE_IN"), ("fade_out", "FADE_OUT"), ("gain", "GAIN")):
            assert feats[feature] == (ActionType[action_type] in types), (seed, feature, types)
        # the op labels alone (what an alignment gives) still find the fades and the gain
        from_ops = set(infer_labels(task, pair.pointers, ops=pair.ops).actions[:, 0].tolist())
        assert {t for t in types if t in (6, 7, 8)} == {t for t in from_ops if t in (6, 7, 8)}


def test_pointers_alone_and_an_analysis_work(pairs):
    pair, task = pairs[(False, SEEDS[False][0])]
    labels = infer_labels(task.analysis, pair.pointers)
    assert beat_agreement(replay(labels, task), pair.pointers, task.analysis.beats.frames()) >= 0.95
    keep_all = EditList.keep_all(pair.edl.sample_rate, pair.edl.raw_length)
    assert beat_agreement(keep_all, pair.pointers, task.analysis.beats.frames()) < 0.9


def test_bad_inputs_are_refused(pairs):
    pair, task = pairs[(False, SEEDS[False][0])]
    with pytest.raises(MusicEditError, match="another recording"):
        infer_labels(task, pair.pointers + 10**6)
    with pytest.raises(MusicEditError, match="must match"):
        infer_labels(task, pair.pointers, ops=pair.ops[:-5])
    labels = infer_labels(task, pair.pointers)
    with pytest.raises(MusicEditError, match="do not finish"):
        replay(labels.actions[:-1], task)


@pytest.mark.parametrize(
    "action_type",
    ["LOOP", "REPEAT_PREV", "SWAP_NEXT", "REORDER", "JUMP_BACK", "REVERSE", "SPEED_UP", "PITCH_DOWN", "REVERB"],
)
def test_rare_edits_become_their_action_types(pairs, action_type):
    """An edit made with one rare action on real beats is labelled with that action, and the labels
    reproduce it (pointers and effects)."""
    from editor_env.synth import ops_from_edl
    from imitation_data.augment import base_pieces, modify, pieces_to_edl

    rng = np.random.default_rng(0)
    t = ActionType[action_type]
    for effects, seed in [(False, SEEDS[False][0]), (True, SEEDS[True][1])]:
        _, task = pairs[(effects, seed)]
        pieces = modify(base_pieces(task), t, rng, task.analysis.beats.bar_position)
        assert pieces is not None
        edl = pieces_to_edl(task, pieces)
        pointers = edl.to_pointers()
        labels = infer_labels(task, pointers, ops=ops_from_edl(edl), edl=edl)
        assert t in labels.actions[:, 0], labels.describe()
        assert labels.unreachable_beats == 0
        made = replay(labels, task)
        assert beat_agreement(made, pointers, task.analysis.beats.frames()) >= 0.95
        field = ACTION_TABLE[t].effect
        if field is not None:
            neutral = getattr(Effects(), field)
            assert any(getattr(s.effects, field) != neutral for s in made.segments)
        assert_valid_under_masks(labels, task)


def test_augment_reaches_min_samples(pairs):
    from imitation_data.augment import augment

    tasks = [task for _, task in pairs.values()]
    wanted = [ActionType.SWAP_NEXT, ActionType.EQ_HIGH, ActionType.REORDER]
    dataset, labels, report = augment(tasks, min_samples=4, types=wanted, seed=1, progress=False)
    counts = dataset.type_counts()
    for t in wanted:
        assert counts[t] >= 4, report
    assert not report.short
    assert dataset.provenance["kind"] == "augmented" and dataset.provenance["rendered_audio"] is False
    with pytest.raises(MusicEditError, match="common or never demonstrated"):
        augment(tasks, min_samples=2, types=[ActionType.KEEP], progress=False)

"""MusicEdit-v0: the API contract, masks, invalid actions, determinism and a tiny MaskablePPO run."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest

import editor_env  # noqa: F401  (registers MusicEdit-v0)
from editor_env.actions import ActionAmount, ActionSize, ActionType
from editor_env.edl import EditList
from editor_env.env import MusicEditEnv
from editor_env.errors import MusicEditError


@pytest.fixture
def env(synth_tasks):
    return MusicEditEnv(tasks=synth_tasks, render_mode="rgb_array")


def masked_random_action(env, rng):
    mask = env.action_masks()
    heads = np.split(mask, [20, 25])
    return np.array([rng.choice(np.flatnonzero(h)) for h in heads])


def test_gymnasium_and_sb3_checkers(env):
    from gymnasium.utils.env_checker import check_env as gym_check
    from stable_baselines3.common.env_checker import check_env as sb3_check

    gym_check(env.unwrapped, skip_render_check=True)
    sb3_check(env)


def test_registered_and_default_data(tmp_path):
    env = gym.make("MusicEdit-v0")  # the embedded default: synthetic jams generated once
    obs, info = env.reset(seed=0)
    assert obs.shape == (867,) and env.observation_space.contains(obs)
    assert env.action_space == gym.spaces.MultiDiscrete([20, 5, 5])
    assert env.unwrapped.action_masks().shape == (30,)
    assert info["n_beats"] > 32


def test_same_seed_same_episode(synth_tasks):
    def run(seed):
        env = MusicEditEnv(tasks=synth_tasks)
        rng = np.random.default_rng(seed)
        obs, _ = env.reset(seed=seed)
        trace = [obs]
        done = False
        while not done:
            obs, reward, terminated, truncated, info = env.step(masked_random_action(env, rng))
            trace.append(np.append(obs, reward))
            done = terminated or truncated
        return np.concatenate(trace), info["reward_components"]

    a, comp_a = run(5)
    b, comp_b = run(5)
    np.testing.assert_array_equal(a, b)
    assert comp_a == comp_b


def test_fuzz_masked_random_policy(env):
    rng = np.random.default_rng(0)
    obs, _ = env.reset(seed=1)
    episodes = 0
    for _ in range(10_000):
        obs, reward, terminated, truncated, info = env.step(masked_random_action(env, rng))
        assert env.observation_space.contains(obs)
        assert np.isfinite(reward)
        if terminated or truncated:
            episodes += 1
            edl = info["edl"]
            assert isinstance(edl, EditList) and edl.output_length() > 0
            assert all(0.0 <= v <= 1.0 for v in info["reward_components"].values())
            obs, _ = env.reset()
    assert episodes > 20


def test_unmasked_invalid_action_is_repaired_and_penalised(env):
    env.reset(seed=0)
    # JUMP_BACK at the very start is invalid: it becomes KEEP of one beat, with the penalty
    _, reward, _, _, info = env.step(np.array([ActionType.JUMP_BACK, ActionSize.PHRASE, ActionAmount.NEUTRAL]))
    assert info["invalid_action"] and info["applied_action"][0] == ActionType.KEEP
    assert info["cursor"] == 1
    assert reward <= env.shaping_weight / info["n_beats"] - env.invalid_action_penalty + 1e-9
    # an oversized span shrinks to the largest valid one
    env.reset(seed=0, options={"sample": env.tasks[0].name})
    n_beats = env.unwrapped._n_beats
    env.unwrapped._cursor = n_beats - 5
    _, _, _, _, info = env.step(np.array([ActionType.KEEP, ActionSize.TWO_PHRASES, ActionAmount.NEUTRAL]))
    assert info["invalid_action"] and info["applied_action"][1] == 4
    # a valid action is not penalised
    env.reset(seed=0)
    _, _, _, _, info = env.step(np.array([ActionType.KEEP, ActionSize.BAR, ActionAmount.NEUTRAL]))
    assert not info["invalid_action"]


def test_masks_forbid_what_cannot_run(env):
    env.reset(seed=0)
    mask = env.action_masks()
    assert not mask[ActionType.JUMP_BACK] and not mask[ActionType.REPEAT_PREV]
    assert mask[:20].any() and mask[20:25].any() and mask[25:].all()
    env.step(np.array([ActionType.KEEP, ActionSize.BAR, ActionAmount.NEUTRAL]))
    mask = env.action_masks()
    assert mask[ActionType.JUMP_BACK] and mask[ActionType.REPEAT_PREV]


def test_keep_everything_is_the_identity_edit(env):
    env = MusicEditEnv(tasks=env.tasks, length_window=False)  # the length window would forbid keeping it all
    env.reset(seed=0)
    done = False
    while not done:
        _, _, terminated, truncated, info = env.step(np.array([ActionType.KEEP, ActionSize.BEAT, ActionAmount.NEUTRAL]))
        done = terminated or truncated
    assert terminated
    edl = info["edl"]
    assert len(edl.segments) == 1
    assert edl.segments[0].raw_start == 0 and edl.segments[0].raw_end == edl.raw_length
    assert info["output_ratio"] == pytest.approx(1.0)


def test_following_the_reference_earns_the_shaping(env):
    """Keeping exactly the beats the reference keeps earns the whole shaping reward."""
    env.reset(seed=0, options={"sample": env.tasks[0].name})
    keep = env.unwrapped._ref_keep
    total, done = 0.0, False
    while not done:
        cursor = env.unwrapped._cursor
        action = ActionType.KEEP if keep[cursor] else ActionType.CUT
        _, reward, terminated, truncated, info = env.step(np.array([action, ActionSize.BEAT, ActionAmount.NEUTRAL]))
        done = terminated or truncated
        total += reward if not done else 0.0
    assert total == pytest.approx(env.shaping_weight * (len(keep) - 1) / len(keep), rel=1e-6)
    # a forward keep/cut walk cannot reproduce the reference's reordered sections (seed 11
    # moves beats 26-33 before 18-25), so sequence similarity stays below 1
    assert info["reward_components"]["sequence_similarity"] > 0.7
    assert 0.55 < info["output_ratio"] < 0.8


def test_effect_actions_reach_the_edl(env):
    env.reset(seed=0)
    env.step(np.array([ActionType.GAIN, ActionSize.BAR, ActionAmount.POS_LARGE]))
    env.step(np.array([ActionType.LOOP, ActionSize.BAR, ActionAmount.NEUTRAL]))  # 4 plays
    env.step(np.array([ActionType.REORDER, ActionSize.BAR, ActionAmount.NEUTRAL]))
    edl = env.unwrapped.edit_list()
    assert edl.segments[0].effects.gain_db == 6.0
    assert [s.raw_start_beat for s in edl.segments] == [0.0, 4.0, 4.0, 4.0, 4.0, 8.0]  # the REORDERed bar last
    assert env.unwrapped._output_beats == 4 + 4 * 4 + 4


def test_render_rgb_array(env):
    env.reset(seed=0)
    env.step(np.array([ActionType.KEEP, ActionSize.PHRASE, ActionAmount.NEUTRAL]))
    image = env.render()
    assert image.shape == (48, 512, 3) and image.dtype == np.uint8
    assert len(np.unique(image.reshape(-1, 3), axis=0)) > 3


def test_bad_arguments_are_refused(synth_tasks):
    from editor_env.errors import MusicEditError

    with pytest.raises(MusicEditError, match="target_ratio"):
        MusicEditEnv(tasks=synth_tasks, target_ratio=0.0)
    with pytest.raises(MusicEditError, match="render_mode"):
        MusicEditEnv(tasks=synth_tasks, render_mode="human")
    env = MusicEditEnv(tasks=synth_tasks)
    with pytest.raises(MusicEditError, match="no such sample"):
        env.reset(options={"sample": "nope"})


def test_maskable_ppo_learns_2000_steps(synth_tasks):
    from sb3_contrib import MaskablePPO
    from sb3_contrib.common.maskable.evaluation import evaluate_policy

    env = MusicEditEnv(tasks=synth_tasks)
    model = MaskablePPO(
        "MlpPolicy", env, n_steps=256, batch_size=64, n_epochs=2, seed=0, policy_kwargs={"net_arch": [32]}, device="cpu"
    )
    model.learn(2_000)
    assert model.num_timesteps >= 2_000
    assert np.isfinite(model.logger.name_to_value.get("train/approx_kl", 0.0))
    obs, _ = env.reset(seed=0)
    action, _ = model.predict(obs, action_masks=env.action_masks(), deterministic=True)
    assert env.action_masks()[action[0]] and env.action_masks()[20 + action[1]]
    mean_reward, _ = evaluate_policy(model, env, n_eval_episodes=2, use_masking=True)
    assert np.isfinite(mean_reward)


def test_entry_point_registers_on_import_gymnasium():
    """setup.cfg's ``gymnasium.envs`` entry point registers MusicEdit-v0 without ``import editor_env``."""
    import subprocess
    import sys

    code = "import gymnasium, sys; sys.exit(0 if 'MusicEdit-v0' in gymnasium.registry else 1)"
    assert subprocess.run([sys.executable, "-c", code], check=False).returncode == 0


@pytest.mark.parametrize("target", [0.5, 0.67])
def test_length_window_caps_the_output_and_the_target_is_observed(env, target):
    from editor_env.state import GLOBAL_NAMES

    env = MusicEditEnv(tasks=env.tasks)
    obs, _ = env.reset(seed=0, options={"target_ratio": target})
    assert obs[-len(GLOBAL_NAMES) + GLOBAL_NAMES.index("target_ratio")] == pytest.approx(target)
    done = False
    while not done:  # a policy that always asks to keep
        action = np.array([ActionType.KEEP, ActionSize.BEAT, ActionAmount.NEUTRAL])
        if not env.action_masks()[ActionType.KEEP]:
            action = np.array([ActionType.CUT, ActionSize.BEAT, ActionAmount.NEUTRAL])
        _, _, terminated, truncated, info = env.step(action)
        assert not info["invalid_action"]
        done = terminated or truncated
    assert target - 0.05 - 1e-9 <= info["output_ratio"] <= target + 0.05 + 1.0 / env.n_beats
    with pytest.raises(MusicEditError, match="target_ratio"):
        env.reset(options={"target_ratio": 5.0})


def lock_beats(n_beats: int) -> tuple[np.ndarray, np.ndarray]:
    """A keep-locked bar early, a cut-locked bar in the middle and a keep-locked bar late."""
    keep, cut = np.zeros(n_beats, bool), np.zeros(n_beats, bool)
    keep[4:8] = keep[n_beats - 12 : n_beats - 8] = True
    cut[n_beats // 2 : n_beats // 2 + 4] = True
    return keep, cut


def test_locked_beats_are_obeyed_by_every_masked_policy(env):
    from editor_env.state import GLOBAL_NAMES

    rng = np.random.default_rng(0)
    for episode in range(12):
        task = env.tasks[episode % len(env.tasks)]
        keep, cut = lock_beats(task.analysis.beats.n_beats)
        obs, _ = env.reset(seed=episode, options={"task": task, "keep_beats": keep, "cut_beats": cut})
        globals_ = dict(zip(GLOBAL_NAMES, obs[-len(GLOBAL_NAMES) :]))
        assert globals_["open_keep_fraction"] == pytest.approx(8 / env.n_beats)
        assert globals_["next_keep_lock"] == pytest.approx(4 / 32)
        done = False
        while not done:  # random heads (repaired when the pair is invalid), every other episode favouring drops
            action = masked_random_action(env, rng)
            if episode % 2 and env.action_masks()[ActionType.CUT]:
                action[0] = ActionType.CUT
            _, _, terminated, truncated, info = env.step(action)
            done = terminated or truncated
        played = np.zeros(env.n_beats, bool)
        for segment in info["edl"].segments:
            played[int(round(segment.raw_start_beat)) : int(round(segment.raw_end_beat))] = True
        assert played[keep].all() and not played[cut].any()
        assert info["output_ratio"] <= 0.67 + 0.05 + 1.0 / env.n_beats


def test_impossible_locks_are_refused(env):
    n = env.tasks[0].analysis.beats.n_beats
    keep, cut = lock_beats(n)
    with pytest.raises(MusicEditError, match="both keep- and cut-locked"):
        env.reset(options={"task": env.tasks[0], "keep_beats": keep, "cut_beats": keep})
    with pytest.raises(MusicEditError, match="do not fit the output budget"):
        env.reset(options={"task": env.tasks[0], "keep_beats": np.ones(n, bool)})
    with pytest.raises(MusicEditError, match="one bool per beat"):
        env.reset(options={"task": env.tasks[0], "cut_beats": cut[:-1]})


def test_strict_floor_stops_an_always_cutting_policy_short_of_the_target(env):
    """An agent that drops whenever it may still ends inside the length window (strict_floor, the
    default); with the labelling setting it may end short while JUMP_BACKs are left."""

    def always_cut(**kwargs):
        env_ = MusicEditEnv(tasks=env.tasks, **kwargs)
        env_.reset(seed=0, options={"task": env.tasks[0]})
        done = False
        while not done:
            drop = env_.action_masks()[ActionType.CUT]
            action = np.array([ActionType.CUT if drop else ActionType.KEEP, ActionSize.BEAT, ActionAmount.NEUTRAL])
            _, _, terminated, truncated, info = env_.step(action)
            done = terminated or truncated
        return info["output_ratio"]

    one_beat = 1.0 / env.tasks[0].analysis.beats.n_beats  # the floor is rounded down to whole beats
    assert always_cut() >= 0.67 - 0.05 - one_beat
    assert always_cut(strict_floor=False) < 0.67 - 0.05 - one_beat


def test_real_env_without_the_corpus_says_how_to_fetch_it():
    with pytest.raises(MusicEditError, match="scripts/fetch_corpus.py"):
        gym.make("MusicEdit-Real-v0")


def test_real_env_serves_the_corpus_train_jams_with_their_labels(monkeypatch, tmp_path):
    from editor_env import corpus
    from editor_env.synth import write_dataset

    monkeypatch.setenv("MUSICEDIT_HOME", str(tmp_path))
    write_dataset(corpus.split_data_dir("train"), 1, seed=5, duration_range_s=(20.0, 25.0), progress=False)
    env = gym.make("MusicEdit-Real-v0")
    obs, _ = env.reset(seed=0)
    task = env.unwrapped._task
    assert task.labels is not None and task.labels.junk  # the reward's content component reads them
    done = False
    while not done:
        mask = env.unwrapped.action_masks()
        action = np.array([int(np.flatnonzero(mask[:20])[0]), int(np.flatnonzero(mask[20:25])[0]), 2])
        obs, reward, terminated, truncated, info = env.step(action)
        done = terminated or truncated
    assert "content" in info["reward_components"]

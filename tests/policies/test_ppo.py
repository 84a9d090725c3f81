"""BC-mixed MaskablePPO: bc_weight=0 is exactly MaskablePPO; the BC loss falls; demos are checked."""

from __future__ import annotations

import numpy as np
import pytest
import torch as th
from sb3_contrib import MaskablePPO

from editor_env.env import MusicEditEnv
from policies.errors import PolicyConfigError
from policies.ppo import BCMaskablePPO, Demonstrations

pytestmark = pytest.mark.usefixtures("one_torch_thread")  # tiny models: ~10x faster on a busy machine

KWARGS = {
    "n_steps": 128,
    "batch_size": 64,
    "n_epochs": 2,
    "seed": 3,
    "device": "cpu",
    "policy_kwargs": {"net_arch": [32]},
}


def demos_from_env(env, n=256, seed=0):
    """Demonstrations of a simple rule (KEEP a bar) with the env's real masks."""
    rng = np.random.default_rng(seed)
    obs_list, acts, masks = [], [], []
    obs, _ = env.reset(seed=seed)
    while len(obs_list) < n:
        mask = env.action_masks()
        action = np.array([0 if mask[0] else 1, 1 if mask[21] else 0, 2])
        if not mask[20 + action[1]]:
            action[1] = rng.choice(np.flatnonzero(mask[20:25]))
        obs_list.append(obs), acts.append(action), masks.append(mask)
        obs, _, terminated, truncated, _ = env.step(action)
        if terminated or truncated:
            obs, _ = env.reset()
    return Demonstrations(np.array(obs_list, np.float32), np.array(acts, np.int64), np.array(masks, bool))


def test_zero_bc_weight_is_exactly_maskable_ppo(synth_tasks):
    env_a, env_b = MusicEditEnv(tasks=synth_tasks), MusicEditEnv(tasks=synth_tasks)
    plain = MaskablePPO("MlpPolicy", env_a, **KWARGS).learn(256)
    mixed = BCMaskablePPO(
        "MlpPolicy", env_b, demonstrations=demos_from_env(MusicEditEnv(tasks=synth_tasks)), bc_weight=0.0, **KWARGS
    ).learn(256)
    for (name, a), (_, b) in zip(plain.policy.state_dict().items(), mixed.policy.state_dict().items()):
        assert th.equal(a, b), name


def test_bc_loss_falls_and_is_logged(synth_tasks, tmp_path):
    env = MusicEditEnv(tasks=synth_tasks)
    demos = demos_from_env(MusicEditEnv(tasks=synth_tasks))
    model = BCMaskablePPO("MlpPolicy", env, demonstrations=demos, bc_weight=lambda progress: 2.0 * progress, **KWARGS)
    obs, acts, masks = (th.as_tensor(x) for x in (demos.obs, demos.acts, demos.masks))

    def nll():
        with th.no_grad():
            return -model.policy.evaluate_actions(obs, acts, action_masks=masks)[1].mean().item()

    before = nll()
    model.learn(640)
    assert nll() < before
    logged = model.logger.name_to_value
    assert np.isfinite(logged["train/bc_loss"]) and np.isfinite(logged["train/bc_entropy"])
    assert 0 <= logged["counters/n_keep_ratio"] <= 1 and "train/entropy" in logged
    model.save(tmp_path / "m.zip")
    loaded = BCMaskablePPO.load(tmp_path / "m.zip", device="cpu")
    assert loaded.demonstrations is None  # demos stay out of the saved model


def test_forbidden_demo_actions_are_refused():
    masks = np.ones((2, 30), bool)
    masks[1, 4] = False  # JUMP_BACK forbidden at step 1
    with pytest.raises(PolicyConfigError, match="forbidden by their own masks"):
        Demonstrations(np.zeros((2, 861), np.float32), np.array([[0, 1, 2], [4, 1, 2]]), masks)

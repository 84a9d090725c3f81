"""The NATTEN extractor and the 3-head policy inside a tiny MaskablePPO run."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch as th

from editor_env.env import MusicEditEnv
from policies.errors import PolicyConfigError
from policies.extractor import NATTENFeaturesExtractor
from policies.policy import MusicEditPolicy

pytestmark = pytest.mark.usefixtures("one_torch_thread")  # tiny models: ~10x faster on a busy machine

TINY = {"hidden_dim": 64, "num_heads": 2, "kernel_size": 3, "num_layers": 1, "features_dim": 32}


@pytest.fixture
def env(synth_tasks):
    return MusicEditEnv(tasks=synth_tasks)


def test_extractor_shapes_and_cursor_sensitivity(env):
    extractor = NATTENFeaturesExtractor(env.observation_space, **TINY)
    obs = th.as_tensor(np.stack([env.reset(seed=i)[0] for i in range(4)]))
    out = extractor(obs)
    assert out.shape == (4, 32) and th.isfinite(out).all()
    changed = obs.clone()
    changed[:, 3 * 121 : 4 * 121] += 1.0  # the cursor's beat
    assert not th.allclose(extractor(changed), out)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"hidden_dim": 64, "num_heads": 3}, "not divisible"),
        ({"kernel_size": 4}, "must be odd"),
        ({"kernel_size": 9}, "longer than the sequence"),
        ({"hidden_dim": 64, "num_heads": 4}, "power of two of at least 32"),
        ({"context_beats": 2}, "set context_beats to the env's"),
    ],
)
def test_bad_extractor_configs_fail_at_construction(env, kwargs, message):
    with pytest.raises(PolicyConfigError, match=message):
        NATTENFeaturesExtractor(env.observation_space, **{**TINY, **kwargs})


def test_entropy_is_per_head_and_ppo_trains(env):
    from sb3_contrib import MaskablePPO

    model = MaskablePPO(
        MusicEditPolicy,
        env,
        n_steps=128,
        batch_size=64,
        n_epochs=1,
        seed=0,
        device="cpu",
        policy_kwargs={"features_extractor_kwargs": TINY},
    )
    obs = th.as_tensor(env.reset(seed=0)[0][None])
    masks = th.ones(1, 30, dtype=th.bool)
    _, _, entropy = model.policy.evaluate_actions(obs, th.zeros(1, 3), masks)
    heads = model.policy.head_entropies(obs, masks)
    assert heads.shape == (1, 3)
    assert th.allclose(entropy, heads.sum(1) / 3)
    assert entropy.item() <= (math.log(20) + 2 * math.log(5)) / 3 + 1e-5
    model.learn(256)
    assert model.num_timesteps >= 256
    assert np.isfinite(model.logger.name_to_value["train/entropy_loss"])

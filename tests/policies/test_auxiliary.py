"""Auxiliary tasks: targets from observations equal those of the cached analysis, each loss falls in
tiny PPO and BC runs, zero weights are exactly the plain training, configs name bad tasks."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch as th
from sb3_contrib import MaskablePPO
from stable_baselines3.common.torch_layers import FlattenExtractor

from editor_env.env import MusicEditEnv
from policies.auxiliary import AUX_TASKS, aux_targets, aux_targets_from_obs
from policies.errors import PolicyConfigError
from policies.policy import MusicEditPolicy
from policies.ppo import BCMaskablePPO, Demonstrations

pytestmark = pytest.mark.usefixtures("one_torch_thread")  # tiny models: ~10x faster on a busy machine

TINY = {"hidden_dim": 64, "num_heads": 2, "kernel_size": 3, "num_layers": 1, "features_dim": 32}
ALL_ON = dict.fromkeys(AUX_TASKS, 1.0)
KWARGS = {"n_steps": 64, "batch_size": 32, "n_epochs": 2, "seed": 3, "device": "cpu"}


def policy_kwargs(aux_weights=None):
    kwargs = {"features_extractor_kwargs": TINY, "net_arch": [32]}
    return kwargs if aux_weights is None else {**kwargs, "aux_weights": aux_weights}


def walk(env, task, seed=0):
    """Observations and cursors of one episode that keeps or cuts one beat at a time (masks obeyed)."""
    obs, _ = env.reset(seed=seed, options={"task": task})
    observations, cursors, actions, masks = [], [], [], []
    done = False
    while not done:
        mask = env.action_masks()
        action = np.array([0 if mask[0] else 1, 0, 2])
        observations.append(obs), cursors.append(env.cursor), actions.append(action), masks.append(mask)
        obs, _, terminated, truncated, _ = env.step(action)
        done = terminated or truncated
    return np.array(observations), cursors, np.array(actions), np.array(masks)


@pytest.fixture(scope="module")
def episodes(synth_tasks):
    env = MusicEditEnv(tasks=synth_tasks)
    return [walk(env, task, seed) for seed, task in enumerate(synth_tasks)]


def test_targets_from_observations_are_the_analysis_targets(synth_tasks, episodes):
    for task, (obs, cursors, _, _) in zip(synth_tasks, episodes):
        from_obs = aux_targets_from_obs(th.as_tensor(obs))
        assert from_obs.mel.shape == (len(obs), 7, 32) and from_obs.phrase.dtype == th.int64
        for i, cursor in enumerate(cursors):
            ref = aux_targets(task.analysis, cursor)
            for name in ("tempo", "energy", "phrase", "mel"):
                valid = getattr(ref, f"{name}_valid")
                assert np.array_equal(getattr(from_obs, f"{name}_valid")[i].numpy(), valid[0]), (name, cursor)
                got, want = getattr(from_obs, name)[i : i + 1].numpy(), getattr(ref, name)
                np.testing.assert_allclose(got[valid], want[valid], rtol=1e-5, atol=1e-5, err_msg=name)
        # the edges: no beats before the start, no next beats after the last
        assert not from_obs.mel_valid[0, :3].any() and from_obs.mel_valid[0, 3:].all()
        last = cursors.index(task.analysis.beats.n_beats - 1) if task.analysis.beats.n_beats - 1 in cursors else -1
        assert last < 0 or not from_obs.energy_valid[last]
    assert len(set(aux_targets_from_obs(th.as_tensor(episodes[0][0])).phrase.tolist())) == 4


def aux_losses(policy, obs):
    with th.no_grad():
        return {name: loss.item() for name, loss in policy.aux_loss(th.as_tensor(obs))[1].items()}


def test_each_aux_loss_falls_in_ppo_and_bc(synth_tasks, episodes, tmp_path):
    from imitation_data.bc import pretrain_policy
    from imitation_data.transitions import BCDataset

    obs, _, acts, masks = (np.concatenate(parts) for parts in zip(*episodes))
    env = MusicEditEnv(tasks=synth_tasks)
    kwargs = {**KWARGS, "n_epochs": 4, "learning_rate": 3e-3}
    model = BCMaskablePPO(MusicEditPolicy, env, policy_kwargs=policy_kwargs(ALL_ON), **kwargs)
    assert set(model.policy.aux_heads.heads) == set(AUX_TASKS) and len(model.policy.optimizer.param_groups) == 2
    before = aux_losses(model.policy, obs)
    model.learn(192)
    after = aux_losses(model.policy, obs)
    assert all(after[name] < before[name] for name in AUX_TASKS), (before, after)
    assert all(np.isfinite(model.logger.name_to_value[f"train/aux_{name}_loss"]) for name in AUX_TASKS)

    # PPO's one-pass evaluation gives exactly evaluate_actions and aux_loss
    batch, batch_acts, batch_masks = (th.as_tensor(x[:50]) for x in (obs, acts, masks))
    *policy_part, aux_total, aux_parts = model.policy.evaluate_actions_and_aux(batch, batch_acts, batch_masks)
    for a, b in zip(policy_part, model.policy.evaluate_actions(batch, batch_acts, batch_masks), strict=True):
        assert th.equal(a, b)
    separate_total, separate_parts = model.policy.aux_loss(batch)
    assert th.equal(aux_total, separate_total) and aux_parts.keys() == separate_parts.keys()

    model.save(tmp_path / "aux.zip")  # the heads and their weights travel with the model
    loaded = BCMaskablePPO.load(tmp_path / "aux.zip", device="cpu")
    assert loaded.policy.aux_weights == ALL_ON and aux_losses(loaded.policy, obs) == after

    n = len(acts)
    dataset = BCDataset(obs, acts, masks, np.arange(n) == n - 1, np.zeros(n), obs[-1:], np.array(["walk"]))
    bc_model = MaskablePPO(MusicEditPolicy, env, policy_kwargs=policy_kwargs({"tempo": 1.0, "mel": 2.0}), **KWARGS)
    assert set(bc_model.policy.aux_heads.heads) == {"tempo", "mel"}  # only tasks of positive weight
    report = pretrain_policy(bc_model, dataset, epochs=3, val_data=dataset, verbose=0, tensorboard_log=tmp_path / "tb")
    assert set(report.aux_losses) == {"tempo", "mel"}
    assert all(len(v) == 3 and v[-1] < v[0] for v in report.aux_losses.values()), report.aux_losses


def test_zero_aux_weights_are_exactly_plain_training(synth_tasks, episodes):
    obs, _, acts, masks = (np.concatenate(parts) for parts in zip(*episodes))
    demos = Demonstrations(obs, acts, masks)
    # one after the other: building a model seeds torch's global generator, which learning draws on
    plain = MaskablePPO(MusicEditPolicy, MusicEditEnv(tasks=synth_tasks), policy_kwargs=policy_kwargs(), **KWARGS)
    plain.learn(128)
    zero = BCMaskablePPO(
        MusicEditPolicy,
        MusicEditEnv(tasks=synth_tasks),
        demonstrations=demos,
        bc_weight=0.0,
        policy_kwargs=policy_kwargs(dict.fromkeys(AUX_TASKS, 0.0)),
        **KWARGS,
    )
    assert zero.policy.aux_heads is None and len(zero.policy.optimizer.param_groups) == 1
    zero.learn(128)
    for (name, a), (_, b) in zip(plain.policy.state_dict().items(), zero.policy.state_dict().items(), strict=True):
        assert th.equal(a, b), name
    logged_plain, logged_zero = plain.logger.name_to_value, zero.logger.name_to_value
    for key in ("train/loss", "train/policy_gradient_loss", "train/value_loss", "train/entropy_loss"):
        assert logged_plain[key] == logged_zero[key], key
    assert not [key for key in logged_zero if key.startswith("train/aux_")]


def test_aux_weights_are_checked(synth_tasks, tmp_path, capsys):
    from policies.train import main

    env = MusicEditEnv(tasks=synth_tasks)
    with pytest.raises(PolicyConfigError, match=r"unknown auxiliary task\(s\) \['beat'\]"):
        MaskablePPO(MusicEditPolicy, env, policy_kwargs=policy_kwargs({"beat": 1.0}), device="cpu")
    with pytest.raises(PolicyConfigError, match="need the NATTEN extractor"):
        flat = {"aux_weights": ALL_ON, "features_extractor_class": FlattenExtractor}
        MaskablePPO(MusicEditPolicy, env, policy_kwargs=flat, device="cpu")
    config = tmp_path / "bad.json"
    for weights, message in [({"tempoo": 0.1}, "unknown auxiliary task(s) ['tempoo']"), ({"mel": -1}, "'mel' must")]:
        config.write_text(json.dumps({"aux_weights": weights}))
        assert main(["--config", str(config), "--save-dir", str(tmp_path / "x")]) == 2
        err = capsys.readouterr().err
        assert message in err and str(config) in err, err


def test_compare_aux_table_and_flags():
    import importlib.util
    from pathlib import Path

    path = Path(__file__).resolve().parents[2] / "scripts" / "compare_aux.py"
    spec = importlib.util.spec_from_file_location("compare_aux", path)
    compare_aux = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(compare_aux)

    def report(reward, type_accuracy):
        return {"eval": {"bc_ppo": {"common_reward": reward}}, "bc": {"val_accuracy": {"type": type_accuracy}}}

    reports = {
        "plain": {0: report(0.70, 0.80), 1: report(0.72, 0.84)},
        "aux": {0: report(0.75, 0.90), 1: report(0.73, 0.86)},
    }
    lines = compare_aux.table(reports, [0, 1], "## title").splitlines()
    assert "| held-out common reward: BC + PPO | 0.7100 (0.7000, 0.7200) | 0.7400 (0.7500, 0.7300) | +0.0300 |" in lines
    assert "| BC held-out accuracy: type | 0.820 (0.800, 0.840) | 0.880 (0.900, 0.860) | +0.060 |" in lines
    assert (
        "| PPO steps done | nan (nan, nan) | nan (nan, nan) | +nan |" in lines
    )  # a figure the reports lack is shown, not invented
    args, rest = compare_aux.parse_args(["--quick", "--seeds", "1", "2", "--budget-minutes", "3"])
    assert (
        args.seeds == [1, 2] and rest == ["--quick", "--budget-minutes", "3"] and args.out.name == "compare_aux_quick"
    )
    with pytest.raises(SystemExit):
        compare_aux.parse_args(["--config", "configs/ppo_bc.json"])
    # the shipped recipes differ only in their auxiliary weights, so the comparison isolates them
    configs = path.parents[1] / "configs"
    assert compare_aux.recipe_differences(configs / "ppo_bc.json", configs / "ppo_bc_aux.json") == {}
    assert not any(json.loads((configs / "ppo_bc.json").read_text())["aux_weights"].values())
    assert all(json.loads((configs / "ppo_bc_aux.json").read_text())["aux_weights"].values())

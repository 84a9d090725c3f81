"""Behavioural-cloning pretraining of a MaskablePPO policy through ``imitation.algorithms.bc.BC``.

The policy trained is the model's own (``policy=model.policy``), so the result is saved with SB3's
``model.save`` and continues as the start of PPO (``MaskablePPO.load(path, env=...)``); imitation's
own ``save_policy``/``reconstruct_policy`` expect a plain ``ActorCriticPolicy`` and are not used.

Known traps handled here (CONVENTIONS.md):

- imitation's BC ignores action masks (it calls ``evaluate_actions(obs, acts)``): the loss is the
  unmasked negative log-likelihood. Every demonstration action is checked against its mask when
  the data set is loaded (:class:`~imitation_data.transitions.BCDataset`), and accuracy is
  measured the way the agent acts: the masked distribution's mode.
- The 3-head entropy is a sum (at most ln 20 + 2 ln 5 = 6.2 nats): ``train/bc_entropy`` is the
  mean per head (the sum / 3).

Logged per epoch to TensorBoard (and printed): ``train/bc_loss``, ``train/bc_entropy``,
``val/bc_loss``, ``val/type_accuracy``, ``val/size_accuracy``, ``val/amount_accuracy``,
``val/action_accuracy`` (all three heads right). Validation holds out whole edits (episodes).

Auxiliary tasks: a policy with auxiliary heads (``MusicEditPolicy(aux_weights=...)``,
:mod:`policies.auxiliary`) adds their weighted losses to imitation's loss on every batch (the targets
come from the batch's observations); the mean of each over an epoch is logged as
``train/aux_<task>_loss`` and kept in :attr:`BCReport.aux_losses`.

Observation statistics: a feature extractor that keeps running statistics
(``set_observation_stats``, e.g. the NATTEN extractor of :mod:`policies`) gets those of the
training demonstrations before BC. The default ``MlpPolicy`` uses the observations as they are
(they are already clipped to [-10, 10] and mostly within [-1, 1]).
"""

from __future__ import annotations

import dataclasses
import json
import os
import tempfile
import time
import warnings
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from editor_env.actions import ACTION_DIMS, MASK_LENGTH
from editor_env.errors import MusicEditError
from editor_env.state import OBS_CLIP, OBS_DIM

HEADS = ("type", "size", "amount")
MODEL_FILE = "bc_policy.zip"
REPORT_FILE = "bc_report.json"


@dataclasses.dataclass
class BCConfig:
    """Settings of a BC pretraining run."""

    epochs: int = 10
    """Passes over the training demonstrations."""
    batch_size: int = 64
    """Demonstration steps per gradient step."""
    learning_rate: float = 1e-3
    """Adam learning rate."""
    ent_weight: float = 1e-3
    """imitation's entropy bonus weight (on the summed 3-head entropy)."""
    l2_weight: float = 0.0
    """imitation's L2 penalty weight."""
    val_fraction: float = 0.2
    """Fraction of the episodes (whole edits) held out for accuracy."""
    seed: int = 0
    """Seeds the split, the initial weights and the batch order."""
    device: str = "auto"
    """``auto``, ``cpu`` or ``cuda``."""
    policy_kwargs: dict[str, Any] | None = None
    """``policy_kwargs`` of the MaskablePPO ``MlpPolicy`` built by :func:`bc_pretrain` (None: SB3's
    defaults)."""

    def check(self) -> None:
        if self.epochs < 1 or self.batch_size < 1:
            raise MusicEditError(f"BC needs epochs >= 1 and batch_size >= 1 (got {self.epochs}, {self.batch_size}).")
        if not 0.0 <= self.val_fraction < 1.0:
            raise MusicEditError(f"val_fraction={self.val_fraction} must lie in [0, 1).")
        if self.learning_rate <= 0:
            raise MusicEditError(f"learning_rate={self.learning_rate} must be positive.")


@dataclasses.dataclass
class BCReport:
    """What a BC run did: losses per epoch, held-out accuracy per head, where the model went."""

    n_train: int
    n_val: int
    initial_train_loss: float
    train_loss: list[float]
    train_entropy: list[float]
    val_loss: list[float]
    val_accuracy: dict[str, float]
    train_accuracy: dict[str, float]
    seconds: float
    model_path: str | None = None
    config: dict[str, Any] = dataclasses.field(default_factory=dict)
    data: dict[str, Any] = dataclasses.field(default_factory=dict)
    aux_losses: dict[str, list[float]] = dataclasses.field(default_factory=dict)
    """Mean unweighted loss of each auxiliary head per epoch (empty without heads)."""

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


class SpacesEnv(gym.Env):
    """MusicEdit-v0's spaces without its data: builds a model to pretrain where no env is needed.

    A model saved with it loads into the real env (``MaskablePPO.load(path, env=MusicEditEnv(...))``):
    the spaces are the same.
    """

    metadata = {"render_modes": []}

    def __init__(self, obs_dim: int = OBS_DIM) -> None:
        self.observation_space = spaces.Box(-OBS_CLIP, OBS_CLIP, (obs_dim,), np.float32)
        self.action_space = spaces.MultiDiscrete(ACTION_DIMS)

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        super().reset(seed=seed)
        return np.zeros(self.observation_space.shape, np.float32), {}

    def step(self, action):
        return np.zeros(self.observation_space.shape, np.float32), 0.0, True, False, {}

    def action_masks(self) -> np.ndarray:
        return np.ones(MASK_LENGTH, bool)


def _as_dataset(data):
    from imitation_data.transitions import BCDataset

    if isinstance(data, BCDataset):
        return data
    if isinstance(data, str | os.PathLike):
        return BCDataset.load(data)
    raise MusicEditError(f"BC data must be a BCDataset or an npz path, not {type(data).__name__}.")


def _batches(n: int, size: int):
    for start in range(0, n, size):
        yield slice(start, min(start + size, n))


def evaluate(policy, dataset, *, ent_weight: float = 1e-3, l2_weight: float = 0.0, batch_size: int = 2048) -> dict:
    """BC loss, mean per-head entropy and accuracy per head of ``policy`` on ``dataset``.

    Accuracy is of the masked distribution's mode (how the agent acts), per head and for the
    whole action (``action``). The loss is imitation's (unmasked NLL - ent_weight * entropy + L2).
    """
    import torch as th
    from imitation.algorithms.bc import BehaviorCloningLossCalculator

    n = len(dataset)
    if n == 0:
        return {"loss": float("nan"), "entropy": float("nan"), **{h: float("nan") for h in (*HEADS, "action")}}
    calc = BehaviorCloningLossCalculator(ent_weight, l2_weight)
    loss_sum = ent_sum = 0.0
    correct = np.zeros(3)
    whole = 0
    was_training = policy.training
    policy.set_training_mode(False)
    with th.no_grad():
        for rows in _batches(n, batch_size):
            obs = th.as_tensor(dataset.obs[rows], device=policy.device)
            acts = th.as_tensor(dataset.acts[rows], device=policy.device)
            metrics = calc(policy, obs, acts)
            k = rows.stop - rows.start
            loss_sum += float(metrics.loss) * k
            ent_sum += float(metrics.entropy) * k
            mode = policy.get_distribution(obs, action_masks=dataset.masks[rows]).mode().cpu().numpy()
            hit = mode.reshape(k, 3) == dataset.acts[rows]
            correct += hit.sum(axis=0)
            whole += int(hit.all(axis=1).sum())
    policy.set_training_mode(was_training)
    out = {"loss": loss_sum / n, "entropy": ent_sum / n / len(HEADS)}
    out.update({h: float(correct[i] / n) for i, h in enumerate(HEADS)})
    out["action"] = whole / n
    return out


def _set_observation_stats(policy, obs: np.ndarray) -> bool:
    """Give extractors that keep observation statistics those of ``obs``; whether any did."""
    from editor_env.state import ObservationNormalizer

    extractors = {id(m): m for m in policy.modules() if hasattr(m, "set_observation_stats")}
    if not extractors or not len(obs):
        return False
    normalizer = ObservationNormalizer(obs.shape[1])
    normalizer.update(obs)
    for m in extractors.values():
        m.set_observation_stats(normalizer.stats.mean, normalizer.stats.var, normalizer.stats.count)
    return True


class AuxBCLoss:
    """imitation's BC loss plus the policy's weighted auxiliary losses; collects the unweighted ones.

    :param base: imitation's ``BehaviorCloningLossCalculator``.
    """

    def __init__(self, base) -> None:
        self.base = base
        self.batches: dict[str, list[float]] = {}

    def __call__(self, policy, obs, acts):
        metrics = self.base(policy, obs, acts)
        total, parts = policy.aux_loss(obs)
        for name, part in parts.items():
            self.batches.setdefault(name, []).append(part.item())
        return dataclasses.replace(metrics, loss=metrics.loss + total)

    def epoch_means(self) -> dict[str, float]:
        """Mean of each auxiliary loss over the batches since the last call."""
        means = {name: float(np.mean(values)) for name, values in self.batches.items() if values}
        self.batches = {}
        return means


def pretrain_policy(
    model,
    data,
    *,
    epochs: int | None = None,
    seed: int | None = None,
    config: BCConfig | None = None,
    val_data=None,
    tensorboard_log: str | os.PathLike | None = None,
    verbose: int = 1,
    progress: bool = False,
) -> BCReport:
    """Pretrain ``model.policy`` (a MaskablePPO's) in place on demonstrations with imitation's BC.

    :param model: a ``MaskablePPO`` whose spaces are MusicEdit-v0's.
    :param data: a :class:`BCDataset` or the path of its npz (``musicedit bc-dataset``).
    :param epochs: overrides ``config.epochs``; ``seed`` overrides ``config.seed``.
    :param val_data: held-out demonstrations; by default ``config.val_fraction`` of the episodes.
    :param tensorboard_log: TensorBoard folder (default: the model's ``tensorboard_log``/bc, if any).
    """
    from imitation.algorithms import bc
    from imitation.util import logger as imit_logger
    from stable_baselines3.common.logger import configure as sb3_configure
    from stable_baselines3.common.utils import set_random_seed

    config = dataclasses.replace(config or BCConfig())
    if epochs is not None:
        config.epochs = epochs
    if seed is not None:
        config.seed = seed
    config.check()
    dataset = _as_dataset(data)
    if dataset.obs.shape[1:] != model.observation_space.shape:
        raise MusicEditError(
            f"The demonstrations' observations have shape {dataset.obs.shape[1:]}, the model's "
            f"{model.observation_space.shape}: they come from another observation layout; rebuild the data set."
        )
    if val_data is None:
        train, val = dataset.split(config.val_fraction, config.seed)
    else:
        train, val = dataset, _as_dataset(val_data)
    if len(train) == 0:
        raise MusicEditError("BC: no training demonstrations left after the validation split.")
    set_random_seed(config.seed)  # the DataLoader's shuffle uses torch's global generator
    policy = model.policy
    _set_observation_stats(policy, train.obs)
    # imitation's own logger would print and write CSVs every batch; our metrics go to `tb`
    quiet = imit_logger.configure(folder=Path(tempfile.gettempdir()) / "musicedit-bc", format_strs=[])
    trainer = bc.BC(
        observation_space=model.observation_space,
        action_space=model.action_space,
        rng=np.random.default_rng(config.seed),
        policy=policy,
        demonstrations=train.to_transitions(),
        batch_size=config.batch_size,
        optimizer_kwargs={"lr": config.learning_rate},
        ent_weight=config.ent_weight,
        l2_weight=config.l2_weight,
        device=policy.device,
        custom_logger=quiet,
    )
    aux = AuxBCLoss(trainer.loss_calculator) if getattr(policy, "aux_heads", None) is not None else None
    if aux is not None:
        trainer.loss_calculator = aux
    if tensorboard_log is None and getattr(model, "tensorboard_log", None):
        tensorboard_log = Path(model.tensorboard_log) / "bc"
    tb = sb3_configure(str(tensorboard_log), ["tensorboard"]) if tensorboard_log else None
    weights = {"ent_weight": config.ent_weight, "l2_weight": config.l2_weight}
    started = time.perf_counter()
    initial = evaluate(policy, train, **weights)
    history: dict[str, list[float]] = {"train_loss": [], "train_entropy": [], "val_loss": []}
    aux_history: dict[str, list[float]] = {}
    last: dict[str, dict] = {}

    def on_epoch_end() -> None:
        epoch = len(history["train_loss"]) + 1
        tr, va = evaluate(policy, train, **weights), evaluate(policy, val, **weights)
        history["train_loss"].append(tr["loss"])
        history["train_entropy"].append(tr["entropy"])
        history["val_loss"].append(va["loss"])
        last.update(train=tr, val=va)
        aux_means = aux.epoch_means() if aux is not None else {}
        for name, value in aux_means.items():
            aux_history.setdefault(name, []).append(value)
        if tb is not None:
            for name, value in aux_means.items():
                tb.record(f"train/aux_{name}_loss", value)
            tb.record("train/bc_loss", tr["loss"])
            tb.record("train/bc_entropy", tr["entropy"])
            tb.record("val/bc_loss", va["loss"])
            for head in (*HEADS, "action"):
                tb.record(f"val/{head}_accuracy", va[head])
                tb.record(f"train/{head}_accuracy", tr[head])
            tb.dump(epoch)
        if verbose:
            print(
                f"epoch {epoch}/{config.epochs}: train loss {tr['loss']:.4f} entropy/head {tr['entropy']:.3f} | "
                f"val loss {va['loss']:.4f} accuracy type {va['type']:.3f} size {va['size']:.3f} "
                f"amount {va['amount']:.3f} action {va['action']:.3f}"
                + "".join(f" | aux {name} {value:.4f}" for name, value in aux_means.items())
            )

    policy.set_training_mode(True)
    with warnings.catch_warnings():  # imitation logs its first batch's metrics without detaching them
        warnings.filterwarnings("ignore", message="Converting a tensor with requires_grad")
        trainer.train(n_epochs=config.epochs, on_epoch_end=on_epoch_end, progress_bar=progress, log_interval=10**9)
    policy.set_training_mode(False)
    if tb is not None:
        tb.close()
    return BCReport(
        n_train=len(train),
        n_val=len(val),
        initial_train_loss=initial["loss"],
        train_loss=history["train_loss"],
        train_entropy=history["train_entropy"],
        val_loss=history["val_loss"],
        val_accuracy={h: last["val"][h] for h in (*HEADS, "action")},
        train_accuracy={h: last["train"][h] for h in (*HEADS, "action")},
        seconds=round(time.perf_counter() - started, 2),
        aux_losses=aux_history,
        config=dataclasses.asdict(config),
        data={
            "train_samples": sorted(set(train.samples.tolist())),
            "val_samples": sorted(set(val.samples.tolist())),
            "provenance_kind": dataset.provenance.get("kind"),
        },
    )


def build_model(config: BCConfig, obs_dim: int = OBS_DIM, tensorboard_log: str | None = None):
    """A MaskablePPO with the default ``MlpPolicy`` (``config.policy_kwargs``) on MusicEdit-v0's spaces."""
    from sb3_contrib import MaskablePPO

    return MaskablePPO(
        "MlpPolicy",
        SpacesEnv(obs_dim),
        policy_kwargs=config.policy_kwargs,
        device=config.device,
        seed=config.seed,
        tensorboard_log=tensorboard_log,
        verbose=0,
    )


def save_model(model, path: str | os.PathLike, config: BCConfig | None = None) -> Path:
    """``model.save`` into a temporary file beside ``path``, then rename (never half-written); the archive
    says it is a ``bc`` agent and holds ``config`` (:func:`editor_env.checkpoints.write_agent_header`)."""
    from editor_env.checkpoints import write_agent_header
    from editor_env.io import atomic_path

    with atomic_path(path) as tmp:
        model.save(tmp)
        write_agent_header(tmp, "bc", None if config is None else dataclasses.asdict(config))
    return Path(path)


def bc_pretrain(
    data,
    save_dir: str | os.PathLike,
    *,
    config: BCConfig | None = None,
    val_data=None,
    verbose: int = 1,
    progress: bool = False,
    data_info: dict[str, Any] | None = None,
) -> BCReport:
    """Build a MaskablePPO ``MlpPolicy``, pretrain it with BC and save it into ``save_dir``:
    ``bc_policy.zip`` (SB3's format, atomic), ``bc_report.json`` and TensorBoard logs in ``tb/``.

    :param data_info: extra provenance for the report (e.g. the data-set paths).
    """
    from editor_env.io import atomic_write_text

    config = config or BCConfig()
    config.check()
    save_dir = Path(save_dir)
    save_dir.mkdir(parents=True, exist_ok=True)
    dataset = _as_dataset(data)
    model = build_model(config, dataset.obs.shape[1])
    report = pretrain_policy(
        model,
        dataset,
        config=config,
        val_data=val_data,
        tensorboard_log=save_dir / "tb",
        verbose=verbose,
        progress=progress,
    )
    report.model_path = str(save_model(model, save_dir / MODEL_FILE, config))
    report.data["path"] = str(data) if isinstance(data, str | os.PathLike) else None
    report.data.update(data_info or {})
    atomic_write_text(save_dir / REPORT_FILE, json.dumps(report.to_dict(), indent=2, default=str))
    return report


def load_model(path: str | os.PathLike, env=None, device: str = "auto"):
    """A saved BC (or PPO) model; pass the real env to continue training."""
    from sb3_contrib import MaskablePPO

    path = Path(path)
    if path.is_dir():
        path = path / MODEL_FILE
    if not path.is_file():
        raise MusicEditError(f"No model at {path}: run `musicedit bc-pretrain` first.")
    from editor_env.checkpoints import check_paradigm

    check_paradigm(path, "bc")  # a pointer or supervised checkpoint is named, not read as an SB3 archive
    return MaskablePPO.load(path, env=env, device=device)

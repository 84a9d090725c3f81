"""Train the pointer network on cached mels and pointer sequences (teacher forcing).

    python -m pointer_baseline.trainers.pointer_trainer --config configs/pointer_full.json
    python -m pointer_baseline.trainers.pointer_trainer --cache-dir cache \\
        --pointer-dir training_data/pointer_sequences --save-dir models/pointer --epochs 100
    python -m pointer_baseline.trainers.pointer_trainer --config configs/pointer_full.json \\
        --resume models/pointer/latest.pt
    python -m pointer_baseline.trainers.pointer_trainer --config configs/pointer_full.json \\
        --init-from models/pointer/best.pt --save-dir models/pointer_finetuned
    python -m pointer_baseline.trainers.pointer_trainer --calibrate old/best.pt --out calibrated.pt
    torchrun --standalone --nproc_per_node 2 -m pointer_baseline.trainers.pointer_trainer --config ...

Read top to bottom: settings (one dataclass, JSON config, flags override), data (samples split by
recording into training and validation), the model, the losses, the loop, the checkpoints.

Each optimizer step sees ``batch_size`` recordings. A recording is encoded whole (the encoder is
linear in its length); its decoder steps are independent under teacher forcing, so only a sample of
them is scored: every *event* (a seam or the stop step) with ``event_context`` steps on each side —
where the network must decide exactly when to leave — plus ``random_steps`` other steps and the
``hard_steps`` steps it gets most wrong right now.
TensorBoard (``{save_dir}/tb``): ``train/delta_loss``, ``train/jump_loss`` (bucket + landing),
``train/use_jump_loss``, ``train/stop_loss``, ``train/op_loss``, ``train/frame_loss`` (per-frame kept /
start / end labels), ``train/loss``,
``train/grad_norm`` (before clipping), ``val/loss``, ``val/delta_accuracy`` (the share of output
frames whose next pointer the model gets exactly right from the true history: the use_jump
decision plus the delta, or the jump bucket and landing frame), ``val/seam_accuracy`` (the same on the steps
where the reference seams only, :func:`seam_hits`), ``val/use_jump_accuracy``,
``val/stop_accuracy``, and free-running figures (greedy decoding until stop on the validation
recordings, exits on whole beats as ``pointer_baseline.infer`` decodes (:mod:`pointer_baseline.whole_beats`,
from each recording's cached beats), frame ``i`` against frame ``i`` of the reference): ``val/free_exact``,
``val/free_within5``, ``val/free_length_error``. ``latest.pt`` is written after every epoch, ``best.pt``
when ``val/free_within5`` improves (the teacher-forced loss is a poor guide: it keeps rising from
overconfident jump buckets while the decoded edits still improve), both atomically; ``--resume latest.pt``
continues with the same epoch and step counters and random states.

Before its free-running figures, each validation sets the decision thresholds of ``stop`` and ``use_jump`` (the
model config's ``stop_threshold`` and ``jump_threshold``, saved in the checkpoints, logged as ``val/stop_threshold``
and ``val/jump_threshold``) to the ones with the best F1 on the validation recordings (:func:`calibrate_thresholds`);
``--calibrate`` does that for a checkpoint trained before, writing a calibrated copy.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import os
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from editor_env.errors import MusicEditError
from editor_env.io import check_config_fields, config_from_args
from pointer_baseline.errors import PointerError
from pointer_baseline.model import PointerModelConfig


@dataclasses.dataclass
class PointerTrainConfig:
    """Settings of one training run; ``configs/pointer_full.json`` holds the full recipe."""

    model: PointerModelConfig = dataclasses.field(default_factory=PointerModelConfig)
    """The network's shape (a checkpoint refuses to load into another)."""
    cache_dir: str = "cache"
    """Feature cache with ``features/{sample}_raw.npz`` (``python -m pointer_baseline.precache``)."""
    pointer_dir: str = "training_data/pointer_sequences"
    """Folder of ``{sample}_pointers.npy`` / ``_ops.npy``."""
    save_dir: str = "models/pointer"
    """Where latest.pt, best.pt, config.json and TensorBoard logs (tb/) go."""
    samples: list[str] | None = None
    """Train on these samples only (default: every sample with pointers and a cached mel)."""
    epochs: int = 100
    """Epochs in all (a resumed run counts its earlier epochs)."""
    batch_size: int = 2
    """Recordings per optimizer step."""
    learning_rate: float = 1e-3
    weight_decay: float = 0.01
    warmup_steps: int = 20
    """Linear learning-rate warm-up (optimizer steps); cosine decay to 10 % afterwards, over ``epochs`` or, with
    ``max_minutes``, over the steps the time budget allows (estimated at each epoch's start), whichever ends first."""
    grad_clip: float = 1.0
    """Gradient norm clip."""
    val_fraction: float = 0.2
    """Share of recordings held out for validation (split by recording)."""
    seed: int = 0
    device: str = "auto"
    """"auto" (CUDA when present), "cpu" or "cuda"."""
    num_threads: int | None = None
    """torch CPU threads (None: torch's default)."""
    event_context: int = 8
    """Steps scored on each side of every seam and of the stop step."""
    random_steps: int = 256
    """Other (continuation) steps scored per recording."""
    hard_steps: int = 0
    """Steps per recording added where the network is most wrong right now (:func:`hardest_steps`: every step is
    first scored without gradients). A false jump at a section boundary inside a kept passage is one step in
    thousands, which ``random_steps`` seldom draws: the shipped model of 2026-11-25 made one such error per
    training recording under teacher forcing (an ad-hoc count: 46 wrong pointers, 28 false jumps, in 40),
    and on held-out pairs greedy decoding dropped whole song sections that way. 0: none."""
    gain_augment_db: float = 6.0
    """Random gain of the mel, +- dB (0 disables)."""
    delta_weight: float = 1.0
    jump_weight: float = 1.0
    use_jump_weight: float = 1.0
    stop_weight: float = 1.0
    op_weight: float = 0.1
    frame_weight: float = 1.0
    """Weight of the per-frame kept / start / end loss (dense auxiliary supervision of the encoder)."""
    frame_pos_weight: float = 20.0
    """Positive weight of the rare start / end frame labels (kept frames are common and weigh 1)."""
    init_from: str | None = None
    """Fine-tuning: start from this checkpoint's weights (its model config must match ``model``; the decision
    thresholds are recalibrated at each validation) with a fresh optimizer, schedule and counters. Ignored by
    ``--resume``, whose checkpoint already holds the weights. None: random initial weights."""
    max_minutes: float | None = None
    """Stop after the epoch that passes this wall-clock budget, counted over resumed runs too (checkpoints record the
    seconds trained); the learning rate decays over the budget (see ``warmup_steps``)."""
    progress: bool = True

    def __post_init__(self) -> None:
        if isinstance(self.model, dict):
            self.model = PointerModelConfig.from_dict(self.model)

    def to_dict(self) -> dict[str, Any]:
        values = dataclasses.asdict(self)
        values["model"] = self.model.to_dict()
        return values

    @classmethod
    def from_dict(cls, values: dict[str, Any], *, source: str = "training config") -> PointerTrainConfig:
        values = check_config_fields(cls, values, source, PointerError)
        values["model"] = PointerModelConfig.from_dict(values.get("model", {}), source=source)
        return cls(**values)

    @classmethod
    def from_json(cls, path: str | Path) -> PointerTrainConfig:
        from editor_env.io import read_json

        values = read_json(path, "pointer training config")
        if not isinstance(values, dict):
            raise PointerError(f"{path}: a training config is a JSON object.")
        return cls.from_dict(values, source=str(path))

    def check(self) -> None:
        """Fail fast, naming the field, on settings that make no sense."""
        problems = []
        if self.epochs < 1:
            problems.append("epochs must be >= 1")
        if self.batch_size < 1:
            problems.append("batch_size must be >= 1")
        if not self.learning_rate > 0:
            problems.append("learning_rate must be > 0")
        if not self.grad_clip > 0:
            problems.append("grad_clip must be > 0")
        if not 0 <= self.val_fraction < 1:
            problems.append("val_fraction must lie in [0, 1)")
        if self.event_context < 0 or self.random_steps < 0 or self.hard_steps < 0:
            problems.append("event_context, random_steps and hard_steps must be >= 0")
        if self.device not in ("auto", "cpu", "cuda") and not self.device.startswith("cuda:"):
            problems.append(f"device {self.device!r} must be auto, cpu or cuda")
        if self.init_from and not Path(self.init_from).is_file():
            problems.append(f"init_from {self.init_from!r} is not a file (give a checkpoint to fine-tune from)")
        if problems:
            raise PointerError("Pointer training config: " + "; ".join(problems) + ".")


def resolve_device(device: str) -> str:
    import torch as th

    if device == "auto":
        return "cuda" if th.cuda.is_available() else "cpu"
    if device.startswith("cuda") and not th.cuda.is_available():
        raise PointerError(f"--device {device}: CUDA is not available here; use --device cpu or auto.")
    return device


# ---------------------------------------------------------------------------------------------
# Losses
# ---------------------------------------------------------------------------------------------
def select_steps(targets, event_context: int, random_steps: int, rng: np.random.Generator) -> np.ndarray:
    """Steps to score: every event with ``event_context`` neighbours, plus ``random_steps`` others."""
    n = targets.n_steps
    events = targets.events
    near = (events[:, None] + np.arange(-event_context, event_context + 1)[None]).ravel()
    near = np.unique(near[(near >= 0) & (near < n)])
    rest = np.setdiff1d(np.arange(n), near, assume_unique=True)
    if rest.size > random_steps:
        rest = rng.choice(rest, size=random_steps, replace=False)
    return np.sort(np.concatenate([near, rest]))


def _bce(logits, target, pos_weight: float = 1.0):
    import torch as th
    import torch.nn.functional as F

    weight = th.tensor(pos_weight, device=logits.device)
    return F.binary_cross_entropy_with_logits(logits, target.float(), pos_weight=weight)


def sample_losses(
    model,
    mel,
    targets,
    steps: np.ndarray,
    *,
    op_head: bool = True,
    frames=None,
    frame_pos_weight: float = 20.0,
    hard_steps: int = 0,
) -> dict[str, Any]:
    """Teacher-forced losses of one recording over ``steps`` and its ``hard_steps`` :func:`hardest_steps` (all torch
    scalars, or None where no step applies)."""
    import torch as th
    import torch.nn.functional as F

    device = mel.device
    mem = model.memory(mel)
    if hard_steps:
        steps = np.union1d(steps, hardest_steps(model, mem, targets, hard_steps))
    t = lambda a: th.as_tensor(a[steps], device=device)  # noqa: E731
    expected, out = _step_outputs(model, mem, targets, steps)
    losses: dict[str, Any] = {}
    live = t(targets.stop) == 0
    pos = model.config.event_pos_weight
    losses["stop_loss"] = _bce(out.stop_logit, t(targets.stop), pos)
    if frames is not None:
        labels = th.as_tensor(frames, device=device)
        pos_weight = th.tensor([1.0, frame_pos_weight, frame_pos_weight], device=device)
        losses["frame_loss"] = F.binary_cross_entropy_with_logits(mem.frame_logits, labels, pos_weight=pos_weight)
    losses["use_jump_loss"] = _bce(out.use_jump_logit[live], t(targets.use_jump)[live], pos) if live.any() else None
    delta_class = t(targets.delta_class)
    has_delta = delta_class >= 0
    losses["delta_loss"] = (
        F.cross_entropy(out.delta_logits[has_delta], delta_class[has_delta]) if has_delta.any() else None
    )
    jump = t(targets.use_jump) == 1
    if jump.any():
        chunk = t(targets.chunk)[jump]
        bucket = F.cross_entropy(model.jump_logits(mem, out.z[jump], expected[jump]), chunk)
        landing = F.cross_entropy(model.landing_logits(mem, out.z[jump], chunk), t(targets.landing)[jump])
        losses["jump_loss"] = bucket + landing
    else:
        losses["jump_loss"] = None
    op = t(targets.op)
    if op_head and out.op_logits is not None and (op >= 0).any():
        losses["op_loss"] = F.cross_entropy(out.op_logits[op >= 0], op[op >= 0])
    else:
        losses["op_loss"] = None
    return losses


def recording_loss_module(model, **loss_kwargs):
    """A module whose ``forward(mel, targets, steps, frames)`` is :func:`sample_losses` of ``model``:
    DistributedDataParallel hooks ``forward``, and the network is driven through other methods
    (``memory``, ``steps`` …)."""
    import torch as th

    class RecordingLoss(th.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.model = model

        def forward(self, mel, targets, steps, frames):
            return sample_losses(self.model, mel, targets, steps, frames=frames, **loss_kwargs)

    return RecordingLoss()


LOSS_NAMES = ("delta_loss", "jump_loss", "use_jump_loss", "stop_loss", "op_loss", "frame_loss")


def total_loss(losses: dict[str, Any], config: PointerTrainConfig):
    weights = {
        "delta_loss": config.delta_weight,
        "jump_loss": config.jump_weight,
        "use_jump_loss": config.use_jump_weight,
        "stop_loss": config.stop_weight,
        "op_loss": config.op_weight,
        "frame_loss": config.frame_weight,
    }
    terms = [weights[k] * v for k, v in losses.items() if v is not None and weights[k] > 0]
    return sum(terms)


# ---------------------------------------------------------------------------------------------
# Validation
# ---------------------------------------------------------------------------------------------
def _step_outputs(model, mem, targets, steps: np.ndarray):
    """``(expected (n,) long tensor, StepOutput)`` of decoder ``steps`` of a recording given the true history."""
    import torch as th

    from pointer_baseline.model import step_state_features

    expected = th.as_tensor(targets.expected[steps], device=mem.frame_logits.device)
    state = step_state_features(
        steps,
        targets.expected[steps],
        targets.run[steps],
        targets.seams[steps],
        mem.n_raw,
        model.config.compression_ratio,
    )
    return expected, model.steps(mem, expected, state)


def _all_steps(model, mem, targets, chunk_steps: int = 4096):
    """``(steps, expected, StepOutput)`` for every decoder step of a recording given the true history, in chunks of
    ``chunk_steps`` steps (call under ``torch.no_grad()``)."""
    for a in range(0, targets.n_steps, chunk_steps):
        steps = np.arange(a, min(a + chunk_steps, targets.n_steps))
        yield (steps, *_step_outputs(model, mem, targets, steps))


def teacher_forced_predictions(model, mel, targets, *, chunk_steps: int = 4096) -> dict[str, np.ndarray]:
    """The model's greedy choice at every step given the true history: ``pointer`` (next pointer
    when it does not stop), ``use_jump`` and ``stop`` (bool), ``use_jump_logit`` and ``stop_logit`` (float), all
    ``(m + 1,)``."""
    import torch as th

    model.eval()
    with th.no_grad():
        mem = model.memory(mel)
        pointer, use_jump_logit, stop_logit = [], [], []
        for _, expected, out in _all_steps(model, mem, targets, chunk_steps):
            pointer.append(model.resolve(mem, out, expected).cpu().numpy())
            use_jump_logit.append(out.use_jump_logit.float().cpu().numpy())
            stop_logit.append(out.stop_logit.float().cpu().numpy())
    stop_logit, use_jump_logit = np.concatenate(stop_logit), np.concatenate(use_jump_logit)
    return {
        "pointer": np.concatenate(pointer),
        "use_jump": use_jump_logit > model.config.jump_decision_threshold,
        "stop": stop_logit > model.config.stop_decision_threshold,
        "use_jump_logit": use_jump_logit,
        "stop_logit": stop_logit,
    }


def teacher_forced_log_likelihood(model, mel, targets, *, chunk_steps: int = 4096) -> np.ndarray:
    """``(m + 1,)`` float64: the log-probability (nats) the network gives each step of the pointer sequence behind
    ``targets`` (any sequence: the reference's, or a decoded edit's through :func:`~pointer_baseline.data.step_targets`)
    given its own history, scored as greedy decoding and the beam search decide (``stop`` and ``use_jump`` calibrated,
    :func:`~pointer_baseline.model.calibrated_log_probs`): ``log p(no stop)`` and then ``log p(no jump) + log p(delta)``
    or ``log p(jump) + log p(bucket) + log p(landing frame)`` at a step that plays, ``log p(stop)`` at the last step.

    Greedy decoding takes the likeliest choice at every step, so where the reference's sum beats the greedy edit's,
    the greedy edit is a search error (a look-ahead could mend it); where it does not, the network itself prefers
    the wrong edit (``scripts/eval_pointer.py`` counts both)."""
    import torch as th
    import torch.nn.functional as F

    from pointer_baseline.model import calibrated_log_probs

    def pick(logits, classes):
        return F.log_softmax(logits, dim=-1).gather(1, classes[:, None])[:, 0]

    cfg = model.config
    model.eval()
    parts = []
    with th.no_grad():
        mem = model.memory(mel)
        for steps, expected, out in _all_steps(model, mem, targets, chunk_steps):
            t = lambda a, steps=steps: th.as_tensor(a[steps], device=mem.enc.device)  # noqa: E731
            lp_stop, lp_go = calibrated_log_probs(out.stop_logit, cfg.stop_decision_threshold)
            lp_jump, lp_stay = calibrated_log_probs(out.use_jump_logit, cfg.jump_decision_threshold)
            stop = t(targets.stop) == 1
            lp = th.where(stop, lp_stop, lp_go)
            delta_class, jump = t(targets.delta_class), t(targets.use_jump) == 1
            has_delta = delta_class >= 0
            if has_delta.any():
                lp[has_delta] += lp_stay[has_delta] + pick(out.delta_logits[has_delta], delta_class[has_delta])
            if jump.any():
                chunk = t(targets.chunk)[jump]
                lp[jump] += (
                    lp_jump[jump]
                    + pick(model.jump_logits(mem, out.z[jump], expected[jump]), chunk)
                    + pick(model.landing_logits(mem, out.z[jump], chunk), t(targets.landing)[jump])
                )
            parts.append(lp.double().cpu().numpy())
    return np.concatenate(parts)


def seam_hits(predicted: np.ndarray, targets, *, jumps: bool | None = None) -> tuple[int, int]:
    """``(right, seams)``: of the reference's seams (:attr:`~pointer_baseline.data.StepTargets.seam_steps`), how many
    the teacher-forced next pointers ``predicted`` ``(m + 1,)`` (:func:`teacher_forced_predictions`) get exactly
    right. ``jumps``: only the jumps (True) or only the deltas (False); None: all. Seams are a few steps in a
    thousand, so ``val/delta_accuracy`` hides them: on the 50 held-out pairs of ``scripts/eval_pointer.py`` the
    shipped model gets 1.000 of the steps right but 0.832 of the 185 seams (6 of the 13 deltas, 0.860 of the
    jumps)."""
    steps = targets.seam_steps
    if jumps is not None:
        steps = steps[(targets.use_jump[steps] == 1) == jumps]
    return int((predicted[steps] == targets.pointer[steps]).sum()), int(steps.size)


def hardest_steps(model, mem, targets, k: int, *, margin: float = 1.0) -> np.ndarray:
    """The (at most) ``k`` decoder steps of a recording where the network's choice is most wrong given the true
    history, by how far the deciding logit lies on the wrong side: ``use_jump`` and ``stop`` against
    ``event_threshold`` (the loss's own calibration, not the decision thresholds that validation sets), the
    delta's best wrong class against the right one. Steps right by more than ``margin`` (nats) are never chosen.
    ``mem``: the recording's :class:`~pointer_baseline.model.Memory`; no gradients."""
    import torch as th

    thr = model.config.event_threshold
    scores = []
    with th.no_grad():
        for steps, _, out in _all_steps(model, mem, targets):
            stop, use_jump, cls = (
                th.as_tensor(a[steps], device=out.stop_logit.device)
                for a in (targets.stop, targets.use_jump, targets.delta_class)
            )
            score = (1.0 - 2.0 * stop.float()) * (out.stop_logit - thr)  # > 0: on the wrong side
            jump = (1.0 - 2.0 * use_jump.float()) * (out.use_jump_logit - thr)
            score = th.where(stop == 0, th.maximum(score, jump), score)
            has = cls >= 0
            if has.any():
                logits = out.delta_logits[has]
                right = logits.gather(1, cls[has, None])[:, 0]
                wrong = logits.scatter(1, cls[has, None], float("-inf")).amax(dim=1)
                score[has] = th.maximum(score[has], wrong - right)
            scores.append(score.float().cpu().numpy())
    score = np.concatenate(scores)
    candidates = np.flatnonzero(score > -margin)
    return np.sort(candidates[np.argsort(-score[candidates], kind="stable")[:k]])


def f1_best_threshold(logits: list[np.ndarray], targets: list[np.ndarray], *, head: str = "stop") -> float:
    """The decision threshold of a binary head with the best F1 over the decoder steps of some recordings (ties:
    the highest).

    :param logits: per recording, the teacher-forced logits of the steps (:func:`teacher_forced_predictions`).
    :param targets: per recording, the same steps' targets, 1 where the event happens (``StepTargets.stop``).
    :param head: the head's name, for the error.
    :returns: a logit halfway between the lowest one that fires and the next below it.
    """
    logits = np.concatenate(logits).astype(np.float64)
    labels = np.concatenate(targets) == 1
    if not labels.any():
        raise PointerError(f"f1_best_threshold: the recordings hold no {head} step.")
    order = np.argsort(-logits, kind="stable")
    ranked, truth = logits[order], labels[order]
    true_pos = np.cumsum(truth)
    f1 = 2 * true_pos / (np.arange(1, ranked.size + 1) + truth.sum())  # 2 TP / (fired + true events)
    cut = np.append(ranked[1:] < ranked[:-1], True)  # a threshold can only fall between different logits
    k = int(np.argmax(np.where(cut, f1, -1.0)))
    return float((ranked[k] + ranked[k + 1]) / 2) if k + 1 < ranked.size else float(ranked[k] - 1.0)


def calibrate_thresholds(model, recordings) -> dict[str, float]:
    """Set the model config's ``stop_threshold`` and ``jump_threshold`` to the ones with the best F1
    (:func:`f1_best_threshold`) over every decoder step of ``recordings``, an iterable of ``(mel tensor,
    StepTargets)``; ``use_jump`` is judged on the steps that do not stop, and keeps its threshold when no step of
    the recordings jumps. Returns both (``jump_threshold``: the decision threshold in use)."""
    stop_logits, stops, jump_logits, jumps = [], [], [], []
    for mel, targets in recordings:
        pred = teacher_forced_predictions(model, mel, targets)
        stop_logits.append(pred["stop_logit"])
        stops.append(targets.stop)
        jump_logits.append(pred["use_jump_logit"][:-1])
        jumps.append(targets.use_jump[:-1])
    cfg = model.config
    cfg.stop_threshold = f1_best_threshold(stop_logits, stops, head="stop")
    if any((j == 1).any() for j in jumps):  # recordings cut only by short deltas leave the jump threshold as it is
        cfg.jump_threshold = f1_best_threshold(jump_logits, jumps, head="use_jump")
    return {"stop_threshold": cfg.stop_threshold, "jump_threshold": cfg.jump_decision_threshold}


def validation_exits(cache_dir, samples: list) -> dict:
    """``{sample: BeatExits or None}``: the whole-beat exits of each recording from its cached analysis, for
    free-running validation as inference decodes (:func:`pointer_baseline.whole_beats.beat_exits`)."""
    from editor_env.cache import load_analysis
    from editor_env.params import DEFAULT_PARAMS
    from pointer_baseline.whole_beats import beat_exits

    return {s.name: beat_exits(load_analysis(cache_dir, s.name), DEFAULT_PARAMS)[0] for s in samples}


def evaluate(
    model, samples: list, config: PointerTrainConfig, device: str, exits: dict | None = None
) -> dict[str, float]:
    """Validation metrics over every step of ``samples`` (teacher forcing, no sampling of steps), after setting
    the model's stop and jump thresholds to the ones with the best F1 on them (:func:`calibrate_thresholds`:
    free-running decoding and the checkpoints use them). Free-running decoding moves exits onto whole beats with
    ``exits`` (:func:`validation_exits`; None: the network's own exits)."""
    import torch as th

    from pointer_baseline.data import frame_labels, step_targets

    cfg = model.config
    correct = frames = jump_ok = stop_ok = steps_all = 0
    stop_pred = stop_true_pos = 0
    free_exact = free_within5 = seams_right = seams_all = 0
    length_errors = []
    loss_sum, loss_n = 0.0, 0
    model.eval()
    all_targets = [
        step_targets(s.pointers, s.n_raw, max_delta=cfg.max_delta, jump_chunk=cfg.jump_chunk, ops=s.ops)
        for s in samples
    ]
    thresholds = calibrate_thresholds(
        model, ((th.as_tensor(s.mel, device=device), t) for s, t in zip(samples, all_targets))
    )
    for sample, targets in zip(samples, all_targets):
        mel = th.as_tensor(sample.mel, device=device)
        pred = teacher_forced_predictions(model, mel, targets)  # again: the jumps follow the threshold just set
        m = targets.n_steps - 1
        correct += int((pred["pointer"][:m] == targets.pointer[:m]).sum())
        frames += m
        right, seams = seam_hits(pred["pointer"], targets)
        seams_right, seams_all = seams_right + right, seams_all + seams
        jump_ok += int((pred["use_jump"][:m] == (targets.use_jump[:m] == 1)).sum())
        stop_ok += int((pred["stop"] == (targets.stop == 1)).sum())
        steps_all += targets.n_steps
        stop_pred += int(pred["stop"].sum())
        stop_true_pos += int((pred["stop"] & (targets.stop == 1)).sum())
        decoded, _ = model.decode(mel, exit_snap=(exits or {}).get(sample.name))
        n = min(decoded.size, m)
        free_exact += int((decoded[:n] == sample.pointers[:n]).sum())
        free_within5 += int((np.abs(decoded[:n] - sample.pointers[:n]) <= 5).sum())
        length_errors.append(abs(decoded.size - m))
        with th.no_grad():
            rng = np.random.default_rng(0)
            sel = select_steps(targets, config.event_context, config.random_steps, rng)
            labels = frame_labels(sample.pointers, sample.n_raw)
            losses = sample_losses(
                model, mel, targets, sel, op_head=cfg.op_head, frames=labels, frame_pos_weight=config.frame_pos_weight
            )
            loss_sum += float(total_loss(losses, config))
            loss_n += 1
    return {
        "delta_accuracy": correct / max(frames, 1),
        "seam_accuracy": seams_right / seams_all if seams_all else float("nan"),
        "use_jump_accuracy": jump_ok / max(frames, 1),
        "stop_accuracy": stop_ok / max(steps_all, 1),
        "stop_precision": stop_true_pos / stop_pred if stop_pred else float("nan"),
        "loss": loss_sum / max(loss_n, 1),
        "free_exact": free_exact / max(frames, 1),
        "free_within5": free_within5 / max(frames, 1),
        "free_length_error": float(np.mean(length_errors)) if length_errors else float("nan"),
        **thresholds,
    }


# ---------------------------------------------------------------------------------------------
# The loop
# ---------------------------------------------------------------------------------------------
@dataclasses.dataclass
class TrainResult:
    """What :func:`train` did."""

    save_dir: Path
    epoch: int
    """Completed epochs (counting a resumed run's earlier ones)."""
    step: int
    """Optimizer steps in all."""
    best_score: float
    """Best ``val/free_within5`` (the ``best.pt`` criterion)."""
    metrics: dict[str, float]
    """The last validation metrics."""
    train_samples: list[str]
    val_samples: list[str]
    seconds: float


def _lr_factor(step: int, config: PointerTrainConfig, total_steps: float) -> float:
    """Learning-rate multiplier at optimizer step ``step`` of a schedule of ``total_steps`` steps."""
    if step < config.warmup_steps:
        return (step + 1) / config.warmup_steps
    total = max(total_steps - config.warmup_steps, 1)
    progress = min((step - config.warmup_steps) / total, 1.0)
    return 0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * progress))


def train(config: PointerTrainConfig, *, resume: str | None = None) -> TrainResult:
    """Run one training; returns its counters and last metrics. Writes ``{save_dir}/config.json``,
    ``latest.pt`` (every epoch), ``best.pt`` (best ``val/free_within5``) and ``tb/``.

    Under ``torchrun`` this process is one rank of a DistributedDataParallel run
    (:mod:`editor_env.distributed`): every rank draws the same global batches of ``batch_size``
    recordings (and the same random steps and gains), scores ``batch[rank::world_size]`` and DDP
    averages the gradients, so the updates are those of one process with the same global batch;
    rank 0 validates, logs and writes the checkpoints.
    """
    from editor_env.distributed import distributed_context, rank_device

    config.check()
    device = resolve_device(config.device)
    with distributed_context(device) as ctx:
        return _train(config, resume, rank_device(device, ctx), ctx)


def _train(config: PointerTrainConfig, resume: str | None, device: str, ctx) -> TrainResult:
    import torch as th
    from tqdm.auto import tqdm

    from editor_env.distributed import all_reduce_sum, broadcast, no_sync, shard, summary_writer, wrap_ddp
    from editor_env.io import atomic_write_text
    from pointer_baseline.checkpoint import load_weights, read_checkpoint, save_checkpoint
    from pointer_baseline.data import discover_samples, frame_labels, load_sample, split_samples, step_targets
    from pointer_baseline.model import PointerNetwork

    start_time = time.perf_counter()
    say = print if ctx.is_main else (lambda *args, **kwargs: None)
    if config.num_threads:
        th.set_num_threads(int(config.num_threads))
    save_dir = Path(config.save_dir)
    save_dir.mkdir(parents=True, exist_ok=True)

    names = config.samples or discover_samples(config.cache_dir, config.pointer_dir)
    if not names:
        raise PointerError(
            f"No sample has both a pointer file in {config.pointer_dir} and a cached mel in {config.cache_dir}: "
            "run `python -m pointer_baseline.precache --data-dir DIR --cache-dir DIR` first."
        )
    train_names, val_names = split_samples(names, config.val_fraction, config.seed)
    samples = {
        n: load_sample(
            config.cache_dir,
            config.pointer_dir,
            n,
            use_stems=config.model.use_stems,
            use_beat_features=config.model.use_beat_features,
            recurrence_lags=config.model.recurrence_lags,
        )
        for n in names
    }
    train_samples = [samples[n] for n in train_names]
    val_samples = [samples[n] for n in val_names] or train_samples
    val_exits = validation_exits(config.cache_dir, val_samples) if ctx.is_main else None
    cfg = config.model
    targets = {
        n: step_targets(s.pointers, s.n_raw, max_delta=cfg.max_delta, jump_chunk=cfg.jump_chunk, ops=s.ops)
        for n, s in samples.items()
    }
    frames = {n: frame_labels(s.pointers, s.n_raw) for n, s in samples.items()}

    th.manual_seed(config.seed)
    model = PointerNetwork(cfg).to(device)
    optimizer = th.optim.AdamW(model.parameters(), lr=config.learning_rate, weight_decay=config.weight_decay)
    rng = np.random.default_rng(config.seed)
    epoch, step, best = 0, 0, -float("inf")
    seconds_before = 0.0  # trained by the runs this one resumes
    metrics: dict[str, float] = {}
    if resume:
        payload = read_checkpoint(resume)
        load_weights(model, payload, resume)
        if "optimizer" not in payload:
            raise PointerError(f"{resume} holds no optimizer state: resume from a latest.pt written by the trainer.")
        optimizer.load_state_dict(payload["optimizer"])
        epoch, step = int(payload["epoch"]), int(payload["step"])
        seconds_before = float(payload.get("train_seconds", 0.0))
        best = float(payload.get("best_val_score", -float("inf")))
        metrics = dict(payload.get("metrics", {}))
        states = payload.get("rng", {})
        if "numpy" in states:
            rng.bit_generator.state = json.loads(states["numpy"])
        if "torch" in states:
            th.set_rng_state(states["torch"])
        say(f"Resumed from {resume} after epoch {epoch} (step {step})")
    elif config.init_from:
        load_weights(model, read_checkpoint(config.init_from), config.init_from, grow=True)
        say(f"Fine-tuning from the weights of {config.init_from}")
    if ctx.is_main:
        atomic_write_text(save_dir / "config.json", json.dumps(config.to_dict(), indent=2) + "\n")
    say(
        f"{len(train_samples)} training and {len(val_names)} validation recording(s); "
        f"{sum(p.numel() for p in model.parameters()):,} parameters on {device}"
        + (f"; rank 0 of {ctx.world_size} ({ctx.backend})" if ctx.enabled else "")
    )
    loss_module = wrap_ddp(
        recording_loss_module(
            model, op_head=cfg.op_head, frame_pos_weight=config.frame_pos_weight, hard_steps=config.hard_steps
        ),
        ctx,
        find_unused_parameters=True,  # the jump and op heads sit out batches without jumps or ops
    )
    writer = summary_writer(save_dir / "tb", ctx)
    steps_per_epoch = max(math.ceil(len(train_samples) / config.batch_size), 1)

    def checkpoint(path: Path) -> None:
        if not ctx.is_main:
            return
        save_checkpoint(
            path,
            model,
            train_config=config.to_dict(),
            optimizer=optimizer.state_dict(),
            epoch=epoch,
            step=step,
            train_seconds=seconds_before + time.perf_counter() - start_time,
            best_val_score=best,
            metrics=metrics,
            rng={"numpy": json.dumps(rng.bit_generator.state), "torch": th.get_rng_state()},
            train_samples=train_names,
            val_samples=val_names,
        )

    def schedule_steps() -> float:
        """Steps the learning-rate schedule spans: the epochs', or fewer when the time budget ends first (estimated
        from the seconds per step so far, resumed runs, loading and validation included; rank 0's estimate, so every
        rank agrees)."""
        total = float(config.epochs * steps_per_epoch)
        if config.max_minutes is not None and step > 0 and ctx.is_main:
            spent = seconds_before + time.perf_counter() - start_time
            total = min(total, step + max(60 * config.max_minutes - spent, 0.0) * step / spent)
        return float(broadcast(total, ctx))

    try:
        while epoch < config.epochs:
            total_steps = schedule_steps()
            model.train()
            order = rng.permutation(len(train_samples))
            batches = [order[a : a + config.batch_size] for a in range(0, len(order), config.batch_size)]
            show = config.progress and ctx.is_main
            bar = tqdm(batches, desc=f"epoch {epoch + 1}/{config.epochs}", unit="step", disable=not show)
            for batch in bar:
                for group in optimizer.param_groups:
                    group["lr"] = config.learning_rate * _lr_factor(step, config, total_steps)
                optimizer.zero_grad(set_to_none=True)
                sums = dict.fromkeys(LOSS_NAMES, 0.0)
                counts = dict.fromkeys(LOSS_NAMES, 0)
                total_value = 0.0
                # every rank draws for the whole global batch, in one process's order, and scores its share
                draws = []
                for j in batch:
                    shift = None
                    if config.gain_augment_db > 0:
                        shift = float(rng.uniform(-config.gain_augment_db, config.gain_augment_db)) / 80.0
                    tg = targets[train_samples[j].name]
                    draws.append((j, shift, select_steps(tg, config.event_context, config.random_steps, rng)))
                mine, weight = shard(draws, ctx), 1.0
                if not mine:  # fewer recordings than ranks: a zero-weight pass keeps this rank in the all-reduce
                    mine, weight = draws[:1], 0.0
                for k, (j, shift, sel) in enumerate(mine):
                    sample = train_samples[j]
                    mel = th.as_tensor(sample.mel, device=device)
                    if shift is not None:
                        mel = (mel + shift).clamp(0.0, 1.0)
                    with no_sync(loss_module, ctx, sync=k == len(mine) - 1):  # one all-reduce per step
                        losses = loss_module(mel, targets[sample.name], sel, frames[sample.name])
                        loss = total_loss(losses, config) / len(batch)
                        # DDP averages over ranks; the global batch's loss is their sum
                        (loss * (weight * ctx.world_size) if ctx.enabled else loss).backward()
                    if weight:
                        total_value += float(loss.detach())
                        for name, v in losses.items():
                            if v is not None:
                                sums[name] += float(v.detach())
                                counts[name] += 1
                if ctx.enabled:  # the logged figures are the global batch's
                    reduced = all_reduce_sum([total_value, *sums.values(), *counts.values()], ctx)
                    total_value = reduced[0]
                    sums = dict(zip(LOSS_NAMES, reduced[1 : 1 + len(LOSS_NAMES)]))
                    counts = dict(zip(LOSS_NAMES, reduced[1 + len(LOSS_NAMES) :]))
                grad_norm = float(th.nn.utils.clip_grad_norm_(model.parameters(), config.grad_clip))
                optimizer.step()
                step += 1
                for k in LOSS_NAMES:
                    if counts[k]:
                        writer.add_scalar(f"train/{k}", sums[k] / counts[k], step)
                writer.add_scalar("train/loss", total_value, step)
                writer.add_scalar("train/grad_norm", grad_norm, step)
                writer.add_scalar("train/learning_rate", optimizer.param_groups[0]["lr"], step)
                bar.set_postfix(loss=f"{total_value:.3f}", gnorm=f"{grad_norm:.2f}")
            bar.close()
            epoch += 1
            metrics = broadcast(evaluate(model, val_samples, config, device, val_exits) if ctx.is_main else None, ctx)
            for k, v in metrics.items():
                if not math.isnan(v):
                    writer.add_scalar(f"val/{k}", v, step)
            writer.flush()
            improved = metrics["free_within5"] > best
            if improved:
                best = metrics["free_within5"]
            if improved:  # best.pt first: a latest.pt that counts this epoch's score as the best implies best.pt has it
                checkpoint(save_dir / "best.pt")
            checkpoint(save_dir / "latest.pt")
            if config.progress:
                say(
                    f"epoch {epoch}: val loss {metrics['loss']:.4f}, delta accuracy {metrics['delta_accuracy']:.4f}, "
                    f"free-running within 5 {metrics['free_within5']:.4f}"
                    f"{' (best)' if improved else ''}",
                    flush=True,
                )
            spent = seconds_before + time.perf_counter() - start_time
            out_of_time = config.max_minutes is not None and spent > 60 * config.max_minutes
            if broadcast(out_of_time, ctx):  # rank 0's clock decides, so every rank stops after the same epoch
                say(f"Stopping after epoch {epoch}: the {config.max_minutes} min budget is spent.")
                break
    finally:
        writer.close()
    return TrainResult(save_dir, epoch, step, best, metrics, train_names, val_names, time.perf_counter() - start_time)


def calibrate_checkpoint(
    checkpoint: str | os.PathLike,
    out: str | os.PathLike,
    *,
    cache_dir: str | None = None,
    pointer_dir: str | None = None,
    device: str = "cpu",
) -> dict[str, float]:
    """Calibrate the stop and jump thresholds of a trained checkpoint (:func:`calibrate_thresholds`) on its
    validation recordings and write the calibrated copy to ``out``; ``checkpoint`` is left as it is.

    The recordings are the checkpoint's ``val_samples`` in the folders of its ``train_config`` unless
    ``cache_dir`` / ``pointer_dir`` are given. Returns the thresholds.

    :raises PointerError: ``out`` exists or is ``checkpoint``; no recordings; see
        :func:`pointer_baseline.checkpoint.read_checkpoint`.
    """
    import torch as th

    from pointer_baseline.checkpoint import load_model, save_checkpoint
    from pointer_baseline.data import load_sample_and_targets

    if Path(out).exists():
        raise PointerError(f"{out} exists: give --out a new file (the calibrated copy is written there).")
    model, payload = load_model(checkpoint, device=device)
    trained = payload.get("train_config", {})
    cache_dir = cache_dir or trained.get("cache_dir")
    pointer_dir = pointer_dir or trained.get("pointer_dir")
    names = list(payload.get("val_samples") or payload.get("train_samples") or [])
    if not names or not cache_dir or not pointer_dir:
        raise PointerError(
            f"{checkpoint} names no validation recordings or folders: give --cache-dir and --pointer-dir of the "
            "recordings it was trained on."
        )

    def recordings():
        for name in names:
            sample, targets = load_sample_and_targets(cache_dir, pointer_dir, name, model.config)
            yield th.as_tensor(sample.mel, device=device), targets

    thresholds = calibrate_thresholds(model, recordings())
    own = ("format", "paradigm", "format_version", "model_version", "model_config", "state_dict")
    extra = {k: v for k, v in payload.items() if k not in own}
    save_checkpoint(out, model, **extra)
    return thresholds


def parse_args(argv: list[str] | None = None) -> tuple[PointerTrainConfig, argparse.Namespace]:
    parser = argparse.ArgumentParser(
        prog="python -m pointer_baseline.trainers.pointer_trainer",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--config", help="JSON config (configs/pointer_full.json); flags override it")
    parser.add_argument("--cache-dir", help="feature cache (default cache)")
    parser.add_argument("--pointer-dir", help="pointer sequences (default training_data/pointer_sequences)")
    parser.add_argument("--save-dir", help="where checkpoints and tb/ go (default models/pointer)")
    parser.add_argument("--epochs", type=int, help="epochs in all")
    parser.add_argument("--batch-size", type=int)
    parser.add_argument("--learning-rate", type=float)
    parser.add_argument("--seed", type=int)
    parser.add_argument("--device", help="auto (CUDA when present), cpu or cuda")
    parser.add_argument("--num-threads", type=int, help="torch CPU threads")
    parser.add_argument("--max-minutes", type=float, help="stop after the epoch that passes this budget")
    parser.add_argument("--samples", nargs="+", help="train on these samples only")
    parser.add_argument("--resume", help="continue from this latest.pt")
    parser.add_argument("--init-from", help="fine-tune: start from this checkpoint's weights (fresh optimizer)")
    parser.add_argument("--no-progress", action="store_true")
    parser.add_argument(
        "--calibrate",
        metavar="CHECKPOINT",
        help="train nothing: set the stop and jump thresholds of CHECKPOINT on its validation recordings, written to --out",
    )
    parser.add_argument("--out", help="with --calibrate: the calibrated checkpoint (a new file)")
    args = parser.parse_args(argv)
    if args.calibrate and not args.out:
        parser.error("--calibrate needs --out (the checkpoint itself is left as it is)")
    config = config_from_args(PointerTrainConfig, args)
    if args.no_progress:
        config.progress = False
    return config, args


def main(argv: list[str] | None = None) -> int:
    try:
        config, args = parse_args(argv)
        if args.calibrate:
            thresholds = calibrate_checkpoint(
                args.calibrate, args.out, cache_dir=args.cache_dir, pointer_dir=args.pointer_dir
            )
            print(
                f"stop threshold {thresholds['stop_threshold']:.3f}, jump threshold {thresholds['jump_threshold']:.3f} "
                f"(logits) set on the validation recordings; wrote {args.out}"
            )
            return 0
        result = train(config, resume=args.resume)
    except MusicEditError as exc:
        print(f"pointer_trainer: error: {exc}", file=sys.stderr)
        return 2
    if os.environ.get("RANK", "0") == "0":  # under torchrun: rank 0 reports
        print(
            f"Done: {result.epoch} epoch(s), {result.step} step(s) in {result.seconds:.0f} s; best val/free_within5 "
            f"{result.best_score:.4f}; checkpoints in {result.save_dir}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())

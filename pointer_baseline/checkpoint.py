"""Pointer-network checkpoints: written atomically, checked on load (format, version, config).

A checkpoint is a ``torch.save`` dict of plain values and tensors (loaded with
``weights_only=True``, so no code runs on load)::

    format         "musicedit-pointer-network"
    paradigm       "pointer" (editor_env.checkpoints: a loader of another paradigm names it)
    format_version editor_env.checkpoints.FORMAT_VERSION (absent in checkpoints written before it)
    model_version  MODEL_VERSION of the code that wrote it
    model_config   PointerModelConfig as a dict
    train_config   the PointerTrainConfig of the run (a dict), when written by the trainer
    state_dict     the weights
    optimizer      the optimizer state (trainer checkpoints)
    epoch, step    completed epochs and optimizer steps
    best_val_score best val/free_within5 so far (the best.pt criterion)
    rng            random states (torch, numpy) so a resumed run continues the same sequence
    metrics        the last validation metrics
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch as th

from editor_env.checkpoints import torch_header
from editor_env.io import atomic_path, read_torch_checkpoint
from pointer_baseline.errors import PointerError
from pointer_baseline.model import MODEL_VERSION, PointerModelConfig, PointerNetwork

CHECKPOINT_FORMAT = "musicedit-pointer-network"


def save_checkpoint(path: str | os.PathLike, model: PointerNetwork, **extra: Any) -> Path:
    """Write ``model`` (its config, version and weights) plus ``extra`` entries to ``path`` atomically."""
    payload = {
        "format": CHECKPOINT_FORMAT,
        **torch_header("pointer"),
        "model_version": MODEL_VERSION,
        "model_config": model.config.to_dict(),
        "state_dict": {k: v.detach().cpu() for k, v in model.state_dict().items()},
        **extra,
    }
    with atomic_path(path) as tmp:
        th.save(payload, tmp)
    return Path(path)


def read_checkpoint(path: str | os.PathLike) -> dict[str, Any]:
    """The checked contents of a checkpoint.

    :raises PointerError: missing, truncated or foreign file, or one written by another model version.
    """
    path = Path(path)
    payload = read_torch_checkpoint(
        path,
        format_tag=CHECKPOINT_FORMAT,
        what="pointer-network",
        trained_by="python -m pointer_baseline.trainers.pointer_trainer",
        error=PointerError,
    )
    version = payload.get("model_version")
    if version != MODEL_VERSION:
        raise PointerError(
            f"{path} was written by pointer-network model version {version}, this code is version {MODEL_VERSION}: "
            "the weights mean something else; retrain (or use the musicedit version that wrote it)."
        )
    for key in ("model_config", "state_dict"):
        if key not in payload:
            raise PointerError(f"{path} has no {key!r}: it is incomplete; retrain or use another checkpoint.")
    return payload


def checkpoint_config(payload: dict[str, Any], path: str | os.PathLike = "checkpoint") -> PointerModelConfig:
    return PointerModelConfig.from_dict(payload["model_config"], source=f"{path} model_config")


def check_config(saved: PointerModelConfig, wanted: PointerModelConfig, path: str | os.PathLike) -> None:
    """Raise :class:`PointerError` naming every field where ``saved`` and ``wanted`` differ."""
    diff = saved.differences(wanted)
    if diff:
        listed = ", ".join(f"{k}: checkpoint {a!r} vs config {b!r}" for k, (a, b) in diff.items())
        raise PointerError(
            f"{path} was trained with another model config ({listed}); use the config it was trained with "
            "(saved in the checkpoint and in config.json beside it) or train a new model."
        )


def load_weights(
    model: PointerNetwork, payload: dict[str, Any], path: str | os.PathLike, *, grow: bool = False
) -> None:
    """Load the checkpoint's weights into ``model`` (configs must match: :func:`check_config`).

    With ``grow`` (fine-tuning) a checkpoint also loads into a model that has more than it, and the network starts
    out deciding as it did: ``keep_context`` where it had none (the new inputs' weights start at zero), and more
    encoder layers (``n_layers``; the new blocks are appended and start as the identity,
    :meth:`~pointer_baseline.model.EncoderBlock.make_identity`)."""
    saved = checkpoint_config(payload, path)
    state = payload["state_dict"]
    if grow and saved.keep_context == 0 and model.config.keep_context > 0:
        saved = PointerModelConfig.from_dict({**saved.to_dict(), "keep_context": model.config.keep_context})
        weight = state["frame_proj.weight"]
        extra = model.frame_proj.weight.shape[1] - weight.shape[1]
        state = {**state, "frame_proj.weight": th.cat([weight, weight.new_zeros(weight.shape[0], extra)], dim=1)}
    if grow and saved.n_layers < model.config.n_layers:
        state = dict(state)
        for i in range(saved.n_layers, model.config.n_layers):
            block = model.encoder.blocks[i]
            block.make_identity()
            state.update({f"encoder.blocks.{i}.{k}": v.clone() for k, v in block.state_dict().items()})
        saved = PointerModelConfig.from_dict({**saved.to_dict(), "n_layers": model.config.n_layers})
    check_config(saved, model.config, path)
    try:
        model.load_state_dict(state)
    except RuntimeError as exc:
        raise PointerError(f"{path}: its weights do not fit the model ({str(exc).splitlines()[0]}); retrain.") from exc


def load_model(
    path: str | os.PathLike, config: PointerModelConfig | None = None, device: str = "cpu"
) -> tuple[PointerNetwork, dict[str, Any]]:
    """The model saved at ``path`` (in eval mode on ``device``) and the checkpoint's contents.

    :param config: when given, the checkpoint must have been trained with exactly this config.
    :raises PointerError: see :func:`read_checkpoint`; a config that differs (each field named).
    """
    payload = read_checkpoint(path)
    saved = checkpoint_config(payload, path)
    if config is not None:
        check_config(saved, config, path)
    model = PointerNetwork(saved)
    load_weights(model, payload, path)
    return model.to(device).eval(), payload

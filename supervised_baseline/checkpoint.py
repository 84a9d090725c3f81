"""Checkpoints of the supervised baseline: written atomically, refused with a clear message when
they are truncated, foreign, or made with another model config or analysis parameters.

A checkpoint is a ``torch.save`` dict (loaded with ``weights_only=True``, so no code runs)::

    format "musicedit-supervised", version, paradigm "supervised" and format_version
    (editor_env.checkpoints; absent in checkpoints written before them), model_config, train_config, params (AudioParams),
    normalisation {mean, std} (also in the weights' buffers), model_state, optimizer_state,
    epoch (epochs finished), global_step, best_val, history [per-epoch dicts], torch_rng_state
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from editor_env.checkpoints import torch_header
from editor_env.io import atomic_path, read_torch_checkpoint
from editor_env.params import DEFAULT_PARAMS, AudioParams
from supervised_baseline.config import ModelConfig, config_diff, model_config_from_dict
from supervised_baseline.errors import SupervisedError

CHECKPOINT_FORMAT = "musicedit-supervised"
CHECKPOINT_VERSION = 1


def save_checkpoint(path: str | os.PathLike, payload: dict[str, Any]) -> Path:
    """``torch.save`` ``payload`` (plus format and version) to a temporary file, then rename."""
    import torch as th

    with atomic_path(path) as tmp:
        th.save(
            {"format": CHECKPOINT_FORMAT, "version": CHECKPOINT_VERSION, **torch_header("supervised"), **payload}, tmp
        )
    return Path(path)


def read_checkpoint(path: str | os.PathLike) -> dict[str, Any]:
    """The checkpoint dict at ``path``.

    :raises SupervisedError: missing, truncated or not a supervised-baseline checkpoint.
    """
    path = Path(path)
    data = read_torch_checkpoint(
        path,
        format_tag=CHECKPOINT_FORMAT,
        what="supervised-baseline",
        trained_by="python -m supervised_baseline.trainer",
        error=SupervisedError,
    )
    if data.get("version", 0) > CHECKPOINT_VERSION:
        raise SupervisedError(
            f"{path} has checkpoint version {data['version']}, newer than this library's {CHECKPOINT_VERSION}: "
            "upgrade musicedit."
        )
    missing = [k for k in ("model_config", "params", "model_state") if k not in data]
    if missing:
        raise SupervisedError(f"Checkpoint {path} lacks {missing}: it is damaged; train again.")
    return data


def check_compatible(
    data: dict[str, Any], path: str | os.PathLike, config: ModelConfig, params: AudioParams = DEFAULT_PARAMS
) -> None:
    """Refuse a checkpoint made with another model config or other analysis parameters, naming the fields."""
    diff = config_diff(dict(data["model_config"]), config.to_dict())
    if diff:
        fields = ", ".join(f"{k} (checkpoint {a!r}, wanted {b!r})" for k, a, b in ((k, *v) for k, v in diff.items()))
        raise SupervisedError(
            f"Checkpoint {path} was made with another model config; differing field(s): {fields}. "
            "Use the config it was trained with (its train_config is stored in it) or train a new model."
        )
    pdiff = config_diff(dict(data["params"]), params.to_dict())
    if pdiff:
        fields = ", ".join(f"{k} (checkpoint {a!r}, wanted {b!r})" for k, a, b in ((k, *v) for k, v in pdiff.items()))
        raise SupervisedError(
            f"Checkpoint {path} was made with other analysis parameters; differing field(s): {fields}."
        )


def load_model(
    path: str | os.PathLike,
    *,
    config: ModelConfig | None = None,
    params: AudioParams = DEFAULT_PARAMS,
    device: str = "cpu",
):
    """``(model, checkpoint dict)``: the model of the checkpoint at ``path`` in eval mode.

    :param config: the model config expected; None takes the checkpoint's own (inference).
    :raises SupervisedError: see :func:`read_checkpoint` and :func:`check_compatible`.
    """
    from supervised_baseline.model import SupervisedEditModel

    data = read_checkpoint(path)
    saved = model_config_from_dict(dict(data["model_config"]), source=f"{path} model_config")
    check_compatible(data, path, saved if config is None else config, params)
    model = SupervisedEditModel(saved)
    try:
        model.load_state_dict(data["model_state"])
    except RuntimeError as exc:
        raise SupervisedError(f"Checkpoint {path}: the weights do not fit its own model config ({exc}).") from exc
    return model.to(device).eval(), data


def resolve_device(device: str) -> str:
    """ "auto" -> "cuda" when available, else "cpu"; "cuda" without CUDA is an error."""
    import torch as th

    if device == "auto":
        return "cuda" if th.cuda.is_available() else "cpu"
    if device.startswith("cuda") and not th.cuda.is_available():
        raise SupervisedError(f"device={device!r} but no CUDA device is available: use --device cpu or auto.")
    return device

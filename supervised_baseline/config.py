"""Settings of the supervised baseline: the model's sizes and the training recipe, as dataclasses
serialised to JSON (``configs/supervised.json``, ``configs/supervised_tiny.json``); flags override them.

:class:`ModelConfig` fixes the weights' shapes and the label features, so a checkpoint refuses to
load into a model whose :class:`ModelConfig` differs (:func:`config_diff` names the fields).
:class:`TrainConfig` holds the recipe (data, crop length, optimiser, loss weights); it may change
between runs.
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path
from typing import Any

from editor_env.io import check_config_fields
from supervised_baseline.errors import SupervisedError


@dataclasses.dataclass(frozen=True)
class ModelConfig:
    """Sizes of :class:`supervised_baseline.model.SupervisedEditModel`."""

    n_mels: int = 128
    """Mel bins of input and output (must equal the analysis parameters' ``n_mels``)."""
    d_model: int = 64
    """Width of both transformers."""
    n_heads: int = 4
    """Attention heads (``d_model`` must be divisible by it)."""
    encoder_layers: int = 2
    """Transformer layers of the EditEncoder."""
    decoder_layers: int = 2
    """Transformer layers of the MelDecoder."""
    ff_dim: int = 128
    """Hidden width of each transformer layer's feed-forward block."""
    latent_dim: int = 32
    """Width of the per-frame latent between encoder and decoder."""
    dropout: float = 0.1
    """Dropout inside the transformers (training only)."""
    position_scale_frames: int = 256
    """Distances to seams and to the edit's ends are divided by this and clipped to 1 (256
    frames is about 5.9 s: long enough to see a whole fade)."""

    def __post_init__(self) -> None:
        problems = []
        for name in ("n_mels", "d_model", "n_heads", "ff_dim", "latent_dim", "position_scale_frames"):
            if getattr(self, name) < 1:
                problems.append(f"{name}={getattr(self, name)!r} must be positive")
        for name in ("encoder_layers", "decoder_layers"):
            if getattr(self, name) < 0:
                problems.append(f"{name}={getattr(self, name)!r} must be >= 0")
        if self.n_heads >= 1 and self.d_model % self.n_heads:
            problems.append(f"d_model={self.d_model} must be divisible by n_heads={self.n_heads}")
        if not 0.0 <= self.dropout < 1.0:
            problems.append(f"dropout={self.dropout!r} must lie in [0, 1)")
        if problems:
            raise SupervisedError("ModelConfig: " + "; ".join(problems) + ".")

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclasses.dataclass
class TrainConfig:
    """One training run of the supervised baseline (``python -m supervised_baseline.trainer``)."""

    data_dir: str = "training_data"
    """Data set in the training_data layout, with ``pointer_sequences/{sample}_pointers.npy`` and
    ``_ops.npy`` (from ``musicedit synth`` or ``musicedit align``)."""
    cache_dir: str | None = None
    """Its feature cache (None: ``cache`` beside the data set); filled by precache when stale."""
    save_dir: str = "models/supervised"
    """Where latest.pt, best.pt, config.json and TensorBoard logs (tb/) go."""
    epochs: int = 30
    """Epochs to train for in all (a resumed run counts its earlier epochs)."""
    batch_size: int = 16
    segment_frames: int = 128
    """Length of the training crops in output frames (128 frames is about 3 s); inference runs
    in overlapping windows of this length."""
    crops_per_sample: int = 32
    """Random crops drawn from each training sample per epoch."""
    focus_fraction: float = 0.5
    """Share of the training crops centred on a frame whose op is not COPY (seams, fades, gains:
    a few percent of the frames, and all that the model learns beyond copying)."""
    val_fraction: float = 0.2
    """Share of the samples held out for validation (at least one when there are two or more)."""
    learning_rate: float = 2e-3
    warmup_steps: int = 50
    """Linear learning-rate warm-up over this many steps: Adam's first steps are as large as the
    learning rate whatever the gradient, which pushes the residual model away from the raw mel."""
    lr_schedule: str = "constant"
    """After the warm-up: "constant", or "cosine" (decays to 0 at the last step of ``epochs``;
    on the 30-pair synthetic check it did no better: scripts/eval_supervised.py)."""
    weight_decay: float = 0.01
    grad_clip: float = 1.0
    """Clip the gradient's global norm to this (0: no clipping)."""
    seed: int = 0
    """Seeds the split, the crops of every epoch and torch."""
    device: str = "auto"
    """"auto" (CUDA when present), "cpu" or "cuda"."""
    torch_threads: int = 0
    """torch intra-op threads (0: torch's default)."""
    l1_weight: float = 1.0
    mse_weight: float = 1.0
    msstft_weight: float = 0.1
    consistency_weight: float = 1.0
    feature_weight: float = 0.0
    """Weight of the optional feature loss (band energies and their temporal deltas); 0 = off."""
    msstft_fft_sizes: tuple[int, ...] = (512, 1024, 2048)
    """Resolutions of the multi-scale spectral loss, named by the audio FFT sizes they stand for
    (see :mod:`supervised_baseline.losses`)."""
    msstft_window_divisor: int = 32
    """Window length in frames of each resolution: fft_size // divisor (16, 32 and 64 frames)."""
    model: ModelConfig = dataclasses.field(default_factory=ModelConfig)

    def __post_init__(self) -> None:
        if isinstance(self.model, dict):
            self.model = model_config_from_dict(self.model, source="TrainConfig.model")
        self.msstft_fft_sizes = tuple(int(n) for n in self.msstft_fft_sizes)

    def check(self) -> None:
        """Fail fast, naming the field, on settings that make no sense."""
        problems = []
        for name in ("epochs", "batch_size", "segment_frames", "crops_per_sample", "msstft_window_divisor"):
            if getattr(self, name) < 1:
                problems.append(f"{name}={getattr(self, name)!r} must be positive")
        if not 0.0 <= self.focus_fraction <= 1.0:
            problems.append(f"focus_fraction={self.focus_fraction!r} must lie in [0, 1]")
        if not 0.0 <= self.val_fraction < 1.0:
            problems.append(f"val_fraction={self.val_fraction!r} must lie in [0, 1)")
        if self.learning_rate <= 0:
            problems.append("learning_rate must be positive")
        if self.lr_schedule not in ("cosine", "constant"):
            problems.append(f"lr_schedule={self.lr_schedule!r} must be 'cosine' or 'constant'")
        if self.warmup_steps < 0:
            problems.append("warmup_steps must be >= 0")
        for name in ("weight_decay", "grad_clip", "l1_weight", "mse_weight", "msstft_weight", "consistency_weight"):
            if getattr(self, name) < 0:
                problems.append(f"{name} must be >= 0")
        if self.feature_weight < 0:
            problems.append("feature_weight must be >= 0")
        if self.device not in ("auto", "cpu", "cuda") and not self.device.startswith("cuda:"):
            problems.append(f"device={self.device!r} must be 'auto', 'cpu' or 'cuda'")
        if not self.msstft_fft_sizes or any(n // self.msstft_window_divisor < 2 for n in self.msstft_fft_sizes):
            problems.append(
                f"msstft_fft_sizes={list(self.msstft_fft_sizes)} with msstft_window_divisor="
                f"{self.msstft_window_divisor} must give windows of at least 2 frames"
            )
        if problems:
            raise SupervisedError("Training config: " + "; ".join(problems) + ".")

    def to_dict(self) -> dict[str, Any]:
        values = dataclasses.asdict(self)
        values["msstft_fft_sizes"] = list(self.msstft_fft_sizes)
        return values

    @classmethod
    def from_dict(cls, values: dict[str, Any], *, source: str = "training config") -> TrainConfig:
        values = check_config_fields(cls, values, source, SupervisedError)
        if "model" in values:
            values["model"] = model_config_from_dict(values["model"], source=f"{source} 'model'")
        try:
            return cls(**values)
        except TypeError as exc:
            raise SupervisedError(f"{source}: {exc}") from exc

    @classmethod
    def from_json(cls, path: str | os.PathLike) -> TrainConfig:
        from editor_env.io import read_json

        return cls.from_dict(read_json(path, "supervised training config"), source=str(path))


def model_config_from_dict(values: dict[str, Any], *, source: str = "model config") -> ModelConfig:
    if isinstance(values, ModelConfig):
        return values
    return ModelConfig(**check_config_fields(ModelConfig, values, source, SupervisedError))


def config_diff(saved: dict[str, Any], wanted: dict[str, Any]) -> dict[str, tuple[Any, Any]]:
    """Fields whose values differ, as ``{field: (saved, wanted)}`` (a field missing on one side is ``None``)."""
    return {k: (saved.get(k), wanted.get(k)) for k in sorted(set(saved) | set(wanted)) if saved.get(k) != wanted.get(k)}


def write_config(path: str | os.PathLike, config: TrainConfig) -> Path:
    import json

    from editor_env.io import atomic_write_text

    return atomic_write_text(path, json.dumps(config.to_dict(), indent=2) + "\n")

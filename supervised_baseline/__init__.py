"""The supervised paradigm: reconstructs the edited mel from the raw mel and edit labels, then
audio by Griffin-Lim (lossy) (issue 7).

- :mod:`supervised_baseline.model`: EditEncoder -> latent -> MelDecoder (+ residual from the raw mel).
- :mod:`supervised_baseline.losses`: L1, MSE, multi-scale spectral, edit-consistency, feature losses.
- :mod:`supervised_baseline.trainer`: ``python -m supervised_baseline.trainer`` (train / resume).
- :mod:`supervised_baseline.infer`: ``python -m supervised_baseline.infer`` and :func:`supervised_edit`
  (labels from the retarget editor, predicted mel, Griffin-Lim audio).

Names are imported on first use, so ``import supervised_baseline`` does not load torch.
"""

_LAZY = {
    "ModelConfig": "supervised_baseline.config",
    "TrainConfig": "supervised_baseline.config",
    "SupervisedError": "supervised_baseline.errors",
    "SupervisedSample": "supervised_baseline.data",
    "load_samples": "supervised_baseline.data",
    "EditEncoder": "supervised_baseline.model",
    "MelDecoder": "supervised_baseline.model",
    "SupervisedEditModel": "supervised_baseline.model",
    "load_model": "supervised_baseline.checkpoint",
    "train": "supervised_baseline.trainer",
    "TrainResult": "supervised_baseline.trainer",
    "supervised_edit": "supervised_baseline.infer",
    "SupervisedEdit": "supervised_baseline.infer",
    "predict_mel": "supervised_baseline.infer",
    "mel_to_audio": "supervised_baseline.infer",
    "mel_path_for": "supervised_baseline.infer",
}


def __getattr__(name: str):
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'supervised_baseline' has no attribute {name!r}")


__all__ = list(_LAZY)

"""Training signal from (raw, human edit) pairs: alignment into pointer sequences and op labels,
BC label inference, augmentation of rare actions, and ``imitation`` Transitions (issue 4)."""

# Alignment, BC labels, augmentation, Transitions and BC pretraining: imported on first use
# (module ``__getattr__``), so ``import imitation_data`` stays cheap (no torch, imitation,
# gymnasium or librosa). The aligner itself is ``imitation_data.align.align``: the package
# attribute ``align`` is that submodule.
_LAZY = {
    "AlignConfig": "imitation_data.align",
    "AlignedSpan": "imitation_data.align",
    "Alignment": "imitation_data.align",
    "align_dataset": "imitation_data.align",
    "align_files": "imitation_data.align",
    "plot_alignment": "imitation_data.align",
    "save_alignment": "imitation_data.align",
    "LabelSequence": "imitation_data.labels",
    "PlayRun": "imitation_data.labels",
    "infer_labels": "imitation_data.labels",
    "replay": "imitation_data.labels",
    "beat_agreement": "imitation_data.labels",
    "AugmentReport": "imitation_data.augment",
    "augment": "imitation_data.augment",
    "BCDataset": "imitation_data.transitions",
    "build_dataset": "imitation_data.transitions",
    "load_transitions": "imitation_data.transitions",
    "BCConfig": "imitation_data.bc",
    "BCReport": "imitation_data.bc",
    "bc_pretrain": "imitation_data.bc",
    "pretrain_policy": "imitation_data.bc",
}


def __getattr__(name: str):
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'imitation_data' has no attribute {name!r}")


__all__ = [*globals().get("__all__", []), *_LAZY]

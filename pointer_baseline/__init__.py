"""The pointer-network paradigm: predicts, for every output frame, which raw frame to copy, so the
edit keeps the raw audio untouched (issue 6).

    python -m pointer_baseline.precache [SAMPLE ...] --data-dir training_data --cache-dir cache
    python -m pointer_baseline.trainers.pointer_trainer --config configs/pointer_full.json
    python -m pointer_baseline.infer jam.wav --checkpoint models/pointer/best.pt -o track.wav

Names are imported on first use, so ``import pointer_baseline`` does not load torch.
"""

_LAZY = {
    "PointerError": "pointer_baseline.errors",
    "PointerModelConfig": "pointer_baseline.model",
    "PointerNetwork": "pointer_baseline.model",
    "MODEL_VERSION": "pointer_baseline.model",
    "linear_attention": "pointer_baseline.model",
    "PointerSample": "pointer_baseline.data",
    "load_sample": "pointer_baseline.data",
    "load_sample_and_targets": "pointer_baseline.data",
    "discover_samples": "pointer_baseline.data",
    "step_targets": "pointer_baseline.data",
    "model_inputs": "pointer_baseline.data",
    "beat_frame_features": "pointer_baseline.data",
    "recurrence_frame_features": "pointer_baseline.data",
    "save_checkpoint": "pointer_baseline.checkpoint",
    "read_checkpoint": "pointer_baseline.checkpoint",
    "load_model": "pointer_baseline.checkpoint",
    "precache_pointer_data": "pointer_baseline.precache",
    "PointerTrainConfig": "pointer_baseline.trainers.pointer_trainer",
    "train": "pointer_baseline.trainers.pointer_trainer",
    "predict_pointers": "pointer_baseline.infer",
    "pointer_edit_list": "pointer_baseline.infer",
    "pointer_edit_lists": "pointer_baseline.infer",
    "constrained_decode": "pointer_baseline.decode",
    "BeamEdit": "pointer_baseline.decode",
    "SEAM_PENALTY": "pointer_baseline.decode",
    "edit_with_pointer_network": "pointer_baseline.infer",
    "BeatExits": "pointer_baseline.whole_beats",
    "beat_exits": "pointer_baseline.whole_beats",
}


def __getattr__(name: str):
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'pointer_baseline' has no attribute {name!r}")


__all__ = list(_LAZY)

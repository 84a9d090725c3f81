"""The BC + PPO paradigm: neighborhood attention (natten on CUDA, exact banded PyTorch elsewhere),
the NATTEN feature extractor, the 3-head maskable policy, MaskablePPO with a BC loss mixed in, and
the training (``python -m policies.train``) and inference (``python -m policies.infer``) entry points.

Names are imported on first use, so ``import policies`` does not load torch.
"""

_LAZY = {
    "na1d": "policies.attention",
    "NeighborhoodAttention1D": "policies.attention",
    "NATTENFeaturesExtractor": "policies.extractor",
    "MusicEditPolicy": "policies.policy",
    "BCMaskablePPO": "policies.ppo",
    "Demonstrations": "policies.ppo",
    "load_demonstrations": "policies.ppo",
    "TrainConfig": "policies.train",
    "agent_edit_list": "policies.infer",
    "agent_edit_lists": "policies.infer",
    "AuxiliaryHeads": "policies.auxiliary",
    "aux_targets": "policies.auxiliary",
    "aux_targets_from_obs": "policies.auxiliary",
    "PolicyConfigError": "policies.errors",
}


def __getattr__(name: str):
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'policies' has no attribute {name!r}")


__all__ = list(_LAZY)

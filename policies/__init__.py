"""The BC + PPO paradigm: neighborhood-attention feature extractor, the 3-head maskable policy,
MaskablePPO with a BC loss mixed in, and the training and inference entry points (issue 5)."""

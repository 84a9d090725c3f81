"""Training signal from (raw, human edit) pairs: alignment into pointer sequences and op labels,
BC label inference, augmentation of rare actions, and ``imitation`` Transitions (issue 4)."""

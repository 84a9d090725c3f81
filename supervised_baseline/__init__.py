"""The supervised paradigm: reconstructs the edited mel from the raw mel and edit labels, then
audio by Griffin-Lim (lossy) (issue 7)."""

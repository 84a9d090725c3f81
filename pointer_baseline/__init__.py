"""The pointer-network paradigm: predicts, for every output frame, which raw frame to copy, so the
edit keeps the raw audio untouched (issue 6)."""

"""Fixtures of the policies tests."""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def _one_torch_thread(one_torch_thread):
    """Every test here trains tiny models: on one torch thread (tests/conftest.py), about 10x faster (0.9 s
    against 15 s for 192 PPO steps) than with threads fighting over a busy 2-core machine."""

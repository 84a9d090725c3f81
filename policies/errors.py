"""The error type of ``policies``: a configuration or checkpoint that cannot work, and what to change."""

from __future__ import annotations

from editor_env.errors import MusicEditError


class PolicyConfigError(MusicEditError):
    """A policy, extractor or training configuration that cannot work; the message says what to change."""

"""The one error type of ``pointer_baseline``: a config, data file or checkpoint that cannot work."""

from __future__ import annotations

from editor_env.errors import MusicEditError


class PointerError(MusicEditError):
    """A pointer-network config, pointer sequence or checkpoint that cannot be used.

    The message names the file or field and says what to do (retrain, precache, pick the matching config).
    """

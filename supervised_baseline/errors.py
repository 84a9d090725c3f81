"""The one error type of ``supervised_baseline``: a config, data set or checkpoint that cannot work."""

from __future__ import annotations

from editor_env.errors import MusicEditError


class SupervisedError(MusicEditError):
    """A supervised-baseline config, training sample or checkpoint that cannot be used.

    The message names the file or field and says what to do about it.
    """

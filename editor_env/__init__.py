"""MusicEdit's centre: audio and beat features, the edit list and its renderer, the common reward,
the data set and cache layout, synthetic training pairs, and the Gymnasium env ``MusicEdit-v0``.

Importing this package registers ``MusicEdit-v0`` (once) and is cheap: torch, librosa and
matplotlib load only when a function that needs them runs. With Gymnasium 0.29 the
``gymnasium.envs`` entry point also registers it on ``import gymnasium``; Gymnasium 1.x dropped
that plugin loading, so scripts should ``import editor_env`` or use
``gym.make("editor_env:MusicEdit-v0")``.
"""

from editor_env.edl import EditList, Effects, Segment
from editor_env.errors import AudioLoadError, DatasetError, MusicEditError
from editor_env.ops import EditOp
from editor_env.params import DEFAULT_PARAMS, AudioParams

__version__ = "0.1.0"

ENV_ID = "MusicEdit-v0"
REAL_ENV_ID = "MusicEdit-Real-v0"
"""The same env over the real-music corpus's train-split jams (``scripts/fetch_corpus.py`` builds them)."""


def register_envs() -> None:
    """Register ``MusicEdit-v0`` and ``MusicEdit-Real-v0`` with Gymnasium unless they are registered already."""
    from gymnasium.envs.registration import register, registry

    if ENV_ID not in registry:
        register(id=ENV_ID, entry_point="editor_env.env:MusicEditEnv")
    if REAL_ENV_ID not in registry:
        register(id=REAL_ENV_ID, entry_point="editor_env.env:make_real_env")


register_envs()

__all__ = [
    "ENV_ID",
    "REAL_ENV_ID",
    "register_envs",
    "DEFAULT_PARAMS",
    "AudioLoadError",
    "AudioParams",
    "DatasetError",
    "EditList",
    "EditOp",
    "Effects",
    "MusicEditError",
    "Segment",
    "__version__",
]

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


def _writable_numba_cache() -> None:
    """Give numba a cache folder it can write when it would find none.

    librosa compiles functions with ``numba.jit(cache=True)``; numba caches them beside librosa's sources or in
    ``~/.cache/numba``, and where neither is writable (a read-only install run by a user without a writable
    home, e.g. a service account) importing librosa raises ``RuntimeError: cannot cache function``. Then
    ``NUMBA_CACHE_DIR`` is set to a private temporary folder (an existing setting is left alone).
    """
    import importlib.util
    import os
    import tempfile

    def writable(folder: str) -> bool:
        while folder and not os.path.isdir(folder):
            folder = os.path.dirname(folder.rstrip(os.sep)) if folder != os.sep else ""
        return bool(folder) and os.access(folder, os.W_OK | os.X_OK)

    if os.environ.get("NUMBA_CACHE_DIR"):
        return
    try:
        spec = importlib.util.find_spec("librosa")
    except (ImportError, ValueError):
        return
    if spec is None or not spec.origin:
        return
    beside = os.path.join(os.path.dirname(spec.origin), "core", "__pycache__")
    if writable(beside) or writable(os.path.join(os.path.expanduser("~"), ".cache", "numba")):
        return
    folder = os.path.join(tempfile.gettempdir(), f"musicedit-numba-{os.getuid() if hasattr(os, 'getuid') else 0}")
    try:
        os.makedirs(folder, mode=0o700, exist_ok=True)
    except OSError:
        return
    os.environ["NUMBA_CACHE_DIR"] = folder


_writable_numba_cache()


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

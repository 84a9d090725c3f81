"""MusicEdit's centre: audio and beat features, the edit list and its renderer, the data set and
cache layout, synthetic training pairs — and (later) the Gymnasium env ``MusicEdit-v0``.

Importing this package is cheap: torch, librosa and matplotlib load only when a function that
needs them runs.
"""

from editor_env.edl import EditList, Effects, Segment
from editor_env.errors import AudioLoadError, DatasetError, MusicEditError
from editor_env.ops import EditOp
from editor_env.params import DEFAULT_PARAMS, AudioParams

__version__ = "0.1.0"

__all__ = [
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

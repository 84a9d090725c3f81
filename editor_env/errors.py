"""The one error type of ``editor_env``: every message names the file or field and what to do."""

from __future__ import annotations


class MusicEditError(Exception):
    """A problem with the user's input (audio file, data set, cache, config) that they can fix.

    The message always names the offending file or field and says what to do about it.
    """


class AudioLoadError(MusicEditError):
    """An audio file could not be read: missing, empty, corrupt, unsupported or too short."""


class DatasetError(MusicEditError):
    """A data-set folder does not follow the ``training_data/`` layout."""

"""Editing tasks: a raw recording's cached analysis and, when known, its reference edit.

The env draws its episodes from a list of tasks loaded from a data set (``training_data/``
layout plus its cache), or from the embedded default: a few synthetic pairs generated once
into ``$MUSICEDIT_HOME`` (default ``~/.cache/musicedit``).
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path
from typing import Any

import numpy as np

from editor_env.errors import MusicEditError
from editor_env.features import Analysis
from editor_env.params import DEFAULT_PARAMS, AudioParams

DEFAULT_DATA_SAMPLES = 3
DEFAULT_DATA_SEED = 20261124


@dataclasses.dataclass
class EditingTask:
    """One recording to edit.

    :param name: sample name.
    :param analysis: cached mel, beats and beat features of the raw.
    :param reference: ``(edit_frames,)`` int64 raw frame per frame of the reference edit
        (ground truth or alignment), or None when no edit is known.
    :param raw_path: the raw audio file, when there is one.
    :param labels: the raw's junk spans (``{sample}_labels.json``, :class:`~editor_env.labels.RawLabels`), when
        known: the reward's ``content`` component is then the exact junk-removed / song-kept F.
    """

    name: str
    analysis: Analysis
    reference: np.ndarray | None = None
    raw_path: Path | None = None
    labels: Any = None


def musicedit_home() -> Path:
    """Where generated defaults live: ``$MUSICEDIT_HOME`` or ``~/.cache/musicedit``."""
    return Path(os.environ.get("MUSICEDIT_HOME", Path.home() / ".cache" / "musicedit"))


def ensure_default_dataset(*, progress: bool = False) -> tuple[Path, Path]:
    """Generate (once) and cache the embedded default data set; returns ``(data_dir, cache_dir)``.

    Safe to call from several processes at once: every write is atomic and finished files
    are skipped.
    """
    from editor_env.cache import precache
    from editor_env.synth import GENERATOR_VERSION, write_dataset

    # a new generator version gets a new folder: the old files are left as they are
    root = musicedit_home() / f"default-data-v{GENERATOR_VERSION}"
    data_dir, cache_dir = root / "training_data", root / "cache"
    write_dataset(data_dir, DEFAULT_DATA_SAMPLES, seed=DEFAULT_DATA_SEED, duration_range_s=(30.0, 45.0))
    precache(data_dir, cache_dir, progress=progress)
    return data_dir, cache_dir


def read_reference(pointer_file: Path) -> np.ndarray:
    """Reference pointers of ``{sample}_pointers.npy`` without the NEW frames its ``_ops.npy`` marks."""
    from editor_env.ops import EditOp

    pointers = np.load(pointer_file).astype(np.int64)
    ops_file = pointer_file.with_name(pointer_file.name.replace("_pointers.npy", "_ops.npy"))
    if ops_file.is_file():
        ops = np.load(ops_file)
        if ops.shape == pointers.shape:
            pointers = pointers[ops != EditOp.NEW]
    return pointers[pointers >= 0]


def load_tasks(
    data_dir: str | os.PathLike | None = None,
    cache_dir: str | os.PathLike | None = None,
    *,
    samples: list[str] | None = None,
    params: AudioParams = DEFAULT_PARAMS,
    precache_missing: bool = True,
) -> list[EditingTask]:
    """Tasks of a data set (precaching what is missing), or the embedded default when
    ``data_dir`` is None. References come from ``pointer_sequences/{sample}_pointers.npy``; frames
    whose op (``_ops.npy``) is NEW — material that is not in the raw, pointer -1 — are left out of
    the reference, since no edit of the raw can reproduce them. Junk labels come from
    ``pointer_sequences/{sample}_labels.json`` when present."""
    from editor_env.cache import load_analysis, precache
    from editor_env.dataset import discover_pairs
    from editor_env.labels import RawLabels, labels_path

    if data_dir is None:
        data_dir, default_cache = ensure_default_dataset()
        cache_dir = cache_dir or default_cache
    data_dir = Path(data_dir)
    cache_dir = Path(cache_dir) if cache_dir is not None else data_dir.parent / "cache"
    pairs = discover_pairs(data_dir, require_edit=False, samples=samples)
    if precache_missing:
        result = precache(data_dir, cache_dir, params=params, samples=[p.name for p in pairs], progress=False)
        if result.failed:
            raise MusicEditError(f"Could not analyse samples of {data_dir}: {result.failed}")
    tasks = []
    for pair in pairs:
        pointer_file = data_dir / "pointer_sequences" / f"{pair.name}_pointers.npy"
        reference = read_reference(pointer_file) if pointer_file.is_file() else None
        label_file = labels_path(data_dir, pair.name)
        labels = RawLabels.load(label_file) if label_file.is_file() else None
        analysis = load_analysis(cache_dir, pair.name, params)
        tasks.append(EditingTask(pair.name, analysis, reference, pair.raw_path, labels))
    return tasks

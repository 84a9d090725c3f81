"""BC data sets: BC labels and env observations as ``imitation`` Transitions, stored as npz.

A :class:`BCDataset` holds every demonstration step of a set of edits: the observation the env
showed, the action of the labels (:mod:`imitation_data.labels`) and the env's action mask at that
step. :meth:`BCDataset.to_transitions` gives ``imitation.data.types.Transitions`` (the masks
ride in ``infos[i]["action_mask"]``: imitation's BC ignores them, so every action was checked
against its mask when the data set was built). :func:`build_dataset` makes one from a data set's
``pointer_sequences`` (ground truth or aligned); ``musicedit bc-dataset`` writes it as
``bc_rich.npz`` (and, with ``--augment``, ``bc_augmented.npz``: :mod:`imitation_data.augment`).

The npz (written atomically, no pickles) holds ``obs`` ``(n, 867)`` float32, ``acts`` ``(n, 3)``
int64, ``masks`` ``(n, 30)`` bool, ``dones`` ``(n,)`` bool, ``episode`` ``(n,)`` int64 (index into
``samples``), ``final_obs`` ``(n_episodes, 867)`` float32 (the observation after each episode's
last step; ``next_obs`` is rebuilt from it), ``samples`` ``(n_episodes,)`` str and
``provenance_json`` (where the labels came from: data set, pointer source, env settings,
augmentation, versions).
"""

from __future__ import annotations

import dataclasses
import json
import os
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from editor_env.actions import ACTION_DIMS, MASK_LENGTH
from editor_env.errors import MusicEditError
from editor_env.params import DEFAULT_PARAMS, AudioParams

if TYPE_CHECKING:
    from editor_env.executor import Executor

DATASET_FORMAT_VERSION = 1
_OFFSETS = np.concatenate([[0], np.cumsum(ACTION_DIMS)[:-1]])


def actions_allowed(acts: np.ndarray, masks: np.ndarray) -> np.ndarray:
    """``(n,)`` bool: whether each action's type, size and amount are all allowed by its mask."""
    acts = np.asarray(acts, np.int64).reshape(-1, 3)
    return np.take_along_axis(np.asarray(masks, bool), acts + _OFFSETS, axis=1).all(axis=1)


@dataclasses.dataclass
class BCDataset:
    """Demonstration steps of several episodes (edits).

    :param obs: ``(n, obs_dim)`` float32 observation before each step.
    :param acts: ``(n, 3)`` int64 action (type, size, amount).
    :param masks: ``(n, 30)`` bool env action mask before each step.
    :param dones: ``(n,)`` bool, True on each episode's last step.
    :param episode: ``(n,)`` int64 episode of each step (index into ``samples``).
    :param final_obs: ``(n_episodes, obs_dim)`` float32 observation after each episode's last step.
    :param samples: ``(n_episodes,)`` recording name of each episode.
    :param provenance: JSON-able description of where the steps came from.
    """

    obs: np.ndarray
    acts: np.ndarray
    masks: np.ndarray
    dones: np.ndarray
    episode: np.ndarray
    final_obs: np.ndarray
    samples: np.ndarray
    provenance: dict[str, Any] = dataclasses.field(default_factory=dict)

    def __post_init__(self) -> None:
        self.obs = np.asarray(self.obs, np.float32)
        self.acts = np.asarray(self.acts, np.int64).reshape(-1, 3)
        self.masks = np.asarray(self.masks, bool).reshape(-1, MASK_LENGTH)
        self.dones = np.asarray(self.dones, bool).reshape(-1)
        self.episode = np.asarray(self.episode, np.int64).reshape(-1)
        self.final_obs = np.asarray(self.final_obs, np.float32)
        self.samples = np.asarray(self.samples, dtype=str).reshape(-1)
        n = len(self.acts)
        shapes = {k: len(getattr(self, k)) for k in ("obs", "masks", "dones", "episode")}
        if any(v != n for v in shapes.values()) or self.obs.ndim != 2 or self.final_obs.ndim != 2:
            raise MusicEditError(f"BCDataset: {n} actions but {shapes} rows (obs must be 2-D); the file is damaged.")
        if len(self.final_obs) != len(self.samples) or (n and self.episode.max() >= len(self.samples)):
            raise MusicEditError("BCDataset: episode indices, final_obs and samples disagree; rebuild the data set.")
        bad = np.flatnonzero(~actions_allowed(self.acts, self.masks))
        if bad.size:
            raise MusicEditError(
                f"BCDataset: {bad.size} demonstration action(s) are forbidden by their own masks (steps "
                f"{bad[:5].tolist()}): imitation's BC would give them log-prob about -1e8. Rebuild the data set."
            )

    def __len__(self) -> int:
        return len(self.acts)

    @property
    def n_episodes(self) -> int:
        return len(self.samples)

    def next_obs(self) -> np.ndarray:
        """``(n, obs_dim)``: the observation after each step (rebuilt from ``obs`` and ``final_obs``)."""
        nxt = np.empty_like(self.obs)
        nxt[:-1] = self.obs[1:]
        last = np.flatnonzero(self.dones)
        nxt[last] = self.final_obs[self.episode[last]]
        return nxt

    def to_transitions(self):
        """``imitation.data.types.Transitions``; ``infos[i]`` holds ``action_mask`` and ``sample``."""
        from imitation.data.types import Transitions

        infos = np.empty(len(self), dtype=object)
        for i in range(len(self)):
            infos[i] = {"action_mask": self.masks[i], "sample": str(self.samples[self.episode[i]])}
        # views: Transitions makes its arrays read-only, which must not freeze this data set's
        return Transitions(
            obs=self.obs.view(), acts=self.acts.view(), infos=infos, next_obs=self.next_obs(), dones=self.dones.copy()
        )

    def type_counts(self) -> np.ndarray:
        """``(20,)`` int64 steps of each action type."""
        return np.bincount(self.acts[:, 0], minlength=ACTION_DIMS[0])

    def subset(self, episodes: np.ndarray) -> BCDataset:
        """The steps of the given episode indices (renumbered in the given order)."""
        episodes = np.asarray(episodes, np.int64)
        parts = [np.flatnonzero(self.episode == e) for e in episodes]
        rows = np.concatenate(parts) if parts else np.zeros(0, np.int64)
        new_index = np.concatenate([np.full(len(p), k) for k, p in enumerate(parts)]) if parts else rows
        return BCDataset(
            self.obs[rows],
            self.acts[rows],
            self.masks[rows],
            self.dones[rows],
            new_index,
            self.final_obs[episodes],
            self.samples[episodes],
            dict(self.provenance),
        )

    def split(self, val_fraction: float, seed: int = 0) -> tuple[BCDataset, BCDataset]:
        """Train/validation split by episode (whole edits held out, never steps of one edit)."""
        n = self.n_episodes
        order = np.random.default_rng(seed).permutation(n)
        n_val = int(round(val_fraction * n)) if n > 1 else 0
        n_val = min(max(n_val, 1 if val_fraction > 0 and n > 1 else 0), n - 1)
        return self.subset(np.sort(order[n_val:])), self.subset(np.sort(order[:n_val]))

    @classmethod
    def from_labels(cls, labels: list, provenance: dict[str, Any] | None = None) -> BCDataset:
        """From :class:`~imitation_data.labels.LabelSequence`\\ s made with ``collect_observations``."""
        labels = [lab for lab in labels if lab.n_steps]
        if any(lab.observations is None for lab in labels):
            raise MusicEditError("BCDataset.from_labels needs labels inferred with collect_observations=True.")
        if not labels:
            raise MusicEditError("BCDataset.from_labels: no labelled steps (no edit had a pointer sequence?).")
        dones = [np.arange(lab.n_steps) == lab.n_steps - 1 for lab in labels]
        return cls(
            obs=np.concatenate([lab.observations[:-1] for lab in labels]),
            acts=np.concatenate([lab.actions for lab in labels]),
            masks=np.concatenate([lab.masks for lab in labels]),
            dones=np.concatenate(dones),
            episode=np.concatenate([np.full(lab.n_steps, k) for k, lab in enumerate(labels)]),
            final_obs=np.stack([lab.observations[-1] for lab in labels]),
            samples=np.array([lab.sample for lab in labels]),
            provenance=dict(provenance or {}),
        )

    @classmethod
    def concatenate(cls, datasets: list[BCDataset], provenance: dict[str, Any] | None = None) -> BCDataset:
        offsets = np.cumsum([0] + [d.n_episodes for d in datasets])
        return cls(
            obs=np.concatenate([d.obs for d in datasets]),
            acts=np.concatenate([d.acts for d in datasets]),
            masks=np.concatenate([d.masks for d in datasets]),
            dones=np.concatenate([d.dones for d in datasets]),
            episode=np.concatenate([d.episode + o for d, o in zip(datasets, offsets)]),
            final_obs=np.concatenate([d.final_obs for d in datasets]),
            samples=np.concatenate([d.samples for d in datasets]),
            provenance=dict(provenance or {"parts": [d.provenance for d in datasets]}),
        )

    # -- files -------------------------------------------------------------------------------------
    def save(self, path: str | os.PathLike) -> Path:
        """Write the npz atomically (temporary file, then rename)."""
        from editor_env.io import atomic_path

        provenance = {"format_version": DATASET_FORMAT_VERSION, **self.provenance}
        with atomic_path(path) as tmp:
            np.savez_compressed(
                tmp,
                obs=self.obs,
                acts=self.acts,
                masks=self.masks,
                dones=self.dones,
                episode=self.episode,
                final_obs=self.final_obs,
                samples=self.samples,
                provenance_json=np.array(json.dumps(provenance, default=str)),
            )
        return Path(path)

    @classmethod
    def load(cls, path: str | os.PathLike) -> BCDataset:
        path = Path(path)
        try:
            with np.load(path, allow_pickle=False) as data:
                arrays = {k: data[k] for k in ("obs", "acts", "masks", "dones", "episode", "final_obs", "samples")}
                provenance = json.loads(str(data["provenance_json"]))
        except (OSError, KeyError, ValueError) as exc:
            raise MusicEditError(
                f"Cannot read BC data set {path} ({exc}); build it with `musicedit bc-dataset`."
            ) from exc
        version = provenance.get("format_version")
        if version != DATASET_FORMAT_VERSION:
            raise MusicEditError(
                f"{path} is BC data-set format {version}, this version reads {DATASET_FORMAT_VERSION}: rebuild it."
            )
        return cls(**arrays, provenance=provenance)


def load_transitions(path: str | os.PathLike):
    """``imitation`` Transitions of a BC data-set npz."""
    return BCDataset.load(path).to_transitions()


# -- building from a data set ----------------------------------------------------------------------
def _versions() -> dict[str, str]:
    import importlib.metadata as md

    out = {}
    for name in ("musicedit", "imitation", "gymnasium", "numpy"):
        try:
            out[name] = md.version(name)
        except md.PackageNotFoundError:
            pass
    return out


def task_edit_sources(data_dir: Path, name: str, n_pointers: int, params: AudioParams = DEFAULT_PARAMS):
    """``(ops, edl, source)`` of a sample's pointers: the op labels and, when the pointers came
    from the EDL next to them (synthetic ground truth), that EDL (its exact effects)."""
    from editor_env.edl import EditList, analysis_frame_count

    folder = data_dir / "pointer_sequences"
    ops_file, edl_file, info_file = (folder / f"{name}_{kind}" for kind in ("ops.npy", "edl.json", "info.json"))
    ops = np.load(ops_file) if ops_file.is_file() else None
    if ops is not None and ops.size != n_pointers:
        ops = None  # made for another pointer file
    edl = None
    if edl_file.is_file():
        candidate = EditList.load(edl_file)
        if abs(analysis_frame_count(candidate.output_length(), candidate.sample_rate, params) - n_pointers) <= 2:
            edl = candidate
    source = "unknown"
    if info_file.is_file():
        try:
            source = str(json.loads(info_file.read_text()).get("method", "unknown"))
        except (OSError, ValueError):
            pass
    return ops, edl, source


def _label_task(task, *, data_dir: Path, env_kwargs: dict[str, Any] | None, params: AudioParams):
    """BC labels of one task and their provenance entry (a :func:`map_samples` task)."""
    from imitation_data.labels import beat_agreement, infer_labels, replay

    ops, edl, source = task_edit_sources(data_dir, task.name, task.reference.size, params)
    lab = infer_labels(
        task, task.reference, ops=ops, edl=edl, params=params, env_kwargs=env_kwargs, collect_observations=True
    )
    agreement = beat_agreement(replay(lab, task, params=params), task.reference, task.analysis.beats.frames(params))
    return lab, {
        "pointer_source": source,
        "effects_from": "edl" if edl is not None else "ops" if ops is not None else "none",
        "unreachable_beats": lab.unreachable_beats,
        "replay_agreement": round(agreement, 4),
        "n_steps": lab.n_steps,
    }


def build_dataset(
    data_dir: str | os.PathLike,
    cache_dir: str | os.PathLike,
    *,
    samples: list[str] | None = None,
    env_kwargs: dict[str, Any] | None = None,
    params: AudioParams = DEFAULT_PARAMS,
    write_labels: bool = True,
    progress: bool = True,
    executor: Executor | None = None,
) -> tuple[BCDataset, list, list]:
    """BC data set of every sample of ``data_dir`` that has ``pointer_sequences/{sample}_pointers.npy``.

    Labels come from :func:`imitation_data.labels.infer_labels` with the sample's ops and (for
    synthetic pairs) its EDL. Each is replayed in the env and its beat agreement with the pointers
    (:func:`~imitation_data.labels.beat_agreement`) is recorded in the provenance
    (``samples[name]["replay_agreement"]``). With ``write_labels`` each is also cached as
    ``cache/labels/{sample}.npy`` ``(n_steps, 3)`` (recomputed every run, so never stale).
    Samples are labelled on ``executor`` (:class:`editor_env.executor.Executor`, default this
    process); one that fails does not stop the others: the data set holds the others and
    ``provenance["failed"]`` names each failure with its reason.

    :returns: ``(dataset, labels, tasks)``: the data set, the :class:`LabelSequence` of each
        labelled sample and its :class:`EditingTask`.
    """
    import functools

    from editor_env.executor import map_samples
    from editor_env.io import atomic_path
    from editor_env.tasks import load_tasks

    data_dir, cache_dir = Path(data_dir), Path(cache_dir)
    tasks = [t for t in load_tasks(data_dir, cache_dir, samples=samples, params=params) if t.reference is not None]
    if not tasks:
        raise MusicEditError(
            f"No sample of {data_dir} has pointer_sequences/{{sample}}_pointers.npy: run `musicedit align` "
            "(or `musicedit synth` for synthetic pairs with ground truth) first."
        )
    started = time.perf_counter()
    task_labels = functools.partial(_label_task, data_dir=data_dir, env_kwargs=env_kwargs, params=params)
    outcomes = map_samples(task_labels, tasks, executor=executor, desc="labels", progress=progress)
    failed = {o.name: o.error for o in outcomes if not o.ok}
    if len(failed) == len(tasks):
        raise MusicEditError(
            "BC labels failed for every sample: " + "; ".join(f"{name}: {why}" for name, why in failed.items())
        )
    labels = [o.value[0] for o in outcomes if o.ok]
    sources = {o.name: o.value[1] for o in outcomes if o.ok}
    tasks = [task for task in tasks if task.name not in failed]
    if write_labels:
        for lab in labels:
            with atomic_path(cache_dir / "labels" / f"{lab.sample}.npy") as tmp:
                np.save(tmp, lab.actions)
    provenance = {
        "kind": "rich",
        "data_dir": str(data_dir.resolve()),
        "cache_dir": str(cache_dir.resolve()),
        "samples": sources,
        "failed": failed,
        "env_kwargs": dict(env_kwargs or {}),
        "params_hash": params.hash(),
        "created": time.strftime("%Y-%m-%dT%H:%M:%S"),
        "seconds": round(time.perf_counter() - started, 2),
        "versions": _versions(),
    }
    return BCDataset.from_labels(labels, provenance), labels, tasks

"""Training samples of the supervised baseline: the raw mel gathered into the edit's frame order,
per-output-frame edit labels, the target edit mel, and the crops a training batch is made of.

Labels are per *output* frame (the edit's frame grid), so raw and edit lengths line up by
construction:

- ``pointers`` ``(T_out,)`` int64: the raw analysis frame each output frame plays (-1 for material
  that is not in the raw, op ``NEW``). In training they are the reference edit's pointers
  (``pointer_sequences/{sample}_pointers.npy``, ground truth from ``musicedit synth`` or an
  alignment from ``musicedit align``); at inference they come from the retarget editor's EDL
  (:meth:`editor_env.edl.EditList.to_pointers`).
- ``ops`` ``(T_out,)`` int8 :class:`editor_env.ops.EditOp` (COPY, SKIP, LOOP, FADE, GAIN, NEW).
- seven label features per output frame (:func:`label_features`): distance from the edit's start,
  to the edit's end, from the last seam, to the next seam, from the start of the current run of
  one op and to its end (in frames divided by ``position_scale_frames``, clipped to 1), and the
  segment's gain in dB / 12 (clipped to [-1, 1]). Fades and crossfades happen near those places,
  the op alone does not say whether a FADE frame fades in or out or how far into the fade it is,
  and a GAIN op does not say how much. The gain comes from the edit's EDL when there is one
  (``pointer_sequences/{sample}_edl.json`` from ``musicedit synth``; at inference the retarget
  EDL); without one it is 0 and the model can only learn an average gain for GAIN frames.

The model's input is the raw mel gathered by the pointers (``raw_mel[:, pointers]``, zeros where
the pointer is -1) plus the label features; its output is the edited mel, the same length.
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

import numpy as np

from editor_env.ops import EditOp
from editor_env.params import DEFAULT_PARAMS, AudioParams
from supervised_baseline.errors import SupervisedError

N_OPS = len(EditOp)
"""Number of op values the label embedding knows."""
N_LABEL_FEATURES = 7
"""Continuous label features per output frame (see :func:`label_features`)."""
MAX_LENGTH_MISMATCH = 3
"""Frames by which an edit mel and its pointer sequence may differ (rounding of the resampled
length); both are cut to the shorter. A larger difference means they belong to other files."""
SEAM_STEP_FRAMES = 2
"""A pointer step outside ``[0, SEAM_STEP_FRAMES]`` is a seam even where the op says COPY."""


def gather_raw(raw_mel: np.ndarray, pointers: np.ndarray) -> np.ndarray:
    """The raw mel in output order, ``(n_mels, T_out)`` float32; zeros where a pointer is -1 (NEW).

    :raises SupervisedError: a pointer past the raw's last frame.
    """
    pointers = np.asarray(pointers, dtype=np.int64)
    if pointers.size and pointers.max() >= raw_mel.shape[1]:
        raise SupervisedError(
            f"A pointer reaches raw frame {int(pointers.max())} but the raw mel has {raw_mel.shape[1]} frames: "
            "the pointer sequence belongs to another recording or analysis hop."
        )
    out = raw_mel[:, np.clip(pointers, 0, None)].astype(np.float32)
    out[:, pointers < 0] = 0.0
    return out


def seam_starts(pointers: np.ndarray, ops: np.ndarray) -> np.ndarray:
    """Bool ``(T_out,)``: output frames that start a new run of raw material (after a jump, at a
    SKIP/LOOP op, or where NEW material starts or stops). Frame 0 is not a seam."""
    pointers = np.asarray(pointers, dtype=np.int64)
    ops = np.asarray(ops)
    seam = np.isin(ops, (EditOp.SKIP, EditOp.LOOP))
    if pointers.size > 1:
        step = np.diff(pointers)
        new = ops == EditOp.NEW
        seam[1:] |= ((step < 0) | (step > SEAM_STEP_FRAMES)) & ~new[1:] & ~new[:-1]
        seam[1:] |= new[1:] != new[:-1]
    if seam.size:
        seam[0] = False
    return seam


def _since_until(boundary: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Frames since the last ``True`` of ``boundary`` (frame 0 counts) and until the frame before the next."""
    n = boundary.size
    t = np.arange(n, dtype=np.float64)
    starts = np.flatnonzero(boundary[1:]) + 1
    last = np.concatenate([[0], starts])
    since = t - last[np.searchsorted(last, t, side="right") - 1]
    ends = np.concatenate([starts, [n]])  # exclusive run ends
    until = ends[np.searchsorted(ends, t, side="right")] - 1 - t
    return since, until


def label_features(
    pointers: np.ndarray, ops: np.ndarray, scale_frames: int, gain_db: np.ndarray | None = None
) -> np.ndarray:
    """Continuous label features ``(T_out, 7)`` float32: frames since the edit's start, until its
    end, since the last seam, until the next seam (the edit's ends count as seams), since the start
    of the current run of one op, until its end — each divided by ``scale_frames`` and clipped to
    [0, 1] — and ``gain_db / 12`` clipped to [-1, 1] (0 when ``gain_db`` is None)."""
    ops = np.asarray(ops)
    n = int(ops.size)
    t = np.arange(n, dtype=np.float64)
    since_seam, until_seam = _since_until(seam_starts(pointers, ops))
    op_change = np.concatenate([[False], ops[1:] != ops[:-1]]) if n else np.zeros(0, bool)
    since_op, until_op = _since_until(op_change)
    feats = np.stack([t, n - 1 - t, since_seam, until_seam, since_op, until_op], axis=1) / float(scale_frames)
    gain = np.zeros(n) if gain_db is None else np.asarray(gain_db, dtype=np.float64) / 12.0
    return np.concatenate([np.clip(feats, 0.0, 1.0), np.clip(gain, -1.0, 1.0)[:, None]], axis=1).astype(np.float32)


def frame_gain_db(edl, n_frames: int, params: AudioParams = DEFAULT_PARAMS) -> np.ndarray:
    """``(n_frames,)`` gain in dB of the EDL segment each output frame lies in (the frame grid of
    :meth:`editor_env.edl.EditList.to_pointers`)."""
    out_t = np.arange(n_frames) * params.frame_seconds
    starts_s = edl.output_starts() / edl.sample_rate
    seg_idx = np.clip(np.searchsorted(starts_s, out_t, side="right") - 1, 0, None)
    gains = np.array([seg.effects.gain_db for seg in edl.segments] or [0.0], dtype=np.float64)
    return gains[np.minimum(seg_idx, gains.size - 1)]


@dataclasses.dataclass
class SupervisedSample:
    """One (raw, edit) pair as the model sees it.

    :param name: sample name.
    :param raw_mel: ``(n_mels, T_raw)`` float32 in [0, 1], the cached raw mel.
    :param pointers: ``(T_out,)`` int64, raw frame of each output frame (-1: not from the raw).
    :param ops: ``(T_out,)`` int8 :class:`EditOp` per output frame.
    :param edit_mel: ``(n_mels, T_out)`` float32 in [0, 1], the target, or None at inference.
    :param gain_db: ``(T_out,)`` gain in dB per output frame from the edit's EDL, or None (unknown: 0).
    """

    name: str
    raw_mel: np.ndarray
    pointers: np.ndarray
    ops: np.ndarray
    edit_mel: np.ndarray | None = None
    gain_db: np.ndarray | None = None

    def __post_init__(self) -> None:
        self.pointers = np.asarray(self.pointers, dtype=np.int64)
        self.ops = np.asarray(self.ops, dtype=np.int64)
        if self.raw_mel.ndim != 2:
            raise SupervisedError(f"Sample {self.name}: raw mel must be (n_mels, frames), got {self.raw_mel.shape}.")
        if self.pointers.ndim != 1 or self.pointers.shape != self.ops.shape:
            raise SupervisedError(
                f"Sample {self.name}: pointers {self.pointers.shape} and ops {self.ops.shape} must be 1-D of one length."
            )
        if self.pointers.size == 0:
            raise SupervisedError(f"Sample {self.name}: the edit has no frames.")
        if self.ops.min() < 0 or self.ops.max() >= N_OPS:
            raise SupervisedError(f"Sample {self.name}: ops must be EditOp values 0..{N_OPS - 1}.")
        if self.edit_mel is not None and self.edit_mel.shape != (self.raw_mel.shape[0], self.pointers.size):
            raise SupervisedError(
                f"Sample {self.name}: edit mel {self.edit_mel.shape} does not match "
                f"({self.raw_mel.shape[0]}, {self.pointers.size}) (n_mels, edit frames)."
            )
        if self.gain_db is not None and np.shape(self.gain_db) != self.pointers.shape:
            raise SupervisedError(f"Sample {self.name}: gain_db must have one value per edit frame.")

    @property
    def n_frames(self) -> int:
        return int(self.pointers.size)

    def inputs(self, scale_frames: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(gathered (T_out, n_mels), ops (T_out,), features (T_out, 7))``, frame-major for the model."""
        return (
            np.ascontiguousarray(gather_raw(self.raw_mel, self.pointers).T),
            self.ops,
            label_features(self.pointers, self.ops, scale_frames, self.gain_db),
        )


def _read_mel(path: Path, params: AudioParams) -> np.ndarray:
    import json
    import zipfile

    try:
        with np.load(path, allow_pickle=False) as data:
            made_with = json.loads(str(data["params_json"]))
            mel = data["mel"].astype(np.float32)
    except (OSError, KeyError, ValueError, EOFError, zipfile.BadZipFile) as exc:
        raise SupervisedError(
            f"Cannot read cached mel {path} ({exc}): delete it and run `musicedit precache`."
        ) from exc
    if AudioParams(**made_with) != params:
        raise SupervisedError(f"{path} was made with other analysis parameters: run `musicedit precache` again.")
    return mel


def load_samples(
    data_dir: str | os.PathLike,
    cache_dir: str | os.PathLike | None = None,
    *,
    params: AudioParams = DEFAULT_PARAMS,
    samples: list[str] | None = None,
    progress: bool = False,
) -> list[SupervisedSample]:
    """Every (raw, edit) pair of ``data_dir`` with its pointers and ops, precaching missing mels.

    The per-frame gain comes from ``pointer_sequences/{sample}_edl.json`` when present.

    :raises SupervisedError: a sample without ``pointer_sequences/{sample}_pointers.npy`` or
        ``_ops.npy``, or whose edit mel and pointers differ by more than a few frames.
    """
    from editor_env.cache import features_path, precache
    from editor_env.dataset import discover_pairs
    from editor_env.edl import EditList

    data_dir = Path(data_dir)
    cache_dir = Path(cache_dir) if cache_dir is not None else data_dir.parent / "cache"
    pairs = discover_pairs(data_dir, require_edit=True, samples=samples)
    problems = []
    for pair in pairs:
        for kind in ("pointers", "ops"):
            path = data_dir / "pointer_sequences" / f"{pair.name}_{kind}.npy"
            if not path.is_file():
                problems.append(f"{path} is missing")
    if problems:
        raise SupervisedError(
            "The supervised baseline trains on edits known frame by frame: "
            + "; ".join(problems)
            + ". Run `musicedit align` on the data set (or generate it with `musicedit synth`)."
        )
    result = precache(data_dir, cache_dir, params=params, samples=[p.name for p in pairs], progress=progress)
    if result.failed:
        raise SupervisedError(f"Could not analyse samples of {data_dir}: {result.failed}")
    out = []
    for pair in pairs:
        seq = data_dir / "pointer_sequences"
        pointers = np.load(seq / f"{pair.name}_pointers.npy").astype(np.int64)
        ops = np.load(seq / f"{pair.name}_ops.npy").astype(np.int64)
        raw_mel = _read_mel(features_path(cache_dir, pair.name, "raw"), params)
        edit_mel = _read_mel(features_path(cache_dir, pair.name, "edit"), params)
        if pointers.shape != ops.shape:
            raise SupervisedError(
                f"{seq / pair.name}_ops.npy and _pointers.npy differ in length: re-run the alignment."
            )
        diff = edit_mel.shape[1] - pointers.size
        if abs(diff) > MAX_LENGTH_MISMATCH:
            raise SupervisedError(
                f"Sample {pair.name}: the edit mel has {edit_mel.shape[1]} frames but {seq}/{pair.name}_pointers.npy "
                f"has {pointers.size}; they belong to other files or analysis hops. Re-run `musicedit align`."
            )
        n = min(edit_mel.shape[1], pointers.size)
        edl_file = seq / f"{pair.name}_edl.json"
        gain = frame_gain_db(EditList.load(edl_file), n, params) if edl_file.is_file() else None
        out.append(SupervisedSample(pair.name, raw_mel, pointers[:n], ops[:n], edit_mel[:, :n], gain))
    return out


def split_samples(
    samples: list[SupervisedSample], val_fraction: float, seed: int
) -> tuple[list[SupervisedSample], list[SupervisedSample]]:
    """Training and validation samples, split by sample with a seeded shuffle. With one sample it
    is used for both (said by the trainer); otherwise validation gets at least one."""
    order = np.random.default_rng(seed).permutation(len(samples))
    n_val = int(round(val_fraction * len(samples)))
    if val_fraction > 0 and len(samples) >= 2:
        n_val = min(max(n_val, 1), len(samples) - 1)
    val = [samples[i] for i in sorted(order[:n_val])]
    train = [samples[i] for i in sorted(order[n_val:])]
    return train, (val or train)


def normalisation(samples: list[SupervisedSample]) -> tuple[np.ndarray, np.ndarray]:
    """Per-bin mean and std ``(n_mels,)`` float32 of the training samples' raw mels (std >= 1e-3)."""
    mels = np.concatenate([s.raw_mel for s in samples], axis=1).astype(np.float64)
    return mels.mean(axis=1).astype(np.float32), np.maximum(mels.std(axis=1), 1e-3).astype(np.float32)


@dataclasses.dataclass
class Prepared:
    """A sample's model inputs and target, computed once (frame-major)."""

    name: str
    gathered: np.ndarray  # (T, n_mels)
    ops: np.ndarray  # (T,)
    features: np.ndarray  # (T, 7)
    target: np.ndarray | None  # (T, n_mels)

    @classmethod
    def of(cls, sample: SupervisedSample, scale_frames: int) -> Prepared:
        gathered, ops, feats = sample.inputs(scale_frames)
        target = None if sample.edit_mel is None else np.ascontiguousarray(sample.edit_mel.T)
        return cls(sample.name, gathered, ops, feats, target)

    @property
    def n_frames(self) -> int:
        return int(self.ops.size)


def random_crops(
    prepared: list[Prepared], per_sample: int, length: int, rng: np.random.Generator, *, focus_fraction: float = 0.0
) -> list:
    """``(sample index, start)`` of ``per_sample`` random crops of each sample, shuffled.

    A share ``focus_fraction`` of them is centred on a random frame whose op is not COPY (a seam,
    fade, gain or new material), where there is one: those frames are a few percent of an edit
    but all of what the model has to learn beyond copying."""
    crops = []
    for i, p in enumerate(prepared):
        last = max(p.n_frames - length, 0)
        events = np.flatnonzero(p.ops != 0)
        for _ in range(per_sample):
            if events.size and rng.random() < focus_fraction:
                centre = int(events[rng.integers(events.size)])
                start = int(np.clip(centre - length // 2 + rng.integers(-length // 4, length // 4 + 1), 0, last))
            else:
                start = int(rng.integers(0, last + 1))
            crops.append((i, start))
    order = rng.permutation(len(crops))
    return [crops[k] for k in order]


def tiled_crops(prepared: list[Prepared], length: int) -> list:
    """``(sample index, start)`` tiling every sample with non-overlapping crops (the last one may be short)."""
    return [(i, start) for i, p in enumerate(prepared) for start in range(0, p.n_frames, length)]


def collate(prepared: list[Prepared], crops: list, length: int) -> dict[str, np.ndarray]:
    """Stack crops into padded arrays: ``gathered``/``target`` (B, L, n_mels), ``ops`` (B, L),
    ``features`` (B, L, 7), ``valid`` (B, L) bool (False on padding)."""
    n_mels = prepared[0].gathered.shape[1]
    real = min(length, max(min(prepared[i].n_frames - s, length) for i, s in crops))
    batch = {
        "gathered": np.zeros((len(crops), real, n_mels), np.float32),
        "target": np.zeros((len(crops), real, n_mels), np.float32),
        "ops": np.zeros((len(crops), real), np.int64),
        "features": np.zeros((len(crops), real, N_LABEL_FEATURES), np.float32),
        "valid": np.zeros((len(crops), real), bool),
    }
    for b, (i, start) in enumerate(crops):
        p = prepared[i]
        n = min(p.n_frames - start, real)
        sl = slice(start, start + n)
        batch["gathered"][b, :n] = p.gathered[sl]
        batch["ops"][b, :n] = p.ops[sl]
        batch["features"][b, :n] = p.features[sl]
        batch["valid"][b, :n] = True
        if p.target is not None:
            batch["target"][b, :n] = p.target[sl]
    return batch

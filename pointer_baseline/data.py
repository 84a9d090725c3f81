"""Training data of the pointer network: cached raw mels, pointer sequences and their step targets.

A sample is read from the feature cache (``cache/features/{sample}_raw.npz``, made by
``editor_env.cache``; with ``use_stems`` also ``cache/stems_mel/{sample}_stems.npz``) and the
pointer folder (``{sample}_pointers.npy`` int64 and, when present, ``{sample}_ops.npy`` int8:
synthetic ground truth or ``imitation_data.align``'s alignment). Frames whose op is NEW (pointer
-1: material not in the raw) are left out: no pointer can reproduce them.

Step targets (:func:`step_targets`): the ``m`` output frames give ``m + 1`` decoder steps; step
``i`` has expected position ``e_i = p[i-1] + 1`` (``e_0 = 0``; see :mod:`pointer_baseline.model`)
and the last step (``i = m``) is the one where the edit stops.
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

import numpy as np

from editor_env.ops import EditOp
from editor_env.params import DEFAULT_PARAMS, AudioParams
from pointer_baseline.errors import PointerError

POINTER_TOLERANCE_FRAMES = 2
"""Pointers up to this many frames past the raw mel's end are clipped (frame rounding); further is an error."""


@dataclasses.dataclass
class PointerSample:
    """One training recording.

    :param name: sample name.
    :param mel: ``(n_inputs, T)`` float32 in [0, 1]: the raw mel, with the stem mels under it when used.
    :param pointers: ``(m,)`` int64 raw frame of each output frame, in ``[0, T)``.
    :param ops: ``(m,)`` int8 :class:`~editor_env.ops.EditOp` per output frame, or None.
    """

    name: str
    mel: np.ndarray
    pointers: np.ndarray
    ops: np.ndarray | None = None

    def __post_init__(self) -> None:
        if self.mel.ndim != 2 or self.mel.shape[1] < 1:
            raise PointerError(f"sample {self.name}: mel must be (n_inputs, T), got {self.mel.shape}.")
        if self.pointers.ndim != 1 or self.pointers.size == 0:
            raise PointerError(f"sample {self.name}: the pointer sequence is empty or not 1-D.")
        if self.pointers.min() < 0 or self.pointers.max() >= self.n_raw:
            raise PointerError(
                f"sample {self.name}: pointers span [{self.pointers.min()}, {self.pointers.max()}] but the raw mel "
                f"has {self.n_raw} frames."
            )
        if self.ops is not None and self.ops.shape != self.pointers.shape:
            raise PointerError(f"sample {self.name}: ops {self.ops.shape} and pointers {self.pointers.shape} differ.")

    @property
    def n_raw(self) -> int:
        return int(self.mel.shape[1])


def pointer_files(pointer_dir: str | os.PathLike, sample: str) -> tuple[Path, Path]:
    """``({sample}_pointers.npy, {sample}_ops.npy)`` in ``pointer_dir``."""
    pointer_dir = Path(pointer_dir)
    return pointer_dir / f"{sample}_pointers.npy", pointer_dir / f"{sample}_ops.npy"


def read_pointer_sequence(pointer_dir: str | os.PathLike, sample: str) -> tuple[np.ndarray, np.ndarray | None]:
    """The pointers (int64) and ops (int8 or None) of ``sample`` with NEW frames left out.

    :raises PointerError: missing or unreadable file, or pointers and ops of different lengths.
    """
    pointer_file, ops_file = pointer_files(pointer_dir, sample)
    try:
        pointers = np.load(pointer_file, allow_pickle=False)
    except FileNotFoundError as exc:
        raise PointerError(
            f"{pointer_file} is missing: run `python -m pointer_baseline.precache {sample}` (it aligns the pair)."
        ) from exc
    except (OSError, ValueError, EOFError) as exc:
        raise PointerError(f"{pointer_file} is unreadable ({exc}): delete it and rerun the precache.") from exc
    if pointers.ndim != 1 or not np.issubdtype(pointers.dtype, np.integer):
        raise PointerError(f"{pointer_file} must hold a 1-D integer array, not {pointers.dtype} {pointers.shape}.")
    pointers = pointers.astype(np.int64)
    ops = None
    if ops_file.is_file():
        try:
            ops = np.load(ops_file, allow_pickle=False).astype(np.int8)
        except (OSError, ValueError, EOFError) as exc:
            raise PointerError(f"{ops_file} is unreadable ({exc}): delete it and rerun the precache.") from exc
        if ops.shape != pointers.shape:
            raise PointerError(f"{ops_file} has {ops.shape} values but {pointer_file} {pointers.shape}: re-align.")
    keep = pointers >= 0
    if ops is not None:
        keep &= ops != EditOp.NEW
    return pointers[keep], (None if ops is None else ops[keep])


BEAT_INPUT_ROWS = 124
"""Rows of :func:`beat_frame_features`: the 121 beat features plus beat onset, downbeat onset, beat phase."""
BEAT_ONSET_ROW = 121
"""The row of :func:`beat_frame_features` that is 1 on the first frame of every tracked beat."""


def beat_frame_features(analysis, params: AudioParams = DEFAULT_PARAMS) -> np.ndarray:
    """The beat grid and beat features of ``analysis`` spread over its mel frames, ``(124, T)`` float32.

    Rows 0-120: the beat features (:data:`editor_env.features.FEATURE_NAMES`) of the beat each frame
    lies in, standardised over the recording (z-scores clipped to +-5, divided by 5); rows 121-123:
    1 on the first frame of a beat, 1 on the first frame of a downbeat, and the frame's phase in
    its beat in [0, 1). They tell the network where seams can fall (edits cut on beats) and what
    each beat sounds like (loudness, noise, novelty, chroma ...).
    """
    n_frames = int(analysis.mel.shape[1])
    feats = np.asarray(analysis.features, dtype=np.float32)
    times = np.asarray(analysis.beats.times, dtype=np.float64)
    out = np.zeros((BEAT_INPUT_ROWS, n_frames), dtype=np.float32)
    if times.size == 0 or feats.shape[0] == 0:
        return out
    starts = np.clip(np.round(times / params.frame_seconds).astype(np.int64), 0, n_frames - 1)
    frames = np.arange(n_frames)
    beat = np.clip(np.searchsorted(starts, frames, side="right") - 1, 0, starts.size - 1)
    std = feats.std(axis=0)
    z = (feats - feats.mean(axis=0)) / np.where(std > 1e-6, std, 1.0)
    out[: feats.shape[1]] = (np.clip(z, -5.0, 5.0) / 5.0)[beat].T
    out[BEAT_ONSET_ROW, starts] = 1.0
    down = np.asarray(analysis.beats.bar_position) == 0
    out[122, starts[down]] = 1.0
    ends = np.concatenate([starts[1:], [n_frames]])
    length = np.maximum(ends - starts, 1)[beat]
    out[123] = np.clip((frames - starts[beat]) / length, 0.0, 1.0)
    return out


RECURRENCE_PREFIXES = ("chroma", "mfcc", "mel")
"""Beat features compared by :func:`recurrence_frame_features`: harmony and timbre, not loudness or position."""
RECURRENCE_BEATS = 4
"""Beats averaged along each diagonal of the recurrence: a bar of 4/4 is compared with a bar."""


def recurrence_frame_features(analysis, lags: int, params: AudioParams = DEFAULT_PARAMS) -> np.ndarray:
    """How much each beat sounds like the beats around it, spread over the mel frames, ``(2 lags, T)`` float32.

    Row ``r`` holds lag ``l = r - lags`` for ``r < lags`` and ``l = r - lags + 1`` after (lags ``-lags .. -1,
    1 .. lags`` beats): the cosine similarity of the :data:`RECURRENCE_BEATS` beats from beat ``b`` with those from
    beat ``b + l`` (chroma, MFCC and mel band features standardised over the recording), 0 where ``b + l`` falls
    outside. This is the lag (time-lag) form of a recurrence matrix (as ``librosa.segment.recurrence_to_lag``),
    computed only in the band ``|l| <= lags`` so it stays linear in the recording's length. It shows what no
    single beat can: a passage replayed right after itself (an over-long repeat of a section), a section begun
    and begun again a few beats later (a false start), material that does not recur (noodling).
    """
    from editor_env.features import FEATURE_NAMES

    n_frames = int(analysis.mel.shape[1])
    out = np.zeros((2 * lags, n_frames), dtype=np.float32)
    feats = np.asarray(analysis.features, dtype=np.float64)
    times = np.asarray(analysis.beats.times, dtype=np.float64)
    if lags < 1 or times.size < 2 or feats.shape[0] != times.size:
        return out
    columns = [i for i, name in enumerate(FEATURE_NAMES) if name.startswith(RECURRENCE_PREFIXES)]
    x = feats[:, columns]
    x = (x - x.mean(axis=0)) / np.maximum(x.std(axis=0), 1e-6)
    x /= np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-9)
    n = x.shape[0]
    sim = np.zeros((2 * lags, n))
    for r, lag in enumerate([*range(-lags, 0), *range(1, lags + 1)]):
        lo, hi = max(0, -lag), min(n, n - lag)
        if hi <= lo:
            continue
        dots = np.einsum("ij,ij->i", x[lo:hi], x[lo + lag : hi + lag])
        window = np.convolve(dots, np.ones(RECURRENCE_BEATS), mode="full")[RECURRENCE_BEATS - 1 :]
        count = np.convolve(np.ones_like(dots), np.ones(RECURRENCE_BEATS), mode="full")[RECURRENCE_BEATS - 1 :]
        sim[r, lo:hi] = window / count
    starts = np.clip(np.round(times / params.frame_seconds).astype(np.int64), 0, n_frames - 1)
    beat = np.clip(np.searchsorted(starts, np.arange(n_frames), side="right") - 1, 0, n - 1)
    out[:] = sim[:, beat]
    return out


def model_inputs(
    analysis,
    *,
    use_stems: bool = False,
    use_beat_features: bool = False,
    recurrence_lags: int = 0,
    stem_mels: np.ndarray | None = None,
    params: AudioParams = DEFAULT_PARAMS,
) -> np.ndarray:
    """The network's input ``(n_inputs, T)``: the mel, then the stem mels (``stem_mels`` ``(4, n_mels, T')``)
    when ``use_stems``, then :func:`beat_frame_features` when ``use_beat_features``, then
    :func:`recurrence_frame_features` when ``recurrence_lags`` > 0."""
    mel = np.asarray(analysis.mel, dtype=np.float32)
    rows = [mel]
    if use_stems:
        if stem_mels is None:
            raise PointerError("The model uses stems: stem mels (4, n_mels, T) are needed.")
        rows.append(fit_frames(np.asarray(stem_mels, np.float32).reshape(-1, stem_mels.shape[-1]), mel.shape[1]))
    if use_beat_features:
        rows.append(beat_frame_features(analysis, params))
    if recurrence_lags > 0:
        rows.append(recurrence_frame_features(analysis, recurrence_lags, params))
    return np.concatenate(rows, axis=0) if len(rows) > 1 else mel


def load_mel(
    cache_dir: str | os.PathLike,
    sample: str,
    *,
    use_stems: bool = False,
    use_beat_features: bool = False,
    recurrence_lags: int = 0,
    params: AudioParams = DEFAULT_PARAMS,
) -> np.ndarray:
    """The network's input from the cache (:func:`model_inputs`): the raw mel ``(n_mels, T)``, with
    the four stem mels (``cache/stems_mel``) and the beat rows under it when asked."""
    from editor_env.cache import load_analysis

    analysis = load_analysis(cache_dir, sample, params)
    stems = None
    if use_stems:
        from editor_env.stems import load_stem_mels

        stems = load_stem_mels(cache_dir, sample)
    return model_inputs(
        analysis,
        use_stems=use_stems,
        use_beat_features=use_beat_features,
        recurrence_lags=recurrence_lags,
        stem_mels=stems,
        params=params,
    )


def fit_frames(x: np.ndarray, n_frames: int) -> np.ndarray:
    """``x`` ``(rows, T')`` trimmed or edge-padded to ``n_frames`` columns (stems vs the mix may differ by a frame)."""
    if x.shape[1] >= n_frames:
        return x[:, :n_frames]
    return np.pad(x, ((0, 0), (0, n_frames - x.shape[1])), mode="edge")


def load_sample(
    cache_dir: str | os.PathLike,
    pointer_dir: str | os.PathLike,
    sample: str,
    *,
    use_stems: bool = False,
    use_beat_features: bool = False,
    recurrence_lags: int = 0,
    params: AudioParams = DEFAULT_PARAMS,
) -> PointerSample:
    """One training recording from the cache and the pointer folder (errors name the file)."""
    mel = load_mel(
        cache_dir,
        sample,
        use_stems=use_stems,
        use_beat_features=use_beat_features,
        recurrence_lags=recurrence_lags,
        params=params,
    )
    pointers, ops = read_pointer_sequence(pointer_dir, sample)
    n_raw = mel.shape[1]
    if pointers.size == 0:
        raise PointerError(f"{pointer_files(pointer_dir, sample)[0]} holds no copied frames (all NEW or -1).")
    if pointers.max() >= n_raw + POINTER_TOLERANCE_FRAMES:
        raise PointerError(
            f"{pointer_files(pointer_dir, sample)[0]} points at raw frame {pointers.max()} but the cached mel of "
            f"{sample} has {n_raw} frames: the pointers were made for another recording or other analysis "
            "parameters; re-align (python -m pointer_baseline.precache) or re-run `musicedit precache`."
        )
    return PointerSample(sample, mel, np.minimum(pointers, n_raw - 1), ops)


def discover_samples(cache_dir: str | os.PathLike, pointer_dir: str | os.PathLike) -> list[str]:
    """Samples with both a pointer file and a cached raw mel, sorted."""
    from editor_env.cache import features_path

    pointer_dir = Path(pointer_dir)
    if not pointer_dir.is_dir():
        raise PointerError(f"Pointer folder {pointer_dir} does not exist: run `python -m pointer_baseline.precache`.")
    names = sorted(p.name[: -len("_pointers.npy")] for p in pointer_dir.glob("*_pointers.npy"))
    return [n for n in names if features_path(cache_dir, n, "raw").is_file()]


def split_samples(names: list[str], val_fraction: float, seed: int) -> tuple[list[str], list[str]]:
    """Training and validation samples, split by recording with a seeded shuffle (at least one
    validation sample when there are two or more and ``val_fraction > 0``)."""
    order = np.random.default_rng(seed).permutation(len(names))
    n_val = int(round(val_fraction * len(names)))
    if val_fraction > 0 and len(names) >= 2:
        n_val = min(max(n_val, 1), len(names) - 1)
    val = sorted(names[i] for i in order[:n_val])
    train = sorted(names[i] for i in order[n_val:])
    return train, val


@dataclasses.dataclass
class StepTargets:
    """Decoder inputs and targets of all ``m + 1`` steps of one sample (numpy arrays of length ``m + 1``).

    ``delta_class`` is ``max_delta + delta`` on delta steps and -1 elsewhere; ``chunk`` and
    ``landing`` (index into the window around the bucket's centre) are set on jump steps and -1
    elsewhere; ``op`` is -1 where unknown and at the stop step.
    """

    expected: np.ndarray
    run: np.ndarray
    seams: np.ndarray
    pointer: np.ndarray
    """True pointer of each step (-1 at the stop step)."""
    use_jump: np.ndarray
    delta_class: np.ndarray
    chunk: np.ndarray
    landing: np.ndarray
    stop: np.ndarray
    op: np.ndarray

    @property
    def n_steps(self) -> int:
        return int(self.expected.size)

    @property
    def events(self) -> np.ndarray:
        """Steps that are not a plain continuation: seams (delta != 0 or jump) and the stop step."""
        return np.flatnonzero((self.pointer != self.expected) | (self.stop == 1))

    @property
    def seam_steps(self) -> np.ndarray:
        """Steps where the reference leaves the raw's order (pointer != expected: a delta or a jump, the opening
        skip included), the stop step not."""
        return np.flatnonzero((self.pointer != self.expected) & (self.stop == 0))


def frame_labels(pointers: np.ndarray, n_raw: int) -> np.ndarray:
    """Per raw frame ``(T, 3)`` float32 labels: kept (played by the edit), start (a seam lands on it:
    the edit's first frame or a pointer that is not the previous one + 1), end (the edit leaves
    after it: the frame before a seam, and the edit's last frame)."""
    p = np.asarray(pointers, dtype=np.int64)
    labels = np.zeros((n_raw, 3), dtype=np.float32)
    labels[p, 0] = 1.0
    seam = np.concatenate([[True], p[1:] != p[:-1] + 1])
    labels[p[seam], 1] = 1.0
    leave = np.concatenate([seam[1:], [True]])
    labels[p[leave], 2] = 1.0
    return labels


def load_sample_and_targets(
    cache_dir: str | os.PathLike, pointer_dir: str | os.PathLike, sample: str, config
) -> tuple[PointerSample, StepTargets]:
    """One recording read with the inputs a :class:`~pointer_baseline.model.PointerModelConfig` ``config`` takes
    (:func:`load_sample`), and its :func:`step_targets` for that config."""
    loaded = load_sample(
        cache_dir,
        pointer_dir,
        sample,
        use_stems=config.use_stems,
        use_beat_features=config.use_beat_features,
        recurrence_lags=config.recurrence_lags,
    )
    targets = step_targets(
        loaded.pointers, loaded.n_raw, max_delta=config.max_delta, jump_chunk=config.jump_chunk, ops=loaded.ops
    )
    return loaded, targets


def step_targets(
    pointers: np.ndarray, n_raw: int, *, max_delta: int, jump_chunk: int, ops: np.ndarray | None = None
) -> StepTargets:
    """Decoder inputs and targets of a pointer sequence ``pointers`` ``(m,)`` over ``n_raw`` raw frames."""
    p = np.asarray(pointers, dtype=np.int64)
    m = p.size
    expected = np.concatenate([[0], p + 1]).astype(np.int64)  # m + 1 steps
    pointer = np.concatenate([p, [-1]])
    seam = np.zeros(m + 1, dtype=bool)
    seam[:m] = p != expected[:m]
    steps = np.arange(m + 1)
    last_seam = np.maximum.accumulate(np.where(seam, steps, -1))  # last seam at or before each step
    prev_seam = np.concatenate([[-1], last_seam[:-1]])  # ... strictly before
    run = steps - (prev_seam + 1)
    seams = np.concatenate([[0], np.cumsum(seam)[:-1]])
    delta = pointer - expected
    use_jump = np.zeros(m + 1, dtype=np.int64)
    use_jump[:m] = np.abs(delta[:m]) > max_delta
    delta_class = np.where((use_jump == 0) & (steps < m), delta + max_delta, -1)
    chunk = np.where(use_jump == 1, pointer // jump_chunk, -1)
    n_chunks = -(-n_raw // jump_chunk)
    last_count = n_raw - (n_chunks - 1) * jump_chunk
    counts = np.where(chunk == n_chunks - 1, last_count, jump_chunk)
    centre = np.minimum(chunk * jump_chunk + counts // 2, n_raw - 1)
    landing = np.where(use_jump == 1, pointer - centre + max_delta, -1)
    stop = np.zeros(m + 1, dtype=np.int64)
    stop[m] = 1
    op = np.full(m + 1, -1, dtype=np.int64)
    if ops is not None:
        op[:m] = ops
    return StepTargets(expected, run, seams, pointer, use_jump, delta_class, chunk, landing, stop, op)

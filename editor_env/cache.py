"""The feature cache: mels, beats and beat features of every sample, computed once.

Layout (DESIGN.md)::

    cache/features/{sample}_raw.npz   'mel' (128, T) float32 in [0, 1]
    cache/features/{sample}_edit.npz  'mel' of the human edit
    cache/beats/{sample}_raw.npz      'beat_times', 'bar_position', 'tempo', 'features' (n_beats, 121)
    cache/stems/{sample}_stems.npz      stems (editor_env.stems, scripts/precache_stems.py)
    cache/stems_mel/{sample}_stems.npz  their mels (scripts/convert_stems_to_mel.py)

Every file stores the key it was made with: a hash of the :class:`AudioParams`, the cache
format version and the source file's size and modification time. A file whose key differs
(other parameters, a changed recording) is recomputed, never silently reused. Files are
written atomically, so an interrupted run leaves only finished files and a rerun skips them.

The beat features' four stem-energy slots are filled when a stem cache of the same recording
is present; the beats file's key then also names those stems, so features made before the
stems appeared (or from other stems) are recomputed.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import os
import zipfile
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from editor_env.beats import BeatGrid
from editor_env.dataset import SamplePair, discover_pairs
from editor_env.errors import MusicEditError
from editor_env.features import FEATURE_NAMES, Analysis, FrameFeatures
from editor_env.io import atomic_path
from editor_env.params import DEFAULT_PARAMS, AudioParams

if TYPE_CHECKING:
    from editor_env.executor import Executor
    from editor_env.stems import StemCacheRef

CACHE_VERSION = 1

LONG_INPUT_SECONDS = 20 * 60.0
"""Recordings longer than this are read and analysed in chunks (:func:`stream_frame_features`), so
memory does not grow with a chunk's worth of intermediate spectra per second of audio: a 2-hour
recording needs about what a 20-minute one does, plus its outputs (mel and features, ~0.2 GB an
hour). Shorter ones are analysed in one piece, as before."""
CHUNK_FRAMES = 8192
"""Analysis frames per chunk of a long recording (8192 x 512 / 22050 Hz = 190 s)."""
CONTEXT_FRAMES = 8
"""Frames of audio around each chunk: a frame's window reaches 2 frames either side and its onset
strength 3 frames back, so with 8 the chunked frames equal those of the whole signal (within float
rounding), with one exception: librosa's spectral contrast floors each band at 80 dB below the
loudest value of its input, which is then the chunk (190 s) rather than the whole recording; only
near-silent frames can differ."""


def features_path(cache_dir: str | os.PathLike, sample: str, kind: str = "raw") -> Path:
    return Path(cache_dir) / "features" / f"{sample}_{kind}.npz"


def beats_path(cache_dir: str | os.PathLike, sample: str) -> Path:
    return Path(cache_dir) / "beats" / f"{sample}_raw.npz"


def stems_path(cache_dir: str | os.PathLike, sample: str) -> Path:
    return Path(cache_dir) / "stems" / f"{sample}_stems.npz"


def stems_mel_path(cache_dir: str | os.PathLike, sample: str) -> Path:
    return Path(cache_dir) / "stems_mel" / f"{sample}_stems.npz"


def cache_key(source: Path, params: AudioParams, **extra: str) -> str:
    """What a cache file depends on: parameters, format version and the source file's identity
    (plus ``extra`` inputs, e.g. ``stems=`` the identity of the stems the features used)."""
    stat = source.stat()
    return json.dumps(
        {"params": params.hash(), "version": CACHE_VERSION, "size": stat.st_size, "mtime_ns": stat.st_mtime_ns} | extra,
        sort_keys=True,
    )


def is_fresh(path: Path, key: str) -> bool:
    """True when ``path`` exists, is readable and was made with ``key``."""
    try:
        with np.load(path, allow_pickle=False) as data:
            return str(data["key"]) == key
    except (OSError, KeyError, ValueError, EOFError, zipfile.BadZipFile):
        return False  # missing, truncated or foreign: recompute


def _save_npz(path: Path, key: str, params: AudioParams, **arrays: np.ndarray) -> None:
    with atomic_path(path) as tmp:
        np.savez(tmp, key=np.array(key), params_json=np.array(json.dumps(params.to_dict())), **arrays)


def raw_cache_keys(
    pair: SamplePair, cache_dir: str | os.PathLike, params: AudioParams = DEFAULT_PARAMS
) -> tuple[str, str, StemCacheRef | None]:
    """``(mel_key, beats_key, stem_cache)`` of a sample's raw files as they should be now.

    ``stem_cache`` is the usable :class:`editor_env.stems.StemCacheRef` or None. Without stems
    the beats key is the mel key, so caches made before stems existed stay valid; with stems it
    also names them, so features are recomputed when stems appear or change.
    """
    from editor_env.stems import find_stem_cache

    raw_key = cache_key(pair.raw_path, params)
    stems = find_stem_cache(cache_dir, pair.name, raw_key)
    beats_key = raw_key if stems is None else cache_key(pair.raw_path, params, stems=stems.identity)
    return raw_key, beats_key, stems


def is_raw_cached(pair: SamplePair, cache_dir: str | os.PathLike, params: AudioParams = DEFAULT_PARAMS) -> bool:
    """True when the raw mel and beat features of ``pair`` are cached and fresh (stems included)."""
    raw_key, beats_key, _ = raw_cache_keys(pair, cache_dir, params)
    return is_fresh(features_path(cache_dir, pair.name, "raw"), raw_key) and is_fresh(
        beats_path(cache_dir, pair.name), beats_key
    )


@dataclasses.dataclass
class PrecacheResult:
    """What one precache run did: sample names by outcome, and failures with their reason."""

    computed: list[str] = dataclasses.field(default_factory=list)
    skipped: list[str] = dataclasses.field(default_factory=list)
    failed: dict[str, str] = dataclasses.field(default_factory=dict)
    audio_seconds: float = 0.0
    """Seconds of audio analysed in this run (computed samples only)."""


def stream_frame_features(
    path: str | os.PathLike,
    params: AudioParams = DEFAULT_PARAMS,
    *,
    chunk_frames: int = CHUNK_FRAMES,
    mel_only: bool = False,
) -> tuple[FrameFeatures, int]:
    """:func:`editor_env.features.frame_features` of an audio file, read block by block and
    computed ``chunk_frames`` frames at a time with :data:`CONTEXT_FRAMES` of context, so memory
    holds one chunk's spectra plus the (small) per-frame results.

    :returns: ``(frames, n_samples)``: the features of every frame ``(…, 1 + n_samples // hop)``
        and the recording's length in samples at the analysis rate.
    """
    from editor_env.audio import stream_analysis_signal
    from editor_env.features import frame_features

    hop, context = params.hop_length, CONTEXT_FRAMES
    parts: list[FrameFeatures] = []
    buffer, buffer_start, next_frame, n_samples = np.zeros(0, np.float32), 0, 0, 0

    def analyse(stop_frame: int, segment_end: int) -> None:
        """Frames ``[next_frame, stop_frame)`` from the samples up to ``segment_end``; drop what no later chunk needs."""
        nonlocal buffer, buffer_start, next_frame
        first = max(next_frame - context, 0)
        segment = buffer[first * hop - buffer_start : segment_end - buffer_start]
        parts.append(frame_features(segment, params, mel_only=mel_only).frames(next_frame - first, stop_frame - first))
        next_frame = stop_frame
        keep = max(next_frame - context, 0) * hop
        buffer, buffer_start = buffer[keep - buffer_start :], keep

    for block in stream_analysis_signal(path, params):
        buffer = np.concatenate([buffer, block])
        n_samples += block.size
        while (next_frame + chunk_frames + context) * hop <= n_samples:  # the chunk and its right context are in
            analyse(next_frame + chunk_frames, (next_frame + chunk_frames + context) * hop)
    n_frames = 1 + n_samples // hop  # centred frames, as for the whole signal
    while next_frame < n_frames:  # the rest: a chunk that reaches the end pads it as the whole signal would
        stop = min(next_frame + chunk_frames, n_frames)
        analyse(stop, min(n_samples, (stop + context) * hop))
    return FrameFeatures.concatenate(parts), n_samples


def chunked_tempo(
    onset: np.ndarray, params: AudioParams = DEFAULT_PARAMS, *, chunk_frames: int = CHUNK_FRAMES
) -> float:
    """librosa's global tempo estimate (``librosa.feature.tempo``: the prior-weighted peak of the mean
    tempogram) of an onset envelope ``(n_frames,)``, with the tempogram built ``chunk_frames`` columns
    at a time: each column is a windowed autocorrelation of the frames around it, so with half a
    window of context the mean is the same, without the ``(344, n_frames)`` array (5.6 GB peak for
    2 hours). In BPM."""
    import librosa

    sr, hop, n = params.sample_rate, params.hop_length, onset.size
    win_length = librosa.time_to_frames(8.0, sr=sr, hop_length=hop).item()  # tempo()'s ac_size of 8 s
    context = win_length // 2 + 1
    total = np.zeros(win_length)
    for start in range(0, n, chunk_frames):
        lo, hi = max(start - context, 0), min(start + chunk_frames + context, n)
        tg = librosa.feature.tempogram(onset_envelope=onset[lo:hi], sr=sr, hop_length=hop, win_length=win_length)
        total += tg[:, start - lo : start - lo + min(chunk_frames, n - start)].sum(axis=1)
    mean = (total / max(n, 1))[:, None]
    return float(librosa.feature.tempo(tg=mean, sr=sr, hop_length=hop, start_bpm=params.default_bpm)[0])


def frames_of(path: Path, params: AudioParams, *, mel_only: bool = False) -> tuple[FrameFeatures, int]:
    """Frame features of a recording: in one piece, or in chunks when it is longer than
    :data:`LONG_INPUT_SECONDS`. :returns: ``(frames, n_samples at the analysis rate)``."""
    from editor_env.audio import analysis_signal, audio_extent, load_audio
    from editor_env.features import frame_features

    if not Path(path).is_file():
        load_audio(path)  # raises the missing file's error, naming it
    sample_rate, n = audio_extent(path)
    if n / sample_rate > LONG_INPUT_SECONDS:
        return stream_frame_features(path, params, mel_only=mel_only)
    y = analysis_signal(load_audio(path), params)
    return frame_features(y, params, mel_only=mel_only), y.size


def analyze_file(
    path: str | os.PathLike, params: AudioParams = DEFAULT_PARAMS, *, stem_energy_db: np.ndarray | None = None
) -> Analysis:
    """:func:`editor_env.features.analyze_signal` of an audio file, in chunks when it is long."""
    from editor_env.features import beat_analysis

    frames, n_samples = frames_of(Path(path), params)
    return beat_analysis(
        frames,
        n_samples / params.sample_rate,
        params,
        stem_energy_db=stem_energy_db,
        tempo_bpm=long_tempo(frames, params),
    )


def long_tempo(frames: FrameFeatures, params: AudioParams) -> float | None:
    """:func:`chunked_tempo` of a recording longer than :data:`LONG_INPUT_SECONDS`, else None (librosa's own)."""
    if (frames.n_frames - 1) * params.hop_length / params.sample_rate <= LONG_INPUT_SECONDS:
        return None
    return chunked_tempo(frames.onset, params)


def precache_sample(
    pair: SamplePair, cache_dir: str | os.PathLike, params: AudioParams = DEFAULT_PARAMS
) -> tuple[str, float]:
    """Cache mel + beats + features of the raw and the mel of the edit, unless already fresh.

    :returns: ``("computed" | "skipped", seconds of audio analysed)``.
    """
    from editor_env.features import beat_analysis

    seconds = 0.0
    raw_key, beats_key, stems = raw_cache_keys(pair, cache_dir, params)
    raw_mel_path, raw_beats_path = features_path(cache_dir, pair.name, "raw"), beats_path(cache_dir, pair.name)
    mel_fresh, beats_fresh = is_fresh(raw_mel_path, raw_key), is_fresh(raw_beats_path, beats_key)
    todo_raw = not (mel_fresh and beats_fresh)
    if todo_raw:
        frames, n_samples = frames_of(pair.raw_path, params)
        energy = None if stems is None else stems.energy_db(params, frames.n_frames)
        analysis = beat_analysis(
            frames, n_samples / params.sample_rate, params, stem_energy_db=energy, tempo_bpm=long_tempo(frames, params)
        )
        if not mel_fresh:  # a finished file is left alone (an interrupted run's rerun writes only what is missing)
            _save_npz(raw_mel_path, raw_key, params, mel=analysis.mel)
        grid = analysis.beats
        if not beats_fresh:
            _save_npz(
                raw_beats_path,
                beats_key,
                params,
                beat_times=grid.times,
                bar_position=grid.bar_position,
                downbeats=grid.downbeats,
                tempo=np.array(grid.tempo),
                beat_source=np.array(grid.source),
                duration=np.array(analysis.duration),
                features=analysis.features,
                feature_names=np.array(FEATURE_NAMES),
                stem_source=np.array("" if stems is None else stems.source),
            )
        seconds += analysis.duration
    todo_edit = False
    if pair.edit_path is not None:
        edit_key = cache_key(pair.edit_path, params)
        edit_mel_path = features_path(cache_dir, pair.name, "edit")
        todo_edit = not is_fresh(edit_mel_path, edit_key)
        if todo_edit:
            frames, n_samples = frames_of(pair.edit_path, params, mel_only=True)
            _save_npz(edit_mel_path, edit_key, params, mel=frames.mel)
            seconds += n_samples / params.sample_rate
    return ("computed" if (todo_raw or todo_edit) else "skipped"), seconds


def is_sample_cached(pair: SamplePair, cache_dir: str | os.PathLike, params: AudioParams = DEFAULT_PARAMS) -> bool:
    """True when everything :func:`precache_sample` would write for ``pair`` is fresh."""
    if not is_raw_cached(pair, cache_dir, params):
        return False
    return pair.edit_path is None or is_fresh(
        features_path(cache_dir, pair.name, "edit"), cache_key(pair.edit_path, params)
    )


def precache(
    data_dir: str | os.PathLike,
    cache_dir: str | os.PathLike,
    *,
    params: AudioParams = DEFAULT_PARAMS,
    samples: list[str] | None = None,
    workers: int | None = None,
    executor: Executor | None = None,
    progress: bool = True,
    require_edit: bool = False,
) -> PrecacheResult:
    """Cache every sample of ``data_dir`` (or the named ``samples``) into ``cache_dir``.

    Fresh samples are skipped without starting any worker; the others run on ``executor``
    (:class:`editor_env.executor.Executor`: local processes or Ray tasks; ``workers=N`` is short
    for ``Executor(workers=N)``; default this process). A sample that fails (corrupt audio, say)
    is reported by name and does not stop the others. Every backend writes the same files.
    """
    from editor_env.executor import Executor

    if executor is not None and workers is not None:
        raise ValueError("precache: give workers (local processes) or an executor, not both")
    executor = executor or Executor(workers=workers)
    pairs = discover_pairs(data_dir, require_edit=require_edit, samples=samples)
    result = PrecacheResult()
    todo = []
    for pair in pairs:
        (result.skipped.append(pair.name) if is_sample_cached(pair, cache_dir, params) else todo.append(pair))
    task = functools.partial(precache_sample, cache_dir=str(cache_dir), params=params)
    outcomes = executor.map(task, todo, desc="precache", progress=progress)
    for outcome in outcomes:
        if not outcome.ok:
            result.failed[outcome.name] = outcome.error
            continue
        status, seconds = outcome.value
        (result.computed if status == "computed" else result.skipped).append(outcome.name)
        result.audio_seconds += seconds
    return result


def load_analysis(cache_dir: str | os.PathLike, sample: str, params: AudioParams = DEFAULT_PARAMS) -> Analysis:
    """The cached raw analysis of ``sample``.

    :raises MusicEditError: not cached, or cached with other parameters (run ``musicedit precache``).
    """
    mel_file, beat_file = features_path(cache_dir, sample, "raw"), beats_path(cache_dir, sample)
    for path in (mel_file, beat_file):
        if not path.is_file():
            raise MusicEditError(f"{path} is missing: run `musicedit precache` for sample {sample!r}.")
    with np.load(mel_file, allow_pickle=False) as mel_data, np.load(beat_file, allow_pickle=False) as beat_data:
        for path, data in ((mel_file, mel_data), (beat_file, beat_data)):
            made_with = json.loads(str(data["params_json"]))
            if AudioParams(**made_with) != params:
                diff = {k: (v, getattr(params, k)) for k, v in made_with.items() if getattr(params, k) != v}
                raise MusicEditError(
                    f"{path} was made with other analysis parameters (cached, wanted: {diff}); "
                    "run `musicedit precache` again."
                )
        grid = BeatGrid(
            beat_data["beat_times"], beat_data["bar_position"], float(beat_data["tempo"]), str(beat_data["beat_source"])
        )
        return Analysis(
            mel=mel_data["mel"], beats=grid, features=beat_data["features"], duration=float(beat_data["duration"])
        )

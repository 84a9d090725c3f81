"""Source separation into drums, bass, vocals and other: Demucs from local weights, or a fallback.

Two separators fill the same four stems (:data:`STEM_NAMES`), and every result, cache file and
log line names the one that made it (:attr:`Stems.source`):

``demucs:<name>`` (e.g. ``demucs:htdemucs``)
    `Demucs <https://github.com/adefossez/demucs>`_ loaded through its own loading code,
    ``demucs.pretrained.get_model(name, repo=folder)``, from a local folder named by ``repo``
    (``--repo``) or the ``MUSICEDIT_DEMUCS_REPO`` variable. Nothing is ever downloaded. The folder
    holds what Demucs' ``LocalRepo``/``BagOnlyRepo`` read: for ``htdemucs``, the bag file
    ``htdemucs.yaml`` (shipped in ``demucs/remote/``) and the weights it lists,
    ``955717e8-8726e21a.th`` (the part after ``-`` is a checksum Demucs verifies). The mix is
    normalised as Demucs' own CLI does, then separated by ``demucs.apply.apply_model`` in
    overlapping chunks of the model's segment (``split=True``), so long files fit in memory; on
    CUDA when there is one (``device="auto"``). ``.th`` files are pickles: use weights you trust.
``fallback:hpss-bands``
    No weights needed; a rough, documented estimate (see :class:`FallbackSeparator`): soft masks
    from median-filter harmonic/percussive separation (HPSS) plus frequency bands give drums
    (percussive), bass (harmonic below about 150-300 Hz) and vocals (harmonic, 150 Hz-8 kHz,
    short-lived tonal energy); ``other`` is the remainder ``mix - drums - bass - vocals``, so the
    four stems sum back to the mix to float32 rounding: ``max |sum - mix| <=``
    :data:`FALLBACK_SUM_TOLERANCE` (1e-5 for audio in [-1, 1]; 3e-8 measured).

With ``method="auto"`` Demucs is used when a weights folder is configured and the fallback when
none is; a configured folder that is missing, empty or corrupt is an error (never a silent
switch to the fallback), and the message says how to choose the fallback instead.

Stem cache (DESIGN.md)::

    cache/stems/{sample}_stems.npz      'drums', 'bass', 'vocals', 'other' (n,) float32 waveforms
                                        at the analysis rate (22050 Hz) and mono, to keep the
                                        cache small (a quarter of 44.1 kHz stereo); 'source',
                                        'sample_rate', 'separator_json', 'params_json', 'key'
    cache/stems_mel/{sample}_stems.npz  the four (n_mels, T) normalised mels (as
                                        :func:`editor_env.audio.mel_spectrogram`) and 'rms_db'
                                        (4, T) frame RMS levels in dBFS for the beat features

When either is present (and made from the current recording), ``editor_env.cache.precache``
fills the four ``stem_energy`` beat features and sets ``stems_available``.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import os
import time
import zipfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from editor_env.audio import Audio, resample
from editor_env.cache import PrecacheResult, cache_key, stems_mel_path, stems_path
from editor_env.errors import MusicEditError
from editor_env.features import N_STEMS, STEM_NAMES
from editor_env.io import atomic_path
from editor_env.params import DEFAULT_PARAMS, AudioParams

if TYPE_CHECKING:
    from editor_env.executor import Executor

logger = logging.getLogger(__name__)

REPO_ENV = "MUSICEDIT_DEMUCS_REPO"
"""Environment variable naming the local Demucs weights folder (``--repo`` overrides it)."""
DEFAULT_MODEL = "htdemucs"
FALLBACK_SOURCE = "fallback:hpss-bands"
FALLBACK_SUM_TOLERANCE = 1e-5
"""Largest ``|drums + bass + vocals + other - mix|`` of the fallback, for audio in [-1, 1]."""
STEMS_CACHE_VERSION = 1
METHODS = ("auto", "demucs", "fallback")

_FALLBACK_HINT = (
    "A fallback separator exists that needs no weights (HPSS + frequency bands, a rough estimate): "
    "use it with method='fallback' (`--method fallback`), or leave --repo and "
    f"{REPO_ENV} unset."
)


@dataclasses.dataclass
class Stems:
    """Four separated stems of one recording.

    :param waveforms: ``np.ndarray [shape=(4, channels, n_samples), dtype=float32]``: drums, bass,
        vocals, other (:data:`STEM_NAMES` order), at ``sample_rate``. Mono and stereo inputs keep
        their channel count; inputs with more channels are separated from their mono downmix.
    :param sample_rate: samples per second, Hz.
    :param source: the separator that made them: ``"demucs:<name>"`` or ``"fallback:hpss-bands"``.
    """

    waveforms: np.ndarray
    sample_rate: int
    source: str

    def __post_init__(self) -> None:
        self.waveforms = np.asarray(self.waveforms, dtype=np.float32)
        if self.waveforms.ndim != 3 or self.waveforms.shape[0] != N_STEMS:
            raise ValueError(f"waveforms must be (4, channels, n_samples), got {self.waveforms.shape}")
        if not (self.source.startswith("demucs:") or self.source == FALLBACK_SOURCE):
            raise ValueError(f"unknown stem source {self.source!r}")

    drums = property(lambda self: self.waveforms[0], doc="``(channels, n)`` drums.")
    bass = property(lambda self: self.waveforms[1], doc="``(channels, n)`` bass.")
    vocals = property(lambda self: self.waveforms[2], doc="``(channels, n)`` vocals.")
    other = property(lambda self: self.waveforms[3], doc="``(channels, n)`` everything else.")

    @property
    def is_fallback(self) -> bool:
        return self.source == FALLBACK_SOURCE

    @property
    def n_samples(self) -> int:
        return self.waveforms.shape[2]

    def mix(self) -> np.ndarray:
        """The stems summed, ``(channels, n)`` float32 (the mix, exactly for the fallback)."""
        return self.waveforms.sum(axis=0, dtype=np.float64).astype(np.float32)

    def to_analysis(self, params: AudioParams = DEFAULT_PARAMS) -> Stems:
        """Mono stems at the analysis rate (what the stem cache stores), as ``analysis_signal`` does."""
        mono = self.waveforms.mean(axis=1, dtype=np.float32)
        return Stems(resample(mono, self.sample_rate, params.sample_rate)[:, None, :], params.sample_rate, self.source)


# ----------------------------------------------------------------------------------------------
# Demucs


def resolve_repo(repo: str | os.PathLike | None) -> Path | None:
    """The weights folder: ``repo`` if given, else ``$MUSICEDIT_DEMUCS_REPO``, else None."""
    if repo is not None and str(repo) != "":
        return Path(repo).expanduser()
    env = os.environ.get(REPO_ENV, "").strip()
    return Path(env).expanduser() if env else None


def resolve_device(device: str = "auto") -> str:
    """``"auto"`` is ``"cuda"`` when torch sees a GPU, else ``"cpu"``; anything else is checked."""
    import torch as th

    if device == "auto":
        return "cuda" if th.cuda.is_available() else "cpu"
    if device.startswith("cuda") and not th.cuda.is_available():
        raise MusicEditError(f"--device {device}: torch sees no CUDA GPU here; use --device auto or cpu.")
    try:
        th.device(device)
    except RuntimeError as exc:
        raise MusicEditError(f"--device {device!r} is not a torch device ({exc}); use auto, cpu or cuda.") from exc
    return device


def _expected_files(model_name: str) -> str:
    """What a local folder must hold for ``model_name``, from the lists Demucs ships (no network)."""
    try:
        import yaml
        from demucs.pretrained import REMOTE_ROOT, _parse_remote_files

        bag = REMOTE_ROOT / f"{model_name}.yaml"
        if not bag.is_file():
            return f"{model_name}.yaml (a bag listing model signatures) or {model_name}.th"
        urls = _parse_remote_files(REMOTE_ROOT / "files.txt")
        sigs = yaml.safe_load(bag.read_text())["models"]
        files = ", ".join(
            f"{url.rsplit('/', 1)[-1]} (from {url})" if url else f"{sig}-<checksum>.th"
            for sig in sigs
            for url in [urls.get(sig, "")]
        )
        return f"{model_name}.yaml (copy it from {bag}) and the weights it lists, {files}"
    except Exception:  # only used to word a message: never let it mask the real error
        return f"{model_name}.yaml and the .th weights it lists"


def load_demucs(repo: str | os.PathLike, model_name: str = DEFAULT_MODEL) -> Any:
    """Load ``model_name`` from the local folder ``repo`` with ``demucs.pretrained.get_model``.

    :returns: a Demucs model or bag of models (``demucs.apply.BagOfModels``), in eval mode.
    :raises MusicEditError: Demucs is not installed, or the folder is missing, holds no weights
        for ``model_name``, or its weights are corrupt; the message names the folder, the files
        it expects and the fallback.
    """
    repo = Path(repo)
    try:
        from demucs.pretrained import get_model
    except ImportError as exc:
        raise MusicEditError(
            f"Demucs is not installed ({exc}): `pip install -c constraints.txt -e '.[stems]'`. " + _FALLBACK_HINT
        ) from exc
    if not repo.is_dir():
        raise MusicEditError(
            f"Demucs weights folder {repo} does not exist or is not a folder (from --repo or {REPO_ENV}). "
            f"For {model_name!r} it must hold {_expected_files(model_name)}. Nothing is downloaded. " + _FALLBACK_HINT
        )
    found = sorted(p.name for p in repo.iterdir() if p.suffix in (".th", ".yaml"))
    if not any(p == f"{model_name}.yaml" or p.split("-")[0] == model_name or p == f"{model_name}.th" for p in found):
        raise MusicEditError(
            f"Demucs weights folder {repo} holds no model {model_name!r} (found: {found or 'no .th or .yaml files'}). "
            f"It must hold {_expected_files(model_name)}. " + _FALLBACK_HINT
        )
    try:
        model = get_model(model_name, repo=repo)
    except (Exception, SystemExit) as exc:  # Demucs reports some load failures with sys.exit (utils.fatal)
        raise MusicEditError(
            f"Cannot load Demucs model {model_name!r} from {repo}: {type(exc).__name__}: {exc}. "
            f"The weights may be corrupt or incomplete (a failed checksum, a truncated .th, a bag "
            f"listing a missing signature); it must hold {_expected_files(model_name)}. " + _FALLBACK_HINT
        ) from exc
    missing = [s for s in STEM_NAMES if s not in model.sources]
    if missing:
        logger.warning("[demucs:%s] the model has no %s stem(s): they stay silent", model_name, missing)
    return model


class DemucsSeparator:
    """Demucs separation with a loaded model (load once, separate many recordings).

    :param model: a Demucs model or bag of models (see :func:`load_demucs`).
    :param model_name: its name, recorded in :attr:`source`.
    :param device: torch device for the computation (the whole track stays in CPU memory).
    :param segment_s: chunk length in seconds for ``apply_model``; None uses the model's own
        (7.8 s for ``htdemucs``). Transformer models cannot take longer chunks than they were
        trained on: longer values are clipped to that.
    :param overlap: overlap of neighbouring chunks (Demucs' default 0.25).
    :param shifts: random-shift averaging passes (Demucs' CLI uses 1); 0 keeps the output
        deterministic, which a cache wants.
    """

    def __init__(
        self,
        model: Any,
        model_name: str,
        *,
        device: str = "auto",
        segment_s: float | None = None,
        overlap: float = 0.25,
        shifts: int = 0,
    ) -> None:
        self.model = model
        self.model_name = model_name
        self.device = resolve_device(device)
        self.source = f"demucs:{model_name}"
        max_segment = getattr(model, "max_allowed_segment", None)
        if max_segment is None and type(model).__name__ == "HTDemucs":
            max_segment = float(model.segment)
        if segment_s is not None and max_segment is not None and segment_s > max_segment:
            logger.info("[%s] segment %.2f s clipped to the model's %.2f s", self.source, segment_s, max_segment)
            segment_s = max_segment
        if segment_s is not None and segment_s <= 0:
            raise MusicEditError(f"--segment must be positive (got {segment_s}).")
        self.segment_s = segment_s
        self.overlap = overlap
        self.shifts = shifts
        self.model.to(self.device)

    def describe(self) -> dict[str, Any]:
        return {"source": self.source, "segment_s": self.segment_s, "overlap": self.overlap, "shifts": self.shifts}

    def separate(self, audio: Audio, *, progress: bool = False) -> Stems:
        """Separate ``audio`` (any rate, any channels) into :class:`Stems` at its own rate."""
        import torch as th
        from demucs.apply import apply_model

        model = self.model
        mix = audio.samples if audio.n_channels <= 2 else audio.mono()[None]
        out_channels = mix.shape[0]
        x = resample(mix, audio.sample_rate, model.samplerate)
        if x.shape[0] != model.audio_channels:  # Demucs' convert_audio_channels, for mono and stereo
            x = np.repeat(x.mean(axis=0, keepdims=True), model.audio_channels, axis=0)
        wav = th.from_numpy(np.ascontiguousarray(x))
        ref = wav.mean(0)
        mean, std = ref.mean(), ref.std()
        std = std if float(std) > 1e-8 else th.tensor(1.0)  # silence: nothing to normalise
        start = time.perf_counter()
        with th.no_grad():
            est = apply_model(
                model,
                ((wav - mean) / std)[None],
                shifts=self.shifts,
                split=True,
                overlap=self.overlap,
                segment=self.segment_s,
                device=self.device,
                progress=progress,
            )[0]
        est = (est * std + mean).cpu().numpy()  # (sources, model channels, n), as Demucs' CLI does
        waveforms = np.zeros((N_STEMS, out_channels, audio.n_samples), dtype=np.float32)
        for i, name in enumerate(model.sources):  # extra sources (guitar, piano of htdemucs_6s) go to other
            slot = STEM_NAMES.index(name) if name in STEM_NAMES else STEM_NAMES.index("other")
            stem = est[i] if out_channels == est.shape[1] else est[i].mean(axis=0, keepdims=True)
            if out_channels > stem.shape[0]:
                stem = np.repeat(stem, out_channels, axis=0)
            stem = resample(np.ascontiguousarray(stem), model.samplerate, audio.sample_rate)
            n = min(stem.shape[1], audio.n_samples)
            waveforms[slot, :, :n] += stem[:, :n]
        logger.info(
            "[%s] separated %.1f s of audio in %.1f s on %s",
            self.source,
            audio.duration,
            time.perf_counter() - start,
            self.device,
        )
        return Stems(waveforms, audio.sample_rate, self.source)


# ----------------------------------------------------------------------------------------------
# Fallback


@dataclasses.dataclass(frozen=True)
class FallbackParams:
    """Settings of the fallback separator; times and frequencies are scaled to the input's rate."""

    harmonic_kernel_s: float = 0.2
    """Time median for the harmonic part: tonal energy lasting longer than about half of it is harmonic."""
    percussive_kernel_hz: float = 200.0
    """Frequency median for the percussive part: broadband (wider than about half of it) is percussive."""
    stable_kernel_s: float = 1.0
    """Long time median: harmonic energy above it is short-lived (voice-like), below it is sustained."""
    bass_crossover_hz: tuple[float, float] = (150.0, 300.0)
    """Raised-cosine crossover (start, end) between bass and the upper harmonic part."""
    vocal_top_hz: tuple[float, float] = (4000.0, 8000.0)
    """Raised-cosine roll-off (start, end) of the vocal range."""
    block_s: float = 30.0
    """Long inputs are processed in blocks of this length (memory stays bounded) …"""
    margin_s: float = 2.0
    """… with this much context on each side, cross-faded into the neighbours."""


class FallbackSeparator:
    """Drums, bass, vocals and other without weights: HPSS soft masks plus frequency bands.

    Per block, with one STFT (window about 93 ms, hop 23 ms, whatever the rate) of all channels
    and masks computed from their mean magnitude ``S``:

    1. ``H`` = median of ``S`` over ``harmonic_kernel_s`` in time, ``P`` = median over
       ``percussive_kernel_hz`` in frequency (FitzGerald 2010, as ``librosa.decompose.hpss``);
       drums mask ``P^2 / (H^2 + P^2)``; the rest of ``S`` is the harmonic part ``S_h``.
    2. bass mask: the harmonic part below the bass crossover (150-300 Hz, raised cosine).
    3. vocals mask: the harmonic part in 150 Hz-8 kHz, weighted by how short-lived it is:
       with ``L`` the median of ``S_h`` over ``stable_kernel_s`` (taken on every third frame:
       a floor that slow needs no finer steps), ``E = max(S_h - L, 0)`` and
       weight ``E^2 / (E^2 + L^2)``. Sustained notes (pads, organ, held chords) stay in other;
       syllables, melodic lines and vibrato go to vocals. A lead instrument goes there too:
       this is an estimate of the vocal range, not a voice detector.
    4. drums, bass and vocals are the inverse STFTs of the masked STFT; other is the remainder
       ``mix - drums - bass - vocals`` (so it also holds the sustained mid/high harmonics), and
       the four stems sum back to the mix within :data:`FALLBACK_SUM_TOLERANCE`.
    """

    source = FALLBACK_SOURCE

    def __init__(self, params: FallbackParams | None = None) -> None:
        self.params = params or FallbackParams()

    def describe(self) -> dict[str, Any]:
        return {"source": self.source, **dataclasses.asdict(self.params)}

    def separate(self, audio: Audio, *, progress: bool = False) -> Stems:
        """Separate ``audio`` (any rate, any channels) into :class:`Stems` at its own rate."""
        from tqdm.auto import tqdm

        start = time.perf_counter()
        mix = audio.samples if audio.n_channels <= 2 else audio.mono()[None]
        sr, n = audio.sample_rate, mix.shape[1]
        p = self.params
        block, margin = int(p.block_s * sr), int(p.margin_s * sr)
        waveforms = np.zeros((N_STEMS, mix.shape[0], n), dtype=np.float32)
        est = waveforms[:3]  # drums, bass, vocals; float32 keeps 10 min of 44.1 kHz stereo under 1 GB
        if n <= block + 2 * margin:
            est[:] = self._block(mix, sr)
        else:
            weight_sum = np.zeros(n, dtype=np.float32)
            for s in tqdm(range(0, n, block), desc=f"stems [{self.source}]", disable=not progress, leave=False):
                a, b = max(0, s - margin), min(n, s + block + margin)
                weight = np.ones(b - a, dtype=np.float32)
                ramp = min(2 * margin, b - a)
                if a > 0:  # cross-fade with the previous block over 2 * margin (never exactly 0)
                    weight[:ramp] = np.linspace(0.0, 1.0, ramp + 2)[1:-1]
                if b < n:
                    weight[-ramp:] *= np.linspace(1.0, 0.0, ramp + 2)[1:-1]
                est[:, :, a:b] += weight * self._block(mix[:, a:b], sr)
                weight_sum[a:b] += weight
            est /= weight_sum
        for a in range(0, n, 1 << 20):  # other = the remainder, in float64: the stems sum back to the mix
            part = slice(a, a + (1 << 20))
            waveforms[3, :, part] = mix[:, part].astype(np.float64) - est[:, :, part].sum(axis=0, dtype=np.float64)
        logger.info(
            "[%s] separated %.1f s of audio in %.1f s (rough estimate; Demucs weights give real stems)",
            self.source,
            audio.duration,
            time.perf_counter() - start,
        )
        return Stems(waveforms, sr, self.source)

    def _block(self, x: np.ndarray, sr: int) -> np.ndarray:
        """Drums, bass and vocals ``(3, channels, n)`` of one block ``x (channels, n)``."""
        import librosa

        p = self.params
        n_fft = int(2 ** np.clip(np.round(np.log2(2048 * sr / 22050)), 8, 15))  # ~93 ms at any rate
        hop = n_fft // 4
        spec = librosa.stft(x, n_fft=n_fft, hop_length=hop)  # (channels, bins, frames)
        mag = np.abs(spec).mean(axis=0)
        freqs = librosa.fft_frequencies(sr=sr, n_fft=n_fft)
        frame_s, bin_hz = hop / sr, sr / n_fft
        eps = np.float32(1e-10)

        harm = _median(mag, _odd(p.harmonic_kernel_s / frame_s), axis=1)
        perc = _median(mag, _odd(p.percussive_kernel_hz / bin_hz), axis=0)
        drums = perc**2 / (harm**2 + perc**2 + eps)
        tonal = 1.0 - drums
        low = _fall(freqs, *p.bass_crossover_hz)
        vocal_band = (1.0 - low) * _fall(freqs, *p.vocal_top_hz)
        rows = np.flatnonzero(vocal_band > 0)
        vocals = np.zeros_like(drums)
        if rows.size:
            s_h = mag[rows] * tonal[rows]
            # the 1 s median on every 3rd frame: a steady floor needs no 23 ms detail, and it is 3x cheaper
            step = 3
            steady = _median(s_h[:, ::step], _odd(p.stable_kernel_s / frame_s / step), axis=1)
            steady = np.repeat(steady, step, axis=1)[:, : s_h.shape[1]]
            excess = np.maximum(s_h - steady, 0.0)
            vocals[rows] = tonal[rows] * vocal_band[rows, None] * excess**2 / (excess**2 + steady**2 + eps)
        bass = tonal * low[:, None]
        out = [librosa.istft(spec * m, n_fft=n_fft, hop_length=hop, length=x.shape[1]) for m in (drums, bass, vocals)]
        return np.stack(out)


def _odd(k: float) -> int:
    """Nearest odd integer >= 1."""
    return max(1, int(round(k)) // 2 * 2 + 1)


def _fall(freqs: np.ndarray, start: float, end: float) -> np.ndarray:
    """1 below ``start``, 0 above ``end``, a raised cosine in between (float32)."""
    t = np.clip((freqs - start) / max(end - start, 1e-9), 0.0, 1.0)
    return (0.5 + 0.5 * np.cos(np.pi * t)).astype(np.float32)


def _median(x: np.ndarray, k: int, axis: int) -> np.ndarray:
    """Centred running median of ``x (rows, cols)`` over ``k`` (odd) values along ``axis``, edge-padded.

    ``np.partition`` over a sliding-window view, a few rows at a time so that the window copy
    stays under about 32 MB; 3-4x faster here than ``scipy.ndimage.median_filter``.
    """
    if k <= 1:
        return x.copy()
    from numpy.lib.stride_tricks import sliding_window_view

    xt = x if axis == 1 else x.T
    padded = np.pad(xt, ((0, 0), (k // 2, k // 2)), mode="edge")
    out = np.empty_like(xt)
    step = max(1, (8 << 20) // max(1, xt.shape[1] * k))
    for r in range(0, xt.shape[0], step):
        windows = sliding_window_view(padded[r : r + step], k, axis=1)
        out[r : r + step] = np.partition(windows, k // 2, axis=-1)[..., k // 2]
    return out if axis == 1 else np.ascontiguousarray(out.T)


# ----------------------------------------------------------------------------------------------
# Choosing a separator


Separator = DemucsSeparator | FallbackSeparator


def separator_source(
    *, method: str = "auto", repo: str | os.PathLike | None = None, model_name: str = DEFAULT_MODEL
) -> str:
    """The :attr:`Stems.source` that :func:`load_separator` with these arguments would give (loads nothing)."""
    if method not in METHODS:
        raise MusicEditError(f"--method must be one of {METHODS} (got {method!r}).")
    if method == "fallback":
        return FALLBACK_SOURCE
    if resolve_repo(repo) is None:
        if method == "demucs":
            raise MusicEditError(
                f"Demucs needs a local weights folder: pass --repo DIR or set {REPO_ENV} (it must hold "
                f"{_expected_files(model_name)}); nothing is downloaded. " + _FALLBACK_HINT
            )
        return FALLBACK_SOURCE
    return f"demucs:{model_name}"


def load_separator(
    *,
    method: str = "auto",
    repo: str | os.PathLike | None = None,
    model_name: str = DEFAULT_MODEL,
    device: str = "auto",
    segment_s: float | None = None,
) -> Separator:
    """A separator, loaded once for many recordings.

    :param method: ``"auto"`` (Demucs when a weights folder is configured, else the fallback),
        ``"demucs"`` (weights required) or ``"fallback"``.
    :param repo: local Demucs weights folder; None reads ``$MUSICEDIT_DEMUCS_REPO``.
    :param model_name: Demucs model (bag) name in that folder, e.g. ``htdemucs``.
    :param device: ``"auto"`` (CUDA when available), ``"cpu"``, ``"cuda"`` … (Demucs only).
    :param segment_s: Demucs chunk length in seconds (None: the model's own).
    :raises MusicEditError: Demucs asked for (or a folder configured) but unusable.
    """
    source = separator_source(method=method, repo=repo, model_name=model_name)
    if source == FALLBACK_SOURCE:
        if method == "auto":
            logger.info("[%s] no Demucs weights folder configured (--repo / %s): using the fallback", source, REPO_ENV)
        return FallbackSeparator()
    folder = resolve_repo(repo)
    assert folder is not None
    separator = DemucsSeparator(load_demucs(folder, model_name), model_name, device=device, segment_s=segment_s)
    logger.info("[%s] loaded from %s on %s", source, folder, separator.device)
    return separator


def separate(
    audio: Audio,
    *,
    method: str = "auto",
    repo: str | os.PathLike | None = None,
    model_name: str = DEFAULT_MODEL,
    device: str = "auto",
    segment_s: float | None = None,
    progress: bool = False,
) -> Stems:
    """Separate ``audio`` into drums, bass, vocals and other at its own rate (see the module doc).

    ``result.source`` says which separator made them. To separate many files, load the model
    once with :func:`load_separator` and call its ``separate``.
    """
    separator = load_separator(method=method, repo=repo, model_name=model_name, device=device, segment_s=segment_s)
    return separator.separate(audio, progress=progress)


# ----------------------------------------------------------------------------------------------
# The stem cache


def stems_key(raw_key: str, source: str) -> str:
    """Key of a stem file: the raw recording's cache key, the separator and the format version."""
    extra = {"fallback": dataclasses.asdict(FallbackParams())} if source == FALLBACK_SOURCE else {}
    return json.dumps({"raw": raw_key, "source": source, "version": STEMS_CACHE_VERSION, **extra}, sort_keys=True)


def _meta(path: Path, *fields: str) -> dict[str, str] | None:
    """String fields of an npz file, or None when it is missing, truncated or foreign."""
    try:
        with np.load(path, allow_pickle=False) as data:
            return {f: str(data[f]) for f in fields}
    except (OSError, KeyError, ValueError, EOFError, zipfile.BadZipFile):
        return None


@dataclasses.dataclass
class StemPrecacheResult(PrecacheResult):
    """A :class:`~editor_env.cache.PrecacheResult` that also names the separator."""

    source: str = ""


#: Separators loaded in this process, by their settings: a worker loads the model once for all its samples.
_SEPARATORS: dict[tuple, Separator] = {}


def _separator(settings: dict[str, Any]) -> Separator:
    """The separator of ``settings`` (:func:`load_separator`'s arguments), loaded once per process."""
    key = tuple(sorted((k, str(v)) for k, v in settings.items()))
    if key not in _SEPARATORS:
        _SEPARATORS[key] = load_separator(**settings)
    return _SEPARATORS[key]


def _stems_sample(pair, *, cache_dir: str, settings: dict[str, Any], params: AudioParams) -> float:
    """Separate one recording into its stem cache file (a :func:`map_samples` task); seconds of audio."""
    from editor_env.audio import analysis_signal, load_audio

    separator = _separator(settings)
    source = separator_source(method=settings["method"], repo=settings["repo"], model_name=settings["model_name"])
    raw_key = cache_key(pair.raw_path, params)
    audio = load_audio(pair.raw_path)
    if isinstance(separator, FallbackSeparator):  # separate the analysis signal itself: 2-4x cheaper
        y = analysis_signal(audio, params)
        stems = separator.separate(Audio(y[None], params.sample_rate))
    else:  # Demucs wants the full-band original
        stems = separator.separate(audio).to_analysis(params)
    with atomic_path(stems_path(cache_dir, pair.name)) as tmp:
        np.savez(
            tmp,
            **{name: stems.waveforms[i, 0] for i, name in enumerate(STEM_NAMES)},
            stem_names=np.array(STEM_NAMES),
            sample_rate=np.array(params.sample_rate),
            source=np.array(source),
            separator_json=np.array(json.dumps(separator.describe())),
            params_json=np.array(json.dumps(params.to_dict())),
            raw_key=np.array(raw_key),
            key=np.array(stems_key(raw_key, source)),
        )
    return audio.duration


def precache_stems(
    data_dir: str | os.PathLike,
    cache_dir: str | os.PathLike,
    *,
    method: str = "auto",
    repo: str | os.PathLike | None = None,
    model_name: str = DEFAULT_MODEL,
    device: str = "auto",
    segment_s: float | None = None,
    params: AudioParams = DEFAULT_PARAMS,
    samples: list[str] | None = None,
    force: bool = False,
    progress: bool = True,
    executor: Executor | None = None,
) -> StemPrecacheResult:
    """Separate every raw recording of ``data_dir`` into ``cache_dir/stems/{sample}_stems.npz``.

    Stems are stored mono at the analysis rate. A sample whose stem file was made from the same
    recording by the same separator is skipped; so is one with Demucs stems when only the
    fallback is at hand (``force=True`` replaces them). The others run on ``executor``
    (:class:`editor_env.executor.Executor`, default this process); each worker loads the model once, and only if something needs separating. A sample that fails
    (corrupt audio) is reported and does not stop the others; an unusable weights folder fails
    every sample with the same reason.
    """
    import functools

    from editor_env.dataset import discover_pairs
    from editor_env.executor import map_samples

    source = separator_source(method=method, repo=repo, model_name=model_name)
    pairs = discover_pairs(data_dir, require_edit=False, samples=samples)
    result = StemPrecacheResult(source=source)
    todo = []
    for pair in pairs:
        old = _meta(stems_path(cache_dir, pair.name), "raw_key", "source")
        if old is not None and old["raw_key"] == cache_key(pair.raw_path, params) and not force:
            if old["source"] == source or (source == FALLBACK_SOURCE and old["source"].startswith("demucs:")):
                result.skipped.append(pair.name)
                continue
        todo.append(pair)
    settings = {"method": method, "repo": repo, "model_name": model_name, "device": device, "segment_s": segment_s}
    if todo:  # an unusable weights folder stops the run here, once, rather than failing every sample
        _separator(settings)
    task = functools.partial(_stems_sample, cache_dir=str(cache_dir), settings=settings, params=params)
    outcomes = map_samples(task, todo, executor=executor, desc=f"stems [{source}]", progress=progress)
    for outcome in outcomes:
        if outcome.ok:
            result.computed.append(outcome.name)
            result.audio_seconds += outcome.value
        else:
            result.failed[outcome.name] = outcome.error
            logger.warning("[%s] %s failed: %s", source, outcome.name, outcome.error)
    return result


def load_stems(cache_dir: str | os.PathLike, sample: str) -> Stems:
    """The cached stems of ``sample``: mono ``(4, 1, n)`` at the analysis rate.

    :raises MusicEditError: not cached (run ``scripts/precache_stems.py``) or unreadable.
    """
    return _read_stems(stems_path(cache_dir, sample))


def _read_stems(path: Path) -> Stems:
    try:
        with np.load(path, allow_pickle=False) as data:
            waves = np.stack([data[name] for name in STEM_NAMES])[:, None, :]
            return Stems(waves, int(data["sample_rate"]), str(data["source"]))
    except FileNotFoundError as exc:
        raise MusicEditError(f"{path} is missing: run `python scripts/precache_stems.py` to make it.") from exc
    except (OSError, KeyError, ValueError, EOFError, zipfile.BadZipFile) as exc:
        raise MusicEditError(
            f"{path} is unreadable ({exc}): delete it and run scripts/precache_stems.py again."
        ) from exc


def stem_energy_db(waveforms: np.ndarray, params: AudioParams = DEFAULT_PARAMS) -> np.ndarray:
    """Frame RMS levels ``(4, n_frames)`` in dBFS of mono stems ``(4, n)`` at the analysis rate.

    The same framing and floor as the ``rms_db`` beat features (``n_fft`` window, ``hop``,
    centred, floor 1e-5 = -100 dBFS).
    """
    import librosa

    rms = librosa.feature.rms(
        y=np.asarray(waveforms, dtype=np.float32), frame_length=params.n_fft, hop_length=params.hop_length
    )
    return librosa.amplitude_to_db(np.maximum(rms[:, 0], 1e-5), ref=1.0, top_db=None).astype(np.float32)


def stems_mel_key(stem_key: str, params: AudioParams) -> str:
    return json.dumps({"stems": stem_key, "params": params.hash(), "version": STEMS_CACHE_VERSION}, sort_keys=True)


def _stem_mels_sample(job: tuple[str, dict[str, str]], *, cache_dir: str, params: AudioParams) -> float:
    """Write ``stems_mel/{sample}_stems.npz`` of ``job = (sample, its stem file's metadata)`` (a
    :meth:`~editor_env.executor.Executor.map` task); seconds of audio converted."""
    from editor_env.audio import mel_spectrogram

    sample, meta = job
    stems = load_stems(cache_dir, sample)
    mono = stems.waveforms[:, 0]
    with atomic_path(stems_mel_path(cache_dir, sample)) as tmp:
        np.savez(
            tmp,
            **{name: mel_spectrogram(mono[i], params) for i, name in enumerate(STEM_NAMES)},
            rms_db=stem_energy_db(mono, params),
            stem_names=np.array(STEM_NAMES),
            source=np.array(meta["source"]),
            stems_key=np.array(meta["key"]),
            raw_key=np.array(meta["raw_key"]),
            params_json=np.array(json.dumps(params.to_dict())),
            key=np.array(stems_mel_key(meta["key"], params)),
        )
    return stems.n_samples / stems.sample_rate


def convert_stems_to_mel(
    cache_dir: str | os.PathLike,
    *,
    params: AudioParams = DEFAULT_PARAMS,
    samples: list[str] | None = None,
    progress: bool = True,
    executor: Executor | None = None,
) -> PrecacheResult:
    """Write ``stems_mel/{sample}_stems.npz`` (four normalised mels and their frame RMS in dB)
    for every stem file in ``cache_dir/stems`` (or the named ``samples``); fresh ones are skipped,
    the others converted on ``executor`` (:class:`editor_env.executor.Executor`, default this process).
    """
    import functools

    from editor_env.executor import map_samples

    stem_dir = Path(cache_dir) / "stems"
    found = sorted(p.name[: -len("_stems.npz")] for p in stem_dir.glob("*_stems.npz")) if stem_dir.is_dir() else []
    if samples is not None:
        unknown = sorted(set(samples) - set(found))
        if unknown:
            raise MusicEditError(f"no stems cached in {stem_dir} for {unknown}: run scripts/precache_stems.py first.")
        found = [s for s in found if s in set(samples)]
    if not found:
        raise MusicEditError(f"{stem_dir} holds no *_stems.npz files: run scripts/precache_stems.py first.")
    result = PrecacheResult()
    todo = []
    for sample in found:
        src = stems_path(cache_dir, sample)
        meta = _meta(src, "key", "raw_key", "source", "params_json")
        if meta is None:
            result.failed[sample] = f"{src} is unreadable: delete it and run scripts/precache_stems.py again"
        elif AudioParams(**json.loads(meta["params_json"])) != params:
            result.failed[sample] = (
                f"{src} was made with other analysis parameters: run scripts/precache_stems.py again"
            )
        elif _meta(stems_mel_path(cache_dir, sample), "key") == {"key": stems_mel_key(meta["key"], params)}:
            result.skipped.append(sample)
        else:
            todo.append((sample, meta))
    task = functools.partial(_stem_mels_sample, cache_dir=str(cache_dir), params=params)
    names = [sample for sample, _ in todo]
    for outcome in map_samples(task, todo, names=names, executor=executor, desc="stems -> mel", progress=progress):
        if outcome.ok:
            result.computed.append(outcome.name)
            result.audio_seconds += outcome.value
        else:
            result.failed[outcome.name] = outcome.error
    return result


def load_stem_mels(cache_dir: str | os.PathLike, sample: str) -> np.ndarray:
    """The cached stem mels of ``sample``: ``(4, n_mels, T)`` float32 in [0, 1], drums, bass, vocals, other.

    Normalised as :func:`editor_env.audio.mel_spectrogram`, frame for frame with the raw mel.

    :raises MusicEditError: not cached (the message says which scripts to run) or unreadable.
    """
    path = stems_mel_path(cache_dir, sample)
    try:
        with np.load(path, allow_pickle=False) as data:
            return np.stack([data[name] for name in STEM_NAMES]).astype(np.float32, copy=False)
    except FileNotFoundError as exc:
        raise MusicEditError(
            f"{path} is missing: run `python scripts/precache_stems.py` and then "
            f"`python scripts/convert_stems_to_mel.py` for sample {sample!r}."
        ) from exc
    except (OSError, KeyError, ValueError, EOFError, zipfile.BadZipFile) as exc:
        raise MusicEditError(
            f"{path} is unreadable ({exc}): delete it and run scripts/convert_stems_to_mel.py."
        ) from exc


@dataclasses.dataclass(frozen=True)
class StemCacheRef:
    """The usable stem cache of one sample, for the beat features."""

    path: Path
    stems_key: str
    """The key of the stems the energies come from: part of the beat-feature cache key."""
    source: str
    kind: str
    """``"stems_mel"`` (energies stored) or ``"stems"`` (computed from the waveforms)."""

    @property
    def identity(self) -> str:
        return hashlib.sha256(self.stems_key.encode()).hexdigest()[:16]

    def energy_db(self, params: AudioParams, n_frames: int) -> np.ndarray:
        """Frame RMS levels ``(4, n_frames)`` in dBFS (trimmed or edge-padded to ``n_frames``)."""
        if self.kind == "stems_mel":
            with np.load(self.path, allow_pickle=False) as data:
                energy = data["rms_db"]
        else:
            energy = stem_energy_db(_read_stems(self.path).waveforms[:, 0], params)
        if energy.shape[1] >= n_frames:
            return energy[:, :n_frames]
        return np.pad(energy, ((0, 0), (0, n_frames - energy.shape[1])), mode="edge")


def find_stem_cache(cache_dir: str | os.PathLike, sample: str, raw_key: str) -> StemCacheRef | None:
    """The stem cache of ``sample`` made from the recording with ``raw_key``, or None.

    The mel file serves when it was made from the current stem file (or there is none); the
    stem file otherwise. Stems of an older version of the recording are ignored.
    """
    wave_path, mel_path = stems_path(cache_dir, sample), stems_mel_path(cache_dir, sample)
    wave = _meta(wave_path, "key", "raw_key", "source")
    mel = _meta(mel_path, "stems_key", "raw_key", "source")
    wave = wave if wave is not None and wave["raw_key"] == raw_key else None
    mel = mel if mel is not None and mel["raw_key"] == raw_key else None
    if mel is not None and (wave is None or mel["stems_key"] == wave["key"]):
        return StemCacheRef(mel_path, mel["stems_key"], mel["source"], "stems_mel")
    if wave is not None:
        return StemCacheRef(wave_path, wave["key"], wave["source"], "stems")
    return None

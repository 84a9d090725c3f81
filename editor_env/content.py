"""The content model: per beat, how likely the material is song a musician keeps, and which kind of junk it is.

One small learned model shared by every part that must tell junk from song (it is not a paradigm): the retarget
editor's keep costs and its content-driven length, the common reward's reference-free ``content`` component, and
optional inputs of the agent and the pointer network all read :func:`predict` of the same model.

Inputs (:func:`content_features`, ``(n_beats, N_CONTENT_FEATURES)`` float32) are computed from a recording's
cached analysis alone (no audio is read): the 121 beat features, and what a beat cannot show on its own --

- its level against the recording's median and loud (90th percentile) level, and its spectral flatness against
  the median (junk is quieter or noisier than the song it sits in);
- recurrence: the cosine similarity of its timbre + harmony (MFCC 1-19 z-scored over the recording, unit
  chroma) over a bar (4 beats) to the bar 4, 8, 16 and 32 beats before and after it (an over-long repeat is a bar
  that equals the bars before it); the best match 4-64 beats before and after (a false start or a bad take is
  the coming section, nearby); typicality, the mean of its 5 best matches anywhere at least 8 beats away (song
  material recurs, noodling and talk do not);
- exactness: how closely its mel matches, frame by frame, the beat 4, 8 and 16 beats before and after it
  (:func:`exact_repeat`), and the best such match at any lag of 1-16 s before and after it (:func:`exact_match`,
  which needs no beat grid to agree with the copy): a bar played again by copying is the same to the frame, a
  musician's repeat is not (on val jams 98.6 % of over-long repeat beats match something before them to within
  10^-2 of mean mel difference, 4.9 % of song beats);
- where it lies: seconds from the start and to the end (capped at one minute).

Network (:class:`ContentNet`): a linear projection, three residual dilated convolutions over beats (dilations 1,
2, 4) and a bidirectional GRU; two heads, ``song`` (a logit per beat) and ``kind`` (logits over
:data:`CONTENT_KINDS`). About 80k parameters: far more than 200x real time on one core from a cached analysis
(``scripts/bench_content.py``).

Targets (:func:`beat_targets`) come from ``{sample}_labels.json``: a beat's junk share is the share of its frames
inside junk spans; its kind is the kind covering most of it (``"cut"``, a human pair's unknown kind, trains the
song head only). Training: :mod:`editor_env.content_train` (``scripts/train_content.py``).
"""

from __future__ import annotations

import dataclasses
import functools
import os
from pathlib import Path
from typing import Any

import numpy as np

from editor_env.errors import MusicEditError
from editor_env.features import N_BEAT_FEATURES, Analysis, feature_slice
from editor_env.jams import JUNK_KINDS
from editor_env.params import DEFAULT_PARAMS, AudioParams

CONTENT_FORMAT = "musicedit-content-model"
CONTENT_FORMAT_VERSION = 1
"""Version of the checkpoint layout (``paradigm``, ``format_version``, ``config``, weights, feature statistics)."""
FEATURE_VERSION = 1
"""Bumped whenever :func:`content_features` changes; a checkpoint of another version is refused."""
CONTENT_KINDS = JUNK_KINDS
"""The junk kinds the kind head tells apart (the jam maker's; the synthetic generator's map onto them)."""
KIND_ALIASES = {"silence": "dead_air"}
"""Other labellers' names for the same kinds (the synthetic generator says ``silence``)."""
RECURRENCE_LAGS = (4, 8, 16, 32)
EXACT_LAGS = (4, 8, 16)
"""Lags (beats) at which :func:`exact_repeat` compares a beat's mel frame by frame."""
CONTEXT_BEATS = 4
EXTRA_FEATURES = (
    "level_vs_median",
    "level_vs_loud",
    "flatness_vs_median",
    *(f"similar_{sign}{lag}" for lag in RECURRENCE_LAGS for sign in ("prev", "next")),
    "best_match_before",
    "best_match_after",
    "typicality",
    *(f"exact_{sign}{lag}" for lag in EXACT_LAGS for sign in ("prev", "next")),
    "exact_best_before",
    "exact_best_after",
    "seconds_from_start",
    "seconds_to_end",
)
N_CONTENT_FEATURES = N_BEAT_FEATURES + len(EXTRA_FEATURES)
MODEL_PATH = Path(__file__).resolve().parent / "models" / "content.pt"
"""The shipped content model (``scripts/train_defaults.sh`` remakes it)."""
MODEL_ENV = "MUSICEDIT_CONTENT_MODEL"
"""Environment variable naming another content model checkpoint to use instead of the shipped one, or ``none``
to use none (the length prior of 0.67, retarget's audio-only costs)."""


def default_model_path() -> Path | None:
    """The content model in use: ``$MUSICEDIT_CONTENT_MODEL`` (``none``: no model), else :data:`MODEL_PATH`."""
    value = os.environ.get(MODEL_ENV)
    if value is None:
        return MODEL_PATH
    return None if value.strip().lower() in ("", "none", "off") else Path(value)


# --------------------------------------------------------------------------------------------
# Features and targets
# --------------------------------------------------------------------------------------------
def _column(features: np.ndarray, group: str) -> np.ndarray:
    return features[:, feature_slice(group)][:, 0].astype(np.float64)


def exact_repeat(mel: np.ndarray, beat_frames: np.ndarray, lag: int) -> np.ndarray:
    """``(n_beats,)`` log10 of the mean absolute mel difference between each beat and the beat ``lag`` beats
    later (negative ``lag``: earlier), aligned on their onsets to the best of -1, 0, +1 frames; 0 (that is, far
    from a copy) where there is no such beat. An exact copy lies near -2.5 (the noise floor), two stretches of
    different music near -1."""
    n_frames = mel.shape[1]
    starts = np.asarray(beat_frames, dtype=np.int64)
    n = starts.size
    ends = np.append(starts[1:], n_frames)
    out = np.zeros(n)
    for i in range(n):
        j = i + lag
        if not 0 <= j < n or ends[i] <= starts[i]:
            continue
        width = ends[i] - starts[i]
        here = mel[:, starts[i] : ends[i]]
        best = np.inf
        for shift in (-1, 0, 1):
            a = starts[j] + shift
            if a < 0 or a + width > n_frames:
                continue
            best = min(best, float(np.abs(here - mel[:, a : a + width]).mean()))
        if np.isfinite(best):
            out[i] = np.log10(best + 1e-3)
    return out


EXACT_LAG_S = (1.0, 16.0)
"""The lags (seconds) :func:`exact_match` searches."""


def exact_match(mel: np.ndarray, beat_frames: np.ndarray, params: AudioParams = DEFAULT_PARAMS):
    """The closest frame-by-frame match of each beat at any lag in :data:`EXACT_LAG_S`, before and after it:
    two ``(n_beats,)`` arrays of ``log10(mean |mel - mel shifted| + 1e-3)`` over 16 mel bands (0 where no lag
    fits). One pass per lag over the whole recording: linear in its length (0.14 s for 2 minutes here)."""
    n_mels, n = mel.shape
    bands = mel[: n_mels - n_mels % 16].reshape(16, -1, n).mean(axis=1).astype(np.float32)
    starts = np.asarray(beat_frames, dtype=np.int64)
    ends = np.append(starts[1:], n)
    before = np.full(starts.size, np.inf)
    after = np.full(starts.size, np.inf)
    lo = max(int(round(EXACT_LAG_S[0] / params.frame_seconds)), 1)
    hi = min(int(round(EXACT_LAG_S[1] / params.frame_seconds)), n - 1)
    for lag in range(lo, hi + 1):
        diff = np.abs(bands[:, lag:] - bands[:, :-lag]).mean(axis=0)  # diff[f] compares frames f + lag and f
        csum = np.concatenate([[0.0], np.cumsum(diff, dtype=np.float64)])
        # the beat [s, e) against [s - lag, e - lag): diff indices s - lag .. e - lag
        a, b = np.clip(starts - lag, 0, diff.size), np.clip(ends - lag, 0, diff.size)
        ok = (starts >= lag) & (b > a)
        before = np.minimum(before, np.where(ok, (csum[b] - csum[a]) / np.maximum(b - a, 1), np.inf))
        # the beat [s, e) against [s + lag, e + lag): diff indices s .. e
        a, b = np.clip(starts, 0, diff.size), np.clip(ends, 0, diff.size)
        ok = (b > a) & (ends + lag <= n)
        after = np.minimum(after, np.where(ok, (csum[b] - csum[a]) / np.maximum(b - a, 1), np.inf))
    scale = lambda x: np.log10(np.where(np.isfinite(x), x, 1.0) + 1e-3)  # noqa: E731
    return scale(before), scale(after)


RECURRENCE_BLOCK = 512
"""Beats whose similarity rows :func:`_recurrence` holds at once: memory grows with the recording's length, not
its square (a 2-hour recording has about 15,000 beats)."""


def _recurrence(v: np.ndarray) -> list[np.ndarray]:
    """The recurrence features of unit beat vectors ``v`` ``(n_beats, d)``: the bar similarity at each of
    :data:`RECURRENCE_LAGS` before and after, the best match 4-64 beats before and after, and typicality (the mean of
    the 5 best matches at least 8 beats away); each ``(n_beats,)``. The bar similarity of beats ``i`` and ``j`` is
    the mean cosine of beats ``i..i+3`` against ``j..j+3``; rows are computed :data:`RECURRENCE_BLOCK` at a time."""
    n = v.shape[0]
    lag_out = {(lag, sign): np.zeros(n) for lag in RECURRENCE_LAGS for sign in (-1, 1)}
    near_before, near_after, typical = np.full(n, -1.0), np.full(n, -1.0), np.zeros(n)
    k = min(5, max(n - 1, 1))
    for a in range(0, n, RECURRENCE_BLOCK):
        b = min(a + RECURRENCE_BLOCK, n)
        rows = np.arange(a, b)
        context = np.zeros((b - a, n), np.float32)
        count = np.zeros((b - a, n), np.float32)
        for m in range(CONTEXT_BEATS):
            hi = min(b, n - m)
            if hi > a:
                context[: hi - a, : n - m] += (v[a + m : hi + m] @ v[m:].T).astype(np.float32)
                count[: hi - a, : n - m] += 1.0
        context /= np.maximum(count, 1.0)
        for (lag, sign), out in lag_out.items():
            j = rows + sign * lag
            ok = (j >= 0) & (j < n)
            out[rows[ok]] = context[np.flatnonzero(ok), j[ok]]
        offsets = np.arange(n)[None, :] - rows[:, None]  # j - i
        near_before[a:b] = np.where((offsets <= -4) & (offsets >= -64), context, -1.0).max(axis=1)
        near_after[a:b] = np.where((offsets >= 4) & (offsets <= 64), context, -1.0).max(axis=1)
        far = np.where(np.abs(offsets) >= 8, context, -1.0)
        typical[a:b] = np.sort(far, axis=1)[:, -k:].mean(axis=1)
    lags = [lag_out[(lag, sign)] for lag in RECURRENCE_LAGS for sign in (-1, 1)]
    return [*lags, near_before, near_after, typical]


def content_features(analysis: Analysis, params: AudioParams = DEFAULT_PARAMS) -> np.ndarray:
    """``(n_beats, N_CONTENT_FEATURES)`` float32 inputs of the content model (module docstring)."""
    features = np.asarray(analysis.features, dtype=np.float64)
    n = features.shape[0]
    if features.ndim != 2 or features.shape[1] != N_BEAT_FEATURES:
        raise MusicEditError(
            f"content_features needs (n_beats, {N_BEAT_FEATURES}) beat features, got {features.shape}."
        )
    level = _column(features, "rms_db_mean") * 80.0
    flatness = _column(features, "spectral_flatness")
    loud = np.percentile(level, 90) if n else 0.0
    extra = [
        (level - np.median(level)) / 20.0,
        (level - loud) / 20.0,
        (flatness - np.median(flatness)) * 10.0,
    ]
    mfcc = features[:, feature_slice("mfcc_mean")][:, 1:]
    z = (mfcc - mfcc.mean(axis=0)) / np.maximum(mfcc.std(axis=0), 1e-6) / np.sqrt(mfcc.shape[1])
    chroma = features[:, feature_slice("chroma")]
    chroma = chroma / np.maximum(np.linalg.norm(chroma, axis=1, keepdims=True), 1e-8)
    v = np.hstack([z, chroma])
    v /= np.maximum(np.linalg.norm(v, axis=1, keepdims=True), 1e-8)
    extra += _recurrence(v)
    beat_frames = np.clip(analysis.beats.frames(params), 0, max(analysis.mel.shape[1] - 1, 0))
    for lag in EXACT_LAGS:
        extra += [exact_repeat(analysis.mel, beat_frames, -lag), exact_repeat(analysis.mel, beat_frames, lag)]
    extra += list(exact_match(analysis.mel, beat_frames, params))
    times = analysis.beats.times
    extra += [np.minimum(times, 60.0) / 60.0, np.minimum(analysis.duration - times, 60.0) / 60.0]
    out = np.hstack([features, np.stack(extra, axis=1)]).astype(np.float32)
    return np.nan_to_num(out, nan=0.0, posinf=0.0, neginf=0.0)


def beat_targets(labels, analysis: Analysis, params: AudioParams = DEFAULT_PARAMS) -> tuple[np.ndarray, np.ndarray]:
    """Per beat: the share of its frames that are junk ``(n_beats,)`` float32, and the index into
    :data:`CONTENT_KINDS` of the kind covering most of it (``-1``: mostly song, or a kind the head does not
    know, such as a human pair's ``"cut"``), ``(n_beats,)`` int64."""
    from editor_env.labels import frame_kinds

    n_frames = analysis.mel.shape[1]
    kind_of, _ = frame_kinds(labels, n_frames, params)
    names = labels.kinds
    mapped = np.array(
        [CONTENT_KINDS.index(KIND_ALIASES.get(k, k)) if KIND_ALIASES.get(k, k) in CONTENT_KINDS else -2 for k in names]
        + [-1]
    )
    frame_kind = mapped[kind_of]  # kind_of == -1 (song) picks the last entry, -1
    starts = np.clip(analysis.beats.frames(params), 0, max(n_frames - 1, 0))
    ends = np.append(starts[1:], n_frames)
    ends = np.maximum(ends, starts + 1)
    junk_share = np.zeros(starts.size, np.float32)
    kinds = np.full(starts.size, -1, np.int64)
    is_junk = (kind_of >= 0).astype(np.float64)
    csum = np.concatenate([[0.0], np.cumsum(is_junk)])
    junk_share[:] = (csum[np.minimum(ends, n_frames)] - csum[starts]) / np.maximum(
        np.minimum(ends, n_frames) - starts, 1
    )
    for b in np.flatnonzero(junk_share >= 0.5):
        values, counts = np.unique(frame_kind[starts[b] : ends[b]], return_counts=True)
        values, counts = values[values != -1], counts[values != -1]
        if values.size:
            best = int(values[np.argmax(counts)])
            kinds[b] = best if best >= 0 else -1
    return junk_share, kinds


# --------------------------------------------------------------------------------------------
# The network
# --------------------------------------------------------------------------------------------
@dataclasses.dataclass(frozen=True)
class ContentConfig:
    """Size of :class:`ContentNet` (a checkpoint records it and refuses another)."""

    hidden: int = 64
    """Width of the projection, the convolutions and each GRU direction."""
    kernel_size: int = 3
    dilations: tuple[int, ...] = (1, 2, 4)
    dropout: float = 0.1

    def to_dict(self) -> dict[str, Any]:
        return {**dataclasses.asdict(self), "dilations": list(self.dilations)}

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> ContentConfig:
        from editor_env.io import check_config_fields

        values = check_config_fields(cls, values, "content model config")
        if "dilations" in values:
            values["dilations"] = tuple(values["dilations"])
        return cls(**values)


def build_net(config: ContentConfig, n_features: int = N_CONTENT_FEATURES):
    """A :class:`ContentNet` (torch is imported here, not by ``import editor_env``)."""
    import torch as th
    from torch import nn

    class ContentNet(nn.Module):
        """``(batch, n_beats, n_features)`` normalised features -> song logits ``(batch, n_beats)`` and kind
        logits ``(batch, n_beats, len(CONTENT_KINDS))``."""

        def __init__(self) -> None:
            super().__init__()
            h = config.hidden
            self.project = nn.Sequential(nn.Linear(n_features, h), nn.GELU(), nn.Dropout(config.dropout))
            self.convs = nn.ModuleList(
                nn.Conv1d(h, h, config.kernel_size, padding=d * (config.kernel_size // 2), dilation=d)
                for d in config.dilations
            )
            self.norms = nn.ModuleList(nn.LayerNorm(h) for _ in config.dilations)
            self.gru = nn.GRU(h, h, batch_first=True, bidirectional=True)
            self.song = nn.Linear(2 * h, 1)
            self.kind = nn.Linear(2 * h, len(CONTENT_KINDS))

        def forward(self, x: th.Tensor) -> tuple[th.Tensor, th.Tensor]:
            h = self.project(x)
            for conv, norm in zip(self.convs, self.norms):
                h = norm(h + th.nn.functional.gelu(conv(h.transpose(1, 2)).transpose(1, 2)))
            h, _ = self.gru(h)
            return self.song(h).squeeze(-1), self.kind(h)

    return ContentNet()


# --------------------------------------------------------------------------------------------
# Inference
# --------------------------------------------------------------------------------------------
@dataclasses.dataclass
class ContentPrediction:
    """What the content model says about one recording.

    :param song: ``(n_beats,)`` probability that each beat is song worth keeping.
    :param kinds: ``(n_beats, len(CONTENT_KINDS))`` probability of each junk kind, given junk.
    """

    song: np.ndarray
    kinds: np.ndarray

    @property
    def junk(self) -> np.ndarray:
        return 1.0 - self.song

    def likely_kind(self) -> list[str]:
        """Per beat, ``"song"`` or the likeliest junk kind."""
        best = np.argmax(self.kinds, axis=1)
        return ["song" if s >= 0.5 else CONTENT_KINDS[k] for s, k in zip(self.song, best)]


class ContentModel:
    """A trained content model: the network, its feature normalisation and its config.

    :param net: the torch module (:func:`build_net`).
    :param mean, std: ``(N_CONTENT_FEATURES,)`` feature statistics of the training beats.
    :param record: what the checkpoint says of itself (config, recipe, figures).
    """

    def __init__(self, net, mean: np.ndarray, std: np.ndarray, record: dict[str, Any]):
        self.net = net.eval()
        self.mean = np.asarray(mean, dtype=np.float32)
        self.std = np.asarray(std, dtype=np.float32)
        self.record = record

    @classmethod
    def load(cls, path: str | os.PathLike) -> ContentModel:
        """Load a checkpoint written by :mod:`editor_env.content_train`; refuses another model's checkpoint or
        one made for other features, naming what differs."""

        from editor_env.io import read_torch_checkpoint

        payload = read_torch_checkpoint(
            path,
            format_tag=CONTENT_FORMAT,
            what="content-model",
            trained_by="python scripts/train_content.py",
            error=MusicEditError,
        )
        differs = []
        if payload.get("feature_version") != FEATURE_VERSION:
            differs.append(f"feature version {payload.get('feature_version')} (this library: {FEATURE_VERSION})")
        if payload.get("n_features") != N_CONTENT_FEATURES:
            differs.append(f"{payload.get('n_features')} input features (this library: {N_CONTENT_FEATURES})")
        if list(payload.get("kinds", [])) != list(CONTENT_KINDS):
            differs.append(f"junk kinds {payload.get('kinds')} (this library: {list(CONTENT_KINDS)})")
        if differs:
            raise MusicEditError(
                f"Content model {path} was made for other inputs: {'; '.join(differs)}. Retrain it with "
                "`python scripts/train_content.py` (or scripts/train_defaults.sh)."
            )
        config = ContentConfig.from_dict(payload["config"])
        net = build_net(config)
        try:
            net.load_state_dict(payload["state_dict"])
        except RuntimeError as exc:
            raise MusicEditError(f"Content model {path} does not fit its config: {str(exc).splitlines()[0]}") from exc
        return cls(net, payload["mean"], payload["std"], payload.get("record", {}))

    def predict(self, analysis: Analysis, params: AudioParams = DEFAULT_PARAMS) -> ContentPrediction:
        """Per-beat song probability and junk-kind distribution of one analysed recording."""
        import torch as th

        x = (content_features(analysis, params) - self.mean) / self.std
        with th.no_grad():
            song, kind = self.net(th.from_numpy(x[None].astype(np.float32)))
        return ContentPrediction(
            th.sigmoid(song[0]).numpy().astype(np.float64), th.softmax(kind[0], dim=-1).numpy().astype(np.float64)
        )


@functools.lru_cache(maxsize=4)
def _load_cached(path: str, mtime: float) -> ContentModel:
    return ContentModel.load(path)


def load_content_model(path: str | os.PathLike | None = None) -> ContentModel:
    """The content model at ``path`` (default: :func:`default_model_path`), loaded once per process.

    :raises MusicEditError: no model there (the message says how to train one), or a mismatched checkpoint.
    """
    path = Path(path) if path is not None else default_model_path()
    if path is None:
        raise MusicEditError(f"{MODEL_ENV}=none: no content model is in use.")
    if not path.is_file():
        raise MusicEditError(
            f"No content model at {path}: train one with `python scripts/train_content.py` "
            "(scripts/train_defaults.sh ships it into editor_env/models/)."
        )
    return _load_cached(str(path), path.stat().st_mtime)


def content_available(path: str | os.PathLike | None = None) -> bool:
    """Whether a content model is at ``path`` (default: :func:`default_model_path`)."""
    path = Path(path) if path is not None else default_model_path()
    return path is not None and path.is_file()


def predict(analysis: Analysis, model: ContentModel | str | os.PathLike | None = None) -> ContentPrediction:
    """:meth:`ContentModel.predict` with the shipped model (or ``model``, a model or its path)."""
    if not isinstance(model, ContentModel):
        model = load_content_model(model)
    return model.predict(analysis)


# --------------------------------------------------------------------------------------------
# From beat probabilities to a keep decision
# --------------------------------------------------------------------------------------------
def keep_decision(song: np.ndarray, *, switch_cost: float = 2.0, prior: float = 0.5) -> np.ndarray:
    """``(n_beats,)`` bool: which beats to keep, the most likely song / junk path given the per-beat song
    probabilities ``song`` ``(n_beats,)``, with ``switch_cost`` nats per change between keeping and cutting
    (a two-state Viterbi: isolated beats follow their neighbours, as an editor cuts whole passages).

    :param prior: the song probability at which keeping and cutting cost the same (0.5: the model's own).
    """
    p = np.clip(np.asarray(song, dtype=np.float64), 1e-6, 1 - 1e-6)
    n = p.size
    if n == 0:
        return np.zeros(0, dtype=bool)
    shift = np.log(prior / (1 - prior))
    cost = np.stack([-np.log(1 - p) + shift / 2, -np.log(p) - shift / 2], axis=1)  # state 0 = cut, 1 = keep
    total = cost[0].copy()
    back = np.zeros((n, 2), dtype=np.int8)
    for b in range(1, n):
        stay, switch = total, total[::-1] + switch_cost
        back[b] = np.where(stay <= switch, [0, 1], [1, 0])
        total = np.minimum(stay, switch) + cost[b]
    state = int(np.argmin(total))
    keep = np.zeros(n, dtype=bool)
    for b in range(n - 1, -1, -1):
        keep[b] = state == 1
        state = int(back[b, state])
    return keep


def beat_frames_played(keep: np.ndarray, analysis: Analysis, params: AudioParams = DEFAULT_PARAMS) -> np.ndarray:
    """The raw analysis frames of the kept beats, in order, ``(n_played,)`` int64 (what an edit that keeps
    exactly these beats plays)."""
    n_frames = analysis.mel.shape[1]
    starts = np.clip(analysis.beats.frames(params), 0, n_frames)
    ends = np.append(starts[1:], n_frames)
    return np.concatenate([np.arange(a, b) for a, b, k in zip(starts, ends, keep) if k] or [np.zeros(0, np.int64)])


CONTENT_SWITCH_COST = 2.0
"""Nats per change between keeping and cutting in :func:`keep_decision`. On the val split the keep decision's F
hardly moves with it (0.9643-0.9653 for 1, 2 and 4 nats and priors 0.4-0.6): 2 is kept."""
CONTENT_SLACK_FRACTION = 0.2
"""In content mode the slack is this share of the content target (at least the default 2 s): the editor still
chooses where to cut. Chosen on the val split (``scripts/tune_content_editor.py``, retarget with the content
model): F 0.944 / 0.947 / 0.950 at 0.05 / 0.1 / 0.2."""


def content_length(
    prediction: ContentPrediction,
    analysis: Analysis,
    raw_duration_s: float,
    *,
    switch_cost: float = CONTENT_SWITCH_COST,
    slack_fraction: float = CONTENT_SLACK_FRACTION,
    min_slack_s: float = 2.0,
) -> tuple[float, float]:
    """The length the music asks for: ``(target_s, slack_s)``, the duration of the beats
    :func:`keep_decision` keeps (at least one bar's worth), and its slack."""
    keep = keep_decision(prediction.song, switch_cost=switch_cost)
    bounds = np.append(np.asarray(analysis.beats.times, dtype=np.float64), raw_duration_s)
    durations = np.clip(np.diff(bounds), 0.0, None)
    target = float(durations[keep].sum())
    target = min(max(target, 4 * float(np.median(durations)) if durations.size else 2.0), raw_duration_s)
    return target, max(min_slack_s, slack_fraction * target)

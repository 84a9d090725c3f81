"""The pointer network: for every output frame, the raw frame to copy (DESIGN.md, "Pointer network").

Editing is mostly rearrangement, so instead of generating audio the model *points*: output frame
``i`` plays raw analysis frame ``p[i]``. The audio is then rendered from the raw samples
(:func:`editor_env.render.render`), so nothing is lost.

Architecture
------------
**Encoder** (``O(T)`` time and memory in the raw length ``T``): the raw mel (optionally with the
four stem mels stacked under it) and the song position ``t / T`` are projected to ``d_model``;
``n_layers`` pre-norm blocks follow, each

1. a depthwise convolution (``conv_kernel`` frames): onsets and section boundaries are local;
2. multi-head *linear attention* with the ELU+1 feature map (Katharopoulos et al. 2020,
   https://arxiv.org/abs/2006.16236): ``out_t = phi(q_t) (sum_s phi(k_s) v_s^T) / (phi(q_t) sum_s
   phi(k_s))``, never forming the ``T x T`` matrix (:func:`linear_attention`);
3. ``n_summary`` (about 64) *global summary tokens*: learned latents read the whole sequence by
   softmax attention (``n_summary x T``) and every frame reads them back (``T x n_summary``), so
   long-range context (what is a false start, which section is repeated, where the song ends)
   reaches every frame in linear time;
4. a feed-forward layer.

A per-frame head on the encoder predicts, for every raw frame, whether the edit keeps it, whether
a seam lands on it (start) and whether the edit leaves after it (end). Trained on every frame,
it gives the encoder a dense signal where the seams alone are a few events per recording; the
decoder reads these logits at ``e - 1`` and ``e``, jump buckets add their largest start logit and
landing frames their own.

**Decoder** (one step per output frame). Step ``i`` has an *expected position* ``e_i`` and a
small state (progress, frames since the last seam, seams so far). From it:

- *position-aware windowed cross-attention*: the step attends to the encoder frames
  ``e_i - max_delta .. e_i + max_delta`` with a learned bias per relative offset and head;
- ``delta`` head: a pointer score for each of those ``2 max_delta + 1`` frames (query of the step
  times key of the frame, plus a learned bias per offset): the next pointer is ``e_i + delta``;
- ``use_jump`` head (binary): take a delta, or a long jump;
- ``jump`` head: jump *buckets* are chunks of ``jump_chunk`` raw frames (mean-pooled encoder
  frames); each chunk is scored against the step (plus a learned function of the signed distance),
  then a *landing* pointer score over the ``2 max_delta + 1`` frames around the chosen chunk's
  centre gives the exact frame;
- ``stop`` head (binary): the edit ends before this step;
- optional auxiliary ``op`` head: the :class:`~editor_env.ops.EditOp` of the frame.

Expected position: the decision
-------------------------------
The seed system used ``e_i = i / compression_ratio``. Here ``e_i = p[i-1] + 1`` (and ``e_0 = 0``):
the frame that plays next when nothing is cut. Reasons: (1) after every cut the ratio estimate
drifts by the cut's length, so deltas would leave the ``+-64`` range after the first few cuts and
almost every step would need a jump; with ``p[i-1] + 1`` about 99 % of steps have delta 0 and a
step deviates only at a seam, which is exactly when the network must "learn when to deviate";
(2) decoding becomes exact to check (a step is a copy or a seam) and fast (see below). The ratio
prior is not lost: ``i / (compression_ratio * T)`` is one of the step's state features, so the
network knows how far through the edit it is.

Linear-time decoding
--------------------
Greedy decoding (:meth:`PointerNetwork.decode`) is autoregressive but evaluated in blocks: while
the edit continues (delta 0, no jump, no stop) the state of the next ``block`` steps is known in
advance (positions ``e, e+1, ...``; the counters advance by one), so ``block`` steps are scored at
once and accepted up to the first step that deviates; that step's jump or delta is resolved and
the next block starts after it. The result is identical to step-by-step greedy decoding; the cost
is ``O(T_out * window)`` for the steps plus ``O(T / jump_chunk)`` per jump.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable
from typing import Any

import numpy as np
import torch as th
import torch.nn.functional as F
from torch import nn

from pointer_baseline.errors import PointerError

MODEL_VERSION = 1
"""Bumped whenever a checkpoint's weights would mean something else (layout or features)."""
N_OPS = 6
"""EditOp classes (COPY, SKIP, LOOP, FADE, GAIN, NEW)."""
N_STATE = 6
"""Decoder state features of one step (see :func:`step_state_features`)."""
N_KEEP_CONTEXT = 4
"""Keep-context inputs of one step when ``keep_context`` > 0 (see :func:`keep_context_features`)."""
RUN_SCALE = 1024.0
"""Frames since the last seam are clipped at this many for the state features."""
SEAM_SCALE = 32.0
"""Seams so far are clipped at this many for the state features."""
PRIOR_CONTINUE_LOGIT = 5.0
"""Initial bias of delta 0 (continue) over the other deltas."""
PRIOR_RARE_LOGIT = -5.0
"""Initial bias of the use_jump and stop logits."""
NEG = -1e9
"""Logit of an impossible choice (a window frame outside the recording)."""
CALIBRATED_FIELDS = ("stop_threshold", "jump_threshold")
"""Config fields that the trainer calibrates rather than the network's shape: a checkpoint loads into a config
that differs in them (and keeps its own value)."""
MIN_LAST_SEGMENT_FRAMES = 8
"""Greedy decoding refuses a seam after which the network would end the edit within this many frames (186 ms at
the default hop): no edit ends on a fragment. See :meth:`PointerNetwork.decode`'s ``min_last_segment``."""
BEAT_INPUT_ROWS = 124
"""Rows of the beat input (``pointer_baseline.data.beat_frame_features``)."""


@dataclasses.dataclass
class PointerModelConfig:
    """Shape of the pointer network; ``configs/pointer_full.json`` holds the full recipe.

    A checkpoint stores this config and refuses to load into a model built from another one.
    """

    n_mels: int = 128
    """Mel bins of the raw mel (``AudioParams.n_mels``)."""
    use_stems: bool = False
    """Stack the four stem mels (drums, bass, vocals, other; ``cache/stems_mel``) under the raw mel."""
    n_stems: int = 4
    use_beat_features: bool = False
    """Add the beat grid and the 121 beat features spread over the frames
    (:func:`pointer_baseline.data.beat_frame_features`, 124 rows)."""
    recurrence_lags: int = 0
    """Add the beat recurrence at lags ``-recurrence_lags .. recurrence_lags`` beats, 0 excluded
    (:func:`pointer_baseline.data.recurrence_frame_features`, ``2 * recurrence_lags`` rows); 0: none."""
    keep_context: int = 0
    """Each decoder step also reads the keep head's mean verdict on the ``keep_context`` and ``4 * keep_context``
    raw frames before and after its expected position (:data:`N_KEEP_CONTEXT` inputs,
    :func:`keep_context_features`); 0: only the frame logits at ``e - 1`` and ``e``. The decoder of 2026-11-25
    played on into silence, noodling or a repeat that its own keep head had marked cut (keep probability under 0.2
    ahead) in 4 of the 16 held-out edits it got wrong (where the reference seamed)."""
    d_model: int = 64
    """Width of the encoder and decoder."""
    n_heads: int = 4
    """Heads of the linear attention, the summary tokens and the windowed cross-attention."""
    n_layers: int = 3
    ffn_mult: int = 4
    conv_kernel: int = 9
    """Depthwise convolution width in frames (odd)."""
    n_summary: int = 64
    """Global summary tokens."""
    max_delta: int = 64
    """Deltas lie in ``[-max_delta, +max_delta]`` around the expected position; larger moves are jumps."""
    jump_chunk: int = 64
    """Raw frames per jump bucket; at most ``2 * max_delta`` so the landing window covers a bucket."""
    key_dim: int = 32
    """Width of the pointer-score queries and keys."""
    op_head: bool = True
    """Train the auxiliary edit-op head."""
    dropout: float = 0.1
    event_pos_weight: float = 1.0
    """Positive weight of the rare ``use_jump`` and ``stop`` targets in training (faster learning of
    when to leave); decisions then use the threshold ``logit > log(event_pos_weight)``, which undoes
    the weighting (the same decisions as a calibrated probability above 0.5)."""
    compression_ratio: float = 0.67
    """Expected output/raw length, for the progress feature ``i / (ratio * T)``."""
    stop_threshold: float | None = None
    """Logit above which greedy decoding stops (and the teacher-forced ``stop`` fires); None:
    :attr:`event_threshold`. Not part of the network's shape: the trainer sets it after every validation to the
    threshold with the best F1 on the validation recordings
    (:func:`pointer_baseline.trainers.pointer_trainer.calibrate_thresholds`). With ``event_threshold`` the
    model of 2026-11-25 also fired at section ends before the true end (stop precision 0.56 on held-out pairs)."""
    jump_threshold: float | None = None
    """Logit above which ``use_jump`` fires (greedy decoding, :meth:`PointerNetwork.resolve`); None:
    :attr:`event_threshold`. Calibrated like :attr:`stop_threshold` (best F1 of the teacher-forced ``use_jump``
    decisions on the validation recordings). The model of 2026-11-25 often peaked just below ``event_threshold`` at
    a seam (left one frame late, or played through a false start); calibrated (2.02 against 3.00), its greedy edits
    of the 80 validation recordings got exact frames 0.608 -> 0.637, within 5 0.862 -> 0.872 (an ad-hoc sweep), and
    of the 10 held-out pairs length error 30.5 -> 16.5 frames, exact and within 5 unchanged
    (``scripts/eval_pointer.py --checkpoint``)."""

    def __post_init__(self) -> None:
        problems = []
        if self.n_mels < 1:
            problems.append("n_mels must be positive")
        if self.d_model < 8 or self.d_model % self.n_heads:
            problems.append(f"d_model ({self.d_model}) must be >= 8 and divisible by n_heads ({self.n_heads})")
        if self.n_layers < 1 or self.n_summary < 1:
            problems.append("n_layers and n_summary must be >= 1")
        if self.conv_kernel < 1 or self.conv_kernel % 2 == 0:
            problems.append(f"conv_kernel ({self.conv_kernel}) must be odd and positive")
        if self.max_delta < 1:
            problems.append("max_delta must be >= 1")
        if not 1 <= self.jump_chunk <= 2 * self.max_delta:
            problems.append(f"jump_chunk ({self.jump_chunk}) must lie in [1, 2 * max_delta = {2 * self.max_delta}]")
        if not 0 <= self.dropout < 1:
            problems.append("dropout must lie in [0, 1)")
        if not self.event_pos_weight > 0:
            problems.append("event_pos_weight must be > 0")
        if not 0 <= self.recurrence_lags <= 256:
            problems.append(f"recurrence_lags ({self.recurrence_lags}) must lie in [0, 256] beats")
        if not 0 <= self.keep_context <= 4096:
            problems.append(f"keep_context ({self.keep_context}) must lie in [0, 4096] frames")
        if not 0 < self.compression_ratio <= 4:
            problems.append("compression_ratio must lie in (0, 4]")
        if problems:
            raise PointerError("PointerModelConfig: " + "; ".join(problems) + ".")

    @property
    def n_inputs(self) -> int:
        """Input rows per frame: the mel, the stem mels when ``use_stems``, the beat rows, the recurrence rows."""
        beat_rows = BEAT_INPUT_ROWS if self.use_beat_features else 0
        return self.n_mels * (1 + (self.n_stems if self.use_stems else 0)) + beat_rows + 2 * self.recurrence_lags

    @property
    def event_threshold(self) -> float:
        """Logit above which ``use_jump`` / ``stop`` fire: ``log(event_pos_weight)``."""
        return math.log(self.event_pos_weight)

    @property
    def stop_decision_threshold(self) -> float:
        """Logit above which ``stop`` fires: the calibrated :attr:`stop_threshold`, else :attr:`event_threshold`."""
        return self.event_threshold if self.stop_threshold is None else float(self.stop_threshold)

    @property
    def jump_decision_threshold(self) -> float:
        """Logit above which ``use_jump`` fires: the calibrated :attr:`jump_threshold`, else :attr:`event_threshold`."""
        return self.event_threshold if self.jump_threshold is None else float(self.jump_threshold)

    @property
    def window(self) -> int:
        return 2 * self.max_delta + 1

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, values: dict[str, Any], *, source: str = "model config") -> PointerModelConfig:
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise PointerError(f"{source}: unknown model field(s) {unknown}; known fields: {sorted(known)}.")
        return cls(**values)

    def differences(self, other: PointerModelConfig) -> dict[str, tuple[Any, Any]]:
        """``{field: (self's value, other's value)}`` for every field that differs, calibrations
        (:data:`CALIBRATED_FIELDS`) left out."""
        a, b = self.to_dict(), other.to_dict()
        return {k: (a[k], b[k]) for k in a if a[k] != b[k] and k not in CALIBRATED_FIELDS}


# ---------------------------------------------------------------------------------------------
# Encoder
# ---------------------------------------------------------------------------------------------
def elu_feature_map(x: th.Tensor) -> th.Tensor:
    """``elu(x) + 1``: the positive feature map of linear attention."""
    return F.elu(x) + 1.0


def linear_attention(
    q: th.Tensor, k: th.Tensor, v: th.Tensor, mask: th.Tensor | None = None, eps: float = 1e-6
) -> th.Tensor:
    """Non-causal linear attention with the ELU+1 feature map, in ``O(T)`` time and memory.

    :param q, k: ``(B, H, T, Dk)``.
    :param v: ``(B, H, T, Dv)``.
    :param mask: ``(B, T)`` bool, True on real frames (padded frames are neither attended to
        nor meaningful as queries), or None.
    :returns: ``(B, H, T, Dv)``: ``phi(q) (phi(k)^T v) / (phi(q) . sum phi(k))``.
    """
    q, k = elu_feature_map(q), elu_feature_map(k)
    if mask is not None:
        m = mask[:, None, :, None].to(k.dtype)
        k, v = k * m, v * m
    kv = th.einsum("bhtd,bhte->bhde", k, v)  # (B, H, Dk, Dv): the whole sequence in a small matrix
    norm = th.einsum("bhtd,bhd->bht", q, k.sum(dim=2)) + eps
    return th.einsum("bhtd,bhde->bhte", q, kv) / norm[..., None]


def naive_linear_attention(q: th.Tensor, k: th.Tensor, v: th.Tensor) -> th.Tensor:
    """The same attention through the explicit ``T x T`` matrix (for tests only: ``O(T^2)``)."""
    scores = elu_feature_map(q) @ elu_feature_map(k).transpose(-1, -2)
    return (scores / scores.sum(dim=-1, keepdim=True)) @ v


class LinearSelfAttention(nn.Module):
    """Multi-head linear self-attention (:func:`linear_attention`) with output projection."""

    def __init__(self, d_model: int, n_heads: int) -> None:
        super().__init__()
        self.n_heads = n_heads
        self.qkv = nn.Linear(d_model, 3 * d_model)
        self.out = nn.Linear(d_model, d_model)

    def forward(self, x: th.Tensor, mask: th.Tensor | None = None) -> th.Tensor:
        b, t, d = x.shape
        q, k, v = self.qkv(x).view(b, t, 3, self.n_heads, d // self.n_heads).permute(2, 0, 3, 1, 4)
        y = linear_attention(q, k, v, mask)
        return self.out(y.transpose(1, 2).reshape(b, t, d))


class GlobalSummary(nn.Module):
    """``n_summary`` learned tokens read the whole sequence, then every frame reads them back.

    Both are softmax attentions between ``n_summary`` tokens and ``T`` frames: ``O(n_summary T)``.
    """

    def __init__(self, d_model: int, n_heads: int, n_summary: int, dropout: float) -> None:
        super().__init__()
        self.latents = nn.Parameter(th.randn(n_summary, d_model) * 0.02)
        self.read = nn.MultiheadAttention(d_model, n_heads, dropout=dropout, batch_first=True)
        self.norm = nn.LayerNorm(d_model)
        self.write = nn.MultiheadAttention(d_model, n_heads, dropout=dropout, batch_first=True)

    def forward(self, x: th.Tensor, mask: th.Tensor | None = None) -> th.Tensor:
        latents = self.latents.expand(x.shape[0], -1, -1)
        pad = None if mask is None else ~mask
        summary, _ = self.read(latents, x, x, key_padding_mask=pad, need_weights=False)
        summary = self.norm(summary + latents)
        out, _ = self.write(x, summary, summary, need_weights=False)
        return out


class EncoderBlock(nn.Module):
    """Pre-norm block: depthwise conv, linear self-attention, global summary, feed-forward."""

    def __init__(self, config: PointerModelConfig) -> None:
        super().__init__()
        d = config.d_model
        self.norm_conv = nn.LayerNorm(d)
        self.conv = nn.Conv1d(d, d, config.conv_kernel, padding=config.conv_kernel // 2, groups=d)
        self.conv_out = nn.Linear(d, d)
        self.norm_attn = nn.LayerNorm(d)
        self.attn = LinearSelfAttention(d, config.n_heads)
        self.norm_summary = nn.LayerNorm(d)
        self.summary = GlobalSummary(d, config.n_heads, config.n_summary, config.dropout)
        self.norm_ffn = nn.LayerNorm(d)
        self.ffn = nn.Sequential(
            nn.Linear(d, d * config.ffn_mult), nn.GELU(), nn.Dropout(config.dropout), nn.Linear(d * config.ffn_mult, d)
        )
        self.drop = nn.Dropout(config.dropout)

    def make_identity(self) -> None:
        """Zero the last projection of each residual branch, in place: the block then passes its input through
        unchanged (a block added to a trained encoder starts out changing nothing, and learns from there)."""
        with th.no_grad():
            for layer in (self.conv_out, self.attn.out, self.summary.write.out_proj, self.ffn[-1]):
                layer.weight.zero_()
                layer.bias.zero_()

    def forward(self, x: th.Tensor, mask: th.Tensor | None = None) -> th.Tensor:
        h = self.conv(self.norm_conv(x).transpose(1, 2)).transpose(1, 2)
        x = x + self.drop(self.conv_out(F.gelu(h)))
        x = x + self.drop(self.attn(self.norm_attn(x), mask))
        x = x + self.drop(self.summary(self.norm_summary(x), mask))
        return x + self.drop(self.ffn(self.norm_ffn(x)))


class PointerEncoder(nn.Module):
    """Raw mel ``(B, n_inputs, T)`` to frame encodings ``(B, T, d_model)`` in linear time."""

    def __init__(self, config: PointerModelConfig) -> None:
        super().__init__()
        self.config = config
        self.proj = nn.Linear(config.n_inputs, config.d_model)
        self.position = nn.Linear(2, config.d_model)
        self.blocks = nn.ModuleList(EncoderBlock(config) for _ in range(config.n_layers))
        self.norm = nn.LayerNorm(config.d_model)

    def forward(self, mel: th.Tensor, mask: th.Tensor | None = None) -> th.Tensor:
        b, _, t = mel.shape
        song_pos = th.linspace(0.0, 1.0, t, device=mel.device, dtype=mel.dtype) if t > 1 else mel.new_zeros(1)
        pos = th.stack([song_pos, 1.0 - song_pos], dim=-1)[None].expand(b, -1, -1)
        x = self.proj(mel.transpose(1, 2)) + self.position(pos)
        for block in self.blocks:
            x = block(x, mask)
        return self.norm(x)


# ---------------------------------------------------------------------------------------------
# Decoder
# ---------------------------------------------------------------------------------------------
def _take_back(pieces: list[np.ndarray], n: int) -> None:
    """Drop the last ``n`` decoded frames from ``pieces`` (the decoded pointer runs, in order), in place."""
    while n > 0:
        if pieces[-1].size > n:
            pieces[-1] = pieces[-1][:-n]
            return
        n -= pieces.pop().size


def step_state_features(
    step: np.ndarray | th.Tensor,
    expected: np.ndarray | th.Tensor,
    run: np.ndarray | th.Tensor,
    seams: np.ndarray | th.Tensor,
    n_raw: int,
    compression_ratio: float,
) -> th.Tensor:
    """The decoder state of a batch of steps, ``(N, N_STATE)`` float32.

    :param step: output frame index ``i``.
    :param expected: expected position ``e_i`` (raw frame).
    :param run: output frames since the last seam (0 right after one).
    :param seams: seams (steps whose pointer was not ``e_i``) before this step.
    """
    step, expected, run, seams = (th.as_tensor(np.asarray(a), dtype=th.float32) for a in (step, expected, run, seams))
    run_c = run.clamp(max=RUN_SCALE)
    return th.stack(
        [
            step / (compression_ratio * n_raw),
            expected / n_raw,
            run_c / RUN_SCALE,
            th.log1p(run_c) / math.log1p(RUN_SCALE),
            seams.clamp(max=SEAM_SCALE) / SEAM_SCALE,
            (step == 0).float(),
        ],
        dim=-1,
    )


def calibrated_log_probs(logit: th.Tensor, threshold: float) -> tuple[th.Tensor, th.Tensor]:
    """``(log p(event), log p(no event))`` of a binary head (``stop``, ``use_jump``) calibrated so that it fires above
    ``threshold``: ``sigmoid(logit - threshold)``, so greedy decoding's choice is the likelier one."""
    x = logit - threshold
    return F.logsigmoid(x), F.logsigmoid(-x)


def keep_context_features(keep_logits: th.Tensor, span: int) -> th.Tensor:
    """For every expected position ``e`` in ``0 .. T``, the mean keep probability of the ``span`` and ``4 * span``
    raw frames before ``e`` and from ``e`` on (fewer at the recording's ends; 0 where there are none):
    ``(T + 1, N_KEEP_CONTEXT)``. ``keep_logits`` ``(T,)``: the frame head's keep logits. Linear in ``T``."""
    t = keep_logits.shape[0]
    csum = F.pad(th.sigmoid(keep_logits).cumsum(0), (1, 0))
    e = th.arange(t + 1, device=keep_logits.device)
    columns = []
    for width in (span, 4 * span):
        lo, hi = (e - width).clamp(min=0), (e + width).clamp(max=t)
        columns.append((csum[e] - csum[lo]) / (e - lo).clamp(min=1))
        columns.append((csum[hi] - csum[e]) / (hi - e).clamp(min=1))
    return th.stack(columns, dim=-1)


@dataclasses.dataclass
class Memory:
    """Per-recording tensors the decoder reads (computed once by :meth:`PointerNetwork.memory`)."""

    enc: th.Tensor
    """``(T, d)`` frame encodings."""
    ctx_k: th.Tensor
    """``(T + 2 D + 1, d)`` keys of the windowed cross-attention, zero-padded by ``D = max_delta``
    before and ``D + 1`` after (so a window around ``e = T`` is valid)."""
    ctx_v: th.Tensor
    ptr_k: th.Tensor
    """``(T + 2 D + 1, key_dim)`` pointer-score keys, padded like ``ctx_k``."""
    chunk_enc: th.Tensor
    """``(n_chunks, d)`` mean encoding of each jump bucket."""
    chunk_k: th.Tensor
    """``(n_chunks, key_dim)``."""
    chunk_centre: th.Tensor
    """``(n_chunks,)`` int64 raw frame at each bucket's centre."""
    frame_logits: th.Tensor
    """``(T, 3)`` per-frame logits: kept by the edit, a seam lands here (start), a seam leaves after it (end)."""
    frame_pad: th.Tensor
    """``frame_logits`` padded like ``ctx_k``."""
    chunk_start: th.Tensor
    """``(n_chunks,)`` the largest start logit in each bucket."""
    keep_context: th.Tensor | None = None
    """``(T + 1, N_KEEP_CONTEXT)`` (:func:`keep_context_features`) when the config's ``keep_context`` > 0."""

    @property
    def n_raw(self) -> int:
        return int(self.enc.shape[0])


@dataclasses.dataclass
class StepOutput:
    """Decoder outputs for a batch of ``N`` steps."""

    z: th.Tensor
    """``(N, d)`` step representation."""
    delta_logits: th.Tensor
    """``(N, 2 D + 1)``: index ``D + delta``; frames outside the recording are ``NEG``."""
    use_jump_logit: th.Tensor
    """``(N,)``."""
    stop_logit: th.Tensor
    """``(N,)``."""
    op_logits: th.Tensor | None
    """``(N, N_OPS)`` or None."""


class PointerNetwork(nn.Module):
    """Encoder + pointer decoder (see the module docstring).

    :param config: the model's shape.
    """

    def __init__(self, config: PointerModelConfig) -> None:
        super().__init__()
        self.config = config
        d, h, kd, w = config.d_model, config.n_heads, config.key_dim, config.window
        self.encoder = PointerEncoder(config)
        self.state_proj = nn.Linear(N_STATE, d)
        self.query_norm = nn.LayerNorm(d)
        self.ctx_q = nn.Linear(d, d)
        self.ctx_k = nn.Linear(d, d)
        self.ctx_v = nn.Linear(d, d)
        self.ctx_bias = nn.Parameter(th.zeros(h, w))
        self.fuse = nn.Sequential(nn.Linear(2 * d, 2 * d), nn.GELU(), nn.Dropout(config.dropout), nn.Linear(2 * d, d))
        self.step_norm = nn.LayerNorm(d)
        self.delta_q = nn.Linear(d, kd)
        self.ptr_k = nn.Linear(d, kd)
        self.delta_bias = nn.Parameter(th.zeros(w))
        self.use_jump = nn.Linear(d, 1)
        self.stop = nn.Linear(d, 1)
        self.op = nn.Linear(d, N_OPS) if config.op_head else None
        self.jump_q = nn.Linear(d, kd)
        self.chunk_proj = nn.Linear(d, kd)
        self.jump_distance = nn.Sequential(nn.Linear(4, 32), nn.GELU(), nn.Linear(32, 1))
        self.land_fuse = nn.Sequential(nn.Linear(2 * d, 2 * d), nn.GELU(), nn.Linear(2 * d, d))
        self.land_q = nn.Linear(d, kd)
        self.land_bias = nn.Parameter(th.zeros(w))
        # Dense per-frame supervision (every raw frame is labelled, not only the few seams): kept /
        # seam lands here / seam leaves after here. The decoder reads these logits around its
        # position, and the jump buckets and landing frames are scored with the start logits.
        self.frame_head = nn.Linear(d, 3)
        self.frame_proj = nn.Linear(6 + (N_KEEP_CONTEXT if config.keep_context else 0), d)
        self.chunk_start_weight = nn.Parameter(th.ones(()))
        self.land_start_weight = nn.Parameter(th.ones(()))
        self.register_buffer("offsets", th.arange(-config.max_delta, config.max_delta + 1), persistent=False)
        # Priors (as in the seed's "learn WHEN to deviate"): about 99 % of steps continue (delta 0),
        # seams and the stop are rare. Starting there saves the first epochs of learning the base rates.
        with th.no_grad():
            self.delta_bias[config.max_delta] = PRIOR_CONTINUE_LOGIT
            self.use_jump.bias.fill_(PRIOR_RARE_LOGIT)
            self.stop.bias.fill_(PRIOR_RARE_LOGIT)

    # -- per recording ----------------------------------------------------------------------
    def memory(self, mel: th.Tensor) -> Memory:
        """Encode one recording: ``mel`` ``(n_inputs, T)`` (or ``(1, n_inputs, T)``)."""
        if mel.dim() == 2:
            mel = mel[None]
        if mel.shape[0] != 1 or mel.shape[1] != self.config.n_inputs:
            raise PointerError(
                f"The model expects one input of {self.config.n_inputs} rows (n_mels={self.config.n_mels}, "
                f"use_stems={self.config.use_stems}, use_beat_features={self.config.use_beat_features}, "
                f"recurrence_lags={self.config.recurrence_lags}), "
                f"got shape {tuple(mel.shape)}."
            )
        enc = self.encoder(mel)[0]
        t, cfg = enc.shape[0], self.config
        pad = (0, 0, cfg.max_delta, cfg.max_delta + 1)
        n_chunks = -(-t // cfg.jump_chunk)
        padded = F.pad(enc, (0, 0, 0, n_chunks * cfg.jump_chunk - t))
        counts = th.full((n_chunks,), float(cfg.jump_chunk), device=enc.device)
        counts[-1] = t - (n_chunks - 1) * cfg.jump_chunk
        chunk_enc = padded.view(n_chunks, cfg.jump_chunk, -1).sum(dim=1) / counts[:, None]
        starts = th.arange(n_chunks, device=enc.device) * cfg.jump_chunk
        centre = th.minimum(starts + (counts.long() // 2), th.tensor(t - 1, device=enc.device))
        frame_logits = self.frame_head(enc)
        start_pad = F.pad(frame_logits[:, 1], (0, n_chunks * cfg.jump_chunk - t), value=NEG)
        return Memory(
            frame_logits=frame_logits,
            frame_pad=F.pad(frame_logits, pad),
            chunk_start=start_pad.view(n_chunks, cfg.jump_chunk).max(dim=1).values,
            enc=enc,
            ctx_k=F.pad(self.ctx_k(enc), pad),
            ctx_v=F.pad(self.ctx_v(enc), pad),
            ptr_k=F.pad(self.ptr_k(enc), pad),
            chunk_enc=chunk_enc,
            chunk_k=self.chunk_proj(chunk_enc),
            chunk_centre=centre,
            keep_context=keep_context_features(frame_logits[:, 0], cfg.keep_context) if cfg.keep_context else None,
        )

    # -- per step ---------------------------------------------------------------------------
    def _window(self, mem: Memory, centre: th.Tensor) -> tuple[th.Tensor, th.Tensor]:
        """Padded indices ``(N, W)`` of the window around each ``centre`` and their validity."""
        frames = centre[:, None] + self.offsets[None]
        valid = (frames >= 0) & (frames < mem.n_raw)
        return frames + self.config.max_delta, valid

    def steps(self, mem: Memory, expected: th.Tensor, state: th.Tensor) -> StepOutput:
        """Score ``N`` steps at expected positions ``expected`` ``(N,)`` (0 <= e <= T) with state
        features ``state`` ``(N, N_STATE)`` (:func:`step_state_features`)."""
        cfg = self.config
        expected = expected.to(mem.enc.device).long()
        s = mem.enc[expected.clamp(max=mem.n_raw - 1)] + self.state_proj(state.to(mem.enc.device))
        idx, valid = self._window(mem, expected)
        here = idx[:, cfg.max_delta]  # padded index of e; e - 1 is one before
        frame_inputs = [mem.frame_pad[here - 1], mem.frame_pad[here]]
        if mem.keep_context is not None:
            frame_inputs.append(mem.keep_context[expected.clamp(max=mem.n_raw)])
        s = s + self.frame_proj(th.cat(frame_inputs, dim=-1))
        n, w, h = idx.shape[0], cfg.window, cfg.n_heads
        hd = cfg.d_model // h
        q = self.ctx_q(self.query_norm(s)).view(n, h, 1, hd)
        k = mem.ctx_k[idx].view(n, w, h, hd).transpose(1, 2)  # (N, H, W, hd)
        v = mem.ctx_v[idx].view(n, w, h, hd).transpose(1, 2)
        scores = (q @ k.transpose(-1, -2))[:, :, 0] / math.sqrt(hd) + self.ctx_bias[None]
        scores = scores.masked_fill(~valid[:, None], NEG)
        ctx = (scores.softmax(dim=-1)[:, :, None] @ v)[:, :, 0].reshape(n, cfg.d_model)
        z = self.step_norm(s + self.fuse(th.cat([s, ctx], dim=-1)))
        delta = (mem.ptr_k[idx] @ self.delta_q(z)[:, :, None])[..., 0] / math.sqrt(cfg.key_dim) + self.delta_bias
        delta = delta.masked_fill(~valid, NEG)
        return StepOutput(
            z=z,
            delta_logits=delta,
            use_jump_logit=self.use_jump(z)[:, 0],
            stop_logit=self.stop(z)[:, 0],
            op_logits=None if self.op is None else self.op(z),
        )

    def jump_logits(self, mem: Memory, z: th.Tensor, expected: th.Tensor) -> th.Tensor:
        """Scores ``(N, n_chunks)`` of every jump bucket for steps ``z`` ``(N, d)`` at ``expected``."""
        cfg = self.config
        scores = self.jump_q(z) @ mem.chunk_k.T / math.sqrt(cfg.key_dim)
        dist = (mem.chunk_centre[None].float() - expected.to(z.device).float()[:, None]) / cfg.jump_chunk
        feats = th.stack(
            [
                th.sign(dist) * th.log1p(dist.abs()),
                dist / max(mem.n_raw / cfg.jump_chunk, 1.0),
                (dist > 0).float(),
                mem.chunk_centre[None].float().expand_as(dist) / mem.n_raw,
            ],
            dim=-1,
        )
        return scores + self.jump_distance(feats)[..., 0] + self.chunk_start_weight * mem.chunk_start[None]

    def landing_logits(self, mem: Memory, z: th.Tensor, chunk: th.Tensor) -> th.Tensor:
        """Scores ``(N, 2 D + 1)`` of the frames around the centre of bucket ``chunk`` ``(N,)``."""
        cfg = self.config
        chunk = chunk.to(z.device).long()
        u = z + self.land_fuse(th.cat([z, mem.chunk_enc[chunk]], dim=-1))
        idx, valid = self._window(mem, mem.chunk_centre[chunk])
        logits = (mem.ptr_k[idx] @ self.land_q(u)[:, :, None])[..., 0] / math.sqrt(cfg.key_dim) + self.land_bias
        logits = logits + self.land_start_weight * mem.frame_pad[idx][..., 1]
        return logits.masked_fill(~valid, NEG)

    def landing_frame(self, mem: Memory, chunk: th.Tensor, landing_index: th.Tensor) -> th.Tensor:
        """Raw frame of landing class ``landing_index`` around bucket ``chunk``."""
        return mem.chunk_centre[chunk.long()] + landing_index.long() - self.config.max_delta

    # -- decisions --------------------------------------------------------------------------
    def resolve(self, mem: Memory, out: StepOutput, expected: th.Tensor, *, force_seam: bool = False) -> th.Tensor:
        """Greedy next pointer of each step ``(N,)`` (ignoring stop): a jump when
        ``use_jump`` fires (:attr:`PointerModelConfig.jump_decision_threshold`; best bucket, then best landing frame),
        else ``expected + best delta``. With ``force_seam`` a step whose best delta is 0 jumps even below the
        threshold (the decoder knows a seam is due there)."""
        expected = expected.to(out.z.device).long()
        best_delta = out.delta_logits.argmax(dim=-1) - self.config.max_delta
        pointer = expected + best_delta
        jump = out.use_jump_logit > self.config.jump_decision_threshold
        if force_seam:
            jump = jump | (best_delta == 0)
        if jump.any():
            sel = jump.nonzero()[:, 0]
            chunk = self.jump_logits(mem, out.z[sel], expected[sel]).argmax(dim=-1)
            land = self.landing_logits(mem, out.z[sel], chunk).argmax(dim=-1)
            pointer[sel] = self.landing_frame(mem, chunk, land)
        return pointer

    def _ends_within(self, mem: Memory, landing: int, i: int, seams: int, n_frames: int) -> bool:
        """Whether greedy decoding, after step ``i`` took a seam onto raw frame ``landing`` (``seams`` seams before
        it), would stop within ``n_frames`` frames with nothing else in between."""
        k = min(n_frames, mem.n_raw - landing - 1)
        if k < 1:
            return False
        ks = np.arange(k)
        state = step_state_features(
            i + 1 + ks, landing + 1 + ks, ks, np.full(k, seams + 1), mem.n_raw, self.config.compression_ratio
        )
        out = self.steps(mem, th.as_tensor(landing + 1 + ks, device=mem.enc.device), state)
        stop = out.stop_logit > self.config.stop_decision_threshold
        hits = self._deviates(out, stop).nonzero()
        return bool(hits.numel()) and bool(stop[int(hits[0, 0])])

    def _deviates(self, out: StepOutput, stop: th.Tensor) -> th.Tensor:
        """``(N,)`` bool: the steps greedy decoding does not simply continue at (stop ``stop``, a jump, or a delta)."""
        return (
            stop
            | (out.use_jump_logit > self.config.jump_decision_threshold)
            | (out.delta_logits.argmax(dim=-1) != self.config.max_delta)
        )

    @th.no_grad()
    def decode(
        self,
        mel: th.Tensor | np.ndarray,
        *,
        block: int = 256,
        max_output_ratio: float = 1.5,
        n_steps: int | None = None,
        max_plays: int | None = 2,
        exit_snap: Callable[[int, int], int] | None = None,
        min_last_segment: int = MIN_LAST_SEGMENT_FRAMES,
    ) -> tuple[np.ndarray, dict[str, Any]]:
        """Greedy pointer sequence of one recording (see "Linear-time decoding").

        :param mel: ``(n_inputs, T)``.
        :param block: steps scored at once while the edit continues.
        :param max_output_ratio: stop after ``max_output_ratio * T`` output frames (a runaway loop).
        :param n_steps: decode exactly this many frames, ignoring ``stop`` (benchmarks: equal work
            per input length); the end of the raw still ends the sequence.
        :param max_plays: a jump or delta that lands on a raw frame already played this many times is
            refused and the edit plays on (the beam search's rule for beats, :mod:`pointer_baseline.decode`:
            a section may come back once); None: no limit. Without it the model of 2026-11-25 replayed one
            27-frame stretch 109 times on a held-out pair.
        :param exit_snap: ``(landing, exit) -> exit'``: where a segment that landed on raw frame ``landing`` should
            leave instead of ``exit`` (the first raw frame not played), e.g. on whole beats
            (:class:`pointer_baseline.whole_beats.BeatExits`). When the network leaves a segment, the decoder moves
            the exit there (playing on, or taking back the frames played past it; once per segment) and takes the
            seam the network picks at that step, as if its ``use_jump`` had fired (:meth:`resolve`'s
            ``force_seam``). Not at the end: the stop head's. None: exits stay where the network leaves.
        :param min_last_segment: a seam after which the network would stop within this many frames is refused and
            the edit plays on (0: never). The fine-tuned model of 2026-12-04 ended 3 of 50 held-out edits so (the
            shipped one 2): at the start of the song's last section it jumped to the edit's last frame, played it and
            stopped, cutting the section (made to play on, the network stops where the reference ends).
        :returns: ``(pointers (T_out,) int64, info)`` with ``info["stopped_by"]`` one of
            ``"stop"``, ``"end_of_raw"``, ``"max_length"``, ``"n_steps"``, ``info["seams"]``,
            ``info["refused_moves"]`` (moves refused by ``max_plays`` or ``min_last_segment``) and
            ``info["moved_exits"]`` (by ``exit_snap``).
        """
        if max_plays is not None and max_plays < 1:
            raise PointerError(f"max_plays={max_plays} must be at least 1 (or None: no limit).")
        was_training = self.training
        self.eval()
        try:
            device = next(self.parameters()).device
            mel_t = th.as_tensor(np.asarray(mel, dtype=np.float32) if not th.is_tensor(mel) else mel).to(device)
            mem = self.memory(mel_t.float())
            n_raw = mem.n_raw
            limit = int(max_output_ratio * n_raw) if n_steps is None else int(n_steps)
            pieces: list[np.ndarray] = []
            plays = np.zeros(n_raw, dtype=np.int64)  # times each raw frame has been played
            i, expected, run, seams, length, refused = 0, 0, 0, 0, 0, 0
            landing, snapped, moved_exits = 0, -1, 0  # the current segment's first raw frame; the last one snapped
            stopped_by = "max_length" if n_steps is None else "n_steps"
            block = max(int(block), 1)
            while length < limit:
                if expected >= n_raw:
                    stopped_by = "end_of_raw"
                    break
                k = min(block, n_raw - expected, limit - length)
                ks = np.arange(k)
                pos = th.as_tensor(expected + ks, device=device)
                state = step_state_features(
                    i + ks, expected + ks, run + ks, np.full(k, seams), n_raw, self.config.compression_ratio
                )
                out = self.steps(mem, pos, state)
                stop = (
                    (out.stop_logit > self.config.stop_decision_threshold)
                    if n_steps is None
                    else th.zeros(k, dtype=th.bool, device=device)
                )
                hits = self._deviates(out, stop).nonzero()
                first = int(hits[0, 0]) if hits.numel() else k
                if first:
                    pieces.append(expected + np.arange(first, dtype=np.int64))
                    plays[expected : expected + first] += 1
                    i, run, length, expected = i + first, run + first, length + first, expected + first
                if first == k:
                    continue
                if bool(stop[first]):
                    stopped_by = "stop"
                    break
                one = StepOutput(
                    out.z[first : first + 1],
                    out.delta_logits[first : first + 1],
                    out.use_jump_logit[first : first + 1],
                    out.stop_logit[first : first + 1],
                    None,
                )
                where, moved = pos[first : first + 1], False
                snap_to = expected
                if exit_snap is not None and i > 0 and snapped != landing:  # once per segment
                    snap_to, snapped = exit_snap(landing, expected), landing
                if snap_to != expected and landing < snap_to <= n_raw and expected - snap_to <= run:
                    shift = snap_to - expected  # > 0: play on to the exit; < 0: take back the frames past it
                    if shift > 0:
                        pieces.append(expected + np.arange(shift, dtype=np.int64))
                        plays[expected:snap_to] += 1
                    else:
                        _take_back(pieces, -shift)
                        plays[snap_to:expected] -= 1
                    i, run, length, expected, moved = i + shift, run + shift, length + shift, snap_to, True
                    moved_exits += 1
                    where = th.as_tensor([expected], device=device)
                    state = step_state_features([i], [expected], [run], [seams], n_raw, self.config.compression_ratio)
                    one = self.steps(mem, where, state)
                pointer = int(self.resolve(mem, one, where, force_seam=moved)[0])
                pointer = min(max(pointer, 0), n_raw - 1)
                if pointer != expected and (
                    (max_plays is not None and plays[pointer] >= max_plays)
                    or (n_steps is None and self._ends_within(mem, pointer, i, seams, min_last_segment))
                ):
                    if expected >= n_raw:  # the exit moved onto the raw's end: there is nothing to play on
                        stopped_by = "end_of_raw"
                        break
                    pointer, refused = expected, refused + 1
                pieces.append(np.array([pointer], dtype=np.int64))
                plays[pointer] += 1
                if pointer != expected:
                    seams, run, landing = seams + 1, 0, pointer
                else:
                    run += 1
                i, length, expected = i + 1, length + 1, pointer + 1
            pointers = np.concatenate(pieces) if pieces else np.zeros(0, dtype=np.int64)
            info = {
                "stopped_by": stopped_by,
                "seams": seams,
                "raw_frames": n_raw,
                "refused_moves": refused,
                "moved_exits": moved_exits,
            }
            return pointers, info
        finally:
            self.train(was_training)

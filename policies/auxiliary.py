"""Auxiliary tasks that shape the NATTEN encoder: tempo, energy, bar position and the beat context's mel.

Besides the policy and value, linear heads on the feature extractor's output (``[batch, features_dim]``)
predict four properties of the music around the cursor (issue 12; the seed system's multi-task
encoder). They give the shared encoder a dense signal where the edit reward is sparse; each loss
is weighted (``aux_weights``) and added to the PPO loss (:class:`policies.ppo.BCMaskablePPO`) and to
BC pretraining (:func:`imitation_data.bc.pretrain_policy`). A task of weight 0 gets no head at all, so
all-zero weights build, initialise and train exactly the plain policy.

Where the targets come from
---------------------------
Every target is computed from the observation itself (:func:`aux_targets_from_obs`): the observation
holds the cached beat features (:data:`editor_env.features.FEATURE_GROUPS`) of the ``2c+1`` beats
around the cursor, and the four targets are functions of those features. So the targets travel with
every observation without touching the env: the rollout buffer's observations (PPO) and the BC data
set's ``obs`` (imitation) already carry them, no extra buffer, callback or npz field is needed, and
the reference edit is never used. :func:`aux_targets` computes the same targets from a task's
:class:`~editor_env.features.Analysis` and a cursor (beat times, bar positions, feature rows), the
definition the tests hold the observation-derived ones to. Beats past either end of the recording
are zero rows in the observation (their one-hot bar position sums to 0) and are masked out.

- ``tempo``: ``ln(BPM / 120)`` of the geometric-mean local tempo of the context's beats, from
  their ``local_tempo`` feature (BPM / 200); MSE.
- ``energy``: the mean RMS level (dBFS / 80) of the ``c`` beats after the cursor, from their
  ``rms_db_mean`` feature; MSE.
- ``phrase``: the cursor beat's position in its 4/4 bar (4 classes, 0 = downbeat), from its
  ``bar_position`` one-hot; cross-entropy.
- ``mel``: the beat context's mel, ``2c+1`` beats x 32 mel bands (mean normalised mel in [0, 1]),
  from their ``mel_band`` feature; MSE.

All four are therefore reconstructions of what the encoder sees, not forecasts: they make its pooled
features keep the tempo, the loudness ahead, the bar phase and the spectral shape of the context,
which the policy and value heads alone need not. In PPO the heads read the features of the update's
own extractor pass (:meth:`policies.policy.MusicEditPolicy.evaluate_actions_and_aux`); in BC, where
imitation computes its loss itself, :meth:`~policies.policy.MusicEditPolicy.aux_loss` makes one more.

What the observation does not determine, and so is not a target: the recording's global tempo
(``BeatGrid.tempo``), energy beyond the ``c`` beats of look-ahead, the bar's position in its 4-bar
phrase (the env counts bars from the recording's start), and the full 128-bin mel (the observation
holds its 32-band beat means). These would need targets from the task's analysis stored beside the
rollout buffer; the heads' "phrase" task is therefore the bar position.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import torch as th
from torch import nn
from torch.nn import functional as F

from editor_env.features import feature_slice
from editor_env.state import CONTEXT_BEATS, OBS_CLIP, split_observation
from policies.errors import PolicyConfigError

AUX_TASKS: tuple[str, ...] = ("tempo", "energy", "phrase", "mel")
"""Names of the auxiliary tasks, the keys of ``aux_weights``."""
REFERENCE_BPM = 120.0
"""The tempo target is ``ln(BPM / REFERENCE_BPM)``, so typical tempi lie within about +-0.7."""

_TEMPO = feature_slice("local_tempo")
_RMS = feature_slice("rms_db_mean")
_BAR = feature_slice("bar_position")
_MEL = feature_slice("mel_band")
N_BAR_POSITIONS = _BAR.stop - _BAR.start
N_MEL_BANDS = _MEL.stop - _MEL.start


def check_aux_weights(weights: dict | None, source: str = "aux_weights", error: type[Exception] = PolicyConfigError):
    """``weights`` as ``{task: float}`` with every task of :data:`AUX_TASKS` (missing ones 0).

    :raises error: naming ``source``, on unknown task names (and the known ones), non-numbers or
        negative weights.
    """
    weights = dict(weights or {})
    unknown = sorted(set(weights) - set(AUX_TASKS))
    if unknown:
        raise error(f"{source}: unknown auxiliary task(s) {unknown}; known tasks: {list(AUX_TASKS)}.")
    checked = {}
    for name in AUX_TASKS:
        value = weights.get(name, 0.0)
        if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value) or value < 0:
            raise error(f"{source}: the weight of {name!r} must be a finite number >= 0, not {value!r}.")
        checked[name] = float(value)
    return checked


@dataclasses.dataclass
class AuxTargets:
    """Targets of a batch of ``n`` observations, each with the mask of where it is defined.

    :param tempo: ``(n,)`` float32 ``ln(BPM / 120)``; ``tempo_valid`` ``(n,)`` bool.
    :param energy: ``(n,)`` float32 mean RMS level of the next beats, dBFS / 80; ``energy_valid`` ``(n,)``.
    :param phrase: ``(n,)`` int64 bar position of the cursor's beat, 0..3; ``phrase_valid`` ``(n,)``.
    :param mel: ``(n, 2c+1, 32)`` float32 mel bands of the context's beats; ``mel_valid`` ``(n, 2c+1)``.

    Torch tensors from :func:`aux_targets_from_obs`, numpy arrays from :func:`aux_targets`.
    """

    tempo: th.Tensor | np.ndarray
    tempo_valid: th.Tensor | np.ndarray
    energy: th.Tensor | np.ndarray
    energy_valid: th.Tensor | np.ndarray
    phrase: th.Tensor | np.ndarray
    phrase_valid: th.Tensor | np.ndarray
    mel: th.Tensor | np.ndarray
    mel_valid: th.Tensor | np.ndarray


def aux_targets_from_obs(obs: th.Tensor, context_beats: int = CONTEXT_BEATS) -> AuxTargets:
    """Targets of raw (unnormalised) observations ``[batch, obs_dim]``, on their device."""
    context, _ = split_observation(th.as_tensor(obs), context_beats)  # [batch, 2c+1, 121]
    context = context.float()
    real = context[..., _BAR].sum(-1) > 0.5  # [batch, 2c+1]: padding past either end is all zeros
    log_bpm = th.log(th.clamp(context[..., _TEMPO.start] * 200.0, min=1.0) / REFERENCE_BPM)
    n_real = real.sum(1)
    tempo = (log_bpm * real).sum(1) / n_real.clamp(min=1)
    after = real[:, context_beats + 1 :]
    n_after = after.sum(1)
    energy = (context[:, context_beats + 1 :, _RMS.start] * after).sum(1) / n_after.clamp(min=1)
    cursor = context[:, context_beats]
    return AuxTargets(
        tempo=tempo,
        tempo_valid=n_real > 0,
        energy=energy,
        energy_valid=n_after > 0,
        phrase=cursor[:, _BAR].argmax(-1),
        phrase_valid=real[:, context_beats],
        mel=context[..., _MEL],
        mel_valid=real,
    )


def aux_targets(analysis, cursor: int, context_beats: int = CONTEXT_BEATS) -> AuxTargets:
    """The targets at raw beat ``cursor`` of a recording, from its cached analysis (batch of one).

    :param analysis: the task's :class:`~editor_env.features.Analysis` (beats, features, duration).
    :param cursor: the raw beat the next action applies to (``env.unwrapped.cursor``).
    """
    n = analysis.beats.n_beats
    beats = np.arange(cursor - context_beats, cursor + context_beats + 1)
    real = (beats >= 0) & (beats < n)
    rows = beats[real]
    durations = np.maximum(np.diff(np.append(analysis.beats.times, analysis.duration)), 1e-3)
    bpm = np.clip(60.0 / durations[rows], 1.0, 200.0 * OBS_CLIP)  # the observation clips local_tempo to OBS_CLIP
    after = rows[rows > cursor]
    mel = np.zeros((beats.size, N_MEL_BANDS), np.float32)
    mel[real] = analysis.features[rows, _MEL]
    cursor_real = 0 <= cursor < n
    return AuxTargets(
        tempo=np.array([np.log(bpm / REFERENCE_BPM).mean() if rows.size else 0.0], np.float32),
        tempo_valid=np.array([rows.size > 0]),
        energy=np.array([analysis.features[after, _RMS.start].mean() if after.size else 0.0], np.float32),
        energy_valid=np.array([after.size > 0]),
        phrase=np.array([analysis.beats.bar_position[cursor] % N_BAR_POSITIONS if cursor_real else 0], np.int64),
        phrase_valid=np.array([cursor_real]),
        mel=mel[None],
        mel_valid=real[None],
    )


def _masked_mean(values: th.Tensor, valid: th.Tensor) -> th.Tensor:
    """Mean of ``values`` where ``valid`` (same leading shape); 0 when nothing is valid."""
    valid = valid.to(values.dtype)
    while valid.dim() < values.dim():
        valid = valid.unsqueeze(-1)
    valid = valid.expand_as(values)
    return (values * valid).sum() / valid.sum().clamp(min=1.0)


class AuxiliaryHeads(nn.Module):
    """Linear heads, one per task of positive weight, on the extractor's features.

    :param features_dim: size of the extractor's output.
    :param weights: ``{task: weight}``; only tasks of positive weight get a head.
    :param context_beats: ``c`` of the observations (the mel head predicts ``2c+1`` beats).
    """

    def __init__(self, features_dim: int, weights: dict[str, float], context_beats: int = CONTEXT_BEATS) -> None:
        super().__init__()
        self.weights = {name: w for name, w in check_aux_weights(weights).items() if w > 0}
        if not self.weights:
            raise PolicyConfigError("AuxiliaryHeads needs at least one task of positive weight.")
        self.context_beats = context_beats
        sizes = {"tempo": 1, "energy": 1, "phrase": N_BAR_POSITIONS, "mel": (2 * context_beats + 1) * N_MEL_BANDS}
        self.heads = nn.ModuleDict({name: nn.Linear(features_dim, sizes[name]) for name in self.weights})

    def losses(self, features: th.Tensor, targets: AuxTargets) -> dict[str, th.Tensor]:
        """Unweighted loss of each head: ``features`` ``[batch, features_dim]`` -> ``{task: scalar}``."""
        out = {}
        for name, head in self.heads.items():
            prediction = head(features)
            if name == "phrase":
                per_sample = F.cross_entropy(prediction, targets.phrase, reduction="none")
                out[name] = _masked_mean(per_sample, targets.phrase_valid)
            elif name == "mel":
                error = (prediction.view_as(targets.mel) - targets.mel) ** 2
                out[name] = _masked_mean(error, targets.mel_valid)
            else:
                error = (prediction.squeeze(-1) - getattr(targets, name)) ** 2
                out[name] = _masked_mean(error, getattr(targets, f"{name}_valid"))
        return out

    def forward(self, features: th.Tensor, observations: th.Tensor) -> tuple[th.Tensor, dict[str, th.Tensor]]:
        """Weighted total and unweighted losses of the heads for raw ``observations`` ``[batch, obs_dim]``."""
        losses = self.losses(features, aux_targets_from_obs(observations, self.context_beats))
        total = sum(self.weights[name] * loss for name, loss in losses.items())
        return total, losses

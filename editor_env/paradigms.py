"""The editing paradigms behind one call: a recording's analysis in, the paradigm's edit out.

Every paradigm is reached through :func:`run_paradigm` with an :class:`EditRequest`, so
``musicedit edit`` and ``musicedit benchmark`` treat them alike. The learned ones are imported
only when used (``import editor_env`` stays light).

=============  ==========  ===========================================================================
name           output      what it is
=============  ==========  ===========================================================================
``retarget``   EditList    the non-learned beat-level retargeting editor (:mod:`editor_env.retarget`)
``bc``         EditList    a BC-pretrained agent stepping MusicEdit-v0 (:mod:`policies.infer`)
``bc_ppo``     EditList    the same agent after PPO with the BC-mixed loss (:mod:`policies.infer`)
``pointer``    EditList    the pointer network, copying raw frames (:mod:`pointer_baseline.infer`)
``supervised`` mel         the supervised mel reconstruction, labels from ``retarget``
                           (:mod:`supervised_baseline.infer`); only a mel: no EDL of its own
=============  ==========  ===========================================================================

``agent`` is an alias of ``bc_ppo`` (an agent checkpoint of either kind works with both names).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path

import numpy as np

from editor_env.edl import EditList
from editor_env.errors import MusicEditError
from editor_env.features import Analysis
from editor_env.params import DEFAULT_PARAMS, AudioParams


@dataclasses.dataclass
class EditRequest:
    """One recording to edit and how.

    :param analysis: the raw recording's analysis (mel, beats, beat features).
    :param sample_rate: the raw recording's own sample rate, Hz (EDL segments are in its samples).
    :param raw_length: the raw recording's length in samples.
    :param raw_path: the raw audio file (the supervised paradigm reads it), or None.
    :param name: a name for messages and EDL metadata.
    :param target_ratio: requested output / raw length.
    :param slack_s: allowed miss of the target length, seconds (None: the paradigm's default).
    :param checkpoint: the trained model of a learned paradigm.
    :param device: ``auto`` (CUDA when present), ``cpu`` or ``cuda``.
    """

    analysis: Analysis
    sample_rate: int
    raw_length: int
    raw_path: Path | None = None
    name: str = "input"
    target_ratio: float = 0.67
    slack_s: float | None = None
    checkpoint: str | None = None
    device: str = "auto"
    params: AudioParams = DEFAULT_PARAMS


@dataclasses.dataclass(frozen=True)
class Paradigm:
    """A registered editor: its ``output`` kind (``"edl"`` or ``"mel"``), whether it needs a checkpoint,
    and the function that runs it."""

    name: str
    output: str
    needs_checkpoint: bool
    run: Callable[[EditRequest], EditList | np.ndarray]
    trained_by: str = ""


def _retarget(request: EditRequest) -> EditList:
    from editor_env.retarget import RetargetConfig, retarget

    config = RetargetConfig(target_ratio=request.target_ratio)
    if request.slack_s is not None:
        config = dataclasses.replace(config, slack_s=float(request.slack_s))
    return retarget(request.analysis, sample_rate=request.sample_rate, raw_length=request.raw_length, config=config)


def _agent(request: EditRequest) -> EditList:
    from policies.infer import agent_edit_list

    return agent_edit_list(
        request.analysis,
        str(request.checkpoint),
        sample_rate=request.sample_rate,
        raw_length=request.raw_length,
        target_ratio=request.target_ratio,
        device=request.device,
        name=request.name,
    )


def _pointer(request: EditRequest) -> EditList:
    from pointer_baseline.infer import pointer_edit_list

    return pointer_edit_list(
        request.analysis,
        request.checkpoint,
        sample_rate=request.sample_rate,
        raw_length=request.raw_length,
        device=request.device,
        params=request.params,
    )


def _supervised(request: EditRequest) -> np.ndarray:
    from supervised_baseline.infer import supervised_edit

    if request.raw_path is None:
        raise MusicEditError("The supervised paradigm needs the raw audio file (EditRequest.raw_path).")
    result = supervised_edit(
        request.raw_path,
        request.checkpoint,
        target_ratio=request.target_ratio,
        device=request.device,
        audio=False,
        analysis=request.analysis,
        params=request.params,
    )
    return result.mel


PARADIGMS: dict[str, Paradigm] = {
    p.name: p
    for p in (
        Paradigm("retarget", "edl", False, _retarget),
        Paradigm("bc", "edl", True, _agent, "musicedit bc-pretrain"),
        Paradigm("bc_ppo", "edl", True, _agent, "python -m policies.train"),
        Paradigm("pointer", "edl", True, _pointer, "python -m pointer_baseline.trainers.pointer_trainer"),
        Paradigm("supervised", "mel", True, _supervised, "python -m supervised_baseline.trainer"),
    )
}
ALIASES = {"agent": "bc_ppo"}


def get_paradigm(name: str) -> Paradigm:
    """The registered paradigm ``name`` (or alias), with a clear error for an unknown one."""
    key = ALIASES.get(name, name)
    if key not in PARADIGMS:
        raise MusicEditError(f"Unknown paradigm {name!r}; available: {', '.join([*PARADIGMS, *ALIASES])}.")
    return PARADIGMS[key]


def check_checkpoint(name: str, checkpoint: str | None) -> Paradigm:
    """The paradigm ``name``, after checking that it has the checkpoint it needs (before any work)."""
    paradigm = get_paradigm(name)
    if paradigm.needs_checkpoint and not checkpoint:
        raise MusicEditError(
            f"Paradigm {name!r} needs a trained model: pass --checkpoint (one from `{paradigm.trained_by}`)."
        )
    if paradigm.needs_checkpoint and not Path(checkpoint).is_file():
        raise MusicEditError(
            f"Checkpoint {checkpoint} for paradigm {name!r} does not exist: train one with `{paradigm.trained_by}`."
        )
    return paradigm


def run_paradigm(name: str, request: EditRequest) -> EditList | np.ndarray:
    """Run paradigm ``name`` on ``request``: an :class:`EditList`, or a mel ``(n_mels, T_out)`` in [0, 1]
    for ``supervised``."""
    paradigm = check_checkpoint(name, request.checkpoint)
    output = paradigm.run(request)
    if isinstance(output, EditList):
        output.meta.setdefault("paradigm", paradigm.name)
        output.meta["source"] = request.name
    return output


__all__ = ["ALIASES", "PARADIGMS", "EditRequest", "Paradigm", "check_checkpoint", "get_paradigm", "run_paradigm"]

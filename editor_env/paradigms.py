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
``keep_all``   EditList    no edit at all: the whole raw (the benchmark's floor: junk removed 0)
=============  ==========  ===========================================================================

``agent`` is an alias of ``bc_ppo`` (an agent checkpoint of either kind works with both names).

The user's controls (:class:`editor_env.constraints.EditConstraints`: target duration, locked
regions, ending, alternatives) travel in ``EditRequest.constraints``; every EDL paradigm honours
them (retarget in its dynamic programme, the agent through the env's masks, the pointer network by
constrained beam search) and :func:`run_alternatives` finishes every paradigm's edits the same way:
the ending (:func:`~editor_env.constraints.finish_edit`), then ranking by the common reward
(reference-free, at the requested target) and keeping the best ``n_alternatives`` distinct ones.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from editor_env.constraints import EditConstraints, constraint_report, finish_edit, reward_config
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
    :param constraints: the user's controls, or None (each paradigm's plain behaviour); when given,
        its target and slack take precedence over ``target_ratio`` and ``slack_s``.
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
    constraints: EditConstraints | None = None
    config: Any = None
    """The paradigm's own config, where it takes one (``retarget``: a ``RetargetConfig``); None: its default."""
    content: Any = None
    """The content model's prediction for the recording (:class:`~editor_env.content.ContentPrediction`); None:
    made on first use by :meth:`content_prediction` when a content model ships."""

    @property
    def raw_duration_s(self) -> float:
        return self.raw_length / self.sample_rate

    def content_prediction(self):
        """The content model's per-beat verdict (predicted once, then kept), or None without a content model."""
        if self.content is None:
            from editor_env.content import content_available, predict

            if content_available():
                self.content = predict(self.analysis)
        return self.content


@dataclasses.dataclass(frozen=True)
class Paradigm:
    """A registered editor: its ``output`` kind (``"edl"`` or ``"mel"``), whether it needs a checkpoint,
    and the function that runs it."""

    name: str
    output: str
    needs_checkpoint: bool
    run: Callable[[EditRequest], EditList | list[EditList] | np.ndarray]
    """Returns one edit, a list of candidate edits (best first by the paradigm's own score) or a mel."""
    trained_by: str = ""
    edits: bool = True
    """False for ``keep_all``: a floor for the benchmark, returned untouched (no length fitting, no ending)."""


def _retarget(request: EditRequest) -> list[EditList]:
    from editor_env.retarget import RetargetConfig, retarget_alternatives

    config = request.config if request.config is not None else RetargetConfig()
    if not isinstance(config, RetargetConfig):
        raise MusicEditError(f"policy 'retarget' takes a RetargetConfig, not {type(config).__name__}.")
    config = dataclasses.replace(config, target_ratio=request.target_ratio)
    if request.slack_s is not None:
        config = dataclasses.replace(config, slack_s=float(request.slack_s))
    return retarget_alternatives(
        request.analysis,
        sample_rate=request.sample_rate,
        raw_length=request.raw_length,
        config=config,
        constraints=request.constraints,
        n=_n_candidates(request),
        content=request.content_prediction(),
    )


def _n_candidates(request: EditRequest) -> int:
    """Candidates a paradigm proposes for ``n_alternatives`` wanted: a few more, so the ranking by the
    common reward has a choice and duplicates do not leave it short."""
    n = 1 if request.constraints is None else request.constraints.n_alternatives
    return 1 if n == 1 else n + 2


def _agent(request: EditRequest) -> list[EditList]:
    from policies.infer import agent_edit_lists

    return agent_edit_lists(
        request.analysis,
        str(request.checkpoint),
        sample_rate=request.sample_rate,
        raw_length=request.raw_length,
        target_ratio=request.target_ratio,
        device=request.device,
        name=request.name,
        constraints=request.constraints,
        n_candidates=_n_candidates(request),
    )


def _pointer(request: EditRequest) -> list[EditList]:
    from pointer_baseline.infer import pointer_edit_lists

    return pointer_edit_lists(
        request.analysis,
        request.checkpoint,
        sample_rate=request.sample_rate,
        raw_length=request.raw_length,
        device=request.device,
        params=request.params,
        constraints=request.constraints,
        n_candidates=_n_candidates(request),
        content=request.content_prediction(),
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
        constraints=request.constraints,
        content=request.content_prediction(),
    )
    return result.mel


def _keep_all(request: EditRequest) -> EditList:
    edl = EditList.keep_all(request.sample_rate, request.raw_length)
    edl.meta["paradigm"] = "keep_all"
    return edl


PARADIGMS: dict[str, Paradigm] = {
    p.name: p
    for p in (
        Paradigm("retarget", "edl", False, _retarget),
        Paradigm("bc", "edl", True, _agent, "musicedit bc-pretrain"),
        Paradigm("bc_ppo", "edl", True, _agent, "python -m policies.train"),
        Paradigm("pointer", "edl", True, _pointer, "python -m pointer_baseline.trainers.pointer_trainer"),
        Paradigm("supervised", "mel", True, _supervised, "python -m supervised_baseline.trainer"),
        Paradigm("keep_all", "edl", False, _keep_all, edits=False),
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
    """The paradigm ``name``, after checking that it has the checkpoint it needs (before any work), and that
    the checkpoint is not another paradigm's (:func:`editor_env.checkpoints.check_paradigm` names the one it is)."""
    paradigm = get_paradigm(name)
    if paradigm.needs_checkpoint and not checkpoint:
        raise MusicEditError(
            f"Paradigm {name!r} needs a trained model: pass --checkpoint (one from `{paradigm.trained_by}`)."
        )
    if paradigm.needs_checkpoint and not Path(checkpoint).is_file():
        raise MusicEditError(
            f"Checkpoint {checkpoint} for paradigm {name!r} does not exist: train one with `{paradigm.trained_by}`."
        )
    if paradigm.needs_checkpoint:
        from editor_env.checkpoints import check_paradigm

        check_paradigm(checkpoint, paradigm.name)
    return paradigm


def resolve_length(request: EditRequest) -> EditRequest:
    """The request with its length resolved: when its constraints ask for no length (no target ratio or
    duration), the music chooses it — the content model's kept beats give the target and a slack
    (:func:`editor_env.content.content_length`; ``constraints.length_mode == "content"``), and
    ``request.target_ratio`` follows. Without constraints, with an explicit target, or without a shipped
    content model (the 0.67 prior) the request is returned as it is."""
    constraints = request.constraints
    if constraints is None or constraints.explicit_target or constraints.content_target_s is not None:
        return request
    prediction = request.content_prediction()
    if prediction is None:
        return request
    from editor_env.constraints import _total
    from editor_env.content import content_length

    raw_s = request.raw_duration_s
    target, slack = content_length(prediction, request.analysis, raw_s)
    target = min(max(target, _total(constraints.keep_regions)), raw_s - _total(constraints.cut_regions))
    constraints = dataclasses.replace(constraints, content_target_s=target, content_slack_s=slack)
    return dataclasses.replace(request, constraints=constraints, target_ratio=target / raw_s)


def run_paradigm(name: str, request: EditRequest) -> EditList | np.ndarray:
    """Run paradigm ``name`` on ``request``: an :class:`EditList` (the best of :func:`run_alternatives`
    when ``request.constraints`` asks for several), or a mel ``(n_mels, T_out)`` in [0, 1] for ``supervised``."""
    paradigm = check_checkpoint(name, request.checkpoint)
    if paradigm.output == "mel":
        return paradigm.run(resolve_length(request))
    return run_alternatives(name, request)[0]


def run_alternatives(name: str, request: EditRequest) -> list[EditList]:
    """The edits of EDL paradigm ``name``, finished alike: the requested ending applied to each, then
    (with ``constraints``) ranked by the common reward, best first, and the best ``n_alternatives``
    distinct ones kept. Without constraints: the paradigm's own edit, as it made it.

    Each EDL's ``meta`` gets ``paradigm``, ``source`` and, with constraints, ``rank`` and ``reward``
    (total and components).

    :raises MusicEditError: for a mel-only paradigm, or a request the paradigm cannot meet.
    """
    paradigm = check_checkpoint(name, request.checkpoint)
    if paradigm.output != "edl":
        raise MusicEditError(f"Paradigm {name!r} makes a mel, not an edit list: it has no alternatives to rank.")
    if not paradigm.edits:
        return [paradigm.run(request)]
    request = resolve_length(request)
    constraints = request.constraints
    if constraints is not None:
        constraints.validate(request.raw_duration_s, request.analysis.beats.times)
    output = paradigm.run(request)
    candidates = [output] if isinstance(output, EditList) else list(output)
    for edl in candidates:
        edl.meta.setdefault("paradigm", paradigm.name)
        edl.meta["source"] = request.name
        if constraints is not None:  # every paradigm's EDL says what it was asked for
            edl.meta.setdefault("constraints", constraints.to_dict())
            edl.meta["length_mode"] = constraints.length_mode
            if constraints.length_mode == "content":
                edl.meta["content_target_s"] = round(constraints.content_target_s, 3)
        finish_edit(edl, constraints, request.analysis, raw_duration_s=request.raw_duration_s)
    if constraints is None:
        return candidates[:1]
    return rank_alternatives(candidates, request, constraints.n_alternatives)


def _signature(edl: EditList) -> tuple:
    return tuple((s.raw_start, s.raw_end) for s in edl.segments)


def rank_alternatives(candidates: list[EditList], request: EditRequest, n: int) -> list[EditList]:
    """The best ``n`` distinct ``candidates`` (different segments), best first: those that meet the
    constraints (:func:`~editor_env.constraints.constraint_report`, in ``meta["constraints_report"]``)
    before those that do not, each group by the common reward without a reference at the requested
    target, with the content model's verdict when one ships (:class:`editor_env.reward.Scorer`); ``meta["rank"]`` (1 = best) and ``meta["reward"]`` are set."""
    from editor_env.reward import Scorer

    constraints = request.constraints
    config = reward_config(constraints, request.raw_duration_s, request.target_ratio)
    scorer = Scorer(request.analysis, None, config, request.params, content=request.content_prediction())
    unique: dict[tuple, EditList] = {}
    for edl in candidates:
        unique.setdefault(_signature(edl), edl)
    scored = []
    for order, edl in enumerate(unique.values()):
        result = scorer.score(edl)
        edl.meta["reward"] = {"total": result.total, "components": result.components}
        met = True
        if constraints is not None:
            edl.meta["constraints_report"] = constraint_report(edl, constraints, request.analysis)
            met = edl.meta["constraints_report"]["ok"]
        scored.append((not met, -result.total, order, edl))
    ranked = [item[-1] for item in sorted(scored, key=lambda item: item[:3])][:n]
    for rank, edl in enumerate(ranked, start=1):
        edl.meta["rank"] = rank
    return ranked


__all__ = [
    "ALIASES",
    "PARADIGMS",
    "EditRequest",
    "Paradigm",
    "check_checkpoint",
    "get_paradigm",
    "rank_alternatives",
    "resolve_length",
    "run_alternatives",
    "run_paradigm",
]

"""Edit one audio file end to end: load, analyse, choose the edit, render, write audio + EDL.

:func:`edit_file` is what ``musicedit edit`` calls. The output audio is written atomically at
the raw recording's own sample rate and channel count; the edit list is written beside it as
``{out_stem}.edl.json``. The input file is never overwritten.

Policies (:mod:`editor_env.paradigms`): ``retarget`` (the non-learned baseline), ``bc`` / ``bc_ppo``
(alias ``agent``: a BC or BC + PPO agent from :mod:`policies.train`, given by ``checkpoint``) and
``pointer`` (the pointer network, copying raw frames) are rendered from the raw samples by
:func:`editor_env.render.render`. ``supervised`` generates a mel, so its audio comes from
Griffin-Lim (lossy, mono, at the analysis rate) and its predicted mel is written as
``{out_stem}.mel.npy`` beside the audio; its EDL is the retarget edit whose labels it was given
(:mod:`supervised_baseline.infer`).
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path
from typing import Any

from editor_env.edl import EditList
from editor_env.errors import MusicEditError
from editor_env.params import DEFAULT_PARAMS, AudioParams

POLICIES = ("retarget", "bc", "bc_ppo", "agent", "pointer", "supervised")
"""Names accepted by :func:`edit_file`'s ``policy``."""
AUDIO_SUFFIXES = (".wav", ".flac", ".ogg")
"""Output formats (soundfile picks the format from the suffix)."""


@dataclasses.dataclass
class EditResult:
    """What :func:`edit_file` did.

    :param input_path: the raw recording.
    :param output_path: the edited audio written.
    :param edl_path: the edit list JSON written beside it.
    :param input_duration_s: raw length, seconds.
    :param output_duration_s: edited length, seconds.
    :param n_segments: segments in the edit list.
    :param policy: the editor that chose the edit.
    :param edl: the edit list itself.
    :param analysis: the raw recording's analysis (None for ``supervised``).
    """

    input_path: Path
    output_path: Path
    edl_path: Path
    input_duration_s: float
    output_duration_s: float
    n_segments: int
    policy: str
    edl: EditList
    analysis: Any = None
    """The raw recording's analysis (None for ``supervised``)."""

    @property
    def ratio(self) -> float:
        """Output duration / input duration."""
        return self.output_duration_s / self.input_duration_s


def edl_path_for(out_path: str | os.PathLike) -> Path:
    """Where the EDL of an output file goes: ``{out_stem}.edl.json`` beside it."""
    out_path = Path(out_path)
    return out_path.with_name(f"{out_path.stem}.edl.json")


def _same_file(a: Path, b: Path) -> bool:
    if a.resolve() == b.resolve():
        return True
    try:
        return a.exists() and b.exists() and os.path.samefile(a, b)
    except OSError:
        return False


def check_output_paths(
    raw_path: str | os.PathLike, out_path: str | os.PathLike, *also: Path, edl_path: str | os.PathLike | None = None
) -> Path:
    """Check an edit's output before any work: a supported audio suffix, and neither the audio, its
    EDL (``edl_path`` or ``{out_stem}.edl.json``; returned) nor any of ``also`` is the input file
    (which is never overwritten).

    :raises MusicEditError: naming the path and what to do.
    """
    raw_path, out_path = Path(raw_path), Path(out_path)
    if out_path.suffix.lower() not in AUDIO_SUFFIXES:
        raise MusicEditError(
            f"Output {out_path} has suffix {out_path.suffix!r}; write one of {', '.join(AUDIO_SUFFIXES)}."
        )
    edl_path = Path(edl_path) if edl_path is not None else edl_path_for(out_path)
    if edl_path.suffix.lower() != ".json":
        raise MusicEditError(f"The EDL path {edl_path} must end in .json.")
    for written in (out_path, edl_path, *also):
        if _same_file(Path(written), raw_path):
            raise MusicEditError(
                f"Refusing to overwrite the input {raw_path} with {written}: choose another output path."
            )
    return edl_path


def edit_file(
    raw_path: str | os.PathLike,
    out_path: str | os.PathLike,
    *,
    policy: str = "retarget",
    target_ratio: float | None = None,
    slack_s: float | None = None,
    config=None,
    checkpoint: str | os.PathLike | None = None,
    device: str = "auto",
    params: AudioParams = DEFAULT_PARAMS,
    edl_path: str | os.PathLike | None = None,
) -> EditResult:
    """Edit ``raw_path`` into ``out_path`` and write the EDL beside it. Prints nothing.

    Parameters
    ----------
    raw_path : path
        The raw recording (WAV, FLAC or OGG; any rate, mono or stereo).
    out_path : path
        The edited audio to write (``.wav``, ``.flac`` or ``.ogg``); its folder is created. The
        EDL goes to ``{out_stem}.edl.json`` in the same folder.
    policy : str
        The editor: one of :data:`POLICIES`.
    target_ratio, slack_s : float, optional
        Override the policy config's target length ratio and slack in seconds.
    config : optional
        The policy's config (for ``retarget`` a :class:`~editor_env.retarget.RetargetConfig`).
    checkpoint : path, optional
        The trained model, for the learned policies.
    device : str
        ``"auto"`` (CUDA when present), ``"cpu"`` or ``"cuda"``, for learned policies.
    params : AudioParams
        Analysis parameters.
    edl_path : path, optional
        Where to write the EDL JSON (default ``{out_stem}.edl.json`` beside the audio).

    Raises
    ------
    MusicEditError
        Unknown policy, an output path that is the input (or its EDL path is), an unsupported
        output format, an unreadable input, or a target the editor cannot meet.
    """
    raw_path, out_path = Path(raw_path), Path(out_path)
    if policy == "supervised":
        if edl_path is not None:
            raise MusicEditError("--edl is not supported with the supervised policy (its EDL goes beside the audio).")
        return _supervised_file(raw_path, out_path, checkpoint, target_ratio, slack_s, device, params)
    if policy not in POLICIES:
        raise MusicEditError(f"Unknown policy {policy!r}; available policies: {', '.join(POLICIES)}.")
    from editor_env.paradigms import check_checkpoint

    check_checkpoint(policy, None if checkpoint is None else str(checkpoint))
    edl_path = check_output_paths(raw_path, out_path, edl_path=edl_path)

    from editor_env.audio import analysis_signal, load_audio, write_audio
    from editor_env.features import analyze_signal
    from editor_env.render import render

    raw = load_audio(raw_path)
    analysis = analyze_signal(analysis_signal(raw, params), params)

    from editor_env.paradigms import EditRequest, run_paradigm

    request = EditRequest(
        analysis,
        raw.sample_rate,
        raw.n_samples,
        raw_path=raw_path,
        name=raw_path.stem,
        target_ratio=0.67 if target_ratio is None else float(target_ratio),
        slack_s=slack_s,
        checkpoint=None if checkpoint is None else str(checkpoint),
        device=device,
        params=params,
    )
    if policy == "retarget" and config is not None:
        from editor_env.retarget import RetargetConfig, retarget

        if not isinstance(config, RetargetConfig):
            raise MusicEditError(f"policy 'retarget' takes a RetargetConfig, not {type(config).__name__}.")
        overrides = {"target_ratio": request.target_ratio} if target_ratio is not None else {}
        if slack_s is not None:
            overrides["slack_s"] = float(slack_s)
        config = dataclasses.replace(config, **overrides)
        edl = retarget(analysis, sample_rate=raw.sample_rate, raw_length=raw.n_samples, config=config)
    else:
        edl = run_paradigm(policy, request)
    edl.meta["source"] = raw_path.name

    audio = render(edl, raw)
    write_audio(out_path, audio, raw.sample_rate)
    edl.save(edl_path)
    return EditResult(
        input_path=raw_path,
        output_path=out_path,
        edl_path=edl_path,
        input_duration_s=raw.duration,
        output_duration_s=audio.shape[1] / raw.sample_rate,
        n_segments=len(edl.segments),
        policy=policy,
        edl=edl,
        analysis=analysis,
    )


def _supervised_file(raw_path, out_path, checkpoint, target_ratio, slack_s, device, params) -> EditResult:
    """``edit_file`` for the supervised baseline: Griffin-Lim audio, the predicted mel and the label EDL."""
    from editor_env.audio import audio_extent
    from editor_env.paradigms import check_checkpoint
    from supervised_baseline.infer import edit_to_files

    check_checkpoint("supervised", None if checkpoint is None else str(checkpoint))
    paths = edit_to_files(
        raw_path, out_path, checkpoint, target_ratio=target_ratio, slack_s=slack_s, device=device, params=params
    )
    raw_rate, raw_samples = audio_extent(raw_path)
    out_rate, out_samples = audio_extent(paths["audio"])
    edl = EditList.load(paths["edl"])
    return EditResult(
        input_path=Path(raw_path),
        output_path=paths["audio"],
        edl_path=paths["edl"],
        input_duration_s=raw_samples / raw_rate,
        output_duration_s=out_samples / out_rate,
        n_segments=len(edl.segments),
        policy="supervised",
        edl=edl,
    )

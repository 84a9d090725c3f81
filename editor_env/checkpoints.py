"""What a checkpoint file is: its paradigm, format version and config, read without trusting the file.

Every trained model records what it is, so a loader handed another paradigm's checkpoint can say which
one it got and ``musicedit edit --checkpoint X`` needs no ``--policy``:

==============  ====================  ========================================================================
paradigm        container             what records it
==============  ====================  ========================================================================
``bc``          SB3 ``.zip``          member ``musicedit.json``: ``format`` :data:`AGENT_FORMAT`,
``bc_ppo``                            ``format_version``, ``paradigm``, ``config`` (:func:`write_agent_header`)
``pointer``     ``torch.save`` zip    ``format`` ``musicedit-pointer-network``, ``format_version``,
                                      ``paradigm``, ``model_config`` / ``train_config``
``supervised``  ``torch.save`` zip    ``format`` ``musicedit-supervised``, ``format_version``, ``paradigm``,
                                      ``model_config`` / ``train_config``
``content``     ``torch.save`` zip    ``format`` ``musicedit-content-model`` and ``config`` (the content model
                                      of :mod:`editor_env.content`: not an editor, but identified alike)
==============  ====================  ========================================================================

:func:`checkpoint_info` reads the header only as data: a torch archive with ``torch.load(weights_only=True)``
(no pickled code runs), an SB3 archive's ``musicedit.json`` and ``data`` members as JSON with :mod:`zipfile`
(SB3's pickled entries inside ``data`` are never unpickled). Checkpoints written before these fields existed
are still identified, from their ``format`` tag or, for an SB3 agent, from its layout (``num_timesteps`` 0:
BC only, else BC + PPO); :attr:`CheckpointInfo.recorded` is False for them.

The BC and BC + PPO agents are one kind of file read by one loader (:mod:`policies.infer`), so either works
where the other is asked for (:func:`compatible`).
"""

from __future__ import annotations

import dataclasses
import functools
import json
import os
import zipfile
from pathlib import Path
from typing import Any

from editor_env.errors import MusicEditError

FORMAT_VERSION = 1
"""Version of the identification fields (``paradigm``, ``format_version``, ``config``) written by this library."""
AGENT_FORMAT = "musicedit-agent"
"""``format`` of the ``musicedit.json`` member that an SB3 agent archive carries."""
AGENT_HEADER = "musicedit.json"
"""The member of an SB3 ``.zip`` that says what it is (SB3's loader ignores members that are not ``.pth``)."""
TORCH_FORMATS = {
    "musicedit-pointer-network": "pointer",
    "musicedit-supervised": "supervised",
    "musicedit-content-model": "content",
}
"""``format`` tag of a ``torch.save`` checkpoint -> the paradigm it belongs to."""
AGENT_PARADIGMS = ("bc", "bc_ppo")
"""Paradigms whose checkpoints are SB3 agents (one loader reads both)."""
KINDS = {
    "bc": "BC agent",
    "bc_ppo": "BC + PPO agent",
    "pointer": "pointer-network",
    "supervised": "supervised (mel reconstruction)",
    "content": "content-model",
}
"""Words for each paradigm's checkpoint, for messages."""
_ALIASES = {"agent": "bc_ppo"}
_ZIP_MAGIC = b"PK\x03\x04"


@dataclasses.dataclass(frozen=True)
class CheckpointInfo:
    """What a checkpoint file says it is.

    :param path: the file.
    :param paradigm: ``"bc"``, ``"bc_ppo"``, ``"pointer"``, ``"supervised"`` or ``"content"``.
    :param format: the format tag (``musicedit-pointer-network`` ..., :data:`AGENT_FORMAT`, or ``"sb3"`` for an
        agent written before agents carried a header).
    :param format_version: version of the identification fields, None for a checkpoint written before them.
    :param config: the config it was made with, as stored (``{"model_config": ..., "train_config": ...}`` or the
        training config), or None where the file holds none.
    :param recorded: True when the file names its paradigm itself; False when it was inferred (older files).
    :param step: optimizer steps (pointer, supervised) or environment steps (agents) when the file says.
    :param state: training state an agent's header records for a resumed run (``best_common_reward``), or None.
    """

    path: Path
    paradigm: str
    format: str
    format_version: int | None
    config: dict[str, Any] | None
    recorded: bool
    step: int | None = None
    state: dict[str, Any] | None = None

    @property
    def kind(self) -> str:
        """Words for what it is, e.g. ``"BC + PPO agent"``."""
        return KINDS.get(self.paradigm, self.paradigm)

    def describe(self) -> str:
        """One line: ``"a BC + PPO agent checkpoint (paradigm bc_ppo, recorded in the file)"``."""
        how = "recorded in the file" if self.recorded else "inferred: the file predates recorded paradigms"
        return f"a {self.kind} checkpoint (paradigm {self.paradigm}, {how})"


def canonical(paradigm: str) -> str:
    """``paradigm`` with aliases resolved (``agent`` -> ``bc_ppo``)."""
    return _ALIASES.get(paradigm, paradigm)


def compatible(expected: str, found: str) -> bool:
    """Whether a checkpoint of paradigm ``found`` loads where ``expected`` is asked for (the agents share one)."""
    expected, found = canonical(expected), canonical(found)
    return expected == found or (expected in AGENT_PARADIGMS and found in AGENT_PARADIGMS)


def trained_by(paradigm: str) -> str:
    """The command that writes checkpoints of ``paradigm``."""
    if paradigm == "content":
        return "python scripts/train_content.py"
    from editor_env.paradigms import PARADIGMS

    found = PARADIGMS.get(canonical(paradigm))
    return found.trained_by if found is not None and found.trained_by else "its trainer"


def how_to_use(info: CheckpointInfo) -> str:
    """What to pass so that ``info``'s checkpoint is read by the right loader."""
    if info.paradigm == "content":
        return (
            "it is the content model, not an editor: use it with MUSICEDIT_CONTENT_MODEL="
            f"{info.path} (or give an editor's checkpoint)"
        )
    return (
        f"pass it with --policy {info.paradigm} (musicedit benchmark: --checkpoint {info.paradigm}={info.path}), "
        "or give --checkpoint alone and the paradigm is read from the file"
    )


def mismatch_message(info: CheckpointInfo, expected: str) -> str:
    """The error for ``info``'s checkpoint given where a checkpoint of ``expected`` is needed."""
    wanted = KINDS.get(canonical(expected), expected)
    return f"{info.path} is {info.describe()}, not a {wanted} checkpoint: {how_to_use(info)}."


def checkpoint_info(path: str | os.PathLike) -> CheckpointInfo:
    """Identify the checkpoint at ``path`` from its header (see the module doc), trusting nothing in it.

    :raises MusicEditError: the file is missing, truncated or corrupt, or not a MusicEdit checkpoint; the
        message names the file and what to do.
    """
    path = Path(path)
    try:
        stat = path.stat()
    except OSError as exc:
        raise MusicEditError(
            f"Checkpoint {path} cannot be read ({exc.strerror or exc}): give an existing file."
        ) from exc
    if not path.is_file():
        raise MusicEditError(f"Checkpoint {path} is not a file: give a best.pt / latest.pt / .zip checkpoint.")
    return _identify(str(path), stat.st_size, stat.st_mtime_ns)


def identify_checkpoint(path: str | os.PathLike) -> str:
    """The paradigm of the checkpoint at ``path`` (``bc``, ``bc_ppo``, ``pointer``, ``supervised``, ``content``).

    :raises MusicEditError: as :func:`checkpoint_info`.
    """
    return checkpoint_info(path).paradigm


def check_paradigm(
    path: str | os.PathLike, expected: str, error: type[Exception] = MusicEditError
) -> CheckpointInfo | None:
    """Refuse a checkpoint of another paradigm than ``expected``, naming the one it is.

    :returns: its :class:`CheckpointInfo`, or None when the file cannot be identified (missing, corrupt or
        foreign: the loader's own checks report that).
    :raises error: the file is a readable checkpoint of another paradigm (:func:`mismatch_message`).
    """
    try:
        info = checkpoint_info(path)
    except MusicEditError:
        return None
    if not compatible(expected, info.paradigm):
        raise error(mismatch_message(info, expected))
    return info


def unreadable_message(path: str | os.PathLike, exc: BaseException | None = None) -> str:
    """Why ``path`` is no checkpoint at all: truncated, corrupt or foreign (the reason in one line)."""
    path = Path(path)
    reason = ""
    if exc is not None:
        first = str(exc).splitlines()[0] if str(exc) else ""
        reason = f" ({type(exc).__name__}: {first})" if first else f" ({type(exc).__name__})"
    try:
        with open(path, "rb") as fh:
            head = fh.read(4)
    except OSError:
        head = b""
    if head == _ZIP_MAGIC:
        what = "an archive that is truncated or corrupt (an interrupted copy or download?)"
    elif not head:
        what = "empty"
    else:
        what = "not a MusicEdit checkpoint (neither a torch nor an SB3 archive), or corrupt"
    return f"Cannot read checkpoint {path}{reason}: the file is {what}; use another latest.pt / best.pt or train again."


@functools.lru_cache(maxsize=32)
def _identify(path_text: str, size: int, mtime_ns: int) -> CheckpointInfo:
    """:func:`checkpoint_info` of a file as it was at ``(size, mtime_ns)`` (so a rewritten file is read again)."""
    path = Path(path_text)
    if size == 0:
        raise MusicEditError(unreadable_message(path))
    try:
        with zipfile.ZipFile(path) as archive:
            names = archive.namelist()
            if "data" in names and any(n.endswith(".pth") for n in names):
                return _agent_info(path, archive, names)
            if not any(n == "data.pkl" or n.endswith("/data.pkl") for n in names):
                raise MusicEditError(
                    f"{path} is a zip archive but no MusicEdit checkpoint (neither a torch checkpoint nor an SB3 "
                    "agent): give a best.pt / latest.pt written by a MusicEdit trainer."
                )
    except MusicEditError:
        raise
    except zipfile.BadZipFile as exc:
        if not _maybe_legacy_torch(path):
            raise MusicEditError(unreadable_message(path, exc)) from exc
    except Exception as exc:  # a damaged archive raises many types (OSError, struct.error, NotImplementedError ...)
        raise MusicEditError(unreadable_message(path, exc)) from exc
    return _torch_info(path)


def _maybe_legacy_torch(path: Path) -> bool:
    """A file that is no zip may still be a torch checkpoint in the pre-1.6 (non-zip) format: it starts with
    a pickle protocol byte."""
    try:
        with open(path, "rb") as fh:
            return fh.read(1) == b"\x80"
    except OSError:
        return False


def _torch_info(path: Path) -> CheckpointInfo:
    import torch as th

    try:
        payload = th.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # a damaged archive raises many types (RuntimeError, UnpicklingError, EOFError ...)
        raise MusicEditError(unreadable_message(path, exc)) from exc
    tag = payload.get("format") if isinstance(payload, dict) else None
    if tag not in TORCH_FORMATS:
        raise MusicEditError(
            f"{path} is a torch file but no MusicEdit checkpoint (its 'format' is {tag!r}); give a best.pt / "
            "latest.pt written by a MusicEdit trainer."
        )
    recorded = payload.get("paradigm")
    paradigm = recorded if recorded == TORCH_FORMATS[tag] else TORCH_FORMATS[tag]
    config = {k: payload[k] for k in ("model_config", "train_config", "config") if isinstance(payload.get(k), dict)}
    step = payload.get("step", payload.get("global_step"))
    version = payload.get("format_version")
    return CheckpointInfo(
        path,
        paradigm,
        tag,
        int(version) if isinstance(version, int) else None,
        config or None,
        recorded == paradigm,
        int(step) if isinstance(step, int) else None,
    )


def _agent_info(path: Path, archive: zipfile.ZipFile, names: list[str]) -> CheckpointInfo:
    """An SB3 archive: its ``musicedit.json`` header, else (older agents) its ``data`` JSON's step counter."""
    data = _json_member(archive, "data", path) or {}
    steps = data.get("num_timesteps")
    steps = int(steps) if isinstance(steps, int) else None
    if AGENT_HEADER in names:
        header = _json_member(archive, AGENT_HEADER, path) or {}
        paradigm = header.get("paradigm")
        if header.get("format") == AGENT_FORMAT and paradigm in AGENT_PARADIGMS:
            version = header.get("format_version")
            config, state = header.get("config"), header.get("state")
            return CheckpointInfo(
                path,
                paradigm,
                AGENT_FORMAT,
                int(version) if isinstance(version, int) else None,
                config if isinstance(config, dict) else None,
                True,
                steps,
                state if isinstance(state, dict) else None,
            )
    # written before agents carried a header: BC alone never steps the environment
    return CheckpointInfo(path, "bc" if not steps else "bc_ppo", "sb3", None, None, False, steps)


def _json_member(archive: zipfile.ZipFile, name: str, path: Path) -> dict[str, Any] | None:
    """The JSON object in member ``name`` (read as text: nothing is unpickled), or None when it is not one."""
    try:
        value = json.loads(archive.read(name).decode("utf-8"))
    except (ValueError, UnicodeDecodeError):
        return None
    except (zipfile.BadZipFile, OSError, EOFError) as exc:  # a damaged member (CRC error, truncated data)
        raise MusicEditError(unreadable_message(path, exc)) from exc
    return value if isinstance(value, dict) else None


def agent_header(
    paradigm: str, config: dict[str, Any] | None = None, state: dict[str, Any] | None = None
) -> dict[str, Any]:
    """The ``musicedit.json`` member of an agent archive of ``paradigm`` (``bc`` or ``bc_ppo``): format, format
    version, paradigm, ``config`` and, when given, ``state`` (e.g. ``{"best_common_reward": 0.7}``)."""
    if paradigm not in AGENT_PARADIGMS:
        raise ValueError(f"agent_header: paradigm must be one of {AGENT_PARADIGMS}, not {paradigm!r}")
    header = {"format": AGENT_FORMAT, "format_version": FORMAT_VERSION, "paradigm": paradigm, "config": config or {}}
    if state:
        header["state"] = state
    return header


def write_agent_header(
    path: str | os.PathLike, paradigm: str, config: dict[str, Any] | None = None, state: dict[str, Any] | None = None
) -> None:
    """Add :func:`agent_header` as the member ``musicedit.json`` to the SB3 archive just saved at ``path``
    (call it on the temporary file, before it is renamed into place). ``config`` must be JSON-serialisable."""
    text = json.dumps(agent_header(paradigm, config, state), indent=1, sort_keys=True, default=str)
    with zipfile.ZipFile(path, "a", compression=zipfile.ZIP_DEFLATED) as archive:
        if AGENT_HEADER in archive.namelist():
            raise ValueError(f"{path} already has a {AGENT_HEADER} member")
        archive.writestr(AGENT_HEADER, text)


def torch_header(paradigm: str) -> dict[str, Any]:
    """The identification fields a ``torch.save`` checkpoint of ``paradigm`` carries beside its ``format``."""
    return {"paradigm": paradigm, "format_version": FORMAT_VERSION}


__all__ = [
    "AGENT_FORMAT",
    "AGENT_HEADER",
    "FORMAT_VERSION",
    "CheckpointInfo",
    "agent_header",
    "check_paradigm",
    "checkpoint_info",
    "compatible",
    "how_to_use",
    "identify_checkpoint",
    "mismatch_message",
    "torch_header",
    "trained_by",
    "unreadable_message",
    "write_agent_header",
]

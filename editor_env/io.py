"""Atomic file writes: a killed run never leaves a half-written cache file or checkpoint.

Each file is written under a hidden temporary name beside its final one,
``.{stem}.{host}-{pid}-{random}.tmp{suffix}``, and renamed into place only when complete. A run killed
mid-write (``kill -9``, a power cut) leaves that temporary file behind; the next write of the same final
path removes such leftovers whose process is gone (same host, no such pid), so reruns do not collect them.
Writing into a full or read-only folder raises :class:`~editor_env.errors.MusicEditError` naming the
file and its folder (:func:`write_error`), and leaves nothing under the final name.
"""

from __future__ import annotations

import contextlib
import errno
import glob
import json
import os
import re
import socket
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

_UMASK = os.umask(0)
os.umask(_UMASK)

_HOST = re.sub(r"[^A-Za-z0-9]", "", socket.gethostname())[:24] or "host"
"""This machine's name as it appears in temporary file names (letters and digits only)."""
FULL_DISK_ERRNOS = {errno.ENOSPC, errno.EDQUOT, errno.EFBIG}
NOT_WRITABLE_ERRNOS = {errno.EACCES, errno.EPERM, errno.EROFS}


def write_error(path: str | os.PathLike, exc: OSError) -> Exception | None:
    """The :class:`~editor_env.errors.MusicEditError` for writing ``path`` that failed with ``exc`` (a full
    disk, or a folder this user may not write), or None for another error (raised as it is)."""
    from editor_env.errors import MusicEditError

    path = Path(path)
    folder = path.parent
    while not folder.exists() and folder != folder.parent:  # a folder that could not be made: name its parent
        folder = folder.parent
    reason = exc.strerror or str(exc)
    if exc.errno in FULL_DISK_ERRNOS:
        return MusicEditError(
            f"Cannot write {path}: no space left in {folder} ({reason}). Free space there or choose another "
            "folder; nothing was left under that name, and a rerun redoes only what is missing."
        )
    if exc.errno in NOT_WRITABLE_ERRNOS:
        return MusicEditError(
            f"Cannot write {path}: the folder {folder} is not writable by this user ({reason}). Choose another "
            "folder or fix its permissions."
        )
    return None


def temp_prefix(path: str | os.PathLike) -> str:
    """The start of the temporary names of ``path``'s writes by this process: ``.{stem}.{host}-{pid}-``."""
    return f".{Path(path).stem}.{_HOST}-{os.getpid()}-"


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's live process
        return True
    return True


def remove_stale_temps(path: str | os.PathLike, *, suffix: str | None = None) -> list[Path]:
    """Remove the temporary files that writes of ``path`` by processes now gone (on this host) left behind
    (:func:`atomic_path`'s names); returns those removed. A live process's file is never touched."""
    path = Path(path)
    tail = ".tmp" + (suffix or path.suffix)
    pattern = re.compile(re.escape(f".{path.stem}.{_HOST}-") + r"(\d+)-[A-Za-z0-9_]+" + re.escape(tail) + "$")
    removed = []
    try:
        candidates = list(path.parent.glob(f".{glob.escape(path.stem)}.{_HOST}-*{glob.escape(tail)}"))
    except OSError:
        return removed
    for candidate in candidates:
        match = pattern.match(candidate.name)
        if match is None or int(match.group(1)) == os.getpid() or _pid_alive(int(match.group(1))):
            continue
        with contextlib.suppress(OSError):
            candidate.unlink()
            removed.append(candidate)
    return removed


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike, *, suffix: str | None = None) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; rename it onto ``path`` only if the block succeeds.

    The temporary name ends in ``path``'s suffix (or ``suffix``) so that libraries which pick a
    format from the extension (numpy, soundfile, matplotlib) still do the right thing. Hidden
    (dot-prefixed) temporary names are never mistaken for finished files; those that killed runs left
    for ``path`` are removed first (:func:`remove_stale_temps`).

    :raises MusicEditError: the folder is full or not writable (:func:`write_error`); nothing is left
        under ``path`` or the temporary name.
    """
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        remove_stale_temps(path, suffix=suffix)
        fd, tmp_name = tempfile.mkstemp(
            dir=path.parent, prefix=temp_prefix(path), suffix=".tmp" + (suffix or path.suffix)
        )
    except OSError as exc:
        raise (write_error(path, exc) or exc) from exc
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        yield tmp
        os.chmod(tmp, 0o666 & ~_UMASK)  # mkstemp makes 0600 files; give ordinary permissions
        os.replace(tmp, path)
    except OSError as exc:
        error = write_error(path, exc)
        if error is None:
            raise
        raise error from exc
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()


def read_json(path: str | os.PathLike, what: str) -> Any:
    """The JSON in ``path``; :class:`MusicEditError` naming ``what`` and the file if it is unreadable."""
    from editor_env.errors import MusicEditError

    try:
        return json.loads(Path(path).read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise MusicEditError(f"Cannot read {what} {path}: {exc}") from exc


def atomic_write_text(path: str | os.PathLike, text: str) -> Path:
    with atomic_path(path) as tmp:
        tmp.write_text(text)
    return Path(path)


@contextlib.contextmanager
def atomic_open(path: str | os.PathLike, mode: str = "wb") -> Iterator[IO]:
    with atomic_path(path) as tmp, open(tmp, mode) as fh:
        yield fh


def check_config_fields(config_class, values: Any, source: str, error: type[Exception] | None = None) -> dict[str, Any]:
    """``values`` (e.g. read from a JSON config) as a dict, after checking it is one and names only
    fields of the dataclass ``config_class``.

    :raises error: (default :class:`MusicEditError`) naming ``source``, the unknown fields and the
        known ones.
    """
    import dataclasses

    from editor_env.errors import MusicEditError

    error = error or MusicEditError
    if not isinstance(values, dict):
        raise error(f"{source} must be a JSON object of {config_class.__name__} fields.")
    known = {f.name for f in dataclasses.fields(config_class)}
    unknown = sorted(set(values) - known)
    if unknown:
        raise error(f"{source}: unknown field(s) {unknown}; known fields: {sorted(known)}.")
    return dict(values)


def config_from_args(config_class, args) -> Any:
    """A training config from the command line: the JSON file ``args.config`` (or the class's
    defaults), then every dataclass field that a flag of ``args`` gives (not None) overrides it.

    :param config_class: a dataclass with a ``from_json(path)`` class method.
    :param args: the parsed :class:`argparse.Namespace`; flags are named like the fields.
    """
    import dataclasses

    config = config_class.from_json(args.config) if getattr(args, "config", None) else config_class()
    for field in dataclasses.fields(config_class):
        value = getattr(args, field.name, None)
        if value is not None:
            setattr(config, field.name, value)
    return config


def read_torch_checkpoint(
    path: str | os.PathLike, *, format_tag: str, what: str, trained_by: str, error: type[Exception]
) -> dict[str, Any]:
    """The dict saved by ``torch.save`` at ``path`` (``weights_only``: no pickled code runs), checked
    to carry ``{"format": format_tag}``.

    :param what: what the checkpoint is, for messages (e.g. ``"pointer-network"``).
    :param trained_by: the command that writes such checkpoints, for messages.
    :param error: the package's error type to raise.
    :raises error: a missing, truncated or corrupt file, or a checkpoint of another kind (a MusicEdit checkpoint
        of another paradigm is named, with the ``--policy`` that reads it: :mod:`editor_env.checkpoints`); the
        message names the file and what to do.
    """
    import torch as th

    from editor_env.checkpoints import TORCH_FORMATS, check_paradigm, unreadable_message

    path = Path(path)
    if not path.is_file():
        raise error(f"Checkpoint {path} does not exist: train one with `{trained_by}`.")
    expected = TORCH_FORMATS.get(format_tag, format_tag)
    try:
        payload = th.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # a damaged or foreign file raises many types (RuntimeError, UnpicklingError ...)
        check_paradigm(path, expected, error)  # another paradigm's checkpoint (e.g. an SB3 agent) is named
        raise error(unreadable_message(path, exc)) from exc
    if not isinstance(payload, dict) or payload.get("format") != format_tag:
        check_paradigm(path, expected, error)
        raise error(
            f"{path} is not a {what} checkpoint (no 'format': {format_tag!r}); pass a best.pt / latest.pt "
            f"written by `{trained_by}`."
        )
    return payload


def npy_bytes(array: Any) -> bytes:
    """The bytes ``numpy.save`` writes for ``array`` (no pickles)."""
    import io

    import numpy as np

    buf = io.BytesIO()
    np.save(buf, array, allow_pickle=False)
    return buf.getvalue()


def json_bytes(data: dict[str, Any]) -> bytes:
    """``data`` as indented JSON with a final newline."""
    return (json.dumps(data, indent=2) + "\n").encode()


def files_finished(paths: dict[str, Path], expected: dict[str, Any], defaults: dict[str, Any] | None = None) -> bool:
    """Whether a generated sample's files all exist and its ``paths["info"]`` JSON holds ``expected``
    (a key the info leaves out counts as its value in ``defaults``)."""
    if not all(path.is_file() for path in paths.values()):
        return False
    try:
        info = json.loads(paths["info"].read_text())
    except (OSError, ValueError):
        return False
    defaults = defaults or {}
    return isinstance(info, dict) and all(info.get(k, defaults.get(k)) == v for k, v in expected.items())


def write_sample_files(paths: dict[str, Path], contents: dict[str, bytes], *, overwrite: bool, what: str) -> list[str]:
    """Write a generated sample's files atomically, in ``paths`` order (its last file marks it finished).

    Files already holding these bytes are left alone. A file that exists with other bytes is replaced only
    with ``overwrite``; otherwise :class:`MusicEditError` names it and nothing of the sample is written.
    Returns the keys written.
    """
    from editor_env.errors import MusicEditError

    todo = []
    for key, path in paths.items():
        if path.is_file() and path.read_bytes() == contents[key]:
            continue
        if path.exists() and not overwrite:
            raise MusicEditError(
                f"{path} already exists and is not {what} with these settings; nothing of that sample was "
                "written. Move the file, write to another folder, or pass overwrite=True (--overwrite) to replace it."
            )
        todo.append(key)
    for key in todo:
        with atomic_open(paths[key], "wb") as fh:
            fh.write(contents[key])
    return todo

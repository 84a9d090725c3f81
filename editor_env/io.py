"""Atomic file writes: a killed run never leaves a half-written cache file or checkpoint."""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

_UMASK = os.umask(0)
os.umask(_UMASK)


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike, *, suffix: str | None = None) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; rename it onto ``path`` only if the block succeeds.

    The temporary name ends in ``path``'s suffix (or ``suffix``) so that libraries which pick a
    format from the extension (numpy, soundfile, matplotlib) still do the right thing. Hidden
    (dot-prefixed) temporary names are never mistaken for finished files.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.stem}.", suffix=".tmp" + (suffix or path.suffix))
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        yield tmp
        os.chmod(tmp, 0o666 & ~_UMASK)  # mkstemp makes 0600 files; give ordinary permissions
        os.replace(tmp, path)
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
    :raises error: a missing, truncated or corrupt file, or a checkpoint of another kind; the
        message names the file and what to do.
    """
    import pickle
    import zipfile

    import torch as th

    path = Path(path)
    if not path.is_file():
        raise error(f"Checkpoint {path} does not exist: train one with `{trained_by}`.")
    try:
        payload = th.load(path, map_location="cpu", weights_only=True)
    except (RuntimeError, EOFError, ValueError, OSError, pickle.UnpicklingError, zipfile.BadZipFile) as exc:
        first_line = str(exc).splitlines()[0] if str(exc) else ""
        raise error(
            f"Cannot read checkpoint {path} ({type(exc).__name__}: {first_line}): the file is truncated or corrupt "
            "(an interrupted copy?) or not a torch checkpoint; use another latest.pt / best.pt or train again."
        ) from exc
    if not isinstance(payload, dict) or payload.get("format") != format_tag:
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

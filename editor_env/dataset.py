"""Discovery and validation of a data set in the ``training_data/`` layout (read-only).

::

    training_data/
      input/{sample}_raw.wav            raw recordings (WAV/FLAC/OGG)
      desired_output/{sample}_edit.wav  the human edit of the same sample
      reference/                        optional finished tracks (not paired)
      pointer_sequences/                alignments and ground truth (written by other tools)

Nothing here writes to the data folder: discovery only reads names and file headers.
"""

from __future__ import annotations

import dataclasses
import os
import re
from pathlib import Path

import soundfile as sf

from editor_env.errors import DatasetError

AUDIO_SUFFIXES = (".wav", ".flac", ".ogg", ".oga", ".aiff", ".aif")
MIN_RAW_SECONDS = 4.0
"""Shortest raw recording accepted for training: two bars of 4/4 at 120 BPM, the smallest beat
context an editing agent can act on (shorter files can still be analysed on their own)."""
MIN_EDIT_SECONDS = 1.0

_NAME = re.compile(r"^(?P<sample>.+)_(?P<kind>raw|edit)$")


@dataclasses.dataclass(frozen=True)
class SamplePair:
    """One sample of a data set: its raw recording and, when present, its human edit."""

    name: str
    raw_path: Path
    edit_path: Path | None


def discover_pairs(
    data_dir: str | os.PathLike,
    *,
    require_edit: bool = True,
    samples: list[str] | None = None,
    check_audio: bool = True,
) -> list[SamplePair]:
    """Pairs of ``input/{sample}_raw.*`` and ``desired_output/{sample}_edit.*``, sorted by name.

    :param require_edit: a raw recording without an edit is an error (training); set False
        for inference or analysis, where edits are optional. An edit without a raw is always
        an error.
    :param samples: keep only these sample names (an unknown name is an error).
    :param check_audio: read each file's header: unreadable, empty or too short files
        (raw under :data:`MIN_RAW_SECONDS`) are errors.
    :raises DatasetError: listing every problem found, each naming its file and the fix.
    """
    data_dir = Path(data_dir)
    input_dir, output_dir = data_dir / "input", data_dir / "desired_output"
    if not input_dir.is_dir():
        raise DatasetError(
            f"{data_dir} has no input/ folder: put raw recordings in {input_dir}/{{sample}}_raw.wav "
            "(and their edits in desired_output/{sample}_edit.wav), or run `musicedit synth` "
            "to generate a data set."
        )
    problems: list[str] = []
    raws = _index(input_dir, "raw", problems)
    edits = _index(output_dir, "edit", problems) if output_dir.is_dir() else {}

    for name in sorted(set(edits) - set(raws)):
        problems.append(f"{edits[name]}: edit with no raw recording; expected {input_dir}/{name}_raw.wav")
    if require_edit:
        for name in sorted(set(raws) - set(edits)):
            problems.append(f"{raws[name]}: raw recording with no edit; expected {output_dir}/{name}_edit.wav")
    names = sorted(raws)
    if samples is not None:
        unknown = sorted(set(samples) - set(raws))
        if unknown:
            problems.append(
                f"sample(s) {unknown} not found in {input_dir} (known: {names[:10]}{' …' if len(names) > 10 else ''})"
            )
        names = [n for n in names if n in set(samples)]
    pairs = [SamplePair(n, raws[n], edits.get(n)) for n in names]
    if check_audio:
        for pair in pairs:
            _check_file(pair.raw_path, MIN_RAW_SECONDS, problems)
            if pair.edit_path is not None:
                _check_file(pair.edit_path, MIN_EDIT_SECONDS, problems)
    if len(problems) == 1:  # one line, as every other error
        raise DatasetError(f"Data set {data_dir} has a problem: {problems[0]}")
    if problems:
        raise DatasetError(f"Data set {data_dir} has {len(problems)} problems:\n  " + "\n  ".join(problems))
    if not pairs:
        raise DatasetError(f"Data set {data_dir} holds no raw recordings in {input_dir} (expected {{sample}}_raw.wav).")
    return pairs


def _index(folder: Path, kind: str, problems: list[str]) -> dict[str, Path]:
    """Map sample name -> file for ``{sample}_{kind}.{ext}`` in ``folder``; note misnamed audio."""
    found: dict[str, Path] = {}
    for path in sorted(folder.iterdir()):
        if path.name.startswith(".") or not path.is_file() or path.suffix.lower() not in AUDIO_SUFFIXES:
            continue  # hidden files, temporary files, notes and pictures are not samples
        match = _NAME.match(path.stem)
        if match is None or match["kind"] != kind:
            problems.append(f"{path}: audio file not named {{sample}}_{kind}{path.suffix}; rename it or move it out")
            continue
        if match["sample"] in found:
            problems.append(f"{path}: sample {match['sample']!r} also has {found[match['sample']].name}; keep one")
            continue
        found[match["sample"]] = path
    return found


def _check_file(path: Path, min_seconds: float, problems: list[str]) -> None:
    if path.stat().st_size == 0:
        problems.append(f"{path}: empty file (0 bytes); re-export it")
        return
    try:
        info = sf.info(path)
    except (sf.LibsndfileError, RuntimeError, TypeError, ValueError) as exc:
        problems.append(f"{path}: unreadable audio ({str(exc).rstrip('.')}); re-export it as WAV or FLAC")
        return
    duration = info.frames / info.samplerate if info.samplerate else 0.0
    if duration < min_seconds:
        problems.append(
            f"{path}: {duration:.2f} s of audio, shorter than the {min_seconds:g} s needed to hold "
            "one beat context; use a longer recording"
        )

"""Sound variants of training recordings: the same performance pitch-shifted or re-equalised.

A data set of 30 recordings is small: a policy trained on it learns those recordings' sound
(their keys, their mixes) along with the editing. A variant changes the sound and keeps the
timing (pedalboard's length-preserving :class:`~pedalboard.PitchShift`, shelving EQ, gain), so
the recording's reference edit (its pointer sequence, frame for frame) stays right and comes
along unchanged: more demonstrations and more RL episodes with the same ground truth.

Each variant of ``NAME`` is written as ``NAME-VARIANT`` (``{NAME}-{VARIANT}_raw.wav`` and the
reference files beside it, in the ``input``/``pointer_sequences`` layout of DESIGN.md), into
the same or another data set folder. Existing variant files are left alone, so a rerun only
renders what is missing; nothing of the source data set is modified.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Sequence
from pathlib import Path

from editor_env.errors import DatasetError

#: The variants: name -> the pedalboard plugins (built on use; pedalboard is imported lazily).
VARIANTS: dict[str, str] = {
    "up2": "pitch up 2 semitones",
    "down2": "pitch down 2 semitones",
    "eq": "low shelf +6 dB at 200 Hz, high shelf -6 dB at 4 kHz, -4 dB",
}
#: Reference files (``pointer_sequences/{name}_{kind}``) copied with a variant.
REFERENCE_KINDS = ("pointers.npy", "ops.npy", "edl.json", "info.json")


def _board(variant: str):
    from pedalboard import Gain, HighShelfFilter, LowShelfFilter, Pedalboard, PitchShift

    plugins = {
        "up2": [PitchShift(semitones=2)],
        "down2": [PitchShift(semitones=-2)],
        "eq": [LowShelfFilter(200, 6), HighShelfFilter(4000, -6), Gain(-4)],
    }
    return Pedalboard(plugins[variant])


def parse_variants(text: str | Sequence[str] | None) -> list[str]:
    """``"up2,eq"`` (or a list) -> ``["up2", "eq"]``; an unknown name is refused with the known ones."""
    if not text:
        return []
    names = [v.strip() for v in (text.split(",") if isinstance(text, str) else text) if v.strip()]
    unknown = [v for v in names if v not in VARIANTS]
    if unknown:
        raise DatasetError(f"Unknown sound variant(s) {unknown}: choose from {sorted(VARIANTS)}.")
    return names


def write_variants(
    data_dir: str | os.PathLike,
    samples: Sequence[str],
    variants: Sequence[str],
    out_dir: str | os.PathLike | None = None,
) -> list[str]:
    """Render ``variants`` of ``samples`` of ``data_dir`` into ``out_dir`` (default ``data_dir``).

    :returns: the variant sample names, ``NAME-VARIANT``, in the order of ``samples`` then ``variants``.
    :raises DatasetError: a sample's raw recording is missing, or a variant changed its length.
    """
    from editor_env.audio import load_audio, write_audio

    data_dir = Path(data_dir)
    out_dir = Path(out_dir) if out_dir is not None else data_dir
    variants = parse_variants(list(variants))
    (out_dir / "input").mkdir(parents=True, exist_ok=True)
    (out_dir / "pointer_sequences").mkdir(parents=True, exist_ok=True)
    made = []
    for name in samples:
        source = data_dir / "input" / f"{name}_raw.wav"
        raw = None
        for variant in variants:
            new = f"{name}-{variant}"
            made.append(new)
            target = out_dir / "input" / f"{new}_raw.wav"
            if not target.exists():
                raw = raw or load_audio(source)
                audio = _board(variant)(raw.samples, raw.sample_rate)
                if audio.shape != raw.samples.shape:
                    raise DatasetError(
                        f"Variant {variant} of {source} changed its shape {raw.samples.shape} -> {audio.shape}: "
                        f"the reference would no longer line up."
                    )
                write_audio(target, audio, raw.sample_rate)
            for kind in REFERENCE_KINDS:
                src = data_dir / "pointer_sequences" / f"{name}_{kind}"
                dst = out_dir / "pointer_sequences" / f"{new}_{kind}"
                if src.exists() and not dst.exists():
                    shutil.copyfile(src, dst)
    return made

"""Cache what the pointer network trains on: raw mels and pointer sequences.

    python -m pointer_baseline.precache [SAMPLE ...] --data-dir training_data --cache-dir cache
                                        [--pointer-dir DIR] [--no-align]
                                        [--backend local|ray] [--workers N] [--ray-address ADDR]

For the named samples (default: every sample of the data set not yet cached):

1. mels (and beats, which the reward needs) through :func:`editor_env.cache.precache`, the same
   cache every paradigm reads (``cache/features/{sample}_raw.npz``); fresh files are skipped;
2. pointer sequences in ``--pointer-dir`` (default ``{data_dir}/pointer_sequences``): a sample that
   has ``{sample}_pointers.npy`` there (the synthetic generator's ground truth, or an earlier
   alignment) keeps it; one that has none is aligned from its raw/edit pair by
   :func:`imitation_data.align.align_files` (``--no-align`` reports it instead);
3. each sample's pointers are checked against its cached mel (:func:`pointer_baseline.data.load_sample`),
   so a training run never meets a pointer file made for another recording.

A sample is *cached* when its mel cache is fresh and its pointer file exists and fits the mel.
A sample that fails is reported with its reason and does not stop the others. Both steps run per
sample on local processes or a Ray cluster (:mod:`editor_env.executor`).
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from editor_env.errors import MusicEditError
from editor_env.params import DEFAULT_PARAMS, AudioParams

if TYPE_CHECKING:
    from editor_env.executor import Executor


@dataclasses.dataclass
class PointerPrecacheResult:
    """What one run did, by sample name."""

    mel_computed: list[str] = dataclasses.field(default_factory=list)
    mel_skipped: list[str] = dataclasses.field(default_factory=list)
    aligned: list[str] = dataclasses.field(default_factory=list)
    pointers_present: list[str] = dataclasses.field(default_factory=list)
    ready: list[str] = dataclasses.field(default_factory=list)
    """Samples ready for training (mel cached, pointers present and consistent)."""
    failed: dict[str, str] = dataclasses.field(default_factory=dict)


def _pointer_sample(pair, *, data_dir: str, cache_dir: str, pointer_dir: str, align: bool, params: AudioParams) -> bool:
    """Make sure ``pair`` has a pointer file that fits its cached mel (a :func:`map_samples` task);
    True when it was aligned here, False when the file was already there."""
    from pointer_baseline.data import load_sample, pointer_files

    pointer_file = pointer_files(pointer_dir, pair.name)[0]
    aligned = False
    if pointer_file.is_file():
        pass
    elif not align:
        raise MusicEditError(f"{pointer_file} is missing (alignment disabled with --no-align).")
    elif pair.edit_path is None:
        raise MusicEditError(
            f"{pointer_file} is missing and there is no edit to align: expected "
            f"{data_dir}/desired_output/{pair.name}_edit.wav."
        )
    else:
        from imitation_data.align import align_files

        align_files(pair.raw_path, pair.edit_path, pointer_dir, sample=pair.name, params=params, plot=False)
        aligned = True
    load_sample(cache_dir, pointer_dir, pair.name, params=params)
    return aligned


def precache_pointer_data(
    data_dir: str | os.PathLike,
    cache_dir: str | os.PathLike,
    *,
    samples: list[str] | None = None,
    pointer_dir: str | os.PathLike | None = None,
    align: bool = True,
    executor: Executor | None = None,
    params: AudioParams = DEFAULT_PARAMS,
    progress: bool = True,
) -> PointerPrecacheResult:
    """Cache mels and pointer sequences of ``samples`` (default: all) of ``data_dir`` (see the module doc).

    Both steps run per sample on ``executor`` (:class:`editor_env.executor.Executor`, default this process).
    """
    import functools

    from editor_env.cache import is_raw_cached, precache
    from editor_env.dataset import discover_pairs
    from editor_env.executor import map_samples
    from pointer_baseline.data import load_sample, pointer_files

    data_dir = Path(data_dir)
    pointer_dir = Path(pointer_dir) if pointer_dir is not None else data_dir / "pointer_sequences"
    pairs = discover_pairs(data_dir, require_edit=False, samples=samples)
    result = PointerPrecacheResult()
    if samples is None:  # every sample not yet cached
        todo = []
        for pair in pairs:
            ok = is_raw_cached(pair, cache_dir, params) and pointer_files(pointer_dir, pair.name)[0].is_file()
            if ok:
                try:
                    load_sample(cache_dir, pointer_dir, pair.name, params=params)
                except MusicEditError:
                    ok = False
            (result.ready if ok else todo).append(pair.name if ok else pair)
        pairs = todo
    if not pairs:
        return result
    run_on = {"executor": executor, "progress": progress}
    mel = precache(data_dir, cache_dir, params=params, samples=[p.name for p in pairs], **run_on)
    result.mel_computed, result.mel_skipped = list(mel.computed), list(mel.skipped)
    result.failed.update(mel.failed)
    pairs = [pair for pair in pairs if pair.name not in result.failed]
    task = functools.partial(
        _pointer_sample,
        data_dir=str(data_dir),
        cache_dir=str(cache_dir),
        pointer_dir=str(pointer_dir),
        align=align,
        params=params,
    )
    for outcome in map_samples(task, pairs, desc="pointers", **run_on):
        if not outcome.ok:
            result.failed[outcome.name] = outcome.error
            continue
        (result.aligned if outcome.value else result.pointers_present).append(outcome.name)
        result.ready.append(outcome.name)
    return result


def main(argv: list[str] | None = None) -> int:
    from editor_env.cli import report_failures
    from editor_env.executor import add_executor_args, executor_from_args

    parser = argparse.ArgumentParser(
        prog="python -m pointer_baseline.precache",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("samples", nargs="*", help="sample names (default: every sample not yet cached)")
    parser.add_argument("--data-dir", type=Path, default=Path("training_data"))
    parser.add_argument("--cache-dir", type=Path, default=Path("cache"))
    parser.add_argument("--pointer-dir", type=Path, default=None, help="default {data_dir}/pointer_sequences")
    add_executor_args(parser)
    parser.add_argument("--no-align", action="store_true", help="do not align pairs that have no pointer file")
    parser.add_argument("--no-progress", action="store_true")
    args = parser.parse_args(argv)
    try:
        print(f"Precaching mels and pointer sequences of {args.data_dir} into {args.cache_dir} …")
        result = precache_pointer_data(
            args.data_dir,
            args.cache_dir,
            samples=args.samples or None,
            pointer_dir=args.pointer_dir,
            align=not args.no_align,
            progress=not args.no_progress,
            executor=executor_from_args(args),
        )
    except MusicEditError as exc:
        print(f"pointer_baseline.precache: error: {exc}", file=sys.stderr)
        return 2
    print(
        f"mels: {len(result.mel_computed)} computed, {len(result.mel_skipped)} already cached; pointers: "
        f"{len(result.aligned)} aligned, {len(result.pointers_present)} present; {len(result.ready)} sample(s) ready, "
        f"{len(result.failed)} failed."
    )
    return report_failures(result.failed)


if __name__ == "__main__":
    sys.exit(main())

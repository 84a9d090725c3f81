"""Edit a recording with a trained pointer network: pointers -> EDL -> audio copied from the raw.

    python -m pointer_baseline.infer INPUT --checkpoint models/pointer/best.pt -o OUT.wav [--device auto]

The network predicts a raw frame for every output frame until it stops
(:meth:`pointer_baseline.model.PointerNetwork.decode`, linear time). Where a segment keeps the
recording's beat, the decoder moves its exit to a whole number of beats from its landing, by a few
frames at most, and the network picks the seam there (:mod:`pointer_baseline.whole_beats`: the
network often leaves a section a frame early or late). The pointers become an
:class:`~editor_env.edl.EditList` (:meth:`EditList.from_pointers`: runs of consecutive frames are
segments) and the audio is rendered from the raw recording's own samples, at its own rate and
channel count, with equal-power crossfades at every seam (:func:`editor_env.render.render`):
nothing is vocoded or generated. The EDL JSON is written beside the audio
(``{out_stem}.edl.json``, :func:`editor_env.edit.edl_path_for`); the input is never overwritten.

Python: :func:`pointer_edit_list` (an audio path or a precomputed analysis in, an EDL out) is what
the benchmark calls; :func:`pointer_edit_lists` (several edits, and the user's constraints through
constrained beam search, :mod:`pointer_baseline.decode`) is what ``musicedit edit --policy pointer``
calls; :func:`predict_pointers` works on a mel.
"""

from __future__ import annotations

import argparse
import functools
import os
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from editor_env.edl import EditList
from editor_env.errors import MusicEditError
from editor_env.params import DEFAULT_PARAMS, AudioParams
from pointer_baseline.errors import PointerError


@functools.lru_cache(maxsize=4)
def _cached_model(checkpoint: str, device: str, mtime_ns: int):
    from pointer_baseline.checkpoint import load_model

    return load_model(checkpoint, device=device)[0]


def load_pointer_model(checkpoint: str | os.PathLike, device: str = "auto"):
    """The trained network at ``checkpoint`` (cached per file version), in eval mode."""
    from pointer_baseline.trainers.pointer_trainer import resolve_device

    path = Path(checkpoint)
    if not path.is_file():
        raise PointerError(
            f"Checkpoint {path} does not exist: train one with `python -m pointer_baseline.trainers.pointer_trainer`."
        )
    return _cached_model(str(path), resolve_device(device), path.stat().st_mtime_ns)


def predict_pointers(model, mel: np.ndarray, **decode_kwargs: Any) -> tuple[np.ndarray, dict[str, Any]]:
    """Pointers ``(T_out,)`` int64 for a mel ``(n_inputs, T)`` and decoding info (see ``PointerNetwork.decode``)."""
    mel = np.asarray(mel, dtype=np.float32)
    if mel.ndim != 2 or mel.shape[0] != model.config.n_inputs:
        raise PointerError(
            f"The checkpoint's model expects an input of {model.config.n_inputs} rows (n_mels={model.config.n_mels}, "
            f"use_stems={model.config.use_stems}, use_beat_features={model.config.use_beat_features}, "
            f"recurrence_lags={model.config.recurrence_lags}); "
            f"got shape {mel.shape} (build it with pointer_baseline.data.model_inputs)."
        )
    return model.decode(mel, **decode_kwargs)


def _stem_mels(audio, params: AudioParams) -> np.ndarray:
    """The four stem mels of ``audio`` ``(4, n_mels, T)`` (Demucs when configured, else the fallback)."""
    from editor_env.audio import mel_spectrogram, resample
    from editor_env.stems import separate

    stems = separate(audio)
    mono = stems.waveforms.mean(axis=1)
    return np.stack(
        [mel_spectrogram(resample(mono[i], stems.sample_rate, params.sample_rate), params) for i in range(4)]
    )


def pointer_edit_list(source, checkpoint: str | os.PathLike, **kwargs: Any) -> EditList:
    """The pointer network's edit of one recording: the first of :func:`pointer_edit_lists` (same arguments)."""
    return pointer_edit_lists(source, checkpoint, **kwargs)[0]


def pointer_edit_lists(
    source,
    checkpoint: str | os.PathLike,
    *,
    sample_rate: int | None = None,
    raw_length: int | None = None,
    device: str = "auto",
    params: AudioParams = DEFAULT_PARAMS,
    stem_mels: np.ndarray | None = None,
    crossfade_s: float | None = None,
    constraints=None,
    n_candidates: int = 1,
    content=None,
) -> list[EditList]:
    """The pointer network's edits of one recording, best first.

    Without ``constraints``: one edit, by greedy decoding. With an
    :class:`~editor_env.constraints.EditConstraints`: up to ``n_candidates`` edits by constrained beam
    search (:func:`pointer_baseline.decode.constrained_decode`: whole beats, bar-aligned jumps, the
    locked regions and the length window), on the beat grid of the analysis, sample-exact at beat onsets,
    and, when no region is locked, the greedy edit after them: the caller
    (:func:`editor_env.paradigms.run_alternatives`) fits every end into the window and ranks them. The
    greedy edit cuts where the network points, frame-exact (exits on whole beats,
    :mod:`pointer_baseline.whole_beats`), where the beam search cuts on the tracked beats; the better
    the network, the more often the greedy edit wins.

    :param source: the raw recording: an audio path, an :class:`editor_env.audio.Audio`, or its
        :class:`editor_env.features.Analysis` (then ``sample_rate`` and ``raw_length``, the raw's
        own rate and length in samples, are required).
    :param checkpoint: ``best.pt`` / ``latest.pt`` from the trainer.
    :param stem_mels: ``(4, n_mels, T)`` stem mels for a model trained with stems (computed from
        the audio when ``source`` is audio and this is None).
    :param crossfade_s: seam crossfade (default: the EDL default).
    :param content: the content model's prediction (:class:`editor_env.content.ContentPrediction`): the beam
        search then prefers beats it calls song (:func:`pointer_baseline.decode.content_beat_bias`).
    :returns: the edit at the raw's own sample rate; ``meta`` holds the paradigm, checkpoint,
        output frames and how decoding ended.
    """
    from editor_env.audio import Audio, analysis_signal, load_audio
    from pointer_baseline.data import model_inputs

    model = load_pointer_model(checkpoint, device)
    cfg = model.config
    audio = None
    # The beats are always analysed: the greedy edit's exits go on whole beats, the beam search cuts on them.
    if isinstance(source, (str, os.PathLike)) and not cfg.use_stems:  # read in chunks when long: bounded memory
        from editor_env.audio import audio_extent
        from editor_env.cache import analyze_file

        analysis = analyze_file(source, params)
        sample_rate, raw_length = audio_extent(source)
    elif isinstance(source, (str, os.PathLike)):
        audio = load_audio(source)
    elif isinstance(source, Audio):
        audio = source
    if audio is not None:
        from editor_env.features import analyze_signal

        analysis = analyze_signal(analysis_signal(audio, params), params)
        sample_rate, raw_length = audio.sample_rate, audio.n_samples
    elif not isinstance(source, (str, os.PathLike)):
        analysis = source
        if getattr(source, "mel", None) is None:
            raise PointerError(
                f"pointer_edit_list: source must be an audio path, Audio or Analysis, not {type(source).__name__}."
            )
        if sample_rate is None or raw_length is None:
            raise PointerError(
                "pointer_edit_list: with an Analysis, give the raw's sample_rate and raw_length (samples)."
            )
    if cfg.use_stems and stem_mels is None:
        if audio is None:
            raise PointerError(f"{checkpoint} was trained with stems: pass stem_mels (4, n_mels, T) or the audio.")
        stem_mels = _stem_mels(audio, params)
    inputs = model_inputs(
        analysis,
        use_stems=cfg.use_stems,
        use_beat_features=cfg.use_beat_features,
        recurrence_lags=cfg.recurrence_lags,
        stem_mels=stem_mels,
        params=params,
    )
    start = time.perf_counter()
    if constraints is not None:
        edits = _constrained_edits(
            model,
            inputs,
            analysis,
            constraints,
            int(sample_rate),
            int(raw_length),
            checkpoint,
            crossfade_s,
            params,
            max(int(n_candidates), 1),
            start,
            content,
        )
        if not constraints.has_regions:  # greedy decoding knows no locked regions
            try:
                edits.append(
                    _greedy_edit(model, inputs, analysis, sample_rate, raw_length, checkpoint, crossfade_s, params)
                )
            except PointerError:  # it stopped at once: the beam's edits stand
                pass
        return edits
    return [_greedy_edit(model, inputs, analysis, sample_rate, raw_length, checkpoint, crossfade_s, params, start)]


def _greedy_edit(
    model, inputs, analysis, sample_rate, raw_length, checkpoint, crossfade_s, params, start=None
) -> EditList:
    """The network's own edit by greedy decoding (:meth:`~pointer_baseline.model.PointerNetwork.decode`), its exits
    on whole beats (:class:`pointer_baseline.whole_beats.BeatExits`)."""
    from pointer_baseline.whole_beats import beat_exits

    start = time.perf_counter() if start is None else start
    exits, beat_info = beat_exits(analysis, params)
    pointers, info = predict_pointers(model, inputs, exit_snap=exits)
    if pointers.size == 0:
        raise PointerError(
            f"The pointer network ({checkpoint}) stopped before its first frame: it is untrained or was trained "
            "on very different material."
        )
    edl = EditList.from_pointers(pointers, sample_rate=int(sample_rate), raw_length=int(raw_length), params=params)
    if crossfade_s is not None:
        edl.crossfade_s = float(crossfade_s)
    edl.meta.update(
        paradigm="pointer",
        checkpoint=str(checkpoint),
        output_frames=int(pointers.size),
        stopped_by=info["stopped_by"],
        decoding="greedy",
        **beat_info,
        **({} if exits is None else {"exits_moved": info["moved_exits"]}),
        decode_seconds=round(time.perf_counter() - start, 3),
    )
    return edl


def _constrained_edits(
    model,
    inputs,
    analysis,
    constraints,
    sample_rate,
    raw_length,
    checkpoint,
    crossfade_s,
    params,
    n,
    start,
    content=None,
) -> list[EditList]:
    """:func:`pointer_edit_lists` under constraints: beam search on the analysis' beat grid."""
    from editor_env.constraints import analysis_phrase_boundaries, beat_masks
    from editor_env.edl import segments_from_beat_path
    from pointer_baseline.decode import constrained_decode, content_beat_bias

    beats = getattr(analysis, "beats", None)
    if beats is None:
        raise PointerError("Constrained pointer decoding needs the recording's beat grid: pass an Analysis.")
    raw_s = raw_length / sample_rate
    constraints.validate(raw_s, beats.times)
    keep_beats, cut_beats = beat_masks(constraints, beats.times, raw_s)
    decode_kwargs = dict(
        target_s=constraints.target_s(raw_s),
        slack_s=constraints.slack,
        keep_beats=keep_beats,
        cut_beats=cut_beats,
        n_best=n,
        min_jump_beats=constraints.min_jump_beats,
        end_boundaries=analysis_phrase_boundaries(analysis) if constraints.ending == "phrase" else None,
        params=params,
        **({} if constraints.seam_penalty is None else {"seam_penalty": constraints.seam_penalty}),
    )
    bias = None if content is None else content_beat_bias(content.song)
    try:
        edits = constrained_decode(
            model, inputs, beats.times, beats.bar_position, raw_s, beat_bias=bias, **decode_kwargs
        )
    except PointerError:
        if bias is None:
            raise
        # the bias can crowd every hypothesis that meets the locks out of the beam: the network alone then decides
        bias = None
        edits = constrained_decode(model, inputs, beats.times, beats.bar_position, raw_s, **decode_kwargs)
    bounds = np.clip(np.round(np.append(beats.times, raw_s) * sample_rate).astype(np.int64), 0, raw_length)
    bounds[-1] = raw_length
    seconds = round(time.perf_counter() - start, 3)
    out = []
    for rank, edit in enumerate(edits, start=1):
        edl = EditList(sample_rate, raw_length, segments_from_beat_path(edit.beats, bounds))
        if crossfade_s is not None:
            edl.crossfade_s = float(crossfade_s)
        edl.meta.update(
            paradigm="pointer",
            checkpoint=str(checkpoint),
            decoding="constrained beam search",
            content_bias=bias is not None,
            log_prob=edit.score,
            beam_rank=rank,
            output_beats=int(edit.beats.size),
            decode_seconds=seconds,
        )
        out.append(edl)
    return out


def edit_with_pointer_network(
    raw_path: str | os.PathLike,
    out_path: str | os.PathLike,
    checkpoint: str | os.PathLike,
    *,
    device: str = "auto",
    params: AudioParams = DEFAULT_PARAMS,
) -> tuple[Path, Path, EditList]:
    """Edit ``raw_path`` into ``out_path`` (audio) and ``{out_stem}.edl.json``; returns both paths and the EDL.

    :raises MusicEditError: an output path that is the input, an unsupported suffix, bad audio or checkpoint.
    """
    from editor_env.edit import edit_file

    result = edit_file(raw_path, out_path, policy="pointer", checkpoint=checkpoint, device=device, params=params)
    return result.output_path, result.edl_path, result.edl


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m pointer_baseline.infer",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("input", type=Path, help="the raw recording (WAV, FLAC or OGG)")
    parser.add_argument("--checkpoint", required=True, help="best.pt / latest.pt from the pointer trainer")
    parser.add_argument("-o", "--output", type=Path, required=True, help="edited audio (.wav, .flac or .ogg)")
    parser.add_argument("--device", default="auto", help="auto (CUDA when present), cpu or cuda")
    args = parser.parse_args(argv)
    try:
        out, edl_path, edl = edit_with_pointer_network(args.input, args.output, args.checkpoint, device=args.device)
    except MusicEditError as exc:
        print(f"pointer_baseline.infer: error: {exc}", file=sys.stderr)
        return 2
    sr = edl.sample_rate
    print(
        f"{edl.raw_length / sr:.1f} s -> {edl.output_length() / sr:.1f} s, {len(edl.segments)} segment(s) "
        f"({edl.meta['stopped_by']}); wrote {out} and {edl_path}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())

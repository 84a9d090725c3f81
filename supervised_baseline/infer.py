"""Edit a recording with the supervised baseline: retarget labels -> predicted mel -> Griffin-Lim audio.

    python -m supervised_baseline.infer INPUT --checkpoint models/supervised/best.pt -o OUT.wav
                                        [--target-ratio 0.67] [--n-iter 32] [--device auto]

The edit labels (which raw frame each output frame plays, and the op per frame) come from the
**retarget editor** (:func:`editor_env.retarget.retarget`, the non-learned beat-level editor);
no learned label predictor is used. The model then *generates* the edited mel from the raw mel
gathered by those labels (:mod:`supervised_baseline.model`).

Writes, for ``-o OUT.wav``:

- ``OUT.wav``: audio reconstructed from the predicted mel by Griffin-Lim (:func:`mel_to_audio`:
  mel filter pseudo-inverse + ``librosa.griffinlim``, the steps of
  ``librosa.feature.inverse.mel_to_audio`` with a faster inversion), mono at the analysis rate (22050 Hz). This is
  **lossy**: the mel keeps 128 bands of magnitude and no phase, so the audio is smeared and
  phasey compared with the raw recording; it is for audition, not release. (Rendering the EDL
  with ``musicedit edit`` keeps full quality but ignores what the model learned.)
- ``OUT.mel.npy``: the predicted mel ``(n_mels, frames)`` float32 in [0, 1], normalised like the
  cache, so the common reward can score it (``Scorer(analysis, reference).score(mel)``).
- ``OUT.edl.json``: the retarget edit the labels came from (:func:`editor_env.edit.edl_path_for`).

The Python API is :func:`supervised_edit` (``-> (mel, edl, audio)``) and, for a mel only,
:func:`predict_mel`.
"""

from __future__ import annotations

import argparse
import dataclasses
import functools
import os
import sys
from pathlib import Path

import numpy as np

from editor_env.edl import EditList
from editor_env.errors import MusicEditError
from editor_env.params import DEFAULT_PARAMS, AudioParams
from supervised_baseline.errors import SupervisedError

AUDIO_SUFFIXES = (".wav", ".flac", ".ogg")


def mel_path_for(out_path: str | os.PathLike) -> Path:
    """Where the predicted mel of an output goes: ``{out_stem}.mel.npy`` beside it."""
    out_path = Path(out_path)
    return out_path.with_name(f"{out_path.stem}.mel.npy")


@functools.lru_cache(maxsize=4)
def _cached_model(checkpoint: str, mtime_ns: int, device: str):
    from supervised_baseline.checkpoint import load_model

    return load_model(checkpoint, device=device)


def load_for_inference(checkpoint: str | os.PathLike, device: str = "auto"):
    """``(model, checkpoint dict, device)`` (cached per file version and device)."""
    from supervised_baseline.checkpoint import read_checkpoint, resolve_device

    device = resolve_device(device)
    path = Path(checkpoint)
    if not path.is_file():
        read_checkpoint(path)  # raises the clear "does not exist" error
    model, data = _cached_model(str(path.resolve()), path.stat().st_mtime_ns, device)
    return model, data, device


def predict_mel(
    model,
    raw_mel: np.ndarray,
    pointers: np.ndarray,
    ops: np.ndarray,
    *,
    window_frames: int = 256,
    device: str = "cpu",
    batch_size: int = 8,
    gain_db: np.ndarray | None = None,
) -> np.ndarray:
    """The edited mel ``(n_mels, len(pointers))`` float32, clipped to [0, 1].

    Runs the model over windows of ``window_frames`` frames, half a window apart (the model was
    trained on crops of that length; attention over a whole 10-minute edit would not fit), and
    blends overlapping windows with Hann weights so no window edge shows.

    :param raw_mel: ``(n_mels, T_raw)`` in [0, 1]. :param pointers: ``(T_out,)`` raw frame per output
        frame (-1: NEW). :param ops: ``(T_out,)`` EditOp per output frame.
    :param gain_db: ``(T_out,)`` gain in dB per output frame (from the EDL), or None.
    """
    import torch as th

    from supervised_baseline.data import Prepared, SupervisedSample, collate

    sample = SupervisedSample("input", np.asarray(raw_mel, dtype=np.float32), pointers, ops, gain_db=gain_db)
    if sample.raw_mel.shape[0] != model.config.n_mels:
        raise SupervisedError(
            f"The raw mel has {sample.raw_mel.shape[0]} bins, the model {model.config.n_mels}: analyse with its parameters."
        )
    prepared = [Prepared.of(sample, model.config.position_scale_frames)]
    n = sample.n_frames
    length = min(window_frames, n)
    hop = max(length // 2, 1)
    starts = list(range(0, max(n - length, 0) + 1, hop))
    if starts[-1] + length < n:
        starts.append(n - length)
    weight = np.hanning(length + 2)[1:-1].astype(np.float32) if length > 2 else np.ones(length, np.float32)
    out = np.zeros((n, model.config.n_mels), np.float64)
    total = np.zeros(n, np.float64)
    model.eval()
    with th.no_grad():
        for k in range(0, len(starts), batch_size):
            chunk = [(0, s) for s in starts[k : k + batch_size]]
            batch = {key: th.from_numpy(v).to(device) for key, v in collate(prepared, chunk, length).items()}
            pred = model(batch["gathered"], batch["ops"], batch["features"], batch["valid"]).cpu().numpy()
            for (_, s), p in zip(chunk, pred):
                out[s : s + length] += p * weight[:, None]
                total[s : s + length] += weight
    return np.clip(out / total[:, None], 0.0, 1.0).T.astype(np.float32)


@functools.lru_cache(maxsize=2)
def _mel_pinv(params: AudioParams) -> np.ndarray:
    """Pseudo-inverse ``(1 + n_fft // 2, n_mels)`` of the cache's (unnormalised) mel filter bank."""
    import librosa

    basis = librosa.filters.mel(sr=params.sample_rate, n_fft=params.n_fft, n_mels=params.n_mels, norm=None)
    return np.linalg.pinv(basis).astype(np.float32)


def mel_to_audio(mel: np.ndarray, params: AudioParams = DEFAULT_PARAMS, *, n_iter: int = 32) -> np.ndarray:
    """Griffin-Lim audio ``(n,)`` float32 at ``params.sample_rate`` from a normalised mel (lossy).

    Undoes the cache's normalisation (:func:`editor_env.audio.mel_spectrogram`): ``mel_db = mel *
    top_db - top_db`` (ref = full scale), mel power = ``10 ** (mel_db / 10)``; the linear power
    spectrogram is estimated with the pseudo-inverse of the same unnormalised mel filters
    (negative values set to 0), times the Hann window's squared coherent gain ``(n_fft / 4) ** 2``
    that :func:`editor_env.audio.stft_power` divided out; then ``librosa.griffinlim`` estimates a
    phase in ``n_iter`` iterations. This is what ``librosa.feature.inverse.mel_to_audio`` does,
    except that its non-negative least squares takes about 0.1 s per frame on this machine
    (an hour for a 10-minute edit), the pseudo-inverse a few milliseconds for all frames.
    Lossy twice over: 128 mel bands cannot give back 1025 frequency bins, and the phase is guessed.
    """
    import librosa

    mel_db = np.asarray(mel, dtype=np.float64) * params.top_db - params.top_db
    mel_power = librosa.db_to_power(mel_db).astype(np.float32)
    power = np.maximum(_mel_pinv(params) @ mel_power, 0.0) * np.float32((params.n_fft / 4) ** 2)
    y = librosa.griffinlim(
        np.sqrt(power), n_iter=n_iter, hop_length=params.hop_length, n_fft=params.n_fft, random_state=0
    )
    return y.astype(np.float32)


@dataclasses.dataclass
class SupervisedEdit:
    """What :func:`supervised_edit` made; unpacks as ``mel, edl, audio``.

    :param mel: ``(n_mels, frames)`` float32 in [0, 1], the predicted edited mel.
    :param edl: the retarget edit whose labels the model was given.
    :param audio: ``(n,)`` float32 Griffin-Lim audio at ``sample_rate`` (lossy), or None when not asked for.
    :param sample_rate: the audio's rate (the analysis rate).
    :param pointers: ``(frames,)`` raw frame per output frame (the labels). :param ops: op per frame.
    """

    mel: np.ndarray
    edl: EditList
    audio: np.ndarray | None
    sample_rate: int
    pointers: np.ndarray
    ops: np.ndarray

    def __iter__(self):
        return iter((self.mel, self.edl, self.audio))


def check_constraints(constraints) -> None:
    """Refuse, before any work, what the supervised paradigm cannot do with an
    :class:`~editor_env.constraints.EditConstraints` (several alternatives)."""
    if constraints is not None and constraints.n_alternatives > 1:
        raise MusicEditError(
            "The supervised paradigm makes one edit (each would need its own Griffin-Lim pass): drop --alternatives, "
            "or use retarget, bc, bc_ppo or pointer."
        )


def supervised_edit(
    raw_path: str | os.PathLike,
    checkpoint: str | os.PathLike,
    *,
    target_ratio: float | None = None,
    slack_s: float | None = None,
    retarget_config=None,
    device: str = "auto",
    n_iter: int = 32,
    audio: bool = True,
    analysis=None,
    params: AudioParams = DEFAULT_PARAMS,
    constraints=None,
    content=None,
) -> SupervisedEdit:
    """Edit ``raw_path`` with the supervised baseline; returns ``(mel, edl, audio)`` (a :class:`SupervisedEdit`).

    :param checkpoint: ``best.pt`` / ``latest.pt`` from :mod:`supervised_baseline.trainer`.
    :param target_ratio: the retarget editor's target length ratio (default its config's, 0.67).
    :param slack_s: the retarget editor's allowed miss of the target, seconds (default its config's).
    :param retarget_config: a :class:`~editor_env.retarget.RetargetConfig` for the labels.
    :param audio: also reconstruct audio by Griffin-Lim (lossy; the slow part on long files).
    :param analysis: the raw's :class:`~editor_env.features.Analysis`, if already computed.
    :param constraints: an :class:`~editor_env.constraints.EditConstraints`: the retarget labels honour its
        target, slack, keep/cut regions and ending (so the generated mel does); one edit only (no alternatives).
    :param content: the content model's prediction for the raw (:func:`editor_env.content.predict`); None: the
        shipped content model's when one ships. The labels then come from the content-aware editor (retarget
        with the content model's keep costs), not from the audio-only retarget.
    :raises MusicEditError: unreadable input, an unusable checkpoint, or a target retarget cannot meet.
    """
    from editor_env.audio import analysis_signal, load_audio
    from editor_env.retarget import RetargetConfig, retarget
    from editor_env.synth import ops_from_edl
    from supervised_baseline.data import frame_gain_db

    model, data, device = load_for_inference(checkpoint, device)
    raw = load_audio(raw_path)
    if analysis is None:
        from editor_env.features import analyze_signal

        analysis = analyze_signal(analysis_signal(raw, params), params)
    config = retarget_config if retarget_config is not None else RetargetConfig()
    if target_ratio is not None:
        config = dataclasses.replace(config, target_ratio=float(target_ratio))
    if slack_s is not None:
        config = dataclasses.replace(config, slack_s=float(slack_s))
    check_constraints(constraints)
    if content is None:
        from editor_env.content import content_available, predict

        content = predict(analysis) if content_available() else None
    edl = retarget(
        analysis,
        sample_rate=raw.sample_rate,
        raw_length=raw.n_samples,
        config=config,
        constraints=constraints,
        content=content,
    )
    if constraints is not None:
        from editor_env.constraints import finish_edit

        finish_edit(edl, constraints, analysis, raw_duration_s=raw.n_samples / raw.sample_rate)
    pointers = np.minimum(edl.to_pointers(params), analysis.mel.shape[1] - 1)
    ops = ops_from_edl(edl, params)
    window = int(data.get("train_config", {}).get("segment_frames", 256))
    gain = frame_gain_db(edl, pointers.size, params)
    mel = predict_mel(model, analysis.mel, pointers, ops, window_frames=window, device=device, gain_db=gain)
    edl.meta.update(
        source=Path(raw_path).name,
        paradigm="supervised",
        labels="retarget" if content is None else "retarget with the content model",
        checkpoint=str(checkpoint),
        note="the audio is Griffin-Lim from the predicted mel (lossy); this EDL is the retarget edit it follows",
    )
    wave = mel_to_audio(mel, params, n_iter=n_iter) if audio else None
    return SupervisedEdit(mel, edl, wave, params.sample_rate, pointers, ops)


def edit_to_files(
    raw_path: str | os.PathLike,
    out_path: str | os.PathLike,
    checkpoint: str | os.PathLike,
    **kwargs,
) -> dict[str, Path]:
    """:func:`supervised_edit` and write the audio, ``{stem}.mel.npy`` and ``{stem}.edl.json``.

    :raises MusicEditError: an output path that is the input, or an unsupported audio suffix.
    """
    from editor_env.audio import write_audio
    from editor_env.edit import check_output_paths
    from editor_env.io import atomic_path

    raw_path, out_path = Path(raw_path), Path(out_path)
    paths = {"audio": out_path, "mel": mel_path_for(out_path)}
    paths["edl"] = check_output_paths(raw_path, out_path, paths["mel"])
    result = supervised_edit(raw_path, checkpoint, **kwargs)
    write_audio(out_path, result.audio, result.sample_rate)
    with atomic_path(paths["mel"]) as tmp:
        np.save(tmp, result.mel)
    result.edl.save(paths["edl"])
    return paths


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m supervised_baseline.infer",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("input", type=Path, help="the raw recording (WAV, FLAC or OGG)")
    parser.add_argument("--checkpoint", required=True, help="best.pt / latest.pt from supervised_baseline.trainer")
    parser.add_argument("-o", "--output", type=Path, required=True, help="the audio to write (.wav, .flac, .ogg)")
    parser.add_argument("--target-ratio", type=float, default=None, help="retarget's target length ratio (0.67)")
    parser.add_argument("--n-iter", type=int, default=32, help="Griffin-Lim iterations")
    parser.add_argument("--device", default="auto")
    args = parser.parse_args(argv)
    try:
        paths = edit_to_files(
            args.input,
            args.output,
            args.checkpoint,
            target_ratio=args.target_ratio,
            n_iter=args.n_iter,
            device=args.device,
        )
    except MusicEditError as exc:
        print(f"supervised_baseline.infer: error: {exc}", file=sys.stderr)
        return 2
    print(f"wrote {paths['audio']} (Griffin-Lim, lossy), {paths['mel']} and {paths['edl']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

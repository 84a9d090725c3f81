"""Summaries of an audio file or a data set, for ``musicedit info`` and the demo."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
import soundfile as sf

from editor_env.params import DEFAULT_PARAMS, AudioParams


def summarise(
    path: str | os.PathLike,
    *,
    cache_dir: str | os.PathLike = "cache",
    plot_dir: str | os.PathLike | None = None,
    params: AudioParams = DEFAULT_PARAMS,
) -> dict[str, Any]:
    """A JSON-able summary of an audio file (analysed now) or a data-set folder (from its cache).

    With ``plot_dir`` it also writes a picture per file or cached sample and lists them.
    """
    path = Path(path)
    if path.is_dir():
        return _summarise_dataset(path, Path(cache_dir), plot_dir, params)
    return _summarise_file(path, plot_dir, params)


def _analysis_summary(analysis) -> dict[str, Any]:
    from editor_env.features import feature_slice

    loud = analysis.features[:, feature_slice("rms_db_mean")][:, 0] * 80
    return {
        "tempo_bpm": round(analysis.beats.tempo, 2),
        "n_beats": analysis.beats.n_beats,
        "n_downbeats": int(analysis.beats.downbeats.sum()),
        "beat_source": analysis.beats.source,
        "mel_frames": int(analysis.mel.shape[1]),
        "features_shape": list(analysis.features.shape),
        "loudness_dbfs_median": round(float(np.median(loud)), 1),
        "quiet_beats": int((loud < -50).sum()),
    }


def _summarise_file(path: Path, plot_dir, params: AudioParams) -> dict[str, Any]:
    from editor_env.audio import analysis_signal, load_audio
    from editor_env.features import analyze_signal

    audio = load_audio(path)
    analysis = analyze_signal(analysis_signal(audio, params), params)
    summary = {
        "file": str(path),
        "duration_s": round(audio.duration, 3),
        "sample_rate": audio.sample_rate,
        "channels": audio.n_channels,
        **_analysis_summary(analysis),
    }
    if plot_dir is not None:
        from editor_env.plots import plot_analysis

        summary["picture"] = str(
            plot_analysis(analysis, Path(plot_dir) / f"{path.stem}_analysis.png", title=path.name, params=params)
        )
    return summary


def _summarise_dataset(data_dir: Path, cache_dir: Path, plot_dir, params: AudioParams) -> dict[str, Any]:
    from editor_env.cache import features_path, is_raw_cached, load_analysis
    from editor_env.dataset import discover_pairs

    samples = []
    for pair in discover_pairs(data_dir, require_edit=False):
        raw_s = sf.info(pair.raw_path).duration
        entry: dict[str, Any] = {"sample": pair.name, "raw_s": round(raw_s, 2)}
        if pair.edit_path is not None:
            edit_s = sf.info(pair.edit_path).duration
            entry.update(edit_s=round(edit_s, 2), edit_ratio=round(edit_s / raw_s, 3))
        cached = is_raw_cached(pair, cache_dir, params)
        entry["cached"] = cached
        pointer_file = data_dir / "pointer_sequences" / f"{pair.name}_pointers.npy"
        pointers = np.load(pointer_file) if pointer_file.is_file() else None
        if pointers is not None:
            entry["n_jumps"] = int((np.diff(pointers) != 1).sum())
        if cached:
            analysis = load_analysis(cache_dir, pair.name, params)
            entry.update(_analysis_summary(analysis))
            if plot_dir is not None:
                from editor_env.plots import plot_analysis

                edit_file = features_path(cache_dir, pair.name, "edit")
                edit_mel = np.load(edit_file)["mel"] if edit_file.is_file() else None
                picture = Path(plot_dir) / f"{pair.name}_analysis.png"
                entry["picture"] = str(
                    plot_analysis(
                        analysis, picture, title=pair.name, edit_mel=edit_mel, pointers=pointers, params=params
                    )
                )
        samples.append(entry)
    return {"data_dir": str(data_dir), "cache_dir": str(cache_dir), "n_samples": len(samples), "samples": samples}


def format_summary(summary: dict[str, Any]) -> str:
    """Human-readable text of :func:`summarise`'s result."""
    if "samples" not in summary:
        return "\n".join(f"{k:>22}: {v}" for k, v in summary.items())
    lines = [f"Data set {summary['data_dir']} ({summary['n_samples']} samples, cache {summary['cache_dir']})"]
    cols = ["sample", "raw_s", "edit_s", "edit_ratio", "tempo_bpm", "n_beats", "n_downbeats", "n_jumps", "cached"]
    lines.append("  ".join(f"{c:>11}" for c in cols))
    for entry in summary["samples"]:
        lines.append("  ".join(f"{str(entry.get(c, '-')):>11}" for c in cols))
    pictures = [e["picture"] for e in summary["samples"] if "picture" in e]
    if pictures:
        lines.append("Pictures: " + ", ".join(pictures))
    return "\n".join(lines)

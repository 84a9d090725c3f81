"""Pictures of an analysed recording: mel with beats and downbeats, and the edit's pointer path."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from editor_env.features import Analysis, feature_slice
from editor_env.io import atomic_path
from editor_env.params import DEFAULT_PARAMS, AudioParams


def waveform_envelope(ax, samples: np.ndarray, sample_rate: int, colour: str) -> None:
    """Draw the min/max waveform envelope of ``(channels, n)`` samples on ``ax`` (time in seconds);
    cheap for hours of audio (at most 4,000 bins)."""
    mono = samples.mean(axis=0)
    n_bins = min(4000, mono.size)
    edges = np.linspace(0, mono.size, n_bins + 1).astype(np.int64)
    lo = np.minimum.reduceat(mono, edges[:-1])
    hi = np.maximum.reduceat(mono, edges[:-1])
    t = edges[:-1] / sample_rate
    ax.fill_between(t, lo, hi, color=colour, linewidth=0)
    ax.set_xlim(0, mono.size / sample_rate)


_OP_COLOURS = {  # EditOp value: (colour, legend name)
    0: ("0.4", "copy"),
    1: ("tab:red", "skip"),
    2: ("tab:blue", "loop"),
    3: ("tab:orange", "fade"),
    4: ("tab:green", "gain"),
    5: ("black", "new"),
}


def pointer_scatter(ax, pointers: np.ndarray, ops: np.ndarray, frame_seconds: float, raw_duration_s: float) -> None:
    """Draw a pointer path on ``ax``: edit time against raw time (seconds), one dot per edit frame coloured by
    its :class:`~editor_env.ops.EditOp` (seams as large dots)."""
    from editor_env.ops import EditOp

    t_edit = np.arange(pointers.size) * frame_seconds
    for op, (colour, name) in _OP_COLOURS.items():
        sel = ops == op
        if sel.any():
            size = 2 if op in (EditOp.COPY, EditOp.FADE, EditOp.GAIN) else 30
            ax.scatter(t_edit[sel], pointers[sel] * frame_seconds, s=size, color=colour, label=name, linewidths=0)
    ax.set_xlim(0, max(t_edit[-1], frame_seconds) if t_edit.size else 1)
    ax.set_ylim(0, raw_duration_s)
    ax.set_xlabel("edit time (s)", fontsize=8)
    ax.set_ylabel("raw time (s)", fontsize=8)
    ax.set_title("ground-truth pointers (edit frame -> raw frame)", fontsize=9)
    ax.legend(loc="upper left", fontsize=7, markerscale=2)


def plot_analysis(
    analysis: Analysis,
    path: str | os.PathLike,
    *,
    title: str = "",
    edit_mel: np.ndarray | None = None,
    pointers: np.ndarray | None = None,
    params: AudioParams = DEFAULT_PARAMS,
) -> Path:
    """Write a PNG: the raw mel with beats (downbeats bold), beat loudness and novelty, and,
    when given, the edit's mel and its pointer path (edit time vs raw time)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    n_rows = 2 + (edit_mel is not None) + (pointers is not None)
    fig, axes = plt.subplots(n_rows, 1, figsize=(12, 2.6 * n_rows), squeeze=False)
    axes = axes[:, 0]
    fs = params.frame_seconds
    ax = axes[0]
    ax.imshow(
        analysis.mel,
        origin="lower",
        aspect="auto",
        cmap="magma",
        extent=(0, analysis.mel.shape[1] * fs, 0, analysis.mel.shape[0]),
    )
    for t, down in zip(analysis.beats.times, analysis.beats.downbeats):
        ax.axvline(t, color="cyan" if down else "white", lw=1.2 if down else 0.3, alpha=0.8 if down else 0.4)
    ax.set(
        title=f"{title} raw mel — {analysis.beats.n_beats} beats at {analysis.beats.tempo:.1f} BPM ({analysis.beats.source}); downbeats in cyan",
        ylabel="mel bin",
    )
    ax = axes[1]
    t = analysis.beats.times
    ax.step(
        t, analysis.features[:, feature_slice("rms_db_mean")][:, 0] * 80, where="post", label="beat loudness (dBFS)"
    )
    ax2 = ax.twinx()
    ax2.step(t, analysis.features[:, feature_slice("novelty")][:, 0], where="post", color="tab:orange", label="novelty")
    ax.set(xlim=(0, analysis.duration), ylabel="dBFS", xlabel="raw time (s)")
    ax2.set_ylabel("novelty")
    ax.legend(loc="upper left"), ax2.legend(loc="upper right")
    row = 2
    if edit_mel is not None:
        axes[row].imshow(
            edit_mel,
            origin="lower",
            aspect="auto",
            cmap="magma",
            extent=(0, edit_mel.shape[1] * fs, 0, edit_mel.shape[0]),
        )
        axes[row].set(title="edit mel", ylabel="mel bin", xlabel="edit time (s)")
        row += 1
    if pointers is not None:
        ax = axes[row]
        ax.plot(np.arange(pointers.size) * fs, pointers * fs, ".", ms=1.5)
        jumps = np.flatnonzero(np.diff(pointers) != 1) + 1
        ax.vlines(jumps * fs, 0, analysis.duration, colors="red", lw=0.6, alpha=0.6, label="cut / jump")
        ax.set(
            title="pointers: which raw moment plays at each edit moment", xlabel="edit time (s)", ylabel="raw time (s)"
        )
        ax.legend(loc="upper left")
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=90)
    plt.close(fig)
    return Path(path)

"""An HTML page about one edit: what was cut, where playback jumps, how it sounds, how it scores.

:func:`write_edit_report` writes a single self-contained HTML file (pictures embedded as PNG data
URIs; the two audio files are linked by relative paths, so keep them beside it):

- before/after waveforms: the raw with the kept spans shaded green and the cut spans red (and, when the
  raw's junk labels are known, a band under it coloured by junk kind: :data:`editor_env.labels.JUNK_COLOURS`),
  the edit with its seams marked;
- the pointer plot: edit time against raw time, one line per segment (a jump is a break in the
  line, a loop or a reorder a line that goes back);
- audio players for the raw recording and the edit;
- the common reward's total and components (against the reference edit when one is given), and
  the edit list in seconds;
- every seam (``musicedit edit --report`` writes the seam previews) with its place in the edit and the raw,
  its crossfade, its momentary loudness step before and after the renderer matched it and the gain it took,
  its discontinuity score and a player for a few seconds around it.

``musicedit edit RAW -o OUT --report report.html [--reference POINTERS.npy]`` writes it; with
``--reference DATA/pointer_sequences/{sample}_pointers.npy`` the ``{sample}_labels.json`` beside it colours
the junk.
"""

from __future__ import annotations

import base64
import html
import io
import os
from pathlib import Path

import numpy as np

from editor_env.edl import EditList
from editor_env.io import atomic_write_text


def _png(fig) -> str:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=100)
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def waveform_figure(raw_samples: np.ndarray, edit_samples: np.ndarray, sample_rate: int, edl: EditList, labels=None):
    """Two panels: the raw with kept (green) and cut (red) spans, the edit with its seams (dashed).

    :param labels: the raw's :class:`~editor_env.labels.RawLabels`, or None: its junk spans are drawn as a band
        along the bottom of the raw panel, coloured by kind."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    from editor_env.plots import waveform_envelope

    fig = Figure(figsize=(12, 5), layout="constrained")
    FigureCanvasAgg(fig)
    ax_raw, ax_edit = fig.subplots(2, 1)
    sr_raw = edl.sample_rate
    waveform_envelope(ax_raw, raw_samples, sr_raw, "0.35")
    kept = np.zeros(raw_samples.shape[1] + 1, np.int64)
    for seg in edl.segments:
        kept[seg.raw_start] += 1
        kept[min(seg.raw_end, kept.size - 1)] -= 1
    played = np.cumsum(kept)[:-1] > 0
    edges = np.flatnonzero(np.diff(np.concatenate([[False], played, [False]]).astype(np.int8)))
    ax_raw.axvspan(0, raw_samples.shape[1] / sr_raw, color="tab:red", alpha=0.12, linewidth=0, label="cut")
    for start, end in zip(edges[::2], edges[1::2]):
        ax_raw.axvspan(start / sr_raw, end / sr_raw, color="tab:green", alpha=0.25, linewidth=0)
    ax_raw.axvspan(0, 0, color="tab:green", alpha=0.25, label="kept")
    if labels is not None:
        from editor_env.labels import JUNK_COLOURS

        for span in labels.junk:
            colour = JUNK_COLOURS.get(span.kind, "black")
            ax_raw.axvspan(span.start_s, span.end_s, ymin=0.0, ymax=0.1, color=colour, linewidth=0)
        for kind in labels.kinds:
            ax_raw.axvspan(0, 0, ymin=0.0, ymax=0.1, color=JUNK_COLOURS.get(kind, "black"), label=f"junk: {kind}")
    ax_raw.legend(loc="upper right", fontsize=8, ncol=2 if labels is not None and labels.kinds else 1)
    junk_note = ", junk by kind along the bottom" if labels is not None and labels.junk else ""
    ax_raw.set_title(f"raw recording ({raw_samples.shape[1] / sr_raw:.1f} s): kept spans green, cuts red{junk_note}")
    waveform_envelope(ax_edit, edit_samples, sample_rate, "tab:blue")
    for out_sample, _, _ in edl.seams():
        ax_edit.axvline(out_sample / edl.sample_rate, color="black", linestyle="--", linewidth=0.8)
    ax_edit.set_title(f"edit ({edit_samples.shape[1] / sample_rate:.1f} s): seams dashed ({len(edl.seams())})")
    ax_edit.set_xlabel("time (s)")
    return fig


def pointer_figure(edl: EditList):
    """Edit time (x) against raw time (y), one line per segment."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(6.5, 5), layout="constrained")
    FigureCanvasAgg(fig)
    ax = fig.subplots()
    sr = edl.sample_rate
    for seg, start in zip(edl.segments, edl.output_starts()):
        x = np.array([start, start + seg.output_length()]) / sr
        y = np.array([seg.raw_start, seg.raw_end]) / sr
        ax.plot(x, y[::-1] if seg.effects.reverse else y, linewidth=2.0)
    ax.plot([0, edl.output_length() / sr], [0, edl.output_length() / sr], color="0.7", linestyle=":", linewidth=0.8)
    ax.set_xlabel("edit time (s)")
    ax.set_ylabel("raw time (s)")
    ax.set_title("pointer plot: which raw audio each moment of the edit plays")
    ax.set_xlim(0, max(edl.output_length() / sr, 1e-3))
    ax.set_ylim(0, edl.raw_length / sr)
    return fig


def write_edit_report(
    html_path: str | os.PathLike,
    raw_path: str | os.PathLike,
    edit_path: str | os.PathLike,
    edl: EditList,
    *,
    reward=None,
    title: str = "MusicEdit report",
    model: str = "",
    seams: list | None = None,
    labels=None,
) -> Path:
    """Write the HTML report of one edit (atomically) and return its path.

    :param raw_path: the raw recording; :param edit_path: the edited audio (both linked, relative to
        the report, and drawn).
    :param edl: the edit list that made ``edit_path`` from ``raw_path``.
    :param reward: a :class:`~editor_env.reward.RewardResult` of the edit, or None.
    :param model: which editor/model made the edit, shown in the header.
    :param seams: seam previews (:func:`editor_env.edit.write_seam_previews`): one dict per seam with
        ``index``, ``output_s``, ``raw_from_s``, ``raw_to_s``, ``discontinuity`` (or None) and ``clip``, and
        when rendered by :func:`editor_env.render.render` ``crossfade_s``, ``step_before_db``,
        ``step_after_db``, ``gain_db`` / ``skipped``.
    :param labels: the raw's junk labels (:class:`~editor_env.labels.RawLabels`), or None.
    """
    from editor_env.audio import load_audio

    html_path, raw_path, edit_path = Path(html_path), Path(raw_path), Path(edit_path)
    raw, edited = load_audio(raw_path), load_audio(edit_path)
    waves = _png(waveform_figure(raw.samples, edited.samples, edited.sample_rate, edl, labels))
    pointers = _png(pointer_figure(edl))

    def link(path: Path) -> str:
        return html.escape(Path(os.path.relpath(path.resolve(), html_path.resolve().parent)).as_posix())

    rows = ""
    if reward is not None:
        rows = "".join(
            f"<tr><td>{html.escape(name)}</td><td>{value:.3f}</td><td>{reward.weights_used.get(name, 0):.3f}</td></tr>"
            for name, value in reward.components.items()
        )
        rows = (
            f"<h2>Common reward: {reward.total:.3f}</h2><table><tr><th>component</th><th>value (1 = best)</th>"
            f"<th>weight</th></tr>{rows}</table>"
        )
    segments = "".join(
        f"<tr><td>{i}</td><td>{s.raw_start / edl.sample_rate:.2f}</td><td>{s.raw_end / edl.sample_rate:.2f}</td>"
        f"<td>{html.escape(', '.join(f'{k}={v}' for k, v in s.effects.to_dict().items()) or '-')}</td></tr>"
        for i, s in enumerate(edl.segments)
    )
    seam_rows = ""
    if seams:

        def db(value) -> str:
            return "-" if value is None else f"{value:+.1f}"

        def matched(s: dict) -> str:
            if s.get("skipped"):
                return html.escape(f"not matched: {s['skipped']}")
            return db(s.get("gain_db")) if "gain_db" in s else "-"

        seam_rows = "".join(
            f'<tr class="seam"><td>{s["index"]}</td><td>{s["output_s"]:.2f}</td><td>{s["raw_from_s"]:.2f} &rarr; '
            f"{s['raw_to_s']:.2f}</td><td>{'-' if s.get('crossfade_s') is None else round(1000 * s['crossfade_s'])}"
            f"</td><td>{db(s.get('step_before_db'))} &rarr; {db(s.get('step_after_db'))}</td><td>{matched(s)}</td>"
            f"<td>{'-' if s['discontinuity'] is None else format(s['discontinuity'], '.3f')}"
            f'</td><td><audio controls preload="none" src="{link(Path(s["clip"]))}"></audio></td></tr>'
            for s in seams
        )
        seam_rows = (
            "<h2>Seams</h2><p>Each clip plays the edit from a few seconds before to a few seconds after the seam. "
            "Loudness step: the momentary loudness (EBU R128, 400 ms) just after the seam minus just before it, "
            "beyond any gain the edit asks for, before &rarr; after the renderer matched it (gain: the matching "
            "gain, half on each side, eased back to unity over 2 s). Discontinuity: 1 - the common reward's "
            "per-seam score (spectral and loudness jump beyond the raw's own, beat and bar phase, read from the "
            'raw); 0 = seamless, "-" = an effect change only.</p><table id="seams"><tr><th>#</th>'
            "<th>edit time (s)</th><th>raw (s): leaves &rarr; enters</th><th>crossfade (ms)</th>"
            "<th>loudness step (dB)</th><th>matching gain (dB)</th><th>discontinuity</th><th>listen</th></tr>"
            f"{seam_rows}</table>"
        )
    page = f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title>
<style>body{{font-family:sans-serif;max-width:1250px;margin:auto;padding:1em}} img{{max-width:100%}}
table{{border-collapse:collapse}} td,th{{border:1px solid #ccc;padding:2px 8px;text-align:right}}</style></head>
<body>
<h1>{html.escape(title)}</h1>
<p>{html.escape(raw_path.name)}: {raw.duration:.1f} s &rarr; {html.escape(edit_path.name)}: {edited.duration:.1f} s
(ratio {edited.duration / raw.duration:.3f}), {len(edl.segments)} segment(s), {len(edl.seams())} seam(s).
{html.escape(model)}</p>
<h2>Listen</h2>
<p>raw: <audio id="raw-audio" controls preload="none" src="{link(raw_path)}"></audio></p>
<p>edit: <audio id="edit-audio" controls preload="none" src="{link(edit_path)}"></audio></p>
<h2>Before and after</h2>
<img id="waveforms" alt="raw and edited waveforms with the cuts marked" src="{waves}">
<h2>Pointer plot</h2>
<img id="pointers" alt="edit time against raw time" src="{pointers}">
{rows}
{seam_rows}
<h2>Edit list</h2>
<table><tr><th>#</th><th>raw start (s)</th><th>raw end (s)</th><th>effects</th></tr>{segments}</table>
</body></html>
"""
    return atomic_write_text(html_path, page)


__all__ = ["pointer_figure", "waveform_figure", "write_edit_report"]

"""Picture of one labelled recording's edit by the shipped default: the raw coloured by junk kind, and what it kept.

    python scripts/plot_real_edit.py --data CORPUS/jams/test/training_data --sample NAME --out docs/images/x.png

The default editor (retarget with the content model, the music choosing the length) edits the raw from its cached
analysis; the picture has the raw's waveform with its junk spans shaded by kind (the labels), the spans the edit
plays in green and the content model's per-beat song probability.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def main(argv: list[str] | None = None) -> int:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.patches import Patch

    from editor_env.audio import load_audio
    from editor_env.constraints import EditConstraints
    from editor_env.io import atomic_path
    from editor_env.labels import JUNK_COLOURS, RawLabels, junk_song_score, labels_path
    from editor_env.paradigms import EditRequest, run_paradigm
    from editor_env.plots import waveform_envelope
    from editor_env.tasks import load_tasks

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--sample", required=True)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args(argv)
    task = load_tasks(args.data, args.data.parent / "cache", samples=[args.sample])[0]
    raw = load_audio(task.raw_path)
    labels = RawLabels.load(labels_path(args.data, args.sample))
    request = EditRequest(
        task.analysis, raw.sample_rate, raw.n_samples, raw_path=task.raw_path, constraints=EditConstraints()
    )
    edl = run_paradigm("retarget", request)
    score = junk_song_score(labels, edl.to_pointers())
    fig = Figure(figsize=(13, 5), layout="constrained")
    FigureCanvasAgg(fig)
    ax, ax_p = fig.subplots(2, 1, height_ratios=(2, 1), sharex=True)
    waveform_envelope(ax, raw.samples, raw.sample_rate, "0.35")
    for span in labels.junk:
        ax.axvspan(
            span.start_s, span.end_s, ymin=0.5, ymax=1.0, color=JUNK_COLOURS.get(span.kind, "red"), alpha=0.45, lw=0
        )
    for seg in edl.segments:
        ax.axvspan(
            seg.raw_start / raw.sample_rate,
            seg.raw_end / raw.sample_rate,
            ymin=0.0,
            ymax=0.5,
            color="tab:green",
            alpha=0.3,
            lw=0,
        )
    handles = [Patch(color=JUNK_COLOURS[k], alpha=0.5, label=k.replace("_", " ")) for k in labels.kinds]
    handles.append(Patch(color="tab:green", alpha=0.4, label="kept by the default"))
    ax.legend(handles=handles, loc="upper right", fontsize=7, ncol=min(len(handles), 7))
    ax.set_title(
        f"{args.sample}: junk by kind (upper half) and what the default kept (lower half); "
        f"junk removed {score.junk_removed:.2f}, song kept {score.song_kept:.2f}, F {score.f:.3f}",
        fontsize=9,
    )
    song = request.content_prediction().song
    ax_p.step(task.analysis.beats.times, song, where="post", color="tab:blue", lw=0.8)
    ax_p.set_ylim(-0.05, 1.05)
    ax_p.set_ylabel("p(song)", fontsize=8)
    ax_p.set_xlabel("raw time (s)", fontsize=8)
    for a in (ax, ax_p):
        a.tick_params(labelsize=7)
    with atomic_path(args.out) as tmp:
        fig.savefig(tmp, format="png", dpi=90)
    print(f"Wrote {args.out} (F {score.f:.3f}; {len(edl.segments)} segments)")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Choose the content-driven editor's settings on the real corpus's **val** split (never test).

    python scripts/tune_content_editor.py [--model editor_env/models/content.pt] [--data VAL_DIR]
        [--weights 0.5,1,2,4] [--switch-costs 1,2,4] [--slack-fractions 0.03,0.05,0.1] [--out bench_output/tune]

For every setting, the retarget editor (with the content model's keep costs, ``RetargetConfig.content_weight``)
edits every val jam at the length the music asks for (the beats :func:`editor_env.content.keep_decision` keeps
with ``switch_cost``, slack ``slack_fraction`` of it), and the edits are scored: junk removed / song kept / F
(:func:`editor_env.labels.junk_song_score`), seams per minute of output, and the same F of the bare keep decision
(the content model alone, cut on beats); then the keep decision alone by switch cost and prior. Prints Markdown
tables (the first best F first) and writes them to OUT/tune.md.
"""

from __future__ import annotations

import argparse
import dataclasses
import itertools
import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def main(argv: list[str] | None = None) -> int:
    from editor_env import corpus
    from editor_env.audio import audio_extent
    from editor_env.constraints import EditConstraints
    from editor_env.content import ContentModel, beat_frames_played, content_length, keep_decision
    from editor_env.errors import MusicEditError
    from editor_env.io import atomic_write_text
    from editor_env.labels import RawLabels, junk_song_score, labels_path
    from editor_env.retarget import RetargetConfig, retarget
    from editor_env.tasks import load_tasks

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", type=Path, default=REPO / "editor_env" / "models" / "content.pt")
    parser.add_argument("--data", type=Path, default=None, help="labelled data set (default: the corpus val jams)")
    parser.add_argument("--weights", default="0.5,1,2,4")
    parser.add_argument("--switch-costs", default="1,2,4")
    parser.add_argument("--slack-fractions", default="0.05")
    parser.add_argument("--beats-per-bar", default="4", help="retarget's bar for jumps and segments (1: any beat)")
    parser.add_argument("--min-segment-beats", default="0", help="retarget's shortest segment (0: one bar)")
    parser.add_argument("--priors", default="0.4,0.5,0.6", help="keep_decision priors for the second table")
    parser.add_argument("--out", type=Path, default=Path("bench_output/tune_content_editor"))
    args = parser.parse_args(argv)
    floats = lambda text: [float(x) for x in text.split(",") if x]  # noqa: E731
    try:
        data = args.data or corpus.require_split("val")
        if "test" in data.parts:
            raise MusicEditError("The test split is frozen: tune on val (or train), never on test.")
        model = ContentModel.load(args.model)
        tasks = load_tasks(data, data.parent / "cache")
    except MusicEditError as exc:
        print(f"tune_content_editor: error: {exc}", file=sys.stderr)
        return 2
    prepared = []
    for task in tasks:
        path = labels_path(data, task.name)
        if path.is_file():
            sr, n = audio_extent(task.raw_path)
            prepared.append((task, RawLabels.load(path), model.predict(task.analysis), sr, n))
    rows = []
    for weight, switch, fraction, bar, min_seg in itertools.product(
        floats(args.weights),
        floats(args.switch_costs),
        floats(args.slack_fractions),
        floats(args.beats_per_bar),
        floats(args.min_segment_beats),
    ):
        figures = {"F": [], "JR": [], "SK": [], "seams_per_min": [], "decision_F": [], "failed": 0}
        config = dataclasses.replace(
            RetargetConfig(), content_weight=weight, beats_per_bar=int(bar), min_segment_beats=int(min_seg) or None
        )
        for task, labels, prediction, sr, n in prepared:
            raw_s = n / sr
            keep = keep_decision(prediction.song, switch_cost=switch)
            figures["decision_F"].append(junk_song_score(labels, beat_frames_played(keep, task.analysis)).f)
            target, slack = content_length(
                prediction, task.analysis, raw_s, switch_cost=switch, slack_fraction=fraction
            )
            request = EditConstraints(content_target_s=target, content_slack_s=slack)
            try:
                edl = retarget(
                    task.analysis, sample_rate=sr, raw_length=n, config=config, constraints=request, content=prediction
                )
            except MusicEditError:
                figures["failed"] += 1
                continue
            score = junk_song_score(labels, edl.to_pointers())
            figures["F"].append(score.f)
            figures["JR"].append(score.junk_removed)
            figures["SK"].append(score.song_kept)
            figures["seams_per_min"].append(len(edl.seams()) / max(edl.output_length() / sr / 60, 1e-9))
        rows.append(
            {
                "content_weight": weight,
                "switch_cost": switch,
                "slack_fraction": fraction,
                "beats_per_bar": int(bar),
                "min_segment_beats": int(min_seg) or int(bar),
                **{k: float(np.nanmean(v)) if isinstance(v, list) and v else v for k, v in figures.items()},
            }
        )
    rows.sort(key=lambda r: -r["F"])
    lines = [
        f"Content-driven retarget on {len(prepared)} recordings of {data} (model {args.model}):",
        "",
        "| content weight | switch cost | slack fraction | bar (beats) | shortest segment | F | junk removed | song kept | "
        "seams / min | keep decision F | failed |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['content_weight']:g} | {r['switch_cost']:g} | {r['slack_fraction']:g} | {r['beats_per_bar']} | "
            f"{r['min_segment_beats']} | {r['F']:.4f} | {r['JR']:.4f} | "
            f"{r['SK']:.4f} | {r['seams_per_min']:.2f} | {r['decision_F']:.4f} | {r['failed']} |"
        )
    lines += [
        "",
        "The content model's own keep decision (cut on beats), by switch cost and prior:",
        "",
        "| switch cost | prior | F | junk removed | song kept |",
        "|---|---|---|---|---|",
    ]
    for switch, prior in itertools.product(floats(args.switch_costs), floats(args.priors)):
        scores = [
            junk_song_score(
                labels,
                beat_frames_played(keep_decision(prediction.song, switch_cost=switch, prior=prior), task.analysis),
            )
            for task, labels, prediction, _, _ in prepared
        ]
        lines.append(
            f"| {switch:g} | {prior:g} | {np.mean([x.f for x in scores]):.4f} | "
            f"{np.nanmean([x.junk_removed for x in scores]):.4f} | {np.mean([x.song_kept for x in scores]):.4f} |"
        )
    text = "\n".join(lines)
    print(text)
    args.out.mkdir(parents=True, exist_ok=True)
    atomic_write_text(args.out / "tune.md", text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())

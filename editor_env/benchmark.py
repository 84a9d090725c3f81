"""One benchmark of every editing paradigm on the same held-out recordings (``musicedit benchmark``).

Every paradigm (:mod:`editor_env.paradigms`) edits every raw recording of a data set (all of
them are treated as held out: benchmark on recordings the models were not trained on). Each edit
is scored against the recording's reference edit (``pointer_sequences/{sample}_pointers.npy``,
from the synthetic generator or ``musicedit align``) when there is one.

Metrics, per paradigm and recording (the table reports the mean over recordings):

``reward``
    The common reward (:mod:`editor_env.reward`), in [0, 1]; its components are reported too
    (``sequence_similarity``, ``mel_similarity``, ``cut_f_measure``, ``length``,
    ``seam_quality``, ``repetition``, ``silence``; ``RewardResult.describe()`` defines each).
``cut_f``
    Cut-point F-measure against the reference within one beat: the raw times where the output
    leaves or enters the raw timeline, matched one-to-one to the reference's within
    ``cut_tolerance_beats`` (1 beat) with ``mir_eval``'s hit-rate matching; 1 when neither cuts.
``frame_recall`` / ``frame_precision``
    Frame coverage: the fraction of the raw analysis frames the reference plays that the output
    also plays (recall), and of those the output plays that the reference plays (precision).
    Order is ignored (``sequence_similarity`` judges order).
``ratio`` / ``ratio_error``
    Output length / raw length, and its absolute difference from the target ratio.
``n_seams`` / ``seam_discontinuity``
    Seams (places where playback jumps in the raw) and their mean discontinuity, ``1 - `` the mean
    per-seam score of ``seam_quality`` (spectral and loudness jump beyond the raw's own change,
    beat and bar phase): 0 = seamless. Not defined for a mel-only output (no seams to inspect).
``repetition_rate``
    The fraction of output frames that replay a raw beat more often than ``max_uses`` allows.
``junk_removed`` / ``song_kept`` / ``junk_f`` and ``removed_<kind>``
    For recordings with labels (``pointer_sequences/{sample}_labels.json``: jams, synthetic pairs, aligned human
    pairs): the share of the raw's junk time the edit does not play (JR), the share of its song time it plays
    (SK), their harmonic mean F (keep everything: 0; the ground truth: 1) and, per junk kind, the share of that
    kind's time removed (:func:`editor_env.labels.junk_song_score`). The summary is the mean over recordings;
    a kind's figure is the mean over the recordings that hold it.
``seconds`` / ``x_real_time``
    Wall time of the edit itself (analysis is cached and shared; scoring not included; each
    paradigm first edits the first recording once untimed, so loading its model is not counted),
    and the raw duration divided by it.

For a mel-only output (``supervised``) the pointers are the reward's estimate (each output beat
matched to the most similar raw beat), so its cut and coverage figures are estimates too.

Files written into the output folder: ``results.csv`` (one row per paradigm and recording),
``summary.csv`` and ``benchmark.md`` (mean per paradigm), ``benchmark.json`` (everything, with
the command's settings), ``components.png`` (mean reward components per paradigm),
``per_sample.png`` (each paradigm's reward against the retarget editor's, per recording) and, for labelled
data, ``junk_kinds.png`` (the share of each junk kind removed, per paradigm).
"""

from __future__ import annotations

import csv
import dataclasses
import json
import math
import os
import time
from pathlib import Path
from typing import Any

import numpy as np

from editor_env.errors import MusicEditError
from editor_env.io import atomic_path, atomic_write_text
from editor_env.params import DEFAULT_PARAMS, AudioParams
from editor_env.reward import COMPONENTS

METRICS: tuple[str, ...] = (
    "reward",
    "cut_f",
    "frame_recall",
    "frame_precision",
    "ratio",
    "ratio_error",
    "n_seams",
    "seam_discontinuity",
    "repetition_rate",
    "junk_removed",
    "song_kept",
    "junk_f",
    "seconds",
    "x_real_time",
)
"""The per-recording figures (module docstring), then the reward components."""


@dataclasses.dataclass
class BenchmarkResult:
    """Rows of a benchmark run.

    :param rows: one dict per (paradigm, recording): ``paradigm``, ``sample``, :data:`METRICS` and the
        reward components (NaN where a figure is not defined), or ``error`` when the edit failed.
    :param paradigms: the paradigms in the order asked for.
    :param target_ratio: the requested output / raw length (None: the music chose it per recording).
    """

    rows: list[dict[str, Any]]
    paradigms: list[str]
    target_ratio: float | None
    settings: dict[str, Any] = dataclasses.field(default_factory=dict)

    @property
    def junk_kinds(self) -> list[str]:
        """The junk kinds of the labelled recordings (``removed_<kind>`` columns), sorted."""
        return sorted({k[len("removed_") :] for r in self.rows for k in r if k.startswith("removed_")})

    @property
    def columns(self) -> list[str]:
        """Every per-recording figure: :data:`METRICS`, the reward components, the per-kind removal."""
        return [*METRICS, *COMPONENTS, *(f"removed_{k}" for k in self.junk_kinds)]

    def summary(self) -> list[dict[str, Any]]:
        """Mean of every figure per paradigm over the recordings it edited; ``failed`` counts the rest."""
        out = []
        for name in self.paradigms:
            rows = [r for r in self.rows if r["paradigm"] == name]
            done = [r for r in rows if not r.get("error")]
            entry: dict[str, Any] = {"paradigm": name, "samples": len(done), "failed": len(rows) - len(done)}
            for key in self.columns:
                values = [r[key] for r in done if not _missing(r.get(key))]
                entry[key] = float(np.mean(values)) if values else float("nan")
            out.append(entry)
        return out


def _missing(value) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def _coverage(out_pointers: np.ndarray, ref_pointers: np.ndarray | None) -> tuple[float, float]:
    if ref_pointers is None:
        return float("nan"), float("nan")
    out_frames, ref_frames = np.unique(out_pointers[out_pointers >= 0]), np.unique(ref_pointers[ref_pointers >= 0])
    common = np.intersect1d(out_frames, ref_frames, assume_unique=True).size
    recall = common / ref_frames.size if ref_frames.size else float("nan")
    precision = common / out_frames.size if out_frames.size else 0.0
    return float(recall), float(precision)


def score_edit(
    scorer, output, *, target_ratio: float, seconds: float, raw_duration_s: float, labels=None
) -> dict[str, Any]:
    """The benchmark's figures (:data:`METRICS`, the components and, with ``labels``
    (:class:`~editor_env.labels.RawLabels`), the junk-removed / song-kept score) of one edit of one recording."""
    from editor_env.labels import junk_song_score

    result = scorer.score(output)
    details = result.details
    played = scorer.output_pointers(output)
    recall, precision = _coverage(played, scorer.reference_pointers)
    seam_scores = details.get("seam_scores")
    row: dict[str, Any] = {
        "reward": result.total,
        "cut_f": result.components.get("cut_f_measure", float("nan")),
        "frame_recall": recall,
        "frame_precision": precision,
        "ratio": float(details["ratio"]),
        "ratio_error": abs(float(details["ratio"]) - target_ratio),
        "n_seams": float(details["n_seams"]) if "n_seams" in details else float("nan"),
        "seam_discontinuity": (
            float(1.0 - np.mean(seam_scores))
            if seam_scores is not None and len(seam_scores)
            else (0.0 if details.get("n_seams") == 0 else float("nan"))
        ),
        "repetition_rate": float(details.get("repeated_fraction", float("nan"))),
        **dict.fromkeys(("junk_removed", "song_kept", "junk_f"), float("nan")),
        "seconds": seconds,
        "x_real_time": raw_duration_s / max(seconds, 1e-9),
    }
    row.update({c: result.components.get(c, float("nan")) for c in COMPONENTS})
    if labels is not None:
        row.update(junk_song_score(labels, played, scorer.params).as_row())
    return row


def resolve_checkpoints(
    paradigms: list[str], checkpoints: dict[str, str] | None = None, models_dir: str | os.PathLike | None = None
) -> tuple[dict[str, str], dict[str, str]]:
    """``(checkpoints, shipped)``: ``checkpoints`` plus, for every learned paradigm given none, the model of that
    paradigm that ships with the package (:func:`editor_env.defaults.shipped_checkpoint`); ``shipped`` lists
    those (``{paradigm: path}``), for the report to say so.

    :raises MusicEditError: a learned paradigm without a checkpoint when none of its kind ships; the message
        names the training command and the flag.
    """
    from editor_env.defaults import MODELS_DIR, shipped_checkpoint
    from editor_env.paradigms import get_paradigm

    checkpoints, shipped = dict(checkpoints or {}), {}
    for name in paradigms:
        paradigm = get_paradigm(name)
        if not paradigm.needs_checkpoint or checkpoints.get(name):
            continue
        found = shipped_checkpoint(paradigm.name, MODELS_DIR if models_dir is None else models_dir)
        if found is None:
            raise MusicEditError(
                f"Paradigm {name!r} needs a trained model and none ships with musicedit: train one with "
                f"`{paradigm.trained_by}` and pass --checkpoint {name}=PATH."
            )
        checkpoints[name] = shipped[name] = str(found)
    return checkpoints, shipped


def run_benchmark(
    data_dir: str | os.PathLike,
    paradigms: list[str],
    *,
    checkpoints: dict[str, str] | None = None,
    cache_dir: str | os.PathLike | None = None,
    samples: list[str] | None = None,
    target_ratio: float | None = None,
    slack_s: float | None = None,
    seam_penalty: float | None = None,
    device: str = "auto",
    reward_config=None,
    params: AudioParams = DEFAULT_PARAMS,
    progress: bool = True,
) -> BenchmarkResult:
    """Edit every recording of ``data_dir`` with every paradigm and score the edits.

    Every paradigm gets the same request ``musicedit edit --target-ratio R --slack S`` makes
    (:class:`~editor_env.constraints.EditConstraints`): with neither, the music chooses the length (the content
    model's kept beats, :func:`editor_env.paradigms.resolve_length`; the 0.67 prior without a content model);
    the pointer network decodes under the window and every edit's end is fitted into it alike. The reward's
    ``length`` component and ``ratio_error`` judge each recording against the length it was asked for.

    :param paradigms: names from :data:`editor_env.paradigms.PARADIGMS`.
    :param checkpoints: ``{paradigm: checkpoint}`` for the learned paradigms; a learned paradigm left out uses
        the model of its kind that ships with the package (:func:`resolve_checkpoints`; listed in
        ``settings["shipped_models"]``).
    :param samples: only these recordings (default: all of the data set).
    :param target_ratio: output / raw length asked for; None: the music chooses.
    :param slack_s: allowed miss of the length, seconds (None: 2 s, or the content mode's own).
    :param seam_penalty: the pointer network's cost per seam in nats
        (:class:`~editor_env.constraints.EditConstraints`; None: the decoder's default).
    :raises MusicEditError: an unknown paradigm, a learned paradigm without its checkpoint (none given, none
        shipped) or with another paradigm's, or a data
        set without recordings. A paradigm that fails on one recording is recorded as an error row
        (named in the report); the others go on.
    """

    from tqdm import tqdm

    from editor_env.audio import audio_extent
    from editor_env.constraints import EditConstraints
    from editor_env.constraints import reward_config as requested_reward_config
    from editor_env.labels import RawLabels, labels_path
    from editor_env.paradigms import EditRequest, check_checkpoint, resolve_length, run_paradigm
    from editor_env.reward import Scorer
    from editor_env.tasks import load_tasks

    checkpoints = dict(checkpoints or {})
    if not paradigms:
        raise MusicEditError("The benchmark needs at least one paradigm (--paradigms retarget,bc_ppo,...).")
    unknown = set(checkpoints) - set(paradigms)
    if unknown:
        raise MusicEditError(f"--checkpoint given for {sorted(unknown)}, which are not in --paradigms {paradigms}.")
    checkpoints, shipped = resolve_checkpoints(paradigms, checkpoints)
    for name in paradigms:
        check_checkpoint(name, checkpoints.get(name))
    tasks = load_tasks(data_dir, cache_dir, samples=samples, params=params)
    if not tasks:
        raise MusicEditError(f"No recordings in {data_dir}/input: nothing to benchmark.")
    request_constraints = EditConstraints(
        target_ratio=target_ratio, slack_s=None if slack_s is None else float(slack_s), seam_penalty=seam_penalty
    ).validate()
    rows: list[dict[str, Any]] = []
    modes: dict[str, int] = {}
    warmed: set[str] = set()
    bar = tqdm(total=len(tasks) * len(paradigms), desc="benchmark", unit="edit", disable=not progress)
    for task in tasks:
        sample_rate, raw_length = audio_extent(task.raw_path)
        raw_s = raw_length / sample_rate
        label_file = labels_path(data_dir, task.name)
        labels = RawLabels.load(label_file) if label_file.is_file() else None
        base = EditRequest(
            task.analysis,
            sample_rate,
            raw_length,
            constraints=request_constraints,
            raw_path=task.raw_path,
            name=task.name,
            target_ratio=0.67 if target_ratio is None else target_ratio,
            device=device,
            params=params,
        )
        resolved = resolve_length(dataclasses.replace(base))  # what each paradigm is asked (it resolves again, timed)
        asked = resolved.constraints
        modes[asked.length_mode] = modes.get(asked.length_mode, 0) + 1
        config = requested_reward_config(asked, raw_s, base=reward_config)
        content = None if labels is not None else resolved.content
        scorer = Scorer(task.analysis, task.reference, config, params, labels=labels, content=content)
        for name in paradigms:
            bar.set_postfix_str(f"{name} {task.name}")
            request = dataclasses.replace(base, checkpoint=checkpoints.get(name))
            row: dict[str, Any] = {"paradigm": name, "sample": task.name, "error": ""}
            try:
                if name not in warmed:  # the first call loads the model (and compiles): not timed
                    warmed.add(name)
                    run_paradigm(name, dataclasses.replace(request))
                started = time.perf_counter()
                output = run_paradigm(name, request)
                seconds = time.perf_counter() - started
                row.update(
                    score_edit(
                        scorer,
                        output,
                        target_ratio=asked.ratio(raw_s),
                        seconds=seconds,
                        raw_duration_s=raw_s,
                        labels=labels,
                    )
                )
            except MusicEditError as exc:
                row["error"] = str(exc)
            rows.append(row)
            bar.update()
    bar.close()
    settings = {
        "data_dir": str(data_dir),
        "paradigms": list(paradigms),
        "checkpoints": checkpoints,
        "shipped_models": shipped,
        "samples": [t.name for t in tasks],
        "with_reference": sum(t.reference is not None for t in tasks),
        "with_labels": sum(labels_path(data_dir, t.name).is_file() for t in tasks),
        "target_ratio": target_ratio,
        "length_request_slack_s": slack_s,
        "length_modes": modes,
        **({} if seam_penalty is None else {"seam_penalty": seam_penalty}),
        "reward_config": (reward_config.to_dict() if reward_config is not None else "default"),
        "params_hash": params.hash(),
    }
    return BenchmarkResult(rows, list(paradigms), target_ratio, settings)


def _fmt(value, digits: int = 3) -> str:
    return "n/a" if _missing(value) else f"{value:.{digits}f}"


def markdown_table(result: BenchmarkResult) -> str:
    """The summary as a Markdown table (one row per paradigm, best reward in bold)."""
    summary = result.summary()
    best = max((s["reward"] for s in summary if not _missing(s["reward"])), default=None)
    head = (
        "| paradigm | recordings | reward | cut F (1 beat) | frame recall / precision | ratio (error) | seams | "
        "seam discontinuity | repetition | x real time |"
    )
    lines = [head, "|---" * (head.count("|") - 1) + "|"]
    for s in summary:
        reward = _fmt(s["reward"])
        if best is not None and not _missing(s["reward"]) and s["reward"] == best:
            reward = f"**{reward}**"
        failed = f" ({s['failed']} failed)" if s["failed"] else ""
        lines.append(
            f"| {s['paradigm']} | {s['samples']}{failed} | {reward} | {_fmt(s['cut_f'])} | "
            f"{_fmt(s['frame_recall'])} / {_fmt(s['frame_precision'])} | {_fmt(s['ratio'])} ({_fmt(s['ratio_error'])}) | "
            f"{_fmt(s['n_seams'], 1)} | {_fmt(s['seam_discontinuity'])} | {_fmt(s['repetition_rate'])} | "
            f"{_fmt(s['x_real_time'], 0)} |"
        )
    if any(not _missing(s["junk_f"]) for s in summary):
        kinds = result.junk_kinds
        lines += [
            "",
            "Junk removed / song kept (labelled recordings; mean), and the share of each junk kind removed:",
            "",
        ]
        lines.append(
            "| paradigm | junk removed | song kept | F | " + " | ".join(k.replace("_", " ") for k in kinds) + " |"
        )
        lines.append("|---" * (4 + len(kinds)) + "|")
        best_f = max((s["junk_f"] for s in summary if not _missing(s["junk_f"])), default=None)
        for s in summary:
            f = _fmt(s["junk_f"])
            if best_f is not None and not _missing(s["junk_f"]) and s["junk_f"] == best_f:
                f = f"**{f}**"
            lines.append(
                f"| {s['paradigm']} | {_fmt(s['junk_removed'])} | {_fmt(s['song_kept'])} | {f} | "
                + " | ".join(_fmt(s[f"removed_{k}"], 2) for k in kinds)
                + " |"
            )
    lines += ["", "Reward components (mean):", ""]
    lines.append("| paradigm | " + " | ".join(COMPONENTS) + " |")
    lines.append("|---" * (len(COMPONENTS) + 1) + "|")
    for s in summary:
        lines.append(f"| {s['paradigm']} | " + " | ".join(_fmt(s[c]) for c in COMPONENTS) + " |")
    shipped = result.settings.get("shipped_models") or {}
    if shipped:
        lines += [
            "",
            "Shipped models used (no --checkpoint given): " + ", ".join(f"{k} {v}" for k, v in shipped.items()),
        ]
    errors = [r for r in result.rows if r.get("error")]
    if errors:
        lines += ["", "Failed edits:", ""] + [f"- {r['paradigm']} on {r['sample']}: {r['error']}" for r in errors]
    return "\n".join(lines)


def _write_csv(path: Path, rows: list[dict[str, Any]], fields: list[str]) -> None:
    with atomic_path(path) as tmp, open(tmp, "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=fields, extrasaction="ignore")
        writer.writeheader()
        for row in rows:
            writer.writerow({k: ("" if _missing(row.get(k)) else row.get(k)) for k in fields})


def _grouped_bars(summary, columns, labels, colours, path: Path, *, title: str, ylabel: str, divider=None) -> Path:
    """A PNG of grouped bars: one group per column of ``summary`` rows, one bar per paradigm (values in [0, 1])."""
    import matplotlib.pyplot as plt

    n = len(summary)
    width = 0.8 / max(n, 1)
    x = np.arange(len(columns))
    fig, ax = plt.subplots(figsize=(2.0 + 1.0 * len(columns), 4))
    for i, s in enumerate(summary):
        values = [0.0 if _missing(s[c]) else s[c] for c in columns]
        ax.bar(x + (i - (n - 1) / 2) * width, values, width, label=s["paradigm"], color=colours[s["paradigm"]])
    if divider is not None:
        ax.axvline(divider, color="grey", lw=0.8)
    ax.set_xticks(x, labels, rotation=30, ha="right")
    ax.set_ylim(0, 1.05)
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.legend(fontsize=8, ncol=min(n, 6))
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=110, format="png")
    plt.close(fig)
    return path


def plot_benchmark(result: BenchmarkResult, out_dir: Path) -> list[Path]:
    """``components.png`` (grouped bars of the mean components per paradigm), ``per_sample.png``
    (each paradigm's reward against the retarget editor's on the same recording) and, for labelled data,
    ``junk_kinds.png`` (JR, SK, F and the share of each junk kind removed, per paradigm)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    summary = result.summary()
    names = [s["paradigm"] for s in summary]
    components = [c for c in ("reward", *COMPONENTS) if any(not _missing(s[c]) for s in summary)]
    colours = {name: f"C{i}" for i, name in enumerate(names)}  # the same colour per paradigm in every plot
    paths = [
        _grouped_bars(
            summary,
            components,
            components,
            colours,
            out_dir / "components.png",
            title="Common reward and its components per paradigm",
            ylabel="mean over recordings (1 = best)",
        )
    ]

    by_sample = {(r["paradigm"], r["sample"]): r.get("reward") for r in result.rows if not r.get("error")}
    samples = sorted({r["sample"] for r in result.rows})
    base = "retarget" if "retarget" in names else names[0]
    fig, ax = plt.subplots(figsize=(5.5, 5))
    for name in names:
        if name == base:
            continue
        pts = [(by_sample.get((base, s)), by_sample.get((name, s))) for s in samples]
        pts = [(a, b) for a, b in pts if a is not None and b is not None]
        if pts:
            ax.scatter(*zip(*pts), label=name, s=25, color=colours[name])
    ax.plot([0, 1], [0, 1], color="grey", lw=0.8, ls="--")
    ax.set_xlim(0, 1), ax.set_ylim(0, 1)
    ax.set_xlabel(f"{base} reward")
    ax.set_ylabel("paradigm reward")
    ax.set_title("Per recording: above the diagonal beats " + base)
    if len(names) > 1:
        ax.legend(fontsize=8)
    fig.tight_layout()
    paths.append(out_dir / "per_sample.png")
    with atomic_path(paths[1]) as tmp:
        fig.savefig(tmp, dpi=110, format="png")
    plt.close(fig)

    kinds = result.junk_kinds
    if kinds:
        columns = ["junk_removed", "song_kept", "junk_f", *(f"removed_{k}" for k in kinds)]
        labels = ["junk removed", "song kept", "F", *(k.replace("_", " ") for k in kinds)]
        paths.append(
            _grouped_bars(
                summary,
                columns,
                labels,
                colours,
                out_dir / "junk_kinds.png",
                title="Junk removed, song kept, and each kind of junk removed, per paradigm",
                ylabel="share (mean over recordings)",
                divider=2.5,
            )
        )
    return paths


def write_report(result: BenchmarkResult, out_dir: str | os.PathLike, *, plots: bool = True) -> dict[str, Path]:
    """Write ``results.csv``, ``summary.csv``, ``benchmark.md``, ``benchmark.json`` and the plots."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    fields = ["paradigm", "sample", *result.columns, "error"]
    paths = {"results": out_dir / "results.csv", "summary": out_dir / "summary.csv"}
    _write_csv(paths["results"], result.rows, fields)
    _write_csv(paths["summary"], result.summary(), ["paradigm", "samples", "failed", *result.columns])
    paths["markdown"] = out_dir / "benchmark.md"
    atomic_write_text(paths["markdown"], markdown_table(result) + "\n")
    paths["json"] = out_dir / "benchmark.json"
    clean = [{k: (None if _missing(v) else v) for k, v in row.items()} for row in result.rows]
    summary = [{k: (None if _missing(v) else v) for k, v in row.items()} for row in result.summary()]
    atomic_write_text(
        paths["json"], json.dumps({"settings": result.settings, "summary": summary, "rows": clean}, indent=1)
    )
    if plots:
        components, per_sample, *kinds = plot_benchmark(result, out_dir)
        paths.update(components=components, per_sample=per_sample)
        if kinds:
            paths["junk_kinds"] = kinds[0]
    return paths


__all__ = [
    "METRICS",
    "BenchmarkResult",
    "markdown_table",
    "plot_benchmark",
    "run_benchmark",
    "score_edit",
    "write_report",
]

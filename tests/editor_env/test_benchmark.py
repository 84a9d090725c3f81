"""musicedit benchmark: the metrics on known edits, the report files, and clear errors."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest

from editor_env.benchmark import METRICS, markdown_table, run_benchmark, score_edit, write_report
from editor_env.cli import main as musicedit
from editor_env.errors import MusicEditError
from editor_env.reward import COMPONENTS, Scorer
from editor_env.synth import write_dataset
from editor_env.tasks import load_tasks


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    root = tmp_path_factory.mktemp("bench")
    write_dataset(root / "training_data", 2, seed=11, duration_range_s=(20.0, 25.0), progress=False)
    return root / "training_data"


def test_the_reference_itself_scores_perfectly_on_the_reference_metrics(data_dir):
    task = load_tasks(data_dir)[0]
    scorer = Scorer(task.analysis, task.reference)
    row = score_edit(scorer, task.reference, target_ratio=0.67, seconds=0.5, raw_duration_s=20.0)
    assert row["frame_recall"] == pytest.approx(1.0) and row["frame_precision"] == pytest.approx(1.0)
    assert row["cut_f"] == pytest.approx(1.0) and row["sequence_similarity"] == pytest.approx(1.0)
    assert row["x_real_time"] == pytest.approx(40.0)
    # keeping the whole raw covers every reference frame but only ~2/3 of its own are in the reference
    whole = np.arange(task.analysis.mel.shape[1])
    row = score_edit(scorer, whole, target_ratio=0.67, seconds=1.0, raw_duration_s=20.0)
    assert row["frame_recall"] == pytest.approx(1.0) and row["frame_precision"] < 0.85
    assert row["n_seams"] == 0 and row["seam_discontinuity"] == 0.0
    assert row["ratio"] == pytest.approx(1.0, abs=1e-3) and row["ratio_error"] == pytest.approx(0.33, abs=1e-3)


def test_benchmark_writes_table_csv_json_and_plots(data_dir, tmp_path):
    result = run_benchmark(data_dir, ["retarget"], progress=False)
    assert len(result.rows) == 2 and not any(r["error"] for r in result.rows)
    for row in result.rows:
        assert 0.0 <= row["reward"] <= 1.0 and 0.0 <= row["frame_recall"] <= 1.0
        assert set(METRICS) | set(COMPONENTS) <= set(row)
    paths = write_report(result, tmp_path / "out")
    with open(paths["results"]) as handle:
        rows = list(csv.DictReader(handle))
    assert [r["paradigm"] for r in rows] == ["retarget", "retarget"]
    summary = json.loads(paths["json"].read_text())["summary"][0]
    assert summary["samples"] == 2 and summary["reward"] == pytest.approx(np.mean([r["reward"] for r in result.rows]))
    table = markdown_table(result)
    assert "| retarget | 2 |" in table and "sequence_similarity" in table
    for name in ("components", "per_sample"):
        assert paths[name].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_learned_paradigm_without_checkpoint_fails_before_any_work(data_dir, tmp_path, capsys):
    with pytest.raises(MusicEditError, match="needs a trained model and none ships.*python -m policies.train"):
        run_benchmark(data_dir, ["retarget", "bc_ppo"], progress=False)
    with pytest.raises(MusicEditError, match="does not exist"):
        run_benchmark(data_dir, ["bc_ppo"], checkpoints={"bc_ppo": str(tmp_path / "missing.pt")}, progress=False)
    with pytest.raises(MusicEditError, match="Unknown paradigm"):
        run_benchmark(data_dir, ["magic"], progress=False)
    code = musicedit(["benchmark", "--data", str(data_dir), "--checkpoint", "bc_ppo"])
    assert code == 2 and "NAME=PATH" in capsys.readouterr().err


def test_length_request_reaches_every_edit(data_dir):
    """--slack: the length goes to each paradigm as a request (as musicedit edit --target-ratio --slack) and is met."""
    from editor_env.audio import audio_extent

    result = run_benchmark(data_dir, ["retarget"], target_ratio=0.6, slack_s=1.5, progress=False)
    assert result.settings["length_request_slack_s"] == 1.5
    for row, task in zip(result.rows, load_tasks(data_dir)):
        rate, length = audio_extent(task.raw_path)
        assert not row["error"] and abs(row["ratio"] - 0.6) * length / rate <= 1.5 + 0.05


def test_junk_removed_and_song_kept_on_labelled_data(data_dir, tmp_path):
    from editor_env.edl import EditList
    from editor_env.labels import RawLabels, labels_path

    result = run_benchmark(data_dir, ["keep_all", "retarget"], progress=False)
    keep = [r for r in result.rows if r["paradigm"] == "keep_all"]
    assert keep and all(r["junk_removed"] == 0.0 and r["song_kept"] == 1.0 and r["junk_f"] == 0.0 for r in keep)
    assert "count_in" in result.junk_kinds or "tuning" in result.junk_kinds
    # the ground-truth edit scores 1 on all three
    task = load_tasks(data_dir)[0]
    labels = RawLabels.load(labels_path(data_dir, task.name))
    truth = EditList.load(data_dir / "pointer_sequences" / f"{task.name}_edl.json")
    row = score_edit(
        Scorer(task.analysis, task.reference), truth, target_ratio=0.67, seconds=1.0, raw_duration_s=20.0, labels=labels
    )
    assert row["junk_removed"] == pytest.approx(1.0, abs=0.01) and row["song_kept"] == pytest.approx(1.0, abs=0.01)
    assert row["junk_f"] == pytest.approx(1.0, abs=0.01)
    paths = write_report(result, tmp_path / "out")
    assert paths["junk_kinds"].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "Junk removed / song kept" in paths["markdown"].read_text()
    with open(paths["summary"]) as handle:
        summary = {r["paradigm"]: r for r in csv.DictReader(handle)}
    assert float(summary["keep_all"]["junk_f"]) == 0.0 and "junk_removed" in summary["retarget"]

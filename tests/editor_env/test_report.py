"""The HTML edit report: written by `musicedit edit --report`, and it renders in headless Chromium."""

from __future__ import annotations

import base64
import io
import os
import re
import shutil
import subprocess

import numpy as np
import pytest

from editor_env.cli import main as musicedit
from editor_env.synth import write_dataset

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    root = tmp_path_factory.mktemp("report")
    write_dataset(root / "training_data", 1, seed=7, duration_range_s=(20.0, 25.0), progress=False)
    raw = root / "raw.wav"
    raw.write_bytes((root / "training_data" / "input" / "synth_0000_raw.wav").read_bytes())
    pointers = root / "training_data" / "pointer_sequences" / "synth_0000_pointers.npy"
    args = ["edit", str(raw), "-o", str(root / "edited.wav"), "--edl", str(root / "edl.json")]
    code = musicedit([*args, "--report", str(root / "report.html"), "--reference", str(pointers)])
    assert code == 0
    return root


def _image_std(png: bytes) -> float:
    import matplotlib.image

    pixels = matplotlib.image.imread(io.BytesIO(png), format="png")
    return float(np.asarray(pixels)[..., :3].std())


def _coloured_fraction(png: bytes) -> float:
    """Fraction of clearly coloured pixels (the plots' green, red and blue; text is grey)."""
    import matplotlib.image

    pixels = np.asarray(matplotlib.image.imread(io.BytesIO(png), format="png"))[..., :3]
    return float((pixels.max(axis=-1) - pixels.min(axis=-1) > 0.2).mean())


def test_report_holds_players_pictures_and_reward(report):
    assert {"raw.wav", "edited.wav", "edl.json", "report.html"} <= {p.name for p in report.iterdir()}
    page = (report / "report.html").read_text()
    # the raw, the edit, and a player per seam (--report writes the seam previews)
    assert len(re.findall(r"<audio [^>]*controls", page)) == 2 + page.count('<tr class="seam">')
    assert 'src="raw.wav"' in page and 'src="edited.wav"' in page  # relative links beside the report
    images = re.findall(r'src="data:image/png;base64,([^"]+)"', page)
    assert len(images) == 2
    for data in images:
        assert _image_std(base64.b64decode(data)) > 0.02  # a picture, not a blank
    assert "Common reward" in page and "sequence_similarity" in page  # scored against the reference
    assert not (report / "edited.edl.json").exists()  # --edl named the EDL


def test_a_missing_reference_is_refused_by_name(report, capsys):
    code = musicedit(
        ["edit", str(report / "raw.wav"), "-o", str(report / "x.wav"), "--report", str(report / "r.html")]
        + ["--reference", str(report / "nope.npy")]
    )
    assert code == 2 and "nope.npy" in capsys.readouterr().err


@pytest.mark.skipif(
    CHROMIUM is None and not os.environ.get("MUSICEDIT_REQUIRE_CHROMIUM"),
    reason="Debian's chromium package is not installed (.ci/run installs it and requires this test)",
)
def test_report_renders_in_headless_chromium(report):
    assert CHROMIUM is not None, "MUSICEDIT_REQUIRE_CHROMIUM is set but chromium is not on PATH"
    command = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars"]
    page = (report / "report.html").as_uri()
    dom = subprocess.run([*command, "--dump-dom", page], capture_output=True, text=True, timeout=120).stdout
    assert (
        dom.count("<audio") == 2 + dom.count('<tr class="seam">') and 'id="waveforms"' in dom and 'id="pointers"' in dom
    )
    shot = report / "shot.png"
    subprocess.run(
        [*command, "--window-size=1280,1600", f"--screenshot={shot}", page], capture_output=True, timeout=120
    )
    assert shot.is_file() and _coloured_fraction(shot.read_bytes()) > 0.01  # the pictures rendered, not only text


def test_report_lists_every_seam_with_its_loudness_step_and_colours_the_junk(report):
    from editor_env.edl import EditList
    from editor_env.labels import RawLabels
    from editor_env.report import waveform_figure

    pointers = report / "training_data" / "pointer_sequences" / "synth_0000_pointers.npy"
    args = ["edit", str(report / "raw.wav"), "-o", str(report / "cut.wav"), "--policy", "retarget", "--cut", "8-10"]
    assert musicedit([*args, "--report", str(report / "cut.html"), "--reference", str(pointers)]) == 0
    page = (report / "cut.html").read_text()
    edl = EditList.load(report / "cut.edl.json")
    assert len(edl.seams()) >= 1 and page.count('<tr class="seam">') == len(edl.seams())
    assert "loudness step (dB)" in page and "cut.seams/seam_01.wav" in page
    assert all("step_before_db" in s or "skipped" in s for s in edl.meta["seams"])
    labels = RawLabels.load(report / "training_data" / "pointer_sequences" / "synth_0000_labels.json")
    fig = waveform_figure(np.zeros((1, edl.raw_length)), np.zeros((1, 10)), edl.sample_rate, edl, labels)
    legend = [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    assert {f"junk: {kind}" for kind in labels.kinds} <= set(legend) and labels.kinds

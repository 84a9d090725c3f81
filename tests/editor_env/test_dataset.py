"""Data-set discovery and validation (editor_env.dataset)."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import click_track

from editor_env.dataset import discover_pairs
from editor_env.errors import DatasetError

SR = 22050


def _song(seconds=6.0):
    return click_track(120, seconds, SR)


def test_pairs_found_by_name(make_dataset):
    root = make_dataset({"b": (_song(), _song(4.5)), "a": (_song(), _song(4.5))})
    (root / "input" / "notes.txt").write_text("not audio")
    (root / "input" / ".a_raw.tmp.wav").write_bytes(b"half-written")
    pairs = discover_pairs(root)
    assert [p.name for p in pairs] == ["a", "b"]
    assert pairs[0].raw_path.name == "a_raw.wav" and pairs[0].edit_path.name == "a_edit.wav"


def test_unmatched_pairs_name_the_file(make_dataset):
    root = make_dataset({"lonely": (_song(), None), "both": (_song(), _song(4.5))})
    with pytest.raises(DatasetError, match=r"lonely_raw\.wav: raw recording with no edit"):
        discover_pairs(root)
    assert [p.name for p in discover_pairs(root, require_edit=False)] == ["both", "lonely"]
    (root / "input" / "both_raw.wav").unlink()
    with pytest.raises(DatasetError, match=r"both_edit\.wav: edit with no raw"):
        discover_pairs(root, require_edit=False)


def test_bad_files_are_reported_together(make_dataset):
    root = make_dataset({"good": (_song(), _song(4.5)), "short": (_song(1.0), _song(1.0))})
    (root / "input" / "empty_raw.wav").write_bytes(b"")
    (root / "desired_output" / "empty_edit.wav").write_bytes(b"")
    (root / "input" / "corrupt_raw.wav").write_bytes(b"garbage" * 100)
    (root / "desired_output" / "corrupt_edit.wav").write_bytes(b"garbage" * 100)
    (root / "input" / "misnamed.wav").write_bytes(b"x")
    with pytest.raises(DatasetError) as err:
        discover_pairs(root)
    text = str(err.value)
    assert "empty_raw.wav: empty file" in text
    assert "corrupt_raw.wav: unreadable audio" in text
    assert "short_raw.wav: 1.00 s of audio, shorter than" in text
    assert "misnamed.wav: audio file not named {sample}_raw.wav" in text
    assert "good" not in text


def test_missing_layout_and_unknown_sample(tmp_path, make_dataset):
    with pytest.raises(DatasetError, match="no input/ folder"):
        discover_pairs(tmp_path)
    root = make_dataset({"a": (_song(), _song(4.5))})
    with pytest.raises(DatasetError, match=r"sample\(s\) \['zzz'\] not found"):
        discover_pairs(root, samples=["zzz"])
    assert np.all([p.name == "a" for p in discover_pairs(root, samples=["a"])])

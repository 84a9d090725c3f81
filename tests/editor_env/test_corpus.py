"""The real-music corpus: the committed manifest and split, the missing-corpus error."""

from __future__ import annotations

import pytest

from editor_env import corpus
from editor_env.errors import MusicEditError


def test_the_committed_manifest_is_the_split_by_package():
    rows = corpus.read_manifest()
    split_of = {p.name: p.split for p in corpus.PACKAGES}
    assert len(rows) >= 200 and sum(r.duration_s for r in rows) >= 10 * 3600
    assert all(r.split == split_of[r.package] for r in rows)  # every recording of a package in one split
    assert len({r.sha256 for r in rows}) == len(rows)  # a recording once
    assert {r.split for r in rows} == set(corpus.SPLITS)
    assert {r.package for r in rows} <= {p.name for p in corpus.PACKAGES}  # nothing but the listed packages
    # the text is canonical: rebuilding it from its rows gives the same bytes, so the checksum is stable
    text = corpus.MANIFEST_PATH.read_text()
    assert corpus.manifest_text(list(reversed(rows))) == text
    assert len(corpus.manifest_checksum(text)) == 64


def test_a_missing_split_says_how_to_fetch_it(tmp_path):
    with pytest.raises(MusicEditError, match="fetch_corpus.py"):
        corpus.require_split("val", tmp_path)
    with pytest.raises(MusicEditError, match="Unknown split"):
        corpus.split_data_dir("holdout", tmp_path)


def test_summary_counts_every_recording():
    rows = corpus.read_manifest()
    summary = corpus.summarise(rows)
    assert sum(e["recordings"] for e in summary) == len(rows)

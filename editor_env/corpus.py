"""The real-music corpus: free recordings from Debian packages, a committed train / val / test split, and jams.

``scripts/fetch_corpus.py`` downloads the packages named in :data:`PACKAGES` (pinned versions), unpacks them into
``$MUSICEDIT_HOME/corpus`` (never committed), checks every recording against the committed manifest
(``editor_env/corpus_manifest.csv``: package, version, file, sha256, split, duration, genre) and turns each split's
recordings into jams (:mod:`editor_env.jams`) under ``corpus/jams/{split}/training_data``.

**The split is by package**, so it is by recording too: every recording of a package lies in one split, and no
composer's or game's style is in two. **The test split is frozen**: nothing is trained on it and nothing is chosen
by it (models, thresholds, decoding rules and hyper-parameters are chosen on val); it is for reporting. Only the
packages of :data:`PACKAGES` are ever fetched.
"""

from __future__ import annotations

import csv
import dataclasses
import hashlib
import io
from pathlib import Path

from editor_env.errors import MusicEditError
from editor_env.tasks import musicedit_home

SPLITS = ("train", "val", "test")
MANIFEST_PATH = Path(__file__).resolve().parent / "corpus_manifest.csv"
"""The committed manifest: one row per recording, sorted by package and file."""
MANIFEST_FIELDS = ("package", "version", "file", "sha256", "split", "duration_s", "sample_rate", "channels", "genre")
MIN_TRACK_S = 30.0
"""Recordings shorter than this (game sound effects, jingles) are not in the corpus."""


@dataclasses.dataclass(frozen=True)
class CorpusPackage:
    """A Debian package of free music and where its recordings go.

    :param name: the package. :param version: the pinned version (``apt-get download NAME=VERSION``).
    :param split: ``train``, ``val`` or ``test``. :param genre: broad style of its music, by package.
    """

    name: str
    version: str
    split: str
    genre: str


PACKAGES: tuple[CorpusPackage, ...] = (
    CorpusPackage("ufoai-music", "2.5-2", "train", "orchestral / ambient electronic"),
    CorpusPackage("warzone2100-music", "4.3.3-3", "train", "electronic / orchestral"),
    CorpusPackage("planetblupi-music-ogg", "1.14.2-3", "train", "light orchestral / pop"),
    CorpusPackage("asc-music", "1.3-6", "train", "rock / electronic"),
    CorpusPackage("singularity-music", "007-2", "val", "ambient / electronic"),
    CorpusPackage("drascula-music", "1.0+ds4-2", "val", "adventure soundtrack (orchestral / jazz)"),
    CorpusPackage("hyperrogue-music", "12.0q-1", "val", "ambient / electronic"),
    CorpusPackage("nexuiz-music", "2.5.2-12", "test", "electronic / industrial / metal"),
    CorpusPackage("wesnoth-1.16-music", "1:1.16.9-1", "test", "orchestral / folk"),
)
"""The corpus: which package goes to which split. hyperrogue-music is in val because earlier decisions
(``scripts/bench_seam_penalty.py``) were taken on it: it was never held out."""
JAM_SEEDS = {"train": 1000, "val": 2000, "test": 3000}
"""Data-set seed of each split's jams (:func:`editor_env.jams.write_jams`)."""
JAMS_PER_TRACK = {"train": 4, "val": 1, "test": 1}


for _package in PACKAGES:
    assert _package.split in SPLITS


def corpus_dir() -> Path:
    """``$MUSICEDIT_HOME/corpus`` (default ``~/.cache/musicedit/corpus``)."""
    return musicedit_home() / "corpus"


def split_data_dir(split: str, root: Path | None = None) -> Path:
    """The jams of one split, in the ``training_data`` layout: ``corpus/jams/{split}/training_data``."""
    if split not in SPLITS:
        raise MusicEditError(f"Unknown split {split!r}: one of {', '.join(SPLITS)}.")
    return (root or corpus_dir()) / "jams" / split / "training_data"


def split_cache_dir(split: str, root: Path | None = None) -> Path:
    """The analysis cache of one split's jams: ``corpus/jams/{split}/cache``."""
    return split_data_dir(split, root).parent / "cache"


def require_split(split: str, root: Path | None = None) -> Path:
    """The jams folder of ``split``; a clear error that says how to make it when it is missing."""
    folder = split_data_dir(split, root)
    if not (folder / "input").is_dir() or not any((folder / "input").iterdir()):
        raise MusicEditError(
            f"The real-music corpus's {split} jams are not at {folder}. Fetch the corpus and build them once "
            "(about 750 MB of Debian packages; nothing is downloaded at run time): "
            "`python scripts/fetch_corpus.py` (see README, 'Editing real recordings'); "
            "set MUSICEDIT_HOME to keep it elsewhere."
        )
    return folder


@dataclasses.dataclass(frozen=True)
class ManifestRow:
    """One recording of the corpus (the fields of :data:`MANIFEST_FIELDS`)."""

    package: str
    version: str
    file: str
    sha256: str
    split: str
    duration_s: float
    sample_rate: int
    channels: int
    genre: str

    def as_strings(self) -> dict[str, str]:
        row = dataclasses.asdict(self)
        row["duration_s"] = f"{self.duration_s:.3f}"
        return {k: str(v) for k, v in row.items()}


def manifest_text(rows: list[ManifestRow]) -> str:
    """The manifest as CSV text (rows sorted by package and file, ``\\n`` line ends): what is committed."""
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=MANIFEST_FIELDS, lineterminator="\n")
    writer.writeheader()
    for row in sorted(rows, key=lambda r: (r.package, r.file)):
        writer.writerow(row.as_strings())
    return buf.getvalue()


def manifest_checksum(text: str) -> str:
    """SHA-256 of the manifest text: the same split everywhere gives the same checksum."""
    return hashlib.sha256(text.encode()).hexdigest()


def read_manifest(path: str | Path = MANIFEST_PATH) -> list[ManifestRow]:
    """The committed manifest's rows."""
    path = Path(path)
    if not path.is_file():
        raise MusicEditError(
            f"No corpus manifest at {path}: make one with `python scripts/fetch_corpus.py --write-manifest`."
        )
    with open(path, newline="") as fh:
        reader = csv.DictReader(fh)
        if tuple(reader.fieldnames or ()) != MANIFEST_FIELDS:
            raise MusicEditError(f"{path}: columns {reader.fieldnames} are not {list(MANIFEST_FIELDS)}.")
        try:
            return [
                ManifestRow(
                    r["package"],
                    r["version"],
                    r["file"],
                    r["sha256"],
                    r["split"],
                    float(r["duration_s"]),
                    int(r["sample_rate"]),
                    int(r["channels"]),
                    r["genre"],
                )
                for r in reader
            ]
        except (TypeError, ValueError) as exc:
            raise MusicEditError(f"{path} is malformed ({exc}); restore it from git.") from exc


def summarise(rows: list[ManifestRow]) -> list[dict[str, object]]:
    """Recordings and hours per split and package (with the genre), for the README table."""
    out = []
    for split in SPLITS:
        for package in PACKAGES:
            if package.split != split:
                continue
            mine = [r for r in rows if r.package == package.name]
            out.append(
                {
                    "split": split,
                    "package": package.name,
                    "genre": package.genre,
                    "recordings": len(mine),
                    "hours": sum(r.duration_s for r in mine) / 3600,
                }
            )
    return out

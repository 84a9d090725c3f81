"""Fetch the real-music corpus and build its jams (editor_env.corpus).

    python scripts/fetch_corpus.py [--home DIR] [--workers 2] [--splits train val test] [--skip-jams]
                                   [--per-track train=4,val=1,test=1] [--write-manifest]

1. ``apt-get download`` every package of ``editor_env.corpus.PACKAGES`` at its pinned version into
   ``CORPUS/debs`` and unpack it (``dpkg -x``) into ``CORPUS/pkgs/PACKAGE``; audio inside ``.pk3`` (zip) archives
   is extracted too. Nothing that is already there is fetched again.
2. Every recording of at least 30 s is hashed; identical files are kept once. The rows (package, version, file,
   sha256, split, duration, rate, channels, genre) must equal the committed manifest
   (``editor_env/corpus_manifest.csv``): a difference is an error that names the rows, so everyone works on the
   same split. ``--write-manifest`` writes the manifest instead (a maintainer's step when a package changes).
3. The recordings are linked into ``CORPUS/tracks/{split}/{package}/...`` and each split's jams are made
   (``editor_env.jams.write_jams``, seeds ``editor_env.corpus.JAM_SEEDS``) into
   ``CORPUS/jams/{split}/training_data``; a rerun resumes.

It prints the manifest's checksum (the same split gives the same checksum) and recordings and hours per split and
package. Only the packages of editor_env.corpus.PACKAGES are fetched.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path
from urllib.parse import unquote

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from editor_env import corpus  # noqa: E402
from editor_env.errors import MusicEditError  # noqa: E402

AUDIO_SUFFIXES = (".ogg", ".opus", ".mp3", ".flac", ".wav", ".oga")


def _debs(folder: Path, package: corpus.CorpusPackage) -> list[Path]:
    """The downloaded .deb files of this package version (apt writes an epoch's colon as %3a)."""
    return [p for p in sorted(folder.glob(f"{package.name}_*.deb")) if unquote(p.name.split("_")[1]) == package.version]


def fetch_package(package: corpus.CorpusPackage, root: Path) -> Path:
    """Download (once) and unpack (once) one package; returns its unpacked folder."""
    debs, unpacked = root / "debs", root / "pkgs" / package.name
    marker = unpacked / ".unpacked"
    if marker.is_file() and marker.read_text() == package.version:
        return unpacked
    debs.mkdir(parents=True, exist_ok=True)
    found = _debs(debs, package)
    if not found:
        print(f"  downloading {package.name}={package.version} …", flush=True)
        done = subprocess.run(
            ["apt-get", "download", f"{package.name}={package.version}"], cwd=debs, capture_output=True, text=True
        )
        found = _debs(debs, package)
        if done.returncode != 0 or not found:
            raise MusicEditError(
                f"apt-get download {package.name}={package.version} failed ({done.stderr.strip()[-300:]}): run "
                "`apt-get update` first; if that version is gone from the archive, the manifest must be remade."
            )
    if unpacked.exists():
        shutil.rmtree(unpacked)
    unpacked.mkdir(parents=True)
    subprocess.run(["dpkg", "-x", str(found[-1]), str(unpacked)], check=True)
    for archive in sorted(unpacked.rglob("*.pk3")):
        with zipfile.ZipFile(archive) as zf:
            for member in zf.namelist():
                if member.lower().endswith(AUDIO_SUFFIXES):
                    zf.extract(member, archive.with_name(archive.name + ".extracted"))
    marker.write_text(package.version)
    return unpacked


def package_files(unpacked: Path) -> list[tuple[str, Path]]:
    """``[(file id inside the package, path on disk)]`` of every audio file, sorted; a zip member's id is
    ``ARCHIVE.pk3:MEMBER``."""
    out = []
    for path in sorted(unpacked.rglob("*")):
        if not path.is_file() or path.is_symlink() or not path.name.lower().endswith(AUDIO_SUFFIXES):
            continue
        rel = path.relative_to(unpacked).as_posix()
        if ".pk3.extracted/" in rel:
            archive, member = rel.split(".pk3.extracted/", 1)
            rel = f"{archive}.pk3:{member}"
        out.append((rel, path))
    return out


def scan(packages: list[corpus.CorpusPackage], root: Path) -> tuple[list[corpus.ManifestRow], dict[str, Path]]:
    """Manifest rows of every recording of at least ``MIN_TRACK_S`` (identical files once), and where each lies."""
    import soundfile as sf

    from editor_env.jams import file_sha256

    rows, where, seen = [], {}, set()
    for package in packages:
        unpacked = fetch_package(package, root)
        for file_id, path in package_files(unpacked):
            try:
                info = sf.info(str(path))
            except (RuntimeError, sf.LibsndfileError) as exc:
                print(f"  skipped {package.name}:{file_id}: unreadable ({exc})")
                continue
            if info.duration < corpus.MIN_TRACK_S:
                continue
            digest = file_sha256(path)
            if digest in seen:
                continue
            seen.add(digest)
            row = corpus.ManifestRow(
                package.name,
                package.version,
                file_id,
                digest,
                package.split,
                round(float(info.duration), 3),
                int(info.samplerate),
                int(info.channels),
                package.genre,
            )
            rows.append(row)
            where[f"{package.name}:{file_id}"] = path
    return rows, where


def track_links(rows: list[corpus.ManifestRow], where: dict[str, Path], root: Path) -> dict[str, list[Path]]:
    """Hard-link (or copy) each recording to ``tracks/{split}/{package}/{path under the package's music folder}``;
    returns the files of each split."""
    out: dict[str, list[Path]] = {split: [] for split in corpus.SPLITS}
    for package in corpus.PACKAGES:
        mine = [r for r in rows if r.package == package.name]
        if not mine:
            continue
        parts = [r.file.replace(".pk3:", ".pk3/").split("/") for r in mine]
        common = os.path.commonprefix([p[:-1] for p in parts])
        for row, part in zip(mine, parts):
            target = root / "tracks" / row.split / package.name / "/".join(part[len(common) :])
            if not target.is_file():
                target.parent.mkdir(parents=True, exist_ok=True)
                try:
                    os.link(where[f"{row.package}:{row.file}"], target)
                except OSError:
                    shutil.copyfile(where[f"{row.package}:{row.file}"], target)
            out[row.split].append(target)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--home", type=Path, default=None, help="corpus folder (default $MUSICEDIT_HOME/corpus)")
    parser.add_argument("--splits", nargs="+", default=list(corpus.SPLITS), choices=corpus.SPLITS)
    parser.add_argument("--per-track", default=None, help="jams per track per split, e.g. train=4,val=1,test=1")
    parser.add_argument("--workers", type=int, default=None, help="processes for the jams (default 1)")
    parser.add_argument("--skip-jams", action="store_true", help="fetch, check and link the recordings only")
    parser.add_argument("--write-manifest", action="store_true", help="write the committed manifest (maintainers)")
    parser.add_argument("--manifest", type=Path, default=corpus.MANIFEST_PATH, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    root = args.home or corpus.corpus_dir()
    per_track = dict(corpus.JAMS_PER_TRACK)
    if args.per_track:
        for item in args.per_track.split(","):
            split, _, value = item.partition("=")
            if split not in corpus.SPLITS or not value.isdigit():
                parser.error(f"--per-track {item!r}: write SPLIT=N, e.g. train=4")
            per_track[split] = int(value)
    try:
        print(f"Corpus folder: {root}")
        rows, where = scan(list(corpus.PACKAGES), root)
        text = corpus.manifest_text(rows)
        (root / "manifest.csv").write_text(text)
        if args.write_manifest:
            args.manifest.write_text(text)
            print(f"Wrote {args.manifest}")
        else:
            committed = args.manifest.read_text() if args.manifest.is_file() else ""
            if text != committed:
                ours, theirs = set(text.splitlines()), set(committed.splitlines())
                diff = [f"  - {line}" for line in sorted(theirs - ours)[:10]] + [
                    f"  + {line}" for line in sorted(ours - theirs)[:10]
                ]
                raise MusicEditError(
                    f"The recordings fetched into {root} differ from the committed manifest {args.manifest} "
                    f"(- committed, + fetched):\n" + "\n".join(diff) + "\nThe split would differ: stop, and report it."
                )
        print(f"Manifest checksum (sha256): {corpus.manifest_checksum(text)}")
        print("\n| split | package | genre | recordings | hours |\n|---|---|---|---|---|")
        for entry in corpus.summarise(rows):
            print(
                f"| {entry['split']} | {entry['package']} | {entry['genre']} | {entry['recordings']} | {entry['hours']:.2f} |"
            )
        total_h = sum(r.duration_s for r in rows) / 3600
        print(f"| all | | | {len(rows)} | {total_h:.2f} |")
        tracks = track_links(rows, where, root)
        if args.skip_jams:
            return 0
        from editor_env.jams import write_jams

        failed = {}
        for split in args.splits:
            out = corpus.split_data_dir(split, root)
            print(f"\nJams of the {split} split ({len(tracks[split])} recordings x {per_track[split]}) into {out} …")
            result = write_jams(
                tracks[split],
                out,
                per_track=per_track[split],
                seed=corpus.JAM_SEEDS[split],
                workers=args.workers,
                root=root / "tracks" / split,
            )
            print(f"{len(result.written)} written, {len(result.skipped)} already there, {len(result.failed)} failed")
            failed.update(result.failed)
        for name, reason in failed.items():
            print(f"  FAILED {name}: {reason}", file=sys.stderr)
        return 1 if failed else 0
    except MusicEditError as exc:
        print(f"fetch_corpus: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())

"""What a raw recording holds: its junk spans (``{sample}_labels.json``) and the junk-removed / song-kept score.

A *label file* lists every span of the raw that a human editor removes, ``{"start_s", "end_s", "kind"}`` in raw
seconds; the rest of the raw is song. The jam maker (:mod:`editor_env.jams`) and the synthetic generator
(:mod:`editor_env.synth`) write it from construction; ``musicedit align`` derives it from a human pair (the raw
spans the edit never plays, kind ``"cut"``).

A junk span may also say ``"same_as_s": [a, b]``: its audio is an exact copy of the raw span ``[a, b)`` of the
same length (an over-long repeat plays a bar again; a false start plays the start of a section before it breaks
off). Playing either copy plays the same music, so the score counts *material*, not positions: of a group of
identical copies, the first one the edit plays (the song copy first, then the junk copies in raw order) counts
as song kept, every further one it plays counts as junk played.

The score of an edit (:func:`junk_song_score`), on the analysis frame grid (about 23 ms):

``junk_removed`` (JR)
    the share of the raw's junk time the edit does not play;
``song_kept`` (SK)
    the share of the raw's song time the edit plays (a song frame also counts as kept when the edit plays
    an identical copy of it);
``junk_f`` (F)
    their harmonic mean: keeping everything scores 0, the ground truth 1. A raw without junk has no JR
    (NaN) and F = SK;
``removed_<kind>``
    per junk kind, the share of that kind's time the edit does not play.
"""

from __future__ import annotations

import dataclasses
import json
import os
from pathlib import Path
from typing import Any

import numpy as np

from editor_env.errors import MusicEditError
from editor_env.params import DEFAULT_PARAMS, AudioParams

LABELS_FORMAT = "musicedit-labels"
LABELS_VERSION = 1
JUNK_COLOURS = {
    "count_in": "tab:purple",
    "talk": "tab:pink",
    "tuning": "tab:olive",
    "noodle": "tab:orange",
    "false_start": "tab:red",
    "bad_take": "darkred",
    "repeat": "tab:brown",
    "dead_air": "tab:gray",
    "applause": "tab:cyan",
    "feedback": "gold",
    "tail": "tab:blue",
    "silence": "tab:gray",
    "cut": "tab:red",
}
"""Colour of each junk kind in pictures (jams, synthetic pairs, benchmark)."""
UNKNOWN_KIND = "cut"
"""Kind of a junk span known only from a human edit (a raw span the edit never plays)."""


@dataclasses.dataclass(frozen=True)
class JunkSpan:
    """One span of the raw that an editor removes.

    :param start_s: start in raw seconds.
    :param end_s: end in raw seconds (> ``start_s``).
    :param kind: what it is (:data:`editor_env.jams.JUNK_KINDS`, the synthetic generator's labels, or ``"cut"``).
    :param same_as_s: ``(start_s, end_s)`` of the raw span whose audio this one copies exactly, or None.
    """

    start_s: float
    end_s: float
    kind: str
    same_as_s: tuple[float, float] | None = None

    def __post_init__(self) -> None:
        if not (np.isfinite(self.start_s) and np.isfinite(self.end_s)) or not 0 <= self.start_s < self.end_s:
            raise MusicEditError(f"Junk span [{self.start_s}, {self.end_s}) is empty or negative.")
        if not self.kind:
            raise MusicEditError("A junk span needs a kind.")

    @property
    def duration_s(self) -> float:
        return self.end_s - self.start_s

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"start_s": round(self.start_s, 6), "end_s": round(self.end_s, 6), "kind": self.kind}
        if self.same_as_s is not None:
            out["same_as_s"] = [round(self.same_as_s[0], 6), round(self.same_as_s[1], 6)]
        return out


@dataclasses.dataclass
class RawLabels:
    """The junk spans of one raw recording (the rest is song).

    :param raw_duration_s: the raw's length in seconds.
    :param junk: the junk spans, sorted by start, not overlapping.
    :param source: who labelled it (``"musicedit.jams v1"``, ``"musicedit align"`` ...).
    """

    raw_duration_s: float
    junk: list[JunkSpan]
    source: str = ""

    def __post_init__(self) -> None:
        self.junk = sorted(self.junk, key=lambda s: s.start_s)
        for a, b in zip(self.junk[:-1], self.junk[1:]):
            if b.start_s < a.end_s - 1e-6:
                raise MusicEditError(f"Junk spans [{a.start_s}, {a.end_s}) and [{b.start_s}, {b.end_s}) overlap.")
        if self.junk and self.junk[-1].end_s > self.raw_duration_s + 1e-3:
            raise MusicEditError(
                f"Junk span ending at {self.junk[-1].end_s:.3f} s lies past the raw's {self.raw_duration_s:.3f} s."
            )

    @property
    def kinds(self) -> list[str]:
        """The junk kinds present, sorted."""
        return sorted({s.kind for s in self.junk})

    def junk_seconds(self) -> float:
        return float(sum(s.duration_s for s in self.junk))

    def to_json_dict(self) -> dict[str, Any]:
        return {
            "format": LABELS_FORMAT,
            "version": LABELS_VERSION,
            "raw_duration_s": round(self.raw_duration_s, 6),
            "source": self.source,
            "junk_s": round(self.junk_seconds(), 6),
            "junk": [s.to_dict() for s in self.junk],
        }

    def json_bytes(self) -> bytes:
        return (json.dumps(self.to_json_dict(), indent=2) + "\n").encode()

    @classmethod
    def from_json_dict(cls, data: Any, *, source: str = "labels") -> RawLabels:
        if not isinstance(data, dict) or data.get("format") != LABELS_FORMAT:
            raise MusicEditError(f"{source} is not a MusicEdit label file (no 'format': {LABELS_FORMAT!r}).")
        if data.get("version", 0) > LABELS_VERSION:
            raise MusicEditError(f"{source} has label version {data['version']}, newer than {LABELS_VERSION}.")
        try:
            junk = [
                JunkSpan(
                    float(s["start_s"]),
                    float(s["end_s"]),
                    str(s["kind"]),
                    None if s.get("same_as_s") is None else (float(s["same_as_s"][0]), float(s["same_as_s"][1])),
                )
                for s in data["junk"]
            ]
            return cls(float(data["raw_duration_s"]), junk, str(data.get("source", "")))
        except (KeyError, TypeError, ValueError, IndexError) as exc:
            raise MusicEditError(f"{source} is malformed ({exc!r}); re-create it.") from exc

    def save(self, path: str | os.PathLike) -> Path:
        from editor_env.io import atomic_open

        with atomic_open(path, "wb") as fh:
            fh.write(self.json_bytes())
        return Path(path)

    @classmethod
    def load(cls, path: str | os.PathLike) -> RawLabels:
        from editor_env.io import read_json

        return cls.from_json_dict(read_json(path, "label file"), source=str(path))

    @classmethod
    def from_unplayed(
        cls,
        pointers: np.ndarray,
        raw_duration_s: float,
        *,
        params: AudioParams = DEFAULT_PARAMS,
        min_span_s: float = 0.25,
        source: str = "musicedit align",
    ) -> RawLabels:
        """Labels of a human pair: every raw span of at least ``min_span_s`` that the edit never plays is junk
        of kind ``"cut"``.

        :param pointers: ``(edit_frames,)`` raw analysis frame of each edit frame (-1: not from the raw).
        """
        n_frames = max(int(np.ceil(raw_duration_s / params.frame_seconds)), 1)
        played = np.zeros(n_frames, dtype=bool)
        frames = np.asarray(pointers, dtype=np.int64)
        played[frames[(frames >= 0) & (frames < n_frames)]] = True
        junk = []
        for start, stop in true_runs(~played):
            start_s, end_s = start * params.frame_seconds, min(stop * params.frame_seconds, raw_duration_s)
            if end_s - start_s >= min_span_s:
                junk.append(JunkSpan(start_s, end_s, UNKNOWN_KIND))
        return cls(raw_duration_s, junk, source)


def labels_path(data_dir: str | os.PathLike, sample: str) -> Path:
    """``pointer_sequences/{sample}_labels.json`` of a data set."""
    return Path(data_dir) / "pointer_sequences" / f"{sample}_labels.json"


def true_runs(mask: np.ndarray) -> list[tuple[int, int]]:
    """``[(start, stop), ...]`` of the runs of True in a 1-D bool array."""
    padded = np.concatenate([[False], np.asarray(mask, dtype=bool), [False]])
    edges = np.flatnonzero(np.diff(padded.astype(np.int8)))
    return [(int(a), int(b)) for a, b in zip(edges[::2], edges[1::2])]


@dataclasses.dataclass
class JunkSongScore:
    """The junk-removed / song-kept score of one edit (module docstring).

    :param junk_removed: JR in [0, 1] (NaN when the raw holds no junk).
    :param song_kept: SK in [0, 1] (NaN when the raw holds no song).
    :param removed_by_kind: ``{kind: share of its time not played}``.
    :param junk_s: junk seconds of the raw. :param song_s: song seconds.
    """

    junk_removed: float
    song_kept: float
    removed_by_kind: dict[str, float]
    junk_s: float
    song_s: float

    @property
    def f(self) -> float:
        """Harmonic mean of JR and SK; SK alone when there is no junk."""
        jr, sk = self.junk_removed, self.song_kept
        if np.isnan(jr):
            return sk
        return 0.0 if jr + sk <= 0 else 2 * jr * sk / (jr + sk)

    def as_row(self) -> dict[str, float]:
        row = {"junk_removed": self.junk_removed, "song_kept": self.song_kept, "junk_f": self.f}
        row.update({f"removed_{k}": v for k, v in self.removed_by_kind.items()})
        return row


def frame_kinds(labels: RawLabels, n_frames: int, params: AudioParams = DEFAULT_PARAMS):
    """Per raw analysis frame (centre at ``f * hop / sr``): the index into ``labels.kinds`` of its junk kind
    (-1 = song), and the frame it copies (-1 = none); both ``(n_frames,)`` int64."""
    times = np.arange(n_frames) * params.frame_seconds
    kind_of = np.full(n_frames, -1, dtype=np.int64)
    copy_of = np.full(n_frames, -1, dtype=np.int64)
    kinds = labels.kinds
    for span in labels.junk:
        sel = np.flatnonzero((times >= span.start_s) & (times < span.end_s))
        kind_of[sel] = kinds.index(span.kind)
        if span.same_as_s is not None and sel.size:
            src = np.round((times[sel] - span.start_s + span.same_as_s[0]) / params.frame_seconds).astype(np.int64)
            ok = (src >= 0) & (src < n_frames) & (times[np.clip(src, 0, n_frames - 1)] < span.same_as_s[1] + 1e-9)
            copy_of[sel[ok]] = src[ok]
    return kind_of, copy_of


def junk_song_score(
    labels: RawLabels, played_frames: np.ndarray, params: AudioParams = DEFAULT_PARAMS
) -> JunkSongScore:
    """Score an edit that plays the raw analysis frames ``played_frames`` (any order, repeats allowed: e.g. its
    pointer sequence) against the raw's labels (module docstring)."""
    n_frames = max(int(np.ceil(labels.raw_duration_s / params.frame_seconds)), 1)
    frames = np.asarray(played_frames, dtype=np.int64)
    played = np.zeros(n_frames, dtype=bool)
    played[frames[(frames >= 0) & (frames < n_frames)]] = True
    kind_of, copy_of = frame_kinds(labels, n_frames, params)
    # Resolve copies to the song frame they copy (a copy of a copy resolves too), then walk each group of
    # identical frames in order (the root first, then the copies in raw order): the first played member is
    # song kept, later played members are junk played.
    root = np.arange(n_frames)
    has_copy = copy_of >= 0
    root[has_copy] = copy_of[has_copy]
    for _ in range(4):
        root = np.where(copy_of[root] >= 0, copy_of[root], root)
    junk_played = played & (kind_of >= 0) & ~has_copy
    material_played = np.zeros(n_frames, dtype=bool)  # per root: some member already played
    order = np.flatnonzero(has_copy)  # ascending raw order
    material_played[root[~has_copy & played]] = True
    for f in order:  # copies: O(copied frames), a few thousand at most per recording
        r = root[f]
        if played[f]:
            if material_played[r]:
                junk_played[f] = True
            else:
                material_played[r] = True
    song = kind_of < 0
    song_kept = song & (played | material_played)
    is_junk = kind_of >= 0
    n_junk, n_song = int(is_junk.sum()), int(song.sum())
    by_kind = {}
    for index, kind in enumerate(labels.kinds):
        sel = kind_of == index
        if sel.any():
            by_kind[kind] = float(1.0 - junk_played[sel].mean())
    return JunkSongScore(
        junk_removed=float(1.0 - junk_played[is_junk].sum() / n_junk) if n_junk else float("nan"),
        song_kept=float(song_kept.sum() / n_song) if n_song else float("nan"),
        removed_by_kind=by_kind,
        junk_s=n_junk * params.frame_seconds,
        song_s=n_song * params.frame_seconds,
    )

"""Finish an edit in your own editor: Audacity labels, a REAPER project, an OpenTimelineIO timeline and a cue
sheet of an EDL, and the way back (a label track or a timeline the user edited, read as an EDL).

Every export describes the same segments as the EDL, to the sample, and references the raw recording by a
path relative to the export (keep them together, or move them together):

=============  =======================  =====================================================================
format         file                     what it holds
=============  =======================  =====================================================================
``audacity``   ``OUT.labels.txt``       an Audacity label track on the *raw*: one region label per kept span,
                                        ``start<TAB>end<TAB>label`` in seconds, the label its order in the
                                        edit and any effect (``2 gain_db=-3``); a point label where each seam
                                        leaves the raw; a point label at 0 s with the render settings
                                        (``musicedit crossfade_s=... loudness_match=True``)
``reaper``     ``OUT.rpp``              a REAPER project: one track, one item per segment in edit order, each
                                        playing its span of the raw file; crossfades are overlapping items with
                                        fades, a segment's fades are item fades, its gain the item volume,
                                        stretch and pitch the take's play rate; seams are project markers
``otio``       ``OUT.otio``             an OpenTimelineIO timeline (``opentimelineio``): one audio track of
                                        clips of the raw (an external reference) in edit order, crossfades as
                                        dissolve transitions, each segment's effects in the clip's
                                        ``metadata["musicedit"]`` (reverse and stretch also as a
                                        ``LinearTimeWarp``), the EDL's settings and meta in the timeline's
``cue``        ``OUT.cue``              a cue sheet of the *output* audio: one track per section (a stretch
                                        of the edit between two seams), titled with the raw span it plays
=============  =======================  =====================================================================

What an export cannot hold: REAPER and OpenTimelineIO players do not apply MusicEdit's EQ, distortion and
reverb (they are named in the item and clip) nor the seam loudness matching (its gains are in the notes
and the EDL's ``meta["seams"]``); ``musicedit render`` applies everything.

Re-import (:func:`read_edit`): ``musicedit render RAW --edl FILE -o OUT`` takes an EDL JSON, an ``.otio``
timeline or an Audacity label track (``.txt``). A label track gives one segment per region label: in the
order of the labels' leading numbers when every label has a distinct one (the edit's own order, so a
reordered edit survives the round trip), else in time order; ``key=value`` words in a label are effects;
point labels are markers (ignored, but for the settings label). Labels may not run backwards or overlap (a
label track cannot show a span played twice: export such edits as OTIO). Every error names the file and
the line or clip, and what to change.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from editor_env.edl import EditList, Effects, Segment, segments_continuous
from editor_env.errors import MusicEditError

FORMATS: dict[str, str] = {"audacity": ".labels.txt", "reaper": ".rpp", "otio": ".otio", "cue": ".cue"}
"""Export format name -> the suffix its file gets after the output's stem."""
SETTINGS_LABEL = "musicedit"
"""First word of the point label that carries the render settings in a label track."""
CUE_FRAMES_PER_S = 75
"""Cue sheets count time in CD frames."""
MAX_CUE_TRACKS = 99
LABEL_TOLERANCE_S = 1e-3
"""A label may end this far past the recording's end (rounding)."""


# -- names and paths ---------------------------------------------------------------------------------
def parse_formats(formats: str | Iterable[str]) -> list[str]:
    """Export formats from ``"audacity,reaper"`` (or a list; ``"all"`` is every format), in :data:`FORMATS`
    order, each once.

    :raises MusicEditError: an unknown name, naming the known ones.
    """
    names = [f.strip().lower() for f in (formats.split(",") if isinstance(formats, str) else formats)]
    names = [n for n in names if n]
    if "all" in names:
        return list(FORMATS)
    unknown = [n for n in names if n not in FORMATS]
    if unknown or not names:
        raise MusicEditError(
            f"--export / --format {','.join(unknown) or '(empty)'}: choose from {', '.join(FORMATS)} or all, "
            "comma-separated (e.g. --export audacity,reaper)."
        )
    return [n for n in FORMATS if n in names]


def export_paths(stem: str | os.PathLike, formats: Iterable[str]) -> dict[str, Path]:
    """Where each export of ``stem`` goes (``stem`` is the output without its suffix, e.g. ``out/track``):
    ``{format: Path(stem + suffix)}``."""
    stem = Path(stem)
    return {name: stem.with_name(stem.name + FORMATS[name]) for name in parse_formats(list(formats))}


def _relative(target: Path, folder: Path) -> str:
    """``target`` relative to ``folder``, with forward slashes (what REAPER and OTIO expect)."""
    return Path(os.path.relpath(Path(target).resolve(), Path(folder).resolve())).as_posix()


def _fmt_value(value: Any) -> str:
    return repr(float(value)) if isinstance(value, float) else str(value)


def _effect_words(fx: Effects) -> list[str]:
    return [f"{k}={_fmt_value(v)}" for k, v in fx.to_dict().items()]


# -- the layout shared by the exports ------------------------------------------------------------------
@dataclasses.dataclass
class _Item:
    """One segment placed on the output timeline with its crossfade handles (output samples)."""

    index: int
    segment: Segment
    out_start: int
    out_length: int
    head: int
    """Samples of crossfade before ``out_start`` (half the seam's crossfade; 0 without a seam or with a fade-in)."""
    tail: int
    """Samples of crossfade after the segment's end."""
    seam_before: int | None
    """1-based number of the seam at the segment's start, or None."""


def _items(edl: EditList) -> list[_Item]:
    """Every segment with the crossfade the renderer gives each of its seams (halves limited by the runs'
    lengths exactly as :func:`editor_env.render.render` limits them)."""
    from editor_env.render import seam_crossfade_s

    sr = edl.sample_rate
    half_fade = int(round(seam_crossfade_s(edl) * sr / 2))
    starts = edl.output_starts()
    segs = edl.segments
    # run lengths (output samples) of the run each segment belongs to
    run_of, run_lengths = [], []
    for k, seg in enumerate(segs):
        if k > 0 and segments_continuous(segs[k - 1], seg):
            run_lengths[-1] += seg.output_length()
        else:
            run_lengths.append(seg.output_length())
        run_of.append(len(run_lengths) - 1)
    items, seam = [], 0
    for k, seg in enumerate(segs):
        items.append(_Item(k, seg, int(starts[k]), seg.output_length(), 0, 0, None))
        if k > 0 and not segments_continuous(segs[k - 1], seg):
            seam += 1
            half = min(half_fade, min(run_lengths[run_of[k - 1]], run_lengths[run_of[k]]) // 2)
            items[k].seam_before = seam
            if seg.effects.fade_in_s == 0:  # a fade-in starts the segment itself: no handle before it
                items[k].head = half
            if segs[k - 1].effects.fade_out_s == 0:
                items[k - 1].tail = half
    return items


def _seam_notes(edl: EditList) -> dict[int, str]:
    """``{seam number: "matched -2.1 dB"}`` from the loudness matching recorded in ``meta["seams"]``."""
    notes = {}
    for record in edl.meta.get("seams", []) or []:
        if isinstance(record, dict) and record.get("gain_db"):
            notes[int(record["index"])] = f"matched {record['gain_db']:+.1f} dB"
    return notes


# -- Audacity labels ---------------------------------------------------------------------------------
def labels_text(edl: EditList) -> str:
    """An Audacity label track of ``edl`` on the raw (module docstring): lines ``start<TAB>end<TAB>label``,
    times in seconds with six decimals (exact to the sample below 1 MHz)."""
    sr = edl.sample_rate
    settings = {
        "crossfade_s": edl.crossfade_s,
        "crossfade_beats": edl.crossfade_beats,
        "beat_s": edl.beat_s,
        "loudness_match": edl.loudness_match,
    }
    words = " ".join(f"{k}={_fmt_value(v)}" for k, v in settings.items() if v is not None)
    lines = [(0.0, 0.0, f"{SETTINGS_LABEL} {words}")]
    for k, seg in enumerate(edl.segments):
        lines.append((seg.raw_start / sr, seg.raw_end / sr, " ".join([str(k + 1), *_effect_words(seg.effects)])))
    notes = _seam_notes(edl)
    for number, (_, leave, enter) in enumerate(edl.seams(), start=1):
        text = f"seam {number}: to {enter / sr:.3f} s"
        if number in notes:
            text += f", {notes[number]}"
        lines.append((leave / sr, leave / sr, text))
    lines.sort(key=lambda line: (line[0], line[1]))
    return "".join(f"{a:.6f}\t{b:.6f}\t{text}\n" for a, b, text in lines)


def _parse_value(text: str) -> Any:
    if text.lower() in ("true", "false"):
        return text.lower() == "true"
    return float(text)


def read_labels(path: str | os.PathLike, *, sample_rate: int, raw_length: int, text: str | None = None) -> EditList:
    """The edit an Audacity label track describes (module docstring), for a raw of ``raw_length`` samples at
    ``sample_rate``.

    :raises MusicEditError: naming the file and line: not three tab-separated fields, a time that is not a
        number, a label that runs backwards or overlaps another, lies outside the recording, or names an
        unknown effect; or a track with no region label at all.
    """
    path = Path(path)
    if text is None:
        try:
            text = path.read_text()
        except (OSError, UnicodeDecodeError) as exc:
            raise MusicEditError(f"Cannot read the label track {path}: {exc}") from exc
    raw_s = raw_length / sample_rate
    settings: dict[str, Any] = {"loudness_match": True}
    regions = []  # (start_s, end_s, line number, words)
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip() or line.startswith("\\"):  # Audacity writes a spectral label's frequencies as "\\\t..."
            continue
        fields = line.split("\t")
        if len(fields) not in (2, 3):
            raise MusicEditError(
                f"{path} line {number}: {line!r} is not an Audacity label (START<TAB>END<TAB>TEXT, times in seconds)."
            )
        try:
            start, end = float(fields[0]), float(fields[1])
        except ValueError:
            raise MusicEditError(
                f"{path} line {number}: {fields[0]!r} / {fields[1]!r} are not times in seconds."
            ) from None
        if not (math.isfinite(start) and math.isfinite(end)):
            raise MusicEditError(f"{path} line {number}: the times must be finite seconds.")
        words = fields[2].split() if len(fields) == 3 else []
        if end < start:
            raise MusicEditError(
                f"{path} line {number}: the label ends at {end:g} s, before it starts at {start:g} s (a reversed "
                "label); drag its end after its start."
            )
        if end == start:  # a point label: a marker, or the settings
            if words and words[0] == SETTINGS_LABEL:
                settings.update(_settings_words(words[1:], path, number))
            continue
        if start < 0 or end > raw_s + LABEL_TOLERANCE_S:
            raise MusicEditError(
                f"{path} line {number}: the label {start:g}-{end:g} s lies outside the recording (0-{raw_s:.3f} s): "
                "was the track made for another file?"
            )
        regions.append((start, end, number, words))
    if not regions:
        raise MusicEditError(f"{path} has no region label (START < END): label the spans of the raw to keep.")
    by_time = sorted(regions, key=lambda r: (r[0], r[1]))
    for prev, cur in zip(by_time[:-1], by_time[1:]):
        if cur[0] < prev[1] - 0.5 / sample_rate:
            raise MusicEditError(
                f"{path} line {cur[2]}: the label {cur[0]:g}-{cur[1]:g} s overlaps line {prev[2]} "
                f"({prev[0]:g}-{prev[1]:g} s); a label track plays each span once: trim one of them (for an "
                "edit that repeats material, use the EDL JSON or the .otio timeline)."
            )
    orders = [r[3][0] for r in regions if r[3] and r[3][0].isdigit()]
    ordered = len(orders) == len(regions) and len(set(int(o) for o in orders)) == len(orders)
    chosen = sorted(regions, key=lambda r: int(r[3][0])) if ordered else by_time
    segments = []
    for start, end, number, words in chosen:
        effects = {}
        for word in words[1:] if words and words[0].isdigit() else words:
            key, sep, value = word.partition("=")
            if not sep:
                continue  # free text of the user's
            if key not in {f.name for f in dataclasses.fields(Effects)}:
                raise MusicEditError(
                    f"{path} line {number}: unknown effect {key!r}; known effects: "
                    f"{', '.join(f.name for f in dataclasses.fields(Effects))}."
                )
            try:
                effects[key] = _parse_value(value)
            except ValueError:
                raise MusicEditError(f"{path} line {number}: {word!r}: {value!r} is not a number.") from None
        a = int(round(start * sample_rate))
        b = min(int(round(end * sample_rate)), raw_length)
        if b <= a:
            raise MusicEditError(f"{path} line {number}: the label {start:g}-{end:g} s is shorter than a sample.")
        try:
            segments.append(Segment(a, b, Effects(**effects)))
        except MusicEditError as exc:
            raise MusicEditError(f"{path} line {number}: {exc}") from exc
    meta = {"imported_from": path.name, "order": "label numbers" if ordered else "time"}
    return _edit_list(sample_rate, raw_length, segments, settings, meta, f"{path}")


def _settings_words(words: list[str], path: Path, number: int) -> dict[str, Any]:
    known = {"crossfade_s", "crossfade_beats", "beat_s", "loudness_match"}
    settings = {}
    for word in words:
        key, _, value = word.partition("=")
        if key not in known:
            raise MusicEditError(f"{path} line {number}: unknown setting {key!r}; known settings: {sorted(known)}.")
        try:
            settings[key] = _parse_value(value)
        except ValueError:
            raise MusicEditError(f"{path} line {number}: setting {word!r}: {value!r} is not a number.") from None
    return settings


def _edit_list(sample_rate, raw_length, segments, settings: dict[str, Any], meta, source: str) -> EditList:
    try:
        return EditList(
            sample_rate,
            raw_length,
            segments,
            crossfade_s=float(settings.get("crossfade_s", 0.02)),
            meta=meta,
            crossfade_beats=None if settings.get("crossfade_beats") is None else float(settings["crossfade_beats"]),
            beat_s=None if settings.get("beat_s") is None else float(settings["beat_s"]),
            loudness_match=bool(settings.get("loudness_match", True)),
        )
    except MusicEditError as exc:
        raise MusicEditError(f"{source}: {exc}") from exc


# -- REAPER ------------------------------------------------------------------------------------------
_REAPER_SOURCES = {".wav": "WAVE", ".flac": "FLAC", ".ogg": "VORBIS"}


def _rpp_string(text: str) -> str:
    """A string field of a REAPER project: double quotes, or single / back quotes when it holds them."""
    for quote in ('"', "'", "`"):
        if quote not in text:
            return f"{quote}{text}{quote}"
    return '"' + text.replace('"', "'") + '"'


def reaper_text(edl: EditList, raw_ref: str) -> str:
    """A REAPER project (``.rpp``) of ``edl`` whose items play ``raw_ref`` (the raw, relative to the project).

    Items overlap by each seam's crossfade, both sides fading over its full length (REAPER's fade shape 1; the
    renderer's equal-power curves may differ slightly in shape); a segment's own fades are the item's fades,
    its ``gain_db`` the item volume, ``stretch`` and ``pitch_semitones`` the take's play rate (pitch kept) and
    pitch, ``reverse`` a reversed source section. Times are seconds with nine decimals (well below a sample).
    """
    sr = edl.sample_rate
    kind = _REAPER_SOURCES.get(Path(raw_ref).suffix.lower(), "WAVE")
    notes = _seam_notes(edl)
    lines = [
        '<REAPER_PROJECT 0.1 "6.0" 0',
        f"  SAMPLERATE {sr} 0 0",
        "  <NOTES 0 2",
        f"    |MusicEdit edit of {raw_ref}: {len(edl.segments)} segment(s), {len(edl.seams())} seam(s).",
        "    |EQ, distortion, reverb and the seam loudness matching are applied by `musicedit render` only.",
        "  >",
    ]
    for number, (out_sample, _, _) in enumerate(edl.seams(), start=1):
        name = f"seam {number}" + (f" {notes[number]}" if number in notes else "")
        lines.append(f"  MARKER {number} {out_sample / sr:.9f} {_rpp_string(name)} 0")
    lines += ["  <TRACK", f"    NAME {_rpp_string('MusicEdit: ' + Path(raw_ref).stem)}"]
    for item in _items(edl):
        seg, fx = item.segment, item.segment.effects
        fade_in = fx.fade_in_s if fx.fade_in_s > 0 else 2 * item.head / sr
        fade_out = fx.fade_out_s if fx.fade_out_s > 0 else 2 * item.tail / sr
        stretch = float(fx.stretch)
        # source offset (raw seconds): the handle before the segment plays raw audio before it (after it,
        # reversed: a reversed section counts from the raw's end)
        if fx.reverse:
            offset = (edl.raw_length - seg.raw_end) / sr - item.head * stretch / sr
        else:
            offset = seg.raw_start / sr - item.head * stretch / sr
        name = " ".join([str(item.index + 1), *_effect_words(fx)])
        lines += [
            "    <ITEM",
            f"      POSITION {(item.out_start - item.head) / sr:.9f}",
            f"      LENGTH {(item.out_length + item.head + item.tail) / sr:.9f}",
            "      LOOP 0",
            f"      FADEIN 1 {fade_in:.9f} 0",
            f"      FADEOUT 1 {fade_out:.9f} 0",
            f"      NAME {_rpp_string(name)}",
            f"      VOLPAN {10.0 ** (fx.gain_db / 20.0):.9f} 0 1 -1",
            f"      SOFFS {offset:.9f}",
            f"      PLAYRATE {stretch:.9f} 1 {float(fx.pitch_semitones):.9f} -1",
        ]
        source = ["<SOURCE " + kind, f"  FILE {_rpp_string(raw_ref)}", ">"]
        if fx.reverse:
            source = [
                "<SOURCE SECTION",
                f"  LENGTH {edl.raw_length / sr:.9f}",
                "  MODE 3",
                "  STARTPOS 0",
                "  OVERLAP 0",
                *["  " + s for s in source],
                ">",
            ]
        lines += ["      " + s for s in source]
        lines.append("    >")
    lines += ["  >", ">"]
    return "\n".join(lines) + "\n"


# -- OpenTimelineIO ----------------------------------------------------------------------------------
OTIO_KEY = "musicedit"
"""Metadata namespace of MusicEdit in a timeline and its clips."""


def _plain_json(value: Any) -> Any:
    """``value`` as plain JSON types (OTIO metadata holds only those)."""
    return json.loads(json.dumps(value, default=str))


def _from_otio(value: Any) -> Any:
    """OTIO metadata (``AnyDictionary`` / ``AnyVector``) back as plain dicts and lists."""
    if isinstance(value, (str, bytes, int, float, bool)) or value is None:
        return value
    if hasattr(value, "items"):
        return {str(k): _from_otio(v) for k, v in value.items()}
    try:
        return [_from_otio(v) for v in value]
    except TypeError:
        return value


def otio_timeline(edl: EditList, raw_ref: str, *, name: str = "MusicEdit"):
    """An ``opentimelineio.schema.Timeline`` of ``edl``: one audio track of clips of ``raw_ref`` at the raw's
    sample rate (so every time is a whole number of samples), dissolves at the seams, markers at the seams."""
    import opentimelineio as otio

    sr = edl.sample_rate

    def rt(samples: int) -> Any:
        return otio.opentime.RationalTime(samples, sr)

    timeline = otio.schema.Timeline(name=name)
    timeline.global_start_time = rt(0)
    timeline.metadata[OTIO_KEY] = _plain_json(
        {
            "sample_rate": sr,
            "raw_length": edl.raw_length,
            "crossfade_s": edl.crossfade_s,
            "crossfade_beats": edl.crossfade_beats,
            "beat_s": edl.beat_s,
            "loudness_match": edl.loudness_match,
            "meta": edl.meta,
        }
    )
    track = otio.schema.Track(name="MusicEdit", kind=otio.schema.TrackKind.Audio)
    items = _items(edl)
    for item in items:
        seg, fx = item.segment, item.segment.effects
        before = items[item.index - 1].tail if item.index > 0 else 0
        if item.seam_before is not None and (before > 0 or item.head > 0):
            # the crossfade is centred on the cut: in_offset from the outgoing clip, out_offset from the incoming
            track.append(
                otio.schema.Transition(
                    name=f"seam {item.seam_before}",
                    transition_type=otio.schema.TransitionTypes.SMPTE_Dissolve,
                    in_offset=rt(before),
                    out_offset=rt(item.head),
                )
            )
        reference = otio.schema.ExternalReference(
            target_url=raw_ref, available_range=otio.opentime.TimeRange(rt(0), rt(edl.raw_length))
        )
        clip = otio.schema.Clip(
            name=" ".join([str(item.index + 1), *_effect_words(fx)]),
            media_reference=reference,
            source_range=otio.opentime.TimeRange(rt(seg.raw_start), rt(seg.raw_length)),
        )
        clip.metadata[OTIO_KEY] = _plain_json(
            {
                "segment": item.index,
                "effects": fx.to_dict(),
                **({"raw_start_beat": seg.raw_start_beat} if seg.raw_start_beat is not None else {}),
                **({"raw_end_beat": seg.raw_end_beat} if seg.raw_end_beat is not None else {}),
            }
        )
        if fx.reverse or fx.stretch != 1.0:
            clip.effects.append(otio.schema.LinearTimeWarp(time_scalar=(-1.0 if fx.reverse else 1.0) * fx.stretch))
        track.append(clip)
    notes = _seam_notes(edl)
    for number, (out_sample, _, _) in enumerate(edl.seams(), start=1):
        track.markers.append(
            otio.schema.Marker(
                name=f"seam {number}" + (f" {notes[number]}" if number in notes else ""),
                marked_range=otio.opentime.TimeRange(rt(out_sample), rt(0)),
            )
        )
    timeline.tracks.append(track)
    return timeline


def otio_text(edl: EditList, raw_ref: str, *, name: str = "MusicEdit") -> str:
    """:func:`otio_timeline` serialised as OpenTimelineIO JSON (``.otio``)."""
    import opentimelineio as otio

    return otio.adapters.write_to_string(otio_timeline(edl, raw_ref, name=name), "otio_json")


def read_otio(
    path: str | os.PathLike, *, sample_rate: int, raw_length: int, raw_name: str | None = None, text: str | None = None
) -> EditList:
    """The edit an OpenTimelineIO timeline describes, for a raw of ``raw_length`` samples at ``sample_rate``
    (named ``raw_name``: every clip must reference a file of that name).

    The first track with clips gives the segments, in order; transitions are the seams' crossfades (their
    length comes from the timeline's ``metadata["musicedit"]`` when MusicEdit wrote it); a clip's effects come
    from its ``metadata["musicedit"]["effects"]``, else reverse and stretch from a ``LinearTimeWarp``.

    :raises MusicEditError: an unreadable file, a timeline made for another recording, a second track with
        clips, a gap, a nested track, or a clip without a file reference, of another file, outside the
        recording or with unknown effects: each naming the clip (its position and name) and what to do.
    """
    import opentimelineio as otio

    path = Path(path)
    try:
        text = path.read_text() if text is None else text
        timeline = otio.adapters.read_from_string(text, "otio_json")
    except Exception as exc:  # OTIO raises its own exception types and ValueError for malformed JSON
        raise MusicEditError(f"Cannot read the OpenTimelineIO timeline {path}: {exc}") from exc
    if not isinstance(timeline, otio.schema.Timeline):
        raise MusicEditError(f"{path} holds a {type(timeline).__name__}, not an OpenTimelineIO Timeline.")
    info = _from_otio(timeline.metadata.get(OTIO_KEY, {}) or {})
    if info.get("sample_rate") not in (None, sample_rate) or info.get("raw_length") not in (None, raw_length):
        raise MusicEditError(
            f"{path} was made for a recording of {info.get('raw_length')} samples at {info.get('sample_rate')} Hz, "
            f"not this one ({raw_length} samples at {sample_rate} Hz): render it against the recording it was made for."
        )
    tracks = [t for t in timeline.tracks if any(isinstance(c, otio.schema.Clip) for c in t)]
    if not tracks:
        raise MusicEditError(f"{path} has no track with clips: nothing to render.")
    if len(tracks) > 1:
        raise MusicEditError(
            f"{path}: tracks {tracks[0].name!r} and {tracks[1].name!r} both hold clips; MusicEdit renders one "
            "track of one recording: merge them or delete one."
        )
    segments, fades = [], []
    for index, child in enumerate(tracks[0], start=1):
        where = f"{path} item {index} ({type(child).__name__} {child.name!r})"
        if isinstance(child, otio.schema.Transition):
            fades.append((child.in_offset + child.out_offset).rescaled_to(sample_rate).value)
            continue
        if isinstance(child, otio.schema.Gap):
            raise MusicEditError(f"{where} is a gap: an edit plays the raw without silences between clips; remove it.")
        if not isinstance(child, otio.schema.Clip):
            raise MusicEditError(f"{where}: only clips and transitions can be rendered; flatten nested tracks.")
        reference = child.media_reference
        if not isinstance(reference, otio.schema.ExternalReference):
            raise MusicEditError(f"{where} references no file ({type(reference).__name__}): link it to the raw.")
        target = reference.target_url.split("://", 1)[-1]
        if raw_name is not None and Path(target).name != raw_name:
            raise MusicEditError(
                f"{where} plays {Path(target).name}, not the raw recording {raw_name}: MusicEdit edits one recording."
            )
        if child.source_range is None:
            raise MusicEditError(f"{where} has no source range: trim it to the span of the raw it plays.")
        start = int(round(child.source_range.start_time.rescaled_to(sample_rate).value))
        length = int(round(child.source_range.duration.rescaled_to(sample_rate).value))
        if start < 0 or length <= 0 or start + length > raw_length:
            raise MusicEditError(
                f"{where} plays {start / sample_rate:.3f}-{(start + length) / sample_rate:.3f} s, outside the "
                f"recording (0-{raw_length / sample_rate:.3f} s) or empty: trim it inside the recording."
            )
        ours = _from_otio(child.metadata.get(OTIO_KEY, {}) or {})
        try:
            if "effects" in ours:
                effects = Effects.from_dict(ours["effects"])
            else:
                warp = [e for e in child.effects if isinstance(e, otio.schema.LinearTimeWarp)]
                scalar = float(warp[0].time_scalar) if warp else 1.0
                if scalar == 0:
                    raise MusicEditError("a LinearTimeWarp of 0 (a freeze frame) cannot be rendered")
                effects = Effects(reverse=scalar < 0, stretch=abs(scalar))
            segments.append(
                Segment(start, start + length, effects, ours.get("raw_start_beat"), ours.get("raw_end_beat"))
            )
        except MusicEditError as exc:
            raise MusicEditError(f"{where}: {exc}") from exc
    settings = {k: info[k] for k in ("crossfade_s", "crossfade_beats", "beat_s", "loudness_match") if k in info}
    if "crossfade_s" not in settings and fades:
        settings["crossfade_s"] = max(fades) / sample_rate
    meta = dict(info.get("meta", {}) or {})
    meta["imported_from"] = path.name
    return _edit_list(sample_rate, raw_length, segments, settings, meta, str(path))


# -- cue sheet ---------------------------------------------------------------------------------------
def _cue_time(seconds: float) -> str:
    frames = int(round(seconds * CUE_FRAMES_PER_S))
    return f"{frames // (60 * CUE_FRAMES_PER_S):02d}:{(frames // CUE_FRAMES_PER_S) % 60:02d}:{frames % CUE_FRAMES_PER_S:02d}"


def _clock(seconds: float) -> str:
    return f"{int(seconds // 60)}:{seconds % 60:05.2f}"


def sections(edl: EditList) -> list[tuple[float, float, float]]:
    """The edit's sections: every stretch of the output between two seams, as ``(output_start_s,
    raw_from_s, raw_to_s)`` (where it starts in the output, and the raw span it plays)."""
    sr = edl.sample_rate
    out = []
    starts = edl.output_starts()
    for k, seg in enumerate(edl.segments):
        a, b = (seg.raw_end, seg.raw_start) if seg.effects.reverse else (seg.raw_start, seg.raw_end)
        if k > 0 and segments_continuous(edl.segments[k - 1], seg):
            out[-1] = (out[-1][0], out[-1][1], b / sr)
        else:
            out.append((starts[k] / sr, a / sr, b / sr))
    return out


def cue_text(edl: EditList, audio_ref: str, *, title: str | None = None) -> str:
    """A cue sheet of the output ``audio_ref``: one ``TRACK`` per section (:func:`sections`) titled with the raw
    span it plays, ``INDEX 01`` at its start (CD frames of 1/75 s). Sections that start in the same frame are
    merged; past :data:`MAX_CUE_TRACKS` the rest are merged into the last track (a ``REM`` says so)."""
    title = Path(audio_ref).stem if title is None else title
    lines = [
        'REM GENERATOR "MusicEdit"',
        'REM COMMENT "one track per section of the edit (between two seams), titled with the raw span it plays"',
        f"TITLE {_cue_quote(title)}",
        f"FILE {_cue_quote(audio_ref)} WAVE",
    ]
    tracks: list[tuple[str, str]] = []
    for start, a, b in sections(edl):
        time = _cue_time(start)
        name = f"raw {_clock(min(a, b))}-{_clock(max(a, b))}" + (" reversed" if b < a else "")
        if tracks and tracks[-1][0] == time:
            continue
        tracks.append((time, name))
    extra = len(tracks) - MAX_CUE_TRACKS
    if extra > 0:
        lines.insert(2, f'REM COMMENT "{extra} more section(s) merged into track {MAX_CUE_TRACKS}"')
        tracks = tracks[:MAX_CUE_TRACKS]
    for number, (time, name) in enumerate(tracks, start=1):
        lines += [f"  TRACK {number:02d} AUDIO", f"    TITLE {_cue_quote(f'Section {number}: {name}')}"]
        lines.append(f"    INDEX 01 {time}")
    return "\n".join(lines) + "\n"


def _cue_quote(text: str) -> str:
    return '"' + text.replace('"', "'") + '"'


# -- writing and reading -----------------------------------------------------------------------------
def write_exports(
    edl: EditList,
    formats: str | Iterable[str],
    *,
    stem: str | os.PathLike,
    raw_path: str | os.PathLike,
    audio_path: str | os.PathLike | None = None,
) -> dict[str, Path]:
    """Write the exports ``formats`` of ``edl`` beside ``stem`` (:func:`export_paths`), atomically; each
    references ``raw_path`` (and the cue sheet ``audio_path``) by a path relative to itself.

    :returns: ``{format: path written}``.
    :raises MusicEditError: an unknown format, a cue sheet without ``audio_path``, or an export path that is
        the raw or the audio (never overwritten).
    """
    from editor_env.io import atomic_write_text

    paths = export_paths(stem, parse_formats(formats))
    raw_path = Path(raw_path)
    for path in paths.values():
        for protected in (raw_path, audio_path):
            if protected is not None and Path(path).resolve() == Path(protected).resolve():
                raise MusicEditError(f"Refusing to overwrite {protected} with an export: choose another output name.")
    written = {}
    for name, path in paths.items():
        folder = path.parent
        if name == "audacity":
            text = labels_text(edl)
        elif name == "reaper":
            text = reaper_text(edl, _relative(raw_path, folder))
        elif name == "otio":
            text = otio_text(edl, _relative(raw_path, folder), name=Path(stem).name)
        else:
            if audio_path is None:
                raise MusicEditError("A cue sheet describes the edited audio: give the audio file (--audio OUT.wav).")
            text = cue_text(edl, _relative(Path(audio_path), folder), title=Path(stem).name)
        written[name] = atomic_write_text(path, text)
    return written


def read_edit(path: str | os.PathLike, *, sample_rate: int, raw_length: int, raw_name: str | None = None) -> EditList:
    """The edit in ``path`` for a raw of ``raw_length`` samples at ``sample_rate``: an EDL JSON (``.json``), an
    OpenTimelineIO timeline (``.otio``) or an Audacity label track (``.txt``; :func:`read_labels`).

    :raises MusicEditError: another suffix, or what the reader of that kind raises.
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if not path.is_file():
        raise MusicEditError(f"The edit {path} does not exist: give an EDL JSON, an .otio timeline or a label track.")
    if suffix == ".json":
        return EditList.load(path)
    if suffix == ".otio":
        return read_otio(path, sample_rate=sample_rate, raw_length=raw_length, raw_name=raw_name)
    if suffix == ".txt":
        return read_labels(path, sample_rate=sample_rate, raw_length=raw_length)
    raise MusicEditError(
        f"{path}: cannot tell what kind of edit a {suffix or 'suffix-less'} file is; give an EDL JSON (.json), "
        "an OpenTimelineIO timeline (.otio) or an Audacity label track (.txt)."
    )


# -- whole files: what `musicedit render` and `musicedit export` call ---------------------------------
@dataclasses.dataclass
class RenderResult:
    """What :func:`render_file` did.

    :param output_path: the audio written.
    :param edl_path: the EDL JSON written beside it (None when that path is the edit that was read).
    :param edl: the edit rendered.
    :param seams: the renderer's record of every seam (:func:`editor_env.render.render`'s ``seam_info``).
    :param exports: ``{format: path}`` written beside the audio.
    """

    output_path: Path
    edl_path: Path | None
    edl: EditList
    seams: list
    exports: dict


def render_file(
    raw_path: str | os.PathLike,
    edit_path: str | os.PathLike,
    out_path: str | os.PathLike,
    *,
    exports: str | Iterable[str] | None = None,
) -> RenderResult:
    """Render the edit in ``edit_path`` (EDL JSON, ``.otio`` or Audacity labels: :func:`read_edit`) from
    ``raw_path`` into ``out_path`` through :func:`editor_env.render.render`, and write its EDL JSON beside it
    (``{out_stem}.edl.json``, unless that is ``edit_path`` itself) and the ``exports``. An EDL JSON renders
    exactly as it says; a label track or a timeline gets the settings it carries (MusicEdit writes them), else
    loudness-matched seams with the EDL's default crossfade. Nothing is read that is written: the raw and the
    edit are never overwritten, and every file is written atomically.

    :raises MusicEditError: an output that is the raw or the edit, an unsupported output suffix, an unreadable
        raw, or an edit that cannot be read or does not fit the raw (naming the line or clip).
    """
    from editor_env.audio import load_audio, write_audio
    from editor_env.edit import check_output_paths, edl_path_for
    from editor_env.render import render

    raw_path, edit_path, out_path = Path(raw_path), Path(edit_path), Path(out_path)
    formats = parse_formats(exports) if exports else []
    extra = list(export_paths(out_path.with_suffix(""), formats).values()) if formats else []
    edl_path = edl_path_for(out_path)
    check_output_paths(raw_path, out_path, *extra, edl_path=edl_path)
    for written in (out_path, *extra):
        if written.resolve() == edit_path.resolve():
            raise MusicEditError(f"Refusing to overwrite the edit {edit_path} with {written}: choose another output.")
    raw = load_audio(raw_path)
    edl = read_edit(edit_path, sample_rate=raw.sample_rate, raw_length=raw.n_samples, raw_name=raw_path.name)
    seam_info: list = []
    audio = render(edl, raw, seam_info=seam_info)
    edl.meta.update(
        source=raw_path.name,
        raw_file=_relative(raw_path, edl_path.parent),
        output_file=_relative(out_path, edl_path.parent),
        seams=seam_info,
    )
    write_audio(out_path, audio, raw.sample_rate)
    write_edl = edl_path.resolve() != edit_path.resolve()
    if write_edl:
        edl.save(edl_path)
    written = (
        write_exports(edl, formats, stem=out_path.with_suffix(""), raw_path=raw_path, audio_path=out_path)
        if formats
        else {}
    )
    return RenderResult(out_path, edl_path if write_edl else None, edl, seam_info, written)


def export_file(
    edl_path: str | os.PathLike,
    formats: str | Iterable[str],
    *,
    raw_path: str | os.PathLike | None = None,
    audio_path: str | os.PathLike | None = None,
    stem: str | os.PathLike | None = None,
) -> dict[str, Path]:
    """Write the exports of an existing EDL JSON (:func:`write_exports`).

    :param raw_path: the raw recording; default: the EDL's ``meta["raw_file"]`` (relative to the EDL), else a
        file named ``meta["source"]`` beside the EDL.
    :param audio_path: the rendered edit, for the cue sheet; default the EDL's ``meta["output_file"]``.
    :param stem: where the exports go, without suffix; default beside the audio and named after it when it is
        known, else after the EDL (``X.edl.json`` -> ``X.labels.txt`` ...).
    :raises MusicEditError: an unreadable EDL, a raw that cannot be found (pass ``raw_path``), a cue sheet
        without audio, an unknown format.
    """
    edl_path = Path(edl_path)
    formats = parse_formats(formats)
    edl = EditList.load(edl_path)
    folder = edl_path.parent
    if raw_path is None:
        for key in ("raw_file", "source"):
            if edl.meta.get(key) and (folder / str(edl.meta[key])).is_file():
                raw_path = folder / str(edl.meta[key])
                break
        else:
            raise MusicEditError(
                f"{edl_path} does not say where its raw recording is (or it moved): pass it with --raw RAW."
            )
    if audio_path is None and edl.meta.get("output_file") and (folder / str(edl.meta["output_file"])).is_file():
        audio_path = folder / str(edl.meta["output_file"])
    if stem is None:
        if audio_path is not None:
            stem = Path(audio_path).with_suffix("")
        else:
            name = edl_path.name
            for suffix in (".edl.json", ".json"):
                if name.endswith(suffix):
                    name = name[: -len(suffix)]
                    break
            stem = folder / name
    return write_exports(edl, formats, stem=stem, raw_path=raw_path, audio_path=audio_path)


__all__ = [
    "FORMATS",
    "RenderResult",
    "cue_text",
    "export_file",
    "export_paths",
    "labels_text",
    "otio_text",
    "otio_timeline",
    "parse_formats",
    "read_edit",
    "read_labels",
    "read_otio",
    "reaper_text",
    "render_file",
    "sections",
    "write_exports",
]

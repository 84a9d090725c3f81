"""Exports for other editors (editor_env.exports): each parses with its own reader and describes the EDL's segments
to the sample; label tracks and OpenTimelineIO timelines come back through the one renderer; bad files are
refused naming the line or clip; the command line writes and reads them."""

from __future__ import annotations

import re

import numpy as np
import pytest
import soundfile as sf

from editor_env.audio import Audio
from editor_env.edl import EditList, Effects, Segment
from editor_env.errors import MusicEditError
from editor_env.exports import (
    cue_text,
    labels_text,
    otio_text,
    read_labels,
    read_otio,
    reaper_text,
    sections,
    write_exports,
)
from editor_env.render import render

SR = 22050


def _raw(seconds: float = 12.0, channels: int = 2) -> Audio:
    rng = np.random.default_rng(3)
    t = np.arange(int(seconds * SR)) / SR
    tone = 0.2 * np.sin(2 * np.pi * 220.0 * t) + 0.05 * rng.standard_normal(t.size)
    return Audio(np.tile(tone.astype(np.float32), (channels, 1)), SR)


def _edl(raw: Audio) -> EditList:
    """Cuts, a reorder, a reversed and a stretched segment with effects, a continuous boundary (no seam), fades."""
    n = raw.n_samples
    segments = [
        Segment(1000, 30000),
        Segment(30000, 50000),  # continues the first: no seam
        Segment(90000, 120000, Effects(gain_db=-3.0, fade_in_s=0.05)),
        Segment(60000, 80000, Effects(reverse=True)),
        Segment(150000, 190000, Effects(stretch=1.25, eq_low_db=3.0)),
        Segment(200000, n - 500, Effects(fade_out_s=0.5)),
    ]
    return EditList(SR, n, segments, crossfade_s=0.04, meta={"paradigm": "test"}, loudness_match=True)


# -- the label format: a strict reader of the test's own -------------------------------------------------------
LINE = re.compile(r"^(\d+\.\d{6})\t(\d+\.\d{6})\t(.*)$")


def strict_labels(text: str) -> list[tuple[float, float, str]]:
    """Audacity's label-track format, strictly: every line ``start<TAB>end<TAB>text``, times with six decimals,
    start <= end, lines in time order, the file ending in a newline."""
    assert text.endswith("\n")
    rows = []
    for line in text.splitlines():
        match = LINE.match(line)
        assert match, f"not an Audacity label line: {line!r}"
        start, end = float(match.group(1)), float(match.group(2))
        assert start <= end
        rows.append((start, end, match.group(3)))
    assert [r[0] for r in rows] == sorted(r[0] for r in rows)
    return rows


def test_labels_describe_every_segment_to_the_sample_with_seams_and_settings():
    raw = _raw()
    edl = _edl(raw)
    rows = strict_labels(labels_text(edl))
    regions = [r for r in rows if r[0] < r[1]]
    points = [r for r in rows if r[0] == r[1]]
    assert len(regions) == len(edl.segments)
    for start, end, text in regions:
        k = int(text.split()[0]) - 1
        seg = edl.segments[k]
        assert (round(start * SR), round(end * SR)) == (seg.raw_start, seg.raw_end)
        words = dict(w.split("=") for w in text.split()[1:])
        assert set(words) == set(seg.effects.to_dict())
    assert points[0][2].startswith("musicedit ") and "loudness_match=True" in points[0][2]
    seams = [p for p in points if p[2].startswith("seam ")]
    assert len(seams) == len(edl.seams()) == 4
    assert [round(p[0] * SR) for p in seams] == sorted(leave for _, leave, _ in edl.seams())


def test_reaper_project_parses_with_rpp_and_places_every_segment():
    rpp = pytest.importorskip("rpp")
    raw = _raw()
    edl = _edl(raw)
    project = rpp.loads(reaper_text(edl, "raw.wav"))
    assert project.tag == "REAPER_PROJECT" and project.find("SAMPLERATE")[1] == str(SR)
    tracks = project.findall("TRACK")
    items = tracks[0].findall("ITEM")
    assert len(tracks) == 1 and len(items) == len(edl.segments)
    starts = edl.output_starts()
    seam_before = {out for out, _, _ in edl.seams()}
    half = int(round(0.04 * SR / 2))
    for k, (item, seg) in enumerate(zip(items, edl.segments)):
        value = {child[0]: child[1:] for child in item.children if isinstance(child, list)}
        fx = seg.effects
        head = half if starts[k] in seam_before and fx.fade_in_s == 0 else 0
        tail = half if k + 1 < len(starts) and starts[k + 1] in seam_before and fx.fade_out_s == 0 else 0
        assert round(float(value["POSITION"][0]) * SR) == starts[k] - head
        assert round(float(value["LENGTH"][0]) * SR) == seg.output_length() + head + tail
        offset = float(value["SOFFS"][0]) * SR + head * fx.stretch  # back to the segment's own raw start
        assert round(offset) == (edl.raw_length - seg.raw_end if fx.reverse else seg.raw_start)
        assert float(value["VOLPAN"][0]) == pytest.approx(10 ** (fx.gain_db / 20), rel=1e-6)
        assert float(value["PLAYRATE"][0]) == pytest.approx(fx.stretch)
        if fx.fade_in_s:
            assert float(value["FADEIN"][1]) == pytest.approx(fx.fade_in_s)
        elif head:
            assert round(float(value["FADEIN"][1]) * SR) == 2 * head  # a crossfade: both sides fade over it
        source = item.find("SOURCE")
        if fx.reverse:
            assert source.attrib == ["SECTION"] and source.find("MODE")[1] == "3"
            source = source.find("SOURCE")
        assert source.attrib == ["WAVE"] and source.find("FILE")[1] == "raw.wav"
    assert len(project.findall("MARKER")) == len(edl.seams())


def test_otio_timeline_parses_with_opentimelineio_and_holds_the_segments():
    otio = pytest.importorskip("opentimelineio")
    raw = _raw()
    edl = _edl(raw)
    timeline = otio.adapters.read_from_string(otio_text(edl, "raw.wav"), "otio_json")
    (track,) = timeline.tracks
    clips = [c for c in track if isinstance(c, otio.schema.Clip)]
    transitions = [c for c in track if isinstance(c, otio.schema.Transition)]
    assert len(clips) == len(edl.segments) and len(transitions) == len(edl.seams())
    for clip, seg in zip(clips, edl.segments):
        assert clip.media_reference.target_url == "raw.wav"
        assert clip.source_range.start_time.rescaled_to(SR).value == seg.raw_start
        assert clip.source_range.duration.rescaled_to(SR).value == seg.raw_length
        assert dict(clip.metadata["musicedit"]["effects"]) == seg.effects.to_dict()
    assert [c.name.split()[0] for c in clips] == [str(k + 1) for k in range(len(edl.segments))]
    assert timeline.metadata["musicedit"]["loudness_match"] is True


def test_cue_sheet_lists_the_sections_on_the_output():
    raw = _raw()
    edl = _edl(raw)
    text = cue_text(edl, "edit.wav")
    assert 'FILE "edit.wav" WAVE' in text
    indexes = re.findall(r"^    INDEX 01 (\d\d):(\d\d):(\d\d)$", text, flags=re.M)
    tracks = re.findall(r"^  TRACK (\d\d) AUDIO$", text, flags=re.M)
    assert tracks == [f"{k:02d}" for k in range(1, len(sections(edl)) + 1)] and len(indexes) == len(tracks)
    assert len(sections(edl)) == len(edl.seams()) + 1  # the continuous boundary is not a section of its own
    for (m, s, f), (start, _, _) in zip(indexes, sections(edl)):
        assert abs((int(m) * 60 + int(s) + int(f) / 75) - start) <= 0.5 / 75 + 1e-9


@pytest.mark.parametrize("kind", ["labels", "otio"])
def test_round_trip_renders_the_same_audio_as_the_direct_render(kind, tmp_path):
    raw = _raw()
    edl = _edl(raw)
    direct = render(edl, raw)
    if kind == "labels":
        back = read_labels(tmp_path / "x.labels.txt", sample_rate=SR, raw_length=raw.n_samples, text=labels_text(edl))
    else:
        back = read_otio(tmp_path / "x.otio", sample_rate=SR, raw_length=raw.n_samples, text=otio_text(edl, "raw.wav"))
    assert [(s.raw_start, s.raw_end, s.effects) for s in back.segments] == [
        (s.raw_start, s.raw_end, s.effects) for s in edl.segments
    ]
    again = render(back, raw)
    assert again.shape == direct.shape
    np.testing.assert_allclose(again, direct, atol=1e-6)


def test_an_edited_label_track_in_time_order_becomes_the_edit(tmp_path):
    raw = _raw()
    path = tmp_path / "mine.txt"
    path.write_text("0.500000\t2.000000\tverse\n1.000000\t1.000000\ta marker\n3.000000\t4.500000\tgain_db=-2\n")
    edl = read_labels(path, sample_rate=SR, raw_length=raw.n_samples)
    assert [(s.raw_start, s.raw_end) for s in edl.segments] == [(11025, 44100), (66150, 99225)]
    assert edl.segments[1].effects.gain_db == -2.0 and edl.loudness_match
    assert render(edl, raw).shape == (2, edl.output_length())


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("0.5\t2.0\t1\n1.5\t3.0\t2\n", r"line 2: the label 1.5-3 s overlaps line 1 \(0.5-2 s\)"),
        ("0.5\t2.0\t1\n4.0\t3.0\t2\n", r"line 2: the label ends at 3 s, before it starts at 4 s"),
        ("0.5\t2.0\t1\nnonsense\n", r"line 2: 'nonsense' is not an Audacity label"),
        ("0.5\tx\t1\n", r"line 1: '0.5' / 'x' are not times"),
        ("0.5\t2.0\t1 loudness=3\n", r"line 1: unknown effect 'loudness'"),
        ("0.5\t20.0\t1\n", r"line 1: the label 0.5-20 s lies outside the recording"),
        ("1.0\t1.0\tjust a marker\n", r"has no region label"),
    ],
)
def test_bad_label_tracks_are_refused_naming_the_line(tmp_path, text, match):
    path = tmp_path / "bad.txt"
    path.write_text(text)
    with pytest.raises(MusicEditError, match=match) as info:
        read_labels(path, sample_rate=SR, raw_length=12 * SR)
    assert str(path) in str(info.value)


def test_bad_timelines_are_refused_naming_the_clip(tmp_path):
    otio = pytest.importorskip("opentimelineio")
    raw = _raw()
    edl = _edl(raw)
    timeline = otio.adapters.read_from_string(otio_text(edl, "raw.wav"), "otio_json")
    track = timeline.tracks[0]
    track.insert(1, otio.schema.Gap(source_range=otio.opentime.TimeRange(duration=otio.opentime.RationalTime(10, SR))))
    with pytest.raises(MusicEditError, match=r"item 2 \(Gap .*\) is a gap"):
        read_otio(tmp_path / "t.otio", sample_rate=SR, raw_length=raw.n_samples, text=timeline.to_json_string())
    del track[1]
    track[0].media_reference.target_url = "other.wav"
    with pytest.raises(MusicEditError, match=r"item 1 \(Clip '1'\) plays other.wav, not the raw"):
        read_otio(
            tmp_path / "t.otio",
            sample_rate=SR,
            raw_length=raw.n_samples,
            raw_name="raw.wav",
            text=timeline.to_json_string(),
        )
    with pytest.raises(MusicEditError, match="made for a recording of"):
        read_otio(tmp_path / "t.otio", sample_rate=SR, raw_length=raw.n_samples + 1, text=otio_text(edl, "raw.wav"))
    with pytest.raises(MusicEditError, match="Cannot read the OpenTimelineIO timeline"):
        read_otio(tmp_path / "t.otio", sample_rate=SR, raw_length=raw.n_samples, text="{not json")


def test_write_exports_references_the_raw_relative_to_each_file(tmp_path):
    raw = _raw()
    (tmp_path / "in").mkdir()
    raw_path = tmp_path / "in" / "raw.wav"
    sf.write(raw_path, raw.samples.T, SR)
    paths = write_exports(
        _edl(raw), "all", stem=tmp_path / "out" / "song", raw_path=raw_path, audio_path=tmp_path / "out" / "song.wav"
    )
    assert {p.name for p in paths.values()} == {"song.labels.txt", "song.rpp", "song.otio", "song.cue"}
    assert 'FILE "../in/raw.wav"' in paths["reaper"].read_text()
    assert '"target_url": "../in/raw.wav"' in paths["otio"].read_text()
    assert 'FILE "song.wav" WAVE' in paths["cue"].read_text()
    with pytest.raises(MusicEditError, match="choose from audacity, reaper, otio, cue"):
        write_exports(_edl(raw), "audacity,pro_tools", stem=tmp_path / "x", raw_path=raw_path)


# -- the command line --------------------------------------------------------------------------------------------
def test_musicedit_edit_export_render_and_export_round_trip(tmp_path, capsys):
    from editor_env.cli import main
    from editor_env.synth import generate_pair

    pair = generate_pair(5, duration_range_s=(20.0, 24.0))
    raw_path = tmp_path / "jam.wav"
    sf.write(raw_path, pair.raw.samples.T, pair.raw.sample_rate)
    out = tmp_path / "out" / "track.wav"
    argv = ["edit", str(raw_path), "-o", str(out), "--policy", "retarget", "--cut", "8-10"]
    argv += ["--export", "audacity,reaper,otio,cue"]
    assert main(argv) == 0
    names = {p.name for p in out.parent.iterdir()}
    assert {"track.wav", "track.edl.json", "track.labels.txt", "track.rpp", "track.otio", "track.cue"} <= names
    edl = EditList.load(out.parent / "track.edl.json")
    assert edl.loudness_match and edl.beat_s and edl.meta["raw_file"] == "../jam.wav"
    assert len(edl.meta["seams"]) == len(edl.seams()) >= 1
    assert edl.meta["ending"]["requested"] == "natural"
    direct, _ = sf.read(out, always_2d=True)

    # the label track and the timeline come back through the renderer: the same audio
    for source, name in (("track.labels.txt", "from_labels.wav"), ("track.otio", "from_otio.wav")):
        target = tmp_path / "out" / name
        assert main(["render", str(raw_path), "--edl", str(out.parent / source), "-o", str(target)]) == 0
        again, _ = sf.read(target, always_2d=True)
        assert again.shape == direct.shape and np.abs(again - direct).max() <= 2 / 32768  # 16-bit rounding
        assert (target.parent / f"{target.stem}.edl.json").is_file()
    # the EDL JSON renders exactly as written, and its exports come back from `musicedit export`
    before = (out.parent / "track.edl.json").read_bytes()
    assert main(["render", str(raw_path), "--edl", str(out.parent / "track.edl.json"), "-o", str(out)]) == 0
    assert (out.parent / "track.edl.json").read_bytes() == before  # the input edit is never overwritten
    for p in out.parent.glob("track.*"):
        if p.suffix in (".txt", ".rpp", ".otio", ".cue"):
            p.unlink()
    assert main(["export", str(out.parent / "track.edl.json"), "--format", "all"]) == 0
    assert {"track.labels.txt", "track.rpp", "track.otio", "track.cue"} <= {p.name for p in out.parent.iterdir()}
    capsys.readouterr()
    # refusals name the file and line, and exit 2
    bad = tmp_path / "bad.txt"
    bad.write_text("1.0\t3.0\t1\n2.0\t4.0\t2\n")
    assert main(["render", str(raw_path), "--edl", str(bad), "-o", str(tmp_path / "x.wav")]) == 2
    assert "line 2" in capsys.readouterr().err and not (tmp_path / "x.wav").exists()
    assert main(["render", str(raw_path), "--edl", str(bad), "-o", str(raw_path)]) == 2
    assert "Refusing to overwrite the input" in capsys.readouterr().err

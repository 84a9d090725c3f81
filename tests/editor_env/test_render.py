"""Tests of editor_env.render: exact lengths, bit-exact identity, click-free seams, effects."""

from __future__ import annotations

import numpy as np
import pytest

from editor_env.audio import Audio
from editor_env.edl import EditList, Effects, Segment
from editor_env.errors import MusicEditError
from editor_env.render import MATCH_TOLERANCE_DB, MAX_MATCH_DB, equal_power_fade, render

SR = 22050


def noise_audio(seconds: float = 2.0, channels: int = 1, seed: int = 0) -> Audio:
    rng = np.random.default_rng(seed)
    samples = (0.2 * rng.standard_normal((channels, int(seconds * SR)))).astype(np.float32)
    return Audio(samples, SR)


def sine_audio(seconds: float = 2.0, freq: float = 220.0) -> Audio:
    t = np.arange(int(seconds * SR)) / SR
    return Audio((0.5 * np.sin(2 * np.pi * freq * t)).astype(np.float32)[None], SR)


@pytest.mark.parametrize("channels", [1, 2])
def test_keep_all_is_bit_exact(channels):
    raw = noise_audio(channels=channels)
    out = render(EditList.keep_all(SR, raw.n_samples), raw)
    assert out.dtype == np.float32
    assert out.shape == raw.samples.shape
    assert np.array_equal(out, raw.samples)


def test_contiguous_segments_are_not_seams():
    raw = noise_audio(channels=2)
    n = raw.n_samples
    edl = EditList(SR, n, [Segment(0, 1000), Segment(1000, 20000), Segment(20000, n)])
    assert edl.seams() == []
    assert np.array_equal(render(edl, raw), raw.samples)


def test_reverse_of_whole_recording_is_exact():
    raw = noise_audio()
    edl = EditList(SR, raw.n_samples, [Segment(0, raw.n_samples, Effects(reverse=True))])
    assert np.array_equal(render(edl, raw), raw.samples[:, ::-1])


@pytest.mark.parametrize("crossfade_s", [0.0, 0.02, 0.2])
def test_output_length_matches_edl(crossfade_s):
    raw = noise_audio(channels=2)
    n = raw.n_samples
    segments = [
        Segment(0, 5000),  # starts at the recording's start
        Segment(30000, n),  # ends at its end: crossfade context is clamped
        Segment(100, 130),  # shorter than a crossfade
        Segment(7000, 9000, Effects(reverse=True)),
        Segment(10000, 20000, Effects(stretch=1.3)),
        Segment(0, 4000, Effects(fade_in_s=0.05, fade_out_s=0.05, gain_db=-3)),
    ]
    edl = EditList(SR, n, segments, crossfade_s=crossfade_s)
    out = render(edl, raw)
    assert out.shape == (2, edl.output_length())
    assert np.isfinite(out).all()


def test_seam_crossfade_has_no_click():
    # Cut from a crest of a loud sine into a trough: a plain splice jumps by ~1.0.
    raw = sine_audio(freq=220.0)
    period = SR / 220.0
    crest = int(round(period * 50.25))  # sin = +1
    trough = int(round(period * 100.75))  # sin = -1
    edl = EditList(SR, raw.n_samples, [Segment(0, crest), Segment(trough, raw.n_samples)])
    assert len(edl.seams()) == 1
    naive = np.concatenate([raw.samples[0, :crest], raw.samples[0, trough:]])
    assert np.abs(np.diff(naive)).max() > 0.9
    raw_jump = np.abs(np.diff(raw.samples[0])).max()
    out = render(edl, raw)[0]
    window = out[crest - 2000 : crest + 2000]
    assert np.abs(np.diff(window)).max() < 1.5 * raw_jump
    # A hard cut (no crossfade) is snapped to a zero crossing of both signals (a quarter period,
    # 1.1 ms, away: inside the 2 ms search window).
    hard = render(EditList(SR, raw.n_samples, edl.segments, crossfade_s=0.0), raw)[0]
    assert np.abs(np.diff(hard[crest - 100 : crest + 100])).max() < 1.5 * raw_jump


def test_equal_power_fades_sum_to_unit_power():
    fade_in, fade_out = equal_power_fade(64, fade_in=True), equal_power_fade(64, fade_in=False)
    np.testing.assert_allclose(fade_in**2 + fade_out**2, 1.0, rtol=1e-6)
    assert fade_in[0] < 0.05 and fade_out[-1] < 0.05


@pytest.mark.parametrize(
    "effects",
    [
        Effects(gain_db=-6.0),
        Effects(fade_in_s=0.2, fade_out_s=0.2),
        Effects(reverse=True),
        Effects(stretch=1.25),
        Effects(stretch=0.8),
        Effects(pitch_semitones=3.0),
        Effects(eq_low_db=9.0),
        Effects(eq_high_db=-9.0),
        Effects(distortion_db=20.0),
        Effects(reverb_mix=0.5),
    ],
    ids=lambda fx: ",".join(f"{k}={v}" for k, v in fx.to_dict().items()),
)
def test_each_effect_changes_audio_and_keeps_length(effects):
    raw = noise_audio(seconds=1.5, channels=2)
    a, b = 4000, 24000
    plain = EditList(SR, raw.n_samples, [Segment(0, 2000), Segment(a, b), Segment(30000, 32000)])
    edited = EditList(SR, raw.n_samples, [Segment(0, 2000), Segment(a, b, effects), Segment(30000, 32000)])
    out, ref = render(edited, raw), render(plain, raw)
    assert out.shape == (2, edited.output_length())
    assert edited.segments[1].output_length() == int(round((b - a) / effects.stretch))
    start = 2000 + 1000  # inside the middle segment, away from the seams
    stop = start + 10000
    if effects.stretch == 1.0:
        diff = np.abs(out[:, start:stop] - ref[:, start:stop]).mean()
        assert diff > 0.01 * np.abs(ref[:, start:stop]).mean()
    assert np.isfinite(out).all()
    # The untouched first segment is the raw, sample for sample, up to the first seam's fade.
    np.testing.assert_array_equal(out[:, :1500], raw.samples[:, :1500])


def test_mismatched_recording_raises():
    raw = noise_audio()
    with pytest.raises(MusicEditError, match="made for"):
        render(EditList.keep_all(SR, raw.n_samples + 1), raw)
    with pytest.raises(MusicEditError, match="44100 Hz"):
        render(EditList.keep_all(44100, raw.n_samples), raw)


# -- finished seams: tempo crossfades and loudness matching (issue 32) -------------------------------------------
def _momentary(x: np.ndarray) -> float:
    """EBU R128 momentary loudness of a 400 ms window, measured here with pyloudnorm itself."""
    import pyloudnorm

    meter = pyloudnorm.Meter(SR, block_size=(x.shape[-1] - 0.5) / SR)
    return meter.integrated_loudness(np.ascontiguousarray(x.T.astype(np.float64)))


def _steps(out: np.ndarray, info: list) -> list[float]:
    """Loudness step across each seam of a render: the 400 ms after its crossfade minus the 400 ms before."""
    w = int(0.4 * SR)
    steps = []
    for record in info:
        cut, half = int(round(record["output_s"] * SR)), int(round(record["crossfade_s"] * SR / 2))
        steps.append(_momentary(out[:, cut + half : cut + half + w]) - _momentary(out[:, cut - half - w : cut - half]))
    return steps


def band_texture(seconds: float, louder: tuple[float, float] | None = None, seed: int = 0) -> Audio:
    """A generated stereo 'pair' raw: a steady chord over noise, with the span ``louder`` (seconds) +6 dB."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * SR)) / SR
    chord = sum(0.08 * np.sin(2 * np.pi * f * t + p) for f, p in ((220.0, 0.0), (277.2, 1.0), (329.6, 2.0)))
    x = np.stack([chord + 0.03 * rng.standard_normal(t.size) for _ in range(2)]).astype(np.float32)
    if louder is not None:
        x[:, int(louder[0] * SR) : int(louder[1] * SR)] *= np.float32(10 ** (6 / 20))
    return Audio(x, SR)


def test_seams_into_and_out_of_a_louder_section_are_matched_within_half_a_db():
    raw = band_texture(16.0, louder=(5.0, 10.0))
    segments = [Segment(0, 3 * SR), Segment(6 * SR, 9 * SR), Segment(12 * SR, 16 * SR)]
    plain = EditList(SR, raw.n_samples, segments, crossfade_beats=0.125, beat_s=0.5)
    matched = EditList(SR, raw.n_samples, segments, crossfade_beats=0.125, beat_s=0.5, loudness_match=True)
    info_plain, info = [], []
    out_plain = render(plain, raw, seam_info=info_plain)
    out = render(matched, raw, seam_info=info)
    assert [round(s) for s in _steps(out_plain, info_plain)] == [6, -6]  # what a plain splice does
    assert all(abs(step) <= 0.5 for step in _steps(out, info)), _steps(out, info)
    assert [r["gain_db"] for r in info] == pytest.approx([-6.0, 6.0], abs=0.3)
    assert all(abs(r["step_after_db"]) <= 0.5 and abs(r["step_before_db"]) > 5 for r in info)
    assert all(r["crossfade_s"] == pytest.approx(0.0625, abs=1 / SR) for r in info)  # an eighth of a 0.5 s beat
    # away from the seams' matching zones the output is the raw's own samples
    np.testing.assert_array_equal(out[:, : SR // 2], raw.samples[:, : SR // 2])
    tail = raw.samples[:, -SR // 2 :]
    np.testing.assert_array_equal(out[:, -SR // 2 :], tail)


def test_a_seam_between_equal_levels_gets_no_gain_and_stays_the_raw():
    raw = band_texture(10.0)
    segments = [Segment(0, 3 * SR), Segment(5 * SR, 10 * SR)]
    info = []
    out = render(EditList(SR, raw.n_samples, segments, crossfade_s=0.05, loudness_match=True), raw, seam_info=info)
    assert info[0]["gain_db"] == 0.0 and abs(info[0]["step_before_db"]) < MATCH_TOLERANCE_DB
    np.testing.assert_array_equal(out, render(EditList(SR, raw.n_samples, segments, crossfade_s=0.05), raw))
    cut = int(round(info[0]["output_s"] * SR))
    np.testing.assert_array_equal(out[:, : cut - SR // 10], raw.samples[:, : cut - SR // 10])


def test_a_step_the_raw_makes_there_itself_is_left_alone():
    raw = band_texture(12.0, louder=(6.0, 12.0))
    # leave the raw at 6 s, where it gets 6 dB louder anyway, for loud material elsewhere
    segments = [Segment(0, 6 * SR), Segment(8 * SR, 12 * SR)]
    info = []
    render(EditList(SR, raw.n_samples, segments, loudness_match=True), raw, seam_info=info)
    assert info[0]["raw_change_db"][0] == pytest.approx(6.0, abs=0.5) and info[0]["gain_db"] == 0.0


def test_matching_is_bounded_and_recorded():
    raw = band_texture(12.0, louder=(6.0, 12.0))
    raw.samples[:, 6 * SR :] *= np.float32(10 ** (6 / 20))  # now +12 dB
    info = []
    render(
        EditList(SR, raw.n_samples, [Segment(0, 3 * SR), Segment(8 * SR, 12 * SR)], loudness_match=True),
        raw,
        seam_info=info,
    )
    assert info[0]["gain_db"] == -MAX_MATCH_DB


def test_crossfade_follows_the_tempo_when_the_beat_is_known():
    from editor_env.render import seam_crossfade_s

    segs = [Segment(0, SR), Segment(2 * SR, 3 * SR)]
    assert seam_crossfade_s(EditList(SR, 4 * SR, segs, crossfade_s=0.03)) == 0.03  # no beat asked: as given
    assert seam_crossfade_s(EditList(SR, 4 * SR, segs, crossfade_beats=0.125)) == 0.02  # beat unknown
    assert seam_crossfade_s(EditList(SR, 4 * SR, segs, crossfade_beats=0.125, beat_s=0.4)) == pytest.approx(0.05)
    assert seam_crossfade_s(EditList(SR, 4 * SR, segs, crossfade_beats=0.125, beat_s=2.0)) == 0.12  # bounded
    beats = [Segment(0, SR, raw_start_beat=0.0, raw_end_beat=2.0), Segment(2 * SR, 3 * SR, None, 4.0, 6.0)]
    assert seam_crossfade_s(EditList(SR, 4 * SR, beats, crossfade_beats=0.2)) == pytest.approx(0.1)


def test_finishing_settings_survive_the_json_and_old_edls_stay_version_1(tmp_path):
    segs = [Segment(0, SR), Segment(2 * SR, 3 * SR)]
    plain = EditList(SR, 4 * SR, segs)
    assert plain.to_json_dict()["version"] == 1 and "loudness_match" not in plain.to_json_dict()
    edl = EditList(SR, 4 * SR, segs, crossfade_beats=0.125, beat_s=0.5, loudness_match=True)
    back = EditList.load(edl.save(tmp_path / "e.edl.json"))
    assert (back.crossfade_beats, back.beat_s, back.loudness_match) == (0.125, 0.5, True)
    assert edl.to_json_dict()["version"] == 2

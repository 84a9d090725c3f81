"""Sound variants of training recordings (imitation_data.variants): same timing, new sound, same reference."""

from __future__ import annotations

import numpy as np
import pytest

from editor_env.audio import load_audio
from editor_env.errors import DatasetError
from imitation_data.variants import parse_variants, write_variants


def test_variants_keep_length_and_reference_and_rerun_renders_nothing(tmp_path):
    from editor_env.synth import write_dataset

    data = tmp_path / "data"
    (name,) = write_dataset(data, 1, seed=3, duration_range_s=(12.0, 12.0), progress=False)
    made = write_variants(data, [name], ["up2", "eq"])
    assert made == [f"{name}-up2", f"{name}-eq"]
    raw = load_audio(data / "input" / f"{name}_raw.wav")
    for new in made:
        audio = load_audio(data / "input" / f"{new}_raw.wav")
        assert audio.samples.shape == raw.samples.shape and audio.sample_rate == raw.sample_rate
        assert not np.allclose(audio.samples, raw.samples, atol=1e-3)  # the sound changed
        np.testing.assert_array_equal(
            np.load(data / "pointer_sequences" / f"{new}_pointers.npy"),
            np.load(data / "pointer_sequences" / f"{name}_pointers.npy"),
        )
    before = {p: p.stat().st_mtime_ns for p in (data / "input").glob(f"{name}-*_raw.wav")}
    write_variants(data, [name], ["up2", "eq"])
    assert {p: p.stat().st_mtime_ns for p in before} == before


def test_unknown_variant_is_refused_with_the_known_ones():
    assert parse_variants("up2, eq") == ["up2", "eq"] and parse_variants("") == []
    with pytest.raises(DatasetError, match=r"Unknown sound variant.*'down2'"):
        parse_variants("up3")

"""Faults survived and bad input refused (issue 34): killed writes leave nothing under a final name and their
leftovers are cleaned, a full or read-only folder gives an error naming it, damaged headers are not trusted."""

from __future__ import annotations

import errno
import os
import struct
import subprocess
import sys

import numpy as np
import pytest
import soundfile as sf

from editor_env.errors import AudioLoadError, DatasetError, MusicEditError
from editor_env.io import atomic_path, atomic_write_text, remove_stale_temps, temp_prefix


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_a_killed_writes_leftover_is_removed_by_the_next_write_of_that_file(tmp_path):
    target = tmp_path / "cache" / "x_raw.npz"
    target.parent.mkdir()
    host_prefix = temp_prefix(target).rsplit("-", 2)[0]  # ".x_raw.HOST"
    dead = target.parent / f"{host_prefix}-{_dead_pid()}-abc123.tmp.npz"
    alive = target.parent / f"{host_prefix}-{os.getppid()}-def456.tmp.npz"  # a live process writing it right now
    other = target.parent / f".y_raw.{host_prefix.split('.')[-1]}-{_dead_pid()}-ghi789.tmp.npz"
    for path in (dead, alive, other):
        path.write_bytes(b"half")
    with atomic_path(target) as tmp:
        assert tmp.name.startswith(temp_prefix(target)) and tmp.suffix == ".npz"
        tmp.write_bytes(b"done")
    assert target.read_bytes() == b"done"
    assert not dead.exists() and alive.exists() and other.exists()  # only this file's dead writer's leftover
    assert remove_stale_temps(target.parent / "y_raw.npz") == [other]


@pytest.mark.parametrize(
    ("code", "words"),
    [
        (errno.ENOSPC, "no space left in {folder}"),
        (errno.EACCES, "the folder {folder} is not writable"),
        (errno.EROFS, "the folder {folder} is not writable"),
    ],
)
def test_a_full_or_read_only_folder_is_named_and_nothing_is_left(tmp_path, monkeypatch, code, words):
    target = tmp_path / "out" / "edited.json"

    def refuse(*args, **kwargs):
        raise OSError(code, os.strerror(code))

    monkeypatch.setattr(os, "replace", refuse)
    with pytest.raises(MusicEditError) as caught:
        atomic_write_text(target, "{}")
    assert f"Cannot write {target}: " in str(caught.value) and words.format(folder=target.parent) in str(caught.value)
    assert list((tmp_path / "out").iterdir()) == []  # no final file, no temporary one
    monkeypatch.undo()
    import tempfile

    monkeypatch.setattr(tempfile, "mkstemp", refuse)
    with pytest.raises(MusicEditError, match=str(tmp_path / "out")):
        atomic_write_text(target, "{}")


def test_an_audio_write_on_a_full_disk_names_the_folder(tmp_path, monkeypatch):
    from editor_env.audio import write_audio

    class Full:
        f_bavail, f_frsize = 0, 4096

    def fail(*args, **kwargs):
        raise sf.LibsndfileError(0, "System error.")

    monkeypatch.setattr(sf, "write", fail)
    monkeypatch.setattr(os, "statvfs", lambda path: Full())
    with pytest.raises(MusicEditError, match="no space left in"):
        write_audio(tmp_path / "o" / "x.wav", np.zeros(1000, np.float32), 22050)
    assert list((tmp_path / "o").iterdir()) == []


def _flac_declaring(path, seconds: float, sr: int = 22050):
    """A short FLAC whose STREAMINFO claims ``seconds`` of audio."""
    sf.write(path, np.zeros(sr, np.float32), sr, format="FLAC")
    data = bytearray(path.read_bytes())
    word = int.from_bytes(data[18:26], "big")
    word = (word & ~((1 << 36) - 1)) | int(seconds * sr)
    data[18:26] = word.to_bytes(8, "big")
    path.write_bytes(bytes(data))


def test_a_header_claiming_20_hours_is_not_trusted(tmp_path):
    from editor_env.audio import audio_extent, load_audio

    path = tmp_path / "claims_20h.flac"
    _flac_declaring(path, 20 * 3600)
    assert audio_extent(path)[1] > 1e9  # the header says 20 h ...
    try:
        audio = load_audio(path)  # ... but only the samples really there are read (or it is refused clearly)
    except AudioLoadError as exc:
        assert "claims_20h.flac" in str(exc)
    else:
        assert audio.n_samples <= 22050
    wav = tmp_path / "claims.wav"
    sf.write(wav, np.full(22050, 0.1, np.float32), 22050, subtype="PCM_16")
    data = bytearray(wav.read_bytes())
    struct.pack_into("<I", data, 40, 0xFFFFFF00)
    wav.write_bytes(bytes(data))
    assert load_audio(wav).n_samples == 22050


def test_absurd_sample_values_and_too_short_recordings_get_a_clear_error(tmp_path):
    from editor_env.audio import load_audio
    from editor_env.edit import edit_file

    huge = tmp_path / "huge.wav"
    sf.write(huge, np.full(22050 * 5, 1e30, np.float32), 22050, subtype="FLOAT")
    with pytest.raises(AudioLoadError, match="huge.wav has samples up to 1e\\+30"):
        load_audio(huge)
    short = tmp_path / "short.wav"
    sf.write(short, np.zeros(2205, np.float32), 22050)
    with pytest.raises(AudioLoadError, match="short.wav is 0.10 s long, shorter than the 4 s"):
        edit_file(short, tmp_path / "out.wav", policy="retarget")
    assert not (tmp_path / "out.wav").exists()


def test_a_data_set_with_one_problem_says_it_on_one_line(tmp_path):
    from editor_env.dataset import discover_pairs

    (tmp_path / "input").mkdir()
    (tmp_path / "input" / "a_raw.wav").write_text("not audio")
    with pytest.raises(DatasetError) as caught:
        discover_pairs(tmp_path, require_edit=False)
    assert "\n" not in str(caught.value) and "a_raw.wav: unreadable audio" in str(caught.value)


def test_numba_gets_a_writable_cache_where_it_would_find_none(tmp_path, monkeypatch):
    import editor_env

    monkeypatch.delenv("NUMBA_CACHE_DIR", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "no_home"))
    monkeypatch.setattr(os, "access", lambda path, mode: False)  # neither beside librosa nor in the home
    editor_env._writable_numba_cache()
    assert os.environ["NUMBA_CACHE_DIR"].endswith(f"musicedit-numba-{os.getuid()}")
    monkeypatch.setenv("NUMBA_CACHE_DIR", "/mine")
    editor_env._writable_numba_cache()
    assert os.environ["NUMBA_CACHE_DIR"] == "/mine"

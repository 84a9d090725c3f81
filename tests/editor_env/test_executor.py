"""The per-sample executor: local processes and Ray give the same cache files; failures are named."""

from __future__ import annotations

import functools
import os
from pathlib import Path

import numpy as np
import pytest
from conftest import click_track, write

from editor_env.cache import precache
from editor_env.errors import MusicEditError
from editor_env.executor import Executor, map_samples


def _square_or_fail(x: int, *, bad: int) -> int:
    if x == bad:
        raise ValueError(f"item {x} is bad")
    return x * x


def _arrays(cache_dir: Path) -> dict[str, dict[str, np.ndarray]]:
    """Every array of every cache file, by path relative to ``cache_dir``."""
    out = {}
    for path in sorted(cache_dir.rglob("*.npz")):
        with np.load(path, allow_pickle=False) as data:
            out[str(path.relative_to(cache_dir))] = {k: data[k] for k in data.files}
    return out


def _assert_same_caches(a: Path, b: Path) -> None:
    left, right = _arrays(a), _arrays(b)
    assert left and sorted(left) == sorted(right)
    for name in left:
        assert sorted(left[name]) == sorted(right[name]), name
        for key, value in left[name].items():
            assert value.dtype == right[name][key].dtype and np.array_equal(value, right[name][key]), (name, key)


@pytest.fixture
def dataset(make_dataset):
    """Three short click tracks (one with an edit) and a recording whose samples hold NaNs."""
    pairs = {
        "a": (click_track(120, 6.0), click_track(120, 4.0)),
        "b": (click_track(100, 7.0), None),
        "c": (click_track(140, 5.0), None),
    }
    root = make_dataset(pairs)
    bad = click_track(100, 6.0)
    bad[1000:2000] = np.nan  # the header reads, decoding fails
    write(root / "input" / "broken_raw.wav", bad, 22050, "FLOAT")
    return root


@pytest.mark.parametrize("workers", [1, 2])
def test_local_failure_is_named_and_the_rest_go_on(workers):
    outcomes = map_samples(
        functools.partial(_square_or_fail, bad=2),
        [1, 2, 3],
        names=["one", "two", "three"],
        executor=Executor(workers=workers),
        progress=False,
    )
    assert [o.name for o in outcomes] == ["one", "two", "three"]
    assert [o.value for o in outcomes] == [1, None, 9]
    assert outcomes[1].error == "ValueError: item 2 is bad"


def _pid_or_fail(x: int) -> int:
    if x < 0:
        raise ValueError("bad item")
    return os.getpid()


def test_workers_start_after_one_item_succeeded_here():
    """numba#10128: workers compiling librosa's cached gufuncs at once can corrupt the cache, so items run in this
    process until one succeeds (its compiled functions are then on disk), and only the rest go to the workers."""
    outcomes = map_samples(_pid_or_fail, [-1, 1, 2, 3], executor=Executor(workers=2), progress=False)
    assert [o.ok for o in outcomes] == [False, True, True, True]
    assert outcomes[1].value == os.getpid()
    assert all(o.value != os.getpid() for o in outcomes[2:])


def test_bad_flags_are_refused():
    with pytest.raises(MusicEditError, match="--backend"):
        Executor(backend="spark")
    with pytest.raises(MusicEditError, match="--workers"):
        Executor(workers=0)
    with pytest.raises(MusicEditError, match="--ray-address needs --backend ray"):
        Executor(ray_address="localhost:6379")


@pytest.fixture(scope="module")
def local_ray():
    ray = pytest.importorskip("ray", reason="Ray is not installed: pip install -e '.[cluster]' -c constraints.txt")
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield ray
    ray.shutdown()


def test_ray_precache_equals_local(local_ray, dataset, tmp_path):
    local = precache(dataset, tmp_path / "local", progress=False)  # in this process: Ray's workers are others
    on_ray = precache(dataset, tmp_path / "ray", executor=Executor("ray"), progress=False)
    assert sorted(on_ray.computed) == sorted(local.computed) == ["a", "b", "c"]
    assert set(on_ray.failed) == set(local.failed) == {"broken"}
    assert "broken_raw.wav contains NaN" in on_ray.failed["broken"]
    assert on_ray.audio_seconds == pytest.approx(local.audio_seconds)
    _assert_same_caches(tmp_path / "local", tmp_path / "ray")

    # a rerun on Ray does only what is missing
    os.remove(tmp_path / "ray" / "beats" / "b_raw.npz")
    again = precache(dataset, tmp_path / "ray", executor=Executor("ray"), progress=False)
    assert again.computed == ["b"] and sorted(again.skipped) == ["a", "c"]
    _assert_same_caches(tmp_path / "local", tmp_path / "ray")


def test_ray_task_failure_is_named(local_ray):
    # a builtin, so that Ray's workers can unpickle it (they cannot import this test module)
    outcomes = map_samples(int, ["1", "2", "x", "4"], names=list("wxyz"), executor=Executor("ray"), progress=False)
    assert [o.value for o in outcomes] == [1, 2, None, 4]
    assert outcomes[2].name == "y" and outcomes[2].error == "ValueError: invalid literal for int() with base 10: 'x'"

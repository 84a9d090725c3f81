"""BC data sets: labels + observations as imitation Transitions, the npz round trip, and
``musicedit bc-dataset`` on a generated data set."""

from __future__ import annotations

import numpy as np
import pytest

from editor_env.cli import main
from editor_env.errors import MusicEditError
from editor_env.state import OBS_DIM
from imitation_data.transitions import BCDataset, load_transitions


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """A 3-pair synthetic data set turned into bc_rich.npz and bc_augmented.npz by the CLI."""
    from editor_env.synth import write_dataset

    root = tmp_path_factory.mktemp("bcdata")
    write_dataset(root / "training_data", 3, seed=5, duration_range_s=(20.0, 30.0), progress=False)
    args = ["bc-dataset", "--data-dir", str(root / "training_data"), "--cache-dir", str(root / "cache")]
    args += ["--out", str(root / "bc_rich.npz"), "--augment", "--min-samples", "3"]
    args += ["--out-augmented", str(root / "bc_augmented.npz"), "--no-progress"]
    assert main(args) == 0
    return root


def test_bc_dataset_cli_writes_both_sets(built, capsys):
    rich, aug = BCDataset.load(built / "bc_rich.npz"), BCDataset.load(built / "bc_augmented.npz")
    assert rich.n_episodes == 3 and rich.provenance["kind"] == "rich"
    assert set(rich.provenance["samples"]) == {"synth_0000", "synth_0001", "synth_0002"}
    assert all(v["effects_from"] == "edl" and v["unreachable_beats"] == 0 for v in rich.provenance["samples"].values())
    counts = rich.type_counts() + aug.type_counts()
    from imitation_data.augment import AUGMENTABLE_TYPES

    assert (counts[list(AUGMENTABLE_TYPES)] >= 3).all(), counts  # every augmentable type reached --min-samples
    labels = np.load(built / "cache" / "labels" / "synth_0000.npy")
    assert labels.shape[1] == 3 and labels.dtype == np.int64
    assert not list(built.glob(".*tmp*")), "temporary files left behind"


def test_transitions_round_trip(built, tmp_path):
    rich = BCDataset.load(built / "bc_rich.npz")
    trans = load_transitions(built / "bc_rich.npz")
    assert trans.obs.shape == (len(rich), OBS_DIM) and trans.obs.dtype == np.float32
    assert trans.acts.shape == (len(rich), 3) and trans.next_obs.shape == trans.obs.shape
    assert trans.dones.sum() == rich.n_episodes and trans.dones[-1]
    for i in np.flatnonzero(~trans.dones):  # within an episode next_obs is the next step's obs
        np.testing.assert_array_equal(trans.next_obs[i], trans.obs[i + 1])
    np.testing.assert_array_equal(np.stack([info["action_mask"] for info in trans.infos]), rich.masks)
    assert rich.obs.flags.writeable  # imitation freezes its own views, not the data set

    copy = tmp_path / "copy.npz"
    rich.save(copy)
    again = BCDataset.load(copy)
    for field in ("obs", "acts", "masks", "dones", "episode", "final_obs", "samples"):
        np.testing.assert_array_equal(getattr(again, field), getattr(rich, field))
    assert again.provenance == rich.provenance

    train, val = rich.split(0.34, seed=0)
    assert train.n_episodes == 2 and val.n_episodes == 1
    assert set(train.samples) | set(val.samples) == set(rich.samples)
    np.testing.assert_array_equal(train.next_obs()[train.dones], train.final_obs)


def test_forbidden_demo_actions_are_refused(built):
    rich = BCDataset.load(built / "bc_rich.npz")
    masks = rich.masks.copy()
    masks[0, rich.acts[0, 0]] = False
    with pytest.raises(MusicEditError, match="forbidden by their own masks"):
        BCDataset(rich.obs, rich.acts, masks, rich.dones, rich.episode, rich.final_obs, rich.samples)


def test_bc_dataset_without_pointers_says_what_to_do(tmp_path, make_dataset, capsys):
    from conftest import click_track

    data = make_dataset({"jam": (click_track(seconds=6.0), None)})
    assert main(["bc-dataset", "--data-dir", str(data), "--cache-dir", str(tmp_path / "cache"), "--no-progress"]) == 2
    assert "musicedit align" in capsys.readouterr().err

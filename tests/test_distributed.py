"""The trainers under ``torchrun`` (2 CPU processes, gloo) follow one process with the same global batch."""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def configs(tmp_path_factory):
    """Four short synthetic pairs, precached; the pointer and supervised configs that train on them."""
    from editor_env.synth import write_dataset
    from pointer_baseline.precache import precache_pointer_data

    root = tmp_path_factory.mktemp("ddp")
    data_dir, cache_dir = root / "training_data", root / "cache"
    write_dataset(data_dir, 4, seed=3, duration_range_s=(8.0, 10.0), progress=False)
    assert len(precache_pointer_data(data_dir, cache_dir, progress=False).ready) == 4
    pointer = json.loads((ROOT / "configs" / "pointer_tiny.json").read_text())
    # 3 training recordings in batches of 2: the second batch of each epoch leaves rank 1 without a recording
    pointer.update(cache_dir=str(cache_dir), pointer_dir=str(data_dir / "pointer_sequences"), val_fraction=0.25)
    pointer.update(epochs=2, device="cpu", progress=False)
    supervised = json.loads((ROOT / "configs" / "supervised_tiny.json").read_text())
    # the msstft and consistency terms are normalised per batch (over its COPY frames ...), so a mean of
    # two half-batch losses is not the full batch's loss; without them the losses are plain means over
    # equal-sized, fully valid crops and the two runs must agree to rounding
    supervised.update(data_dir=str(data_dir), cache_dir=str(cache_dir), val_fraction=0.25, epochs=2, device="cpu")
    supervised.update(msstft_weight=0.0, consistency_weight=0.0)
    paths = root / "pointer.json", root / "supervised.json"
    paths[0].write_text(json.dumps(pointer))
    paths[1].write_text(json.dumps(supervised))
    return paths


def _scalars(run_dir: Path, tag: str) -> tuple[list[int], np.ndarray]:
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    events = EventAccumulator(str(run_dir / "tb"))
    events.Reload()
    values = events.Scalars(tag)
    return [v.step for v in values], np.array([v.value for v in values])


def test_two_processes_follow_one_process(configs, tmp_path):
    from pointer_baseline.checkpoint import read_checkpoint
    from pointer_baseline.trainers.pointer_trainer import PointerTrainConfig
    from pointer_baseline.trainers.pointer_trainer import train as train_pointer
    from supervised_baseline.config import TrainConfig
    from supervised_baseline.trainer import train as train_supervised

    pointer_json, supervised_json = configs
    one, two = tmp_path / "one", tmp_path / "two"
    train_pointer(dataclasses.replace(PointerTrainConfig.from_json(pointer_json), save_dir=str(one / "pointer")))
    supervised = dataclasses.replace(TrainConfig.from_json(supervised_json), save_dir=str(one / "supervised"))
    train_supervised(supervised, progress=False, log=lambda *args: None)

    env = {k: v for k, v in os.environ.items() if k not in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR")}
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2"]
    command += [str(ROOT / "tests" / "ddp_job.py"), str(pointer_json), str(supervised_json), str(two)]
    done = subprocess.run(command, capture_output=True, text=True, timeout=300, env=env, cwd=ROOT)
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-4000:]

    # Tolerance: both runs see the same global batches, random steps and gains, and DDP averages the
    # gradients of the two halves, so they differ only in float32 summation order (measured ~1e-7
    # relative); a lost, doubled or unaveraged gradient, a wrong share or a skipped step moves the
    # second step's loss by percents. The 2-process pointer run was also stopped after epoch 1 and
    # resumed under torchrun, so this checks resume too.
    for trainer, tags in (
        ("pointer", ("train/loss", "train/grad_norm", "val/loss")),
        ("supervised", ("train/total_loss", "train/grad_norm", "val/total_loss")),
    ):
        for tag in tags:
            steps_one, values_one = _scalars(one / trainer, tag)
            steps_two, values_two = _scalars(two / trainer, tag)
            assert steps_one == steps_two and len(steps_one) >= 2, (trainer, tag, steps_one, steps_two)
            np.testing.assert_allclose(values_two, values_one, rtol=1e-4, err_msg=f"{trainer} {tag}")
    # rank 0 alone writes: one log file per run (the pointer run has two: the first run and the resume)
    assert len(list((two / "supervised" / "tb").glob("events.*"))) == 1
    assert len(list((two / "pointer" / "tb").glob("events.*"))) == 2
    a, b = read_checkpoint(one / "pointer" / "latest.pt"), read_checkpoint(two / "pointer" / "latest.pt")
    assert (a["epoch"], a["step"]) == (b["epoch"], b["step"]) == (2, 4)
    for name, tensor in a["state_dict"].items():
        np.testing.assert_allclose(b["state_dict"][name].numpy(), tensor.numpy(), rtol=1e-3, atol=1e-6, err_msg=name)


def test_single_process_ignores_the_helpers():
    from editor_env.distributed import SINGLE, all_reduce_sum, broadcast, init_distributed, shard, wrap_ddp

    assert init_distributed("cpu") == SINGLE and not SINGLE.enabled and SINGLE.is_main
    module = object()
    assert wrap_ddp(module, SINGLE) is module
    assert shard([1, 2, 3], SINGLE) == [1, 2, 3] and all_reduce_sum([1.5], SINGLE) == [1.5]
    assert broadcast({"a": 1}, SINGLE) == {"a": 1}

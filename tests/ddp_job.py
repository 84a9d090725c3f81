"""The 2-process half of tests/test_distributed.py, run by ``torchrun --nproc_per_node 2``.

    torchrun --standalone --nproc_per_node 2 tests/ddp_job.py POINTER_CONFIG SUPERVISED_CONFIG OUT_DIR

Trains the pointer network one epoch and stops (``max_minutes=0``), resumes it to two epochs,
then trains the supervised model: three DDP runs in one launch and one process group.
"""

from __future__ import annotations

import dataclasses
import sys
from pathlib import Path

from editor_env.distributed import init_distributed, teardown
from pointer_baseline.trainers.pointer_trainer import PointerTrainConfig
from pointer_baseline.trainers.pointer_trainer import train as train_pointer
from supervised_baseline.config import TrainConfig
from supervised_baseline.trainer import train as train_supervised


def main(pointer_config: str, supervised_config: str, out: str) -> None:
    ctx = init_distributed("cpu")  # once: the trainers use this group and leave it standing
    try:
        _train_all(pointer_config, supervised_config, out)
    finally:
        teardown(ctx)


def _train_all(pointer_config: str, supervised_config: str, out: str) -> None:
    pointer = PointerTrainConfig.from_json(pointer_config)
    save = str(Path(out) / "pointer")
    cut = train_pointer(dataclasses.replace(pointer, save_dir=save, max_minutes=0.0))  # stops after epoch 1
    assert cut.epoch == 1, cut
    resumed = train_pointer(dataclasses.replace(pointer, save_dir=save), resume=f"{save}/latest.pt")
    assert resumed.epoch == pointer.epochs, resumed
    supervised = TrainConfig.from_json(supervised_config)
    train_supervised(dataclasses.replace(supervised, save_dir=str(Path(out) / "supervised")), progress=False)


if __name__ == "__main__":
    main(*sys.argv[1:])

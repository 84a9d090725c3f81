"""torch.distributed for the trainers: one process group from ``torchrun``'s environment, DDP, ranks.

The pointer and supervised trainers run unchanged as one process; under ``torchrun`` each process
is one rank of a DistributedDataParallel run::

    torchrun --standalone --nproc_per_node 2 -m pointer_baseline.trainers.pointer_trainer --config ...
    torchrun --nnodes 2 --node_rank R --master_addr HEAD --master_port 29500 --nproc_per_node 8 \\
        -m supervised_baseline.trainer --data-dir ...

:func:`distributed_context` reads ``torchrun``'s variables (``RANK``, ``WORLD_SIZE``,
``LOCAL_RANK``, ``MASTER_ADDR``/``MASTER_PORT``) and joins the group with the ``gloo`` backend
on CPU and ``nccl`` on CUDA (one GPU per process: ``cuda:LOCAL_RANK``). Without those variables
(or with ``WORLD_SIZE=1``) it does nothing and every helper here is the identity, so a plain run
behaves exactly as before. In a group, every rank draws the same global batches from the same
seeded generators and trains on its share (:func:`shard`, :func:`distributed_sampler`); DDP
averages the gradients; only rank 0 writes checkpoints, ``config.json`` and TensorBoard logs
(:func:`summary_writer`), and a ``--resume`` checkpoint is read by every rank.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
from collections.abc import Iterator, Sequence
from typing import Any, TypeVar

from editor_env.errors import MusicEditError

T = TypeVar("T")


@dataclasses.dataclass(frozen=True)
class DistContext:
    """Where this process stands: ``rank`` of ``world_size`` (0 of 1 without ``torchrun``)."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    backend: str | None = None
    """``"gloo"`` or ``"nccl"`` in a process group; None for a plain single-process run."""

    @property
    def enabled(self) -> bool:
        return self.backend is not None

    @property
    def is_main(self) -> bool:
        """True on rank 0, the rank that writes files and logs."""
        return self.rank == 0


SINGLE = DistContext()


def launched_by_torchrun() -> bool:
    """True when ``torchrun`` (or another launcher setting ``WORLD_SIZE`` > 1) started this process."""
    return int(os.environ.get("WORLD_SIZE", "1")) > 1


def rank_device(device: str, ctx: DistContext) -> str:
    """The device of this rank: ``cuda:LOCAL_RANK`` for CUDA in a group, else ``device`` itself."""
    if ctx.enabled and device.startswith("cuda"):
        return f"cuda:{ctx.local_rank}"
    return device


def init_distributed(device: str) -> DistContext:
    """Join ``torchrun``'s process group (gloo on CPU, nccl on CUDA); :data:`SINGLE` without ``torchrun``.

    :param device: the resolved training device (``"cpu"``, ``"cuda"`` …) of this run.
    :raises MusicEditError: the variables are incomplete or CUDA has fewer GPUs than local ranks.
    """
    if not launched_by_torchrun():
        return SINGLE
    import torch as th
    import torch.distributed as dist

    missing = [k for k in ("RANK", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT") if k not in os.environ]
    if missing:
        raise MusicEditError(
            f"WORLD_SIZE={os.environ['WORLD_SIZE']} but {', '.join(missing)} unset: start distributed runs with "
            "torchrun (torchrun --standalone --nproc_per_node N -m ...), or unset WORLD_SIZE for one process."
        )
    local_rank = int(os.environ["LOCAL_RANK"])
    backend = "nccl" if device.startswith("cuda") else "gloo"
    if backend == "nccl":
        if local_rank >= th.cuda.device_count():
            raise MusicEditError(
                f"Local rank {local_rank} has no GPU ({th.cuda.device_count()} visible): use --nproc_per_node "
                "at most the GPU count, or --device cpu (gloo)."
            )
        th.cuda.set_device(local_rank)
    if not dist.is_initialized():
        dist.init_process_group(backend=backend)
    return DistContext(dist.get_rank(), dist.get_world_size(), local_rank, backend)


def teardown(ctx: DistContext) -> None:
    """Leave the process group (nothing for a single process)."""
    if ctx.enabled:
        import torch.distributed as dist

        if dist.is_initialized():
            dist.destroy_process_group()


@contextlib.contextmanager
def distributed_context(device: str) -> Iterator[DistContext]:
    """:func:`init_distributed` for the block, :func:`teardown` after it (also on errors).

    A process group that already exists (a script that trains several models in one ``torchrun``
    launch joins once) is used and left standing: tearing a group down and joining again in one
    process can hang in the rendezvous.
    """
    import torch.distributed as dist

    joined_before = dist.is_available() and dist.is_initialized()
    ctx = init_distributed(device)
    try:
        yield ctx
    finally:
        if not joined_before:
            teardown(ctx)


def wrap_ddp(module, ctx: DistContext, *, find_unused_parameters: bool = False):
    """``module`` in :class:`~torch.nn.parallel.DistributedDataParallel` in a group, else itself."""
    if not ctx.enabled:
        return module
    from torch.nn.parallel import DistributedDataParallel

    device_ids = [ctx.local_rank] if ctx.backend == "nccl" else None
    return DistributedDataParallel(module, device_ids=device_ids, find_unused_parameters=find_unused_parameters)


def no_sync(ddp_module, ctx: DistContext, *, sync: bool):
    """Context in which a backward pass accumulates gradients without the all-reduce (``sync=False``);
    gradients of several backward passes are averaged across ranks at the one with ``sync=True``."""
    if ctx.enabled and not sync:
        return ddp_module.no_sync()
    return contextlib.nullcontext()


def shard(items: Sequence[T], ctx: DistContext) -> list[T]:
    """This rank's share of one global batch: ``items[rank::world_size]`` (all of them for one process)."""
    return list(items[ctx.rank :: ctx.world_size])


def distributed_sampler(dataset: Sequence[Any], ctx: DistContext):
    """A :class:`~torch.utils.data.DistributedSampler` over ``dataset`` in its given order
    (``shuffle=False``: the trainer's seeded generator already shuffled it; padded so every rank
    gets as many items), or None for a single process."""
    if not ctx.enabled:
        return None
    from torch.utils.data import DistributedSampler

    return DistributedSampler(dataset, num_replicas=ctx.world_size, rank=ctx.rank, shuffle=False, drop_last=False)


def all_reduce_sum(values: Sequence[float], ctx: DistContext) -> list[float]:
    """The element-wise sum of ``values`` over all ranks (``values`` itself for one process)."""
    if not ctx.enabled:
        return list(values)
    import torch as th
    import torch.distributed as dist

    device = f"cuda:{ctx.local_rank}" if ctx.backend == "nccl" else "cpu"
    tensor = th.tensor(list(values), dtype=th.float64, device=device)
    dist.all_reduce(tensor, op=dist.ReduceOp.SUM)
    return tensor.cpu().tolist()


def broadcast(value: T, ctx: DistContext) -> T:
    """Rank 0's ``value`` on every rank (any picklable object)."""
    if not ctx.enabled:
        return value
    import torch.distributed as dist

    box = [value]
    dist.broadcast_object_list(box, src=0)
    return box[0]


def barrier(ctx: DistContext) -> None:
    """Wait until every rank gets here."""
    if ctx.enabled:
        import torch.distributed as dist

        dist.barrier()


class _NoWriter:
    """A SummaryWriter stand-in for ranks other than 0: logs nothing."""

    def add_scalar(self, *args: Any, **kwargs: Any) -> None:
        pass

    def flush(self) -> None:
        pass

    def close(self) -> None:
        pass


def summary_writer(log_dir: str | os.PathLike, ctx: DistContext):
    """A TensorBoard ``SummaryWriter`` on rank 0, a writer that drops everything on the others."""
    if not ctx.is_main:
        return _NoWriter()
    from torch.utils.tensorboard import SummaryWriter

    return SummaryWriter(str(log_dir))

"""Train the supervised mel-reconstruction baseline.

    python -m supervised_baseline.trainer --data-dir training_data --save-dir models/supervised --epochs 30
                                          [--config configs/supervised.json] [--cache-dir cache]
                                          [--resume models/supervised/latest.pt] [--device auto]
    torchrun --standalone --nproc_per_node 2 -m supervised_baseline.trainer --data-dir ... (DistributedDataParallel)

Read top to bottom: settings (:class:`~supervised_baseline.config.TrainConfig`, JSON config,
flags override), data (samples with pointer and op labels, precached mels, split by sample into
training and validation), the model (new with the training set's normalisation, or resumed from
a checkpoint with its epoch counter, optimiser and RNG state), then per epoch: seeded random
crops, AdamW steps with gradient clipping, validation on fixed tiles of the held-out samples,
atomic ``latest.pt`` and (when validation improves) ``best.pt``. Before the first epoch the
untrained model is validated too (epoch 0): it reproduces the rearranged raw mel exactly, so
epoch 0 is the "copy the raw frames" baseline that training must beat; it is saved as the first
``best.pt``, so ``best.pt`` is never worse than copying. The learning rate warms up linearly and
then stays constant or follows a cosine to 0 at the last epoch (``lr_schedule``), a function of
the step alone.

TensorBoard (``{save_dir}/tb``): ``train/l1_loss``, ``train/msstft_loss``, ``train/mse_loss``,
``train/consistency_loss``, ``train/total_loss``, ``train/grad_norm`` per step; ``val/total_loss``
and ``val/l1_loss`` per epoch.

The crops of epoch ``e`` come from ``default_rng([seed, e])`` and torch's RNG is saved in the
checkpoint, so a resumed run continues with the same epoch counters and the same data order.
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import os
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from editor_env.errors import MusicEditError
from editor_env.io import config_from_args
from editor_env.params import DEFAULT_PARAMS, AudioParams
from supervised_baseline.config import TrainConfig, config_diff, write_config
from supervised_baseline.errors import SupervisedError


@dataclasses.dataclass
class TrainResult:
    """What :func:`train` did.

    :param history: one dict per validated epoch (epoch 0 = the untrained model):
        ``epoch``, ``val_total_loss``, ``val_l1_loss``, ``train_total_loss`` (mean over the
        epoch's steps; None for epoch 0), ``seconds`` (wall time of the epoch).
    :param best_val: lowest validation total loss seen.
    :param save_dir: where the checkpoints are.
    :param train_samples: names of the training samples. :param val_samples: of the validation ones.
    """

    history: list[dict[str, Any]]
    best_val: float
    save_dir: Path
    train_samples: list[str]
    val_samples: list[str]

    @property
    def latest(self) -> Path:
        return self.save_dir / "latest.pt"

    @property
    def best(self) -> Path:
        return self.save_dir / "best.pt"


def _to_device(batch: dict[str, np.ndarray], device: str) -> dict[str, Any]:
    import torch as th

    return {k: th.from_numpy(v).to(device) for k, v in batch.items()}


def evaluate(model, prepared: list, config: TrainConfig, device: str) -> dict[str, float]:
    """Mean losses over fixed non-overlapping tiles of ``prepared`` (weighted by valid frames)."""
    import torch as th

    from supervised_baseline.data import collate, tiled_crops
    from supervised_baseline.losses import total_loss

    crops = tiled_crops(prepared, config.segment_frames)
    sums: dict[str, float] = {}
    frames = 0.0
    model.eval()
    with th.no_grad():
        for k in range(0, len(crops), config.batch_size):
            batch = _to_device(collate(prepared, crops[k : k + config.batch_size], config.segment_frames), device)
            pred = model(batch["gathered"], batch["ops"], batch["features"], batch["valid"])
            _, parts = total_loss(pred, batch["target"], batch["gathered"], batch["ops"], batch["valid"], config)
            n = float(batch["valid"].sum())
            for name, value in parts.items():
                sums[name] = sums.get(name, 0.0) + value * n
            frames += n
    return {name: value / max(frames, 1.0) for name, value in sums.items()}


def learning_rate(config: TrainConfig, step: int, total_steps: int) -> float:
    """Learning rate of optimiser step ``step`` (0-based): linear warm-up over ``warmup_steps``, then
    constant or a cosine decay to 0 at ``total_steps``."""
    rate = config.learning_rate * min(1.0, (step + 1) / max(config.warmup_steps, 1))
    if config.lr_schedule == "cosine" and total_steps > config.warmup_steps:
        progress = min(max(step - config.warmup_steps, 0) / (total_steps - config.warmup_steps), 1.0)
        rate *= 0.5 * (1.0 + math.cos(math.pi * progress))
    return rate


def _payload(model, optimizer, config, params, epoch, global_step, best_val, history) -> dict[str, Any]:
    import torch as th

    return {
        "model_config": config.model.to_dict(),
        "train_config": config.to_dict(),
        "params": params.to_dict(),
        "normalisation": {"mean": model.mel_mean.cpu().tolist(), "std": model.mel_std.cpu().tolist()},
        "model_state": {k: v.detach().cpu() for k, v in model.state_dict().items()},
        "optimizer_state": optimizer.state_dict(),
        "epoch": epoch,
        "global_step": global_step,
        "best_val": best_val,
        "history": history,
        "torch_rng_state": th.get_rng_state(),
    }


def train(
    config: TrainConfig,
    *,
    resume: str | Path | None = None,
    samples: list | None = None,
    params: AudioParams = DEFAULT_PARAMS,
    progress: bool = True,
    log=print,
) -> TrainResult:
    """Train (or resume) and return the per-epoch history. Writes ``{save_dir}/config.json``,
    ``latest.pt`` after every epoch, ``best.pt`` when validation improves, and TensorBoard logs.

    :param samples: :class:`~supervised_baseline.data.SupervisedSample` list to train on instead
        of loading ``config.data_dir`` (tests, scripts that hold the data in memory).
    :param resume: a ``latest.pt`` to continue from; its model config must equal ``config.model``.

    Under ``torchrun`` this process is one rank of a DistributedDataParallel run
    (:mod:`editor_env.distributed`): every rank draws the same crops, a ``DistributedSampler``
    deals them out in order, so that the ``batch_size`` crops of a global step are those of one
    process and each rank trains on ``batch_size / world_size`` of them; DDP averages the
    gradients. Rank 0 validates, logs and writes the checkpoints and ``config.json``.
    """
    from editor_env.distributed import distributed_context, rank_device
    from supervised_baseline.checkpoint import resolve_device

    config.check()
    if config.model.n_mels != params.n_mels:
        raise SupervisedError(
            f"model.n_mels={config.model.n_mels} but the analysis parameters give {params.n_mels} mel bins: "
            "set model.n_mels to match."
        )
    device = resolve_device(config.device)
    with distributed_context(device) as ctx:
        if config.batch_size % ctx.world_size:
            raise SupervisedError(
                f"batch_size={config.batch_size} is not a multiple of the {ctx.world_size} torchrun processes: "
                "every process takes an equal share of a step's crops; change batch_size or --nproc_per_node."
            )
        return _train(config, resume, samples, params, progress, log, rank_device(device, ctx), ctx)


def _train(config: TrainConfig, resume, samples, params: AudioParams, progress: bool, log, device: str, ctx):
    import torch as th
    from tqdm.auto import tqdm

    from editor_env.distributed import all_reduce_sum, distributed_sampler, summary_writer, wrap_ddp
    from supervised_baseline.checkpoint import check_compatible, read_checkpoint, save_checkpoint
    from supervised_baseline.data import Prepared, collate, load_samples, normalisation, random_crops, split_samples
    from supervised_baseline.losses import total_loss
    from supervised_baseline.model import SupervisedEditModel, count_parameters

    log = log if ctx.is_main else (lambda *args, **kwargs: None)
    progress = progress and ctx.is_main
    if config.torch_threads:
        th.set_num_threads(config.torch_threads)
    th.manual_seed(config.seed)
    save_dir = Path(config.save_dir)
    save_dir.mkdir(parents=True, exist_ok=True)

    # -- data ------------------------------------------------------------------------------
    if samples is None:
        samples = load_samples(config.data_dir, config.cache_dir, params=params, progress=progress)
    if not samples:
        raise SupervisedError("No training samples.")
    train_s, val_s = split_samples(samples, config.val_fraction, config.seed)
    if val_s is train_s:
        log("warning: one sample only, validating on the training sample")
    scale = config.model.position_scale_frames
    train_p = [Prepared.of(s, scale) for s in train_s]
    val_p = [Prepared.of(s, scale) for s in val_s]
    for p in train_p + val_p:
        if p.target is None:
            raise SupervisedError(f"Sample {p.name} has no edit mel to train on.")
    log(f"{len(train_p)} training and {len(val_p)} validation sample(s); device {device}")

    # -- model -----------------------------------------------------------------------------
    model = SupervisedEditModel(config.model).to(device)
    optimizer = th.optim.AdamW(model.parameters(), lr=config.learning_rate, weight_decay=config.weight_decay)
    start_epoch, global_step, best_val, history = 0, 0, math.inf, []
    if resume is not None:
        data = read_checkpoint(resume)
        check_compatible(data, resume, config.model, params)
        model.load_state_dict(data["model_state"])
        if "optimizer_state" in data:
            optimizer.load_state_dict(data["optimizer_state"])
        start_epoch, global_step = int(data.get("epoch", 0)), int(data.get("global_step", 0))
        best_val, history = float(data.get("best_val", math.inf)), list(data.get("history", []))
        if "torch_rng_state" in data:
            th.set_rng_state(data["torch_rng_state"])
        changed = config_diff(
            {k: v for k, v in data.get("train_config", {}).items() if k != "model"},
            {k: v for k, v in config.to_dict().items() if k != "model"},
        )
        changed = {k: v for k, v in changed.items() if k not in ("epochs", "save_dir", "device")}
        if changed:
            log(f"note: resuming with changed training settings {changed}")
        log(f"Resumed from {resume} after epoch {start_epoch} (step {global_step})")
    else:
        mean, std = normalisation(train_s)
        model.set_normalisation(mean, std)
    if ctx.is_main:
        write_config(save_dir / "config.json", config)
    log(
        f"model: {count_parameters(model):,} parameters"
        + (f"; {ctx.world_size} ranks ({ctx.backend})" if ctx.enabled else "")
    )
    ddp_model = wrap_ddp(model, ctx)
    local_batch = config.batch_size // ctx.world_size

    writer = summary_writer(save_dir / "tb", ctx)
    try:
        if resume is None and ctx.is_main:
            val = evaluate(model, val_p, config, device)
            history.append(
                {
                    "epoch": 0,
                    "val_total_loss": val["total_loss"],
                    "val_l1_loss": val["l1_loss"],
                    "train_total_loss": None,
                    "seconds": 0.0,
                }
            )
            writer.add_scalar("val/total_loss", val["total_loss"], 0)
            writer.add_scalar("val/l1_loss", val["l1_loss"], 0)
            # the untrained model is the first "best": training must beat copying the raw frames
            best_val = val["total_loss"]
            save_checkpoint(save_dir / "best.pt", _payload(model, optimizer, config, params, 0, 0, best_val, history))
            log(
                f"epoch 0 (untrained: the rearranged raw mel) val total {val['total_loss']:.5f} l1 {val['l1_loss']:.5f}"
            )
        for epoch in range(start_epoch + 1, config.epochs + 1):
            t0 = time.perf_counter()
            rng = np.random.default_rng([config.seed, epoch])
            crops = random_crops(
                train_p, config.crops_per_sample, config.segment_frames, rng, focus_fraction=config.focus_fraction
            )
            sampler = distributed_sampler(crops, ctx)
            crops = crops if sampler is None else [crops[i] for i in sampler]  # this rank's share, in order
            n_batches = math.ceil(len(crops) / local_batch)  # = ceil(all crops / batch_size) on every rank
            total_steps = n_batches * config.epochs
            model.train()
            train_sum = 0.0
            bar = tqdm(range(n_batches), desc=f"epoch {epoch}/{config.epochs}", unit="batch", disable=not progress)
            for k in bar:
                batch = _to_device(
                    collate(train_p, crops[k * local_batch : (k + 1) * local_batch], config.segment_frames), device
                )
                pred = ddp_model(batch["gathered"], batch["ops"], batch["features"], batch["valid"])
                loss, parts = total_loss(pred, batch["target"], batch["gathered"], batch["ops"], batch["valid"], config)
                if ctx.enabled:  # log the mean over ranks (every rank checks the same figure)
                    parts = dict(zip(parts, (v / ctx.world_size for v in all_reduce_sum(list(parts.values()), ctx))))
                if not math.isfinite(parts["total_loss"]):
                    raise SupervisedError(
                        f"The training loss became {parts['total_loss']} at epoch {epoch}, step {global_step}: "
                        "lower learning_rate or set grad_clip."
                    )
                for group in optimizer.param_groups:  # a function of the step alone, so resume-safe
                    group["lr"] = learning_rate(config, global_step, total_steps)
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                grad_norm = th.nn.utils.clip_grad_norm_(
                    model.parameters(), config.grad_clip if config.grad_clip > 0 else float("inf")
                )
                optimizer.step()
                global_step += 1
                train_sum += parts["total_loss"]
                for name, value in parts.items():
                    writer.add_scalar(f"train/{name}", value, global_step)
                writer.add_scalar("train/grad_norm", float(grad_norm), global_step)
                bar.set_postfix(loss=f"{parts['total_loss']:.4f}", l1=f"{parts['l1_loss']:.4f}")
            bar.close()
            if not ctx.is_main:
                continue
            val = evaluate(model, val_p, config, device)
            seconds = time.perf_counter() - t0
            entry = {
                "epoch": epoch,
                "val_total_loss": val["total_loss"],
                "val_l1_loss": val["l1_loss"],
                "train_total_loss": train_sum / max(n_batches, 1),
                "seconds": seconds,
            }
            history.append(entry)
            writer.add_scalar("val/total_loss", val["total_loss"], epoch)
            writer.add_scalar("val/l1_loss", val["l1_loss"], epoch)
            improved = val["total_loss"] < best_val
            best_val = min(best_val, val["total_loss"])
            payload = _payload(model, optimizer, config, params, epoch, global_step, best_val, history)
            if improved:  # best.pt first: a killed run never resumes with a best_val that best.pt lacks
                save_checkpoint(save_dir / "best.pt", payload)
            save_checkpoint(save_dir / "latest.pt", payload)
            log(
                f"epoch {epoch}/{config.epochs} train total {entry['train_total_loss']:.5f} val total "
                f"{val['total_loss']:.5f} l1 {val['l1_loss']:.5f}{' (best)' if improved else ''} [{seconds:.1f} s]"
            )
        if start_epoch >= config.epochs:
            log(f"nothing to do: the checkpoint has finished {start_epoch} of {config.epochs} epochs")
    finally:
        writer.close()
    return TrainResult(history, best_val, save_dir, [s.name for s in train_s], [s.name for s in val_s])


def parse_args(argv: list[str] | None = None) -> tuple[TrainConfig, str | None, bool]:
    parser = argparse.ArgumentParser(
        prog="python -m supervised_baseline.trainer",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--config", help="JSON config (configs/supervised.json); flags override it")
    parser.add_argument("--data-dir", help="data set in the training_data layout, with pointer_sequences/")
    parser.add_argument("--cache-dir", help="feature cache (default: cache/ beside the data set)")
    parser.add_argument("--save-dir", help="where latest.pt, best.pt and tb/ go")
    parser.add_argument("--epochs", type=int, help="epochs in all (a resumed run counts its earlier ones)")
    parser.add_argument("--batch-size", type=int)
    parser.add_argument("--learning-rate", type=float)
    parser.add_argument("--segment-frames", type=int)
    parser.add_argument("--seed", type=int)
    parser.add_argument("--device", help="auto (CUDA when present), cpu or cuda")
    parser.add_argument("--torch-threads", type=int, help="torch intra-op threads (0: default)")
    parser.add_argument("--resume", help="continue from this latest.pt")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    args = parser.parse_args(argv)
    config = config_from_args(TrainConfig, args)
    return config, args.resume, not args.no_progress


def main(argv: list[str] | None = None) -> int:
    try:
        config, resume, progress = parse_args(argv)
        result = train(config, resume=resume, progress=progress)
    except MusicEditError as exc:
        print(f"supervised_baseline.trainer: error: {exc}", file=sys.stderr)
        return 2
    if os.environ.get("RANK", "0") == "0":  # under torchrun: rank 0 reports
        print(f"best val total loss {result.best_val:.5f}; checkpoints in {result.save_dir}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

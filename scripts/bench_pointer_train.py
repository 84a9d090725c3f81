"""Where a training step of the pointer network spends its time, per recording (CPU by default).

    python scripts/bench_pointer_train.py --cache-dir CACHE --pointer-dir POINTERS [--checkpoint editor_env/models/pointer.pt]
        [--threads 2] [--repeats 2] [--device cpu]

Times, on the cached recordings given, with the checkpoint's model and training config (``hard_steps``, ``random_steps``):
the encoder (``memory``), hard-step mining (:func:`~pointer_baseline.trainers.pointer_trainer.hardest_steps`: every
decoder step of the recording without gradients), the whole training step with and without mining (losses, backward,
optimizer) and free-running validation (:func:`~pointer_baseline.trainers.pointer_trainer.evaluate`). Prints a table.
Any cached set serves, e.g. ``scripts/finetune_pointer.py --n-extra 6``'s ``combined/cache`` and
``combined/pointer_sequences``.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cache-dir", type=Path, required=True)
    parser.add_argument("--pointer-dir", type=Path, required=True)
    parser.add_argument("--checkpoint", type=Path, default=REPO / "editor_env" / "models" / "pointer.pt")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=2, help="passes over the recordings (the first warms up)")
    parser.add_argument("--device", default="cpu", help="cpu, cuda or auto")
    args = parser.parse_args(argv)

    import numpy as np
    import torch as th

    from pointer_baseline.checkpoint import load_weights, read_checkpoint
    from pointer_baseline.data import discover_samples, frame_labels, load_sample, step_targets
    from pointer_baseline.model import PointerNetwork
    from pointer_baseline.trainers import pointer_trainer as pt

    th.set_num_threads(args.threads)
    device = pt.resolve_device(args.device)
    payload = read_checkpoint(args.checkpoint)
    config = pt.PointerTrainConfig.from_dict(payload["train_config"], source=f"{args.checkpoint} train_config")
    cfg = config.model
    model = PointerNetwork(cfg).to(device)
    load_weights(model, payload, str(args.checkpoint))
    optimizer = th.optim.AdamW(model.parameters(), lr=1e-6)
    names = discover_samples(args.cache_dir, args.pointer_dir)
    if not names:
        raise SystemExit(f"no cached recording with pointers in {args.cache_dir} and {args.pointer_dir}")
    samples = [
        load_sample(
            args.cache_dir,
            args.pointer_dir,
            n,
            use_beat_features=cfg.use_beat_features,
            recurrence_lags=cfg.recurrence_lags,
        )
        for n in names
    ]
    targets = [
        step_targets(s.pointers, s.n_raw, max_delta=cfg.max_delta, jump_chunk=cfg.jump_chunk, ops=s.ops)
        for s in samples
    ]
    frames = [frame_labels(s.pointers, s.n_raw) for s in samples]
    rng = np.random.default_rng(0)

    def clock(fn, *fn_args) -> float:
        if device.startswith("cuda"):
            th.cuda.synchronize()
        start = time.perf_counter()
        fn(*fn_args)
        if device.startswith("cuda"):
            th.cuda.synchronize()
        return time.perf_counter() - start

    def train_step(sample, tg, fr, hard: int) -> None:
        sel = pt.select_steps(tg, config.event_context, config.random_steps, rng)
        losses = pt.sample_losses(
            model, th.as_tensor(sample.mel, device=device), tg, sel, frames=fr, op_head=cfg.op_head, hard_steps=hard
        )
        pt.total_loss(losses, config).backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)

    rows = {"encoder (memory), forward": [], "hard-step mining": [], "training step without mining": []}
    rows[f"training step with mining ({config.hard_steps} hard steps)"] = []
    model.train()
    for repeat in range(args.repeats):
        for sample, tg, fr in zip(samples, targets, frames):
            mel = th.as_tensor(sample.mel, device=device)
            times = [
                clock(model.memory, mel),
                clock(lambda m, t: pt.hardest_steps(model, model.memory(m), t, config.hard_steps), mel, tg),
                clock(train_step, sample, tg, fr, 0),
                clock(train_step, sample, tg, fr, config.hard_steps),
            ]
            if repeat or args.repeats == 1:
                for key, t in zip(rows, times):
                    rows[key].append(t)
    exits = pt.validation_exits(args.cache_dir, samples)
    rows["validation (teacher-forced figures + free-running decoding)"] = [
        clock(pt.evaluate, model, samples, config, device, exits) / len(samples)
    ]
    frames_mean = np.mean([s.n_raw for s in samples])
    print(f"{len(samples)} recording(s), {frames_mean:.0f} raw frames on average, {device}, {args.threads} thread(s)")
    print(f"{'stage':62s} {'s a recording':>14s}")
    for key, values in rows.items():
        print(f"{key:62s} {np.mean(values):14.3f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

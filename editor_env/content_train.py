"""Training the content model (:mod:`editor_env.content`) on labelled data sets; resumable, with a time budget.

    python scripts/train_content.py --train DIR [DIR ...] --val DIR [DIR ...] --out models/content
                                    [--budget-minutes 20] [--epochs 60] [--seed 0] [--resume]

Every data set is a ``training_data`` folder whose samples have ``pointer_sequences/{sample}_labels.json`` (jams,
synthetic pairs, aligned human pairs); its analysis cache is ``DIR/../cache`` (precached when missing). Each
recording is one sequence of beats; a batch pads a few of them. Loss: binary cross-entropy of the song head
against each beat's song share, plus ``kind_weight`` x the cross-entropy of the kind head on beats that are
mostly junk of a known kind.

Every epoch is validated on the val sets: loss, beat accuracy, kind accuracy, and the figure the model is chosen
by, ``val/junk_f``: the mean junk-removed / song-kept F (:func:`editor_env.labels.junk_song_score`) of the edit
that keeps the beats :func:`editor_env.content.keep_decision` keeps. ``best.pt`` is the epoch with the best
``val/junk_f``; ``latest.pt`` (with the optimiser, the epoch and the seconds trained) resumes a stopped run.
Both are written atomically. TensorBoard: ``train/loss``, ``train/song_loss``, ``train/kind_loss``,
``val/loss``, ``val/beat_accuracy``, ``val/kind_accuracy``, ``val/junk_f``.
"""

from __future__ import annotations

import dataclasses
import json
import os
import time
from pathlib import Path
from typing import Any

import numpy as np

from editor_env.content import (
    CONTENT_FORMAT,
    CONTENT_FORMAT_VERSION,
    CONTENT_KINDS,
    FEATURE_VERSION,
    N_CONTENT_FEATURES,
    ContentConfig,
    beat_frames_played,
    beat_targets,
    build_net,
    content_features,
    keep_decision,
)
from editor_env.errors import MusicEditError


@dataclasses.dataclass
class ContentTrainConfig:
    """Settings of one training run (saved beside the checkpoints)."""

    epochs: int = 60
    """Passes over the training recordings (the budget may stop earlier)."""
    budget_minutes: float | None = None
    """Wall-clock budget of the whole run, resumed parts included; None: no limit."""
    batch_size: int = 8
    """Recordings per batch."""
    learning_rate: float = 2e-3
    weight_decay: float = 1e-4
    kind_weight: float = 0.3
    """Weight of the kind head's loss against the song head's."""
    switch_cost: float = 2.0
    """Of :func:`editor_env.content.keep_decision` when validating."""
    seed: int = 0
    threads: int = 2
    model: ContentConfig = dataclasses.field(default_factory=ContentConfig)

    def to_dict(self) -> dict[str, Any]:
        out = dataclasses.asdict(self)
        out["model"] = self.model.to_dict()
        return out


@dataclasses.dataclass
class Recording:
    """One labelled recording ready for training: ``features`` ``(n_beats, N_CONTENT_FEATURES)``, ``junk``
    ``(n_beats,)`` junk share, ``kinds`` ``(n_beats,)`` kind index or -1, and what scoring needs."""

    name: str
    features: np.ndarray
    junk: np.ndarray
    kinds: np.ndarray
    analysis: Any
    labels: Any


def load_recordings(data_dirs: list[str | os.PathLike], *, progress: bool = True) -> list[Recording]:
    """Every labelled recording of the data sets (precaching what is missing); samples without labels are
    left out, named once per data set."""
    from tqdm import tqdm

    from editor_env.labels import RawLabels, labels_path
    from editor_env.tasks import load_tasks

    out = []
    for data_dir in data_dirs:
        data_dir = Path(data_dir)
        tasks = load_tasks(data_dir, data_dir.parent / "cache")
        missing = [t.name for t in tasks if not labels_path(data_dir, t.name).is_file()]
        if missing:
            print(f"  {data_dir}: {len(missing)} sample(s) without labels left out (e.g. {missing[0]})")
        for task in tqdm(tasks, desc=f"features {data_dir.parent.name}", disable=not progress, unit="rec"):
            path = labels_path(data_dir, task.name)
            if not path.is_file():
                continue
            labels = RawLabels.load(path)
            junk, kinds = beat_targets(labels, task.analysis)
            out.append(Recording(task.name, content_features(task.analysis), junk, kinds, task.analysis, labels))
    if not out:
        raise MusicEditError(f"No labelled recordings in {[str(d) for d in data_dirs]}: nothing to train on.")
    return out


def _batch(recordings: list[Recording], mean: np.ndarray, std: np.ndarray):
    import torch as th

    n = max(r.features.shape[0] for r in recordings)
    x = np.zeros((len(recordings), n, N_CONTENT_FEATURES), np.float32)
    song = np.zeros((len(recordings), n), np.float32)
    kinds = np.full((len(recordings), n), -1, np.int64)
    mask = np.zeros((len(recordings), n), np.float32)
    for i, r in enumerate(recordings):
        k = r.features.shape[0]
        x[i, :k] = (r.features - mean) / std
        song[i, :k] = 1.0 - r.junk
        kinds[i, :k] = r.kinds
        mask[i, :k] = 1.0
    return th.from_numpy(x), th.from_numpy(song), th.from_numpy(kinds), th.from_numpy(mask)


def _losses(net, batch, kind_weight: float):
    import torch as th
    import torch.nn.functional as F

    x, song, kinds, mask = batch
    song_logit, kind_logit = net(x)
    song_loss = (F.binary_cross_entropy_with_logits(song_logit, song, reduction="none") * mask).sum() / mask.sum()
    known = kinds >= 0
    kind_loss = F.cross_entropy(kind_logit[known], kinds[known]) if known.any() else th.zeros(())
    return song_loss + kind_weight * kind_loss, song_loss, kind_loss, song_logit, kind_logit


def evaluate(net, recordings: list[Recording], mean, std, config: ContentTrainConfig) -> dict[str, float]:
    """Validation figures (module docstring) of ``net`` on ``recordings``."""
    import torch as th

    from editor_env.labels import junk_song_score

    net.eval()
    totals = {"loss": 0.0, "beats": 0, "right": 0, "kind_right": 0, "kind_n": 0}
    f_scores = []
    with th.no_grad():
        for r in recordings:
            batch = _batch([r], mean, std)
            loss, _, _, song_logit, kind_logit = _losses(net, batch, config.kind_weight)
            p = th.sigmoid(song_logit[0]).numpy()
            totals["loss"] += float(loss) * r.junk.size
            totals["beats"] += r.junk.size
            totals["right"] += int(((p >= 0.5) == (r.junk < 0.5)).sum())
            known = r.kinds >= 0
            totals["kind_right"] += int((kind_logit[0].argmax(-1).numpy()[known] == r.kinds[known]).sum())
            totals["kind_n"] += int(known.sum())
            keep = keep_decision(p, switch_cost=config.switch_cost)
            f_scores.append(junk_song_score(r.labels, beat_frames_played(keep, r.analysis)).f)
    net.train()
    return {
        "loss": totals["loss"] / max(totals["beats"], 1),
        "beat_accuracy": totals["right"] / max(totals["beats"], 1),
        "kind_accuracy": totals["kind_right"] / max(totals["kind_n"], 1),
        "junk_f": float(np.nanmean(f_scores)) if f_scores else float("nan"),
    }


def _save(path: Path, payload: dict[str, Any]) -> None:
    import torch as th

    from editor_env.io import atomic_path

    with atomic_path(path) as tmp:
        th.save(payload, tmp)


def train_content_model(
    train_dirs: list[str | os.PathLike],
    val_dirs: list[str | os.PathLike],
    out_dir: str | os.PathLike,
    config: ContentTrainConfig | None = None,
    *,
    resume: bool = False,
    progress: bool = True,
    recipe: str = "",
) -> dict[str, Any]:
    """Train (or resume) a content model; returns the best epoch's validation figures.

    Writes ``OUT/best.pt``, ``OUT/latest.pt``, ``OUT/config.json`` and TensorBoard logs in ``OUT/tb``.
    """
    import torch as th
    from torch.utils.tensorboard import SummaryWriter

    config = config or ContentTrainConfig()
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    th.set_num_threads(config.threads)
    latest = out_dir / "latest.pt"
    state = None
    if resume and latest.is_file():
        state = th.load(latest, map_location="cpu", weights_only=False)
        if state.get("train_config", {}).get("model") != config.model.to_dict():
            raise MusicEditError(f"{latest} was trained with another model config: train into another --out.")
    elif latest.is_file() and not resume:
        raise MusicEditError(f"{latest} exists: pass --resume to continue it, or train into another --out folder.")
    print("Loading training recordings …")
    train = load_recordings(train_dirs, progress=progress)
    print("Loading validation recordings …")
    val = load_recordings(val_dirs, progress=progress)
    all_beats = np.concatenate([r.features for r in train])
    mean = all_beats.mean(axis=0).astype(np.float32)
    std = np.maximum(all_beats.std(axis=0), 1e-4).astype(np.float32)
    th.manual_seed(config.seed)
    rng = np.random.default_rng(config.seed)
    net = build_net(config.model)
    opt = th.optim.AdamW(net.parameters(), lr=config.learning_rate, weight_decay=config.weight_decay)
    epoch, seconds, best = 0, 0.0, {"junk_f": -1.0}
    if state is not None:
        net.load_state_dict(state["state_dict"])
        opt.load_state_dict(state["optimizer"])
        mean, std = np.asarray(state["mean"], np.float32), np.asarray(state["std"], np.float32)
        epoch, seconds, best = state["epoch"], state["seconds"], state["best"]
        rng = np.random.default_rng([config.seed, epoch])
        print(f"Resumed {latest} at epoch {epoch} ({seconds / 60:.1f} min trained)")
    (out_dir / "config.json").write_text(json.dumps(config.to_dict(), indent=2) + "\n")
    writer = SummaryWriter(str(out_dir / "tb"))
    sched = th.optim.lr_scheduler.CosineAnnealingLR(
        opt, T_max=max(config.epochs, 1), eta_min=config.learning_rate * 0.1
    )
    if state is not None and "scheduler" in state:
        sched.load_state_dict(state["scheduler"])
    n_params = sum(p.numel() for p in net.parameters())
    print(f"{len(train)} training / {len(val)} validation recordings; {n_params} parameters")
    step = epoch * ((len(train) + config.batch_size - 1) // config.batch_size)
    while epoch < config.epochs:
        if config.budget_minutes is not None and seconds >= 60 * config.budget_minutes:
            print(f"Budget of {config.budget_minutes} min reached at epoch {epoch}.")
            break
        started = time.perf_counter()
        net.train()
        order = rng.permutation(len(train))
        # batches of recordings of similar length waste less padding
        order = sorted(order, key=lambda i: train[i].features.shape[0] + rng.uniform(0, 64))
        batches = [order[i : i + config.batch_size] for i in range(0, len(order), config.batch_size)]
        rng.shuffle(batches)
        for idx in batches:
            loss, song_loss, kind_loss, _, _ = _losses(
                net, _batch([train[i] for i in idx], mean, std), config.kind_weight
            )
            opt.zero_grad()
            loss.backward()
            th.nn.utils.clip_grad_norm_(net.parameters(), 5.0)
            opt.step()
            writer.add_scalar("train/loss", loss.item(), step)
            writer.add_scalar("train/song_loss", song_loss.item(), step)
            writer.add_scalar("train/kind_loss", kind_loss.item(), step)
            step += 1
        sched.step()
        epoch += 1
        figures = evaluate(net, val, mean, std, config)
        seconds += time.perf_counter() - started
        for key, value in figures.items():
            writer.add_scalar(f"val/{key}", value, epoch)
        improved = figures["junk_f"] > best["junk_f"]
        if improved:
            best = {**figures, "epoch": epoch}
        print(
            f"epoch {epoch}: val loss {figures['loss']:.4f}, beat accuracy {figures['beat_accuracy']:.3f}, "
            f"kind accuracy {figures['kind_accuracy']:.3f}, junk F {figures['junk_f']:.4f}"
            f"{' (best)' if improved else ''}; {seconds / 60:.1f} min",
            flush=True,
        )
        payload = {
            "format": CONTENT_FORMAT,
            "paradigm": "content",
            "format_version": CONTENT_FORMAT_VERSION,
            "feature_version": FEATURE_VERSION,
            "n_features": N_CONTENT_FEATURES,
            "kinds": list(CONTENT_KINDS),
            "config": config.model.to_dict(),
            "state_dict": net.state_dict(),
            "mean": th.from_numpy(np.asarray(mean, np.float32)),  # tensors: loadable with weights_only
            "std": th.from_numpy(np.asarray(std, np.float32)),
            "record": {
                "epoch": epoch,
                "val": figures,
                "train_config": config.to_dict(),
                "train_dirs": [str(d) for d in train_dirs],
                "val_dirs": [str(d) for d in val_dirs],
                "recipe": recipe,
            },
        }
        if improved:
            _save(out_dir / "best.pt", payload)
        _save(
            latest,
            {
                **payload,
                "optimizer": opt.state_dict(),
                "scheduler": sched.state_dict(),
                "epoch": epoch,
                "seconds": seconds,
                "best": best,
                "train_config": config.to_dict(),
            },
        )
    writer.close()
    return best

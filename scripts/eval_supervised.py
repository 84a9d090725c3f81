"""Issue 7's check of the supervised baseline on synthetic pairs, within a stated CPU budget.

    python scripts/eval_supervised.py [--work-dir bench_output/eval_supervised] [--epochs 20]
                                      [--n-train 30 --n-heldout 10] [--threads 1]

1. Generates ``n_train`` training and ``n_heldout`` held-out synthetic pairs (``editor_env.synth``,
   fixed seeds 7001 and 7002, raw jams of 30-60 s) and precaches them (skipped when done).
2. Trains ``configs/supervised.json`` on the training pairs (the trainer holds out 20% of them
   for validation) with ``torch`` on ``--threads`` threads, printing the validation loss per
   epoch; epoch 0 is the untrained model, which copies the raw frames the labels point at.
3. On the held-out recordings, scores with the common reward (``Scorer(analysis, reference)``,
   reference = the ground-truth pointers):

   - ``retarget``: the retarget editor's EDL (the non-learned baseline);
   - ``supervised``: the model's predicted mel (labels from that same retarget EDL);
   - ``copy``: the raw mel gathered by the retarget labels, no model (what the residual path gives);
   - ``reference mel``: the cached mel of the true edit, the best a mel output can score.

The supervised model re-renders retarget's choice of material; it does not choose material
itself, so its reward is bounded by how the mel-only scoring reads retarget's edit. Numbers are
printed as measured; nothing is tuned on the held-out set.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--work-dir", type=Path, default=Path("bench_output/eval_supervised"))
    parser.add_argument("--config", default=str(REPO / "configs" / "supervised.json"))
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--n-train", type=int, default=30)
    parser.add_argument("--n-heldout", type=int, default=10)
    parser.add_argument("--threads", type=int, default=1, help="torch threads (the CPU budget)")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args(argv)

    import soundfile as sf
    import torch as th

    from editor_env.cache import features_path, load_analysis, precache
    from editor_env.retarget import retarget
    from editor_env.reward import Scorer
    from editor_env.synth import write_dataset
    from editor_env.tasks import read_reference
    from supervised_baseline.config import TrainConfig
    from supervised_baseline.data import gather_raw
    from supervised_baseline.infer import supervised_edit
    from supervised_baseline.trainer import train

    th.set_num_threads(args.threads)
    sets = {"train": (args.n_train, 7001), "heldout": (args.n_heldout, 7002)}
    t0 = time.perf_counter()
    for name, (n, seed) in sets.items():
        data_dir = args.work_dir / name / "training_data"
        write_dataset(data_dir, n, seed=seed, duration_range_s=(30.0, 60.0), progress=False)
        result = precache(data_dir, args.work_dir / name / "cache", progress=False, require_edit=True)
        if result.failed:
            print(f"precache failed: {result.failed}", file=sys.stderr)
            return 1
    print(f"data: {args.n_train} training + {args.n_heldout} held-out pairs ready in {time.perf_counter() - t0:.0f} s")

    config = TrainConfig.from_json(args.config)
    config.data_dir = str(args.work_dir / "train" / "training_data")
    config.cache_dir = str(args.work_dir / "train" / "cache")
    config.save_dir = str(args.work_dir / "model")
    config.epochs = args.epochs
    config.device = "cpu"
    config.torch_threads = args.threads
    for stale in ("latest.pt", "best.pt"):
        (Path(config.save_dir) / stale).unlink(missing_ok=True)
    t0 = time.perf_counter()
    result = train(config, progress=False)
    train_s = time.perf_counter() - t0
    val = [h["val_total_loss"] for h in result.history]
    print(f"training: {args.epochs} epochs in {train_s:.0f} s on {args.threads} CPU thread(s)")
    print("epoch  val_total_loss  val_l1_loss")
    for h in result.history:
        print(f"{h['epoch']:5d}  {h['val_total_loss']:14.5f}  {h['val_l1_loss']:11.5f}")
    fell = val[-1] < val[1] if len(val) > 1 else False
    print(
        f"val loss epoch 1 -> last: {val[1]:.5f} -> {val[-1]:.5f} ({'fell' if fell else 'did NOT fall'}); "
        f"untrained (copy) {val[0]:.5f}; best {min(val):.5f} at epoch {int(np.argmin(val))}"
    )

    heldout = args.work_dir / "heldout"
    rows = []
    for raw_path in sorted((heldout / "training_data" / "input").glob("*_raw.wav")):
        sample = raw_path.name[: -len("_raw.wav")]
        analysis = load_analysis(heldout / "cache", sample)
        reference = read_reference(heldout / "training_data" / "pointer_sequences" / f"{sample}_pointers.npy")
        scorer = Scorer(analysis, reference)
        info = sf.info(raw_path)
        edl = retarget(analysis, sample_rate=info.samplerate, raw_length=info.frames)
        edit = supervised_edit(raw_path, result.best, analysis=analysis, audio=False, device="cpu")
        with np.load(features_path(heldout / "cache", sample, "edit")) as data:
            reference_mel = data["mel"]
        row = {
            "sample": sample,
            "retarget": scorer.score(edl).total,
            "supervised": scorer.score(edit.mel).total,
            "copy": scorer.score(gather_raw(analysis.mel, edit.pointers)).total,
            "reference_mel": scorer.score(reference_mel).total,
        }
        rows.append(row)
    cols = ("retarget", "supervised", "copy", "reference_mel")
    print(f"\nheld-out common reward ({len(rows)} recordings; mel outputs are scored without seam_quality)")
    print(f"{'sample':12s}" + "".join(f"{c:>15s}" for c in cols))
    for row in rows:
        print(f"{row['sample']:12s}" + "".join(f"{row[c]:15.3f}" for c in cols))
    means = {c: float(np.mean([r[c] for r in rows])) for c in cols}
    stds = {c: float(np.std([r[c] for r in rows])) for c in cols}
    print(f"{'mean':12s}" + "".join(f"{means[c]:15.3f}" for c in cols))
    print(f"{'std':12s}" + "".join(f"{stds[c]:15.3f}" for c in cols))
    if args.json:
        args.json.write_text(
            json.dumps({"history": result.history, "train_seconds": train_s, "heldout": rows, "mean": means}, indent=2)
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())

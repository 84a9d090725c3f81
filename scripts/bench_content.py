"""Speed of the content model (editor_env.content) from a cached analysis, on one core.

    python scripts/bench_content.py [--data DIR] [--limit 20]

DIR: a data set with its cache beside it (default: the corpus val jams when built, else 6 generated pairs).
Prints a Markdown table: seconds per recording for the features and the network, and x real time.
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")

import argparse  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def main(argv: list[str] | None = None) -> int:
    import torch as th

    from editor_env import corpus
    from editor_env.content import content_features, load_content_model
    from editor_env.tasks import load_tasks

    th.set_num_threads(1)
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=None)
    parser.add_argument("--limit", type=int, default=20)
    args = parser.parse_args(argv)
    data = args.data
    if data is None:
        data = corpus.split_data_dir("val")
        if not (data / "input").is_dir():
            from editor_env.synth import write_dataset

            data = Path("bench_output/bench_content/training_data")
            write_dataset(data, 6, seed=9, duration_range_s=(60.0, 120.0), progress=False)
    tasks = load_tasks(data, data.parent / "cache")[: args.limit]
    model = load_content_model()
    model.predict(tasks[0].analysis)  # warm-up (first torch call)
    feat_s = net_s = audio_s = 0.0
    for task in tasks:
        t0 = time.perf_counter()
        content_features(task.analysis)
        t1 = time.perf_counter()
        model.predict(task.analysis)  # features again + the network
        t2 = time.perf_counter()
        feat_s += t1 - t0
        net_s += (t2 - t1) - (t1 - t0)
        audio_s += task.analysis.duration
    n = len(tasks)
    print(f"Content model on {n} recordings of {data} ({audio_s / 60:.1f} min of audio), one thread:\n")
    print("| stage | seconds a recording | x real time |\n|---|---|---|")
    print(f"| features (from the cached analysis) | {feat_s / n:.3f} | {audio_s / max(feat_s, 1e-9):.0f} |")
    print(f"| network | {max(net_s, 0) / n:.3f} | {audio_s / max(net_s, 1e-9):.0f} |")
    print(f"| both (`predict`) | {(feat_s + net_s) / n:.3f} | {audio_s / max(feat_s + net_s, 1e-9):.0f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())

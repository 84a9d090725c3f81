"""Train the content model (editor_env.content) on labelled data sets; see editor_env.content_train.

    python scripts/train_content.py --train DIR [DIR ...] --val DIR [DIR ...] --out models/content
                                    [--budget-minutes 20] [--epochs 60] [--seed 0] [--resume]

Without --train / --val: the real corpus's train and val jams (scripts/fetch_corpus.py builds them). Writes
OUT/best.pt (best val/junk_f), OUT/latest.pt, OUT/config.json and OUT/tb (TensorBoard).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from editor_env.content_train import ContentTrainConfig, train_content_model  # noqa: E402
from editor_env.errors import MusicEditError  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--train", nargs="+", type=Path, default=None, help="labelled training_data folders")
    parser.add_argument("--val", nargs="+", type=Path, default=None, help="labelled validation folders")
    parser.add_argument("--out", type=Path, default=Path("models/content"))
    parser.add_argument("--epochs", type=int, default=None)
    parser.add_argument("--budget-minutes", type=float, default=None)
    parser.add_argument("--seed", type=int, default=None)
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--resume", action="store_true", help="continue OUT/latest.pt")
    args = parser.parse_args(argv)
    try:
        from editor_env import corpus

        train = args.train or [corpus.require_split("train")]
        val = args.val or [corpus.require_split("val")]
        config = ContentTrainConfig()
        for name in ("epochs", "budget_minutes", "seed", "threads"):
            if getattr(args, name) is not None:
                setattr(config, name, getattr(args, name))
        recipe = "python scripts/train_content.py " + " ".join(sys.argv[1:] if argv is None else argv)
        best = train_content_model(train, val, args.out, config, resume=args.resume, recipe=recipe)
    except MusicEditError as exc:
        print(f"train_content: error: {exc}", file=sys.stderr)
        return 2
    print(f"Best epoch {best.get('epoch')}: val junk F {best['junk_f']:.4f} -> {args.out / 'best.pt'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

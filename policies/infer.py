"""Edit a recording with a trained agent (BC and/or PPO), deterministically, with masks.

    python -m policies.infer INPUT --checkpoint models/v1/best.pt -o OUT.wav [--target-ratio 0.67]

(also ``musicedit edit INPUT -o OUT.wav --policy agent --checkpoint models/v1/best.pt``). Writes the
audio and the EDL JSON beside it.
"""

from __future__ import annotations

import argparse
import functools
import sys
from pathlib import Path

from editor_env.edl import EditList
from editor_env.errors import MusicEditError
from editor_env.features import Analysis


@functools.lru_cache(maxsize=4)
def load_agent(checkpoint: str, device: str = "auto"):
    """The trained model saved at ``checkpoint`` (cached), with a clear error for a bad file."""
    from policies.ppo import BCMaskablePPO

    path = Path(checkpoint)
    if not path.is_file():
        raise MusicEditError(f"Checkpoint {path} does not exist: train one with `python -m policies.train`.")
    try:
        return BCMaskablePPO.load(path, device=device)
    except Exception as exc:  # SB3 raises many types for a truncated or foreign file
        raise MusicEditError(
            f"Cannot load agent checkpoint {path} ({type(exc).__name__}: {exc}); it is truncated or not a "
            "MusicEdit agent (latest.pt / best.pt from policies.train)."
        ) from exc


def agent_edit_list(
    analysis: Analysis,
    checkpoint: str,
    *,
    sample_rate: int,
    raw_length: int,
    target_ratio: float = 0.67,
    device: str = "auto",
    name: str = "input",
) -> EditList:
    """Run the agent over the recording once (deterministic actions, masks applied) and return
    its edit at the raw's own ``sample_rate``."""
    from editor_env.env import MusicEditEnv
    from editor_env.tasks import EditingTask

    model = load_agent(str(checkpoint), device)
    env = MusicEditEnv(tasks=[EditingTask(name, analysis)], target_ratio=target_ratio)
    if model.observation_space.shape != env.observation_space.shape:
        raise MusicEditError(
            f"Checkpoint {checkpoint} expects observations of shape {model.observation_space.shape}, the env gives "
            f"{env.observation_space.shape}: it was trained with another observation layout (context_beats)."
        )
    obs, _ = env.reset(seed=0)
    done = False
    while not done:
        action, _ = model.predict(obs, action_masks=env.action_masks(), deterministic=True)
        obs, _, terminated, truncated, _ = env.step(action)
        done = terminated or truncated
    edl = env.edit_list(sample_rate=sample_rate, raw_length=raw_length)
    edl.meta.update(paradigm="agent", checkpoint=str(checkpoint))
    return edl


def main(argv: list[str] | None = None) -> int:
    from editor_env.edit import edit_file

    parser = argparse.ArgumentParser(
        prog="python -m policies.infer", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("input", type=Path)
    parser.add_argument("--checkpoint", required=True)
    parser.add_argument("-o", "--output", type=Path, required=True)
    parser.add_argument("--target-ratio", type=float, default=None)
    parser.add_argument("--device", default="auto")
    args = parser.parse_args(argv)
    try:
        result = edit_file(
            args.input,
            args.output,
            policy="agent",
            checkpoint=args.checkpoint,
            target_ratio=args.target_ratio,
            device=args.device,
        )
    except MusicEditError as exc:
        print(f"policies.infer: error: {exc}", file=sys.stderr)
        return 2
    print(
        f"{result.input_duration_s:.1f} s -> {result.output_duration_s:.1f} s; wrote {result.output_path} and {result.edl_path}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())

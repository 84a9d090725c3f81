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

import numpy as np

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
    from editor_env.checkpoints import check_paradigm
    from policies.errors import PolicyConfigError

    check_paradigm(path, "bc_ppo")  # another paradigm's checkpoint is named with the --policy that reads it
    try:
        return BCMaskablePPO.load(path, device=device)
    except PolicyConfigError as exc:  # a real agent of another observation layout (e.g. before the locked beats)
        raise MusicEditError(
            f"Agent checkpoint {path} does not fit this version's env ({exc}): it was trained with another "
            "observation layout; retrain it with `python -m policies.train` (or use --policy retarget)."
        ) from exc
    except Exception as exc:  # SB3 raises many types for a truncated or foreign file
        raise MusicEditError(
            f"Cannot load agent checkpoint {path} ({type(exc).__name__}: {exc}); it is truncated or not a "
            "MusicEdit agent (latest.pt / best.pt from policies.train)."
        ) from exc


def agent_edit_list(analysis: Analysis, checkpoint: str, **kwargs) -> EditList:
    """The agent's deterministic edit of one recording (masks applied) at the raw's own ``sample_rate``:
    the first of :func:`agent_edit_lists` (same arguments, one candidate)."""
    return agent_edit_lists(analysis, checkpoint, **{**kwargs, "n_candidates": 1})[0]


def agent_edit_lists(
    analysis: Analysis,
    checkpoint: str,
    *,
    sample_rate: int,
    raw_length: int,
    target_ratio: float = 0.67,
    device: str = "auto",
    name: str = "input",
    constraints=None,
    n_candidates: int = 1,
    seed: int = 0,
) -> list[EditList]:
    """The agent's edits of one recording: first the deterministic episode, then distinct sampled ones
    (stochastic actions, seeds ``seed + 1, ...``) until ``n_candidates`` are found (with ``constraints``:
    ``n_candidates`` that meet them, :func:`editor_env.constraints.constraint_report`, those first), at most
    ``4 * n_candidates`` episodes (+ 4 with constraints).

    :param constraints: an :class:`~editor_env.constraints.EditConstraints`: its target and slack set the
        episode's length window (the ``target_ratio`` option and ``ratio_slack``, converted from seconds
        to the env's beats with the median beat), its keep/cut regions become the env's locked beats
        (``keep_beats`` / ``cut_beats`` options, :func:`editor_env.constraints.beat_masks`), so the masks
        make the agent obey them.
    :returns: EDLs at the raw's own rate; ``meta["episode"]`` says which episode (0 = deterministic).
        The env's window counts beats and knows no phrase ends, so an edit of longer-than-median beats
        can still miss the window in seconds, or find no phrase end once finished
        (:func:`editor_env.constraints.finish_edit`); such edits are kept last (``meta["met_constraints"]``
        False) and more episodes are sampled.
    """
    import torch as th

    from editor_env.env import MusicEditEnv
    from editor_env.tasks import EditingTask

    model = load_agent(str(checkpoint), device)
    raw_s = raw_length / sample_rate
    options: dict = {}
    env_kwargs: dict = {"target_ratio": target_ratio}
    if constraints is not None:
        from editor_env.constraints import beat_masks

        times = analysis.beats.times
        keep_beats, cut_beats = beat_masks(constraints, times, raw_s)
        # The env counts its length window in beats ((ratio +- slack) x n_beats); the request is in
        # seconds. Convert with the median beat (the mean is skewed by the long last beat and filled
        # gaps), keeping half the slack, less the beat the env's rounding up may add, in reserve for
        # played beats longer than the median (at least a quarter of the slack stays usable).
        beat_s = float(np.median(np.diff(np.append(times, raw_s)))) if times.size else raw_s
        scale = beat_s * times.size
        ratio = min(max(constraints.target_s(raw_s, target_ratio) / scale, 0.05), 2.0)
        window = max(0.5 * constraints.slack - beat_s, 0.25 * constraints.slack)
        options = {"target_ratio": ratio, "keep_beats": keep_beats, "cut_beats": cut_beats}
        env_kwargs = {"target_ratio": ratio, "ratio_slack": window / scale}
    env = MusicEditEnv(tasks=[EditingTask(name, analysis)], **env_kwargs)
    if model.observation_space.shape != env.observation_space.shape:
        raise MusicEditError(
            f"Checkpoint {checkpoint} expects observations of shape {model.observation_space.shape}, the env gives "
            f"{env.observation_space.shape}: it was trained with another observation layout (context_beats, or "
            "before the locked-beat globals); retrain it."
        )
    edits: list[EditList] = []
    seen: set[tuple] = set()
    n_met = 0
    for episode in range(4 * n_candidates + (4 if constraints is not None else 0)):
        if (n_met if constraints is not None else len(edits)) >= n_candidates:
            break
        with th.random.fork_rng(devices=[]):
            th.manual_seed(seed + episode)
            obs, _ = env.reset(seed=seed + episode, options=options)
            done = False
            while not done:
                action, _ = model.predict(obs, action_masks=env.action_masks(), deterministic=episode == 0)
                obs, _, terminated, truncated, _ = env.step(action)
                done = terminated or truncated
        edl = env.edit_list(sample_rate=sample_rate, raw_length=raw_length)
        key = tuple((s.raw_start, s.raw_end, tuple(sorted(s.effects.to_dict().items()))) for s in edl.segments)
        if key in seen:
            continue
        seen.add(key)
        edl.meta.update(paradigm="agent", checkpoint=str(checkpoint), episode=episode)
        if constraints is not None:
            import copy

            from editor_env.constraints import constraint_report, finish_edit

            # judged as it will be once finished (length fit and ending, applied later to every paradigm's edits)
            finished = finish_edit(copy.deepcopy(edl), constraints, analysis, raw_duration_s=raw_s)
            met = constraint_report(finished, constraints, analysis)["ok"]
            n_met += met
            edl.meta["met_constraints"] = met
        edits.append(edl)
    # edits that meet the constraints first (each group in episode order)
    return sorted(edits, key=lambda e: not e.meta.get("met_constraints", True))


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

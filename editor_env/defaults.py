"""The embedded default editor: what ``musicedit edit`` uses when no ``--policy`` or ``--checkpoint`` is given.

``scripts/train_defaults.sh`` trains a small model of every paradigm, benchmarks them on held-out
generated pairs (``musicedit benchmark``) and ``scripts/ship_default.py`` copies the best one into
this package's ``models/`` folder with ``default.json`` beside it:

.. code-block:: json

    {"paradigm": "bc_ppo", "checkpoint": "bc_ppo_policy.zip", "seed": 0,
     "recipe": "scripts/train_defaults.sh defaults_work", "trained_by": "...",
     "benchmark": {"command": "...", "reward": {"retarget": 0.75, "bc_ppo": 0.77, ...}}}

The weights ship inside the package (installed with it, nothing downloaded). Without a
``default.json``, or when no learned model beat the retarget editor, the default is ``retarget``.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

from editor_env.errors import MusicEditError

MODELS_DIR = Path(__file__).resolve().parent / "models"
"""Where the shipped default model and its ``default.json`` live."""
MAX_SHIPPED_BYTES = 20 * 1024 * 1024
"""All shipped weights together stay under 20 MB."""


@dataclasses.dataclass(frozen=True)
class DefaultModel:
    """The default editor: a paradigm, its checkpoint (None for ``retarget``) and the record of how it was made."""

    paradigm: str
    checkpoint: Path | None
    record: dict[str, Any]

    def describe(self) -> str:
        """One line for users: which model edits and how it was chosen."""
        if self.checkpoint is None:
            content = self.record.get("content_model")
            with_content = ""
            if content:
                from editor_env.content import content_available

                if content_available():
                    with_content = (
                        " with the shipped content model (what a musician keeps; the music chooses the length)"
                    )
            return f"the {self.paradigm} editor{with_content} (no shipped learned editor beat it on the benchmark)"
        rewards = self.record.get("benchmark", {}).get("reward", {})
        figures = ""
        if self.paradigm in rewards and "retarget" in rewards:
            figures = f"; benchmark reward {rewards[self.paradigm]:.3f} vs retarget {rewards['retarget']:.3f}"
        return (
            f"the shipped default model: {self.paradigm} {self.checkpoint} (seed {self.record.get('seed', '?')}"
            f"{figures}; how it was made: {self.checkpoint.parent / 'default.json'})"
        )


def default_model(models_dir: str | Path = MODELS_DIR) -> DefaultModel:
    """Read ``models_dir/default.json``; ``retarget`` when there is none.

    :raises MusicEditError: the record is unreadable or names a checkpoint that is not there.
    """
    record_path = Path(models_dir) / "default.json"
    if not record_path.is_file():
        return DefaultModel("retarget", None, {})
    try:
        record = json.loads(record_path.read_text())
        paradigm = str(record["paradigm"])
    except (OSError, ValueError, KeyError) as exc:
        raise MusicEditError(
            f"The default model record {record_path} is unreadable ({exc}): reinstall musicedit or rerun "
            f"scripts/ship_default.py."
        ) from exc
    if not record.get("checkpoint"):
        return DefaultModel(paradigm, None, record)
    checkpoint = Path(models_dir) / record["checkpoint"]
    if not checkpoint.is_file():
        raise MusicEditError(
            f"{record_path} names the default checkpoint {checkpoint}, which is missing: reinstall musicedit, "
            f"or pass --policy and --checkpoint."
        )
    return DefaultModel(paradigm, checkpoint, record)


def shipped_checkpoint(paradigm: str, models_dir: str | Path = MODELS_DIR) -> Path | None:
    """The model of ``paradigm`` (aliases included) that ships in ``models_dir``, or None.

    The default model's checkpoint (``default.json``) when it is of that paradigm; else a checkpoint file in
    ``models_dir`` that says it is one (:func:`editor_env.checkpoints.checkpoint_info`).
    """
    from editor_env.checkpoints import canonical, checkpoint_info

    wanted = canonical(paradigm)
    shipped = default_model(models_dir)
    if shipped.checkpoint is not None and canonical(shipped.paradigm) == wanted:
        return shipped.checkpoint
    for path in sorted(Path(models_dir).glob("*")):
        if path.suffix not in (".pt", ".zip") or path == shipped.checkpoint or not path.is_file():
            continue
        try:
            if canonical(checkpoint_info(path).paradigm) == wanted:
                return path
        except MusicEditError:
            continue  # not a checkpoint we can read: not a shipped model
    return None


def resolve_editor(policy: str | None, checkpoint: str | None, models_dir: str | Path = MODELS_DIR):
    """The editor ``musicedit edit`` runs: ``(policy, checkpoint, description)``.

    No ``policy`` and no ``checkpoint``: the shipped default. A ``checkpoint`` without a ``policy``: the paradigm
    the checkpoint says it is (:func:`editor_env.checkpoints.checkpoint_info`). A learned ``policy`` without a
    ``checkpoint``: the shipped default's weights when they are of that paradigm (its aliases included).
    Anything else is taken as given (a checkpoint of another paradigm is refused later, naming it).

    :raises MusicEditError: a ``checkpoint`` without a ``policy`` that is unreadable, or is the content model.
    """
    from editor_env.paradigms import ALIASES

    if policy is None and checkpoint is not None:
        from editor_env.checkpoints import checkpoint_info, how_to_use

        if not Path(checkpoint).is_file():
            raise MusicEditError(f"--checkpoint {checkpoint} does not exist: give a trained model's file.")
        info = checkpoint_info(checkpoint)
        if info.paradigm == "content":
            raise MusicEditError(f"--checkpoint {checkpoint}: {how_to_use(info)}.")
        return info.paradigm, str(checkpoint), f"the {info.paradigm} editor ({checkpoint}: {info.describe()})"
    if policy is None or (checkpoint is None and policy != "retarget"):
        shipped = default_model(models_dir)
        canonical = ALIASES.get(policy, policy)
        if policy is None or (
            shipped.checkpoint is not None and ALIASES.get(shipped.paradigm, shipped.paradigm) == canonical
        ):
            checkpoint = None if shipped.checkpoint is None else str(shipped.checkpoint)
            return shipped.paradigm if policy is None else policy, checkpoint, shipped.describe()
    if checkpoint is not None and policy not in ("retarget", "keep_all"):
        from editor_env.checkpoints import check_paradigm

        check_paradigm(checkpoint, policy)  # another paradigm's checkpoint is named before any work
    text = f"the {policy} editor" + (f" ({checkpoint})" if checkpoint else "")
    return policy, checkpoint, text

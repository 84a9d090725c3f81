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
            return f"the {self.paradigm} editor (no shipped model beat it on the benchmark)"
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


def resolve_editor(policy: str | None, checkpoint: str | None, models_dir: str | Path = MODELS_DIR):
    """The editor ``musicedit edit`` runs: ``(policy, checkpoint, description)``.

    No ``policy`` and no ``checkpoint``: the shipped default. A learned ``policy`` without a
    ``checkpoint``: the shipped default's weights when they are of that paradigm (its aliases
    included). Anything else is taken as given.

    :raises MusicEditError: a ``checkpoint`` without a ``policy`` (which paradigm would read it?).
    """
    from editor_env.paradigms import ALIASES

    if policy is None and checkpoint is not None:
        raise MusicEditError(
            f"--checkpoint {checkpoint} needs --policy (bc, bc_ppo, pointer or supervised) to say which model it is."
        )
    if policy is None or (checkpoint is None and policy != "retarget"):
        shipped = default_model(models_dir)
        canonical = ALIASES.get(policy, policy)
        if policy is None or (
            shipped.checkpoint is not None and ALIASES.get(shipped.paradigm, shipped.paradigm) == canonical
        ):
            checkpoint = None if shipped.checkpoint is None else str(shipped.checkpoint)
            return shipped.paradigm if policy is None else policy, checkpoint, shipped.describe()
    text = f"the {policy} editor" + (f" ({checkpoint})" if checkpoint else "")
    return policy, checkpoint, text

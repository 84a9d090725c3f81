"""Per-frame edit operations: how each frame of an edit relates to the raw recording.

Stored as ``int8`` in ``pointer_sequences/{sample}_ops.npy``, one value per edit frame.
"""

from __future__ import annotations

import enum


class EditOp(enum.IntEnum):
    """What produced one edit frame, read against the frame before it.

    Precedence when several apply: NEW > LOOP/SKIP (a seam) > FADE > GAIN > COPY.
    """

    COPY = 0
    """Raw frame copied, continuing from the previous edit frame (pointer + 1)."""
    SKIP = 1
    """First frame after a forward jump: raw material was cut just before it."""
    LOOP = 2
    """First frame after a backward jump: raw material is repeated or reordered."""
    FADE = 3
    """Copied frame inside a fade in or fade out."""
    GAIN = 4
    """Copied frame with a gain change (not a fade)."""
    NEW = 5
    """Material that does not come from the raw recording (its pointer is meaningless)."""

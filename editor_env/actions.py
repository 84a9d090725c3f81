"""The factored action space of MusicEdit-v0: 20 edit types x 5 sizes x 5 amounts.

An action applies at the cursor (a raw beat index) to a span of ``size`` beats, appends
material to the output (or not) and moves the cursor. :data:`ACTION_TABLE` says, for every
type, what it does; :func:`action_masks` gives the 30 booleans that MaskablePPO expects for
``MultiDiscrete([20, 5, 5])`` (``[20 types | 5 sizes | 5 amounts]``).

Masks are per head, not per combination (a MultiDiscrete mask cannot forbid one
(type, size) pair): a type is allowed when at least one size works for it, a size when at
least one allowed type works with it. A combination that is still invalid is repaired in
:func:`resolve` (the size shrinks to the largest that fits, or the type becomes KEEP) and the
env charges a documented penalty.
"""

from __future__ import annotations

import dataclasses
import enum

import numpy as np


class ActionType(enum.IntEnum):
    KEEP = 0
    CUT = 1
    LOOP = 2
    REORDER = 3
    JUMP_BACK = 4
    SKIP = 5
    FADE_IN = 6
    FADE_OUT = 7
    GAIN = 8
    SPEED_UP = 9
    SPEED_DOWN = 10
    REVERSE = 11
    PITCH_UP = 12
    PITCH_DOWN = 13
    EQ_LOW = 14
    EQ_HIGH = 15
    DISTORTION = 16
    REVERB = 17
    REPEAT_PREV = 18
    SWAP_NEXT = 19


class ActionSize(enum.IntEnum):
    BEAT = 0
    BAR = 1
    PHRASE = 2
    TWO_BARS = 3
    TWO_PHRASES = 4


class ActionAmount(enum.IntEnum):
    NEG_LARGE = 0
    NEG_SMALL = 1
    NEUTRAL = 2
    POS_SMALL = 3
    POS_LARGE = 4


N_TYPES, N_SIZES, N_AMOUNTS = len(ActionType), len(ActionSize), len(ActionAmount)
ACTION_DIMS = (N_TYPES, N_SIZES, N_AMOUNTS)
MASK_LENGTH = sum(ACTION_DIMS)

#: Beats spanned by each size (4/4: a bar is 4 beats, a phrase 4 bars).
SIZE_BEATS = np.array([1, 4, 16, 8, 32], dtype=np.int64)


@dataclasses.dataclass(frozen=True)
class ActionSpec:
    """What one action type does.

    :param output: what is appended to the output: ``"span"`` (the span at the cursor),
        ``"none"``, ``"span_x_amount"`` (the span, played several times), ``"later"`` (the
        span is appended at the end of the edit), ``"previous"`` (the last ``size`` beats of
        the output again), ``"swapped"`` (the next span, then this one).
    :param cursor: how the cursor moves: ``"+size"``, ``"-size"``, ``"+2size"``,
        ``"next_boundary"`` (to the next multiple of ``size``), ``"stay"``.
    :param effect: the :class:`editor_env.edl.Effects` field set on the output, if any.
    :param amounts: the effect value (or play count) for each amount NEG_LARGE..POS_LARGE;
        None when the amount is ignored.
    :param meaning: one line for people.
    """

    output: str
    cursor: str
    effect: str | None
    amounts: tuple[float, ...] | None
    meaning: str


_DB = (-6.0, -3.0, 0.0, 3.0, 6.0)
ACTION_TABLE: dict[ActionType, ActionSpec] = {
    ActionType.KEEP: ActionSpec("span", "+size", None, None, "keep the span unchanged"),
    ActionType.CUT: ActionSpec("none", "+size", None, None, "drop the span"),
    ActionType.LOOP: ActionSpec("span_x_amount", "+size", None, (2, 3, 4, 5, 6), "play the span 2-6 times"),
    ActionType.REORDER: ActionSpec(
        "later", "+size", None, None, "move the span to the end of the edit (a reprise/outro)"
    ),
    ActionType.JUMP_BACK: ActionSpec("none", "-size", None, None, "move the cursor back by the span (replay material)"),
    ActionType.SKIP: ActionSpec(
        "none", "next_boundary", None, None, "drop up to the next bar/phrase boundary of the size"
    ),
    ActionType.FADE_IN: ActionSpec(
        "span", "+size", "fade_in_s", None, "keep the span, fading in over its whole length"
    ),
    ActionType.FADE_OUT: ActionSpec(
        "span", "+size", "fade_out_s", None, "keep the span, fading out over its whole length"
    ),
    ActionType.GAIN: ActionSpec("span", "+size", "gain_db", _DB, "keep the span with -6/-3/0/+3/+6 dB gain"),
    ActionType.SPEED_UP: ActionSpec(
        "span", "+size", "stretch", (1.02, 1.05, 1.1, 1.2, 1.33), "keep the span, faster by the factor"
    ),
    ActionType.SPEED_DOWN: ActionSpec(
        "span",
        "+size",
        "stretch",
        (1 / 1.02, 1 / 1.05, 1 / 1.1, 1 / 1.2, 1 / 1.33),
        "keep the span, slower by the factor",
    ),
    ActionType.REVERSE: ActionSpec("span", "+size", "reverse", None, "keep the span played backwards"),
    ActionType.PITCH_UP: ActionSpec(
        "span", "+size", "pitch_semitones", (1, 2, 3, 5, 7), "keep the span, up 1/2/3/5/7 semitones"
    ),
    ActionType.PITCH_DOWN: ActionSpec(
        "span", "+size", "pitch_semitones", (-1, -2, -3, -5, -7), "keep the span, down 1/2/3/5/7 semitones"
    ),
    ActionType.EQ_LOW: ActionSpec("span", "+size", "eq_low_db", _DB, "keep the span with a -6..+6 dB low shelf"),
    ActionType.EQ_HIGH: ActionSpec("span", "+size", "eq_high_db", _DB, "keep the span with a -6..+6 dB high shelf"),
    ActionType.DISTORTION: ActionSpec(
        "span", "+size", "distortion_db", (6, 12, 18, 24, 30), "keep the span with 6-30 dB of drive"
    ),
    ActionType.REVERB: ActionSpec(
        "span", "+size", "reverb_mix", (0.1, 0.2, 0.3, 0.4, 0.5), "keep the span with 10-50% reverb"
    ),
    ActionType.REPEAT_PREV: ActionSpec("previous", "stay", None, None, "play the last span of output again"),
    ActionType.SWAP_NEXT: ActionSpec("swapped", "+2size", None, None, "play the next span, then this one"),
}
assert set(ACTION_TABLE) == set(ActionType)

#: Types that keep the span at the cursor (possibly with an effect).
KEEPING_TYPES = frozenset(t for t, s in ACTION_TABLE.items() if s.output in ("span", "span_x_amount", "swapped"))


@dataclasses.dataclass(frozen=True)
class EditorState:
    """What validity depends on: cursor and recording length in beats, output so far."""

    cursor: int
    n_beats: int
    output_beats: int
    """Beats in the output so far."""
    last_span_beats: int
    """Length in beats of the last span appended to the output (0 if none)."""
    output_budget: int
    """Most beats the output may hold (loops must not grow it without bound)."""
    jump_backs_left: int
    """JUMP_BACKs still allowed in this episode (prevents endless replay)."""
    min_output_beats: int = 0
    """Fewest beats the output must end with (the lower end of the target length window): a drop
    (CUT, SKIP) may not leave too little raw ahead to reach it, if all of it were kept once."""
    strict_floor: bool = True
    """Whether the floor binds while JUMP_BACKs are left. False for labelling reference edits, which
    may reach their length by replaying material (JUMP_BACK, LOOP) after a drop; True for agents,
    which would otherwise drop too much early and end short."""
    locks: Locks | None = None
    """Beats the user locked (kept or cut), or None: see :class:`Locks`."""


@dataclasses.dataclass(frozen=True)
class Locks:
    """Locked beats of an episode (``musicedit edit --keep/--cut``), as validity needs them.

    A keep-locked beat must reach the output: no drop (CUT, SKIP) may pass over it while it is
    *open* (not yet in the output), and the output budget stays reserved for every open one, so
    a keeping action may use only ``budget - output - open`` beats (its own open beats excepted).
    A cut-locked beat never reaches the output: no keeping action's span (LOOP, SWAP_NEXT, ...)
    may cover it; a CUT made only of cut-locked beats is always allowed, even where the length
    floor would forbid a drop. So at every beat one action stays valid: KEEP of a keep-locked
    beat, CUT of a cut-locked one (the env refuses more keep-locked beats than the budget).

    :param open_keep_csum: ``(n_beats + 1,)`` int, cumulative count of open keep-locked beats.
    :param cut_csum: ``(n_beats + 1,)`` int, cumulative count of cut-locked beats.
    :param skip_end: ``(5,)`` int, where SKIP of each size would move the cursor.
    """

    open_keep_csum: np.ndarray
    cut_csum: np.ndarray
    skip_end: np.ndarray

    @property
    def open_keep(self) -> int:
        """Keep-locked beats not yet in the output (the budget they reserve)."""
        return int(self.open_keep_csum[-1])


def _category(spec: ActionSpec) -> int:
    """Row of :func:`validity_table`'s rule table that governs a type."""
    if spec.cursor == "-size":
        return 0
    return {"previous": 1, "swapped": 2, "span_x_amount": 3, "span": 4, "later": 4, "none": 5}[spec.output]


_CATEGORY = np.array([_category(ACTION_TABLE[t]) for t in ActionType])


def validity_table(state: EditorState) -> np.ndarray:
    """``(20, 5)`` bool: which (type, size) pairs are valid in ``state``.

    Rules (``n`` = span beats, ``remaining`` = beats from the cursor to the end, ``room`` =
    output budget left): JUMP_BACK needs ``n <= cursor`` and a jump-back left; REPEAT_PREV
    needs ``n <=`` the last output span and room; SWAP_NEXT needs ``2n`` remaining and room;
    LOOP needs ``n`` remaining and room for two plays; other keeping types need ``n``
    remaining and room; CUT and SKIP need ``n`` remaining and (see ``strict_floor``) enough
    raw after the drop to reach ``min_output_beats`` if all of it were kept. Nothing is valid at
    the end. Locked beats (``state.locks``) restrict this further, as :class:`Locks` says.
    """
    remaining = state.n_beats - state.cursor
    if remaining <= 0:
        return np.zeros((N_TYPES, N_SIZES), bool)
    room = state.output_budget - state.output_beats
    # every rule reads "span beats <= limit"; one limit per rule row
    limits = np.array(
        [
            state.cursor if state.jump_backs_left > 0 else -1,
            min(state.last_span_beats, room),
            min(remaining, room) / 2,
            min(remaining, room / 2),
            min(remaining, room),
            remaining
            - (
                max(state.min_output_beats - state.output_beats, 0)
                if state.strict_floor or state.jump_backs_left <= 0
                else 0
            ),
        ]
    )
    table = SIZE_BEATS[None, :] <= limits[_CATEGORY][:, None]
    return table if state.locks is None else _apply_locks(table, state)


def _apply_locks(table: np.ndarray, state: EditorState) -> np.ndarray:
    """``table`` restricted (and, for CUT over cut-locked beats, extended) by ``state.locks``."""
    locks = state.locks
    c, n_beats = state.cursor, state.n_beats
    room = state.output_budget - state.output_beats - locks.open_keep

    def counts(span: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        end = np.minimum(c + span, n_beats)
        return locks.open_keep_csum[end] - locks.open_keep_csum[c], locks.cut_csum[end] - locks.cut_csum[c]

    keep_1, cut_1 = counts(SIZE_BEATS)
    keep_2, cut_2 = counts(2 * SIZE_BEATS)
    allowed = np.ones_like(table)
    allowed[_CATEGORY == 1] = SIZE_BEATS <= room  # REPEAT_PREV replays output: nothing locked is opened
    allowed[_CATEGORY == 2] = (cut_2 == 0) & (2 * SIZE_BEATS - keep_2 <= room)
    allowed[_CATEGORY == 3] = (cut_1 == 0) & (2 * SIZE_BEATS - keep_1 <= room)
    allowed[_CATEGORY == 4] = (cut_1 == 0) & (SIZE_BEATS - keep_1 <= room)
    allowed[ActionType.CUT] = keep_1 == 0
    skip_end = np.maximum(locks.skip_end, c)
    allowed[ActionType.SKIP] = locks.open_keep_csum[skip_end] - locks.open_keep_csum[c] == 0
    table = table & allowed
    only_cut_locked = (cut_1 == SIZE_BEATS) & (c + SIZE_BEATS <= n_beats)
    table[ActionType.CUT] |= only_cut_locked
    return table


def valid_sizes(action_type: ActionType, state: EditorState) -> np.ndarray:
    """``(5,)`` bool: the sizes that make ``action_type`` valid in ``state``."""
    return validity_table(state)[int(action_type)]


def action_masks(state: EditorState) -> np.ndarray:
    """The 30 booleans ``[20 types | 5 sizes | 5 amounts]`` for MaskablePPO.

    Every head keeps at least one True (a head with none would make the distribution NaN):
    when nothing is valid (the episode is over) CUT/BEAT is left open.
    """
    table = validity_table(state)
    types = table.any(axis=1)
    sizes = table[types].any(axis=0) if types.any() else np.zeros(N_SIZES, bool)
    if not types.any():
        types[ActionType.CUT] = True
        sizes[ActionSize.BEAT] = True
    return np.concatenate([types, sizes, np.ones(N_AMOUNTS, bool)])


def resolve(action: np.ndarray, state: EditorState) -> tuple[ActionType, int, int, bool]:
    """Make any action executable: ``(type, span_beats, amount, was_valid)``.

    An invalid size shrinks to the largest valid one for the type; a type with no valid size
    becomes KEEP (or CUT when the output budget is full) of one beat. Out-of-range values are
    clipped into the space first.
    """
    t = ActionType(min(max(int(action[0]), 0), N_TYPES - 1))
    s = min(max(int(action[1]), 0), N_SIZES - 1)
    a = min(max(int(action[2]), 0), N_AMOUNTS - 1)
    sizes = valid_sizes(t, state)
    if sizes[s]:
        return t, int(SIZE_BEATS[s]), a, True
    if sizes.any():
        best = max(np.flatnonzero(sizes), key=lambda i: SIZE_BEATS[i])
        return t, int(SIZE_BEATS[best]), a, False
    fallback = ActionType.KEEP if valid_sizes(ActionType.KEEP, state)[0] else ActionType.CUT
    return fallback, 1, ActionAmount.NEUTRAL, False


def describe(action_type: int, size: int, amount: int) -> str:
    """Human-readable text of an action, e.g. ``"GAIN BAR +3 dB"``."""
    spec = ACTION_TABLE[ActionType(action_type)]
    text = f"{ActionType(action_type).name} {ActionSize(size).name}"
    if spec.amounts is not None:
        text += f" {spec.effect or 'plays'}={spec.amounts[amount]:g}"
    return text

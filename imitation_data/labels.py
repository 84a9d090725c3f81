"""BC labels: the beat-level action sequence that reproduces an edit in MusicEdit-v0.

An edit known as a pointer sequence (raw frame per edit frame, from the synthetic generator or
from :mod:`imitation_data.align`) becomes the list of ``(type, size, amount)`` actions that an
agent stepping :class:`editor_env.env.MusicEditEnv` would take to make the same edit: the
"rich" behavioural-cloning labels.

How (:func:`infer_labels`):

1. **Play order.** The pointers are split into runs of continuous raw frames (a jump, a reversal
   or an op ``NEW`` breaks a run). Each run's raw extent is snapped to the nearest boundaries of
   the raw's *tracked* beats, so the edit becomes a list of :class:`PlayRun` ``[start, end)`` in
   raw beats, in output order; runs shorter than half a beat vanish. Each beat of a run carries
   the effect label (type, amount) that most of its frames have, read from the EDL when one is
   given (exact effects) or from the op labels (``FADE`` at a run's start is a fade-in, at its
   end a fade-out; ``GAIN`` uses ``gain_db`` when given, else -3 dB). A fade is snapped to one
   action of the nearest size. Runs that continue each other are merged; a run followed by a
   replay of its own end is split so that the replay is an immediate repeat.
2. **Covering.** The play order is walked once, stepping a real env so every action is checked
   against the env's own validity rules (:func:`editor_env.actions.validity_table`, stricter than
   the per-head masks) at the state it is taken in:

   - identical consecutive runs (an immediate repeat) are one ``LOOP`` (2-6 plays) when their
     length is an action size; a repeat ``LOOP`` cannot make (an effect on the span, more than
     6 plays, too little output budget for two plays) is ``REPEAT_PREV`` of the last span;
   - two adjacent raw spans of one size played in swapped order are ``SWAP_NEXT``;
   - a last run of the play order (at most ``max_reorder_beats``, without effects) that the
     cursor passes over earlier is picked up there with ``REORDER`` (appended at the end of the
     edit); a longer suffix of several runs only when replaying it with jumps is impossible;
   - any other backward move is the fewest ``JUMP_BACK``\\ s (of 1/4/8/16/32 beats, within the
     env's allowance) that reach the run's start, overshooting and cutting forward if needed;
   - forward gaps are dropped with ``CUT``\\ s, the largest size that stays inside the gap first
     (``SKIP`` only where no ``CUT`` is valid). ``SKIP`` drops nothing a ``CUT`` cannot, and which
     of two equivalent drops a labeller picks is arbitrary: BC cannot learn an arbitrary choice
     (it was 11 of 36 held-out type errors in ``scripts/eval_rl.py``), so the demonstrations
     use one canonical labelling. The agent may still learn ``SKIP`` by PPO;
   - a run is kept with the largest valid actions first (``KEEP``, or the run's effect type —
     ``GAIN``, ``FADE_IN`` ... — with its amount), and the episode ends by cutting to the end.

   What cannot be reproduced (a replay with no jump allowance left, output budget exhausted) is
   counted in :attr:`LabelSequence.unreachable_beats`, never guessed.

:func:`replay` steps a fresh env with the labels and returns its EDL; :func:`beat_agreement`
compares two pointer sequences at beat level (the issue-4 check: at least 95% on synthetic pairs).
"""

from __future__ import annotations

import dataclasses
import itertools
from typing import Any

import numpy as np

from editor_env.actions import (
    ACTION_TABLE,
    MASK_LENGTH,
    SIZE_BEATS,
    ActionAmount,
    ActionType,
    validity_table,
)
from editor_env.edl import EditList, Effects
from editor_env.errors import MusicEditError
from editor_env.ops import EditOp
from editor_env.params import DEFAULT_PARAMS, AudioParams

#: A pointer step of at most this many frames (either way) continues a run: time-stretched
#: segments step by 0-2 frames, and alignment jitter by a frame.
RUN_JITTER_FRAMES = 3
MAX_LOOP_PLAYS = 6
DEFAULT_GAIN_DB = -3.0
"""Gain assumed for ``GAIN`` op frames when no ``gain_db`` is given (the op has no value)."""

_KEEP = (int(ActionType.KEEP), int(ActionAmount.NEUTRAL))
_FADE = -1  # per-frame marker from ops: a fade whose direction the run position decides
_SIZES_BY_BEATS = sorted(range(len(SIZE_BEATS)), key=lambda s: -int(SIZE_BEATS[s]))  # largest first
_SIZE_OF = {int(b): s for s, b in enumerate(SIZE_BEATS)}


# -- data ------------------------------------------------------------------------------------------
@dataclasses.dataclass
class PlayRun:
    """Raw beats ``[start, end)`` played in one go (backwards when ``reverse``).

    :param labels: ``(end - start, 2)`` int64 effect label (action type, amount) per beat in
        raw order; ``(KEEP, NEUTRAL)`` for a beat without effect.
    """

    start: int
    end: int
    reverse: bool = False
    labels: np.ndarray | None = None

    def __post_init__(self) -> None:
        if self.labels is None:
            self.labels = np.tile(np.array(_KEEP, np.int64), (self.length, 1))

    @property
    def length(self) -> int:
        return self.end - self.start

    @property
    def neutral(self) -> bool:
        return bool(np.all(self.labels[:, 0] == ActionType.KEEP))

    def same(self, other: PlayRun) -> bool:
        return (self.start, self.end, self.reverse) == (other.start, other.end, other.reverse) and np.array_equal(
            self.labels, other.labels
        )

    def part(self, start: int, end: int) -> PlayRun:
        return PlayRun(start, end, self.reverse, self.labels[start - self.start : end - self.start].copy())


@dataclasses.dataclass
class LabelSequence:
    """The BC labels of one edit.

    :param sample: the recording's name.
    :param actions: ``(n_steps, 3)`` int64 ``(type, size, amount)`` per env step.
    :param masks: ``(n_steps, 30)`` bool: the env's action masks before each step (every
        action lies inside its mask: see the module docstring).
    :param observations: ``(n_steps + 1, obs_dim)`` float32 env observations before each step
        and after the last one, when collected; else None.
    :param play_order: ``(n_out_beats,)`` int64 raw beat of every output beat that the labels
        aim at (the pointers snapped to the tracked beats).
    :param unreachable_beats: beats of ``play_order`` the env could not reproduce.
    :param n_beats: beats of the raw recording.
    :param env_kwargs: the :class:`MusicEditEnv` settings the labels were made for (the output
        budget and jump allowance decide which actions are valid).
    """

    sample: str
    actions: np.ndarray
    masks: np.ndarray
    observations: np.ndarray | None
    play_order: np.ndarray
    unreachable_beats: int
    n_beats: int
    env_kwargs: dict[str, Any] = dataclasses.field(default_factory=dict)

    def __post_init__(self) -> None:
        self.actions = np.asarray(self.actions, np.int64).reshape(-1, 3)
        self.masks = np.asarray(self.masks, bool).reshape(-1, MASK_LENGTH)
        if self.masks.shape[0] != self.actions.shape[0]:
            raise MusicEditError(f"LabelSequence: {len(self.actions)} actions but {len(self.masks)} masks.")
        if self.observations is not None and self.observations.shape[0] != self.actions.shape[0] + 1:
            raise MusicEditError("LabelSequence: observations must hold one more row than actions.")

    @property
    def n_steps(self) -> int:
        return int(self.actions.shape[0])

    def type_counts(self) -> np.ndarray:
        """``(20,)`` int64: steps of each action type."""
        return np.bincount(self.actions[:, 0], minlength=len(ActionType))

    def describe(self) -> list[str]:
        """One line per step, e.g. ``"KEEP PHRASE"``, ``"GAIN BAR gain_db=-3"``."""
        from editor_env.actions import describe

        return [describe(*map(int, a)) for a in self.actions]


# -- effects ---------------------------------------------------------------------------------------
def _nearest_amount(action_type: ActionType, value: float) -> int:
    """Amount index whose value is nearest ``value`` (ties to the smaller magnitude)."""
    amounts = ACTION_TABLE[action_type].amounts
    return int(min(range(len(amounts)), key=lambda i: (round(abs(amounts[i] - value), 9), abs(amounts[i]))))


def effect_label(effects: Effects) -> tuple[int, int]:
    """The (type, amount) of the action that applies ``effects`` to a span (fades excluded).

    One action applies one effect; when a segment has several, the first of reverse, stretch,
    pitch, gain, low EQ, high EQ, distortion, reverb is labelled.
    """
    if effects.reverse:
        return int(ActionType.REVERSE), int(ActionAmount.NEUTRAL)
    if effects.stretch != 1.0:
        t = ActionType.SPEED_UP if effects.stretch > 1.0 else ActionType.SPEED_DOWN
        return int(t), _nearest_amount(t, effects.stretch)
    for field, pos, neg in (
        ("pitch_semitones", ActionType.PITCH_UP, ActionType.PITCH_DOWN),
        ("gain_db", ActionType.GAIN, ActionType.GAIN),
        ("eq_low_db", ActionType.EQ_LOW, ActionType.EQ_LOW),
        ("eq_high_db", ActionType.EQ_HIGH, ActionType.EQ_HIGH),
        ("distortion_db", ActionType.DISTORTION, ActionType.DISTORTION),
        ("reverb_mix", ActionType.REVERB, ActionType.REVERB),
    ):
        value = getattr(effects, field)
        if value != 0:
            t = pos if value > 0 else neg
            amount = _nearest_amount(t, value)
            if t in (ActionType.GAIN, ActionType.EQ_LOW, ActionType.EQ_HIGH) and amount == ActionAmount.NEUTRAL:
                continue  # less than 1.5 dB: no action type says it
            return int(t), amount
    return _KEEP


def frame_effects_from_edl(edl: EditList, n_frames: int, params: AudioParams = DEFAULT_PARAMS) -> np.ndarray:
    """``(n_frames, 2)`` effect label (type, amount) of every output frame of ``edl``."""
    from editor_env.edl import analysis_frame_count

    expected = analysis_frame_count(edl.output_length(), edl.sample_rate, params)
    if abs(expected - n_frames) > 2:
        raise MusicEditError(
            f"The EDL gives {expected} output frames but the pointer sequence has {n_frames}: "
            "they describe different edits; pass the EDL that made the pointers, or only the pointers."
        )
    out_t = np.arange(n_frames) * params.frame_seconds
    starts_s = edl.output_starts() / edl.sample_rate
    seg_idx = np.clip(np.searchsorted(starts_s, out_t, side="right") - 1, 0, None)
    labels = np.tile(np.array(_KEEP, np.int64), (n_frames, 1))
    for k, seg in enumerate(edl.segments):
        sel = seg_idx == k
        if not sel.any():
            continue
        labels[sel] = effect_label(seg.effects)
        local = out_t - starts_s[k]
        duration = seg.output_length() / edl.sample_rate
        labels[sel & (local < seg.effects.fade_in_s)] = (ActionType.FADE_IN, ActionAmount.NEUTRAL)
        labels[sel & (duration - local <= seg.effects.fade_out_s)] = (ActionType.FADE_OUT, ActionAmount.NEUTRAL)
    return labels


def frame_effects_from_ops(ops: np.ndarray, gain_db: np.ndarray | float | None = None) -> np.ndarray:
    """``(n_frames, 2)`` effect labels from per-frame :class:`EditOp` labels.

    ``FADE`` frames get a direction later (from where they lie in their run); ``GAIN`` frames get
    ``gain_db`` (per frame or one value; :data:`DEFAULT_GAIN_DB` when None).
    """
    ops = np.asarray(ops)
    labels = np.tile(np.array(_KEEP, np.int64), (ops.size, 1))
    labels[ops == EditOp.FADE, 0] = _FADE
    gain = np.broadcast_to(np.asarray(DEFAULT_GAIN_DB if gain_db is None else gain_db, float), ops.shape)
    for i in np.flatnonzero(ops == EditOp.GAIN):
        labels[i] = effect_label(Effects(gain_db=float(gain[i])))
    return labels


# -- step 1: the play order ------------------------------------------------------------------------
def _frame_runs(pointers: np.ndarray, usable: np.ndarray) -> list[tuple[int, int, int]]:
    """Runs of continuous pointers as ``(first_frame, end_frame, direction)`` over output frames."""
    runs = []
    start, direction = None, 0
    for i in range(pointers.size):
        if not usable[i]:
            if start is not None:
                runs.append((start, i, direction))
            start = None
            continue
        if start is None:
            start, direction = i, 0
            continue
        step = int(pointers[i] - pointers[i - 1])
        same_way = (step >= 0 and direction >= 0) or (step <= 0 and direction <= 0)
        if abs(step) > RUN_JITTER_FRAMES or not same_way:
            runs.append((start, i, direction))
            start, direction = i, 0
        elif direction == 0 and step != 0:
            direction = 1 if step > 0 else -1
    if start is not None:
        runs.append((start, pointers.size, direction))
    return runs


def _snap_fades(run: PlayRun) -> None:
    """One fade-in action at the run's start and one fade-out at its end, of the nearest size."""
    labels = run.labels
    for fade, at_start in ((ActionType.FADE_IN, True), (ActionType.FADE_OUT, False)):
        is_fade = labels[:, 0] == fade
        order = is_fade if at_start else is_fade[::-1]
        k = int(np.argmin(order)) if not order.all() else order.size  # leading fade beats
        labels[is_fade] = _KEEP
        if k == 0:
            continue
        fits = [int(b) for b in SIZE_BEATS if b <= run.length]
        s = min(fits, key=lambda b: (abs(b - k), b))
        if at_start:
            labels[:s] = (fade, ActionAmount.NEUTRAL)
        else:
            labels[run.length - s :] = (fade, ActionAmount.NEUTRAL)


def play_runs(
    pointers: np.ndarray,
    beat_frames: np.ndarray,
    n_raw_frames: int,
    frame_labels: np.ndarray | None = None,
    usable: np.ndarray | None = None,
) -> list[PlayRun]:
    """The edit as raw-beat runs in output order (step 1 of the module docstring).

    :param pointers: ``(edit_frames,)`` raw frame per edit frame.
    :param beat_frames: ``(n_beats,)`` raw analysis frame of each tracked beat onset.
    :param n_raw_frames: frames of the raw analysis (the end of the last beat).
    :param frame_labels: ``(edit_frames, 2)`` effect label per edit frame, or None.
    :param usable: ``(edit_frames,)`` bool, False for frames that do not come from the raw.
    """
    pointers = np.asarray(pointers, np.int64)
    n = pointers.size
    bounds = np.append(np.maximum.accumulate(np.asarray(beat_frames, np.int64)), n_raw_frames)
    n_beats = bounds.size - 1
    if frame_labels is None:
        frame_labels = np.tile(np.array(_KEEP, np.int64), (n, 1))
    usable = np.ones(n, bool) if usable is None else np.asarray(usable, bool)

    def nearest_bound(frame: float) -> int:
        i = int(np.clip(np.searchsorted(bounds, frame), 1, bounds.size - 1))
        return i - 1 if frame - bounds[i - 1] <= bounds[i] - frame else i

    runs: list[PlayRun] = []
    for f0, f1, direction in _frame_runs(pointers, usable):
        raw = pointers[f0:f1]
        lo, hi = int(raw.min()), int(raw.max()) + 1
        start, end = nearest_bound(lo), min(nearest_bound(hi), n_beats)
        if end <= start:
            continue  # shorter than half a beat
        beat_of_frame = np.clip(np.searchsorted(bounds, raw, side="right") - 1, start, end - 1) - start
        labels = np.tile(np.array(_KEEP, np.int64), (end - start, 1))
        seen = np.zeros(end - start, bool)
        frame_fx = frame_labels[f0:f1]
        for b in np.unique(beat_of_frame):
            rows = frame_fx[beat_of_frame == b]
            values, counts = np.unique(rows, axis=0, return_counts=True)
            labels[b], seen[b] = values[np.argmax(counts)], True
        if not seen.all():  # beats reached only by rounding: copy the nearest labelled beat
            idx = np.flatnonzero(seen)
            for b in np.flatnonzero(~seen):
                labels[b] = labels[idx[np.argmin(np.abs(idx - b))]]
        reverse = direction < 0
        fade = labels[:, 0] == _FADE
        if fade.any():  # from ops: a fade in the first half of the run fades in, else out
            pos = np.arange(end - start)
            first_half = pos < (end - start) / 2 if not reverse else pos >= (end - start) / 2
            labels[fade & first_half] = (ActionType.FADE_IN, ActionAmount.NEUTRAL)
            labels[fade & ~first_half] = (ActionType.FADE_OUT, ActionAmount.NEUTRAL)
        run = PlayRun(start, end, reverse, labels)
        if reverse:  # REVERSE is the run's effect; fades cannot ride on it
            run.labels[:] = (ActionType.REVERSE, ActionAmount.NEUTRAL)
        runs.append(run)
    return _normalise(runs)


def _normalise(runs: list[PlayRun]) -> list[PlayRun]:
    merged: list[PlayRun] = []
    for run in runs:
        prev = merged[-1] if merged else None
        if prev is not None and not prev.reverse and not run.reverse and run.start == prev.end:
            merged[-1] = PlayRun(prev.start, run.end, False, np.concatenate([prev.labels, run.labels]))
        else:
            merged.append(run)
    for run in merged:
        if not run.reverse:
            _snap_fades(run)
    # a run followed by a replay of its own end (that may play on): split both so that the
    # replay is an immediate repeat of a run of its own
    out: list[PlayRun] = []
    for run in merged:
        prev = out[-1] if out else None
        if (
            prev is not None
            and not prev.reverse
            and not run.reverse
            and prev.start <= run.start < prev.end <= run.end
            and (prev.start, prev.end) != (run.start, run.end)
        ):
            out.pop()
            out += [p for p in (prev.part(prev.start, run.start), prev.part(run.start, prev.end)) if p.length]
            out += [p for p in (run.part(run.start, prev.end), run.part(prev.end, run.end)) if p.length]
        else:
            out.append(run)
    return out


def play_order(runs: list[PlayRun]) -> np.ndarray:
    """``(n_out_beats,)`` raw beat of every output beat of ``runs``."""
    parts = [np.arange(r.start, r.end)[:: -1 if r.reverse else 1] for r in runs]
    return np.concatenate(parts).astype(np.int64) if parts else np.zeros(0, np.int64)


# -- step 2: covering the play order with env actions ---------------------------------------------
class _Planner:
    """Walks the play order, stepping a real env with valid actions only."""

    def __init__(self, env, task, runs: list[PlayRun], tail: list[int], collect_obs: bool):
        self.env = env
        self.runs = runs
        self.tail_pending = [runs[i] for i in tail]
        self.tail = set(tail)
        obs, _ = env.reset(options={"task": task})
        self.collect_obs = collect_obs
        self.obs = [obs] if collect_obs else []
        self.actions: list[tuple[int, int, int]] = []
        self.masks: list[np.ndarray] = []
        self.unreachable = 0
        self.done = False
        self.last_emit: tuple[int, int, tuple[int, int]] | None = None  # (start, end, label) of the last span

    # state ----------------------------------------------------------------------------------------
    @property
    def cursor(self) -> int:
        return self.env.cursor

    def valid(self, action_type: int, size: int) -> bool:
        return not self.done and bool(validity_table(self.env.editor_state())[action_type, size])

    def step(self, action_type: int, size: int, amount: int = int(ActionAmount.NEUTRAL)) -> None:
        assert self.valid(action_type, size), (ActionType(action_type).name, size, self.env.editor_state())
        mask = self.env.action_masks()
        c, n = self.cursor, int(SIZE_BEATS[size])
        obs, _, terminated, truncated, info = self.env.step(np.array([action_type, size, amount]))
        assert not info["invalid_action"]
        self.actions.append((action_type, size, amount))
        self.masks.append(mask)
        if self.collect_obs:
            self.obs.append(obs)
        spec = ACTION_TABLE[ActionType(action_type)]
        if spec.output in ("span", "span_x_amount"):
            self.last_emit = (c, c + n, (action_type, amount) if spec.effect else _KEEP)
        elif spec.output == "swapped":
            self.last_emit = (c, c + n, _KEEP)
        elif spec.output == "later":
            self.last_emit = None
        self.done = terminated or truncated

    # moves ----------------------------------------------------------------------------------------
    def forward_to(self, target: int, *, pick_up: bool = True) -> bool:
        """Drop beats up to ``target`` (picking up pending REORDER spans on the way)."""
        while self.cursor < target and not self.done:
            if pick_up and self.tail_pending and self.cursor <= self.tail_pending[0].start < target:
                run = self.tail_pending.pop(0)
                self.forward_to(run.start, pick_up=False)
                self.cover(run, ActionType.REORDER)
                continue
            c = self.cursor
            cuts = [s for s in _SIZES_BY_BEATS if c + int(SIZE_BEATS[s]) <= target and self.valid(ActionType.CUT, s)]
            if cuts:  # canonical: CUTs only, largest first (see the module docstring)
                self.step(int(ActionType.CUT), cuts[0])
                continue
            skips = [
                (self.env.next_boundary(s, c), s)
                for s in _SIZES_BY_BEATS
                if self.env.next_boundary(s, c) <= target and self.valid(ActionType.SKIP, s)
            ]
            if not skips:
                return False
            self.step(int(ActionType.SKIP), max(skips)[1])
        return self.cursor == target

    def back_to(self, target: int) -> bool:
        """Fewest JUMP_BACKs that reach ``target`` or just before it (then cut forward)."""
        state = self.env.editor_state()
        distance, cursor = self.cursor - target, self.cursor
        best = None
        for k in range(1, min(state.jump_backs_left, 4) + 1):
            for combo in itertools.combinations_with_replacement(_SIZES_BY_BEATS, k):
                total = int(sum(SIZE_BEATS[s] for s in combo))
                if distance <= total <= cursor and (best is None or total < best[0]):
                    best = (total, combo)
            if best is not None:
                break
        if best is None:
            return False
        for s in best[1]:
            self.step(int(ActionType.JUMP_BACK), s)
        return self.forward_to(target, pick_up=False)

    def move_to(self, target: int) -> bool:
        if target >= self.cursor:
            return self.forward_to(target)
        return self.back_to(target)

    def cover(self, run: PlayRun, force_type: ActionType | None = None, last_chunk: int = 0) -> None:
        """Play ``run`` from the cursor (at ``run.start``) with the largest valid actions.

        :param last_chunk: beats that must end the run as one action (a REPEAT_PREV follows).
        """
        labels = run.labels
        pos = run.start
        while pos < run.end and not self.done:
            label = tuple(int(v) for v in labels[pos - run.start])
            same = np.all(labels[pos - run.start :] == label, axis=1)
            block = int(np.argmin(same)) if not same.all() else same.size  # beats with this label
            limit = min(block, run.end - pos)
            if last_chunk and pos < run.end - last_chunk:
                limit = min(limit, run.end - last_chunk - pos)
            t, amount = label if force_type is None else (int(force_type), int(ActionAmount.NEUTRAL))
            if t in (ActionType.FADE_IN, ActionType.FADE_OUT) and force_type is None:
                sizes = [_SIZE_OF[limit]] if limit in _SIZE_OF else []  # a fade is one action
            else:
                sizes = [s for s in _SIZES_BY_BEATS if SIZE_BEATS[s] <= limit]
            chosen = next((s for s in sizes if self.valid(t, s)), None)
            if chosen is None and force_type is None:  # the effect cannot be had here: keep plainly
                t, amount = _KEEP
                chosen = next((s for s in _SIZES_BY_BEATS if SIZE_BEATS[s] <= limit and self.valid(t, s)), None)
            if chosen is None:  # no room in the output budget: these beats are lost
                self.unreachable += run.end - pos
                self.forward_to(run.end, pick_up=False)
                return
            self.step(t, chosen, amount)
            pos += int(SIZE_BEATS[chosen])

    # the walk -------------------------------------------------------------------------------------
    def run(self) -> None:
        runs, i = self.runs, 0
        while i < len(runs) and not self.done:
            run = runs[i]
            if i in self.tail:
                i += 1
                continue
            n = run.length
            repeats = 1
            while i + repeats < len(runs) and i + repeats not in self.tail and runs[i + repeats].same(run):
                repeats += 1
            # LOOP: an immediate repeat of a neutral span of one action size
            if repeats >= 2 and not run.reverse and run.neutral and n in _SIZE_OF:
                if self.move_to(run.start) and self.valid(ActionType.LOOP, _SIZE_OF[n]):
                    plays = min(repeats, MAX_LOOP_PLAYS)
                    self.step(int(ActionType.LOOP), _SIZE_OF[n], plays - 2)
                    i += plays
                    continue
            # REPEAT_PREV: the last span again
            if self._repeats_last(run):
                self.step(int(ActionType.REPEAT_PREV), _SIZE_OF[n])
                i += 1
                continue
            # SWAP_NEXT: this span and the one before it in the raw, swapped
            nxt = runs[i + 1] if i + 1 < len(runs) and i + 1 not in self.tail else None
            if (
                nxt is not None
                and n in _SIZE_OF
                and nxt.length == n
                and nxt.end == run.start
                and run.neutral
                and nxt.neutral
                and not run.reverse
                and not nxt.reverse
            ):
                if self.move_to(nxt.start) and self.valid(ActionType.SWAP_NEXT, _SIZE_OF[n]):
                    self.step(int(ActionType.SWAP_NEXT), _SIZE_OF[n])
                    i += 2
                    continue
            if not self.move_to(run.start):
                self.unreachable += n
                i += 1
                continue
            last_chunk = 0
            if repeats >= 2 and n in _SIZE_OF:
                last_chunk = n  # REPEAT_PREV follows: end on one action of the whole span
            self.cover(run, last_chunk=last_chunk)
            i += 1
        if not self.done:
            self.forward_to(self.env.n_beats)
        self.unreachable += sum(r.length for r in self.tail_pending)

    def _repeats_last(self, run: PlayRun) -> bool:
        if self.last_emit is None or run.reverse or run.length not in _SIZE_OF:
            return False
        start, end, label = self.last_emit
        if (run.start, run.end) != (end - run.length, end) or not np.all(run.labels == label):
            return False
        return self.cursor == end and self.valid(ActionType.REPEAT_PREV, _SIZE_OF[run.length])


def _tail_candidates(runs: list[PlayRun], n_beats: int, max_beats: float, *, strict: bool) -> list[int]:
    """Indices of the shortest suffix of ``runs`` that REORDER can make (empty if none).

    The suffix must be entered by a backward move, consist of forward runs in raw order that no
    other run plays, and each of its runs must lie in a forward gap the cursor crosses, in order.
    ``strict``: only one run without effects (REORDER carries none), "a span moved to the end";
    otherwise any such suffix (the fallback when replaying with jumps is impossible).
    """
    m = len(runs)
    for t in range(m - 1, 0, -1):
        tail, prefix = runs[t:], runs[:t]
        if runs[t].start >= max(r.end for r in prefix):
            continue
        if sum(r.length for r in tail) > max_beats or any(r.reverse for r in tail):
            continue
        if strict and (len(tail) > 1 or not tail[0].neutral):
            continue
        if any(b.start < a.end for a, b in zip(tail[:-1], tail[1:])):
            continue
        if any(r.start < p.end and p.start < r.end for r in tail for p in prefix):
            continue
        gaps, pos = [], 0
        for p in prefix:
            if p.start >= pos:
                gaps.append((pos, p.start))
            pos = p.end
        gaps.append((pos, n_beats))
        g, ok = 0, True
        for r in tail:
            while g < len(gaps) and not (gaps[g][0] <= r.start and r.end <= gaps[g][1]):
                g += 1
            ok = g < len(gaps)
            if not ok:
                break
        if ok:
            return list(range(t, m))
    return []


# -- public API ------------------------------------------------------------------------------------
def _as_task(task_or_analysis, pointers: np.ndarray):
    from editor_env.features import Analysis
    from editor_env.tasks import EditingTask

    if isinstance(task_or_analysis, Analysis):
        return EditingTask("analysis", task_or_analysis, pointers)
    if isinstance(task_or_analysis, EditingTask):
        return task_or_analysis
    raise MusicEditError(f"infer_labels needs an EditingTask or an Analysis, not {type(task_or_analysis).__name__}.")


def infer_labels(
    task_or_analysis,
    pointers: np.ndarray,
    *,
    ops: np.ndarray | None = None,
    edl: EditList | None = None,
    gain_db: np.ndarray | float | None = None,
    params: AudioParams = DEFAULT_PARAMS,
    env_kwargs: dict[str, Any] | None = None,
    max_reorder_beats: int = 32,
    collect_observations: bool = False,
) -> LabelSequence:
    """The beat-level actions that reproduce the edit ``pointers`` in MusicEdit-v0.

    See the module docstring for the algorithm.

    :param task_or_analysis: an :class:`editor_env.tasks.EditingTask` or the raw's
        :class:`editor_env.features.Analysis` (its tracked beats are the grid the actions use).
    :param pointers: ``(edit_frames,)`` int64 raw analysis frame of every edit frame.
    :param ops: ``(edit_frames,)`` optional :class:`EditOp` labels: ``NEW`` frames are left out,
        ``FADE``/``GAIN`` frames give effect labels (when no ``edl`` is given).
    :param edl: optional EDL that made ``pointers``: exact effects (fades, gain, EQ, speed ...).
    :param gain_db: gain of ``GAIN`` op frames, per frame or one value (default -3 dB).
    :param env_kwargs: :class:`MusicEditEnv` settings (budget, allowances) the labels must obey. Unless
        it says otherwise, ``target_ratio`` is the edit's own length (its beats / the raw's), so the
        demonstrations show the agent an edit of the length it was asked for; and ``strict_floor`` is
        False (a reference edit may drop material and reach its length by replaying some later).
    :param max_reorder_beats: longest play-order suffix made with REORDER when a replay with
        JUMP_BACK would also do.
    :param collect_observations: also keep the env observations (for :mod:`.transitions`).
    """
    from editor_env.env import MusicEditEnv

    pointers = np.asarray(pointers, np.int64).reshape(-1)
    if pointers.size == 0:
        raise MusicEditError("infer_labels: the pointer sequence is empty.")
    task = _as_task(task_or_analysis, pointers)
    analysis = task.analysis
    n_raw_frames = int(analysis.mel.shape[1])
    usable = np.ones(pointers.size, bool)
    frame_labels = None
    if ops is not None:
        ops = np.asarray(ops).reshape(-1)
        if ops.size != pointers.size:
            raise MusicEditError(f"infer_labels: {ops.size} ops for {pointers.size} pointers; they must match.")
        usable = ops != EditOp.NEW
        frame_labels = frame_effects_from_ops(ops, gain_db)
    if edl is not None:
        frame_labels = frame_effects_from_edl(edl, pointers.size, params)
    used = pointers if usable is None else pointers[np.asarray(usable, bool)]  # NEW frames carry -1
    if used.size and (used.max() >= n_raw_frames + 2 or used.min() < 0):
        raise MusicEditError(
            f"Pointers reach raw frame {int(used.max())} but the raw analysis of {task.name!r} has "
            f"{n_raw_frames} frames: were they aligned against another recording?"
        )
    runs = play_runs(pointers, analysis.beats.frames(params), n_raw_frames, frame_labels, usable)
    env_kwargs = dict(env_kwargs or {})
    env_kwargs.setdefault("strict_floor", False)  # a reference edit may replay material to reach its length
    n_beats = analysis.beats.n_beats
    if "target_ratio" not in env_kwargs:  # the edit's own length is its target (the env's length window holds it)
        out_beats = sum(run.length for run in runs)
        env_kwargs["target_ratio"] = float(np.clip(out_beats / max(n_beats, 1), 0.05, 2.0))
    env = MusicEditEnv(tasks=[task], params=params, **env_kwargs)

    def plan(tail: list[int]) -> _Planner:
        planner = _Planner(env, task, runs, tail, collect_observations)
        planner.run()
        return planner

    planner = plan(_tail_candidates(runs, n_beats, max_reorder_beats, strict=True))
    if planner.unreachable:
        wide = _tail_candidates(runs, n_beats, float("inf"), strict=False)
        if wide:
            other = plan(wide)
            if other.unreachable < planner.unreachable:
                planner = other
    obs = np.asarray(planner.obs, np.float32) if collect_observations else None
    return LabelSequence(
        sample=task.name,
        actions=np.asarray(planner.actions, np.int64).reshape(-1, 3),
        masks=np.asarray(planner.masks, bool).reshape(-1, MASK_LENGTH),
        observations=obs,
        play_order=play_order(runs),
        unreachable_beats=int(planner.unreachable),
        n_beats=n_beats,
        env_kwargs=env_kwargs,
    )


def replay(labels: LabelSequence | np.ndarray, task, *, params: AudioParams = DEFAULT_PARAMS, **env_kwargs) -> EditList:
    """Step a fresh :class:`MusicEditEnv` on ``task`` with the labels; the EDL it makes.

    :raises MusicEditError: an action the env had to repair (invalid in its state), or labels
        that do not end the episode.
    """
    from editor_env.env import MusicEditEnv

    actions = labels.actions if isinstance(labels, LabelSequence) else np.asarray(labels).reshape(-1, 3)
    if isinstance(labels, LabelSequence) and not env_kwargs:
        env_kwargs = labels.env_kwargs
    env_kwargs = {"strict_floor": False, **env_kwargs}  # as infer_labels: references may replay to reach length
    env = MusicEditEnv(tasks=[task], params=params, **env_kwargs)
    env.reset(options={"task": task})
    done = False
    for k, action in enumerate(actions):
        if done:
            raise MusicEditError(f"replay: the episode ended at step {k} of {len(actions)}.")
        _, _, terminated, truncated, info = env.step(action)
        if info["invalid_action"]:
            raise MusicEditError(f"replay: step {k} ({action.tolist()}) is invalid in the env's state.")
        done = terminated or truncated
    if not done:
        raise MusicEditError(f"replay: {len(actions)} actions do not finish the episode of {task.name!r}.")
    return env.edit_list()


def beat_tokens(pointers: np.ndarray, beat_frames: np.ndarray, *, min_fraction: float = 0.5) -> np.ndarray:
    """Raw beat of every output beat of a pointer sequence: runs of frames on one raw beat with no
    jump, runs shorter than ``min_fraction`` of the median beat dropped, equal neighbours merged."""
    p = np.asarray(pointers, np.int64)
    if p.size == 0:
        return np.zeros(0, np.int64)
    frames = np.maximum.accumulate(np.asarray(beat_frames, np.int64))
    beat = np.clip(np.searchsorted(frames, p, side="right") - 1, 0, frames.size - 1)
    jump = np.zeros(p.size, bool)
    jump[1:] = np.abs(np.diff(p) - 1) > RUN_JITTER_FRAMES
    brk = jump.copy()
    brk[0] = True
    brk[1:] |= beat[1:] != beat[:-1]
    starts = np.flatnonzero(brk)
    lengths = np.diff(np.append(starts, p.size))
    median_beat = np.median(np.diff(frames)) if frames.size > 1 else lengths.max()
    keep = lengths >= min_fraction * median_beat
    starts = starts[keep]
    tokens = beat[starts]
    jumps_before = np.cumsum(jump)[starts]
    same = np.zeros(tokens.size, bool)
    same[1:] = (tokens[1:] == tokens[:-1]) & (jumps_before[1:] == jumps_before[:-1])
    return tokens[~same]


def beat_agreement(
    pointers: np.ndarray | EditList,
    reference: np.ndarray,
    beat_frames: np.ndarray,
    *,
    params: AudioParams = DEFAULT_PARAMS,
) -> float:
    """Beat-level agreement of two edits of one raw, in [0, 1]: ``2 * LCS / (n + m)`` of their
    raw-beat sequences (:func:`beat_tokens` on the tracked beats); 1 = the same beats in the same
    order. Tolerant of the few frames by which tracked beats and an edit's cut points differ."""
    from editor_env.reward import lcs_length

    if isinstance(pointers, EditList):
        pointers = pointers.to_pointers(params)
    a, b = beat_tokens(pointers, beat_frames), beat_tokens(reference, beat_frames)
    if a.size + b.size == 0:
        return 1.0
    return 2.0 * lcs_length(a, b) / (a.size + b.size)

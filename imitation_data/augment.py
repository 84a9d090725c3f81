"""Synthetic demonstrations of rare action types, made on real recordings.

Human edits rarely loop, swap, reverse or pitch-shift, so the BC labels of a data set hold few
or none of those actions. :func:`augment` makes more: it takes a recording's cached analysis
(its tracked beats and beat features: what the agent observes), starts from the recording's
reference edit (its pointers as beat runs; the whole recording when it has none), applies the
rare action to a span of it — the span gets the effect, is looped, moved to the end, swapped
with the next one, replayed after a jump back, or cut up to a bar line — as an
:class:`~editor_env.edl.EditList`, derives its pointers and ops
(:meth:`EditList.to_pointers`, :func:`editor_env.synth.ops_from_edl`) and infers the labels again
with :func:`imitation_data.labels.infer_labels`. An episode counts only when the labels reproduce
the whole edit (no unreachable beats).

The edited audio is **not rendered**: the observations the agent sees depend only on the raw
recording's analysis and on the edit state, and the labels come from the EDL (its effects) and
its pointers, so rendering would change nothing in the data set and cost time. Render the EDL
with :func:`editor_env.render.render` to listen to an example.
"""

from __future__ import annotations

import dataclasses
import time
from typing import Any

import numpy as np

from editor_env.actions import ACTION_TABLE, N_TYPES, SIZE_BEATS, ActionType
from editor_env.edl import EditList, Effects, Segment
from editor_env.errors import MusicEditError
from editor_env.params import DEFAULT_PARAMS, AudioParams

#: Types every edit is full of; never augmented.
COMMON_TYPES = (ActionType.KEEP, ActionType.CUT)
#: Never in demonstrations: the labels drop gaps with CUTs (:mod:`imitation_data.labels`).
UNDEMONSTRATED_TYPES = (ActionType.SKIP,)
AUGMENTABLE_TYPES = tuple(t for t in ActionType if t not in COMMON_TYPES + UNDEMONSTRATED_TYPES)


@dataclasses.dataclass
class _Piece:
    """Raw beats ``[start, end)`` in output order, with effects; ``plain`` until modified."""

    start: int
    end: int
    effects: Effects = dataclasses.field(default_factory=Effects)
    plain: bool = True

    @property
    def length(self) -> int:
        return self.end - self.start


def base_pieces(task, params: AudioParams = DEFAULT_PARAMS) -> list[_Piece]:
    """The task's reference edit as plain forward beat runs (its effects dropped), or the whole
    recording when it has no reference."""
    from imitation_data.labels import play_runs

    n_beats = task.analysis.beats.n_beats
    if task.reference is None:
        return [_Piece(0, n_beats)]
    runs = play_runs(task.reference, task.analysis.beats.frames(params), int(task.analysis.mel.shape[1]))
    pieces = [_Piece(r.start, r.end) for r in runs if not r.reverse]
    return pieces or [_Piece(0, n_beats)]


def pieces_to_edl(task, pieces: list[_Piece], params: AudioParams = DEFAULT_PARAMS) -> EditList:
    """An EDL at the analysis rate whose segments are the pieces (fades span their whole piece)."""
    analysis = task.analysis
    sr = params.sample_rate
    length = max(int(round(analysis.duration * sr)), 1)
    times = np.append(analysis.beats.times, analysis.duration)
    segments = []
    for p in pieces:
        a = min(int(round(times[p.start] * sr)), length - 1)
        b = min(max(int(round(times[p.end] * sr)), a + 1), length)
        fx = dataclasses.replace(p.effects)
        if fx.fade_in_s > 0:
            fx.fade_in_s = (b - a) / sr
        if fx.fade_out_s > 0:
            fx.fade_out_s = (b - a) / sr
        segments.append(Segment(a, b, fx, float(p.start), float(p.end)))
    return EditList(sr, length, segments, meta={"paradigm": "augment", "sample": task.name})


def _effect_for(action_type: ActionType, rng: np.random.Generator) -> Effects:
    spec = ACTION_TABLE[action_type]
    if action_type == ActionType.REVERSE:
        return Effects(reverse=True)
    if action_type in (ActionType.FADE_IN, ActionType.FADE_OUT):
        return Effects(**{spec.effect: 1.0})  # the length is set to the piece's in pieces_to_edl
    choices = [i for i in range(len(spec.amounts)) if spec.amounts[i] != 0]
    return Effects(**{spec.effect: float(spec.amounts[int(rng.choice(choices))])})


def _sizes_up_to(n: int, *, at_most: int = 32) -> list[int]:
    return [int(b) for b in SIZE_BEATS if b <= min(n, at_most)]


def modify(
    pieces: list[_Piece], action_type: ActionType, rng: np.random.Generator, bar_position: np.ndarray
) -> list[_Piece] | None:
    """``pieces`` with one occurrence of ``action_type`` applied to a plain piece (None if no
    piece is long enough). Spans start on a downbeat when one fits."""
    t = ActionType(action_type)
    order = rng.permutation(len(pieces))
    for k in order:
        piece = pieces[k]
        if not piece.plain:
            continue
        out = _modify_piece(pieces, int(k), t, rng, bar_position)
        if out is not None:
            return out
    return None


def _pick_start(piece: _Piece, span: int, rng: np.random.Generator, bar_position: np.ndarray) -> int | None:
    starts = np.arange(piece.start, piece.end - span + 1)
    if starts.size == 0:
        return None
    downbeats = starts[bar_position[starts] == 0]
    return int(rng.choice(downbeats if downbeats.size else starts))


def _modify_piece(pieces, k, t, rng, bar_position) -> list[_Piece] | None:
    piece = pieces[k]
    before, after = pieces[:k], pieces[k + 1 :]
    fx = dict(effects=Effects(), plain=False)

    def split(a: int, b: int, middle: list[_Piece]) -> list[_Piece]:
        head = [_Piece(piece.start, a)] if a > piece.start else []
        tail = [_Piece(b, piece.end)] if b < piece.end else []
        return before + head + middle + tail + after

    if t == ActionType.FADE_IN or t == ActionType.FADE_OUT:
        sizes = _sizes_up_to(piece.length // 2 or 1)
        if not sizes or piece.length < 2:
            return None
        s = int(rng.choice(sizes))
        # a fade-in starts a piece (after a seam), a fade-out ends one; the rest of the piece is
        # no longer bounded by seams, so it takes no other fade
        if t == ActionType.FADE_IN:
            faded, rest = (
                _Piece(piece.start, piece.start + s, _effect_for(t, rng), False),
                _Piece(piece.start + s, piece.end),
            )
            return before + [faded, dataclasses.replace(rest, plain=False)] + after
        rest, faded = _Piece(piece.start, piece.end - s), _Piece(piece.end - s, piece.end, _effect_for(t, rng), False)
        return before + [dataclasses.replace(rest, plain=False), faded] + after
    if ACTION_TABLE[t].effect is not None:  # effect types: the span gets the effect
        sizes = _sizes_up_to(piece.length)
        if not sizes:
            return None
        s = int(rng.choice(sizes))
        a = _pick_start(piece, s, rng, bar_position)
        return split(a, a + s, [_Piece(a, a + s, _effect_for(t, rng), False)])
    if t == ActionType.LOOP:
        sizes = _sizes_up_to(piece.length, at_most=16)
        if not sizes:
            return None
        s = int(rng.choice(sizes))
        a = _pick_start(piece, s, rng, bar_position)
        plays = int(rng.integers(2, 5))
        return split(a, a + s, [_Piece(a, a + s, plain=False) for _ in range(plays)])
    if t == ActionType.REPEAT_PREV:  # a span with an effect, played twice (LOOP carries no effect)
        sizes = _sizes_up_to(piece.length, at_most=16)
        if not sizes:
            return None
        s = int(rng.choice(sizes))
        a = _pick_start(piece, s, rng, bar_position)
        effects = _effect_for(ActionType.GAIN, rng)
        return split(a, a + s, [_Piece(a, a + s, effects, False), _Piece(a, a + s, effects, False)])
    if t == ActionType.SWAP_NEXT:
        sizes = _sizes_up_to(piece.length // 2, at_most=16)
        if not sizes:
            return None
        s = int(rng.choice(sizes))
        a = _pick_start(piece, 2 * s, rng, bar_position)
        return split(a, a + 2 * s, [_Piece(a + s, a + 2 * s, **fx), _Piece(a, a + s, **fx)])
    if t == ActionType.REORDER:  # the span moves to the end of the edit
        sizes = _sizes_up_to(piece.length - 1, at_most=16)  # leave a beat after the span: a real move
        if not sizes:
            return None
        s = int(rng.choice(sizes))
        a = _pick_start(_Piece(piece.start, piece.end - 1), s, rng, bar_position)
        if a is None:
            return None
        head = [_Piece(piece.start, a)] if a > piece.start else []
        tail = [_Piece(a + s, piece.end)] if a + s < piece.end else []
        return before + head + tail + after + [_Piece(a, a + s, **fx)]
    if t == ActionType.JUMP_BACK:  # after this piece, replay a span from earlier in the raw
        if piece.length < 6:
            return None
        length = int(rng.integers(4, min(piece.length - 1, 24) + 1))
        start = int(rng.integers(piece.start, piece.end - length))  # never a suffix (that would be a LOOP)
        return before + [dataclasses.replace(piece, plain=False), _Piece(start, start + length, plain=False)] + after
    raise MusicEditError(f"augment: no recipe for {t.name}; augmentable types: {[x.name for x in AUGMENTABLE_TYPES]}.")


@dataclasses.dataclass
class AugmentReport:
    """What :func:`augment` made: steps per type before and after, episodes, shortfalls."""

    before: dict[str, int]
    after: dict[str, int]
    episodes: int
    attempts: int
    rejected: int
    short: dict[str, int]
    seconds: float

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def augment(
    tasks: list,
    *,
    min_samples: int,
    existing_counts: np.ndarray | None = None,
    types: list[ActionType] | None = None,
    per_episode: int = 3,
    max_attempts_per_type: int | None = None,
    seed: int = 0,
    env_kwargs: dict[str, Any] | None = None,
    params: AudioParams = DEFAULT_PARAMS,
    progress: bool = True,
):
    """Episodes with rare actions until each type has at least ``min_samples`` steps.

    :param tasks: :class:`EditingTask`\\ s whose cached analyses the edits are made on.
    :param min_samples: steps wanted per type, counting ``existing_counts`` (e.g. the rich data
        set's :meth:`BCDataset.type_counts`).
    :param types: types to augment (default: every type but KEEP and CUT that has fewer than
        ``min_samples`` steps).
    :param per_episode: occurrences of the type applied to one edit (on different pieces).
    :param max_attempts_per_type: give up on a type after this many edits (default
        ``10 * min_samples + 20``); the shortfall is reported.
    :returns: ``(BCDataset, list[LabelSequence], AugmentReport)``.
    """
    from tqdm import tqdm

    from editor_env.synth import ops_from_edl
    from imitation_data.labels import infer_labels
    from imitation_data.transitions import BCDataset, _versions

    if min_samples < 1:
        raise MusicEditError(f"augment: min_samples={min_samples} must be at least 1.")
    if not tasks:
        raise MusicEditError("augment needs at least one recording (task) to edit.")
    started = time.perf_counter()
    rng = np.random.default_rng(seed)
    counts = np.zeros(N_TYPES, np.int64) if existing_counts is None else np.asarray(existing_counts, np.int64).copy()
    before = counts.copy()
    wanted = [ActionType(t) for t in (types or AUGMENTABLE_TYPES) if counts[int(t)] < min_samples]
    unknown = [t.name for t in wanted if t in COMMON_TYPES + UNDEMONSTRATED_TYPES]
    if unknown:
        raise MusicEditError(
            f"augment: {unknown} are common or never demonstrated; augmentable: {[t.name for t in AUGMENTABLE_TYPES]}."
        )
    max_attempts = max_attempts_per_type or 10 * min_samples + 20
    bases = {id(task): base_pieces(task, params) for task in tasks}
    labels, episodes_of, attempts, rejected = [], [], 0, 0
    bar = tqdm(total=len(wanted), desc="augment", disable=not progress)
    for t in wanted:
        tries = 0
        while counts[int(t)] < min_samples and tries < max_attempts:
            tries += 1
            attempts += 1
            task = tasks[int(rng.integers(len(tasks)))]
            bar_position = task.analysis.beats.bar_position
            pieces = bases[id(task)]
            for _ in range(per_episode):
                pieces = modify(pieces, t, rng, bar_position) or pieces
            if all(p.plain for p in pieces):
                rejected += 1
                continue
            edl = pieces_to_edl(task, pieces, params)
            pointers = edl.to_pointers(params)
            lab = infer_labels(
                task,
                pointers,
                ops=ops_from_edl(edl, params),
                edl=edl,
                params=params,
                env_kwargs=env_kwargs,
                collect_observations=True,
            )
            if lab.unreachable_beats or lab.type_counts()[int(t)] == 0:
                rejected += 1
                continue
            lab.sample = f"{task.name}+{t.name.lower()}{len(labels)}"
            labels.append(lab)
            episodes_of.append({"base": task.name, "type": t.name, "edl": edl.to_json_dict()})
            counts += lab.type_counts()
        bar.update(1)
    bar.close()
    short = {t.name: int(min_samples - counts[int(t)]) for t in wanted if counts[int(t)] < min_samples}
    names = [ActionType(i).name for i in range(N_TYPES)]
    report = AugmentReport(
        before={n: int(c) for n, c in zip(names, before)},
        after={n: int(c) for n, c in zip(names, counts)},
        episodes=len(labels),
        attempts=attempts,
        rejected=rejected,
        short=short,
        seconds=round(time.perf_counter() - started, 2),
    )
    if not labels:
        return None, labels, report
    provenance = {
        "kind": "augmented",
        "min_samples": min_samples,
        "types": [t.name for t in wanted],
        "seed": seed,
        "per_episode": per_episode,
        "base_samples": sorted({task.name for task in tasks}),
        "rendered_audio": False,
        "env_kwargs": dict(env_kwargs or {}),
        "params_hash": params.hash(),
        "episodes": [
            {"sample": lab.sample, "base": e["base"], "type": e["type"]} for lab, e in zip(labels, episodes_of)
        ],
        "report": report.to_dict(),
        "versions": _versions(),
    }
    return BCDataset.from_labels(labels, provenance), labels, report

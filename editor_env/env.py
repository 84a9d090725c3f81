"""MusicEdit-v0: edit a raw recording beat by beat with a factored action space."""

from __future__ import annotations

import collections
import dataclasses
import os
from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from editor_env.actions import (
    ACTION_DIMS,
    ACTION_TABLE,
    N_TYPES,
    SIZE_BEATS,
    ActionType,
    EditorState,
    Locks,
    action_masks,
    resolve,
)
from editor_env.edl import EditList, Effects, Segment
from editor_env.params import DEFAULT_PARAMS, AudioParams
from editor_env.state import CONTEXT_BEATS, OBS_CLIP, RECENT_ACTIONS, ObservationBuilder, observation_size
from editor_env.tasks import EditingTask, load_tasks

_SIZE_INDEX = {int(beats): i for i, beats in enumerate(SIZE_BEATS)}


def _check_target_ratio(target_ratio: float) -> None:
    if not 0.05 <= target_ratio <= 2.0:
        from editor_env.errors import MusicEditError

        raise MusicEditError(f"target_ratio={target_ratio!r} makes no sense; use a value in [0.05, 2] (default 0.67).")


def make_real_env(split: str = "train", **kwargs: Any) -> MusicEditEnv:
    """``gym.make("MusicEdit-Real-v0")``: :class:`MusicEditEnv` over the real-music corpus's jams of ``split``
    (default the train split; :mod:`editor_env.corpus`), with their junk labels in the reward.

    :raises MusicEditError: the corpus's jams are missing; the message says how to fetch and build them.
    """
    from editor_env import corpus

    if "data_dir" in kwargs or "tasks" in kwargs:
        from editor_env.errors import MusicEditError

        raise MusicEditError("MusicEdit-Real-v0 reads the corpus; for your own data use MusicEdit-v0 with data_dir.")
    data_dir = corpus.require_split(split)
    kwargs.setdefault("cache_dir", corpus.split_cache_dir(split))
    return MusicEditEnv(data_dir, **kwargs)


class MusicEditEnv(gym.Env):
    """
    ## Description

    An agent walks through a raw recording beat by beat and chooses an edit at each step:
    keep, cut, loop, reorder, jump back, skip to a boundary, fade, or apply an effect to the
    span of beats at the cursor. The episode's result is an edit list (EDL) of the raw, scored
    by the common reward (:mod:`editor_env.reward`). Episodes come from a data set of cached
    recordings (``data_dir``), from the embedded default (a few synthetic jams generated once)
    or from ``reset(options={"task": EditingTask(...)})``.

    ## Action Space

    ``MultiDiscrete([20, 5, 5])``: (type, size, amount); see :data:`editor_env.actions.ACTION_TABLE`
    for what each type does and what size (1/4/16/8/32 beats) and amount mean. ``action_masks()``
    returns 30 booleans ``[20 types | 5 sizes | 5 amounts]`` for MaskablePPO.

    ## Observation Space

    ``Box(-10, 10, (867,), float32)``: the 121 beat features of the 7 beats around the cursor and
    20 global values (:mod:`editor_env.state`): position, length so far against the target, recent
    actions, and the locked beats ahead.

    ## Rewards

    - per step, when the reference edit is known: ``shaping_weight * (2 * agreement - 1) * n / n_beats``
      for the ``n`` raw beats the action keeps or drops, where agreement is the fraction of them
      the reference also keeps (or drops). A perfect pass sums to ``shaping_weight``.
    - an action that is invalid in the current state (possible only without masks) is repaired
      (the size shrinks to the largest valid one, or the type becomes KEEP/CUT of one beat) and
      costs ``invalid_action_penalty``; ``info["invalid_action"]`` is True.
    - at the episode's end, ``end_weight *`` the common reward's total (in [0, 1]);
      its components are in ``info["reward_components"]``.

    ## Episode End

    Terminated when the cursor passes the last beat (spans moved to the end with REORDER are
    appended then). Truncated after ``max_steps_factor * n_beats + 16`` steps; the partial edit is
    still scored.

    ## Arguments

    ``gym.make("MusicEdit-v0", data_dir=None, cache_dir=None, samples=None, target_ratio=0.67,
    ratio_slack=None, length_window=True, strict_floor=True, shaping_weight=0.5, end_weight=1.0,
    invalid_action_penalty=0.05, render_mode=None)``.
    With ``data_dir=None`` the embedded default data set is used.

    The target length is obeyed by construction: with ``length_window`` (the default) the output
    may hold at most ``(target_ratio + ratio_slack) * n_beats`` beats (keeping actions beyond it
    are masked) and a drop (CUT, SKIP) is masked when the raw left after it could no longer bring
    the output to ``(target_ratio - ratio_slack) * n_beats`` (with ``strict_floor=False``, as
    for labelling reference edits that replay material to reach their length, only once no
    JUMP_BACK is left); ``ratio_slack`` defaults to
    the reward's ``ratio_slack`` (0.05). ``reset(options={"target_ratio": r})`` sets the target of
    one episode (the observation's ``target_ratio`` shows it; the end reward scores against it).
    ``target_ratio=None`` (in ``reset``'s options or the constructor) gives the content-driven episode: the
    target is the share of the recording the content model judges worth keeping (:meth:`content_ratio`;
    it needs the shipped content model). The documented default stays 0.67.
    Without ``length_window`` the output may grow to ``output_budget_factor * n_beats`` and the
    length is left to the agent (and the reward).
    """

    metadata = {"render_modes": ["rgb_array"], "render_fps": 4}

    def __init__(
        self,
        data_dir: str | os.PathLike | None = None,
        cache_dir: str | os.PathLike | None = None,
        *,
        samples: list[str] | None = None,
        tasks: list[EditingTask] | None = None,
        target_ratio: float | None = 0.67,
        shaping_weight: float = 0.5,
        end_weight: float = 1.0,
        invalid_action_penalty: float = 0.05,
        output_budget_factor: float = 1.25,
        max_steps_factor: float = 2.0,
        length_window: bool = True,
        ratio_slack: float | None = None,
        strict_floor: bool = True,
        reward_config: Any = None,
        context_beats: int = CONTEXT_BEATS,
        params: AudioParams = DEFAULT_PARAMS,
        render_mode: str | None = None,
    ) -> None:
        from editor_env.errors import MusicEditError
        from editor_env.reward import RewardConfig

        if render_mode is not None and render_mode not in self.metadata["render_modes"]:
            raise MusicEditError(
                f"render_mode={render_mode!r}; MusicEdit-v0 supports {self.metadata['render_modes']} or None."
            )
        if target_ratio is not None:
            _check_target_ratio(target_ratio)
        self.tasks = tasks if tasks is not None else load_tasks(data_dir, cache_dir, samples=samples, params=params)
        if not self.tasks:
            raise MusicEditError("MusicEdit-v0 needs at least one task (recording) to edit.")
        self.target_ratio = target_ratio
        self.shaping_weight = shaping_weight
        self.end_weight = end_weight
        self.invalid_action_penalty = invalid_action_penalty
        self.output_budget_factor = output_budget_factor
        self.max_steps_factor = max_steps_factor
        if reward_config is None:
            reward_config = RewardConfig(target_ratio=0.67 if target_ratio is None else target_ratio)
        self.reward_config = reward_config
        self.length_window = length_window
        self.strict_floor = strict_floor
        self.ratio_slack = self.reward_config.ratio_slack if ratio_slack is None else float(ratio_slack)
        if not 0.0 <= self.ratio_slack < 1.0:
            raise MusicEditError(f"ratio_slack={ratio_slack!r} must lie in [0, 1) (a fraction of the raw length).")
        self._episode_target = target_ratio
        self.context_beats = context_beats
        self.params = params
        self.render_mode = render_mode
        self.action_space = spaces.MultiDiscrete(ACTION_DIMS)
        self.observation_space = spaces.Box(-OBS_CLIP, OBS_CLIP, (observation_size(context_beats),), np.float32)
        self._task: EditingTask | None = None
        self._scorers: dict[int, Any] = {}  # one prepared reward scorer per task (by id)
        self._content_ratios: dict[int, float] = {}  # per task: the content-driven target ratio
        self._prepared: dict[int, tuple] = {}  # per task: reference keep flags, their cumsum, boundaries

    # -- episode ---------------------------------------------------------------------------
    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        super().reset(seed=seed)
        options = options or {}
        if "task" in options:
            task = options["task"]
        elif "sample" in options:
            by_name = {t.name: t for t in self.tasks}
            if options["sample"] not in by_name:
                from editor_env.errors import MusicEditError

                raise MusicEditError(
                    f"reset(options={{'sample': {options['sample']!r}}}): no such sample; known: {sorted(by_name)}"
                )
            task = by_name[options["sample"]]
        else:
            task = self.tasks[int(self.np_random.integers(len(self.tasks)))]
        target = options.get("target_ratio", self.target_ratio)
        self._episode_target = self.content_ratio(task) if target is None else float(target)
        _check_target_ratio(self._episode_target)
        self._start(task)
        self._set_locks(options.get("keep_beats"), options.get("cut_beats"))
        return self._observe(), self._info()

    def content_ratio(self, task: EditingTask) -> float:
        """The length the music asks for, as a ratio of ``task``'s raw length: the duration of the beats the
        content model keeps (:func:`editor_env.content.content_length`), predicted once per task."""
        from editor_env.content import content_available, content_length, predict
        from editor_env.errors import MusicEditError

        key = id(task)
        if key not in self._content_ratios:
            if not content_available():
                raise MusicEditError(
                    "target_ratio=None (the content-driven length) needs the content model "
                    "(editor_env/models/content.pt; python scripts/train_content.py)."
                )
            analysis = task.analysis
            target, _ = content_length(predict(analysis), analysis, analysis.duration)
            self._content_ratios[key] = min(max(target / analysis.duration, 0.05), 1.0)
        return self._content_ratios[key]

    def _set_locks(self, keep_beats, cut_beats) -> None:
        """Lock beats of this episode: ``keep_beats`` must reach the output, ``cut_beats`` never
        (each ``(n_beats,)`` bool or None); see :class:`editor_env.actions.Locks`."""
        from editor_env.errors import MusicEditError

        n = self._n_beats
        arrays = []
        for name, value in (("keep_beats", keep_beats), ("cut_beats", cut_beats)):
            value = np.zeros(n, bool) if value is None else np.asarray(value, bool)
            if value.shape != (n,):
                raise MusicEditError(
                    f"reset(options={{'{name}': ...}}) has shape {value.shape}; this recording has {n} beats: "
                    f"give one bool per beat."
                )
            arrays.append(value)
        keep, cut = arrays
        if (keep & cut).any():
            beats = np.flatnonzero(keep & cut)
            raise MusicEditError(f"Beats {beats[:8].tolist()} are both keep- and cut-locked: lock each beat one way.")
        if keep.sum() > self._budget:
            raise MusicEditError(
                f"{int(keep.sum())} keep-locked beats do not fit the output budget of {self._budget} beats "
                f"(target ratio {self._episode_target:g} + slack {self.ratio_slack:g} of {n} beats): "
                f"lock less or raise the target."
            )
        self._locked = keep.any() or cut.any()
        self._open_keep, self._cut_locked = keep.copy(), cut
        self._cut_csum = np.concatenate([[0], np.cumsum(cut)])

    def _start(self, task: EditingTask) -> None:
        analysis = task.analysis
        self._task = task
        self._n_beats = analysis.beats.n_beats
        self._obs_builder = ObservationBuilder(analysis.features, self.context_beats)
        self._beat_times = np.append(analysis.beats.times, analysis.duration)
        if id(task) not in self._prepared:
            keep = self._reference_keep(task)
            keep_csum = None if keep is None else np.concatenate([[0], np.cumsum(keep)]).tolist()
            self._prepared[id(task)] = (keep, keep_csum, self._boundaries(analysis.beats.bar_position))
        self._ref_keep, self._ref_keep_csum, self._next_boundary = self._prepared[id(task)]
        self._cursor = 0
        self._segments: list[tuple[int, int, tuple]] = []  # (start_beat, end_beat, effect) in output order
        self._tail: list[tuple[int, int, tuple]] = []  # REORDERed spans, appended at the end
        self._output_beats = 0
        self._last_span = 0
        self._jump_backs_left = max(2, self._n_beats // 32)
        if self.length_window:
            self._budget = max(int(np.ceil((self._episode_target + self.ratio_slack) * self._n_beats)), 1)
            self._min_output = int(np.floor(max(self._episode_target - self.ratio_slack, 0.0) * self._n_beats))
        else:
            self._budget = int(np.ceil(self.output_budget_factor * self._n_beats))
            self._min_output = 0
        self._max_steps = int(self.max_steps_factor * self._n_beats) + 16
        self._steps = 0
        self._recent = collections.deque([0] * RECENT_ACTIONS, maxlen=RECENT_ACTIONS)
        self._last_size = 0
        self._n_seams = 0
        self._beats_since_seam = 0
        self._last_end: int | None = None
        self._done = False
        self._result: dict[str, Any] = {}

    def _reference_keep(self, task: EditingTask) -> np.ndarray | None:
        """``(n_beats,)`` bool: beats of which the reference keeps at least half the frames."""
        if task.reference is None:
            return None
        frames = task.analysis.beats.frames(self.params)
        bounds = np.append(frames, task.analysis.mel.shape[1])
        used = np.zeros(task.analysis.mel.shape[1] + 1, np.int64)
        ref = np.clip(task.reference, 0, used.size - 2)
        used[np.unique(ref)] = 1
        csum = np.concatenate([[0], np.cumsum(used)])
        kept = csum[bounds[1:]] - csum[bounds[:-1]]
        return kept >= 0.5 * np.maximum(bounds[1:] - bounds[:-1], 1)

    def _boundaries(self, bar_position: np.ndarray) -> np.ndarray:
        """``(5, n_beats)``: for each size, the next beat after each beat that starts a unit of
        that size (a bar for BAR, four bars for PHRASE, ...; any beat for BEAT)."""
        n = bar_position.size
        bar_index = np.cumsum(bar_position == 0) - 1
        result = np.empty((len(SIZE_BEATS), n), np.int64)
        for s, beats in enumerate(SIZE_BEATS):
            bars = max(int(beats) // 4, 1)
            starts = np.arange(n) if beats == 1 else np.flatnonzero((bar_position == 0) & (bar_index % bars == 0))
            starts = np.append(starts, n)
            result[s] = starts[np.searchsorted(starts, np.arange(n), side="right")]
        return result

    def editor_state(self) -> EditorState:
        """What action validity depends on now (cursor, lengths, budget, locked beats); see :mod:`editor_env.actions`."""
        locks = None
        if self._locked:
            skip_end = self._next_boundary[:, min(self._cursor, self._n_beats - 1)]
            locks = Locks(np.concatenate([[0], np.cumsum(self._open_keep)]), self._cut_csum, skip_end)
        return EditorState(
            self._cursor,
            self._n_beats,
            self._output_beats,
            self._last_span,
            self._budget,
            self._jump_backs_left,
            self._min_output,
            strict_floor=self.strict_floor,
            locks=locks,
        )

    @property
    def cursor(self) -> int:
        """The raw beat the next action applies to."""
        return self._cursor

    @property
    def n_beats(self) -> int:
        """Beats of the current recording."""
        return self._n_beats

    def next_boundary(self, size_index: int, beat: int) -> int:
        """Where SKIP of size ``size_index`` moves the cursor from ``beat``: the next start of a unit of that size."""
        return int(self._next_boundary[size_index, beat])

    def action_masks(self) -> np.ndarray:
        """``(30,)`` bool for MaskablePPO: ``[20 types | 5 sizes | 5 amounts]``."""
        return action_masks(self.editor_state())

    # -- step ------------------------------------------------------------------------------
    def step(self, action):
        if self._task is None:
            raise RuntimeError("Call reset() before step().")
        action = np.asarray(action).reshape(-1)
        action_type, n, amount, valid = resolve(action, self.editor_state())
        reward = 0.0 if valid else -self.invalid_action_penalty
        reward += self._apply(action_type, n, amount)
        self._steps += 1
        self._recent.append(int(action_type) + 1)
        self._last_size = _SIZE_INDEX[n]
        terminated = self._cursor >= self._n_beats
        truncated = not terminated and self._steps >= self._max_steps
        info = self._info()
        info["invalid_action"] = not valid
        info["applied_action"] = (int(action_type), n, amount)
        if terminated or truncated:
            reward += self._finish()
            info.update(self._result)
        return self._observe(), float(reward), terminated, truncated, info

    def _apply(self, action_type: ActionType, n: int, amount: int) -> float:
        spec = ACTION_TABLE[action_type]
        c = self._cursor
        effect = (spec.effect, spec.amounts[amount] if spec.amounts else True) if spec.effect else ()
        shaping = 0.0
        if spec.output in ("span", "span_x_amount", "swapped"):
            span_end = c + (2 * n if spec.output == "swapped" else n)
            shaping = self._shaping(c, span_end, keep=True)
            if spec.output == "swapped":
                self._emit(c + n, c + 2 * n, ())
                self._emit(c, c + n, ())
            else:
                plays = int(spec.amounts[amount]) if spec.output == "span_x_amount" else 1
                if plays > 1:  # LOOP: as many plays as the output budget holds (validity ensured two)
                    reserved = int(self._open_keep.sum() - self._open_keep[c : c + n].sum())
                    plays = max(min(plays, (self._budget - self._output_beats - reserved) // n), 1)
                for _ in range(plays):
                    self._emit(c, c + n, effect)
        elif spec.output == "later":
            shaping = self._shaping(c, c + n, keep=True)
            self._tail.append((c, c + n, ()))
            self._open_keep[c : c + n] = False
            self._output_beats += n
        elif spec.output == "previous":
            self._repeat_previous(n)
        if spec.cursor == "+size":
            self._cursor = c + n
        elif spec.cursor == "+2size":
            self._cursor = c + 2 * n
        elif spec.cursor == "-size":
            self._cursor = c - n
            self._jump_backs_left -= 1
        elif spec.cursor == "next_boundary":
            self._cursor = int(self._next_boundary[_SIZE_INDEX[n], c])
        if spec.output == "none" and spec.cursor != "-size":
            shaping = self._shaping(c, self._cursor, keep=False)
        return shaping

    def _shaping(self, start: int, end: int, *, keep: bool) -> float:
        if self._ref_keep is None or end <= start:
            return 0.0
        kept = (self._ref_keep_csum[end] - self._ref_keep_csum[start]) / (end - start)
        agreement = kept if keep else 1.0 - kept
        return self.shaping_weight * (2.0 * agreement - 1.0) * (end - start) / self._n_beats

    def _emit(self, start: int, end: int, effect: tuple) -> None:
        """Append raw beats ``[start, end)`` to the output, merging with a continuing span."""
        self._open_keep[start:end] = False
        if self._segments and self._segments[-1][1] == start and self._segments[-1][2] == effect == ():
            prev = self._segments[-1]
            self._segments[-1] = (prev[0], end, effect)
            self._beats_since_seam += end - start
        else:
            if self._segments:
                self._n_seams += 1
            self._beats_since_seam = end - start
            self._segments.append((start, end, effect))
        self._output_beats += end - start
        self._last_span = end - start

    def _repeat_previous(self, n: int) -> None:
        """Append the last ``n`` beats of the output again."""
        pieces, need = [], n
        for start, end, effect in reversed(self._segments):
            take = min(need, end - start)
            pieces.append((end - take, end, effect))
            need -= take
            if need == 0:
                break
        for start, end, effect in reversed(pieces):
            self._emit(start, end, effect)

    # -- results ---------------------------------------------------------------------------
    def edit_list(self, sample_rate: int | None = None, raw_length: int | None = None) -> EditList:
        """The edit so far as an EDL (REORDERed spans appended at the end).

        By default in samples at the analysis rate; pass the raw file's ``sample_rate`` and
        ``raw_length`` to render the original audio.
        """
        analysis = self._task.analysis
        sr = sample_rate or self.params.sample_rate
        length = raw_length or max(int(round(analysis.duration * sr)), 1)
        times = self._beat_times
        segments = []
        for start, end, effect in self._segments + self._tail:
            a = min(int(round(times[start] * sr)), length - 1)
            b = min(max(int(round(times[end] * sr)), a + 1), length)
            effects = Effects()
            if effect:
                field, value = effect
                if field in ("fade_in_s", "fade_out_s"):
                    value = (b - a) / sr
                effects = Effects(**{field: value})
            segments.append(Segment(a, b, effects, float(start), float(end)))
        if not segments:  # everything was cut: the shortest honest edit is one beat of silence-free audio
            segments = [
                Segment(0, min(int(round(times[1] * sr)), length) if len(times) > 1 else length, Effects(), 0.0, 1.0)
            ]
        return EditList(sr, length, segments, meta={"paradigm": "env", "sample": self._task.name})

    def _finish(self) -> float:
        from editor_env.reward import Scorer

        task = self._task
        key = (id(task), self._episode_target)
        if key not in self._scorers:
            config = self.reward_config
            if config.target_ratio != self._episode_target:
                config = dataclasses.replace(config, target_ratio=self._episode_target)
            self._scorers[key] = Scorer(task.analysis, task.reference, config, self.params, labels=task.labels)
        edl = self.edit_list()
        result = self._scorers[key].score(edl)
        self._result = {
            "edl": edl,
            "reward_total": result.total,
            "reward_components": dict(result.components),
            "output_ratio": self._output_beats / max(self._n_beats, 1),
        }
        return self.end_weight * result.total

    @property
    def episode_target_ratio(self) -> float:
        """The target output / raw length of the current episode."""
        return self._episode_target

    def _observe(self) -> np.ndarray:
        n = max(self._n_beats, 1)
        passed = max(self._cursor, 1)
        globals_ = [
            self._cursor / n,
            self._output_beats / n,
            min(self._output_beats / (self._episode_target * n), OBS_CLIP),
            1.0 - self._cursor / n,
            self._episode_target,
            min(self._output_beats / passed, 4.0),
            min(self._beats_since_seam / 16.0, 1.0),
            min(self._n_seams / 32.0, 1.0),
            *(t / N_TYPES for t in self._recent),
            self._last_size / 4.0,
            self._steps / self._max_steps,
            *self._lock_globals(),
        ]
        return self._obs_builder.observe(self._cursor, globals_)

    def _lock_globals(self) -> list[float]:
        """The last six globals: free budget and the locked beats ahead (:data:`editor_env.state.GLOBAL_NAMES`)."""
        n, c = max(self._n_beats, 1), self._cursor
        open_keep = int(self._open_keep.sum()) if self._locked else 0
        free = (self._budget - self._output_beats - open_keep) / n
        if not self._locked:
            return [free, 0.0, 1.0, 1.0, 0.0, 0.0]
        here = 0.0
        if c < self._n_beats:
            here = 1.0 if self._open_keep[c] else (-1.0 if self._cut_locked[c] else 0.0)

        def distance(flags: np.ndarray) -> float:
            ahead = np.flatnonzero(flags[c : c + 32])
            return float(ahead[0]) / 32.0 if ahead.size else 1.0

        cut_ahead = int(self._cut_csum[-1] - self._cut_csum[min(c, self._n_beats)])
        return [free, here, distance(self._open_keep), distance(self._cut_locked), open_keep / n, cut_ahead / n]

    def _info(self) -> dict[str, Any]:
        return {
            "sample": self._task.name,
            "cursor": self._cursor,
            "n_beats": self._n_beats,
            "output_beats": self._output_beats,
        }

    # -- render ----------------------------------------------------------------------------
    def render(self):
        """``rgb_array``: a strip per raw beat (grey = not yet visited, green = kept, dark =
        dropped, blue = kept with an effect, orange = moved or repeated), the cursor in red,
        and below it the output as the sequence of raw beats it plays."""
        if self.render_mode != "rgb_array" or self._task is None:
            return None
        width, px = 512, self._n_beats
        image = np.full((48, width, 3), 255, np.uint8)
        col = lambda beat: min(int(beat * width / max(px, 1)), width - 1)  # noqa: E731
        image[2:18, :] = (200, 200, 200)
        image[2:18, : col(self._cursor)] = (60, 60, 60)
        uses = np.zeros(px, np.int64)
        for start, end, effect in self._segments + self._tail:
            colour = (60, 160, 60) if not effect else (60, 110, 200)
            if uses[start:end].any() or start < (self._segments[0][0] if self._segments else 0):
                colour = (230, 140, 40)
            image[2:18, col(start) : col(end) + 1] = colour
            uses[start:end] += 1
        image[:20, col(self._cursor)] = (220, 30, 30)
        x = 0
        total = max(self._output_beats, 1)
        for start, end, _effect in self._segments + self._tail:
            w = max(int((end - start) * width / max(total, px)), 1)
            shade = int(60 + 160 * start / max(px, 1))
            image[26:46, x : x + w] = (shade, 80, 255 - shade)
            x += w
        return image

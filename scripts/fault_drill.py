"""Fault drill (issue 34): ``kill -9`` at random moments, two runs at once, a full disk, a read-only folder.

    python scripts/fault_drill.py [--trials 20] [--quick] [--seed 0] [--out bench_output/fault_drill]
                                  [--only precache,synth,jams,align,ppo,pointer,concurrent,full_disk,read_only]

On a tiny fixture (two generated pairs of 20-26 s, their cache, their raws as "finished tracks"; tiny training
configs: ``configs/ppo_tiny.json`` and ``configs/pointer_tiny.json`` with 6 epochs) it runs, in order:

**Kill trials** (``--trials`` each, default 20): for every command of :data:`SCENARIOS` (``musicedit
precache``, ``synth``, ``jams``, ``align --data-dir``, ``python -m policies.train``, ``python -m
pointer_baseline.trainers.pointer_trainer``), one uninterrupted reference run, then per trial a fresh folder,
the command started in its own process group and the whole group sent ``SIGKILL`` at a random moment (drawn
uniformly between 0.8 of the reference run's time to its first output file and its end of the reference run),
then the same command again (the trainers with ``--checkpoint`` / ``--resume`` of ``latest.pt`` when it
exists, as their docs say). Checked:

- *at the kill*: every file visible under a final name is complete: equal to the reference run's file of that
  name (npz: the same arrays; the alignment's ``_info.json``: equal but for its ``timings_s``); a training
  checkpoint loads (torch ``weights_only``; an SB3 archive passes its CRC check and says what it is);
- *the rerun* finishes (exit 0), leaves every file that was finished at the kill untouched (same inode and
  modification time; for ``align`` a sample is finished when its ``_info.json`` is there, as the tool judges),
  and its files equal the reference run's (same names, same contents as above). The trainers resume from
  ``latest.pt`` at the step counter stored in it; the pointer network's resumed checkpoints equal the
  uninterrupted run's (weights, optimizer state, epoch, step, metrics: the run is deterministic on one CPU
  thread and its checkpoints hold the random states); PPO's cannot (SB3 stores no environment or random
  state, and a resumed run starts new episodes), so for PPO the step counter, the config, that every
  checkpoint loads and that the run ends at the reference's step are compared. TensorBoard event files
  (``tb/``) are append-only logs and are left out;
- no hidden temporary file is left after the rerun (a killed write's leftover is removed by the next write of
  the same file, :func:`editor_env.io.atomic_path`).

**Two at once**: two ``musicedit precache`` processes on the same data and cache; the cache must equal one
process's. **Full disk**: a small tmpfs (``mount -t tmpfs``; else a loop-mounted ext4 image; else skipped with
the reason) as ``--cache-dir`` of ``precache``, ``--out`` of ``synth`` and the output of ``musicedit edit``:
a clear error naming the folder, no corrupt or temporary file left; after the disk grows (``remount``) the
rerun completes and equals the reference. **Read-only folder**: as an unprivileged user (``runuser -u
nobody``; where that user cannot run this interpreter, root without capabilities: ``setpriv
--bounding-set=-all``, for which the folder's permission bits apply as for anyone; else skipped) ``edit``,
``precache`` and ``synth`` into a 0555 folder: a clear error naming the folder, nothing written.

Prints two Markdown tables (also written to ``--out``/``fault_drill.md`` with ``fault_drill.json``); exits 1
when any check fails. Run it under ``nice -n 19`` on a shared machine.
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")

import argparse
import contextlib
import dataclasses
import json
import re
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

PY = sys.executable
MUSICEDIT = [PY, "-m", "editor_env.cli"]
FIXTURE = "../../fixture"
"""Where every run finds the fixture, relative to its own folder (all runs sit at ``OUT/<scenario>/<run>``, so
their command lines, and the paths recorded in what they write, are the same)."""
TEMP = re.compile(r"^\..*\.tmp(\.[^.]+)?$")
"""Hidden temporary names of :func:`editor_env.io.atomic_path` (``.stem.host-pid-xxxx.tmp.suffix``)."""


# ---------------------------------------------------------------------------------------------
# The fixture
# ---------------------------------------------------------------------------------------------
def make_fixture(out: Path, *, n_pairs: int = 3, seed: int = 3) -> Path:
    """``out/fixture``: ``training_data/`` (``n_pairs`` generated pairs of 20-26 s), ``cache/`` and ``tracks/``
    (one generated jam of 28-32 s as a finished recording for ``musicedit jams``). Made once, then only read."""
    from editor_env.audio import write_audio
    from editor_env.cache import precache
    from editor_env.synth import generate_pair, write_dataset

    fixture = out / "fixture"
    data = fixture / "training_data"
    if not (fixture / "done").is_file():
        write_dataset(data, n_pairs, seed=seed, duration_range_s=(20.0, 26.0), progress=False)
        precache(data, fixture / "cache", progress=False)
        track = generate_pair(seed + 100, duration_range_s=(28.0, 32.0)).raw
        write_audio(fixture / "tracks" / "track.wav", track.samples, track.sample_rate)
        (fixture / "done").write_text("ok\n")
    return fixture


# ---------------------------------------------------------------------------------------------
# Comparing files
# ---------------------------------------------------------------------------------------------
def same_npz(a: Path, b: Path) -> str | None:
    """None when the two ``.npz`` files hold the same arrays (zip timestamps may differ), else why not."""
    try:
        with np.load(a, allow_pickle=False) as x, np.load(b, allow_pickle=False) as y:
            if sorted(x.files) != sorted(y.files):
                return f"arrays {sorted(x.files)} vs {sorted(y.files)}"
            for k in x.files:
                u, v = x[k], y[k]
                if u.dtype != v.dtype or u.shape != v.shape or not np.array_equal(u, v, equal_nan=u.dtype.kind == "f"):
                    return f"array {k!r} differs"
    except Exception as exc:  # noqa: BLE001  (unreadable is the finding)
        return f"does not load ({type(exc).__name__}: {exc})"
    return None


def same_json(a: Path, b: Path, drop: tuple[str, ...] = ()) -> str | None:
    try:
        x, y = json.loads(a.read_text()), json.loads(b.read_text())
    except Exception as exc:  # noqa: BLE001
        return f"does not parse ({type(exc).__name__})"
    for k in drop:
        x.pop(k, None), y.pop(k, None)
    return None if x == y else "JSON differs"


def same_bytes(a: Path, b: Path) -> str | None:
    return None if a.read_bytes() == b.read_bytes() else f"bytes differ ({a.stat().st_size} vs {b.stat().st_size})"


def same_file(ref: Path, got: Path) -> str | None:
    """The comparison of a data-pipeline output with the reference run's file of the same name."""
    if ref.suffix == ".npz":
        return same_npz(ref, got)
    if ref.name.endswith("_info.json") and "aligned" in ref.parts:
        return same_json(ref, got, drop=("timings_s",))  # how long each stage took differs from run to run
    return same_bytes(ref, got)


def checkpoint_loads(path: Path) -> str | None:
    """None when a training checkpoint is complete: a pointer checkpoint reads back (``weights_only``); an SB3
    archive passes its CRC check and identifies itself (:func:`editor_env.checkpoints.checkpoint_info`)."""
    import zipfile

    from editor_env.checkpoints import checkpoint_info

    try:
        info = checkpoint_info(path)
        if info.paradigm == "pointer":
            from pointer_baseline.checkpoint import read_checkpoint

            read_checkpoint(path)
        else:
            with zipfile.ZipFile(path) as archive:
                bad = archive.testzip()
            if bad is not None:
                return f"member {bad} fails its CRC check"
    except Exception as exc:  # noqa: BLE001
        return f"does not load ({type(exc).__name__}: {str(exc)[:120]})"
    return None


def same_pointer_checkpoint(ref: Path, got: Path) -> str | None:
    """None when two pointer checkpoints hold the same training state (all but the wall-clock time)."""
    import torch as th

    a = th.load(ref, map_location="cpu", weights_only=True)
    b = th.load(got, map_location="cpu", weights_only=True)
    for key in ("epoch", "step", "best_val_score", "metrics", "model_config", "train_samples", "val_samples"):
        if a.get(key) != b.get(key):
            return f"{key} differs ({a.get(key)!r} vs {b.get(key)!r})"
    for key in ("state_dict",):
        for name, tensor in a[key].items():
            if not th.equal(tensor, b[key][name]):
                return f"weight {name} differs"
    sa, sb = a["optimizer"]["state"], b["optimizer"]["state"]
    for k in sa:
        for name, value in sa[k].items():
            if isinstance(value, th.Tensor) and not th.equal(value, sb[k][name]):
                return f"optimizer state {k}.{name} differs"
    return None


def same_agent_checkpoint(ref: Path, got: Path) -> str | None:
    """An SB3 agent: complete, of the same paradigm and config and, for ``latest.pt``, at the same step counter
    (``best.pt`` is wherever the resumed run's own evaluations put it; see the module doc)."""
    from editor_env.checkpoints import checkpoint_info

    problem = checkpoint_loads(got)
    if problem:
        return problem
    a, b = checkpoint_info(ref), checkpoint_info(got)
    if (a.paradigm, a.config) != (b.paradigm, b.config):
        return f"paradigm or config differ ({b.paradigm} vs the reference's {a.paradigm})"
    if got.name == "latest.pt" and a.step != b.step:
        return f"ends at step {b.step}, the uninterrupted run at {a.step}"
    return None


# ---------------------------------------------------------------------------------------------
# Scenarios of the kill trials
# ---------------------------------------------------------------------------------------------
@dataclasses.dataclass(frozen=True)
class Scenario:
    """One command under the kill trials.

    :param name: short name (``--only``). :param label: the command as a user types it (table row).
    :param argv: the command line, run in the run's folder; it writes into ``out/`` there.
    :param resume: extra arguments of the rerun, given the run's folder (the trainers' resume flags), or None.
    :param compare: ``(reference file, file) -> None | reason`` for a finished run's files.
    :param at_kill: ``(reference file, file) -> None | reason`` for a file seen right after a kill.
    :param unit: the unit of work a file belongs to, by its path relative to ``out/`` (default: itself).
    :param marker: whether a file marks its unit finished (default: every file does).
    :param training: a trainer: the rerun must resume at ``latest.pt``'s step counter.
    """

    name: str
    label: str
    argv: list[str]
    resume: Callable[[Path], list[str]] | None = None
    compare: Callable[[Path, Path], str | None] = same_file
    at_kill: Callable[[Path, Path], str | None] = same_file
    unit: Callable[[str], str] = lambda rel: rel  # noqa: E731
    marker: Callable[[str], bool] = lambda rel: True  # noqa: E731
    training: bool = False
    exclude: tuple[str, ...] = ()


def _resume_flag(flag: str) -> Callable[[Path], list[str]]:
    def extra(run_dir: Path) -> list[str]:
        return [flag, "out/latest.pt"] if (run_dir / "out" / "latest.pt").is_file() else []

    return extra


def _training_compare(kind: str) -> Callable[[Path, Path], str | None]:
    def compare(ref: Path, got: Path) -> str | None:
        if got.suffix == ".json":
            return same_json(ref, got)
        return same_pointer_checkpoint(ref, got) if kind == "pointer" else same_agent_checkpoint(ref, got)

    return compare


def _training_at_kill(ref: Path, got: Path) -> str | None:
    return same_json(ref, got) if got.suffix == ".json" else checkpoint_loads(got)


def _align_unit(rel: str) -> str:
    return re.sub(r"_(pointers\.npy|ops\.npy|labels\.json|alignment\.png|info\.json)$", "", rel)


SCENARIOS: dict[str, Scenario] = {
    s.name: s
    for s in (
        Scenario(
            "precache",
            "musicedit precache",
            [*MUSICEDIT, "precache", "--data-dir", f"{FIXTURE}/training_data", "--cache-dir", "out"],
        ),
        Scenario(
            "synth",
            "musicedit synth",
            [*MUSICEDIT, "synth", "--n", "3", "--seed", "1", "--min-duration", "20", "--max-duration", "26"]
            + ["--out", "out"],
        ),
        Scenario("jams", "musicedit jams", [*MUSICEDIT, "jams", "--tracks", f"{FIXTURE}/tracks", "--out", "out"]),
        Scenario(
            "align",
            "musicedit align --data-dir",
            [*MUSICEDIT, "align", "--data-dir", f"{FIXTURE}/training_data", "--out", "out/aligned", "--no-progress"],
            unit=_align_unit,
            marker=lambda rel: rel.endswith("_info.json"),
        ),
        Scenario(
            "ppo",
            "python -m policies.train",
            [PY, "-m", "policies.train", "--config", str(REPO / "configs" / "ppo_tiny.json")]
            + ["--data-dir", f"{FIXTURE}/training_data", "--cache-dir", f"{FIXTURE}/cache", "--save-dir", "out"]
            + ["--no-progress"],
            resume=_resume_flag("--checkpoint"),
            compare=_training_compare("ppo"),
            at_kill=_training_at_kill,
            unit=lambda rel: "checkpoints",
            marker=lambda rel: rel == "latest.pt",
            training=True,
            exclude=("tb",),
        ),
        Scenario(
            "pointer",
            "python -m pointer_baseline.trainers.pointer_trainer",
            [
                PY,
                "-m",
                "pointer_baseline.trainers.pointer_trainer",
                "--config",
                str(REPO / "configs" / "pointer_tiny.json"),
            ]
            + ["--cache-dir", f"{FIXTURE}/cache", "--pointer-dir", f"{FIXTURE}/training_data/pointer_sequences"]
            + ["--save-dir", "out", "--epochs", "6", "--no-progress"],
            resume=_resume_flag("--resume"),
            compare=_training_compare("pointer"),
            at_kill=_training_at_kill,
            unit=lambda rel: "checkpoints",
            marker=lambda rel: rel == "latest.pt",
            training=True,
            exclude=("tb",),
        ),
    )
}


# ---------------------------------------------------------------------------------------------
# Running
# ---------------------------------------------------------------------------------------------
def scan(root: Path, exclude: tuple[str, ...] = ()) -> tuple[dict[str, Path], list[Path]]:
    """``({relative path: file} of final names, [hidden temporary files])`` under ``root``."""
    finals: dict[str, Path] = {}
    temps: list[Path] = []
    if not root.is_dir():
        return finals, temps
    for path in sorted(root.rglob("*")):
        rel = path.relative_to(root)
        if rel.parts[0] in exclude or not path.is_file():
            continue
        if TEMP.match(path.name):
            temps.append(path)
        else:
            finals[rel.as_posix()] = path
    return finals, temps


def start(argv: list[str], run_dir: Path, log_name: str) -> subprocess.Popen:
    """``argv`` in ``run_dir``, in a new process group, its output into ``run_dir/<log_name>.log``."""
    run_dir.mkdir(parents=True, exist_ok=True)
    log = open(run_dir / f"{log_name}.log", "wb")  # noqa: SIM115  (closed when the process is reaped)
    env = {**os.environ, "PYTHONPATH": str(REPO), "PYTHONFAULTHANDLER": "1"}
    proc = subprocess.Popen(argv, cwd=run_dir, stdout=log, stderr=subprocess.STDOUT, start_new_session=True, env=env)
    proc.log = log  # type: ignore[attr-defined]
    return proc


def finish(proc: subprocess.Popen, timeout: float) -> int | None:
    """Wait for ``proc``; kill its group at ``timeout`` (returns None then)."""
    try:
        code = proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        kill_group(proc)
        code = None
    proc.log.close()  # type: ignore[attr-defined]
    return code


def kill_group(proc: subprocess.Popen) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()


def reference_run(scenario: Scenario, folder: Path, timeout: float) -> tuple[Path, float, float]:
    """The uninterrupted run: ``(its out/ folder, seconds to its first output file, seconds in all)``."""
    run_dir = folder / "reference"
    shutil.rmtree(run_dir, ignore_errors=True)
    started = time.perf_counter()
    proc = start(scenario.argv, run_dir, "run")
    first = None
    while proc.poll() is None and time.perf_counter() - started < timeout:
        if first is None and any(p.is_file() for p in (run_dir / "out").rglob("*")):
            first = time.perf_counter() - started
        time.sleep(0.02)
    code = finish(proc, max(timeout - (time.perf_counter() - started), 1.0))
    total = time.perf_counter() - started
    if code != 0:
        log = (run_dir / "run.log").read_text(errors="replace")[-2000:]
        raise RuntimeError(f"the reference run of {scenario.label} failed (exit {code}):\n{log}")
    return run_dir / "out", (first if first is not None else total), total


@dataclasses.dataclass
class Trial:
    """What one kill and its rerun gave (see :func:`kill_trial`)."""

    kill_at_s: float
    killed_mid_run: bool
    visible: int = 0
    corrupt_visible: list[str] = dataclasses.field(default_factory=list)
    temps_after_kill: int = 0
    rerun_code: int | None = None
    redone: list[str] = dataclasses.field(default_factory=list)
    differ: list[str] = dataclasses.field(default_factory=list)
    temps_after_rerun: int = 0
    saved_step: int | None = None
    resumed_step: int | None = None

    @property
    def ok(self) -> bool:
        resumed_ok = self.saved_step is None or self.saved_step == self.resumed_step
        return (
            not self.corrupt_visible
            and self.rerun_code == 0
            and not self.redone
            and not self.differ
            and not self.temps_after_rerun
            and resumed_ok
        )


RESUMED = re.compile(r"Resumed from \S+ (?:at step (\d+)|after epoch \d+ \(step (\d+)\))")


def kill_trial(scenario: Scenario, run_dir: Path, reference: Path, kill_at: float, timeout: float) -> Trial:
    """Start the command, ``SIGKILL`` its process group after ``kill_at`` seconds, check, rerun, check."""
    from editor_env.checkpoints import checkpoint_info

    shutil.rmtree(run_dir, ignore_errors=True)
    proc = start(scenario.argv, run_dir, "killed")
    deadline = time.perf_counter() + kill_at
    while proc.poll() is None and time.perf_counter() < deadline:
        time.sleep(0.01)
    mid_run = proc.poll() is None
    if mid_run:
        kill_group(proc)
    finish(proc, timeout)
    trial = Trial(round(kill_at, 2), mid_run)

    out = run_dir / "out"
    finals, temps = scan(out, scenario.exclude)
    trial.visible, trial.temps_after_kill = len(finals), len(temps)
    for rel, path in finals.items():
        problem = scenario.at_kill(reference / rel, path) if (reference / rel).is_file() else "not in the reference"
        if problem:
            trial.corrupt_visible.append(f"{rel}: {problem}")
    finished_units = {scenario.unit(rel) for rel in finals if scenario.marker(rel)}
    kept = {
        rel: (p.stat().st_ino, p.stat().st_mtime_ns)
        for rel, p in finals.items()
        if scenario.unit(rel) in finished_units
    }
    if scenario.training:
        kept = {}  # a trainer rewrites its checkpoints as it goes on; what counts is where it resumes
        if (out / "latest.pt").is_file() and not trial.corrupt_visible:
            trial.saved_step = checkpoint_info(out / "latest.pt").step

    argv = scenario.argv + (scenario.resume(run_dir) if scenario.resume else [])
    trial.rerun_code = finish(start(argv, run_dir, "rerun"), timeout)
    rerun_log = (run_dir / "rerun.log").read_text(errors="replace")
    if trial.saved_step is not None:
        match = RESUMED.search(rerun_log)
        trial.resumed_step = int(match.group(1) or match.group(2)) if match else None
    finals, temps = scan(out, scenario.exclude)
    trial.temps_after_rerun = len(temps)
    for rel, (ino, mtime) in kept.items():
        path = out / rel
        if not path.is_file() or (path.stat().st_ino, path.stat().st_mtime_ns) != (ino, mtime):
            trial.redone.append(rel)
    ref_files, _ = scan(reference, scenario.exclude)
    for rel in sorted(set(ref_files) | set(finals)):
        if rel not in finals or rel not in ref_files:
            trial.differ.append(f"{rel}: {'missing' if rel not in finals else 'extra'}")
            continue
        problem = scenario.compare(ref_files[rel], finals[rel])
        if problem:
            trial.differ.append(f"{rel}: {problem}")
    if trial.rerun_code != 0:
        trial.differ.append(f"rerun exit {trial.rerun_code}: {rerun_log.strip().splitlines()[-1:] or ''}")
    return trial


@dataclasses.dataclass
class ScenarioResult:
    name: str
    label: str
    reference_s: float
    trials: list[Trial]

    def row(self) -> list[str]:
        t = self.trials
        resumed = [x for x in t if x.saved_step is not None]
        return [
            f"`{self.label}`",
            str(len(t)),
            str(sum(x.killed_mid_run for x in t)),
            str(sum(x.visible for x in t)),
            str(sum(len(x.corrupt_visible) for x in t)),
            str(sum(x.temps_after_kill for x in t)),
            f"{sum(x.rerun_code == 0 for x in t)}/{len(t)}",
            str(sum(len(x.redone) for x in t)),
            str(sum(bool(x.differ) for x in t)),
            str(sum(x.temps_after_rerun for x in t)),
            f"{sum(x.saved_step == x.resumed_step for x in resumed)}/{len(resumed)}"
            if self.name in ("ppo", "pointer")
            else "-",
        ]

    @property
    def ok(self) -> bool:
        return all(x.ok for x in self.trials)


KILL_HEAD = [
    "command",
    "trials",
    "killed mid-run",
    "files visible after the kill",
    "half-written or corrupt visible",
    "temp files left by the kill",
    "reruns finished",
    "finished files redone",
    "reruns differing from uninterrupted",
    "temp files after the rerun",
    "resumed at the saved step",
]


KILL_LEGEND = (
    "Each trial: SIGKILL to the command's process group at a random moment (uniform between 0.8 of the uninterrupted "
    "run's time to its first output file and its end; *killed mid-run* counts those that landed before it exited), "
    "then the same command again (trainers: with --checkpoint / --resume of latest.pt when there is one). *Files "
    "visible*: final names present after the kill, each checked complete (equal to the uninterrupted run's; a "
    "checkpoint: loads). *Finished files redone*: files complete at the kill that the rerun rewrote. *Reruns "
    "differing*: reruns whose files are not those of the uninterrupted run (pointer trainer: equal weights, optimizer "
    "state, epoch, step, metrics; PPO: same config and final step, every checkpoint loads). *Resumed at the saved "
    "step*: trainer reruns that started at the step counter of the latest.pt the kill left."
)


def run_kill_trials(
    scenario: Scenario, folder: Path, trials: int, rng: np.random.Generator, *, progress: bool = True
) -> ScenarioResult:
    """The reference run and ``trials`` kill trials of ``scenario`` in ``folder``."""
    timeout = 600.0
    reference, first_s, total_s = reference_run(scenario, folder, timeout)
    timeout = max(10 * total_s, 120.0)
    results = []
    for k in range(trials):
        kill_at = float(rng.uniform(0.8 * first_s, total_s))
        trial = kill_trial(scenario, folder / f"trial_{k:02d}", reference, kill_at, timeout)
        results.append(trial)
        if progress:
            state = "ok" if trial.ok else f"FAILED {trial.corrupt_visible + trial.differ + trial.redone}"
            step = f", resumed at {trial.resumed_step}/{trial.saved_step}" if trial.saved_step is not None else ""
            print(
                f"  {scenario.name} trial {k + 1}/{trials}: kill at {kill_at:.1f} s of {total_s:.1f} "
                f"({'mid-run' if trial.killed_mid_run else 'after it ended'}), {trial.visible} file(s) visible, "
                f"{trial.temps_after_kill} temp{step}: {state}",
                flush=True,
            )
        if trial.ok:
            shutil.rmtree(folder / f"trial_{k:02d}", ignore_errors=True)  # keep only failures to inspect
    return ScenarioResult(scenario.name, scenario.label, round(total_s, 1), results)


# ---------------------------------------------------------------------------------------------
# Other faults: two at once, a full disk, a read-only folder
# ---------------------------------------------------------------------------------------------
@dataclasses.dataclass
class FaultResult:
    """One fault case: the checks (name -> passed), the setting it ran in, the first error line it printed."""

    fault: str
    command: str
    checks: dict[str, bool]
    setting: str = ""
    error: str = ""
    skipped: str = ""

    @property
    def ok(self) -> bool:
        return bool(self.skipped) or all(self.checks.values())

    def row(self) -> list[str]:
        if self.skipped:
            return [self.fault, f"`{self.command}`", "skipped", self.skipped, ""]
        failed = [k for k, v in self.checks.items() if not v]
        passed = f"{len(self.checks) - len(failed)}/{len(self.checks)}"
        if failed:
            passed += f" (failed: {', '.join(failed)})"
        error = self.error if len(self.error) <= 150 else self.error[:147] + "..."
        return [self.fault, f"`{self.command}`", passed, self.setting, error.replace("|", "/")]


FAULT_HEAD = ["fault", "command", "checks passed", "setting", "first error line"]


def fault_legend(results: list[FaultResult]) -> str:
    """The checks of each fault kind, in words, for below the table."""
    seen: dict[str, list[str]] = {}
    for r in results:
        seen.setdefault(r.fault, [])
        seen[r.fault] += [c for c in r.checks if c not in seen[r.fault]]
    return "\n".join(f"- {fault}: {'; '.join(checks)}." for fault, checks in seen.items() if checks)


def run_command(
    argv: list[str], run_dir: Path, log_name: str, timeout: float = 600.0, prefix=()
) -> tuple[int | None, str]:
    code = finish(start([*prefix, *argv], run_dir, log_name), timeout)
    return code, (run_dir / f"{log_name}.log").read_text(errors="replace")


def error_text(log: str) -> list[str]:
    return [ln.split("\r")[-1].strip() for ln in log.splitlines() if re.search(r"error:|FAILED ", ln.split("\r")[-1])]


def compare_tree(reference: Path, root: Path, *, complete: bool) -> list[str]:
    """Problems of ``root`` against ``reference``: files that differ, and with ``complete`` missing ones."""
    ref_files, _ = scan(reference)
    finals, _ = scan(root)
    problems = [f"{rel}: {same_file(ref_files[rel], p) or ''}" for rel, p in finals.items() if rel not in ref_files]
    problems += [
        f"{rel}: {why}" for rel, p in finals.items() if rel in ref_files and (why := same_file(ref_files[rel], p))
    ]
    if complete:
        problems += [f"{rel}: missing" for rel in ref_files if rel not in finals]
    return problems


def concurrent_precache(folder: Path, reference: Path, trials: int) -> list[FaultResult]:
    """Two ``musicedit precache`` processes at once on the same data and cache, ``trials`` times."""
    results = []
    argv = SCENARIOS["precache"].argv
    for k in range(trials):
        run_dir = folder / f"concurrent_{k:02d}"
        shutil.rmtree(run_dir, ignore_errors=True)
        procs = [start(argv, run_dir, f"process_{i}") for i in range(2)]
        codes = [finish(p, 600.0) for p in procs]
        problems = compare_tree(reference, run_dir / "out", complete=True)
        temps = scan(run_dir / "out")[1]
        results.append(
            FaultResult(
                "two at once",
                "musicedit precache",
                {
                    "both exit 0": codes == [0, 0],
                    "cache equals one process's": not problems,
                    "no temp files": not temps,
                },
                setting="two processes, same data and cache",
                error="; ".join(problems[:3]),
            )
        )
        if results[-1].ok:
            shutil.rmtree(run_dir, ignore_errors=True)
    return results


@contextlib.contextmanager
def small_disk(folder: Path, size_kb: int):
    """A file system of ``size_kb`` kB mounted at ``folder``: yields ``(how, grow(size_kb))`` or raises
    ``RuntimeError`` with the reason none could be made."""
    folder.mkdir(parents=True, exist_ok=True)
    reasons = []
    tried = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size_kb}k,mode=0755", "tmpfs", str(folder)],
        capture_output=True,
        text=True,
    )
    if tried.returncode == 0:

        def grow(kb: int) -> None:
            subprocess.run(["mount", "-o", f"remount,size={kb}k", str(folder)], check=True, capture_output=True)

        try:
            yield f"tmpfs of {size_kb} kB", grow
        finally:
            subprocess.run(["umount", "-l", str(folder)], capture_output=True)
        return
    reasons.append(f"mount -t tmpfs: {tried.stderr.strip() or tried.returncode}")
    image = folder.with_suffix(".img")
    try:
        subprocess.run(["truncate", "-s", f"{max(size_kb, 1024)}k", str(image)], check=True, capture_output=True)
        subprocess.run(["mkfs.ext4", "-q", "-F", str(image)], check=True, capture_output=True)
        subprocess.run(["mount", "-o", "loop", str(image), str(folder)], check=True, capture_output=True, text=True)
    except (subprocess.CalledProcessError, FileNotFoundError) as exc:
        reasons.append(f"loop-mounted ext4: {getattr(exc, 'stderr', '') or exc}")
        raise RuntimeError("; ".join(str(r).strip() for r in reasons)) from exc

    def grow_loop(kb: int) -> None:
        subprocess.run(["truncate", "-s", f"{kb}k", str(image)], check=True, capture_output=True)
        subprocess.run(["resize2fs", str(image)], capture_output=True)

    try:
        yield f"loop-mounted ext4 of {max(size_kb, 1024)} kB", grow_loop
    finally:
        subprocess.run(["umount", "-l", str(folder)], capture_output=True)
        image.unlink(missing_ok=True)


def full_disk(folder: Path, fixture: Path, references: dict[str, Path]) -> list[FaultResult]:
    """``precache`` and ``synth`` into a nearly full file system (then grown, rerun), and ``edit`` into one."""
    results = []
    cases = [
        ("precache", SCENARIOS["precache"].argv, 1000, references.get("precache")),
        ("synth", SCENARIOS["synth"].argv, 1500, references.get("synth")),
        (
            "edit",
            [*MUSICEDIT, "edit", f"{FIXTURE}/training_data/input/synth_0000_raw.wav", "-o", "out/edited.wav"],
            64,
            None,
        ),
    ]
    for name, argv, size_kb, reference in cases:
        run_dir = folder / f"full_{name}"
        shutil.rmtree(run_dir, ignore_errors=True)
        run_dir.mkdir(parents=True)
        label = name
        try:
            with small_disk(run_dir / "out", size_kb) as (how, grow):
                code, log = run_command(argv, run_dir, "full")
                errors = error_text(log)
                checks = {
                    "fails": code not in (0, None),
                    "no traceback": "Traceback" not in log,
                    "error names the folder": bool(errors) and all("no space left in out" in e for e in errors),
                }
                finals, temps = scan(run_dir / "out")
                if reference is not None:
                    checks["no corrupt file left"] = not compare_tree(reference, run_dir / "out", complete=False)
                else:
                    checks["no output file left"] = not finals
                checks["no temp file left"] = not temps
                setting = f"{how}; {len(finals)} finished file(s) kept"
                if reference is not None:
                    grow(64 * 1024)
                    code, log = run_command(argv, run_dir, "after_growing")
                    checks["rerun after freeing space equals the reference"] = code == 0 and not compare_tree(
                        reference, run_dir / "out", complete=True
                    )
                results.append(
                    FaultResult("full disk", f"musicedit {label}", checks, setting, errors[0] if errors else "")
                )
        except RuntimeError as exc:
            results.append(FaultResult("full disk", f"musicedit {label}", {}, skipped=f"no small file system: {exc}"))
    return results


def unprivileged_prefix(probe_dir: Path) -> tuple[list[str], str] | tuple[None, str]:
    """The command prefix that runs this interpreter as an unprivileged process, and what it is."""
    attempts = [
        (["runuser", "-u", "nobody", "--"], "user nobody (runuser)"),
        (
            ["setpriv", "--bounding-set=-all", "--inh-caps=-all", "--no-new-privs", "--"],
            "root without capabilities (setpriv)",
        ),
    ]
    reasons = []
    for prefix, what in attempts:
        try:
            tried = subprocess.run(
                [*prefix, PY, "-c", "import editor_env"],
                cwd=probe_dir,
                capture_output=True,
                text=True,
                timeout=120,
                env={**os.environ, "PYTHONPATH": str(REPO)},
            )
        except (FileNotFoundError, subprocess.TimeoutExpired) as exc:
            reasons.append(f"{what}: {exc}")
            continue
        if tried.returncode == 0:
            return prefix, what
        reasons.append(f"{what}: {(tried.stderr.strip().splitlines() or ['exit ' + str(tried.returncode)])[-1]}")
    return None, "; ".join(reasons)


def read_only(folder: Path) -> list[FaultResult]:
    """``edit``, ``precache`` and ``synth`` into a 0555 folder as an unprivileged process."""
    run_dir = folder / "read_only"
    shutil.rmtree(run_dir, ignore_errors=True)
    (run_dir / "out").mkdir(parents=True)
    for p in (run_dir, *run_dir.parents):  # the unprivileged process must reach the fixture and the logs
        if p == Path(p.anchor) or p == REPO.parent:
            break
        with contextlib.suppress(OSError):
            p.chmod(p.stat().st_mode | 0o755)
    (run_dir / "logs").mkdir()
    (run_dir / "logs").chmod(0o777)
    prefix, what = unprivileged_prefix(run_dir)
    cases = [
        ("edit", [*MUSICEDIT, "edit", f"{FIXTURE}/training_data/input/synth_0000_raw.wav", "-o", "out/edited.wav"]),
        ("precache", SCENARIOS["precache"].argv),
        ("synth", SCENARIOS["synth"].argv),
    ]
    results = []
    if prefix is None:
        return [
            FaultResult("read-only folder", f"musicedit {n}", {}, skipped=f"no unprivileged user: {what}")
            for n, _ in cases
        ]
    (run_dir / "out").chmod(0o555)
    for name, argv in cases:
        code, log = run_command(argv, run_dir, f"logs/{name}", prefix=prefix)
        errors = error_text(log)
        checks = {
            "fails": code not in (0, None),
            "no traceback": "Traceback" not in log,
            "error names the folder": bool(errors) and all("folder out" in e and "not writable" in e for e in errors),
            "nothing written": not any((run_dir / "out").iterdir()),
        }
        results.append(
            FaultResult(
                "read-only folder",
                f"musicedit {name}",
                checks,
                f"0555 folder, as {what}",
                errors[0] if errors else "",
            )
        )
    (run_dir / "out").chmod(0o755)
    return results


# ---------------------------------------------------------------------------------------------
# The drill
# ---------------------------------------------------------------------------------------------
def markdown(head: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(lines)


@dataclasses.dataclass
class DrillResult:
    kills: list[ScenarioResult]
    faults: list[FaultResult]
    seconds: float

    @property
    def ok(self) -> bool:
        return all(s.ok for s in self.kills) and all(f.ok for f in self.faults)

    def tables(self) -> str:
        parts = []
        if self.kills:
            parts.append(markdown(KILL_HEAD, [s.row() for s in self.kills]))
            parts.append(KILL_LEGEND)
        if self.faults:
            parts.append(markdown(FAULT_HEAD, [f.row() for f in self.faults]))
            parts.append("Checks:\n\n" + fault_legend(self.faults))
        return "\n\n".join(parts)


def drill(
    out: Path,
    trials: dict[str, int],
    *,
    concurrent: int = 3,
    faults: tuple[str, ...] = ("full_disk", "read_only"),
    seed: int = 0,
    n_pairs: int = 3,
    progress: bool = True,
) -> DrillResult:
    """Run the kill trials (``{scenario: trials}``), ``concurrent`` two-at-once precaches and the named faults
    on a fixture of ``n_pairs`` generated pairs."""
    started = time.perf_counter()
    out.mkdir(parents=True, exist_ok=True)
    fixture = make_fixture(out, n_pairs=n_pairs)
    rng = np.random.default_rng(seed)
    kills, results, references = [], [], {}
    for name, n in trials.items():
        if progress:
            print(f"{SCENARIOS[name].label}: reference run and {n} kill trial(s)", flush=True)
        result = run_kill_trials(SCENARIOS[name], out / name, n, rng, progress=progress)
        kills.append(result)
        references[name] = out / name / "reference" / "out"
    need = ({"precache"} if concurrent else set()) | ({"precache", "synth"} if "full_disk" in faults else set())
    for name in sorted(need - set(references)):
        references[name] = reference_run(SCENARIOS[name], out / name, 600.0)[0]
    if concurrent:
        results += concurrent_precache(out / "faults", references["precache"], concurrent)
    if "full_disk" in faults:
        results += full_disk(out / "faults", fixture, references)
    if "read_only" in faults:
        results += read_only(out / "faults")
    return DrillResult(kills, results, time.perf_counter() - started)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--trials", type=int, default=20, help="kill trials per command (default 20)")
    parser.add_argument("--quick", action="store_true", help="3 kill trials per command, one two-at-once run")
    parser.add_argument("--seed", type=int, default=0, help="seeds the kill moments")
    parser.add_argument("--out", type=Path, default=Path("bench_output/fault_drill"))
    parser.add_argument(
        "--only",
        default=None,
        help=f"comma-separated: {', '.join(SCENARIOS)}, concurrent, full_disk, read_only (default: all)",
    )
    args = parser.parse_args(argv)
    wanted = set(args.only.split(",")) if args.only else {*SCENARIOS, "concurrent", "full_disk", "read_only"}
    unknown = wanted - {*SCENARIOS, "concurrent", "full_disk", "read_only"}
    if unknown:
        parser.error(f"--only: unknown {sorted(unknown)}")
    n = 3 if args.quick else args.trials
    args.out = args.out.resolve()
    for name in [*SCENARIOS, "faults"]:
        shutil.rmtree(args.out / name, ignore_errors=True)
    result = drill(
        args.out,
        {name: n for name in SCENARIOS if name in wanted},
        concurrent=(1 if args.quick else 3) if "concurrent" in wanted else 0,
        faults=tuple(f for f in ("full_disk", "read_only") if f in wanted),
        seed=args.seed,
    )
    command = "python scripts/fault_drill.py " + " ".join(argv if argv is not None else sys.argv[1:])
    text = f"`{command.strip()}` ({result.seconds / 60:.1f} min)\n\n{result.tables()}\n"
    from editor_env.io import atomic_write_text

    atomic_write_text(args.out / "fault_drill.md", text)
    atomic_write_text(
        args.out / "fault_drill.json",
        json.dumps(
            {
                "command": command,
                "seconds": result.seconds,
                "kills": [dataclasses.asdict(s) for s in result.kills],
                "faults": [dataclasses.asdict(f) for f in result.faults],
            },
            indent=1,
            default=str,
        )
        + "\n",
    )
    print()
    print(text)
    print(f"{'All checks passed' if result.ok else 'SOME CHECKS FAILED'}; tables in {args.out / 'fault_drill.md'}")
    return 0 if result.ok else 1


if __name__ == "__main__":
    sys.exit(main())

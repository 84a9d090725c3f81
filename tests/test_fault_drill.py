"""A small fault drill and fuzzed input set in the suite (issue 34): ``scripts/fault_drill.py`` with 3 kills of
``musicedit precache`` and 1 of the pointer trainer, and 20 files of ``scripts/fuzz_inputs.py`` (run in this
process; the full runs, with crash and hang checks, are in docs/reliability.md)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def _script(name: str):
    spec = importlib.util.spec_from_file_location(name, REPO / "scripts" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # its dataclasses look their module up
    spec.loader.exec_module(module)
    return module


@pytest.mark.usefixtures("one_torch_thread")
def test_a_small_fault_drill_loses_and_corrupts_nothing(tmp_path):
    fault_drill = _script("fault_drill")
    result = fault_drill.drill(
        tmp_path, {"precache": 3, "pointer": 1}, concurrent=0, faults=(), seed=1, n_pairs=2, progress=False
    )
    assert [len(s.trials) for s in result.kills] == [3, 1]
    problems = {
        s.name: [
            (t.corrupt_visible, t.redone, t.differ, t.temps_after_rerun, t.saved_step, t.resumed_step) for t in s.trials
        ]
        for s in result.kills
    }
    assert result.ok, problems
    assert "| `musicedit precache` | 3 |" in result.tables()


def test_twenty_fuzzed_files_give_a_result_or_a_clear_error(tmp_path):
    fuzz_inputs = _script("fuzz_inputs")
    cases = fuzz_inputs.run_fuzz(tmp_path, 20, seed=3, in_process=True, policy="retarget", progress=False)
    assert {c.kind for c in cases} == set(fuzz_inputs.DAMAGES)
    bad = {
        c.name: (c.detail, c.outcomes, c.messages)
        for c in cases
        if c.input_changed or set(c.outcomes.values()) - {"result", "clear error"}
    }
    assert not bad, bad
    counts = fuzz_inputs.summary(cases)
    assert counts["files"] == 20 and counts["edit:result"] + counts["edit:clear error"] == 20

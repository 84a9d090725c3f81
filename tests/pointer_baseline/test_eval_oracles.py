"""scripts/eval_pointer.py's bounds on the frame figures: the seam-phase and in-order oracles."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np

from editor_env.edl import EditList, Segment

REPO = Path(__file__).resolve().parents[2]
HOP = 512


def eval_pointer():
    spec = importlib.util.spec_from_file_location("eval_pointer", REPO / "scripts" / "eval_pointer.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_seam_phase_oracle_is_the_reference_when_seams_fall_on_frames_and_one_frame_off_otherwise():
    module = eval_pointer()
    on_frames = EditList(22050, 400 * HOP, [Segment(10 * HOP, 60 * HOP), Segment(200 * HOP, 260 * HOP)])
    reference = on_frames.to_pointers()
    np.testing.assert_array_equal(module.seam_phase_pointers(on_frames, reference.size, HOP), reference)

    # the second segment starts 300 samples into an output frame: the reference rounds by that phase
    off = EditList(22050, 400 * HOP, [Segment(10 * HOP, 60 * HOP + 300), Segment(200 * HOP + 100, 260 * HOP)])
    reference = off.to_pointers()
    phase_free = module.seam_phase_pointers(off, reference.size, HOP)
    first = 51  # the first output frame of the second segment
    np.testing.assert_array_equal(phase_free[:first], reference[:first])
    assert np.abs(phase_free - reference).max() == 1 and (phase_free[first:] != reference[first:]).all()
    exact, within5 = module.frame_scores(phase_free, reference)
    assert exact == first / reference.size and within5 == 1.0


def test_in_order_oracle_misses_a_moved_section(tmp_path):
    module = eval_pointer()
    reference = np.concatenate([np.arange(0, 10), np.arange(30, 40), np.arange(10, 20)])  # section 30-40 moved
    figures = module.oracles(tmp_path, "none", reference)
    assert figures["inorder_exact"] == 10 / 30 and figures["phase_exact"] is None and figures["determined"] is None

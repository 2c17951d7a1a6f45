"""bench/capture_check.py: what it counts as breaking a whole-step graph, on synthetic launch
logs, and a run over today's step along the CUDA code path (the interpreter)."""
import os
import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parent / "capture_check.py"


def _hazards():
    import capture_check                          # bench/ is on the path (bench/conftest.py)
    return capture_check.hazards


def test_same_arguments_are_safe_and_any_change_is_named():
    hazards = _hazards()
    step = [("triton::_fwd", [None, 64, 0.2], {"grid": "<function>"}),
            ("aten::_fused_adam_", [None], {"lr": 4e-4})]
    assert hazards(step, list(step)) == []
    moved = [("triton::_fwd", [None, 64, 0.2], {"grid": "<function>"}),
             ("aten::_fused_adam_", [None], {"lr": 3e-4})]
    found = hazards(step, moved)
    assert [(h["kind"], h["what"]) for h in found] == [("frozen", "aten::_fused_adam_")]
    assert "lr: 0.0004 -> 0.0003" in found[0]["detail"]


def test_host_syncs_and_a_changed_sequence_are_named():
    hazards = _hazards()
    a = [("aten::_local_scalar_dense", [None], {}), ("triton::_fwd", [None], {})]
    b = [("aten::_local_scalar_dense", [None], {}), ("triton::_dx", [None], {})]
    kinds = sorted(h["kind"] for h in hazards(a, b))
    assert kinds == ["host", "sequence"]


def test_todays_step_reports_only_what_is_left():
    """The default step is capture-safe (its draws, minibatches and average come from device
    counters); with a schedule and instance noise, Adam's host learning rate and the noise's
    host-made scale are named (issue 35's rest), and the check exits 1."""
    r = subprocess.run([sys.executable, str(SCRIPT)], capture_output=True, text=True,
                       env=dict(os.environ, TRITON_INTERPRET="1"), timeout=600)
    assert r.returncode == 1, r.stderr[-2000:]
    default, scheduled = r.stdout.split("with --lr-schedule")
    assert "0 would break a whole-step graph" in default
    for what in ("aten::_fused_adam_", "aten::lift_fresh"):
        assert what in scheduled, what

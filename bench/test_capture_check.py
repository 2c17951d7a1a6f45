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


def test_todays_step_is_capture_safe_with_a_schedule_and_noise_too():
    """The default step is capture-safe (its draws, minibatches and average come from device
    counters), and so is one with a learning-rate schedule and instance noise (their numbers
    read on the device: fastgan.schedules.DeviceSchedule); the check exits 0."""
    r = subprocess.run([sys.executable, str(SCRIPT)], capture_output=True, text=True,
                       env=dict(os.environ, TRITON_INTERPRET="1"), timeout=600)
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-2000:]
    default, scheduled = r.stdout.split("with --lr-schedule")
    for part in (default, scheduled):
        assert "0 would break a whole-step graph" in part, part

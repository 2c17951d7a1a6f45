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


def test_todays_step_reports_its_host_numbers():
    """Today the step's draw numbers, minibatch offsets and the average's weight are host
    numbers (issue 35): the check names them and exits 1."""
    r = subprocess.run([sys.executable, str(SCRIPT)], capture_output=True, text=True,
                       env=dict(os.environ, TRITON_INTERPRET="1"), timeout=600)
    assert r.returncode == 1, r.stderr[-2000:]
    for what in ("triton::_bits_kernel", "triton::_normal_kernel", "aten::slice",
                 "aten::_foreach_lerp_", "aten::_fused_adam_", "aten::lift_fresh"):
        assert what in r.stdout, what

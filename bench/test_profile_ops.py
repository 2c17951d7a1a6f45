"""bench/profile_ops.py runs (on the CPU: tiny shapes, the references, no kernel column)."""
import subprocess
import sys
from pathlib import Path

import profile_ops

SCRIPT = Path(__file__).resolve().parent / "profile_ops.py"


def test_profile_ops_reports_every_case(capsys):
    assert profile_ops.main(["--iters", "2"]) == 0
    out = capsys.readouterr().out
    rows = [line for line in out.splitlines() if line.startswith("| ") and "wall ms" not in line]
    assert len(rows) == 2 * (len(profile_ops.LINEAR) + 1)           # fastgan and eager
    assert all(float(r.split("|")[4]) > 0 for r in rows)              # a wall time each


def test_profile_ops_bad_iters_is_one_line():
    r = subprocess.run([sys.executable, str(SCRIPT), "--iters", "0"], capture_output=True,
                       text=True)
    assert r.returncode == 2 and r.stderr.strip() == "error: --iters must be >= 1, got 0"

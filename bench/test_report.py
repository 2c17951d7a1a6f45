"""The report turns real pytest-benchmark JSON into tables and target checks, and splices them
into a README; train_speed's table checks its targets."""
import subprocess
import sys
from pathlib import Path

import pytest

from common import splice
from report import main as report_main, markdown
from train_speed import table

BENCH = Path(__file__).parent


def test_report_from_a_real_benchmark_run(tmp_path):
    out = tmp_path / "kernels.json"
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-k", "not compile",
         str(BENCH / "test_linear_act.py"), str(BENCH / "test_sigmoid_bce.py"),
         f"--benchmark-json={out}", "--benchmark-min-rounds=2", "--benchmark-max-time=0.001",
         "--benchmark-warmup=off"], capture_output=True, text=True, cwd=BENCH.parent)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    readme = tmp_path / "README.md"
    readme.write_text("intro\n<!-- kernels:start -->\nold\n<!-- kernels:end -->\nrest\n")
    assert report_main([str(out), "--readme", str(readme)]) == 0
    md = (tmp_path / "kernels.md").read_text()
    assert "| linear_act | fwd+bwd |" in md and "| sigmoid_bce | fwd+bwd | 128 |" in md
    assert "Yardsticks: " in md and "copy N128" in md and "dense GEMM" in md
    text = readme.read_text()
    assert "old" not in text and md in text and text.startswith("intro") and "rest" in text


def _bench(name, params, median, extra):
    return {"name": name, "params": params, "extra_info": extra,
            "stats": {"median": median}}


def test_targets_are_checked_against_the_yardsticks():
    n = 1 << 24
    data = {"machine_info": {"gpu": "test"}, "datetime": "2026-01-01", "benchmarks": [
        _bench("test_sigmoid_bce[x]", {"n": n, "impl": "fastgan"}, 1.0, {"gb": 8e9}),
        _bench("test_copy_reference[x]", {"n": n}, 1.0, {"gb": 10e9}),
        _bench("test_linear_act[a]", {"mode": "fwd+bwd", "batch": 64, "layer": [100, 256, "tanh"],
                                      "impl": "fastgan"}, 1.0, {"tflop": 1e12}),
        _bench("test_linear_act[b]", {"mode": "fwd+bwd", "batch": 64, "layer": [100, 256, "tanh"],
                                      "impl": "eager"}, 2.0, {"tflop": 1e12})]}
    md = markdown(data)
    assert "| sigmoid_bce fwd+bwd N16M: of copy bandwidth | 0.80 | 0.85 | missed by 6% |" in md
    assert "| linear_act fwd+bwd B64 100x256 tanh fp32: x eager | 2.00 | 1.50 | met |" in md


def test_report_bad_json_is_one_line_error(tmp_path, capsys):
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    assert report_main([str(bad)]) == 2
    assert capsys.readouterr().err.startswith("error: cannot read benchmark results")


def test_splice_needs_the_markers(tmp_path):
    readme = tmp_path / "R.md"
    readme.write_text("no markers\n")
    with pytest.raises(SystemExit, match="no <!-- train:start -->"):
        splice(readme, "train", "x")


def test_train_speed_targets(monkeypatch):
    import train_speed
    monkeypatch.setattr(train_speed, "TARGETS", {"eager": 10.0, "compile": 1.5,
                                                 "max-autotune": 1.2})     # the H100's
    rows = [{"batch": 64, "mode": m, "steps_per_s": v}
            for m, v in [("eager", 100.0), ("compile", 500.0), ("max-autotune", 900.0),
                         ("fastgan", 1200.0)]]
    md = table(rows)
    assert "| eager | 12.00x | 10.0x | met |" in md
    assert "| compile | 2.40x | 1.5x | met |" in md
    assert "| max-autotune | 1.33x | 1.2x | met |" in md
    rows[-1]["steps_per_s"] = 600.0
    assert "| eager | 6.00x | 10.0x | missed by 40% |" in table(rows)


def test_train_speed_cpu_target(monkeypatch):
    import train_speed
    monkeypatch.setattr(train_speed, "TARGETS", {"eager": 1.5})              # the CPU's
    rows = [{"batch": 64, "mode": m, "steps_per_s": v}
            for m, v in [("eager", 40.0), ("fastgan", 58.0)]]
    assert "| eager | 1.45x | 1.5x | missed by 3% |" in table(rows)

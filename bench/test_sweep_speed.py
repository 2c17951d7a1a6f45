"""The sweep benchmark executes (tiny); real numbers come from bench/sweep_speed.py run alone."""
from sweep_speed import main


def test_sweep_speed_runs(capsys):
    assert main(["--members", "2", "--scaling", "1", "--steps", "2", "--warmup", "1",
                 "--rounds", "1"]) == 0
    out = capsys.readouterr().out
    assert "| sweep, 1 process, 1 thread |" in out and "vs single runs" in out
    assert "Best sweep configuration here:" in out and "GEMMs" in out

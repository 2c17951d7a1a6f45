"""bench/step_speed.py on the CPU: its modes run the real step and the plain GAN, and its
GEMM list is the default step's 9.93 GFLOP (the floor its profile compares against)."""

import step_speed
from fastgan.config import ModelConfig


def test_step_gemms_are_the_default_steps_flops():
    shapes = step_speed.step_gemms(ModelConfig(), 256, 2)
    assert round(sum(2 * m * n * k for m, n, k in shapes) / 1e9, 2) == 9.93
    assert len(shapes) == 2 * 12 + 17              # per D update 12 products, the G update 17


def test_step_speed_runs_on_the_cpu(capsys):
    assert step_speed.main(["--batches", "8", "--steps", "2", "--warmup", "1"]) == 0
    out = capsys.readouterr().out
    for mode in step_speed.CPU_MODES:
        assert f"batch 8 k 2 {mode}:" in out
    assert "| 8 | 2 | fastgan-eager |" in out

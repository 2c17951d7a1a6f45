"""The end-to-end benchmark executes (tiny on the CPU); real numbers come from running
bench/train_speed.py on a GPU."""
from common import CUDA
from train_speed import main


def test_train_speed_runs(capsys):
    modes = "eager,compile,max-autotune,fastgan" if CUDA else "eager,fastgan"
    assert main(["--batches", "64", "--steps", "3" if not CUDA else "50", "--warmup", "2",
                 "--modes", modes]) == 0
    out = capsys.readouterr().out
    assert "| 64 | fastgan |" in out

"""What a run shows: a tqdm bar on a terminal (rate, ETA, last losses, moving every step), the
estimated run time once the rate is known, plain lines elsewhere."""
import io
import json
import sys

from fastgan.monitor import Monitor


class Tty(io.StringIO):
    def isatty(self):
        return True


def _drive(monitor, steps=30):
    for step in range(1, steps + 1):
        monitor.tick()
        if step % 10 == 0:
            monitor.log({"step": step, "epoch": step / 10, "d_loss": 1.25, "g_loss": 0.75,
                         "d_x": 0.6, "d_g_z": 0.4, "steps_per_s": 50.0, "wall_s": 1.0})
    monitor.close()


def test_terminal_gets_a_bar_with_rate_eta_and_losses(tmp_path, monkeypatch):
    err = Tty()
    monkeypatch.setattr(sys, "stderr", err)
    _drive(Monitor(tmp_path, 100, progress=True, tensorboard=False))
    text = err.getvalue()
    assert "30/100" in text and "step/s" in text and "d_loss=1.25" in text and "<" in text
    assert "50.0 steps/s: about 0.0 min for the remaining 90 steps" in text
    assert len((tmp_path / "metrics.jsonl").read_text().splitlines()) == 3


def test_elsewhere_plain_lines(tmp_path, capsys):
    _drive(Monitor(tmp_path, 100, progress=True, tensorboard=False))
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith("50.0 steps/s: about")
    assert out[1].startswith("step 10/100 epoch 1.0 d_loss=1.25")
    assert json.loads((tmp_path / "metrics.jsonl").read_text().splitlines()[-1])["step"] == 30

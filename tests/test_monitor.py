"""What training shows: a tqdm bar on a terminal (rate, ETA, last losses, moving every step), the
estimated run time once the rate is known, plain lines elsewhere; one line per interval for a
sweep's members; each member's metrics.jsonl."""
import io
import json
import sys

from fastgan.run.log import Log, Progress


class Tty(io.StringIO):
    def isatty(self):
        return True


def _record(step, d_loss=1.25):
    return {"step": step, "epoch": step / 10, "d_loss": d_loss, "g_loss": 0.75, "d_x": 0.6,
            "d_g_z": 0.4, "steps_per_s": 50.0, "wall_s": 1.0}


def _drive(progress, logs, steps=30):
    for step in range(1, steps + 1):
        progress.tick(len(logs))
        if step % 10 == 0:
            records = [_record(step, 1.25 + 0.5 * i) for i in range(len(logs))]
            for log, rec in zip(logs, records):
                log.log(rec)
            progress.show(step, 100, records)
    progress.close()
    for log in logs:
        log.close()


def test_terminal_gets_a_bar_with_rate_eta_and_losses(tmp_path, monkeypatch):
    err = Tty()
    monkeypatch.setattr(sys, "stderr", err)
    _drive(Progress(100, progress=True), [Log(tmp_path, tensorboard=False)])
    text = err.getvalue()
    assert "30/100" in text and "step/s" in text and "d_loss=1.25" in text and "<" in text
    assert "50.0 steps/s: about 0.0 min for the remaining 90 steps" in text
    assert len((tmp_path / "metrics.jsonl").read_text().splitlines()) == 3


def test_elsewhere_plain_lines(tmp_path, capsys):
    _drive(Progress(100, progress=True), [Log(tmp_path, tensorboard=False)])
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith("50.0 steps/s: about")
    assert out[1].startswith("step 10/100 epoch 1.0 d_loss=1.25")
    assert json.loads((tmp_path / "metrics.jsonl").read_text().splitlines()[-1])["step"] == 30


def test_members_share_one_bar_of_member_steps(tmp_path, monkeypatch):
    err = Tty()
    monkeypatch.setattr(sys, "stderr", err)
    logs = [Log(tmp_path / str(i), tensorboard=False) for i in range(3)
            if (tmp_path / str(i)).mkdir() is None]
    _drive(Progress(300, progress=True, unit="member-step"), logs)
    text = err.getvalue()
    assert "90/300" in text and "member-step/s" in text and "3 members" in text
    assert "d_loss 1.25..2.25" in text                      # the span over the members
    assert "150.0 member-steps/s: about 0.0 min for the remaining 270 member-steps" in text
    assert all(len((tmp_path / str(i) / "metrics.jsonl").read_text().splitlines()) == 3
               for i in range(3))


def test_members_elsewhere_one_line_per_interval(tmp_path, capsys):
    logs = [Log(tmp_path / str(i), tensorboard=False) for i in range(2)
            if (tmp_path / str(i)).mkdir() is None]
    _drive(Progress(200, progress=False, unit="member-step"), logs)
    out = capsys.readouterr().out.splitlines()
    assert out[1] == ("step 10/100, 2 members: d_loss 1.25..1.75  g_loss 0.75..0.75  "
                      "d_x 0.6..0.6  d_g_z 0.4..0.4  (100.0 member-steps/s)")
    assert len(out) == 4


def test_resume_drops_records_past_the_checkpoint(tmp_path):
    log = Log(tmp_path, tensorboard=False)
    for step in (10, 20, 30):
        log.log(_record(step))
    log.close()
    again = Log(tmp_path, tensorboard=False, resume_step=20)
    assert [r["step"] for r in again.records] == [10, 20]
    again.close()
    assert len((tmp_path / "metrics.jsonl").read_text().splitlines()) == 2

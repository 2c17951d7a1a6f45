import json
import math

import pytest
import torch

from fastgan.io import checkpoint
from fastgan.io.cli import run
from fastgan.gan import GAN
from fastgan.io.images import read_png_size
from fastgan.run.command import main


def train(tmp_path, name, *flags, data):
    out = tmp_path / name
    rc = run(main, ["--device", "cpu", "--data-dir", str(data), "--out", str(out),
                    "--no-progress", "--no-tensorboard", "--no-eval", *flags])
    return rc, out


SMALL = ["--train-size", "1280", "--batch-size", "64", "--k", "1"]   # 20 steps per epoch


def test_short_run_writes_every_output(tmp_path, mnist_dir):
    rc, out = train(tmp_path, "run", *SMALL, "--steps", "300", "--log-every", "50",
                    "--ckpt-every", "100", data=mnist_dir)
    assert rc == 0
    records = [json.loads(l) for l in (out / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in records][-1] == 300 and len(records) >= 6
    for r in records:
        assert {"step", "epoch", "d_loss", "g_loss", "d_x", "d_g_z", "steps_per_s",
                "wall_s"} <= r.keys()
        assert all(math.isfinite(r[k]) for k in ("d_loss", "g_loss", "d_x", "d_g_z"))
        assert 0 < r["d_x"] < 1 and 0 < r["d_g_z"] < 1
    assert json.loads((out / "config.json").read_text())["steps"] == 300
    assert read_png_size(out / "samples" / "final.png") == (242, 242)     # 8 x (28 + 2) + 2
    assert len(list((out / "samples").glob("epoch_*.png"))) == 15         # 300 / 20 per epoch
    from PIL import Image
    with Image.open(out / "curves.png") as im:          # drawn by matplotlib: axes, legends
        assert im.size == (1100, 380) and "Matplotlib" in im.info.get("Software", "")
    assert oct((out / "curves.png").stat().st_mode & 0o777) != oct(0o600)
    ckpts = checkpoint.list_checkpoints(out)
    assert [p.name for p in ckpts] == ["step_00000100.pt", "step_00000200.pt", "step_00000300.pt"]
    ckpt = checkpoint.load(ckpts[-1])
    assert ckpt["step"] == 300 and ckpt["config"]["batch_size"] == 64
    assert not list(out.rglob("*.tmp"))


def test_a_run_ends_with_its_scores_unless_no_eval(tmp_path, mnist_dir, capsys):
    """The last lines of a run are the averaged G's scores (as fastgan.eval gives them), also
    in summary.json and as the last record of metrics.jsonl; --no-eval skips them."""
    out = tmp_path / "scored"
    assert run(main, ["--device", "cpu", "--data-dir", str(mnist_dir), "--out", str(out),
                      "--no-progress", "--no-tensorboard", *SMALL, "--steps", "30"]) == 0
    printed = capsys.readouterr().out
    assert "scores: classifier FID" in printed and "classes" in printed
    scores = json.loads((out / "summary.json").read_text())["scores"]
    assert all(math.isfinite(scores[k]) for k in ("fid", "is", "confident"))
    assert sum(scores["histogram"]) == 10000 and 1 <= scores["modes"] <= 10
    last = json.loads((out / "metrics.jsonl").read_text().splitlines()[-1])
    assert last["step"] == 30 and last["fid"] == scores["fid"]
    kept = scores["rejection"]                    # and of the samples D keeps (--reject 0.4)
    assert kept == last["rejection"] and kept["quantile"] == 0.4 and 0.6 <= kept["kept"] <= 1
    assert sum(kept["histogram"]) == 10000 and math.isfinite(kept["is"])
    assert "kept by D (--reject 0.4" in printed
    rc, skipped = train(tmp_path, "unscored", *SMALL, "--steps", "30", data=mnist_dir)  # --no-eval
    assert rc == 0 and json.loads((skipped / "summary.json").read_text())["scores"] is None
    assert "scores:" not in capsys.readouterr().out
    assert not any('"fid"' in l for l in (skipped / "metrics.jsonl").read_text().splitlines())


def test_k3_runs_three_d_steps_per_g_step(tmp_path, mnist_dir):
    rc, out = train(tmp_path, "k3", *SMALL, "--steps", "4", "--k", "3", data=mnist_dir)
    assert rc == 0
    ckpt = checkpoint.load(out)
    d_steps = {int(s["step"]) for s in ckpt["opt_d"]["state"].values()}
    g_steps = {int(s["step"]) for s in ckpt["opt_g"]["state"].values()}
    assert d_steps == {12} and g_steps == {4}


@pytest.mark.parametrize("recipe", [
    [],
    ["--ema-decay", "0.99", "--d-dropout", "0.3", "--d-input-dropout", "0.2",
     "--instance-noise", "0.1"],
    ["--ema-decay", "0.9", "--d-dropout", "0.5", "--d-maxout", "3", "--share-g-forward"],
    ["--k", "2"],                                 # the default k (SMALL sets 1)
], ids=["default", "ema-dropout-noise", "maxout-shared", "k2"])
def test_resume_matches_uninterrupted_run_bit_for_bit(tmp_path, mnist_dir, recipe, monkeypatch):
    flags = [*SMALL, "--seed", "7", "--ckpt-every", "10", "--steps", "30", *recipe]
    assert train(tmp_path, "full", *flags, data=mnist_dir)[0] == 0
    # the first leg is interrupted after step 17, mid-epoch (SIGINT: checkpoint, exit 130);
    # the second continues from that checkpoint
    from fastgan.run.log import Progress
    real_tick, ticks = Progress.tick, {"n": 0}

    def tick(self, n=1):
        ticks["n"] += 1
        if ticks["n"] == 17:
            import os
            import signal
            os.kill(os.getpid(), signal.SIGINT)
        return real_tick(self, n)
    monkeypatch.setattr(Progress, "tick", tick)
    assert train(tmp_path, "part", *flags, data=mnist_dir)[0] == 130
    assert checkpoint.load(tmp_path / "part")["step"] == 17
    monkeypatch.setattr(Progress, "tick", real_tick)
    assert run(main, ["--resume", str(tmp_path / "part"), "--no-progress"]) == 0
    full, part = checkpoint.load(tmp_path / "full"), checkpoint.load(tmp_path / "part")
    assert part["step"] == 30
    nets = ("G", "D", "G_ema") if "G_ema" in full else ("G", "D")
    assert ("G_ema" in part) == ("G_ema" in full)
    for net in nets:
        for name, value in full[net].items():
            assert torch.equal(value, part[net][name]), f"{net}.{name} differs after resume"
    steps = [json.loads(l)["step"] for l in (tmp_path / "part" / "metrics.jsonl").read_text().splitlines()]
    assert steps == sorted(set(steps))


def test_resume_of_existing_run_without_flag_is_refused(tmp_path, mnist_dir):
    assert train(tmp_path, "r", *SMALL, "--steps", "2", data=mnist_dir)[0] == 0
    assert train(tmp_path, "r", *SMALL, "--steps", "2", data=mnist_dir)[0] == 2


def test_interrupt_saves_a_checkpoint(tmp_path, mnist_dir, monkeypatch):
    calls = {"n": 0}
    real_g_step = GAN.g_step

    def g_step(self, b, *args, **kw):
        calls["n"] += 1
        if calls["n"] == 5:
            import signal, os
            os.kill(os.getpid(), signal.SIGINT)      # handled: the step finishes, then it stops
        return real_g_step(self, b, *args, **kw)
    monkeypatch.setattr(GAN, "g_step", g_step)
    rc, out = train(tmp_path, "int", *SMALL, "--steps", "50", data=mnist_dir)
    assert rc == 130
    assert checkpoint.load(out)["step"] == 5


def test_divergence_stops_with_exit_3_and_keeps_last_good_checkpoint(tmp_path, mnist_dir,
                                                                     monkeypatch):
    real_d_step = GAN.d_step
    calls = {"n": 0}

    def d_step(self, real, *args, **kw):
        calls["n"] += 1
        stats = real_d_step(self, real, *args, **kw)
        if calls["n"] > 12:
            with torch.no_grad():
                for p in self.D.parameters():
                    p.fill_(float("nan"))
                stats.fill_(float("nan"))
        return stats
    monkeypatch.setattr(GAN, "d_step", d_step)
    rc, out = train(tmp_path, "nan", *SMALL, "--steps", "40", "--ckpt-every", "10",
                    "--log-every", "5", data=mnist_dir)
    assert rc == 3
    ckpt = checkpoint.load(out)
    assert ckpt["step"] == 10
    assert all(torch.isfinite(v).all() for v in ckpt["D"].values())

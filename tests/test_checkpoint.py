"""Checkpoints are verified on every load; resume falls back to the newest good one; a saturated
run stops with exit 3; resume refuses flags that would change the run."""
import os
import pickle
import stat

import pytest
import torch

from fastgan.io import checkpoint
from fastgan.io.cli import UserError, run
from fastgan.config import ModelConfig, TrainConfig
from fastgan.io.files import digest
from fastgan.gan import GAN
from fastgan.run.command import main

SMALL = ["--train-size", "1280", "--batch-size", "64", "--k", "1"]


def train(tmp_path, name, *flags, data):
    out = tmp_path / name
    rc = run(main, ["--device", "cpu", "--data-dir", str(data), "--out", str(out),
                    "--no-progress", "--no-tensorboard", "--no-eval", *flags])
    return rc, out


def _run_with_checkpoints(tmp_path):
    gan = GAN(TrainConfig(model=ModelConfig(latent_dim=8, g_hidden=(16,), d_hidden=(16,))),
              torch.device("cpu"), compile=False)
    for step in (10, 20, 30):
        checkpoint.save(tmp_path, step, gan.state_dict(), {"step": step})
    return checkpoint.list_checkpoints(tmp_path)


def _flip(path, offset_frac=0.5, n=4096):
    raw = bytearray(path.read_bytes())
    at = int(len(raw) * offset_frac)
    raw[at:at + n] = bytes(b ^ 0xFF for b in raw[at:at + n])
    path.write_bytes(bytes(raw))


@pytest.mark.parametrize("damage", ["bit-flip", "truncated", "empty", "no-checksum"])
def test_damaged_checkpoint_is_refused_and_resume_falls_back(tmp_path, damage, capsys):
    paths = _run_with_checkpoints(tmp_path)
    newest = paths[-1]
    if damage == "bit-flip":
        _flip(newest)
    elif damage == "truncated":
        newest.write_bytes(newest.read_bytes()[:len(newest.read_bytes()) // 2])
    elif damage == "empty":
        newest.write_bytes(b"")
    else:
        newest.with_name(newest.name + ".sha256").unlink()
    with pytest.raises(checkpoint.CheckpointError, match=str(newest.name)):
        checkpoint.load(newest)
    path, ckpt = checkpoint.latest_good(tmp_path)
    assert path == paths[-2] and ckpt["step"] == 20
    err = capsys.readouterr().err
    assert "trying an older one" in err and "newest checkpoint that verifies" in err


def test_no_good_checkpoint_is_one_error(tmp_path):
    for p in _run_with_checkpoints(tmp_path):
        p.write_bytes(b"x")
    with pytest.raises(UserError, match="all 3 fail their checks"):
        checkpoint.latest_good(tmp_path, log=lambda m: None)


def test_a_pickle_with_code_is_refused_without_torch_hint(tmp_path):
    class Evil:
        def __reduce__(self):
            return (os.system, ("echo pwned",))
    bad = tmp_path / "checkpoints" / "step_00000001.pt"
    bad.parent.mkdir()
    bad.write_bytes(pickle.dumps({"step": 1, "config": {}, "G": Evil()}))
    (bad.parent / (bad.name + ".sha256")).write_text(digest(bad) + "\n")
    with pytest.raises(checkpoint.CheckpointError) as e:
        checkpoint.load(bad)
    assert "weights_only=False" not in str(e.value) and "could not be read" in str(e.value)


def test_rotation_keeps_three_and_files_get_normal_permissions(tmp_path):
    old = os.umask(0o022)
    try:
        paths = _run_with_checkpoints(tmp_path)
        gan = GAN(TrainConfig(model=ModelConfig(latent_dim=8, g_hidden=(16,), d_hidden=(16,))),
                  torch.device("cpu"), compile=False)
        checkpoint.save(tmp_path, 40, gan.state_dict(), {})
    finally:
        os.umask(old)
    names = sorted(p.name for p in (tmp_path / "checkpoints").iterdir())
    assert names == [f"step_000000{s}.pt{e}" for s in (20, 30, 40) for e in ("", ".sha256")]
    mode = stat.S_IMODE((tmp_path / "checkpoints" / "step_00000040.pt").stat().st_mode)
    assert mode == 0o644, oct(mode)
    assert paths[0].name not in names


def test_resume_skips_a_corrupt_latest_and_cleans_temp_files(tmp_path, mnist_dir, capsys):
    assert train(tmp_path, "r", *SMALL, "--steps", "20", "--ckpt-every", "10", data=mnist_dir)[0] == 0
    out = tmp_path / "r"
    _flip(checkpoint.path_for(out, 20))
    (out / "checkpoints" / ".step_00000030.pt.abc123.tmp").write_bytes(b"half")
    assert run(main, ["--resume", str(out), "--steps", "30", "--no-progress"]) == 0
    err = capsys.readouterr().err
    assert "step_00000020.pt fails its SHA-256 check" in err and "step_00000010.pt" in err
    assert not list(out.rglob("*.tmp"))
    assert checkpoint.load(out)["step"] == 30


def test_saturated_discriminator_exits_3(tmp_path, mnist_dir, capsys):
    rc, out = train(tmp_path, "sat", *SMALL, "--lr", "1e6", "--steps", "300", data=mnist_dir)
    err = capsys.readouterr().err
    assert rc == 3, err
    assert "discriminator saturated" in err and "last good checkpoint: None" not in err
    assert checkpoint.load(checkpoint.path_for(out, 0))["step"] == 0


def test_huge_lr_still_names_a_good_checkpoint(tmp_path, mnist_dir, capsys):
    rc, _ = train(tmp_path, "nan", *SMALL, "--lr", "1e10", "--steps", "300", data=mnist_dir)
    err = capsys.readouterr().err
    assert rc == 3 and "last good checkpoint: None" not in err and "step_00000000.pt" in err


@pytest.mark.parametrize("flags, says", [
    (["--g-hidden", "128,128"], "--g-hidden (128, 128) differs"),
    (["--seed", "5"], "--seed 5 differs"),
    (["--batch-size", "32"], "--batch-size 32 differs"),
    (["--train-size", "640"], "--train-size 640 differs"),
    (["--steps", "5"], "--steps 5 is below the checkpoint's step 20"),
])
def test_resume_refuses_conflicting_flags(tmp_path, mnist_dir, flags, says, capsys):
    assert train(tmp_path, "r", *SMALL, "--steps", "20", data=mnist_dir)[0] == 0
    config = (tmp_path / "r" / "config.json").read_text()
    rc = run(main, ["--resume", str(tmp_path / "r"), *flags, "--no-progress"])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2 and len(err) == 1 and says in err[0], err
    assert (tmp_path / "r" / "config.json").read_text() == config


def test_resume_may_change_length_and_intervals(tmp_path, mnist_dir):
    assert train(tmp_path, "r", *SMALL, "--steps", "20", data=mnist_dir)[0] == 0
    assert run(main, ["--resume", str(tmp_path / "r"), "--steps", "25", "--log-every", "5",
                      "--ckpt-every", "5", "--no-progress"]) == 0
    assert checkpoint.load(tmp_path / "r")["step"] == 25

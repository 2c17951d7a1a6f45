"""The entry points answer bad input with one line on stderr and a non-zero exit."""
import subprocess
import sys

import pytest

from conftest import ROOT


def cli(*args, env_data=None):
    import os
    env = dict(os.environ)
    if env_data is not None:
        env["FASTGAN_DATA"] = env_data
    return subprocess.run([sys.executable, "-m", *args], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=120)


@pytest.mark.parametrize("args, code, says", [
    (["fastgan.train", "--bogus"], 2, "unrecognized arguments: --bogus"),
    (["fastgan.train", "--batch-size", "abc"], 2, "invalid int value"),
    (["fastgan.train", "--g-loss", "wasserstein"], 2, "invalid choice"),
    (["fastgan.train", "--k", "0"], 2, "--k must be >= 1"),
    (["fastgan.train", "--device", "tpu"], 2, "device"),
    (["fastgan.train", "--device", "cpu", "--data-dir", "/no/such/folder"], 2, "does not exist"),
    (["fastgan.train", "--resume", "/no/such/run"], 2, "not a run folder"),
    (["fastgan.train", "--device", "cpu", "--cuda-graphs"], 2, "--cuda-graphs needs --device cuda"),
    (["fastgan.train", "--ema-decay", "1.5"], 2, "--ema-decay must be in [0, 1)"),
    (["fastgan.train", "--ema-decay", "x"], 2, "invalid float value"),
    (["fastgan.train", "--d-dropout", "1"], 2, "--d-dropout must be in [0, 1)"),
    (["fastgan.train", "--d-input-dropout", "-0.1"], 2, "--d-input-dropout must be in [0, 1)"),
    (["fastgan.train", "--d-maxout", "1"], 2, "--d-maxout must be 0 (off) or 2..16"),
    (["fastgan.train", "--lr-d", "0"], 2, "--lr-d must be > 0"),
    (["fastgan.train", "--lr-g", "-1"], 2, "--lr-g must be > 0"),
    (["fastgan.train", "--instance-noise", "-1"], 2, "--instance-noise must be >= 0"),
    (["fastgan.train", "--share-g-forward", "--k", "2"], 2, "--share-g-forward needs --k 1"),
    (["fastgan.sample", "--checkpoint", "/no/such.pt", "--out", "x.npy"], 2, "not found"),
    (["fastgan.sample", "--checkpoint", "/no/such.pt", "--out", "x.jpg"], 2, ".npy or .png"),
    (["fastgan.sample", "--checkpoint", "fastgan", "--out", "x.npy"], 2, "no checkpoint in"),
    (["fastgan.train", "--reject", "1"], 2, "--reject must be in [0, 1)"),
    (["fastgan.sample", "--checkpoint", "x", "--out", "x.npy", "--reject", "1"], 2,
     "--reject 1.0: must lie in [0, 1)"),
    (["fastgan.eval", "--checkpoint", "x", "--reject", "-0.1"], 2, "must lie in [0, 1)"),
    (["fastgan.eval", "--samples", "x.npy", "--reject", "0.3"], 2, "--reject needs --checkpoint"),
])
def test_bad_input_one_line(args, code, says):
    r = cli(*args)
    lines = r.stderr.strip().splitlines()
    assert r.returncode == code, r.stderr
    assert len(lines) == 1 and says in lines[0], r.stderr
    assert "Traceback" not in r.stderr


def test_corrupt_data_file_exit_2(tmp_path, mnist_dir):
    for f in mnist_dir.glob("*.gz"):
        (tmp_path / f.name).write_bytes(f.read_bytes())
    path = tmp_path / "train-images-idx3-ubyte.gz"
    path.write_bytes(path.read_bytes()[:1000])
    r = cli("fastgan.train", "--device", "cpu", "--data-dir", str(tmp_path), "--steps", "1",
            "--out", str(tmp_path / "run"))
    assert r.returncode == 2 and "MD5 mismatch" in r.stderr and "Traceback" not in r.stderr
    assert "replace it with the original file" in r.stderr and "fetch it again" not in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1


def test_corrupt_checkpoint_exit_2(tmp_path):
    bad = tmp_path / "step_00000001.pt"
    bad.write_bytes(b"garbage")
    r = cli("fastgan.sample", "--checkpoint", str(bad), "--out", str(tmp_path / "s.npy"))
    assert r.returncode == 2 and "no checksum file" in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1


def test_sample_cli_npy_and_png(tmp_path, mnist_dir):
    import numpy as np
    from fastgan.io.images import read_png_size
    run = tmp_path / "run"
    r = cli("fastgan.train", "--device", "cpu", "--data-dir", str(mnist_dir), "--steps", "3",
            "--train-size", "640", "--out", str(run), "--no-progress")
    assert r.returncode == 0, r.stderr
    r = cli("fastgan.sample", "--checkpoint", str(run), "--n", "20", "--out", str(tmp_path / "s.npy"))
    assert r.returncode == 0, r.stderr
    x = np.load(tmp_path / "s.npy")
    assert x.shape == (20, 784) and x.dtype == np.float32 and -1 <= x.min() and x.max() <= 1
    r = cli("fastgan.sample", "--checkpoint", str(run), "--n", "20", "--out", str(tmp_path / "s.png"))
    assert r.returncode == 0 and read_png_size(tmp_path / "s.png") == (152, 122)   # 5 x 4 tiles


@pytest.mark.parametrize("command", ["fastgan.train", "fastgan.sample", "fastgan.eval",
                                     "fastgan.toy1d", "fastgan.sweep"])
def test_help_works(command):
    r = cli(command, "--help")
    assert r.returncode == 0 and "usage:" in r.stdout and "Traceback" not in r.stderr, r.stderr


@pytest.mark.parametrize("command", ["fastgan.train", "fastgan.sample", "fastgan.eval",
                                     "fastgan.toy1d", "fastgan.sweep"])
def test_help_works_without_matplotlib(command):
    """--help needs only argparse: matplotlib is imported where a figure is drawn."""
    code = ("import sys, runpy; sys.modules['matplotlib'] = None; sys.argv = ['x', '--help']; "
            f"runpy.run_module('{command}', run_name='__main__')")
    r = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True,
                       timeout=120)
    assert r.returncode == 0 and "usage:" in r.stdout, r.stderr[-500:]


def test_readme_flag_table_states_the_defaults():
    """The README's "Main flags" table gives each flag's default as the config has it (the
    default length once stayed 165 there after the config moved on)."""
    import re
    from pathlib import Path
    from fastgan.config import TrainConfig, field_value
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    table = readme.split("Main flags")[1].split("\n\n")[1]
    cfg = TrainConfig()
    words = {"–": None, "off": False, "on": True}
    checked = []
    for row in table.splitlines()[2:]:
        flags_cell, default_cell = [c.strip() for c in row.strip("|").split("|")[:2]]
        flags = re.findall(r"`--([a-z0-9-]+)", flags_cell)
        sep = " / " if " / " in flags_cell else ", "
        defaults = default_cell.split(sep)
        if len(defaults) != len(flags) or "`" in default_cell or " for " in default_cell:
            continue                                    # a description, not a value
        for flag, text in zip(flags, defaults):
            name = flag.replace("-", "_")
            want = {"lr_d": cfg.d_lr, "lr_g": cfg.g_lr}.get(name, field_value(cfg, name))
            got = (words[text] if text in words else
                   tuple(int(v) for v in text.split(",")) if isinstance(want, tuple) else
                   type(want)(text) if want is not None else text)
            assert got == want, f"README's default of --{flag} is {text!r}, the config's {want!r}"
            checked.append(flag)
    assert {"epochs", "batch-size", "k", "lr-d", "d-mbstd", "ema-decay", "g-hidden",
            "d-hidden", "latent-dim"} <= set(checked)

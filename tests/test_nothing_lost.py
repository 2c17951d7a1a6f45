"""Nothing lost, ever: a resume never deletes a checkpoint it has not replaced with a verified
newer one (a sweep whose members drifted apart, a member whose checkpoints are all damaged), an
overwrite deletes only a fastgan run and only once the new config is accepted, operating-system
faults (a file or a read-only place as --out, a full disk) end in one line naming the path,
damaged logs do not block a resume, and an interrupted interval leaves one record per logged
step. Each test asserts that the files that were there are still there, byte for byte."""
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import torch

import fastgan
from conftest import ROOT
from fastgan.io import checkpoint
from fastgan.io.cli import run
from fastgan.run.command import main as train_main

# a tiny model: 20 steps of a batch of 32 per epoch
TINY = ["--latent-dim", "8", "--g-hidden", "16,32", "--d-hidden", "32,16", "--train-size", "640",
        "--batch-size", "32", "--k", "1", "--no-tensorboard", "--no-progress", "--no-eval"]
TINY_FIELDS = dict(train_size=640, batch_size=32, k=1, tensorboard=False, progress=False,
                   eval=False, model=fastgan.ModelConfig(latent_dim=8, g_hidden=(16, 32),
                                                         d_hidden=(32, 16)))


def files(folder: Path) -> dict:
    """Every file under folder: relative path -> bytes."""
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*"))
            if p.is_file()}


def assert_kept(before: dict, folder: Path, changed_ok=()):
    """Every file of before is still there byte for byte (but those named in changed_ok)."""
    now = files(folder)
    for name, raw in before.items():
        if any(name.startswith(c) for c in changed_ok):
            continue
        assert name in now, f"{name} was deleted"
        assert now[name] == raw, f"{name} was changed"


def cli(*args, cwd=ROOT):
    return subprocess.run([sys.executable, "-m", *args], cwd=cwd, capture_output=True, text=True,
                          timeout=300, env=dict(os.environ, FASTGAN_DATA=os.environ.get(
                              "FASTGAN_DATA", str(ROOT.parent / "shared" / "mnist"))))


def one_line_error(r, code):
    assert r.returncode == code, (r.returncode, r.stderr[-2000:])
    assert "Traceback" not in r.stderr, r.stderr
    errors = [line for line in r.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, r.stderr
    return errors[0]


def train(out, *flags, data):
    return run(train_main, ["--device", "cpu", "--data-dir", str(data), "--out", str(out),
                            *TINY, *flags])


def _sweep(out, steps, data, resume=False, seeds=(0, 1)):
    lists = {} if resume else {"seed": list(seeds)}
    lists.update(steps=[steps], ckpt_every=[2], log_every=[2], device=["cpu"],
                 data_dir=[str(data)])
    if not resume:
        lists.update(latent_dim=[8], g_hidden=[(16, 32)], d_hidden=[(32, 16)], train_size=[640],
                     batch_size=[32], k=[1], tensorboard=[False])
    return fastgan.sweep.run(lists, None, out, resume=resume, eval_=False, progress=False,
                             log=lambda m: None)


# ---- a resume never deletes ------------------------------------------------------------------

def test_a_sweep_whose_members_drifted_apart_resumes_each_from_its_own_step(tmp_path, mnist_dir,
                                                                            one_thread):
    """Ranks that drift apart (members at steps 4 and 2) and die: the resume keeps every
    checkpoint, trains each member on from its own step, and gives the bits of a sweep that
    never stopped."""
    out, whole = tmp_path / "sw", tmp_path / "whole"
    _sweep(out, 4, mnist_dir)
    _sweep(whole, 6, mnist_dir)
    m1 = out / "members" / "001"
    for name in ("step_00000004.pt", "step_00000004.pt.sha256"):
        (m1 / "checkpoints" / name).unlink()                  # member 1 stood at step 2
    for m in (out / "members").iterdir():
        (m / "summary.json").unlink()                       # killed before the end
    before = {k: v for k, v in files(out).items() if "/checkpoints/" in k}
    _, code = _sweep(out, 6, mnist_dir, resume=True)
    assert code == 0
    # each member rotated its oldest (step 0) out only after its step 6 verified
    assert_kept(before, out, changed_ok=("members/000/checkpoints/step_00000000",
                                         "members/001/checkpoints/step_00000000"))
    for i in (0, 1):
        a = checkpoint.load(out / "members" / f"00{i}")
        b = checkpoint.load(whole / "members" / f"00{i}")
        assert a["step"] == b["step"] == 6
        for net in ("G", "D", "G_ema"):
            for key in a[net]:
                assert torch.equal(a[net][key], b[net][key]), f"member {i} {net}.{key}"


def test_a_member_whose_checkpoints_are_all_damaged_is_left_alone(tmp_path, mnist_dir):
    out = tmp_path / "sw"
    _sweep(out, 4, mnist_dir)
    for m in (out / "members").iterdir():
        (m / "summary.json").unlink()
    bad = out / "members" / "001"
    for p in checkpoint.list_checkpoints(bad):
        p.write_bytes(p.read_bytes()[:100])                 # truncated: fails its checksum
    before = files(out)
    table, code = _sweep(out, 6, mnist_dir, resume=True)
    assert code == 3                                       # not every member done
    rows = {r["index"]: r for r in table["members"]}
    assert rows[0]["status"] == "done" and rows[0]["steps"] == 6
    assert rows[1]["status"] == "not run" and "no usable checkpoint" in table["members"][1][
        "reason"]
    assert_kept({k: v for k, v in before.items() if k.startswith("members/001")}, out)
    assert_kept(before, out, changed_ok=("plan.json", "sweep.", "members/000/"))
    assert (out / "members" / "000" / "checkpoints" / "step_00000004.pt").is_file()


def test_a_sweep_checkpoint_that_verifies_but_does_not_load_falls_back(tmp_path, mnist_dir):
    out = tmp_path / "sw"
    _sweep(out, 4, mnist_dir, seeds=(0,))
    (out / "members" / "000" / "summary.json").unlink()
    newest = checkpoint.list_checkpoints(out / "members" / "000")[-1]
    newest.write_bytes(b"not a checkpoint, with a checksum that matches")
    digest = fastgan.io.files.digest(newest)
    newest.with_name(newest.name + ".sha256").write_text(f"{digest}  {newest.name}\n")
    _, code = _sweep(out, 6, mnist_dir, resume=True)
    assert code == 0
    assert checkpoint.load(out / "members" / "000")["step"] == 6


def test_overwrite_deletes_nothing_before_the_config_is_accepted(tmp_path, mnist_dir):
    out = tmp_path / "project"
    assert train(out, "--steps", "2", data=mnist_dir) == 0
    (out / "src").mkdir()
    (out / "src" / "mine.py").write_text("print('keep me')\n")
    before = files(out)
    with pytest.raises(ValueError, match="--lr must be > 0"):
        fastgan.fit(fastgan.TrainConfig(out=str(out), lr=-1.0, device="cpu",
                                        data_dir=str(mnist_dir), **TINY_FIELDS), overwrite=True)
    assert_kept(before, out)
    fastgan.fit(fastgan.TrainConfig(out=str(out), steps=2, device="cpu", data_dir=str(mnist_dir),
                                    **TINY_FIELDS), overwrite=True)
    assert (out / "src" / "mine.py").read_text() == "print('keep me')\n"  # not the run's
    assert checkpoint.load(out)["step"] == 2


# ---- operating-system faults: one line ------------------------------------------------------

@pytest.mark.parametrize("command", ["train", "sweep", "sample", "eval"])
def test_out_naming_a_file_is_one_line(tmp_path, mnist_dir, command):
    run_dir = tmp_path / "run"
    assert train(run_dir, "--steps", "2", data=mnist_dir) == 0
    a_file = tmp_path / "a_file"
    a_file.write_text("mine\n")
    args = {"train": ["fastgan.train", "--device", "cpu", *TINY, "--steps", "2",
                      "--out", str(a_file)],
            "sweep": ["fastgan.sweep", "--device", "cpu", *TINY, "--steps", "2",
                      "--out", str(a_file)],
            "sample": ["fastgan.sample", "--checkpoint", str(run_dir), "--out",
                       str(a_file / "x.npy")],
            "eval": ["fastgan.eval", "--checkpoint", str(run_dir), "--n", "10",
                     "--out", str(a_file)]}[command]
    line = one_line_error(cli(*args), 2)
    assert str(a_file) in line
    assert a_file.read_text() == "mine\n"


def _mount(folder: Path, size_kb: int, read_only=False):
    """A tmpfs of size_kb at folder (root only), or skip with the reason."""
    folder.mkdir(parents=True, exist_ok=True)
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size_kb}k", "tmpfs", str(folder)],
                       capture_output=True, text=True)
    if r.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here ({r.stderr.strip() or r.returncode}): the "
                    "full-disk and read-only cases need one")
    if read_only:
        subprocess.run(["mount", "-o", "remount,ro", str(folder)], check=True)


@pytest.fixture
def mounted(tmp_path):
    points = []
    yield lambda folder, size_kb, read_only=False: points.append(folder) or _mount(
        folder, size_kb, read_only)
    for p in points:
        subprocess.run(["umount", str(p)], capture_output=True)


def test_a_read_only_place_is_one_line(tmp_path, mnist_dir, mounted):
    ro = tmp_path / "ro"
    mounted(ro, 64, read_only=True)
    line = one_line_error(cli("fastgan.train", "--device", "cpu", *TINY, "--steps", "2",
                              "--out", str(ro / "run")), 4)
    assert str(ro / "run") in line and "Read-only" in line


def test_a_full_disk_ends_in_one_line_with_the_resume_hint(tmp_path, mnist_dir, mounted):
    probe = tmp_path / "probe"
    assert train(probe, "--steps", "1", data=mnist_dir) == 0
    size = checkpoint.list_checkpoints(probe)[-1].stat().st_size
    disk = tmp_path / "disk"
    mounted(disk, int(2.5 * size / 1024) + 16)               # two checkpoints fit, not three
    run_dir = disk / "run"
    r = cli("fastgan.train", "--device", "cpu", *TINY, "--steps", "40", "--ckpt-every", "10",
            "--out", str(run_dir))
    line = one_line_error(r, 4)
    assert "No space left" in line and f"--resume {run_dir}" in line
    path, state = checkpoint.latest_good(run_dir)             # the good ones survive
    assert state["step"] >= 0


# ---- damaged logs do not block a resume ------------------------------------------------------

def test_a_damaged_config_json_is_rebuilt_from_the_checkpoint(tmp_path, mnist_dir, capsys):
    out = tmp_path / "run"
    assert train(out, "--steps", "4", "--ckpt-every", "2", data=mnist_dir) == 0
    text = (out / "config.json").read_text()
    (out / "config.json").write_text(text[:len(text) // 2])
    assert run(train_main, ["--resume", str(out), "--steps", "6"]) == 0
    assert "config.json is damaged" in capsys.readouterr().err
    assert checkpoint.load(out)["step"] == 6
    assert json.loads((out / "config.json").read_text())["steps"] == 6


def test_a_cut_last_line_of_metrics_is_dropped_with_a_word(tmp_path, mnist_dir, capsys):
    out = tmp_path / "run"
    assert train(out, "--steps", "4", "--ckpt-every", "2", "--log-every", "2",
                 data=mnist_dir) == 0
    with open(out / "metrics.jsonl", "a") as f:
        f.write('{"step": 5, "d_lo')                         # a kill mid-write
    assert run(train_main, ["--resume", str(out), "--steps", "6"]) == 0
    assert "cut last line" in capsys.readouterr().err
    steps = [json.loads(line)["step"] for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert steps == [2, 4, 6]


def test_an_interrupted_interval_leaves_one_record_per_logged_step(tmp_path, mnist_dir,
                                                                   monkeypatch):
    """Ctrl-C at step 3 of a log interval of 4, then resume: the records are those of a run
    that never stopped, to the bit."""
    whole, cut = tmp_path / "whole", tmp_path / "cut"
    assert train(whole, "--steps", "8", "--log-every", "4", data=mnist_dir) == 0
    from fastgan import graphs                              # what the loop's steps call
    real = graphs.train_step

    def interrupted(gan, batches, step, total, stats):
        real(gan, batches, step, total, stats)
        if step == 2:                                        # the third step done
            os.kill(os.getpid(), signal.SIGINT)
    monkeypatch.setattr(graphs, "train_step", interrupted)
    assert train(cut, "--steps", "8", "--log-every", "4", data=mnist_dir) == 130
    monkeypatch.setattr(graphs, "train_step", real)
    assert checkpoint.load(cut)["step"] == 3
    assert run(train_main, ["--resume", str(cut)]) == 0
    keys = ("step", "d_loss", "g_loss", "d_x", "d_g_z")
    read = lambda d: [{k: r[k] for k in keys} for r in map(json.loads, (d / "metrics.jsonl")
                                                         .read_text().splitlines())]
    assert read(cut) == read(whole)


# ---- inputs: one line and exit 2 (a ValueError or TypeError from the API) --------------------

@pytest.mark.parametrize("flags, says", [
    (["--seed", "-1"], "--seed must be a non-negative integer"),
    (["--g-hidden", ""], "at least one layer size"),
    (["--target-fid", "nan"], "--target-fid must be a finite number"),
    (["--lr-d", "inf"], "--lr-d must be a finite number"),
    (["--instance-noise", "inf"], "--instance-noise must be a finite number"),
    (["--graph-steps", "0"], "--graph-steps must be >= 1"),
], ids=["negative-seed", "empty-g", "nan-target", "inf-lr", "inf-noise", "zero-graph-steps"])
def test_bad_train_flags_are_one_line(tmp_path, flags, says):
    line = one_line_error(cli("fastgan.train", "--device", "cpu", "--out", str(tmp_path / "r"),
                              *flags), 2)
    assert says in line
    assert not (tmp_path / "r").exists()


def test_a_negative_sweep_seed_is_one_line_and_writes_nothing(tmp_path):
    line = one_line_error(cli("fastgan.sweep", "--seeds", "-1", "--out", str(tmp_path / "sw")), 2)
    assert "--seed must be a non-negative integer" in line
    assert not (tmp_path / "sw").exists()
    with pytest.raises(ValueError, match="non-negative"):
        fastgan.sweep(seeds=[-1], out=str(tmp_path / "sw2"))
    assert not (tmp_path / "sw2").exists()


def test_a_binary_members_file_is_one_line(tmp_path):
    f = tmp_path / "members.json"
    f.write_bytes(bytes(range(256)))
    line = one_line_error(cli("fastgan.sweep", "--members", str(f), "--out",
                              str(tmp_path / "sw")), 2)
    assert "not a text file" in line


def test_the_api_names_bad_arguments(tmp_path):
    with pytest.raises(ValueError, match="'bogus' is not a flag"):
        fastgan.sweep(members=[{"bogus": 1}], out=str(tmp_path / "sw"))
    with pytest.raises(TypeError, match="epochs must be an int"):
        fastgan.fit(epochs="3", out=str(tmp_path / "r"))
    assert not (tmp_path / "r").exists() and not (tmp_path / "sw").exists()
    from fastgan.models import Generator
    G = Generator(fastgan.ModelConfig(latent_dim=8, g_hidden=(16,)))
    with pytest.raises(ValueError, match="n must be >= 1"):
        fastgan.generate(G, 0)
    x = torch.zeros(4, 784)
    for bad, says in ((x + 3, r"in \[-1, 1\]"), (x * float("nan"), "NaN"),
                      (x[:1], "at least 2 samples")):
        with pytest.raises(ValueError, match=says):
            fastgan.score(bad)
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="CUDA is not available"):
            fastgan.score(x, device="cuda")

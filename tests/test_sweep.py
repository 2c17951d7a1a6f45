"""fastgan.sweep: the grid from flags with lists, a sweep's outputs, member independence (alone,
in a grid, over 2 torchrun ranks: the same bits), faults per member, resume after kill -9 and
after a rank dies, and bad input (one line, exit 2)."""
import json
import os
import signal
import subprocess
import sys
import time

import pytest
import torch

from conftest import ROOT
from fastgan.io import checkpoint
from fastgan.io.cli import UserError
from fastgan.sweep import grid

# a tiny model: 20 steps of a batch of 32 per epoch, a few hundred member-steps per second here
TINY = ["--latent-dim", "8", "--g-hidden", "16,32", "--d-hidden", "32,16", "--train-size", "640",
        "--batch-size", "32", "--k", "1", "--no-tensorboard", "--no-progress"]


def sweep(*args, env=None, timeout=300, torchrun=None):
    """Runs the command as a user does (a subprocess); returns the CompletedProcess."""
    cmd = [sys.executable, "-m"]
    cmd += (["torch.distributed.run", "--standalone", "--nproc-per-node", str(torchrun), "-m"]
            if torchrun else [])
    full = dict(os.environ, **(env or {}))
    return subprocess.run(cmd + ["fastgan.sweep", *args], cwd=ROOT, env=full, capture_output=True,
                          text=True, timeout=timeout)


def _states(folder, n):
    return [checkpoint.load(folder / "members" / f"{i:03d}") for i in range(n)]


def _same(a, b, what):
    assert a["step"] == b["step"], f"{what}: step {a['step']} != {b['step']}"
    for net in ("G", "D", "G_ema"):
        assert (net in a) == (net in b), what
        for key in a.get(net, {}):
            assert torch.equal(a[net][key], b[net][key]), f"{what}: {net}.{key} differs"


# ---- the grid --------------------------------------------------------------------------------
def test_lists_ranges_tuples_and_booleans():
    assert grid.values("seed", "0-3,7") == [0, 1, 2, 3, 7]
    assert grid.values("lr_g", "2e-4,4e-4") == [2e-4, 4e-4]
    assert grid.values("d_hidden", "512,256/1024,512,256") == [(512, 256), (1024, 512, 256)]
    assert grid.values("share_g_forward", "true,false") == [True, False]
    assert grid.values("lr", "none,1e-3") == [None, 1e-3]
    assert grid.values("g_loss", "ns,minimax") == ["ns", "minimax"]


def test_members_are_the_product_with_seeds_fastest():
    members = grid.members({"lr_g": [2e-4, 4e-4], "d_dropout": [0.0, 0.1], "seed": [0, 1, 2]})[0]
    assert len(members) == 12
    assert members[:4] == [{"lr_g": 2e-4, "d_dropout": 0.0, "seed": 0},
                           {"lr_g": 2e-4, "d_dropout": 0.0, "seed": 1},
                           {"lr_g": 2e-4, "d_dropout": 0.0, "seed": 2},
                           {"lr_g": 2e-4, "d_dropout": 0.1, "seed": 0}]
    assert grid.varied(members) == ["lr_g", "d_dropout", "seed"]
    assert grid.setting_of(members[5], grid.varied(members)) == "lr_g=0.0002 d_dropout=0.1"


def test_members_file_settings_cross_the_seeds(tmp_path):
    f = tmp_path / "m.json"
    f.write_text(json.dumps([{"lr-g": 2e-4}, {"d_hidden": [1024, 512], "k": 2}]))
    members = grid.members({"seed": [0, 1], "epochs": [3]}, grid.read(str(f)))[0]
    assert members == [{"epochs": 3, "lr_g": 2e-4, "seed": 0}, {"epochs": 3, "lr_g": 2e-4, "seed": 1},
                       {"epochs": 3, "d_hidden": (1024, 512), "k": 2, "seed": 0},
                       {"epochs": 3, "d_hidden": (1024, 512), "k": 2, "seed": 1}]


@pytest.mark.parametrize("call, says", [
    (lambda: grid.values("seed", ""), "an empty grid"),
    (lambda: grid.values("seed", "5-3"), "empty range"),
    (lambda: grid.values("lr_g", "1e-3,x"), "invalid float value 'x'"),
    (lambda: grid.values("g_loss", "ns,hinge"), "invalid choice 'hinge'"),
    (lambda: grid.values("seed", "1,1"), "listed twice"),
    (lambda: grid.members({"device": ["cpu", "cuda"]}), "--device takes one value"),
    (lambda: grid.members({"lr_d": [2e-4, 0.0]}), "--lr-d must be > 0 (lr_d=0 seed=0)"),
    (lambda: grid.members({"lr": [1e-3], "lr_g": [None, 1e-3]}), "are the same run"),
    (lambda: grid.members({"bogus": [1]}), "not a flag"),
], ids=["empty", "empty-range", "bad-float", "bad-choice", "twice", "shared", "refused",
        "duplicate", "unknown"])
def test_bad_grids_are_one_line_errors(call, says):
    with pytest.raises(UserError) as e:
        call()
    assert says in str(e.value) and "\n" not in str(e.value)


# ---- a sweep end to end ----------------------------------------------------------------------
def test_sweep_writes_members_table_and_figure(tmp_path, mnist_dir):
    out = tmp_path / "sw"
    r = sweep("--seeds", "0,1", "--lr-g", "4e-4,1e-3", "--steps", "40", "--eval-every", "1",
              "--log-every", "20", "--device", "cpu", "--out", str(out), *TINY,
              env={"FASTGAN_DATA": str(mnist_dir)})
    assert r.returncode == 0, r.stderr
    assert "| lr_g=0.0004 | 0,1 | 2/2 |" in r.stdout
    table = json.loads((out / "sweep.json").read_text())
    assert [m["dir"] for m in table["members"]] == [f"members/{i:03d}" for i in range(4)]
    assert [m["setting"] for m in table["members"]] == ["lr_g=0.0004"] * 2 + ["lr_g=0.001"] * 2
    for m in table["members"]:
        assert m["status"] == "done" and m["steps"] == 40 and m["fid"] > 0 and m["modes"] >= 1
        assert m["is_kept"] >= 1                      # and of the samples D keeps (--reject)
        assert [s for s, _ in m["curve"]] == [20, 40]                   # an eval every epoch
    s = table["settings"][1]
    assert s["seeds"] == [0, 1] and s["fid"]["n"] == 2 and s["fid"]["sd"] >= 0
    assert s["is_kept"]["n"] == 2
    assert (out / "sweep.png").stat().st_size > 10000 and (out / "sweep.md").is_file()
    member = out / "members" / "003"
    for name in ("config.json", "metrics.jsonl", "summary.json", "curves.png", "samples/final.png"):
        assert (member / name).is_file(), name
    assert json.loads((member / "config.json").read_text())["lr_g"] == 1e-3
    # a member is a run folder for the other commands
    import fastgan
    G = fastgan.load_generator(member)
    assert fastgan.generate(G, 5).shape == (5, 784)
    e = subprocess.run([sys.executable, "-m", "fastgan.eval", "--checkpoint", str(member),
                        "--n", "200", "--data-dir", str(mnist_dir)], cwd=ROOT,
                       capture_output=True, text=True, timeout=300)
    assert e.returncode == 0 and "classifier FID" in e.stdout, e.stderr


def test_a_member_of_a_grid_is_the_run_fastgan_train_makes_alone(tmp_path, mnist_dir,
                                                                one_thread):
    from fastgan.io.cli import run
    from fastgan.run.command import main
    out = tmp_path / "sw"
    r = sweep("--seeds", "3", "--d-dropout", "0,0.2", "--real-label", "1,0.9", "--steps", "30",
              "--device", "cpu", "--out", str(out), "--threads", "1", "--no-eval", *TINY,
              env={"FASTGAN_DATA": str(mnist_dir)})
    assert r.returncode == 0, r.stderr
    alone = tmp_path / "alone"   # member 1 (flags in --help's order): real label 1, d_dropout 0.2
    assert run(main, ["--device", "cpu", "--data-dir", str(mnist_dir), "--out", str(alone),
                      "--seed", "3", "--d-dropout", "0.2", "--steps", "30", *TINY]) == 0
    flags = json.loads((out / "plan.json").read_text())["members"][1]["flags"]
    assert {k: flags[k] for k in ("real_label", "d_dropout", "seed")} == {
        "real_label": 1.0, "d_dropout": 0.2, "seed": 3}
    _same(checkpoint.load(out / "members" / "001"), checkpoint.load(alone), "member 1 vs alone")


def test_a_diverging_member_stops_and_the_others_finish(tmp_path, mnist_dir):
    out = tmp_path / "sw"
    r = sweep("--seeds", "0", "--lr-d", "2e-4,1e6,1e-4", "--steps", "60", "--log-every", "5",
              "--ckpt-every", "10", "--device", "cpu", "--out", str(out), *TINY,
              env={"FASTGAN_DATA": str(mnist_dir)})
    assert r.returncode == 3, r.stderr                       # not every member finished
    table = json.loads((out / "sweep.json").read_text())
    rows = {m["dir"]: m for m in table["members"]}
    bad = rows["members/001"]
    assert bad["status"] in ("saturated", "diverged") and bad["steps"] < 60
    assert "last good checkpoint" in bad["reason"]
    last = checkpoint.load(out / "members" / "001")
    assert last["step"] <= bad["steps"] and all(torch.isfinite(v).all() for v in last["D"].values())
    for ok in ("members/000", "members/002"):
        assert rows[ok]["status"] == "done" and rows[ok]["steps"] == 60 and rows[ok]["fid"] > 0
    assert "Stopped early" in (out / "sweep.md").read_text()


def test_kill_9_then_resume_is_bit_exact(tmp_path, mnist_dir):
    env = {"FASTGAN_DATA": str(mnist_dir)}
    flags = ["--seeds", "0-2", "--steps", "400", "--ckpt-every", "25", "--log-every", "50",
             "--device", "cpu", "--threads", "1", "--no-eval", *TINY]
    assert sweep(*flags, "--out", str(tmp_path / "full"), env=env).returncode == 0
    part = tmp_path / "part"
    proc = subprocess.Popen([sys.executable, "-m", "fastgan.sweep", *flags, "--out", str(part)],
                            cwd=ROOT, env=dict(os.environ, **env), stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    deadline = time.time() + 120
    while time.time() < deadline and proc.poll() is None:
        steps = [p.name for p in (part / "members").glob("*/checkpoints/step_*.pt")]
        if any(int(s[5:13]) >= 150 for s in steps):
            break
        time.sleep(0.02)
    assert proc.poll() is None, "the sweep ended before it could be killed"
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert not (part / "sweep.json").exists()
    r = sweep("--resume", str(part), env=env)
    assert r.returncode == 0, r.stderr
    for e, (a, b) in enumerate(zip(_states(tmp_path / "full", 3), _states(part, 3))):
        _same(a, b, f"member {e} after kill -9 and resume")
    steps = [json.loads(l)["step"] for l in
             (part / "members" / "001" / "metrics.jsonl").read_text().splitlines()]
    assert steps == sorted(set(steps)) and steps[-1] == 400


def test_ctrl_c_checkpoints_and_says_how_to_resume(tmp_path, mnist_dir):
    out = tmp_path / "sw"
    proc = subprocess.Popen([sys.executable, "-m", "fastgan.sweep", "--seeds", "0,1", "--steps",
                             "5000", "--device", "cpu", "--no-eval", "--out", str(out), *TINY],
                            cwd=ROOT, env=dict(os.environ, FASTGAN_DATA=str(mnist_dir)),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 120
    while time.time() < deadline and not list(out.glob("members/*/metrics.jsonl")):
        time.sleep(0.05)
    time.sleep(1.0)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err
    assert f"continue with --resume {out}" in err and "Traceback" not in err
    steps = {checkpoint.load(out / "members" / m)["step"] for m in ("000", "001")}
    assert len(steps) == 1 and steps.pop() > 0          # both members, one step


def test_two_ranks_give_the_bits_of_one(tmp_path, mnist_dir):
    env = {"FASTGAN_DATA": str(mnist_dir)}
    flags = ["--seeds", "0-2", "--lr-g", "4e-4,1e-3", "--steps", "40", "--device", "cpu",
             "--no-eval", *TINY]
    one = sweep(*flags, "--threads", "1", "--out", str(tmp_path / "one"), env=env)
    assert one.returncode == 0, one.stderr
    two = sweep(*flags, "--out", str(tmp_path / "two"), env=env, torchrun=2)
    assert two.returncode == 0, two.stderr
    assert "6 members, 2 rank(s)" in two.stdout
    for e, (a, b) in enumerate(zip(_states(tmp_path / "one", 6), _states(tmp_path / "two", 6))):
        _same(a, b, f"member {e}, 2 ranks vs 1")
    table = json.loads((tmp_path / "two" / "sweep.json").read_text())
    assert table["ranks"] == 2 and len(table["members"]) == 6


def _kill_rank(rank: int, tag: str, folder, at_step: int):
    """SIGKILLs the sweep process of this rank (found by its environment) once one of its
    members has a checkpoint at or beyond at_step."""
    deadline = time.time() + 120
    while time.time() < deadline:
        if any(int(p.name[5:13]) >= at_step for p in folder.glob("members/*/checkpoints/step_*.pt")):
            for pid in (int(p) for p in os.listdir("/proc") if p.isdigit()):
                try:
                    env = open(f"/proc/{pid}/environ", "rb").read().split(b"\0")
                except OSError:
                    continue
                if f"TEST_TAG={tag}".encode() in env and f"RANK={rank}".encode() in env \
                        and b"fastgan.sweep" in open(f"/proc/{pid}/cmdline", "rb").read():
                    os.kill(pid, signal.SIGKILL)
                    return True
        time.sleep(0.02)
    return False


@pytest.mark.parametrize("restarts", [0, 1])
def test_a_rank_that_dies(tmp_path, mnist_dir, restarts):
    """With --max-restarts the sweep resumes from its checkpoints and finishes with the bits of
    an uninterrupted sweep; without, torchrun reports the rank and the others keep a checkpoint
    and say how to resume."""
    import threading
    tag = f"{os.getpid()}-{restarts}"
    env = {"FASTGAN_DATA": str(mnist_dir), "TEST_TAG": tag}
    flags = ["--seeds", "0-3", "--steps", "600", "--ckpt-every", "25", "--device", "cpu",
             "--no-eval", *TINY]
    out = tmp_path / "sw"
    killed = {}
    killer = threading.Thread(target=lambda: killed.update(ok=_kill_rank(1, tag, out, 100)))
    killer.start()
    args = ["--max-restarts", str(restarts)] if restarts else []
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node",
           "2", *args, "-m", "fastgan.sweep", *flags, "--out", str(out)]
    r = subprocess.run(cmd, cwd=ROOT, env=dict(os.environ, **env), capture_output=True,
                       text=True, timeout=300)
    killer.join()
    assert killed.get("ok"), "rank 1 was never killed"
    if not restarts:
        assert r.returncode != 0
        assert "rank      : 1" in r.stderr and "SIGKILL" in r.stderr        # torchrun's report
        assert f"continue with --resume {out}" in r.stderr
        return
    assert r.returncode == 0, r.stderr[-3000:]
    whole = tmp_path / "whole"
    assert sweep(*flags, "--threads", "1", "--out", str(whole), env=env).returncode == 0
    for e, (a, b) in enumerate(zip(_states(whole, 4), _states(out, 4))):
        _same(a, b, f"member {e} after rank 1 died and torchrun restarted")


# ---- bad input: one line, exit 2 -------------------------------------------------------------
@pytest.mark.parametrize("args, says", [
    (["--seeds", "", "--out", "X"], "an empty grid"),
    (["--lr-d", "2e-4,-1", "--out", "X"], "--lr-d must be > 0"),
    (["--device", "cpu,cuda", "--out", "X"], "--device takes one value"),
    (["--members", "/no/such.json", "--out", "X"], "cannot read it"),
    (["--members", "BADJSON", "--out", "X"], "not JSON"),
    (["--seeds", "0,1"], "--out DIR is required"),
    (["--resume", "/no/such/sweep"], "not a sweep folder"),
    (["--bogus"], "unrecognized arguments: --bogus"),
    (["--lr-g", "x", "--out", "X"], "invalid float value 'x'"),
    (["--threads", "0", "--out", "X"], "--threads must be >= 1"),
], ids=["empty", "refused-value", "shared-list", "no-file", "bad-json", "no-out", "no-resume",
        "unknown", "bad-value", "threads"])
def test_bad_input_one_line(tmp_path, args, says):
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    args = [str(bad) if a == "BADJSON" else str(tmp_path / "o") if a == "X" else a for a in args]
    r = sweep(*args)
    lines = r.stderr.strip().splitlines()
    assert r.returncode == 2, r.stderr
    assert len(lines) == 1 and says in lines[0], r.stderr
    assert not (tmp_path / "o").exists()


def test_more_ranks_than_members_is_refused(tmp_path, mnist_dir):
    env = {"FASTGAN_DATA": str(mnist_dir), "RANK": "0", "WORLD_SIZE": "3", "LOCAL_RANK": "0",
           "LOCAL_WORLD_SIZE": "3"}
    r = sweep("--seeds", "0,1", "--device", "cpu", "--out", str(tmp_path / "o"), *TINY, env=env)
    assert r.returncode == 2 and "3 ranks for 2 member(s)" in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1


def test_an_existing_sweep_needs_resume_and_resume_refuses_fixed_flags(tmp_path, mnist_dir):
    env = {"FASTGAN_DATA": str(mnist_dir)}
    out = tmp_path / "sw"
    base = ["--seeds", "0,1", "--steps", "10", "--device", "cpu", "--no-eval", *TINY]
    assert sweep(*base, "--out", str(out), env=env).returncode == 0
    r = sweep(*base, "--out", str(out), env=env)
    assert r.returncode == 2 and "already holds a sweep" in r.stderr
    r = sweep("--resume", str(out), "--batch-size", "16", env=env)
    assert r.returncode == 2 and "cannot change on resume" in r.stderr
    r = sweep("--resume", str(out), "--lr-g", "1e-3,2e-3", env=env)
    assert r.returncode == 2 and "on --resume a flag takes one value" in r.stderr
    r = sweep("--resume", str(out), "--steps", "20", env=env)     # longer: allowed
    assert r.returncode == 0, r.stderr
    assert json.loads((out / "sweep.json").read_text())["members"][1]["steps"] == 20


def test_help_works():
    r = sweep("--help")
    assert r.returncode == 0 and "--seeds" in r.stdout and "torchrun" in r.stdout


def test_the_python_api_returns_the_table(tmp_path, mnist_dir):
    import fastgan
    table = fastgan.sweep({"lr_g": [4e-4, 1e-3]}, seeds=[0], out=str(tmp_path / "api"),
                          steps=10, device="cpu", data_dir=str(mnist_dir), latent_dim=8,
                          g_hidden=(16, 32), d_hidden=(32, 16), train_size=640, batch_size=32,
                          tensorboard=False, progress=False, eval=False)
    assert [m["setting"] for m in table["members"]] == ["lr_g=0.0004", "lr_g=0.001"]
    assert all(m["status"] == "done" for m in table["members"])
    import types
    assert isinstance(fastgan.sweep, types.ModuleType) and callable(fastgan.sweep)


def test_a_grid_that_does_not_fit_is_refused_naming_how_many_would(tmp_path, mnist_dir,
                                                                     monkeypatch):
    """Before anything is written: one line (a ValueError from the API) naming how many members
    of the grid's largest group would fit in the device's free memory."""
    import fastgan
    from fastgan.config import ModelConfig, TrainConfig
    from fastgan.sweep import memory
    tiny = dict(latent_dim=8, g_hidden=(16, 32), d_hidden=(32, 16))
    cfg = TrainConfig(train_size=640, batch_size=32, k=1, model=ModelConfig(**tiny))
    each, images = memory.member_bytes(cfg), memory.images_bytes(cfg)
    assert each >= 4 * (4 * (8 * 16 + 16 + 16 * 32 + 32 + 32 * 784 + 784))    # G's state alone
    monkeypatch.setattr(memory, "free_bytes",
                        lambda device: int((images + 2.5 * each) / memory.HEADROOM))
    out = tmp_path / "sw"
    with pytest.raises(ValueError, match=r"5 members of one shape need about .* about 2 would "
                                         r"fit; split the grid or use more ranks"):
        fastgan.sweep(seeds=[0, 1, 2, 3, 4], out=str(out), device="cpu", data_dir=str(mnist_dir),
                      train_size=640, batch_size=32, k=1, steps=2, progress=False, **tiny)
    assert not out.exists()
    fastgan.sweep(seeds=[0, 1], out=str(out), device="cpu", data_dir=str(mnist_dir), eval=False,
                  train_size=640, batch_size=32, k=1, steps=2, progress=False, **tiny)
    assert (out / "members" / "001" / "summary.json").is_file()

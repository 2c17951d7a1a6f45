"""The fault battery: what a demanding user does to fastgan, on tiny models on the CPU, and
what came of it. Each case runs the commands as a user would (subprocesses) or the Python API,
and is counted as
    clean      the expected exit code (or exception type), one line on stderr, nothing lost;
    traceback  a Python traceback, or an exception of a type the API does not promise;
    wrong      the run went on silently where it should have stopped, or the wrong exit code;
    lost       a file that was there before is gone or changed (beyond what the case allows).
    python bench/faults.py [--save] [--readme README.md] [--only NAME]   (4 minutes, 2 cores)
--save writes bench/results/faults.{json,md}; --readme puts the tally in the README's
<!-- faults --> block. Cases that need root's tmpfs (full disk,
read-only place) are skipped with the reason where no tmpfs can be mounted.
"""
import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import traceback
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
DATA = os.environ.get("FASTGAN_DATA", str(ROOT.parent / "shared" / "mnist"))
TINY = ["--device", "cpu", "--latent-dim", "8", "--g-hidden", "16,32", "--d-hidden", "32,16",
        "--train-size", "640", "--batch-size", "32", "--k", "1", "--no-tensorboard",
        "--no-progress", "--no-eval", "--data-dir", DATA]


class Case:
    def __init__(self, name, kind, fn):
        self.name, self.kind, self.fn = name, kind, fn


CASES = []


def case(kind):
    def add(fn):
        CASES.append(Case(fn.__name__.replace("_", "-"), kind, fn))
        return fn
    return add


def sh(*args, wait=True, **kw):
    cmd = [sys.executable, "-m", *args]
    env = dict(os.environ, FASTGAN_DATA=DATA)
    if not wait:
        return subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True)
    return subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)


def snapshot(folder: Path) -> dict:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*"))
            if p.is_file()} if folder.exists() else {}


class Outcome(Exception):
    def __init__(self, verdict, detail):
        self.verdict, self.detail = verdict, detail


def expect(r, code: int):
    """A command's result: exit code `code` and (for a failure) one line on stderr."""
    if "Traceback" in r.stderr:
        raise Outcome("traceback", r.stderr.strip().splitlines()[-1][:200])
    if r.returncode != code:
        raise Outcome("wrong", f"exit {r.returncode}, expected {code}: "
                               f"{(r.stderr.strip().splitlines() or [''])[-1][:200]}")
    errors = [line for line in r.stderr.splitlines()
              if line.startswith("error:") or ": error: " in line]      # (argparse's form)
    if code in (2, 4) and len(errors) != 1:
        raise Outcome("wrong", f"{len(errors)} error lines: {r.stderr[-200:]}")
    return errors[0] if errors else ""


def kept(before: dict, folder: Path, allowed=()):
    now = snapshot(folder)
    for name, raw in before.items():
        if any(name.startswith(a) for a in allowed):
            continue
        if now.get(name) != raw:
            raise Outcome("lost", f"{name} {'changed' if name in now else 'deleted'}")


def trained(tmp: Path, name="run", steps=6, *flags) -> Path:
    out = tmp / name
    expect(sh("fastgan.train", *TINY, "--steps", str(steps), "--ckpt-every", "2",
              "--log-every", "2", "--out", str(out), *flags), 0)
    return out


def same_checkpoint(a: Path, b: Path):
    from fastgan.io import checkpoint
    import torch
    x, y = checkpoint.load(a), checkpoint.load(b)
    if x["step"] != y["step"]:
        raise Outcome("wrong", f"steps {x['step']} and {y['step']}")
    for net in ("G", "D"):
        for key in x[net]:
            if not torch.equal(x[net][key], y[net][key]):
                raise Outcome("wrong", f"resumed run differs: {net}.{key}")


# ---- kills: signal a run, resume it, compare with a run that never stopped -------------------

def _killed(tmp: Path, sig, expect_code, sweep=False):
    out, whole = tmp / "cut", tmp / "whole"
    cmd = (["fastgan.sweep", "--seeds", "0,1"] if sweep else ["fastgan.train"]) + TINY
    flags = ["--steps", "400", "--ckpt-every", "20", "--log-every", "20"]
    p = sh(*cmd, *flags, "--out", str(out), wait=False)
    probe = out / ("members/000/checkpoints" if sweep else "checkpoints")
    t0 = time.time()
    while time.time() - t0 < 120 and len(list(probe.glob("step_*.pt.sha256"))) < 3:
        time.sleep(0.05)
    p.send_signal(sig)
    stdout, stderr = p.communicate(timeout=120)
    r = subprocess.CompletedProcess(p.args, p.returncode, stdout, stderr)
    if expect_code is not None:
        expect(r, expect_code)
    expect(sh(*cmd[:1], "--resume", str(out)), 0)         # (old checkpoints rotate out
    expect(sh(*cmd, *flags, "--out", str(whole)), 0)      # only after newer ones verify)
    for sub in (["members/000", "members/001"] if sweep else [""]):
        same_checkpoint(out / sub, whole / sub)


@case("kill")
def kill_9_train(tmp):
    _killed(tmp, signal.SIGKILL, None)


@case("kill")
def ctrl_c_train(tmp):
    _killed(tmp, signal.SIGINT, 130)


@case("kill")
def sigterm_train(tmp):
    _killed(tmp, signal.SIGTERM, 130)


@case("kill")
def kill_9_sweep(tmp):
    _killed(tmp, signal.SIGKILL, None, sweep=True)


@case("kill")
def drifted_sweep_resume(tmp):
    """Members at different steps (ranks that drifted apart), resumed in one process."""
    out = tmp / "sw"
    expect(sh("fastgan.sweep", "--seeds", "0,1", *TINY, "--steps", "4", "--ckpt-every", "2",
              "--out", str(out)), 0)
    for name in ("step_00000004.pt", "step_00000004.pt.sha256"):
        (out / "members/001/checkpoints" / name).unlink()
    for m in (out / "members").iterdir():
        (m / "summary.json").unlink()
    before = {k: v for k, v in snapshot(out).items() if "/checkpoints/" in k}
    expect(sh("fastgan.sweep", "--resume", str(out), "--steps", "6"), 0)
    kept(before, out, allowed=("members/000/checkpoints/step_00000000",
                               "members/001/checkpoints/step_00000000"))


# ---- damage: checkpoints, logs, data ------------------------------------------------------

def _damaged_checkpoint(tmp, damage):
    out = trained(tmp)
    newest = sorted((out / "checkpoints").glob("step_*.pt"))[-1]
    raw = newest.read_bytes()
    if damage == "flip":
        newest.write_bytes(raw[:len(raw) // 2] + bytes(b ^ 255 for b in raw[len(raw) // 2:]))
    elif damage == "truncate":
        newest.write_bytes(raw[:len(raw) // 3])
    elif damage == "empty":
        newest.write_bytes(b"")
    else:
        newest.with_name(newest.name + ".sha256").unlink()
    before = snapshot(out)
    r = sh("fastgan.train", "--resume", str(out), "--steps", "8")
    expect(r, 0)
    if "newest checkpoint that verifies" not in r.stderr:
        raise Outcome("wrong", "the fallback was not said")
    kept({k: v for k, v in before.items() if "checkpoints/" in k and newest.name not in k
          and "step_00000000" not in k and "step_00000002" not in k}, out)


for _d in ("flip", "truncate", "empty", "no-checksum"):
    CASES.append(Case(f"checkpoint-{_d}", "damage", lambda tmp, d=_d: _damaged_checkpoint(tmp, d)))


@case("damage")
def truncated_config_json(tmp):
    out = trained(tmp)
    text = (out / "config.json").read_text()
    (out / "config.json").write_text(text[:len(text) // 2])
    expect(sh("fastgan.train", "--resume", str(out), "--steps", "8"), 0)


@case("damage")
def cut_metrics_line(tmp):
    out = trained(tmp)
    with open(out / "metrics.jsonl", "a") as f:
        f.write('{"step": 7, "d_lo')
    expect(sh("fastgan.train", "--resume", str(out), "--steps", "8"), 0)
    steps = [json.loads(line)["step"] for line in (out / "metrics.jsonl").read_text().splitlines()]
    if steps != [2, 4, 6, 8]:
        raise Outcome("wrong", f"metrics steps {steps}")


@case("damage")
def all_checkpoints_damaged(tmp):
    out = trained(tmp)
    for p in (out / "checkpoints").glob("step_*.pt"):
        p.write_bytes(b"")
    before = snapshot(out)
    expect(sh("fastgan.train", "--resume", str(out)), 2)
    kept(before, out)


@case("damage")
def sweep_member_all_damaged(tmp):
    out = tmp / "sw"
    expect(sh("fastgan.sweep", "--seeds", "0,1", *TINY, "--steps", "4", "--ckpt-every", "2",
              "--out", str(out)), 0)
    for m in (out / "members").iterdir():
        (m / "summary.json").unlink()
    for p in (out / "members/001/checkpoints").glob("step_*.pt"):
        p.write_bytes(p.read_bytes()[:50])
    before = snapshot(out / "members/001")
    expect(sh("fastgan.sweep", "--resume", str(out), "--steps", "6"), 3)
    kept(before, out / "members/001")


@case("damage")
def truncated_mnist(tmp):
    data = tmp / "mnist"
    shutil.copytree(DATA, data)
    f = data / "train-images-idx3-ubyte.gz"
    f.write_bytes(f.read_bytes()[:1000])
    expect(sh("fastgan.train", *TINY, "--data-dir", str(data), "--steps", "2", "--out",
              str(tmp / "r")), 2)


# ---- bad input: one line, exit 2, nothing written ------------------------------------------

BAD_FLAGS = {
    "train": [["--seed", "-1"], ["--g-hidden", ""], ["--target-fid", "nan"], ["--lr-d", "inf"],
              ["--instance-noise", "inf"], ["--lr", "-1"], ["--epochs", "x"], ["--k", "0"],
              ["--batch-size", "0"], ["--d-mbstd", "3"], ["--device", "tpu"],
              ["--ema-decay", "1"], ["--train-size", "10"], ["--g-hidden", "0,5"],
              ["--resume", "/no/such/run"], ["--bogus"]],
    "sweep": [["--seeds", "-1"], ["--lr-g", ""], ["--seeds", "0,0"], ["--device", "cpu,cuda"],
              ["--lr-g", "x"], ["--threads", "0"]],
    "sample": [["--checkpoint", "/no/such.pt", "--out", "x.npy"],
               ["--checkpoint", "RUN", "--out", "x.txt"], ["--checkpoint", "RUN", "--n", "0",
                                                           "--out", "x.npy"],
               ["--checkpoint", "RUN", "--reject", "1", "--out", "x.npy"]],
    "eval": [["--checkpoint", "/no/such.pt"], ["--samples", "/no/such.npy"],
             ["--checkpoint", "RUN", "--n", "1"], ["--checkpoint", "RUN", "--seed", "-1"]],
}


def _bad(command, flags):
    def run(tmp):
        run_dir = trained(tmp) if "RUN" in flags else None
        args = [str(run_dir) if f == "RUN" else f for f in flags]
        out = tmp / "out"
        extra = {"train": ["--out", str(out)], "sweep": ["--out", str(out)]}.get(command, [])
        before = snapshot(tmp)
        expect(sh(f"fastgan.{command}", *args, *extra), 2)
        kept(before, tmp)
        if out.exists():
            raise Outcome("wrong", f"{out} was written")
    return run


for _c, _list in BAD_FLAGS.items():
    for _f in _list:
        CASES.append(Case(f"{_c} {' '.join(_f)!r}", "input", _bad(_c, _f)))


def _api(call, want):
    def run(tmp):
        import fastgan
        try:
            call(fastgan, tmp)
        except want:
            return
        except Exception as e:                      # noqa: BLE001 (what a user would see)
            raise Outcome("traceback", f"{type(e).__name__}: {str(e)[:150]}")
        raise Outcome("wrong", "no error")
    return run


API = {
    "fit(epochs='3')": (lambda f, t: f.fit(epochs="3", out=str(t / "r")), TypeError),
    "fit(lr=-1)": (lambda f, t: f.fit(lr=-1.0, out=str(t / "r")), ValueError),
    "fit(bogus=1)": (lambda f, t: f.fit(bogus=1), TypeError),
    "sweep(seeds=[-1])": (lambda f, t: f.sweep(seeds=[-1], out=str(t / "s")), ValueError),
    "sweep(members=[{'bogus': 1}])": (lambda f, t: f.sweep(members=[{"bogus": 1}],
                                                           out=str(t / "s")), ValueError),
    "generate(G, 0)": (lambda f, t: f.generate(__import__("fastgan.models").models.Generator(),
                                               0), ValueError),
    "score(out of range)": (lambda f, t: f.score(__import__("numpy").full((4, 784), 3.0)),
                            ValueError),
    "score(NaN)": (lambda f, t: f.score(__import__("numpy").full((4, 784), float("nan"))),
                   ValueError),
    "score(1 sample)": (lambda f, t: f.score(__import__("numpy").zeros((1, 784))), ValueError),
    "score(device='cuda')": (lambda f, t: f.score(__import__("numpy").zeros((4, 784)),
                                                  device="cuda"), ValueError),
    "load_generator(missing)": (lambda f, t: f.load_generator(t / "none"), ValueError),
}
for _n, (_call, _want) in API.items():
    CASES.append(Case(_n, "api", _api(_call, _want)))


# ---- the operating system refuses ----------------------------------------------------------

def _mount(folder: Path, size_kb: int, ro=False):
    folder.mkdir(parents=True, exist_ok=True)
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size_kb}k", "tmpfs", str(folder)],
                       capture_output=True, text=True)
    if r.returncode:
        raise Outcome("skipped", f"no tmpfs here: {r.stderr.strip()[:100]}")
    if ro:
        subprocess.run(["mount", "-o", "remount,ro", str(folder)], check=True)


def _umount(folder: Path):
    subprocess.run(["umount", str(folder)], capture_output=True)


@case("os")
def out_is_a_file(tmp):
    f = tmp / "f"
    f.write_text("mine")
    for cmd in (["fastgan.train", *TINY, "--steps", "2"], ["fastgan.sweep", *TINY, "--steps", "2"]):
        expect(sh(*cmd, "--out", str(f)), 2)
    run_dir = trained(tmp)
    expect(sh("fastgan.sample", "--checkpoint", str(run_dir), "--out", str(f / "x.npy")), 2)
    expect(sh("fastgan.eval", "--checkpoint", str(run_dir), "--n", "10", "--out", str(f)), 2)
    if f.read_text() != "mine":
        raise Outcome("lost", "the file was changed")


@case("os")
def read_only_out(tmp):
    ro = tmp / "ro"
    _mount(ro, 64, ro=True)
    try:
        for cmd in (["fastgan.train", *TINY, "--steps", "2"],
                    ["fastgan.sweep", *TINY, "--steps", "2"]):
            expect(sh(*cmd, "--out", str(ro / "x")), 4)
        run_dir = trained(tmp)
        expect(sh("fastgan.sample", "--checkpoint", str(run_dir), "--out", str(ro / "x.npy")), 4)
        expect(sh("fastgan.eval", "--checkpoint", str(run_dir), "--n", "10", "--out",
                  str(ro / "ev")), 4)
    finally:
        _umount(ro)


@case("os")
def disk_full(tmp):
    probe = trained(tmp, "probe", 1)
    size = max(p.stat().st_size for p in (probe / "checkpoints").glob("*.pt"))
    disk = tmp / "disk"
    _mount(disk, int(2.5 * size / 1024) + 16)
    try:
        r = sh("fastgan.train", *TINY, "--steps", "40", "--ckpt-every", "10", "--out",
               str(disk / "run"))
        line = expect(r, 4)
        if "--resume" not in line:
            raise Outcome("wrong", "no resume hint")
        from fastgan.io import checkpoint
        checkpoint.latest_good(disk / "run", log=lambda m: None)
    finally:
        _umount(disk)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--save", action="store_true", help="write bench/results/faults.{json,md}")
    p.add_argument("--readme", type=Path, help="write the tally into this README's faults block")
    p.add_argument("--only", help="run the cases whose name holds this")
    args = p.parse_args(argv)
    results = []
    for c in CASES:
        if args.only and args.only not in c.name:
            continue
        tmp = Path(tempfile.mkdtemp(prefix="fastgan-fault-"))
        t0 = time.perf_counter()
        try:
            c.fn(tmp)
            verdict, detail = "clean", ""
        except Outcome as o:
            verdict, detail = o.verdict, o.detail
        except Exception as e:                      # noqa: BLE001 (the battery's own fault)
            verdict, detail = "traceback", "".join(traceback.format_exception_only(e))[:200]
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        results.append({"case": c.name, "kind": c.kind, "verdict": verdict, "detail": detail,
                        "seconds": round(time.perf_counter() - t0, 1)})
        print(f"{verdict:9s} {c.kind:6s} {c.name}" + (f"  ({detail})" if detail else ""),
              flush=True)
    counts = {v: sum(r["verdict"] == v for r in results)
              for v in ("clean", "traceback", "wrong", "lost", "skipped")}
    tried = len(results) - counts["skipped"]
    line = (f"tried {tried}: {counts['clean']} clean, {counts['traceback']} traceback, "
            f"{counts['wrong']} wrong, {counts['lost']} lost"
            + (f" ({counts['skipped']} skipped)" if counts["skipped"] else ""))
    print(line)
    if args.save:
        sys.path.insert(0, str(ROOT / "bench"))
        import torch
        env = {"torch": torch.__version__, "commit": subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True,
            text=True).stdout.strip(), "date": time.strftime("%Y-%m-%d")}
        out = ROOT / "bench" / "results"
        (out / "faults.json").write_text(json.dumps({"summary": line, "counts": counts,
                                                     "environment": env, "cases": results},
                                                    indent=1) + "\n")
        rows = "\n".join(f"| {r['case']} | {r['kind']} | {r['verdict']} | {r['detail']} |"
                         for r in results)
        (out / "faults.md").write_text(
            f"# The fault battery (`python bench/faults.py --save`)\n\n{line}.\n"
            f"torch {env['torch']}, commit {env['commit']}, {env['date']}, CPU.\n\n"
            f"| case | kind | verdict | detail |\n|---|---|---|---|\n{rows}\n")
    if args.readme:
        sys.path.insert(0, str(ROOT / "bench"))
        from common import splice
        splice(args.readme, "faults", f"{line} (`bench/results/faults.md`, CPU, "
                                      f"{time.strftime('%Y-%m-%d')}).\n")
    return 0 if counts["clean"] == tried else 1


if __name__ == "__main__":
    sys.exit(main())

"""Without Triton (it has no wheels for macOS or Windows) fastgan still installs, imports and
trains on the CPU: every op takes its pure-PyTorch reference, the same math as with Triton
installed, bit for bit. Simulated here by hiding the triton package from a subprocess."""
import subprocess
import sys

import pytest
import torch

from conftest import ROOT

HIDE = "import sys; sys.modules['triton'] = None; import runpy; sys.argv = {argv!r}; " \
       "runpy.run_module({module!r}, run_name='__main__', alter_sys=True)"


def run(module, *args, hide=True, env=None):
    import os
    code = HIDE.format(argv=[module, *args], module=module) if hide else None
    cmd = [sys.executable, "-c", code] if hide else [sys.executable, "-m", module, *args]
    full_env = {k: v for k, v in os.environ.items() if k != "TRITON_INTERPRET"}
    # one thread, fixed: a GEMM's sums then do not depend on how busy the machine is
    full_env.update(OMP_NUM_THREADS="1", MKL_DYNAMIC="FALSE", **(env or {}))
    return subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=300, env=full_env)


def test_imports_without_triton():
    code = ("import sys; sys.modules['triton'] = None\n"
            "import fastgan, fastgan.models, fastgan.losses, fastgan.sweep\n"
            "from fastgan import kernels\n"
            "from fastgan.kernels import linear_act, sigmoid_bce, member_random\n"
            "import torch\n"
            "assert not kernels.HAS_TRITON\n"
            "assert not kernels.triton_available(torch.device('cpu'))\n"
            "assert not kernels.triton_available(torch.device('cuda'))\n"
            "print('ok')\n")
    r = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True,
                       timeout=120, env={"PATH": "/usr/bin:/bin", "TRITON_INTERPRET": "1"})
    assert r.returncode == 0 and r.stdout.strip() == "ok", r.stderr
    assert r.stderr == "", f"importing without Triton printed: {r.stderr}"


@pytest.mark.parametrize("module", ["fastgan.train", "fastgan.sweep", "fastgan.sample",
                                    "fastgan.eval"])
def test_help_without_triton(module):
    r = run(module, "--help")
    assert r.returncode == 0 and "usage" in r.stdout, r.stderr


def test_backend_triton_without_triton_is_one_line():
    r = run("fastgan.train", "--device", "cpu", "--backend", "triton", "--steps", "1")
    lines = r.stderr.strip().splitlines()
    assert r.returncode == 2 and len(lines) == 1 and "needs Triton installed" in lines[0], r.stderr


def _tensors(obj, prefix=""):
    if isinstance(obj, torch.Tensor):
        yield prefix, obj
    elif isinstance(obj, dict):
        for k, v in obj.items():
            yield from _tensors(v, f"{prefix}.{k}")
    elif isinstance(obj, (list, tuple)):
        for i, v in enumerate(obj):
            yield from _tensors(v, f"{prefix}[{i}]")


def test_training_without_triton_matches_with_it(tmp_path, mnist_dir):
    """A short CPU run with Triton hidden ends in the same weights and optimizer state, bit for
    bit, as the same run with Triton installed (both take the reference on the CPU)."""
    args = ["--device", "cpu", "--data-dir", str(mnist_dir), "--steps", "6", "--train-size",
            "512", "--log-every", "3", "--no-eval", "--seed", "3"]
    runs = {}
    for hide in (True, False):
        out = tmp_path / f"hide{hide}"
        r = run("fastgan.train", *args, "--out", str(out), hide=hide)
        assert r.returncode == 0, r.stderr
        assert "Triton" not in r.stderr, r.stderr
        ckpt = sorted((out / "checkpoints").glob("step_*.pt"))[-1]
        runs[hide] = dict(_tensors(torch.load(ckpt, weights_only=True)))
    assert runs[True].keys() == runs[False].keys() and len(runs[True]) > 10
    for name, t in runs[False].items():
        assert torch.equal(runs[True][name], t), f"{name} differs without Triton"

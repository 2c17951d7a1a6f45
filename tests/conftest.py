import os
from pathlib import Path

import pytest

# One known-good tile per kernel instead of autotuning (read when the kernels are imported): a
# first run of the CUDA tests compiles each kernel variant once, not once per tile.
os.environ.setdefault("FASTGAN_AUTOTUNE", "0")

ROOT = Path(__file__).resolve().parents[1]


def mnist_folder():
    for folder in (os.environ.get("FASTGAN_DATA"), ROOT.parent / "shared" / "mnist"):
        if folder and (Path(folder) / "train-images-idx3-ubyte.gz").is_file():
            return Path(folder).resolve()
    return None


@pytest.fixture(scope="session")
def mnist_dir():
    folder = mnist_folder()
    if folder is None:
        pytest.skip("MNIST not found: set FASTGAN_DATA to the folder with the four .gz files")
    return folder


def pytest_runtest_logreport(report):
    """With $FASTGAN_FAILURE_LOG set (bench/gpu_session.sh sets it), each failure's traceback is
    appended to that file as it happens, by the process that ran the test: a run stopped at its
    time limit keeps them (pytest prints them only at its end)."""
    path = os.environ.get("FASTGAN_FAILURE_LOG")
    if path and report.failed and getattr(report, "node", None) is None:   # not xdist's copy
        with open(path, "a") as f:
            f.write(f"==== {report.nodeid} ({report.when})\n{report.longreprtext}\n")


@pytest.fixture(autouse=True)
def _seed_per_test(request):
    """torch's global generator seeded from the test's id: every test draws its own inputs, the
    same on each run, so a failure reproduces (a test that seeds itself still may)."""
    import zlib
    import torch
    torch.manual_seed(zlib.crc32(request.node.nodeid.encode()))


@pytest.fixture(autouse=True)
def _reset_kernel_settings():
    """Each test leaves the kernels' backend and precision, and torch's tf32 flag, as it found
    them (the parity tests turn tf32 off)."""
    import torch
    from fastgan import kernels
    tf32 = torch.backends.cuda.matmul.allow_tf32
    yield
    kernels.set_backend("auto")
    kernels.set_precision("tf32")
    torch.backends.cuda.matmul.allow_tf32 = tf32


@pytest.fixture
def one_thread():
    """One intra-op thread for the test: a member alone (E = 1) then runs each GEMM on one
    thread, as a member among others does, so the two agree bit for bit (on several threads
    MKL splits a lone member's GEMMs, which rounds differently; see the README)."""
    import torch
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)

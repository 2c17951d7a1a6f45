"""Shared by the benchmarks: device, shapes, timing, and the environment to report."""
import os
import re
import subprocess
import time
from pathlib import Path

import torch
import triton

CUDA = torch.cuda.is_available()
DEVICE = torch.device("cuda" if CUDA else "cpu")
from fastgan.models import layer_shapes as model_layers  # noqa: E402  (K, N, act)

LAYERS = model_layers()
BATCHES = [64, 1024, 16384] if CUDA else [4]          # tiny on the CPU: proves the code runs
BCE_SIZES = [128, 4096, 1 << 17, 1 << 20, 1 << 24] if CUDA else [128]


PRECISIONS = ["tf32", "fp32"] if CUDA else ["fp32"]   # float32 dots: same for every impl


def sync():
    if CUDA:
        torch.cuda.synchronize()


def cuda_timer() -> float:
    """perf_counter after the GPU's queue drains: the benchmark clock on CUDA."""
    torch.cuda.synchronize()
    return time.perf_counter()


class precision:
    """Context: torch's float32 matmuls in tf32 or full fp32 (restored after), so eager and
    compiled baselines run at the precision fastgan's kernel is given."""

    def __init__(self, name: str):
        self.name = name

    def __enter__(self):
        self.saved = torch.backends.cuda.matmul.allow_tf32
        torch.backends.cuda.matmul.allow_tf32 = self.name == "tf32"
        return "tf32" if self.name == "tf32" else "ieee"

    def __exit__(self, *exc):
        torch.backends.cuda.matmul.allow_tf32 = self.saved


def compiled(fn):
    """A fresh torch.compile of fn for one shape (dynamic=False), and a check that it compiled
    rather than fell back to eager."""
    import torch._dynamo
    torch._dynamo.reset()
    return torch.compile(fn, dynamic=False)


def assert_compiled() -> None:
    import torch._dynamo.utils
    graphs = torch._dynamo.utils.counters["stats"]["unique_graphs"]
    assert graphs >= 1, "torch.compile produced no graph (fell back to eager)"


def environment() -> dict:
    try:
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True,
                                text=True, cwd=Path(__file__).parent).stdout.strip()
    except OSError:
        commit = ""
    commit = commit or os.environ.get("FASTGAN_COMMIT", "unknown")   # no .git on a GPU machine
    return {"gpu": torch.cuda.get_device_name() if CUDA else "none (CPU)",
            "torch": torch.__version__, "triton": triton.__version__, "commit": commit}


def record_rate(benchmark, amount: float, unit: str) -> None:
    """Adds TFLOP/s or GB/s beside the timing (when the benchmark was timed)."""
    benchmark.extra_info[unit.split("/")[0].lower()] = amount
    stats = getattr(benchmark, "stats", None)
    if stats is not None and getattr(stats, "stats", None) is not None and stats.stats.mean:
        scale = 1e12 if unit == "TFLOP/s" else 1e9
        benchmark.extra_info[unit] = amount / stats.stats.mean / scale


def verdict(achieved: float, required: float) -> str:
    """"met", or by how much a target was missed."""
    return "met" if achieved >= required else f"missed by {100 * (1 - achieved / required):.0f}%"


def splice(readme: Path, name: str, block: str) -> None:
    """Replaces the text between <!-- name:start --> and <!-- name:end --> in readme."""
    text = readme.read_text()
    pattern = re.compile(rf"(<!-- {name}:start -->\n).*?(<!-- {name}:end -->)", re.S)
    if not pattern.search(text):
        raise SystemExit(f"error: {readme} has no <!-- {name}:start --> ... end block")
    readme.write_text(pattern.sub(lambda m: m.group(1) + block + m.group(2), text))

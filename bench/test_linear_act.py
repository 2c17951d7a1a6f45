"""linear_act forward and forward+backward: fastgan vs PyTorch eager vs torch.compile.

    python -m pytest bench/test_linear_act.py --benchmark-only      (full shapes on CUDA)
"""
import pytest
import torch
import torch.nn.functional as F

from fastgan.kernels.linear_act import linear_act
from common import BATCHES, CUDA, DEVICE, LAYERS, record_rate, sync


def eager(x, w, b, act):
    z = F.linear(x, w, b)
    return F.leaky_relu(z, 0.2) if act == "leaky_relu" else torch.tanh(z) if act == "tanh" else z


compiled = torch.compile(eager)
IMPLS = {"fastgan": lambda x, w, b, act: linear_act(x, w, b, act), "eager": eager,
         "compile": compiled}
LAYER_SET = LAYERS if CUDA else LAYERS[3:4]


@pytest.mark.parametrize("impl", IMPLS)
@pytest.mark.parametrize("layer", LAYER_SET, ids=lambda l: f"{l[0]}x{l[1]}-{l[2]}")
@pytest.mark.parametrize("batch", BATCHES, ids=lambda b: f"B{b}")
@pytest.mark.parametrize("mode", ["fwd", "fwd+bwd"])
def test_linear_act(benchmark, mode, batch, layer, impl):
    k, n, act = layer
    grad = mode != "fwd"
    x = torch.randn(batch, k, device=DEVICE).requires_grad_(grad)
    w = (torch.randn(n, k, device=DEVICE) / k ** 0.5).requires_grad_(grad)
    b = torch.zeros(n, device=DEVICE).requires_grad_(grad)
    dy = torch.randn(batch, n, device=DEVICE)
    fn = IMPLS[impl]

    def run():
        y = fn(x, w, b, act)
        if mode != "fwd":
            y.backward(dy)
        sync()
        return y
    run()                                               # compile / autotune outside timing
    benchmark.group = f"linear_act {mode} B{batch} {k}x{n}"
    y = benchmark(run)
    assert y.shape == (batch, n)
    record_rate(benchmark, 2 * batch * k * n * (1 if mode == "fwd" else 3), "TFLOP/s")


@pytest.mark.parametrize("batch", BATCHES, ids=lambda b: f"B{b}")
def test_dense_gemm_reference(benchmark, batch):
    """The dense-GEMM rate of this GPU at the biggest layer: the yardstick of the targets."""
    a = torch.randn(batch, 1024, device=DEVICE)
    w = torch.randn(1024, 1024, device=DEVICE)
    benchmark.group = f"dense gemm B{batch}"
    benchmark(lambda: (a @ w, sync()))
    record_rate(benchmark, 2 * batch * 1024 * 1024, "TFLOP/s")

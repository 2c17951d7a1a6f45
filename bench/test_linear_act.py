"""linear_act forward and forward+backward: fastgan vs PyTorch eager vs torch.compile.

    python -m pytest bench/test_linear_act.py --benchmark-only      (full shapes on CUDA)
"""
import pytest
import torch
import torch.nn.functional as F

from fastgan.kernels.linear_act import linear_act
from common import (BATCHES, CUDA, DEVICE, LAYERS, PRECISIONS, assert_compiled, compiled,
                    precision, record_rate, sync)


def eager(x, w, b, act):
    z = F.linear(x, w, b)
    return F.leaky_relu(z, 0.2) if act == "leaky_relu" else torch.tanh(z) if act == "tanh" else z


LAYER_SET = LAYERS if CUDA else LAYERS[3:4]


@pytest.mark.parametrize("impl", ["fastgan", "eager", "compile"])
@pytest.mark.parametrize("layer", LAYER_SET, ids=lambda l: f"{l[0]}x{l[1]}-{l[2]}")
@pytest.mark.parametrize("batch", BATCHES, ids=lambda b: f"B{b}")
@pytest.mark.parametrize("mode", ["fwd", "fwd+bwd"])
@pytest.mark.parametrize("prec", PRECISIONS)
def test_linear_act(benchmark, prec, mode, batch, layer, impl):
    k, n, act = layer
    grad = mode != "fwd"
    x = torch.randn(batch, k, device=DEVICE).requires_grad_(grad)
    w = (torch.randn(n, k, device=DEVICE) / k ** 0.5).requires_grad_(grad)
    b = torch.zeros(n, device=DEVICE).requires_grad_(grad)
    dy = torch.randn(batch, n, device=DEVICE)
    with precision(prec) as dots:
        fn = {"fastgan": lambda x, w, b, act: linear_act(x, w, b, act, input_precision=dots),
              "eager": eager, "compile": compiled(eager) if impl == "compile" else None}[impl]

        def run():              # no sync inside: the benchmark clock waits for the GPU
            y = fn(x, w, b, act)
            if grad:            # gradients returned, not accumulated into .grad across rounds
                torch.autograd.grad(y, (x, w, b), dy)
            return y
        run()                                           # compile / autotune outside timing
        sync()
        if impl == "compile":
            assert_compiled()
        benchmark.group = f"linear_act {mode} {prec} B{batch} {k}x{n}"
        y = benchmark(run)
    assert y.shape == (batch, n)
    record_rate(benchmark, 2 * batch * k * n * (1 if mode == "fwd" else 3), "TFLOP/s")


@pytest.mark.parametrize("batch", BATCHES, ids=lambda b: f"B{b}")
@pytest.mark.parametrize("prec", PRECISIONS)
def test_dense_gemm_reference(benchmark, prec, batch):
    """The dense-GEMM rate of this GPU at the biggest layer, at the same precision: the
    yardstick of the targets."""
    a = torch.randn(batch, 1024, device=DEVICE)
    w = torch.randn(1024, 1024, device=DEVICE)
    benchmark.group = f"dense gemm {prec} B{batch}"
    with precision(prec):
        benchmark(lambda: a @ w)
    record_rate(benchmark, 2 * batch * 1024 * 1024, "TFLOP/s")

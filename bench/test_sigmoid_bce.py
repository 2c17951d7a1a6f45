"""sigmoid_bce forward+backward: fastgan vs F.binary_cross_entropy_with_logits (eager, compiled),
and the device-to-device copy rate as the bandwidth yardstick."""
import pytest
import torch
import torch.nn.functional as F

from fastgan.kernels.sigmoid_bce import sigmoid_bce
from common import BCE_SIZES, DEVICE, assert_compiled, compiled, record_rate, sync


def eager(z):
    return F.binary_cross_entropy_with_logits(z, torch.ones_like(z))


@pytest.mark.parametrize("impl", ["fastgan", "eager", "compile"])
@pytest.mark.parametrize("n", BCE_SIZES, ids=lambda n: f"N{n}")
def test_sigmoid_bce(benchmark, n, impl):
    z = torch.randn(n, device=DEVICE, requires_grad=True)
    fn = {"fastgan": lambda z: sigmoid_bce(z, 1.0), "eager": eager,
          "compile": compiled(eager) if impl == "compile" else None}[impl]

    def run():                  # no sync inside; the gradient is returned, not accumulated
        loss = fn(z)
        torch.autograd.grad(loss, z)
        return loss
    run()
    sync()
    if impl == "compile":
        assert_compiled()
    benchmark.group = f"sigmoid_bce fwd+bwd N{n}"
    loss = benchmark(run)
    assert torch.isfinite(loss)
    record_rate(benchmark, 2 * 4 * n, "GB/s")        # read z, write dz (the floor of bytes)


@pytest.mark.parametrize("n", BCE_SIZES, ids=lambda n: f"N{n}")
def test_copy_reference(benchmark, n):
    src, dst = torch.randn(n, device=DEVICE), torch.empty(n, device=DEVICE)
    benchmark.group = f"sigmoid_bce fwd+bwd N{n}"
    benchmark(lambda: dst.copy_(src))
    record_rate(benchmark, 2 * 4 * n, "GB/s")

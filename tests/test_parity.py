"""CPU reference path vs GPU Triton path (fp32, ieee dots): same seeds, same initial parameters
(drawn on the CPU for any device), same batches and noise; losses and every parameter of each of
3 members (different seeds and learning rates) after 1 and 50 steps, with the GPU steps eager and
compiled (whole-step CUDA graphs against eager: tests/test_graphs.py). D's dropout is off (its
masks come from each device's own generators). Skipped without CUDA."""
import pytest
import torch

from fastgan import kernels
from fastgan.config import ModelConfig, TrainConfig
from fastgan.gan import GAN
from numerics import assert_rel

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
TOL = {1: 1e-5, 50: 1e-3}   # fp32 rounding differences grow through 50 Adam steps


def run(device, backend, steps, compile_):
    kernels.set_backend(backend)
    kernels.set_precision("fp32")
    torch.backends.cuda.matmul.allow_tf32 = False
    cfgs = [TrainConfig(seed=11 + e, lr_g=4e-4 / (1 + e),
                        model=ModelConfig(d_dropout=0.0, d_input_dropout=0.0)) for e in range(3)]
    gan = GAN(cfgs, torch.device(device), compile=compile_)
    data = torch.Generator().manual_seed(0)
    noise = torch.Generator().manual_seed(1)
    gan.z = lambda n: torch.randn(3, n, 100, generator=noise).to(device)   # same z on both
    stats = []
    for _ in range(steps):
        real = (torch.rand(3, 64, 784, generator=data) * 2 - 1).to(device)
        stats.append(torch.cat([gan.d_step(real), gan.g_step(64)], 1).cpu())
    return gan, torch.stack(stats)


@pytest.mark.parametrize("mode", ["eager", "compiled"])
@pytest.mark.parametrize("steps", [1, 50])
def test_cpu_reference_vs_gpu_triton(steps, mode):
    ref, s_ref = run("cpu", "torch", steps, False)
    tri, s_tri = run("cuda", "auto", steps, mode != "eager")
    assert_rel("losses / D outputs", s_tri, s_ref, TOL[steps])
    for net in ("G", "D"):
        for (name, a), b in zip(getattr(tri, net).named_parameters(),
                                getattr(ref, net).parameters()):
            assert_rel(f"{net}.{name} after {steps} steps", a.cpu(), b, TOL[steps])


def test_triton_vs_torch_backend_on_gpu():
    ref, s_ref = run("cuda", "torch", 50, False)
    tri, s_tri = run("cuda", "auto", 50, False)
    assert_rel("losses / D outputs", s_tri, s_ref, TOL[50])

"""The models train on the Triton kernels (interpreter on the CPU, or CUDA) as on the reference.

    TRITON_INTERPRET=1 python -m pytest tests/test_interpreter_training.py
"""
import pytest
import torch

from fastgan import kernels
from fastgan.config import ModelConfig, TrainConfig
from fastgan.gan import GAN
from fastgan.kernels._dispatch import INTERPRET
from numerics import assert_rel

CUDA = torch.cuda.is_available()
pytestmark = pytest.mark.skipif(not (CUDA or INTERPRET), reason=(
    "needs CUDA or TRITON_INTERPRET=1"))


def _train(backend, steps=3):
    kernels.set_backend(backend)
    kernels.set_precision("ieee")
    cfg = TrainConfig(model=ModelConfig(latent_dim=16, g_hidden=(32, 48), d_hidden=(40,)),
                      seed=3)
    device = torch.device("cuda" if CUDA else "cpu")
    gan = GAN(cfg, device, compile=False)
    data = torch.Generator().manual_seed(0)
    stats = []
    for _ in range(steps):
        real = (torch.rand(16, 784, generator=data) * 2 - 1).to(device)
        stats.append(torch.cat([gan.d_step(real), gan.g_step(16)]))
    return gan, torch.stack(stats)


def test_gan_steps_triton_match_reference():
    tri, s_tri = _train("auto")
    assert "fastgan" in type(tri.G(torch.zeros(1, 16, device=s_tri.device)).grad_fn).__name__
    ref, s_ref = _train("torch")
    assert_rel("losses and D outputs", s_tri, s_ref, 1e-5)
    for net in ("G", "D"):
        for (name, a), b in zip(getattr(tri, net).named_parameters(),
                                getattr(ref, net).parameters()):
            assert_rel(f"{net}.{name} after 3 steps", a, b, 1e-5)


@pytest.mark.skipif(not INTERPRET, reason="counts launches in the Triton interpreter")
@pytest.mark.parametrize("share, fwd", [(False, 14), (True, 10)], ids=["two-G-forwards", "shared"])
def test_launches_per_step(share, fwd):
    """The README's launch count: per D step + G step, 7 fwd of each G forward and D forward
    (4 + 3), dX where the input needs a gradient (D step: D's 2 upper layers; G step: D's 3 and
    G's 3 upper), dW of every layer updated (3 + 4), one BCE launch per step."""
    import sys
    from conftest import ROOT
    sys.path.insert(0, str(ROOT / "bench"))
    import launch_count
    narrow = ModelConfig(latent_dim=16, g_hidden=(16, 16, 32), d_hidden=(32, 16))  # same depth
    c = launch_count.count(share, narrow, batch=16)
    assert c["triton_launches"] == {"_fwd": fwd, "_dx": 8, "_dw": 7, "_bce_kernel": 2}
    assert c["torch_ops"]["aten::_fused_adam_"] == 2 and c["torch_ops"]["aten::_foreach_lerp_"] == 1

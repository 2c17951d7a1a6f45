"""The models train on the Triton kernels (interpreter on the CPU, or CUDA) as on the reference,
one member or several side by side.

    TRITON_INTERPRET=1 python -m pytest tests/test_interpreter_training.py
"""
import pytest
import torch

from fastgan import kernels
from fastgan.config import ModelConfig, TrainConfig
from fastgan.gan import GAN
from fastgan.kernels._dispatch import INTERPRET
from triton_limits import runs_linear_act
from numerics import assert_rel

CUDA = torch.cuda.is_available()
pytestmark = [pytest.mark.skipif(not (CUDA or INTERPRET), reason=(
    "needs CUDA or TRITON_INTERPRET=1")), runs_linear_act]
MODEL = ModelConfig(latent_dim=16, g_hidden=(32, 48), d_hidden=(40,))


OPTIONS = ModelConfig(latent_dim=16, g_hidden=(32, 48), d_hidden=(40, 24), d_spectral_norm=True,
                      d_mbstd=4)


def _train(backend, members, steps=3, model=MODEL, topk=None):
    kernels.set_backend(backend)
    kernels.set_precision("fp32")
    # members differ in seed, learning rate, label and G loss: one launch per layer for all
    cfgs = [TrainConfig(model=model, seed=3 + e, lr_g=4e-4 * (1 + e), real_label=1.0 - 0.05 * e,
                        g_loss="minimax" if e == 1 else "ns") for e in range(members)]
    device = torch.device("cuda" if CUDA else "cpu")
    gan = GAN(cfgs, device, compile=False)
    # the same z for both backends: on CUDA the Philox normals of the kernel and of its
    # reference differ by the rounding of log and cos (tests/test_member_random.py), which
    # three Adam steps (whose first update is about lr * sign(g)) and top-k can magnify
    noise = torch.Generator().manual_seed(1)
    gan.z = lambda n: torch.randn(members, n, model.latent_dim, generator=noise).to(device)
    data = torch.Generator().manual_seed(0)
    stats = []
    for _ in range(steps):
        real = (torch.rand(members, 16, 784, generator=data) * 2 - 1).to(device)
        stats.append(torch.cat([gan.d_step(real), gan.g_step(16, 1.0, topk)], 1))
    return gan, torch.stack(stats)


@pytest.mark.parametrize("members", [1, 3])
def test_gan_steps_triton_match_reference(members):
    tri, s_tri = _train("auto", members)
    z = torch.zeros(members, 1, 16, device=s_tri.device)
    assert "fastgan" in type(tri.G(z).grad_fn).__name__.lower()
    _assert_same_training(tri, s_tri, *_train("torch", members))


def _assert_same_training(tri, s_tri, ref, s_ref):
    assert_rel("losses and D outputs", s_tri, s_ref, 1e-5)
    for net in ("G", "D"):
        for (name, a), b in zip(getattr(tri, net).named_parameters(),
                                getattr(ref, net).parameters()):
            for e in range(tri.members):
                assert_rel(f"member {e} {net}.{name} after 3 steps", a[e], b[e], 1e-5)


@pytest.mark.parametrize("members", [1, 3])
def test_recipe_options_triton_match_reference(members):
    """Spectral norm (W / sigma into the kernels, dW back through sigma), minibatch std and
    top-k G updates train on the kernels as on the reference."""
    tri, s_tri = _train("auto", members, model=OPTIONS, topk=9)
    _assert_same_training(tri, s_tri, *_train("torch", members, model=OPTIONS, topk=9))


@pytest.mark.skipif(not INTERPRET, reason="counts launches in the Triton interpreter")
@pytest.mark.parametrize("members", [1, 3])
@pytest.mark.parametrize("share, fwd", [(False, 14), (True, 10)], ids=["two-G-forwards", "shared"])
def test_launches_per_step(share, fwd, members):
    """The README's launch count: per D step + G step, 7 fwd of each G forward and D forward
    (4 + 3), dX where the input needs a gradient (D step: D's 2 upper layers; G step: D's 3 and
    G's 3 upper), dW of every layer updated (3 + 4), the minibatch std's forward and backward
    and the loss's gradient once per D forward, one minibatch gathered, the average's weights;
    the same for any number of members."""
    import sys
    from conftest import ROOT
    sys.path.insert(0, str(ROOT / "bench"))
    import launch_count
    narrow = ModelConfig(latent_dim=16, g_hidden=(16, 16, 32), d_hidden=(32, 16))  # same depth
    c = launch_count.count(share, narrow, batch=16, members=members)
    assert c["triton_launches"] == {"_fwd": fwd, "_dx": 8, "_dw": 7, "_gan_bce_kernel": 2,
                                    "_mbstd_fwd": 2, "_mbstd_bwd": 2, "_take_rows_kernel": 1,
                                    "_ema_weights_kernel": 1}
    assert c["torch_ops"]["aten::_fused_adam_"] == 2 and c["torch_ops"]["aten::_foreach_lerp_"] == 1
    # each member draws its own random numbers: z twice, and 16 bits per unit at each of the
    # default D's 3 dropout sites in each of the 2 D forwards
    draws = 2 if not share else 1
    assert c["torch_ops"]["aten::normal_"] == draws * members
    assert c["torch_ops"]["aten::random_"] == 6 * members


@runs_linear_act
@pytest.mark.skipif(not INTERPRET, reason="records launches in the Triton interpreter")
def test_the_default_step_is_capture_safe():
    """Two consecutive steps of the default recipe along the CUDA code path launch the same
    kernels with the same non-tensor arguments (no draw number, minibatch offset or average's
    weight that a captured graph would freeze), and read nothing back to the host
    (bench/capture_check.py)."""
    import sys
    from conftest import ROOT
    sys.path.insert(0, str(ROOT / "bench"))
    import capture_check
    narrow = ModelConfig(latent_dim=16, g_hidden=(16, 16, 32), d_hidden=(32, 16))  # same depth
    a, b = capture_check.record_steps(TrainConfig(model=narrow, batch_size=16, seed=0))
    names = {name for name, _, _ in a}                  # the launches that read counters
    assert {"triton::_fwd", "triton::_mbstd_fwd", "triton::_take_rows_kernel",
            "triton::_ema_weights_kernel"} <= names, names
    found = capture_check.hazards(a, b)
    assert not found, "\n".join(f"{h['kind']} {h['what']}: {h['detail']}" for h in found)


@runs_linear_act
@pytest.mark.skipif(not INTERPRET, reason="counts launches in the Triton interpreter")
def test_the_default_step_fits_the_launch_budget():
    """The default step (k = 2) on the CUDA code path launches at most 64 kernels: 53 Triton
    launches (21 forwards, 10 dX, 10 dW; z and D's dropout bits drawn inside them; 3 minibatch
    std forwards and backwards, 3 loss gradients with their statistics, 2 minibatches, the
    average's weights) and 11 PyTorch kernels (3 fused Adams and their step counts, the
    average's lerp, 2 concatenations of real and fake, the draw and batch counters)."""
    import sys
    from conftest import ROOT
    sys.path.insert(0, str(ROOT / "bench"))
    import launch_count
    narrow = ModelConfig(latent_dim=16, g_hidden=(16, 16, 32), d_hidden=(32, 16))  # same depth
    c = launch_count.count(False, narrow, batch=16, counted=True, k=2)
    assert c["triton_launches"] == {"_fwd": 21, "_dx": 10, "_dw": 10, "_gan_bce_kernel": 3,
                                    "_mbstd_fwd": 3, "_mbstd_bwd": 3, "_take_rows_kernel": 2,
                                    "_ema_weights_kernel": 1}
    assert c["triton_total"] + c["torch_total"] <= 64, c["torch_ops"]

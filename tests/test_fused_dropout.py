"""D's dropout inside the kernels (linear_act's and minibatch_std's drop): the same numbers as
the mask made from member_bits and multiplied in, bit for bit; minibatch_std against float64;
D on counted draws equal to D on the bits made; the reference path without Triton.

    TRITON_INTERPRET=1 python -m pytest tests/test_fused_dropout.py
"""
import pytest
import torch

from fastgan.kernels._dispatch import INTERPRET
from fastgan.kernels.linear_act import Drop, linear_act
from fastgan.kernels.linear_act_ref import dropout_mask, linear_act_ref
from fastgan.kernels.member_random import BitDraw
from fastgan.kernels.member_random_ref import member_bits_ref
from fastgan.kernels.minibatch_std import minibatch_std
from fastgan.kernels.minibatch_std_ref import minibatch_std_ref
from numerics import assert_like_torch
from triton_limits import runs_linear_act

CUDA = torch.cuda.is_available()
TRITON = CUDA or INTERPRET
needs_triton = pytest.mark.skipif(not TRITON, reason="needs CUDA or TRITON_INTERPRET=1")
DEVICE = "cuda" if CUDA else "cpu"
SEEDS = [3, 2 ** 62 + 12345, 7 * 2 ** 40 + 1, 0, 2 ** 63 - 1]
RATES = [0.1, 0.0, 0.5, 0.9, 0.25]                  # member 1 keeps every unit


@pytest.fixture(autouse=True)
def nan_buffers(monkeypatch):
    """torch.empty / empty_like hand out NaN-filled floating tensors during each test."""
    empty, empty_like = torch.empty, torch.empty_like

    def fill(t):
        return t.fill_(float("nan")) if t.is_floating_point() else t
    monkeypatch.setattr(torch, "empty", lambda *a, **k: fill(empty(*a, **k)))
    monkeypatch.setattr(torch, "empty_like", lambda *a, **k: fill(empty_like(*a, **k)))


def _drop(E, draw=11, offset=3) -> Drop:
    """A site's dropout for E members at RATES, as models.Dropout holds it."""
    from fastgan.models import Dropout
    site = Dropout(RATES[:E], 1)
    seeds = torch.tensor(SEEDS[:E], device=DEVICE)
    return Drop(BitDraw(seeds, torch.tensor([draw], device=DEVICE), offset),
                site.threshold.to(DEVICE), site.scale.to(DEVICE))


def _mask(drop: Drop, shape) -> torch.Tensor:
    """The site's mask as the unfused path makes it: the bits from the pure-PyTorch Philox."""
    E, n = drop.threshold.numel(), shape[-2] * shape[-1]
    bits = member_bits_ref(drop.draw.seeds.cpu(), int(drop.draw.draw) + drop.draw.offset, n)
    return dropout_mask(bits.view(E, *shape[-2:]).view(shape).to(DEVICE), drop.threshold,
                        drop.scale)


def _grads(out, inputs, seed):
    dy = torch.randn(out.shape, generator=torch.Generator().manual_seed(seed)).to(DEVICE)
    return torch.autograd.grad(out, inputs, dy)


@runs_linear_act
@needs_triton
@pytest.mark.parametrize("act", ["leaky_relu", "tanh", "none"])
@pytest.mark.parametrize("E,m,k,n", [(1, 1, 17, 3), (3, 17, 65, 10), (5, 65, 100, 1),
                                     (1, 3, 785, 33)], ids=lambda v: str(v))
def test_linear_act_drops_its_input_as_the_mask_does(E, m, k, n, act):
    """act((x * mask) W^T + b) and its three gradients, with the mask made in the kernels,
    equal the same op on x * mask made outside, bit for bit (fp32, exact dots)."""
    gen = torch.Generator().manual_seed(E * 1000 + m + k + n)
    x, w, b = (torch.randn(*s, generator=gen).to(DEVICE).requires_grad_()
               for s in ((E, m, k), (E, n, k), (E, n)))
    drop = _drop(E)
    fused = linear_act(x, w, b, act, 0.2, input_precision="ieee", drop=drop)
    plain = linear_act(x * _mask(drop, x.shape), w, b, act, 0.2, input_precision="ieee")
    assert torch.equal(fused, plain), "y differs"
    for name, a, c in zip(("dx", "dw", "db"), _grads(fused, (x, w, b), 1),
                          _grads(plain, (x, w, b), 1)):
        assert torch.equal(a, c), f"{name} differs: max |diff| {(a - c).abs().max().item():.3e}"


@runs_linear_act
@needs_triton
def test_linear_act_drops_one_models_input():
    """A 2-D call (one model, no member axis) with a one-member drop."""
    gen = torch.Generator().manual_seed(5)
    x, w = (torch.randn(*s, generator=gen).to(DEVICE) for s in ((17, 65), (3, 65)))
    drop = _drop(1)
    got = linear_act(x, w, None, "none", input_precision="ieee", drop=drop)
    want = linear_act(x * _mask(drop, x.shape), w, None, "none", input_precision="ieee")
    assert torch.equal(got, want)


def test_the_reference_makes_the_bits_where_no_kernel_runs(monkeypatch):
    """Without Triton (the torch backend), linear_act and minibatch_std make the draw's bits
    (member_bits_ref on the CPU) and multiply the mask in: the same numbers as the fused path
    computes (which the tests above hold to it)."""
    from fastgan import kernels
    monkeypatch.setattr(kernels._dispatch, "_backend", "torch")
    gen = torch.Generator().manual_seed(2)
    x, w, b = torch.randn(3, 17, 65, generator=gen), torch.randn(3, 10, 65, generator=gen), None
    drop = _drop(3)
    drop = Drop(BitDraw(drop.draw.seeds.cpu(), drop.draw.draw.cpu(), 3), drop.threshold.cpu(),
                drop.scale.cpu())
    mask = _mask(drop, x.shape).cpu()
    assert torch.equal(linear_act(x, w, b, "tanh", drop=drop),
                       linear_act_ref(x * mask, w, b, "tanh"))
    assert torch.equal(minibatch_std(x, 17, drop), minibatch_std_ref(x * mask, 17))


@needs_triton
@pytest.mark.parametrize("E,R,F,group", [(1, 4, 1, 4), (3, 51, 17, 3), (2, 16, 257, 4),
                                         (1, 6, 65, 6), (5, 8, 3, 1)], ids=lambda v: str(v))
@pytest.mark.parametrize("dropped", [False, True], ids=["plain", "dropout"])
def test_minibatch_std_against_float64(E, R, F, group, dropped):
    """Forward and backward within twice torch's own float32 error of float64 (+ 1e-6 of the
    scale), with and without the site's dropout inside."""
    gen = torch.Generator().manual_seed(E * 100 + R + F)
    x = (torch.randn(E, R, F, generator=gen) * 3 + 1).to(DEVICE).requires_grad_()
    drop = _drop(E) if dropped else None
    mask = _mask(drop, x.shape) if dropped else torch.ones_like(x)
    got = minibatch_std(x, group, drop)
    x64 = x.detach().double().requires_grad_()
    want = minibatch_std_ref(x64 * mask.double(), group)
    x32 = x.detach().clone().requires_grad_()
    theirs = minibatch_std_ref(x32 * mask, group)
    assert_like_torch("out", got.detach(), theirs.detach(), want.detach(), 1e-6)
    (dx,), (dx64,), (dx32,) = (_grads(o, (i,), 7) for o, i in ((got, x), (want, x64),
                                                                (theirs, x32)))
    assert_like_torch("dx", dx, dx32, dx64, 1e-6 * dx64.abs().max().item())


def test_minibatch_std_bad_shapes():
    with pytest.raises(ValueError, match="multiple of the group of 4"):
        minibatch_std(torch.zeros(1, 6, 3), 4)
    with pytest.raises(ValueError, match=r"\[E, R, F\]"):
        minibatch_std(torch.zeros(6, 3), 3)


def test_a_bad_drop_is_one_clear_error():
    x, w = torch.zeros(2, 3, 5), torch.zeros(2, 4, 5)
    drop = Drop(BitDraw(torch.zeros(3, dtype=torch.int64), torch.zeros(1, dtype=torch.int64), 0),
                torch.zeros(3, dtype=torch.int16), torch.ones(3))
    with pytest.raises(ValueError, match=r"int64 seeds \[2\]"):
        linear_act(x, w, None, "none", drop=drop)


@runs_linear_act
@needs_triton
def test_d_on_counted_draws_equals_d_on_the_bits_made():
    """Discriminator.forward given BitDraws (the sites applied inside linear_act and
    minibatch_std) equals it given the bits those draws make, logits and every gradient,
    bit for bit: 3 members of different rates, maxout off, minibatch std on."""
    from fastgan.config import ModelConfig
    from fastgan.models import Discriminator
    model = ModelConfig(image_dim=20, d_hidden=(17, 9), d_mbstd=3)
    rates = [0.1, 0.0, 0.5]
    D = Discriminator(model, 3, [torch.Generator().manual_seed(e) for e in range(3)],
                      rates, [0.25, 0.2, 0.0]).to(DEVICE)
    gen = torch.Generator().manual_seed(4)
    x = torch.randn(3, 12, 20, generator=gen).to(DEVICE).requires_grad_()
    seeds = torch.tensor(SEEDS[:3], device=DEVICE)
    draws = [BitDraw(seeds, torch.tensor([5], device=DEVICE), i) for i in range(3)]
    widths = [20, 17, 9]
    made = [d.bits(12 * w).view(3, 12, w) for d, w in zip(draws, widths)]
    params = [x, *D.parameters()]
    fused, plain = D(x, draws), D(x, made)
    assert torch.equal(fused, plain), "logits differ"
    for p, a, c in zip(["x"] + [n for n, _ in D.named_parameters()], _grads(fused, params, 3),
                       _grads(plain, params, 3)):
        assert torch.equal(a, c), f"d{p} differs: max |diff| {(a - c).abs().max().item():.3e}"


@runs_linear_act
@needs_triton
def test_g_on_a_normal_draw_equals_g_on_the_normals_made():
    """Generator.forward given a NormalDraw (z computed inside its first layer's forward and
    dW) equals it given the draw made by member_normal: output and every gradient."""
    from fastgan.config import ModelConfig
    from fastgan.kernels.member_random import NormalDraw
    from fastgan.models import Generator
    G = Generator(ModelConfig(latent_dim=17, g_hidden=(9, 33), image_dim=20), 3,
                  [torch.Generator().manual_seed(e) for e in range(3)]).to(DEVICE)
    z = NormalDraw(torch.tensor(SEEDS[:3], device=DEVICE), torch.tensor([4], device=DEVICE), 2,
                   7, 17)
    fused, plain = G(z), G(z.make())
    assert torch.equal(fused, plain), "G(z) differs"
    params = list(G.parameters())
    for (name, _), a, c in zip(G.named_parameters(), _grads(fused, params, 5),
                               _grads(plain, params, 5)):
        assert torch.equal(a, c), f"d{name} differs: max |diff| {(a - c).abs().max().item():.3e}"


@runs_linear_act
@needs_triton
@pytest.mark.parametrize("shared", [False, True], ids=["k2", "shared-G-forward"])
def test_training_steps_with_draws_left_to_the_kernels_equal_draws_made(monkeypatch, shared):
    """Three steps of two members on counted streams (input dropout, hidden dropout in one member
    only, the minibatch std): draws left to the kernels (z and the bits computed where read)
    end in the same parameters, moments, average and statistics as the draws made first."""
    from fastgan.config import ModelConfig, TrainConfig
    from fastgan.data import Batches
    from fastgan.gan import GAN
    from fastgan.step import Stats, train_step
    from fastgan.streams import Streams
    from fastgan import kernels
    kernels.set_precision("fp32")
    model = dict(latent_dim=8, g_hidden=(16,), d_hidden=(16, 12), d_mbstd=4)
    cfgs = [TrainConfig(seed=s, k=1 if shared else 2, share_g_forward=shared, batch_size=8,
                        model=ModelConfig(**model, d_dropout=r)) for s, r in ((0, 0.2), (1, 0.0))]
    images = torch.rand(64, 784, generator=torch.Generator().manual_seed(9)).to(DEVICE) * 2 - 1

    def run(later: bool):
        monkeypatch.setattr(GAN, "_later", property(lambda self: later))
        gan = GAN(cfgs, torch.device(DEVICE), compile=False)
        gan.streams = Streams([c.seed for c in cfgs], DEVICE, counted=True)
        batches, stats = Batches(images, 8, [c.seed for c in cfgs]), Stats(2, DEVICE)
        for t in range(3):
            train_step(gan, batches, t, 3, stats)
        return ([*gan.G.parameters(), *gan.D.parameters(), *gan.opt_d.exp_avg_sq,
                 *gan.G_ema.parameters(), stats.d, stats.g])
    for i, (a, c) in enumerate(zip(run(True), run(False))):
        assert torch.equal(a, c), f"tensor {i} differs: max |diff| {(a - c).abs().max():.3e}"

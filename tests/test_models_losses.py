import math

import pytest
import torch

from fastgan.config import ModelConfig, TrainConfig
from fastgan.gan import GAN
from fastgan.losses import d_loss, g_loss
from fastgan.models import Dense, Discriminator, Generator
from numerics import assert_rel


@pytest.mark.parametrize("members", [1, 3])
def test_model_shapes_and_ranges(members):
    G, D = Generator(members=members), Discriminator(members=members)
    z = torch.randn(members, 12, 100)
    x = G(z)
    assert x.shape == (members, 12, 784) and x.abs().max() < 1
    assert D(x).shape == (members, 12, 1)
    dense = lambda net: [m.weight.shape[1:] for m in net if isinstance(m, Dense)]
    # the default G is 1.5 times the usual 256-512-1024 (docs/quality.md)
    assert dense(G.net) + dense(D.net) == [(384, 100), (768, 384), (1536, 768), (784, 1536),
                                           (512, 784), (256, 512), (1, 257)]
    assert all(p.shape[0] == members for p in [*G.parameters(), *D.parameters()])
    # the default D: dropout (p = 0.1) on the input pixels and after each hidden layer, none
    # before the output logit; the minibatch-std feature over groups of 4 rows beside the last
    # hidden layer's 256, so a batch must be a multiple of 4
    assert [type(m).__name__ for m in D.net] == ["Dropout", "Dense", "Dropout", "Dense", "Dropout",
                                                 "MinibatchStd", "Dense"]
    with pytest.raises(ValueError, match="7 rows per member are not a multiple of the group of 4"):
        D(x[:, :7])
    assert all(s.active and s.drops == [True] * members for s in D.sites) and len(D.sites) == 3
    small = ModelConfig(latent_dim=5, g_hidden=(7,), d_hidden=(3, 3), d_dropout=0.0,
                        d_input_dropout=0.0, d_mbstd=0)
    assert Generator(small)(torch.randn(2, 5)).shape == (2, 784)     # one model: [B, latent]
    assert [m.weight.shape for m in Discriminator(small).net if isinstance(m, Dense)] == \
        [(1, 3, 784), (1, 3, 3), (1, 1, 3)]
    assert not Discriminator(small).sites                 # no rate: every site is skipped


def bce(p, y):
    return -(y * math.log(p) + (1 - y) * math.log(1 - p))


def test_losses_match_hand_computed_bce():
    real = torch.tensor([[2.0], [-1.0], [0.5]], dtype=torch.float64)
    fake = torch.tensor([[-3.0], [0.25]], dtype=torch.float64)
    sig = lambda t: 1 / (1 + math.exp(-t))
    want_d = (sum(bce(sig(v), 0.9) for v in real.flatten().tolist()) / 3
              + sum(bce(sig(v), 0.0) for v in fake.flatten().tolist()) / 2)
    loss, px, pgz = d_loss(real, fake, real_label=0.9)
    assert loss.item() == pytest.approx(want_d, rel=1e-12)
    assert px.item() == pytest.approx(sum(map(sig, real.flatten().tolist())) / 3, rel=1e-12)
    assert pgz.item() == pytest.approx(sum(map(sig, fake.flatten().tolist())) / 2, rel=1e-12)
    ns, p = g_loss(fake, "ns")
    assert ns.item() == pytest.approx(sum(-math.log(sig(v)) for v in fake.flatten().tolist()) / 2)
    mm, _ = g_loss(fake, "minimax")
    assert mm.item() == pytest.approx(sum(math.log(1 - sig(v)) for v in fake.flatten().tolist()) / 2)


def test_minimax_saturates_where_nonsaturating_does_not():
    # d/dz of the G loss per element: ns -> (sigmoid(z) - 1)/N; minimax -> -sigmoid(z)/N.
    # When D confidently rejects fakes (z = -6), minimax's gradient vanishes (the paper's point).
    z = torch.tensor([[-6.0], [0.0], [3.0]], dtype=torch.float64, requires_grad=True)
    g_loss(z, "ns")[0].backward()
    ns_grad = z.grad.clone()
    z.grad = None
    g_loss(z, "minimax")[0].backward()
    s = torch.sigmoid(z.detach())
    assert_rel("ns grad", ns_grad, (s - 1) / 3, 1e-12)
    assert_rel("minimax grad", z.grad, -s / 3, 1e-12)
    assert abs(z.grad[0].item()) < 1e-3 < abs(ns_grad[0].item())


def test_fixed_optimum_value_is_minus_log4():
    # At the global optimum D = 1/2 everywhere (logit 0) and V = -log 4, i.e. D loss = log 4.
    zeros = torch.zeros(5, 1, dtype=torch.float64)
    assert d_loss(zeros, zeros)[0].item() == pytest.approx(math.log(4), rel=1e-12)


def _params(m):
    return [p.detach().clone() for p in m.parameters()]


def _changed(before, m):
    return [not torch.equal(a, b) for a, b in zip(before, m.parameters())]


def test_d_step_updates_only_d_and_g_step_only_g():
    gan = GAN(TrainConfig(), torch.device("cpu"), compile=False)
    real = torch.rand(1, 8, 784) * 2 - 1
    g0, d0 = _params(gan.G), _params(gan.D)
    stats = gan.d_step(real)
    assert stats.shape == (1, 3) and torch.isfinite(stats).all()
    assert all(_changed(d0, gan.D)) and not any(_changed(g0, gan.G))
    g0, d0 = _params(gan.G), _params(gan.D)
    gan.opt_d.zero_grad()
    stats = gan.g_step(8)
    assert stats.shape == (1, 2)
    assert all(_changed(g0, gan.G)) and not any(_changed(d0, gan.D))
    assert all(p.requires_grad for p in gan.D.parameters())   # D unfrozen again
    assert all(p.grad is None for p in gan.D.parameters())    # and got no gradient

"""Discriminator rejection sampling (fastgan.eval.rejection): the kept samples' law against the
float64 integral of min(p_g, e^-M p_data), and a member's samples alone or in a group."""
import math

import numpy as np
import pytest
import torch
from torch import nn

from fastgan.config import ModelConfig
from fastgan.models import Discriminator, Generator
from fastgan.eval.rejection import check_quantile, reject, reject_members
from fastgan.eval.trained import sample_members


class Shift(nn.Module):
    """A 1-D 'generator' x = z ~ N(0, 1) (members stacked [E, B, 1])."""
    latent_dim = 1

    def __init__(self):
        super().__init__()
        self.unused = nn.Parameter(torch.zeros(()))        # a device to read

    def forward(self, z):
        return z


class Ratio(nn.Module):
    """The optimal D's logit for p_g = N(0, 1), p_data = N(mu, 1): log p_data/p_g = mu x - mu²/2."""

    def __init__(self, mu: float):
        super().__init__()
        self.mu = mu

    def forward(self, x):
        return self.mu * x - self.mu ** 2 / 2


def kept_law(mu: float, q: float):
    """Mean and acceptance of the kept samples, by a float64 integral: kept density
    ∝ min(phi(x), e^-M phi(x - mu)), M the q-quantile of the logit mu x - mu²/2, x ~ N(0, 1)."""
    from statistics import NormalDist
    M = mu * NormalDist().inv_cdf(q) - mu ** 2 / 2
    x = np.linspace(-12, 12, 480_001, dtype=np.float64)
    phi = np.exp(-x ** 2 / 2) / math.sqrt(2 * math.pi)
    phi_data = np.exp(-(x - mu) ** 2 / 2) / math.sqrt(2 * math.pi)
    kept = np.minimum(phi, np.exp(-M) * phi_data)
    dx = x[1] - x[0]
    mass = kept.sum() * dx
    return (x * kept).sum() * dx / mass, mass


@pytest.mark.parametrize("q", [0.3, 0.7, 0.95], ids=lambda q: f"q{q}")
def test_kept_samples_follow_min_of_g_and_data(q):
    """Calibration of 200k candidates (M's error ~0.003) and 100k kept: the kept mean within 5
    standard errors (plus M's share) of the integral's, the acceptance within 5 of its own."""
    mu, n = 1.0, 100_000
    x, rate = reject(Shift(), Ratio(mu), n, seed=int(q * 100), quantile=q, batch=20_000,
                     calibration=200_000)
    mean, accept = kept_law(mu, q)
    got = float(np.asarray(x, dtype=np.float64).mean())
    tol = 5 / math.sqrt(n) + 0.005
    assert abs(got - mean) < tol, f"kept mean {got:.4f}, integral {mean:.4f} (tol {tol:.4f})"
    tol_a = 5 * math.sqrt(accept * (1 - accept) / (n / accept)) + 0.003
    assert abs(rate - accept) < tol_a, f"acceptance {rate:.4f}, integral {accept:.4f}"
    assert mean > 0.05                     # the test can tell kept samples from G's own


def tiny(mbstd: int) -> ModelConfig:
    return ModelConfig(latent_dim=7, g_hidden=(17, 33), d_hidden=(65, 17), d_mbstd=mbstd)


def stacked(cfg: ModelConfig, E: int, seed: int):
    gens = [torch.Generator().manual_seed(seed + e) for e in range(E)]
    G = Generator(cfg, E, gens).eval()
    D = Discriminator(cfg, E, gens).eval()
    with torch.no_grad():                  # logits spread ~1, as a trained D's (0.4-0.5), so
        D.net[-1].weight.mul_(250)         # rejection keeps some and drops others (at init
    return G, D                            # their spread is ~0.004: nearly all kept)


def member(G, D, cfg: ModelConfig, e: int):
    g1, d1 = Generator(cfg).eval(), Discriminator(cfg).eval()
    g1.load_state_dict({k: v[e:e + 1] for k, v in G.state_dict().items()})
    d1.load_state_dict({k: v[e:e + 1] for k, v in D.state_dict().items()})
    return g1, d1


@pytest.mark.parametrize("mbstd", [0, 4], ids=["plain-D", "mbstd4"])
def test_member_alone_or_in_a_group(mbstd, one_thread):
    """Three members kept together, each again alone: the same samples bit for bit (an odd
    batch of 17 is rounded up to whole minibatch-std groups), and members differ."""
    cfg, E, n = tiny(mbstd), 3, 65
    G, D = stacked(cfg, E, seed=31 + mbstd)
    seeds = [3, 17, 257]
    together, rates = reject_members(G, D, n, [torch.Generator().manual_seed(s) for s in seeds],
                                     0.5, batch=17, calibration=257)
    assert together.shape == (E, n, 784) and together.dtype == np.float32
    assert np.isfinite(together).all() and np.abs(together).max() <= 1
    for e, s in enumerate(seeds):
        alone, rate = reject(*member(G, D, cfg, e), n, s, 0.5, batch=17, calibration=257)
        assert np.array_equal(alone, together[e]), f"member {e}: samples differ from alone"
        assert rate == rates[e] and 0 < rate < 1, f"member {e}: acceptance {rate} vs {rates[e]}"
    assert not np.array_equal(together[0], together[1])


def test_quantile_zero_is_plain_sampling():
    cfg = tiny(4)
    G, D = stacked(cfg, 2, seed=5)
    gens = lambda: [torch.Generator().manual_seed(s) for s in (1, 2)]
    x, rates = reject_members(G, D, 17, gens(), 0.0)
    assert np.array_equal(x, sample_members(G, 17, gens())) and rates == [1.0, 1.0]


def test_rejection_prefers_what_d_rates_real():
    """The kept samples' logits sit above the candidates': D's ranking is what keeps them."""
    cfg = tiny(0)
    G, D = stacked(cfg, 1, seed=9)
    x, _ = reject(*member(G, D, cfg, 0), 1000, 4, 0.8, calibration=2000)
    plain = sample_members(G, 1000, [torch.Generator().manual_seed(4)])[0]
    with torch.no_grad():
        lk = D(torch.from_numpy(x)[None])[0, :, 0]
        lp = D(torch.from_numpy(plain)[None])[0, :, 0]
    assert lk.mean() > lp.mean() + 0.5 * lp.std(), (float(lk.mean()), float(lp.mean()))


@pytest.mark.parametrize("q", [-0.1, 1.0, 2, float("nan")], ids=str)
def test_bad_quantile(q):
    with pytest.raises(ValueError, match="quantile must lie in"):
        check_quantile(q)

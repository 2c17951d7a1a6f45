"""Discriminator rejection sampling (Azadi et al. 2019): G's samples kept by D's density ratio.

For a fixed G the optimal D is D*(x) = p_data(x) / (p_data(x) + p_g(x)) (Goodfellow et al. 2014,
Proposition 1), so its logit l(x) = log D/(1 - D) = log p_data(x)/p_g(x). Keeping a sample
x ~ p_g with probability min(1, exp(l(x) - M)) leaves the kept ones distributed as
    p(x) ∝ min(p_g(x), e^-M p_data(x)),
which is p_data itself once M >= max l, and p_g once M <= min l. M is the q-quantile of l over
a calibration draw of G's samples, so `quantile` q sets how far the samples move from G toward
D's estimate of the data: q = 0 keeps every sample (plain sampling), and at least a share
1 - q of the candidates is always kept (those with l >= M), so the cost is at most 1/(1 - q)
times the G forwards, plus one D forward per candidate.

D here is the trained one (no dropout), scoring the samples of whichever G samples (its moving
average by default), and D's minibatch-std feature, when it has one, sees groups of `group`
consecutive candidates, as in training. Every member draws its calibration z, then its
candidates' z and acceptance uniforms, from its own CPU generator, batch by batch: its samples
are the same alone or beside other members, and on any device.
"""
import math

import numpy as np
import torch

from fastgan.models import MinibatchStd
from fastgan.eval.trained import sample_members


def check_quantile(q: float) -> None:
    if not (isinstance(q, (int, float)) and 0.0 <= q < 1.0):
        raise ValueError(f"rejection quantile must lie in [0, 1), got {q}")


@torch.no_grad()
def reject_members(G, D, n: int, generators, quantile: float, batch: int = 1000,
                   calibration: int = 10000):
    """n kept samples of each of a stacked G's members, float32 [E, n, 784] in [-1, 1], and
    each member's acceptance rate (kept / candidates) as a list of E floats.

    G takes z [E, B, latent] and returns [E, B, 784]; D takes [E, B, 784] and returns logits
    [E, B, 1]. Member e draws from generators[e]: `calibration` z first (M_e, the q-quantile
    of their logits), then per batch the candidates' z [batch, latent] and uniforms [batch]."""
    check_quantile(quantile)
    if quantile == 0:
        return sample_members(G, n, generators, batch), [1.0] * len(generators)
    device = next(G.parameters()).device
    group = max([m.group for m in D.modules() if isinstance(m, MinibatchStd)], default=1)
    batch = group * math.ceil(batch / group)               # whole minibatch-std groups
    calibration = group * math.ceil(calibration / group)
    E = len(generators)

    def draw(m: int):                                      # [E, m, 784] samples, [E, m] logits
        z = torch.stack([torch.randn(m, G.latent_dim, generator=g) for g in generators])
        x = G(z.to(device))
        return x, D(x)[..., 0].double().cpu()

    logits = [draw(min(batch, calibration - i))[1] for i in range(0, calibration, batch)]
    M = torch.quantile(torch.cat(logits, 1), quantile, dim=1)          # [E]
    kept = [[] for _ in range(E)]
    count, tried = [0] * E, [0] * E
    while min(count) < n:
        x, l = draw(batch)
        u = torch.stack([torch.rand(batch, generator=g, dtype=torch.float64)
                         for g in generators])                         # [E, batch]
        keep = (u.log() < l - M[:, None]).numpy()                # p = min(1, e^(l - M))
        x = x.float().cpu().numpy()
        for e in range(E):                 # bookkeeping of the kept rows, not a model step
            if count[e] >= n:
                continue
            rows = x[e][keep[e]][: n - count[e]]
            # candidates this member used: all of the batch, or up to its n-th kept one
            used = batch if count[e] + keep[e].sum() < n else \
                int(np.flatnonzero(keep[e])[n - count[e] - 1]) + 1
            kept[e].append(rows)
            count[e] += len(rows)
            tried[e] += used
    samples = np.stack([np.concatenate(k)[:n] for k in kept])
    return samples, [c / t for c, t in zip(count, tried)]


def reject(G, D, n: int, seed: int, quantile: float, batch: int = 1000,
           calibration: int = 10000):
    """n kept samples of a one-member G, float32 [n, 784], and the acceptance rate; z and the
    uniforms drawn on the CPU from seed."""
    samples, rate = reject_members(G, D, n, [torch.Generator().manual_seed(seed)], quantile,
                                   batch, calibration)
    return samples[0], rate[0]

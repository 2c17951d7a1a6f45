"""Gaussian Parzen-window log-likelihood, the protocol of Goodfellow et al. (2014), Table 1.

A Gaussian of width sigma sits on each of n samples (pixels in [0, 1], d = 784):
    log p(x) = logsumexp_i(-|x - s_i|^2 / (2 sigma^2)) - log n - (d/2) log(2 pi sigma^2)
sigma is chosen from logspace(-1, 0, 10) by the mean log-likelihood of a validation set (the
paper: the first 1,000 images of train[50000:60000]); the reported figure is the mean over the
10,000 test images +- its standard error. Everything is float64; the distance matrix is built
in row blocks so memory stays under `max_bytes`.
"""
import math

import numpy as np
import torch

SIGMAS = np.logspace(-1, 0, 10)


def _sq_dists(x: torch.Tensor, s: torch.Tensor, s_sq: torch.Tensor) -> torch.Tensor:
    """|x_j - s_i|^2 for a block of x [b, d] against all samples s [n, d] -> [b, n]."""
    return ((x * x).sum(1, keepdim=True) + s_sq[None, :] - 2.0 * x @ s.T).clamp_(min=0)


def log_likelihoods(samples, x, sigmas, max_bytes: int = 1 << 30) -> np.ndarray:
    """log p(x_j) for every x_j and every sigma: float64 [len(sigmas), m]."""
    s = torch.as_tensor(np.asarray(samples), dtype=torch.float64)
    x = torch.as_tensor(np.asarray(x), dtype=torch.float64)
    n, d = s.shape
    s_sq = (s * s).sum(1)
    block = max(1, int(max_bytes // (8 * n * 3)))          # d2, a and logsumexp temporaries
    out = np.empty((len(sigmas), len(x)))
    for j in range(0, len(x), block):
        d2 = _sq_dists(x[j:j + block], s, s_sq)
        for i, sigma in enumerate(sigmas):
            lse = torch.logsumexp(d2 * (-0.5 / sigma ** 2), dim=1)
            out[i, j:j + block] = (lse - math.log(n)
                                   - 0.5 * d * math.log(2 * math.pi * sigma ** 2)).numpy()
    return out


def parzen(samples, validation, test, sigmas=SIGMAS, max_bytes: int = 1 << 30) -> dict:
    """Picks sigma on validation, then scores test: {"mean", "stderr", "sigma", "valid_ll"}."""
    valid = log_likelihoods(samples, validation, sigmas, max_bytes).mean(axis=1)
    best = float(sigmas[int(np.argmax(valid))])
    ll = log_likelihoods(samples, test, [best], max_bytes)[0]
    return {"mean": float(ll.mean()), "stderr": float(ll.std(ddof=1) / math.sqrt(len(ll))),
            "sigma": best, "valid_ll": [float(v) for v in valid]}

"""1-D densities and the quantities of the paper's Section 4, computed numerically on a grid.

p_data: a Gaussian or a two-Gaussian mixture with known density; p_g: a Gaussian kernel density
estimate (Silverman bandwidth) of generator samples. On a grid, by the trapezoid rule:
    D*(x)    = p_data / (p_data + p_g)
    V(D, G)  = int p_data log D + int p_g log(1 - D)
    JSD      = KL(p_data || m) / 2 + KL(p_g || m) / 2,  m = (p_data + p_g) / 2   (nats)
and for D = D*, V(D*, G) = -log 4 + 2 JSD(p_data || p_g) (the paper's Theorem 1).
"""
import math

import numpy as np
import torch


class Target:
    """A Gaussian mixture with weights w, means mu, standard deviations sd."""

    def __init__(self, w, mu, sd):
        self.w, self.mu, self.sd = (np.asarray(v, dtype=np.float64) for v in (w, mu, sd))
        self.w = self.w / self.w.sum()

    def pdf(self, x: np.ndarray) -> np.ndarray:
        x = np.asarray(x, dtype=np.float64)[..., None]
        return (self.w * np.exp(-0.5 * ((x - self.mu) / self.sd) ** 2)
                / (self.sd * math.sqrt(2 * math.pi))).sum(-1)

    def moments(self) -> tuple[float, float]:
        """Mean and standard deviation."""
        mean = float((self.w * self.mu).sum())
        second = float((self.w * (self.sd ** 2 + self.mu ** 2)).sum())
        return mean, math.sqrt(second - mean ** 2)

    def sample(self, n: int, gen: torch.Generator) -> torch.Tensor:
        """float32 [n, 1]."""
        comp = torch.multinomial(torch.as_tensor(self.w), n, replacement=True, generator=gen)
        x = torch.randn(n, generator=gen, dtype=torch.float64)
        return (torch.as_tensor(self.mu)[comp] + torch.as_tensor(self.sd)[comp] * x).float()[:, None]


TARGETS = {"gaussian": Target([1.0], [4.0], [0.5]),
           "mixture": Target([0.5, 0.5], [2.5, 5.5], [0.4, 0.4])}


def bandwidth(samples: np.ndarray) -> float:
    """Silverman's rule: 0.9 min(std, IQR / 1.34) n^(-1/5)."""
    q75, q25 = np.percentile(samples, [75, 25])
    return max(0.9 * min(float(samples.std()), (q75 - q25) / 1.34) * len(samples) ** -0.2, 1e-6)


def kde(samples: np.ndarray, grid: np.ndarray) -> np.ndarray:
    """Gaussian KDE of 1-D samples on a uniform grid that spans them (Silverman bandwidth).

    Binned: each sample's unit weight is split linearly between its two neighbouring grid
    points, then the counts are convolved with the Gaussian sampled at the grid spacing. With
    spacing << bandwidth this matches the direct sum to O(spacing^2); it costs O(n + grid * 10h/dx)
    instead of O(n * grid)."""
    s = np.asarray(samples, dtype=np.float64).ravel()
    dx = grid[1] - grid[0]
    h = bandwidth(s)
    pos = np.clip((s - grid[0]) / dx, 0, len(grid) - 1 - 1e-9)
    left = np.floor(pos).astype(np.int64)
    frac = pos - left
    counts = (np.bincount(left, 1 - frac, len(grid)) + np.bincount(left + 1, frac, len(grid) + 1)[:len(grid)])
    half = int(np.ceil(5 * h / dx))
    offsets = np.arange(-half, half + 1) * dx
    kernel = np.exp(-0.5 * (offsets / h) ** 2) / (h * math.sqrt(2 * math.pi))
    return np.convolve(counts, kernel, mode="same") / len(s)


def integrate(y: np.ndarray, x: np.ndarray) -> float:
    return float(np.sum((y[1:] + y[:-1]) * np.diff(x)) / 2)


def _xlogy(a, b):
    return np.where(a > 0, a * np.log(np.where(a > 0, a, 1) / np.where(b > 0, b, 1)), 0.0)


def jsd(p: np.ndarray, q: np.ndarray, x: np.ndarray) -> float:
    m = (p + q) / 2
    return 0.5 * integrate(_xlogy(p, m), x) + 0.5 * integrate(_xlogy(q, m), x)


def value(d: np.ndarray, p_data: np.ndarray, p_g: np.ndarray, x: np.ndarray) -> float:
    """V(D, G) for D given on the grid (probabilities)."""
    d = np.clip(d, 1e-12, 1 - 1e-12)
    return integrate(p_data * np.log(d), x) + integrate(p_g * np.log(1 - d), x)


def mass_region(p: np.ndarray, x: np.ndarray, mass: float = 0.99) -> np.ndarray:
    """Boolean mask of the highest-density region of p holding `mass` of its mass: the grid
    points where p >= t, with t the largest level that keeps that much mass above it. For a
    unimodal p this is an interval; for a mixture it leaves out the low-density gap between
    the modes (a region where p is ~0 is not where p "is")."""
    w = p * np.gradient(x)                          # mass per grid point on a uniform grid
    order = np.argsort(-p, kind="stable")
    cum = np.cumsum(w[order]) / w.sum()
    keep = np.zeros(len(p), dtype=bool)
    keep[order[:int(np.searchsorted(cum, mass)) + 1]] = True
    return keep

"""Generators from checkpoints, and samples from generators (the library behind fastgan.sample)."""
import numpy as np
import torch

from fastgan import checkpoint
from fastgan.config import from_dict
from fastgan.models import Generator


def load_generator(path, device, raw: bool = False) -> Generator:
    """The checkpoint's averaged G (its trained G with raw=True, or when it kept no average),
    as a one-member Generator (it takes z [B, latent] and returns [B, 784])."""
    ckpt = checkpoint.load(path)
    G = Generator(from_dict(ckpt["config"]).model)
    state = ckpt["G"] if raw or "G_ema" not in ckpt else ckpt["G_ema"]
    G.load_state_dict({k: v.unsqueeze(0) for k, v in state.items()})   # [1, ...]: one member
    return G.to(device).eval()


@torch.no_grad()
def sample_members(G: Generator, n: int, generators, batch: int = 1000) -> np.ndarray:
    """n samples of each of G's members, float32 [E, n, 784] in [-1, 1]; member e's z drawn
    on the CPU from generators[e], batch by batch, so any device gives the same."""
    device = next(G.parameters()).device
    out = []
    for i in range(0, n, batch):
        m = min(batch, n - i)
        z = torch.stack([torch.randn(m, G.latent_dim, generator=g) for g in generators])
        out.append(G(z.to(device)).float().cpu())                       # [E, m, 784]
    return torch.cat(out, 1).numpy()


def sample(G: Generator, n: int, seed: int = 0, batch: int = 1000) -> np.ndarray:
    """n samples of a one-member G, float32 [n, 784] in [-1, 1]; z drawn on the CPU from seed."""
    return sample_members(G, n, [torch.Generator().manual_seed(seed)], batch)[0]

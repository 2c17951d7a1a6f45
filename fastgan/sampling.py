"""Generators from checkpoints, and samples from generators (the library behind fastgan.sample)."""
import numpy as np
import torch

from fastgan import checkpoint
from fastgan.config import from_dict
from fastgan.models import Generator


def load_generator(path, device, raw: bool = False) -> Generator:
    """The checkpoint's averaged G (its trained G with raw=True, or when it kept no average)."""
    ckpt = checkpoint.load(path)
    G = Generator(from_dict(ckpt["config"]).model)
    G.load_state_dict(ckpt["G"] if raw or "G_ema" not in ckpt else ckpt["G_ema"])
    return G.to(device).eval()


@torch.no_grad()
def sample(G: Generator, n: int, seed: int = 0, batch: int = 1000) -> np.ndarray:
    """n samples, float32 [n, 784] in [-1, 1]; z drawn on the CPU so any device gives the same."""
    gen = torch.Generator().manual_seed(seed)
    device = next(G.parameters()).device
    out = [G(torch.randn(min(batch, n - i), G.latent_dim, generator=gen).to(device)).float().cpu()
           for i in range(0, n, batch)]
    return torch.cat(out).numpy()

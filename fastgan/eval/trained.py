"""Generators (and discriminators) from checkpoints, and samples from generators (the library
behind fastgan.sample; fastgan.eval.rejection keeps them by D)."""
import numpy as np
import torch

from fastgan.io import checkpoint
from fastgan.config import from_dict
from fastgan.models import Discriminator, Generator


def load_generator(path, device, raw: bool = False) -> Generator:
    """The checkpoint's averaged G (its trained G with raw=True, or when it kept no average),
    as a one-member Generator (it takes z [B, latent] and returns [B, 784])."""
    ckpt = checkpoint.load(path)
    G = Generator(from_dict(ckpt["config"]).model)
    state = ckpt["G"] if raw or "G_ema" not in ckpt else ckpt["G_ema"]
    G.load_state_dict({k: v.unsqueeze(0) for k, v in state.items()})   # [1, ...]: one member
    return G.to(device).eval()


def load_discriminator(path, device) -> Discriminator:
    """The checkpoint's trained D as a one-member Discriminator (x [B, 784] stacked as
    [1, B, 784] -> logits [1, B, 1]; no dropout unless the caller passes masks)."""
    ckpt = checkpoint.load(path)
    if "D" not in ckpt:
        raise checkpoint.CheckpointError(f"{path} holds no discriminator")
    D = Discriminator(from_dict(ckpt["config"]).model)
    D.load_state_dict({k: v.unsqueeze(0) for k, v in ckpt["D"].items()})
    return D.to(device).eval()


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

"""Draw samples from a trained generator.

    python -m fastgan.sample --checkpoint PATH --n N --out FILE.npy|FILE.png [--seed S]

.npy: float32 [N, 784] in [-1, 1]; .png: a grid. PATH is a checkpoint file or a run folder
(its latest checkpoint).
"""
import sys
from pathlib import Path

import numpy as np
import torch

from fastgan import checkpoint
from fastgan.cli import Parser, UserError, run
from fastgan.config import from_dict
from fastgan.images import grid, write_png
from fastgan.models import Generator
from fastgan.train import resolve_device


def load_generator(path, device) -> Generator:
    ckpt = checkpoint.load(path)
    G = Generator(from_dict(ckpt["config"]).model)
    G.load_state_dict(ckpt["G"])
    return G.to(device).eval()


@torch.no_grad()
def sample(G: Generator, n: int, seed: int = 0, batch: int = 1000) -> np.ndarray:
    """n samples, float32 [n, 784] in [-1, 1]; z drawn on the CPU so any device gives the same."""
    gen = torch.Generator().manual_seed(seed)
    device = next(G.parameters()).device
    out = [G(torch.randn(min(batch, n - i), G.latent_dim, generator=gen).to(device)).float().cpu()
           for i in range(0, n, batch)]
    return torch.cat(out).numpy()


def main(argv=None) -> int:
    p = Parser(prog="fastgan.sample", description="Draw samples from a trained generator.")
    p.add_argument("--checkpoint", required=True, help="checkpoint file or run folder")
    p.add_argument("--n", type=int, default=64, help="number of samples (default 64)")
    p.add_argument("--out", required=True, help="output file: .npy or .png")
    p.add_argument("--seed", type=int, default=0, help="seed of z (default 0)")
    p.add_argument("--device", default="cpu", help="cpu or cuda (default cpu)")
    args = p.parse_args(argv)
    out = Path(args.out)
    if out.suffix not in (".npy", ".png"):
        raise UserError(f"--out {out}: must end in .npy or .png")
    if args.n < 1:
        raise UserError("--n must be >= 1")
    x = sample(load_generator(args.checkpoint, resolve_device(args.device)), args.n, args.seed)
    out.parent.mkdir(parents=True, exist_ok=True)
    if out.suffix == ".npy":
        np.save(out, x)
    else:
        write_png(out, grid(x))
    print(f"wrote {args.n} samples to {out}")
    return 0


def cli() -> None:
    """Console-script entry point."""
    sys.exit(run(main))


if __name__ == "__main__":
    cli()

"""Draw samples from a trained generator.

    python -m fastgan.sample --checkpoint PATH --n N --out FILE.npy|FILE.png [--seed S]

.npy: float32 [N, 784] in [-1, 1]; .png: a grid. PATH is a checkpoint file or a run folder
(its latest checkpoint). The moving average of G's weights samples when the run kept one;
--raw-g takes the trained G. --reject Q keeps G's samples by the checkpoint's D
(discriminator rejection sampling, fastgan.eval.rejection): each with probability
min(1, exp(logit - M)), M the Q-quantile of D's logits on 10,000 calibration samples.
"""
import sys
from pathlib import Path

from fastgan.io.cli import Parser, UserError, run


def main(argv=None) -> int:
    p = Parser(prog="fastgan.sample", description="Draw samples from a trained generator.")
    p.add_argument("--checkpoint", required=True, help="checkpoint file or run folder")
    p.add_argument("--n", type=int, default=64, help="number of samples (default 64)")
    p.add_argument("--out", required=True, help="output file: .npy or .png")
    p.add_argument("--seed", type=int, default=0, help="seed of z (default 0)")
    p.add_argument("--device", default="cpu", help="cpu or cuda (default cpu)")
    p.add_argument("--raw-g", action="store_true",
                   help="sample the trained G rather than its moving average")
    p.add_argument("--reject", type=float, default=0.0, metavar="Q",
                   help="keep samples by D's density ratio, M the Q-quantile of its logits: 0 "
                   "keeps all (default), 0.4 keeps about 89%% (fastgan.eval.rejection)")
    args = p.parse_args(argv)
    out = Path(args.out)
    if out.suffix not in (".npy", ".png"):
        raise UserError(f"--out {out}: must end in .npy or .png")
    if args.n < 1:
        raise UserError("--n must be >= 1")
    if not 0 <= args.reject < 1:
        raise UserError(f"--reject {args.reject}: must lie in [0, 1)")
    if args.seed < 0:
        raise UserError(f"--seed must be a non-negative integer, got {args.seed}")
    from fastgan.io.files import ensure_writable
    if out.is_dir():
        raise UserError(f"--out {out} is a folder; name a file ending in .npy or .png")
    ensure_writable(out.parent)                         # before any work
    import numpy as np                                 # torch loads after the flags are checked
    from fastgan.io.device import resolve_device
    from fastgan.io.images import grid, write_png
    from fastgan.eval.rejection import reject
    from fastgan.eval.trained import load_discriminator, load_generator
    device = resolve_device(args.device)
    G = load_generator(args.checkpoint, device, raw=args.raw_g)
    D = load_discriminator(args.checkpoint, device) if args.reject else None
    x, rate = reject(G, D, args.n, args.seed, args.reject)        # 0: plain sampling
    if args.reject:
        print(f"D kept {100 * rate:.1f}% of G's samples")
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

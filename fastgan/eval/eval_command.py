"""Score a generator: `python -m fastgan.eval --checkpoint PATH | --samples FILE.npy [--parzen]`.

Prints a markdown table (the samples, and real images as the reference rows), writes it with
the numbers as eval.md / eval.json, and eval.png: a grid of samples beside their class
histogram (each bar labelled by a real test digit of its class).
Scores: classifier FID against the 10,000 test images, Inception-style score, modes covered
(classes with >= 2% of samples), the share of confident samples (top probability > 0.9), and
with --parzen the paper's Parzen-window log-likelihood (mean +- standard error, and sigma).
--reject Q scores the samples the checkpoint's D keeps (fastgan.eval.rejection) and reports the
share it kept.
"""
import json
import sys
import time
from pathlib import Path

import numpy as np

from fastgan.io.cli import Parser, UserError, run
from fastgan.eval.scores import N_SAMPLES

def table(rows: dict) -> str:
    head = "| set | classifier FID | IS | modes | confident | Parzen LL (sigma) |"
    lines = [head, "|---|---:|---:|---:|---:|---:|"]
    for name, r in rows.items():
        fid = f"{r['fid']:.3f}" if "fid" in r else "—"
        pz = r.get("parzen")
        pz = f"{pz['mean']:.1f} ± {pz['stderr']:.1f} ({pz['sigma']:.3f})" if pz else "—"
        lines.append(f"| {name} | {fid} | {r['is']:.3f} | {r['modes']} | "
                     f"{r['confident']:.3f} | {pz} |")
    return "\n".join(lines)


def load_samples(path) -> np.ndarray:
    path = Path(path)
    if not path.is_file():
        raise UserError(f"samples file {path} not found")
    with open(path, "rb") as f:
        magic = f.read(6)
    if magic != b"\x93NUMPY":                         # numpy's own advice on this is unsafe
        raise UserError(f"{path}: not a .npy file (save samples with numpy.save)")
    try:
        x = np.load(path, allow_pickle=False)
    except (ValueError, OSError, EOFError) as e:
        if "pickle" in str(e):
            raise UserError(f"{path}: holds Python objects, not an array of floats (save "
                            "samples as a float array with numpy.save)") from None
        raise UserError(f"{path}: a truncated or damaged .npy file") from None
    if x.ndim != 2 or x.shape[1] != 784 or len(x) < 2:
        raise UserError(f"{path}: expected samples of shape [N >= 2, 784], got {list(x.shape)}")
    if not np.issubdtype(x.dtype, np.floating) or not np.isfinite(x).all():
        raise UserError(f"{path}: samples must be finite floats")
    if x.min() < -1.0001 or x.max() > 1.0001:
        raise UserError(f"{path}: samples must lie in [-1, 1] (got {x.min():.3g}..{x.max():.3g})")
    return x.astype(np.float32)


def main(argv=None) -> int:
    p = Parser(prog="fastgan.eval", description="Score a generator's samples.")
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--checkpoint", help="checkpoint file or run folder")
    src.add_argument("--samples", help=".npy of samples, float [N, 784] in [-1, 1]")
    p.add_argument("--n", type=int, default=N_SAMPLES, help="samples to draw (default 10000)")
    p.add_argument("--parzen", action="store_true", help="add the Parzen-window estimate (slow)")
    p.add_argument("--out", help="folder for eval.json/.md/.png (default: the run folder's "
                   "eval/, or ./eval)")
    p.add_argument("--data-dir", help="MNIST folder (else $FASTGAN_DATA, the cache)")
    p.add_argument("--device", default="cpu", help="cpu or cuda (default cpu)")
    p.add_argument("--seed", type=int, default=0, help="seed of z")
    p.add_argument("--retrain-classifier", action="store_true",
                   help="train the evaluation classifier afresh (about 1.5 min on a 2-core CPU) "
                   "instead of using the shipped one")
    p.add_argument("--raw-g", action="store_true",
                   help="score the trained G rather than its moving average")
    p.add_argument("--reject", type=float, default=0.0, metavar="Q",
                   help="score the samples D keeps, M the Q-quantile of its logits: 0 keeps "
                   "all (default; see fastgan.sample)")
    args = p.parse_args(argv)
    if args.n < 2:
        raise UserError("--n must be >= 2")
    if not 0 <= args.reject < 1:
        raise UserError(f"--reject {args.reject}: must lie in [0, 1)")
    if args.reject > 0 and args.samples:
        raise UserError("--reject needs --checkpoint (its D keeps the samples)")
    if args.seed < 0:
        raise UserError(f"--seed must be a non-negative integer, got {args.seed}")
    if args.checkpoint:
        ckpt = Path(args.checkpoint)
        if not ckpt.exists():
            raise UserError(f"checkpoint {ckpt} not found")
        default_out = (ckpt if ckpt.is_dir() else ckpt.parent.parent) / "eval"
    else:
        if not Path(args.samples).is_file():
            raise UserError(f"samples file {args.samples} not found")
        default_out = Path("eval")
    from fastgan.io.files import ensure_writable
    out = ensure_writable(Path(args.out) if args.out else default_out)   # before any scoring
    from fastgan.io.device import resolve_device          # torch loads after the flags are checked
    from fastgan.eval.evaluator import Evaluator
    from fastgan.io.plots import eval_figure
    from fastgan.eval.rejection import reject
    from fastgan.eval.trained import load_discriminator, load_generator
    device = resolve_device(args.device)
    kept = None
    if args.checkpoint:
        G = load_generator(args.checkpoint, device, args.raw_g)
        D = load_discriminator(args.checkpoint, device) if args.reject else None
        samples, kept = reject(G, D, args.n, args.seed, args.reject)    # 0: plain sampling
        kept = kept if args.reject else None
    else:
        samples = load_samples(args.samples)
    t0 = time.perf_counter()
    ev = Evaluator(args.data_dir, device, log=lambda m: print(m, file=sys.stderr),
                   retrain=args.retrain_classifier)
    t_setup = time.perf_counter() - t0
    row = ev.scores(samples)
    if kept is not None:
        row.update(reject=args.reject, kept=kept)
    if args.parzen:
        row["parzen"] = ev.parzen(samples)
    rows = {"samples": row, **ev.reference(args.parzen)}
    seconds = time.perf_counter() - t0
    md = table(rows)
    print(md)
    print(f"\nclass histogram of the samples: {row['histogram']}")
    if kept is not None:
        print(f"D kept {100 * kept:.1f}% of G's samples (--reject {args.reject})")
    print(f"evaluation took {seconds:.1f} s (of which setup, classifier included, {t_setup:.1f} s)")
    (out / "eval.md").write_text(md + "\n")
    (out / "eval.json").write_text(json.dumps({"rows": rows, "seconds": seconds,
                                               "n": len(samples)}, indent=2) + "\n")
    eval_figure(out / "eval.png", samples, row["histogram"], ev.test, ev.test_y)
    print(f"wrote {out / 'eval.md'}, eval.json, eval.png")
    return 0


def cli() -> None:
    """Console-script entry point."""
    sys.exit(run(main))


if __name__ == "__main__":
    cli()

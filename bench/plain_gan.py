"""A plain PyTorch GAN trained the textbook way, scored as fastgan scores its runs.

The baseline of the README's "What a default run gives": the paper's MLPs written the usual way.

    python bench/plain_gan.py [--seeds 0 1 2] [--steps 16000] [--eval-every 2000] [--save]

The model: G 100 -> 256 -> 512 -> 1024 -> 784 and D 784 -> 512 -> 256 -> 1 (fastgan's default
sizes) of nn.Linear with nn.LeakyReLU(0.2) and a tanh output, PyTorch's default init,
nn.BCEWithLogitsLoss with the non-saturating G loss, one D step per G step (k = 1), batch 64,
Adam (lr 2e-4, betas 0.5, 0.999) for both, no dropout, no moving average: what a tutorial
writes. Data: fastgan's 50,000 training images in [-1, 1], a fresh torch.randperm per epoch.
Every --eval-every generator steps (and at the end) G draws 10,000 samples from a fixed z,
scored by fastgan's evaluator (classifier FID against the test set, IS, modes, class shares);
the last evaluation also gets the paper's Parzen estimate. --save writes
bench/results/plain_gan.json. The same builder gives bench/train_speed.py its eager
baseline (there with the default D's dropout, so both models compute alike).
"""
import argparse
import json
import sys
import time
from datetime import date
from pathlib import Path

import numpy as np
import torch
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

RESULTS = Path(__file__).resolve().parent / "results" / "plain_gan.json"
G_SIZES, D_SIZES, LATENT = (256, 512, 1024), (512, 256), 100


def build(device, d_input_dropout: float = 0.0, d_dropout: float = 0.0, lr: float = 2e-4,
          g_sizes=G_SIZES):
    """(G, D, step): the plain GAN and one training step of it, step(real [B, 784], ...) -> the
    (d_loss, g_loss) tensors (no host sync): one D update per real minibatch given (Algorithm
    1's k), then one G update. g_sizes: G's hidden widths (the benchmarks give it fastgan's, to
    time like with like)."""
    act = lambda: nn.LeakyReLU(0.2)
    g_layers, width = [], LATENT
    for n in g_sizes:
        g_layers += [nn.Linear(width, n), act()]
        width = n
    G = nn.Sequential(*g_layers, nn.Linear(width, 784), nn.Tanh()).to(device)
    d_layers, width = [nn.Dropout(d_input_dropout)] if d_input_dropout else [], 784
    for n in D_SIZES:
        d_layers += [nn.Linear(width, n), act()] + ([nn.Dropout(d_dropout)] if d_dropout else [])
        width = n
    D = nn.Sequential(*d_layers, nn.Linear(width, 1)).to(device)
    opt_g = torch.optim.Adam(G.parameters(), lr=lr, betas=(0.5, 0.999))
    opt_d = torch.optim.Adam(D.parameters(), lr=lr, betas=(0.5, 0.999))
    bce = nn.BCEWithLogitsLoss()

    def step(*reals):
        b = reals[0].shape[0]
        ones, zeros = torch.ones(b, 1, device=device), torch.zeros(b, 1, device=device)
        for real in reals:
            fake = G(torch.randn(b, LATENT, device=device))
            d_loss = bce(D(real), ones) + bce(D(fake.detach()), zeros)
            opt_d.zero_grad()
            d_loss.backward()
            opt_d.step()
        g_loss = bce(D(G(torch.randn(b, LATENT, device=device))), ones)
        opt_g.zero_grad()
        g_loss.backward()
        opt_g.step()
        return d_loss.detach(), g_loss.detach()
    return G, D, step


def train(seed: int, steps: int, eval_every: int, evaluator, device, batch: int = 64,
          log=print) -> dict:
    """One seed: the evaluations [{step, fid, is, modes, min/max class share}] and the final
    scores (with Parzen)."""
    torch.manual_seed(seed)
    G, D, step = build(device)
    images = torch.from_numpy(evaluator.train[:50000]).to(device)     # [50000, 784] in [-1, 1]
    z_eval = torch.randn(10000, LATENT, generator=torch.Generator().manual_seed(1000 + seed))
    per_epoch = len(images) // batch
    evals, t0, perm = [], time.perf_counter(), None

    def evaluate(s: int, parzen: bool = False) -> dict:
        with torch.no_grad():
            x = G.eval()(z_eval.to(device)).cpu().numpy()
        G.train()
        sc = evaluator.scores(x)
        shares = np.asarray(sc["histogram"]) / len(x)                    # [10] class shares
        row = {"step": s, "fid": sc["fid"], "is": sc["is"], "modes": sc["modes"],
               "class_min": float(shares.min()), "class_max": float(shares.max())}
        if parzen:
            row["parzen"] = evaluator.parzen(x)
        log(f"seed {seed} step {s}: FID {row['fid']:.2f}, IS {row['is']:.2f}, "
            f"{row['modes']} modes ({time.perf_counter() - t0:.0f} s)")
        return row

    for s in range(steps):
        epoch, i = divmod(s, per_epoch)
        if i == 0:
            perm = torch.randperm(len(images), device=device)
        losses = step(images[perm[i * batch:(i + 1) * batch]])
        if (s + 1) % eval_every == 0 and s + 1 < steps:
            if not all(torch.isfinite(t) for t in losses):
                raise RuntimeError(f"seed {seed}: non-finite loss at step {s + 1}")
            evals.append(evaluate(s + 1))
    final = evaluate(steps, parzen=True)
    evals.append({k: v for k, v in final.items() if k != "parzen"})
    return {"seed": seed, "evals": evals, "final": final,
            "minutes": (time.perf_counter() - t0) / 60}


def first_below(evals: list[dict], fid: float):
    return next((e["step"] for e in evals if e["fid"] <= fid), None)


def summary(runs: list[dict]) -> dict:
    """Mean and sample standard deviation (ddof 1, as bench/quality.py's tables) over seeds of
    the final scores, and steps to FID 30/15/10."""
    ms = lambda xs: [float(np.mean(xs)), float(np.std(xs, ddof=1)) if len(xs) > 1 else 0.0]
    finals = [r["final"] for r in runs]
    out = {k: ms([f[k] for f in finals]) for k in ("fid", "is", "modes")}
    out["parzen"] = ms([f["parzen"]["mean"] for f in finals])
    out["class_share"] = [min(f["class_min"] for f in finals), max(f["class_max"] for f in finals)]
    for t in (30, 15, 10):
        hits = [first_below(r["evals"], t) for r in runs]
        out[f"steps_to_fid_{t}"] = ms(hits) if all(h is not None for h in hits) else \
            f"{sum(h is not None for h in hits)}/{len(hits)} seeds"
    return out


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2], help="(default: 0 1 2)")
    p.add_argument("--steps", type=int, default=16000, help="generator steps (default: 16000, "
                   "the README's row: the default run's length when it was measured)")
    p.add_argument("--eval-every", type=int, default=2000,
                   help="generator steps between scores (default: 2000)")
    p.add_argument("--device", default="cpu", help="(default: cpu)")
    p.add_argument("--data-dir", help="the MNIST folder (default: $FASTGAN_DATA, the cache, or "
                   "a download)")
    p.add_argument("--save", action="store_true",
                   help="write bench/results/plain_gan.json")
    args = p.parse_args(argv)
    if args.steps < 1 or args.eval_every < 1:
        p.error("--steps and --eval-every take positive integers")
    from fastgan.io.cli import UserError
    from fastgan.eval.evaluator import Evaluator
    try:
        evaluator = Evaluator(args.data_dir)
    except UserError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    device = torch.device(args.device)
    runs = [train(s, args.steps, args.eval_every, evaluator, device) for s in args.seeds]
    out = {"recipe": "plain PyTorch GAN: batch 64, k 1, Adam 2e-4 (0.5, 0.999) for both, "
                     "no dropout, no average", "date": date.today().isoformat(),
           "torch": torch.__version__, "steps": args.steps, "runs": runs,
           "summary": summary(runs)}
    print(json.dumps(out["summary"], indent=1))
    if args.save:
        RESULTS.parent.mkdir(parents=True, exist_ok=True)
        RESULTS.write_text(json.dumps(out, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""The paper's Figure 1, run: `python -m fastgan.toy1d --out DIR [--data gaussian|mixture]`.

A 1-D GAN (z uniform on [-1, 1]; G and D small MLPs built from the same kernels ops as the MNIST
models) is drawn at the paper's four moments:
  (a) after a short joint training: p_g near p_data, D only partly accurate;
  (b) G frozen, D trained to convergence: D -> D* = p_data / (p_data + p_g);
  (c) a few G steps along D's gradient: G(z) flows toward the data;
  (d) joint training to the end, then D retrained: p_g = p_data and D = 1/2.
Each panel: p_data (black, dotted), p_g (green; a KDE of 100k samples), D(x) (blue, dashed),
and lines from z (bottom axis) to G(z) (x axis). Checks, printed and written to toy1d.json:
  (i)   at (b), max |D - D*| over the region holding 99% of the mass of (p_data + p_g)/2;
  (ii)  at (b), V(D, G) against -log 4 + 2 JSD(p_data || p_g);
  (iii) at (d), max |D - 1/2| over the region holding 99% of p_data's mass, and
        JSD(p_data || p_g).
The regions are highest-density regions (for the mixture they leave out the near-empty gap
between the modes). Exit code 1 when a check fails.

Both nets work in the data's standardized coordinates, as the MNIST models work on pixels
scaled to [-1, 1]: D sees (x - mu) / sd, and G's output is mu + sd * (...), with mu and sd the
mean and standard deviation of p_data.
"""
import json
import math
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from fastgan.toy import density as d1
from fastgan.io.cli import Parser, UserError, run
from fastgan.config import add_flags, opt
from fastgan.losses import d_loss, g_loss
from fastgan.models import Dense, mlp


@dataclass
class ToyConfig:
    data: str = opt("gaussian", "p_data: gaussian N(4, 0.5^2) or mixture of N(2.5, 0.4^2) and "
                    "N(5.5, 0.4^2); each has its own defaults for the flags not given "
                    "(see PRESETS)", choices=tuple(d1.TARGETS))
    out: str = opt("toy1d", "output folder")
    g_hidden: int = opt(32, "width of G's two hidden layers")
    d_hidden: int = opt(64, "width of D's two hidden layers")
    g_scale: float = opt(0.5, "G's start: the width of p_g relative to p_data's")
    g_shift: float = opt(-1.5, "G's start: p_g's centre, in p_data standard deviations from "
                         "its mean")
    batch: int = opt(512, "samples per minibatch")
    lr_d: float = opt(1e-3, "D's Adam learning rate (betas 0.5, 0.999)")
    lr_g: float = opt(2e-4, "G's Adam learning rate: slower than D's, so D stays near D*")
    k: int = opt(3, "D steps per G step in joint training")
    warmup_steps: int = opt(200, "joint steps before moment (a)")
    d_steps: int = opt(1000, "D steps to convergence for (b) and (d), the learning rate "
                       "annealed (cosine) to 1/100")
    g_steps: int = opt(25, "G steps along a frozen D, for (c)")
    train_steps: int = opt(1500, "joint steps between (c) and (d)")
    n_kde: int = opt(100000, "generator samples behind each p_g estimate")
    seed: int = opt(0, "seed")
    tol_dstar: float = opt(0.05, "check (i): max |D - D*| allowed")
    tol_value: float = opt(0.005, "check (ii): |V(D, G) - (-log 4 + 2 JSD)| allowed (nats)")
    tol_half: float = opt(0.1, "check (iii): max |D - 1/2| allowed on the data's support")
    tol_jsd: float = opt(0.002, "check (iii): JSD(p_data || p_g) allowed (nats; 0.002 is a "
                        "Gaussian off by 0.13 sd in its mean)")


# Per-target defaults, applied to the flags not given. Two modes from one uniform z need a
# wider G that starts spread over both (from a narrow start it collapses onto one mode), and
# slower, longer training with more D steps per G step.
PRESETS = {"gaussian": {},
           "mixture": {"g_hidden": 64, "g_scale": 1.0, "g_shift": 0.0, "lr_g": 1e-4, "k": 5,
                       "warmup_steps": 300, "d_steps": 1500, "train_steps": 4000}}


class Probit(nn.Module):
    """z uniform on [-1, 1] -> Phi^-1((z + 1) / 2), a standard normal (clamped at 1e-6 of the
    ends, |f| <= 4.75). A continuous G of a bounded z has a bounded range, and beyond that range
    D* = 1 however well G fits the bulk: a step no smooth D can follow. Through this fixed
    feature p_g gets Gaussian tails, as p_data has."""

    def forward(self, z):                          # [B, 1] -> [B, 1]
        u = ((z + 1) / 2).clamp(1e-6, 1 - 1e-6)
        return math.sqrt(2) * torch.erfinv(2 * u - 1)


class Standardize(nn.Module):
    def __init__(self, mean: float, sd: float):
        super().__init__()
        self.mean, self.sd = mean, sd

    def forward(self, x):                          # [B, 1] -> [B, 1]
        return (x - self.mean) / self.sd


class ToyGenerator(nn.Module):
    """G(z) = mean + sd * (a f + b + MLP(f)), f = probit(z). The affine path keeps G' away from
    0, so p_g = p_f / |G'| stays smooth (a LeakyReLU MLP alone tends to flat pieces, i.e. spikes
    in p_g); it starts at a = scale, b = shift."""

    def __init__(self, hidden: int, mean: float, sd: float, scale: float, shift: float):
        super().__init__()
        self.mean, self.sd = mean, sd
        self.probit = Probit()
        self.affine = Dense(1, 1, "none", 0.2)
        self.net = mlp([1, hidden, hidden, 1], "none")
        with torch.no_grad():
            self.affine.weight.fill_(scale)
            self.affine.bias.fill_(shift)

    def forward(self, z):                          # [B, 1] -> [B, 1]
        f = self.probit(z)
        return self.mean + self.sd * (self.affine(f) + self.net(f))


class Toy:
    def __init__(self, cfg: ToyConfig):
        self.cfg, self.target = cfg, d1.TARGETS[cfg.data]
        mean, sd = self.target.moments()
        torch.manual_seed(cfg.seed)
        self.G = ToyGenerator(cfg.g_hidden, mean, sd, cfg.g_scale, cfg.g_shift)
        self.D = self.make_d()
        self.gen = torch.Generator().manual_seed(cfg.seed + 1)
        self.opt_g = torch.optim.Adam(self.G.parameters(), lr=cfg.lr_g, betas=(0.5, 0.999))
        self.opt_d = torch.optim.Adam(self.D.parameters(), lr=cfg.lr_d, betas=(0.5, 0.999))

    def make_d(self) -> nn.Module:
        """A freshly initialized D: x [B, 1] -> logit [B, 1]."""
        mean, sd = self.target.moments()
        return nn.Sequential(Standardize(mean, sd),
                             mlp([1, self.cfg.d_hidden, self.cfg.d_hidden, 1], "none"))

    def z(self, n: int) -> torch.Tensor:
        return torch.rand(n, 1, generator=self.gen) * 2 - 1

    def d_step(self):
        real = self.target.sample(self.cfg.batch, self.gen)
        with torch.no_grad():
            fake = self.G(self.z(self.cfg.batch))
        loss = d_loss(self.D(real), self.D(fake))[0]
        self.opt_d.zero_grad(set_to_none=True)
        loss.backward()
        self.opt_d.step()

    def g_step(self):
        self.opt_g.zero_grad(set_to_none=True)
        self.D.requires_grad_(False)                     # no dW for D in this backward
        try:
            g_loss(self.D(self.G(self.z(self.cfg.batch))), "ns")[0].backward()
        finally:
            self.D.requires_grad_(True)
        self.opt_g.step()

    def train_d(self, steps: int, anneal: bool = False):
        """D steps with G fixed. anneal: the learning rate follows a cosine from lr_d down to
        lr_d / 100, so D settles at the minimizer of its loss (D*) instead of jittering around
        it by minibatch noise; then it is restored."""
        for i in range(steps):
            if anneal:
                self._set_lr_d(self.cfg.lr_d * (0.01 + 0.99 * (1 + math.cos(math.pi * i / steps)) / 2))
            self.d_step()
        self._set_lr_d(self.cfg.lr_d)

    def _set_lr_d(self, lr: float):
        for group in self.opt_d.param_groups:
            group["lr"] = lr

    def train_g(self, steps: int):
        for _ in range(steps):
            self.g_step()

    def train_gan(self, steps: int):
        for _ in range(steps):
            self.train_d(self.cfg.k)
            self.g_step()

    @torch.no_grad()
    def snapshot(self) -> dict:
        """Densities, D and the z -> G(z) map on a grid covering p_data and p_g."""
        samples = self.G(self.z(self.cfg.n_kde)).double().numpy().ravel()
        t = self.target
        pad = 5 * d1.bandwidth(samples)
        lo = min((t.mu - 6 * t.sd).min(), samples.min() - pad)
        hi = max((t.mu + 6 * t.sd).max(), samples.max() + pad)
        x = np.linspace(lo, hi, 4000)
        z = torch.linspace(-1, 1, 25)[:, None]
        return {"x": x, "p_data": t.pdf(x), "p_g": d1.kde(samples, x),
                "d": torch.sigmoid(self.D(torch.as_tensor(x, dtype=torch.float32)[:, None])
                                   ).double().numpy().ravel(),
                "z": z.numpy().ravel(), "g_z": self.G(z).numpy().ravel()}


def check_dstar(s: dict, tol: float) -> dict:
    """(i): D against D* = p_data / (p_data + p_g) over the region holding 99% of the mass of
    (p_data + p_g) / 2."""
    dstar = s["p_data"] / np.maximum(s["p_data"] + s["p_g"], 1e-300)
    region = d1.mass_region((s["p_data"] + s["p_g"]) / 2, s["x"])
    err = np.where(region, np.abs(s["d"] - dstar), -1.0)
    gap = float(err.max())
    return {"max_abs_gap": gap, "at_x": float(s["x"][err.argmax()]), "tolerance": tol,
            "passed": gap <= tol}


def check_value(s: dict, tol: float) -> dict:
    """(ii): V(D, G) against -log 4 + 2 JSD(p_data || p_g)."""
    v = d1.value(s["d"], s["p_data"], s["p_g"], s["x"])
    jsd = d1.jsd(s["p_data"], s["p_g"], s["x"])
    theory = -math.log(4) + 2 * jsd
    return {"V": v, "theory": theory, "jsd": jsd, "gap": abs(v - theory), "tolerance": tol,
            "passed": abs(v - theory) <= tol}


def check_equilibrium(s: dict, tol_half: float, tol_jsd: float) -> dict:
    """(iii): D = 1/2 on the data's support (the region holding 99% of p_data's mass) and
    p_g = p_data."""
    support = d1.mass_region(s["p_data"], s["x"], 0.99)
    err = np.where(support, np.abs(s["d"] - 0.5), -1.0)
    dev = float(err.max())
    jsd = d1.jsd(s["p_data"], s["p_g"], s["x"])
    return {"max_abs_d_minus_half": dev, "at_x": float(s["x"][err.argmax()]), "jsd": jsd, "tolerance_half": tol_half,
            "tolerance_jsd": tol_jsd, "passed": dev <= tol_half and jsd <= tol_jsd}


def experiment(cfg: ToyConfig) -> tuple[dict, dict]:
    """Runs the four moments; returns (snapshots by panel letter, checks)."""
    toy, snaps = Toy(cfg), {}
    toy.train_gan(cfg.warmup_steps)
    snaps["a"] = toy.snapshot()
    toy.train_d(cfg.d_steps, anneal=True)
    snaps["b"] = toy.snapshot()
    toy.train_g(cfg.g_steps)
    snaps["c"] = toy.snapshot()
    toy.train_gan(cfg.train_steps)
    toy.train_d(cfg.d_steps, anneal=True)
    snaps["d"] = toy.snapshot()
    checks = {"i_dstar": check_dstar(snaps["b"], cfg.tol_dstar),
              "ii_value": check_value(snaps["b"], cfg.tol_value),
              "iii_equilibrium": check_equilibrium(snaps["d"], cfg.tol_half, cfg.tol_jsd)}
    return snaps, checks


def main(argv=None) -> int:
    p = Parser(prog="fastgan.toy1d", description=__doc__.split("\n")[0])
    add_flags(p, ToyConfig)
    given = {k: v for k, v in vars(p.parse_args(argv)).items() if v is not None}
    cfg = ToyConfig(**{**PRESETS[given.get("data", ToyConfig.data)], **given})
    if (min(cfg.g_hidden, cfg.d_hidden, cfg.batch, cfg.d_steps, cfg.n_kde, cfg.k) < 1
            or min(cfg.lr_d, cfg.lr_g, cfg.g_scale) <= 0
            or min(cfg.warmup_steps, cfg.g_steps, cfg.train_steps) < 0):
        raise UserError("--g-hidden, --d-hidden, --batch, --d-steps, --n-kde, --k must be >= 1; "
                        "--lr-d, --lr-g, --g-scale > 0; step counts >= 0")
    t0 = time.perf_counter()
    snaps, checks = experiment(cfg)
    out = Path(cfg.out)
    out.mkdir(parents=True, exist_ok=True)
    from fastgan.io.plots import figure1      # matplotlib: only when drawing, not for --help
    figure1(snaps, out / "figure1.png")
    partial = check_dstar(snaps["a"], cfg.tol_dstar)       # (a): D only partly accurate
    numbers = {"config": asdict(cfg), "checks": checks,
               "a_max_abs_d_minus_dstar": partial["max_abs_gap"], "seconds": time.perf_counter() - t0,
               "panels": {k: {n: np.asarray(v).tolist() for n, v in s.items()}
                          for k, s in snaps.items()}}
    (out / "toy1d.json").write_text(json.dumps(numbers) + "\n")
    i, ii, iii = checks.values()
    mark = lambda c: "pass" if c["passed"] else "FAIL"
    print(f"(a)   for comparison, D during joint training: max |D - D*| = "
          f"{partial['max_abs_gap']:.4f}")
    print(f"(i)   D vs D* at (b): max |D - D*| = {i['max_abs_gap']:.4f} "
          f"(<= {i['tolerance']}) {mark(i)}")
    print(f"(ii)  V(D, G) = {ii['V']:.4f} vs -log 4 + 2 JSD = {ii['theory']:.4f} "
          f"(|gap| {ii['gap']:.4f} <= {ii['tolerance']}) {mark(ii)}")
    print(f"(iii) at (d): max |D - 1/2| over the data's 99% = {iii['max_abs_d_minus_half']:.4f} "
          f"(<= {iii['tolerance_half']}), JSD = {iii['jsd']:.5f} (<= {iii['tolerance_jsd']}) "
          f"{mark(iii)}")
    print(f"wrote {out / 'figure1.png'} and {out / 'toy1d.json'} in {numbers['seconds']:.1f} s")
    return 0 if all(c["passed"] for c in checks.values()) else 1


def cli() -> None:
    """Console-script entry point."""
    sys.exit(run(main))


if __name__ == "__main__":
    cli()

"""The training run: data on the device, the GAN, the loop of Algorithm 1, and its outputs.

Each step runs k discriminator updates, each on a fresh real minibatch, then one generator
update (or, with share_g_forward, both on one G forward). Writes into the run folder:
config.json, metrics.jsonl, samples/epoch_NNN.png and samples/final.png (a fixed z, through the
averaged G when one is kept), curves.png, checkpoints/, summary.json, and tensorboard/ when
TensorBoard is installed. `fit(cfg)` runs a config to the end; fastgan.train is its command.
"""
import json
import math
import signal
import sys
import time
from datetime import datetime
from pathlib import Path

import torch

from fastgan import checkpoint, data, kernels
from fastgan.cli import DivergenceError, Interrupted, UserError
from fastgan.config import TrainConfig, to_dict, validate
from fastgan.device import resolve_device
from fastgan.evaluator import Evaluator
from fastgan.gan import GAN
from fastgan.images import grid, write_png
from fastgan.monitor import Monitor
from fastgan.plots import curves

SAMPLE_GRID = 64  # fixed-z samples in each grid (8 x 8)
# A saturated D (the collapse the paper warns of: log(1 - D(G(z))) saturates, G learns nothing):
# D(x) above 1 - SATURATED and D(G(z)) below SATURATED in this many consecutive log records
# (or in the last record of the run). Healthy training, early steps included, stays far from it.
SATURATED, SATURATED_RECORDS = 1e-3, 2

def setup_backend(cfg: TrainConfig, device: torch.device) -> None:
    if cfg.backend == "triton" and not kernels.triton_available(device):
        raise UserError("--backend triton needs --device cuda (or TRITON_INTERPRET=1 on the CPU)")
    kernels.set_backend(cfg.backend)
    kernels.set_precision("ieee" if cfg.precision == "fp32" else "tf32")
    if device.type == "cuda":
        torch.backends.cuda.matmul.allow_tf32 = cfg.precision == "tf32"


def fixed_z(cfg: TrainConfig, device) -> torch.Tensor:
    """The same z for every sample grid of a run, on any device."""
    gen = torch.Generator().manual_seed(cfg.seed + 2)
    return torch.randn(SAMPLE_GRID, cfg.model.latent_dim, generator=gen).to(device)


class Run:
    """One training run: data, GAN, outputs. `train()` runs it to the end."""

    def __init__(self, cfg: TrainConfig, run_dir: Path, resume: dict | None = None):
        self.cfg, self.run_dir = cfg, run_dir
        self.device = resolve_device(cfg.device)
        setup_backend(cfg, self.device)
        self.compile = self.device.type == "cuda" if cfg.compile is None else cfg.compile
        if cfg.cuda_graphs and not (self.compile and self.device.type == "cuda"):
            raise UserError("--cuda-graphs needs --device cuda and compiled steps (--compile)")
        images, _ = data.load_split(data.find(cfg.data_dir), "train")
        self.batches = data.Batches(data.to_unit_range(images[:cfg.train_size], self.device),
                                    cfg.batch_size, cfg.seed)
        self.steps_per_epoch = self.batches.per_epoch // cfg.k
        if self.steps_per_epoch < 1:
            raise UserError(f"--train-size {cfg.train_size} holds fewer than k={cfg.k} batches")
        self.total = cfg.steps or cfg.epochs * self.steps_per_epoch
        self.gan = GAN(cfg, self.device, self.compile, cfg.cuda_graphs)
        self.step = 0
        if resume is not None:
            self.gan.load_state_dict(resume)
            self.step = resume["step"]
        self.fixed_z = fixed_z(cfg, self.device)
        self.eval_every = cfg.eval_every or (1 if cfg.target_fid is not None else 0)
        self.evaluator, self.eval_s, self.reached = None, 0.0, None
        self.last_ckpt = resume.get("path") if resume else None
        self.saturated = 0                   # consecutive saturated log records
        self.stop_signal = None

    # -- outputs --
    def save_samples(self, name: str) -> Path:
        with torch.no_grad():
            img = grid(self.gan.sampler(self.fixed_z), nrow=8)
        self.monitor.image("samples", img, self.step)
        return write_png(self.run_dir / "samples" / f"{name}.png", img)

    def save_checkpoint(self) -> None:
        if not self.gan.parameters_finite():
            raise DivergenceError(f"parameters are not finite at step {self.step}; last good "
                                  f"checkpoint: {self.last_ckpt}")
        self.last_ckpt = checkpoint.save(self.run_dir, self.step, self.gan.state_dict(),
                                         to_dict(self.cfg))

    def save_curves(self) -> Path:
        recs = [r for r in self.monitor.records if "d_loss" in r]
        steps = [r["step"] for r in recs]
        panels = [
            ("losses", "mean loss over the interval",
             {"D loss": (steps, [r["d_loss"] for r in recs]),
              "G loss": (steps, [r["g_loss"] for r in recs])},
             {"log 4 (D loss at the optimum)": math.log(4)}, False),
            ("discriminator outputs", "mean D output",
             {"D(x)": (steps, [r["d_x"] for r in recs]),
              "D(G(z))": (steps, [r["d_g_z"] for r in recs])}, {"1/2 (the optimum)": 0.5}, False)]
        evals = [r for r in self.monitor.records if "fid" in r]
        if evals:
            series = {"FID (samples' G)": ([r["step"] for r in evals], [r["fid"] for r in evals])}
            if "raw_fid" in evals[-1]:
                raw = [r for r in evals if "raw_fid" in r]
                series["FID (trained G)"] = ([r["step"] for r in raw], [r["raw_fid"] for r in raw])
            panels.append(("classifier FID, 10k samples", "FID (log scale)", series, {}, True))
        return curves(self.run_dir / "curves.png", panels)

    def evaluate(self, train_s: float) -> dict:
        """Classifier scores of 10k samples (z from a fixed seed); logged as an eval record."""
        t0 = time.perf_counter()
        if self.evaluator is None:
            self.evaluator = Evaluator(self.cfg.data_dir, self.device, log=print)
        scores = self.evaluator.score_generator(self.gan.sampler, seed=self.cfg.seed + 3)
        rec = {"step": self.step, "epoch": round(self.step / self.steps_per_epoch, 4),
               "fid": scores["fid"], "is": scores["is"], "modes": scores["modes"],
               "confident": scores["confident"], "histogram": scores["histogram"]}
        if self.gan.G_ema is not None:      # what the average buys: the trained G's scores too
            raw = self.evaluator.score_generator(self.gan.G, seed=self.cfg.seed + 3)
            rec.update(raw_fid=raw["fid"], raw_is=raw["is"], raw_modes=raw["modes"])
        self.eval_s += time.perf_counter() - t0
        rec.update(train_s=train_s, eval_s=time.perf_counter() - t0)
        self.monitor.log(rec)
        if self.cfg.target_fid is not None and scores["fid"] <= self.cfg.target_fid \
                and self.reached is None:
            self.reached = {"step": self.step, "fid": scores["fid"], "train_s": train_s}
        return rec

    # -- the loop --
    def _record(self, acc_d, acc_g, n: int, steps_per_s: float, wall: float) -> dict:
        d = (acc_d / (n * self.cfg.k)).tolist()          # the host sync of this interval
        g = (acc_g / n).tolist()
        rec = {"step": self.step, "epoch": round(self.step / self.steps_per_epoch, 4), "d_loss": d[0],
               "g_loss": g[0], "d_x": d[1], "d_g_z": d[2], "steps_per_s": steps_per_s,
               "wall_s": wall}
        if not all(math.isfinite(v) for v in d + g):
            raise DivergenceError(f"training diverged by step {self.step} (d_loss={d[0]}, "
                                  f"g_loss={g[0]}); last good checkpoint: {self.last_ckpt}")
        self.saturated = self.saturated + 1 if d[1] > 1 - SATURATED and d[2] < SATURATED else 0
        if self.saturated >= SATURATED_RECORDS or (self.saturated and self.step >= self.total):
            raise DivergenceError(
                f"the discriminator saturated by step {self.step}: D(x) = {d[1]:.4g}, "
                f"D(G(z)) = {d[2]:.3g}, g_loss = {g[0]:.4g} (G gets no useful gradient; try a "
                f"lower --lr); last good checkpoint: {self.last_ckpt}")
        return rec

    def _on_signal(self, signum, frame):
        self.stop_signal = signum

    def train(self) -> dict:
        cfg, gan = self.cfg, self.gan
        self.monitor = Monitor(self.run_dir, self.total, cfg.progress, cfg.tensorboard, self.step)
        old = {s: signal.signal(s, self._on_signal) for s in (signal.SIGINT, signal.SIGTERM)}
        acc_d = torch.zeros(3, device=self.device)
        acc_g = torch.zeros(2, device=self.device)
        start_step, n, compile_s, t_start = self.step, 0, 0.0, time.perf_counter()
        t_mark, mark_step = t_start, self.step
        if self.last_ckpt is None:
            self.save_checkpoint()               # the initial state: a good checkpoint always exists
        try:
            while self.step < self.total:
                left = 1 - self.step / self.total          # 1 at the start, 1/total at the end
                std = cfg.instance_noise * left            # instance noise annealed to 0
                if cfg.lr_schedule == "linear":
                    gan.set_lr_scale(left)
                if gan.shared:
                    d_stats, g_stats = gan.shared_step(self.batches.get(self.step), std)
                    acc_d += d_stats
                    acc_g += g_stats
                else:
                    for j in range(cfg.k):
                        acc_d += gan.d_step(self.batches.get(self.step * cfg.k + j), std)
                    acc_g += gan.g_step(cfg.batch_size, std)
                self.step += 1
                n += 1
                self.monitor.tick()
                if self.step == start_step + 1:  # the first step compiles / warms up: apart
                    if self.device.type == "cuda":
                        torch.cuda.synchronize(self.device)
                    compile_s = time.perf_counter() - t_start
                    t_mark, mark_step = time.perf_counter(), self.step
                epoch_end = self.step % self.steps_per_epoch == 0
                ckpt_due = self.step % cfg.ckpt_every == 0 or self.step == self.total
                if self.step % cfg.log_every == 0 or ckpt_due or epoch_end or self.stop_signal:
                    now = time.perf_counter()
                    rate = (self.step - mark_step) / (now - t_mark) if now > t_mark else 0.0
                    rec = self._record(acc_d, acc_g, n, rate, now - t_start - compile_s)
                    self.monitor.log(rec)
                    acc_d.zero_()
                    acc_g.zero_()
                    n = 0
                    t_mark, mark_step = time.perf_counter(), self.step
                if epoch_end:
                    epoch = self.step // self.steps_per_epoch
                    self.save_samples(f"epoch_{epoch:03d}")
                    if self.eval_every and (epoch % self.eval_every == 0
                                            or self.step == self.total):
                        if self.device.type == "cuda":
                            torch.cuda.synchronize(self.device)
                        self.evaluate(time.perf_counter() - t_start - compile_s - self.eval_s)
                        t_mark, mark_step = time.perf_counter(), self.step
                        if self.reached:
                            self.total = self.step       # target met: stop here
                            ckpt_due = True
                if ckpt_due or self.stop_signal:
                    self.save_checkpoint()
                if self.stop_signal:
                    raise KeyboardInterrupt
        except KeyboardInterrupt:
            self.monitor.close()
            raise Interrupted(f"interrupted at step {self.step}; checkpoint {self.last_ckpt}; "
                            f"continue with --resume {self.run_dir}") from None
        finally:
            for s, handler in old.items():
                signal.signal(s, handler)
        wall = time.perf_counter() - t_start - compile_s - self.eval_s
        last_eval = [r for r in self.monitor.records if "fid" in r]
        if self.eval_every and (not last_eval or last_eval[-1]["step"] != self.step):
            self.evaluate(wall)
            last_eval = [r for r in self.monitor.records if "fid" in r]
        summary = {"steps": self.step, "train_s": wall, "compile_s": compile_s,
                   "eval_s": self.eval_s, "target": self.reached,
                   "scores": ({k: last_eval[-1][k] for k in ("fid", "is", "modes", "confident")}
                              if self.eval_every else None),
                   "steps_per_s": (self.step - start_step - 1) / max(wall, 1e-9),
                   "samples": str(self.save_samples("final")),
                   "curves": str(self.save_curves()), "checkpoint": str(self.last_ckpt)}
        self.monitor.close()
        return summary


def fit(cfg: TrainConfig, resume: dict | None = None) -> dict:
    """Trains cfg into cfg.out (or runs/<timestamp>); returns the summary (also summary.json)."""
    validate(cfg)
    run_dir = Path(cfg.out or Path("runs") / datetime.now().strftime("%Y%m%d-%H%M%S"))
    cfg.out = str(run_dir)
    if resume is None and checkpoint.list_checkpoints(run_dir):
        raise UserError(f"{run_dir} already holds a run; use --resume {run_dir} or another --out")
    run_ = Run(cfg, run_dir, resume)
    if run_.total < run_.step:
        raise UserError(f"--resume: the run would end at step {run_.total}, before the "
                        f"checkpoint's step {run_.step} (raise --epochs or --steps)")
    run_dir.mkdir(parents=True, exist_ok=True)
    for tmp in checkpoint.clean_partial(run_dir):
        print(f"removed {tmp}, a partial checkpoint an interrupted run left", file=sys.stderr)
    (run_dir / "config.json").write_text(json.dumps(to_dict(cfg), indent=2) + "\n")
    where = (f"{run_.device}, {'compiled' if run_.compile else 'eager'}"
             f"{' + CUDA graphs' if cfg.cuda_graphs else ''}, backend {cfg.backend}")
    print(f"training {run_.total} steps ({run_.steps_per_epoch}/epoch) from step {run_.step} "
          f"on {where} -> {run_dir}", flush=True)
    summary = run_.train()
    (run_dir / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    return summary

"""Training: E members of one shape trained together (a run is the one-member case), the loop of
Algorithm 1, and each member's outputs.

Each step runs k discriminator updates, each on a fresh real minibatch, then one generator
update (or, with share_g_forward, both on one G forward), for every member at once. Each member
writes into its own folder what a run writes: config.json, metrics.jsonl, samples/epoch_NNN.png
and samples/final.png (a fixed z, through the averaged G when one is kept), curves.png,
checkpoints/, summary.json, and tensorboard/ when TensorBoard is installed.

A member that diverges (NaN or inf) or saturates (the collapse in which G learns nothing) stops
there, its last good checkpoint kept and its summary naming why, while the others go on; a
member that reaches --target-fid stops too, done. `fit(cfg)` runs one config to the end
(fastgan.train is its command); fastgan.sweep runs groups of members through `Group`.
"""
import json
import math
import signal
import sys
import time
from datetime import datetime
from pathlib import Path

import torch

from fastgan.io import checkpoint
from fastgan import data, kernels
from fastgan.io.cli import DivergenceError, Interrupted, UserError
from fastgan.config import TrainConfig, to_dict, validate
from fastgan.io.device import resolve_device
from fastgan.eval.evaluator import Evaluator
from fastgan.io.files import atomic_write
from fastgan.gan import GAN
from fastgan.io.images import grid, write_png
from fastgan.run.log import Log, Progress
from fastgan.io.plots import curves
from fastgan.eval.rejection import reject_members
from fastgan.schedules import topk_count
from fastgan.eval.scores import N_SAMPLES
from fastgan.streams import generator

SAMPLE_GRID = 64  # fixed-z samples in each grid (8 x 8)
# A saturated D (the collapse the paper warns of: log(1 - D(G(z))) saturates, G learns nothing):
# D(x) above 1 - SATURATED and D(G(z)) below SATURATED in this many consecutive log records
# (or in the last record of the run). Healthy training, early steps included, stays far from it.
SATURATED, SATURATED_RECORDS = 1e-3, 2
STOPPED = ("diverged", "saturated")       # the statuses of a member that stopped early


def setup_backend(cfg: TrainConfig, device: torch.device) -> None:
    if cfg.backend == "triton" and not kernels.HAS_TRITON:
        raise UserError("--backend triton needs Triton installed (pip install triton; Linux only)")
    if cfg.backend == "triton" and not kernels.triton_available(device):
        raise UserError("--backend triton needs --device cuda (or TRITON_INTERPRET=1 on the CPU)")
    kernels.set_backend(cfg.backend)
    kernels.set_precision("ieee" if cfg.precision == "fp32" else "tf32")
    if device.type == "cuda":
        torch.backends.cuda.matmul.allow_tf32 = cfg.precision == "tf32"


def fixed_z(cfgs, device) -> torch.Tensor:
    """The same z for every sample grid of a member, on any device: [E, 64, latent]."""
    return torch.stack([torch.randn(SAMPLE_GRID, c.model.latent_dim,
                                    generator=generator(c.seed, "grid")) for c in cfgs]).to(device)


def steps_per_epoch(cfg: TrainConfig) -> int:
    return (min(cfg.train_size, 60000) // cfg.batch_size) // cfg.k


def total_steps(cfg: TrainConfig) -> int:
    return cfg.steps or cfg.epochs * steps_per_epoch(cfg)


class Member:
    """One member's config, folder and bookkeeping while its group trains."""

    def __init__(self, cfg: TrainConfig, run_dir: Path, resume: dict | None = None):
        self.cfg, self.dir, self.resume = cfg, Path(run_dir), resume
        self.last_ckpt = resume.get("path") if resume else None
        self.saturated = 0                   # consecutive saturated log records
        self.status, self.reason, self.reached = "running", None, None
        self.eval_s = 0.0
        self.log = None

    def stop(self, status: str, reason: str | None = None) -> None:
        self.status, self.reason = status, reason


class Group:
    """Members of one shape (config.group_key) trained batched: data, GAN, outputs.
    `train()` runs them to the end; each member's summary lands in its folder."""

    def __init__(self, members: list[Member], progress: Progress | None = None,
                 final_eval: bool = False):
        self.members = members
        cfg = self.cfg = members[0].cfg
        self.device = resolve_device(cfg.device)
        setup_backend(cfg, self.device)
        # torch.compile generates Triton code for CUDA: without Triton, CUDA steps run eager
        cuda = self.device.type == "cuda"
        self.compile = cuda and kernels.HAS_TRITON if cfg.compile is None else cfg.compile
        if self.compile and cuda and not kernels.HAS_TRITON:
            raise UserError("--compile on CUDA needs Triton installed (pip install triton; Linux "
                            "only); without it, run with --no-compile")
        if cfg.cuda_graphs and not (self.compile and self.device.type == "cuda"):
            raise UserError("--cuda-graphs needs --device cuda and compiled steps (--compile)")
        images, _ = data.load_split(data.find(cfg.data_dir), "train")
        self.batches = data.Batches(data.to_unit_range(images[:cfg.train_size], self.device),
                                    cfg.batch_size, [m.cfg.seed for m in members])
        self.steps_per_epoch = self.batches.per_epoch // cfg.k
        if self.steps_per_epoch < 1:
            raise UserError(f"--train-size {cfg.train_size} holds fewer than k={cfg.k} batches")
        self.total = total_steps(cfg)
        self.gan = GAN([m.cfg for m in members], self.device, self.compile, cfg.cuda_graphs)
        self.step = 0
        resumed = [m.resume for m in members if m.resume is not None]
        if resumed:
            if len(resumed) != len(members) or len({r["step"] for r in resumed}) != 1:
                raise ValueError("a group resumes all its members from one step")
            for e, m in enumerate(members):
                self.gan.load_member_state(e, m.resume)
            self.step = resumed[0]["step"]
        self.fixed_z = fixed_z([m.cfg for m in members], self.device)
        self.eval_every = cfg.eval_every or (1 if cfg.target_fid is not None else 0)
        self.final_eval = final_eval or bool(self.eval_every)
        self.evaluator = None
        self.progress = progress
        self.stop_signal = None

    # -- outputs, for the members still training (self.members, aligned with the GAN) --
    def save_samples(self, name: str) -> list[Path]:
        with torch.no_grad():
            images = self.gan.sampler(self.fixed_z)                     # [E, 64, 784]
        paths = []
        for m, x in zip(self.members, images):
            img = grid(x, nrow=8)
            m.log.image("samples", img, self.step)
            paths.append(write_png(m.dir / "samples" / f"{name}.png", img))
        return paths

    def save_checkpoints(self) -> None:
        """A checkpoint of every member; a member whose parameters are not finite gets none and
        stops (diverged)."""
        finite = self.gan.finite().tolist()
        for e, m in enumerate(self.members):
            if not finite[e]:
                m.stop("diverged", f"parameters are not finite at step {self.step}; last good "
                       f"checkpoint: {m.last_ckpt}")
                continue
            m.last_ckpt = checkpoint.save(m.dir, self.step, self.gan.member_state(e),
                                          to_dict(m.cfg))

    def save_curves(self, m: Member) -> Path:
        recs = [r for r in m.log.records if "d_loss" in r]
        steps = [r["step"] for r in recs]
        panels = [
            ("losses", "mean loss over the interval",
             {"D loss": (steps, [r["d_loss"] for r in recs]),
              "G loss": (steps, [r["g_loss"] for r in recs])},
             {"log 4 (D loss at the optimum)": math.log(4)}, False),
            ("discriminator outputs", "mean D output",
             {"D(x)": (steps, [r["d_x"] for r in recs]),
              "D(G(z))": (steps, [r["d_g_z"] for r in recs])}, {"1/2 (the optimum)": 0.5}, False)]
        evals = [r for r in m.log.records if "fid" in r]
        if evals:
            series = {"FID (samples' G)": ([r["step"] for r in evals], [r["fid"] for r in evals])}
            if "raw_fid" in evals[-1]:
                raw = [r for r in evals if "raw_fid" in r]
                series["FID (trained G)"] = ([r["step"] for r in raw], [r["raw_fid"] for r in raw])
            panels.append(("classifier FID, 10k samples", "FID (log scale)", series, {}, True))
        return curves(m.dir / "curves.png", panels)

    def evaluate(self, train_s: float) -> None:
        """Classifier scores of 10k samples of every member (z from its eval stream), batched;
        logged as each member's eval record. A member that reaches --target-fid is done."""
        t0 = time.perf_counter()
        if self.evaluator is None:
            self.evaluator = Evaluator(self.cfg.data_dir, self.device, log=self.progress.write)
        gens = lambda: [generator(m.cfg.seed, "eval") for m in self.members]
        scores = self.evaluator.score_members(self.gan.sampler, gens())
        raw = None
        if self.gan.G_ema is not None:      # what the average buys: the trained G's scores too
            raw = self.evaluator.score_members(self.gan.G, gens())
        kept = None
        if self.step >= self.total and self.cfg.reject > 0:   # the final scores: D's too
            x, rates = reject_members(self.gan.sampler, self.gan.D, N_SAMPLES, gens(),
                                      self.cfg.reject)       # D without dropout (no masks)
            kept = [{**self.evaluator.scores(xe), "kept": r} for xe, r in zip(x, rates)]
        seconds = time.perf_counter() - t0
        records = []
        for e, m in enumerate(self.members):
            sc = scores[e]
            rec = {"step": self.step, "epoch": round(self.step / self.steps_per_epoch, 4),
                   "fid": sc["fid"], "is": sc["is"], "modes": sc["modes"],
                   "confident": sc["confident"], "histogram": sc["histogram"]}
            if raw is not None and m.cfg.ema_decay > 0:
                rec.update(raw_fid=raw[e]["fid"], raw_is=raw[e]["is"], raw_modes=raw[e]["modes"])
            if kept is not None:
                rec["rejection"] = {"quantile": self.cfg.reject, "kept": kept[e]["kept"],
                                    **{k: kept[e][k] for k in ("fid", "is", "modes",
                                                               "confident", "histogram")}}
            rec.update(train_s=train_s, eval_s=seconds)
            m.eval_s += seconds
            m.log.log(rec)
            records.append(rec)
            if m.cfg.target_fid is not None and sc["fid"] <= m.cfg.target_fid \
                    and m.reached is None:
                m.reached = {"step": self.step, "fid": sc["fid"], "train_s": train_s}
        self.progress.show(self.step, self.total, records)

    # -- the loop --
    def _records(self, acc_d, acc_g, n: int, steps_per_s: float, wall: float) -> list[dict]:
        """Each member's log record of the interval (the host sync of this interval); stops the
        members that diverged or saturated."""
        d_all = (acc_d / (n * self.cfg.k)).tolist()
        g_all = (acc_g / n).tolist()
        records = []
        for m, d, g in zip(self.members, d_all, g_all):
            rec = {"step": self.step, "epoch": round(self.step / self.steps_per_epoch, 4),
                   "d_loss": d[0], "g_loss": g[0], "d_x": d[1], "d_g_z": d[2],
                   "steps_per_s": steps_per_s, "wall_s": wall}
            m.log.log(rec)
            records.append(rec)
            if not all(math.isfinite(v) for v in d + g):
                m.stop("diverged", f"training diverged by step {self.step} (d_loss={d[0]}, "
                       f"g_loss={g[0]}); last good checkpoint: {m.last_ckpt}")
                continue
            m.saturated = m.saturated + 1 if d[1] > 1 - SATURATED and d[2] < SATURATED else 0
            if m.saturated >= SATURATED_RECORDS or (m.saturated and self.step >= self.total):
                m.stop("saturated",
                       f"the discriminator saturated by step {self.step}: D(x) = {d[1]:.4g}, "
                       f"D(G(z)) = {d[2]:.3g}, g_loss = {g[0]:.4g} (G gets no useful gradient; "
                       f"try a lower --lr); last good checkpoint: {m.last_ckpt}")
        self.progress.show(self.step, self.total, records)
        return records

    def _drop_finished(self, acc_d, acc_g):
        """Members that stopped leave the batched state (their folders keep what they wrote)."""
        keep = [e for e, m in enumerate(self.members) if m.status == "running"]
        if len(keep) == len(self.members):
            return acc_d, acc_g
        for m in self.members:
            if m.status != "running":
                self._finish(m)
        self.members = [self.members[e] for e in keep]
        if keep:
            self.gan = self.gan.subset(keep)
            self.batches = self.batches.select(keep)
            self.fixed_z = self.fixed_z[keep]
        return acc_d[keep], acc_g[keep]

    def _on_signal(self, signum, frame):
        self.stop_signal = signum

    def train(self) -> list[Member]:
        """Trains every member to its end (or its stop); returns the members, each with its
        status, and its summary written as summary.json."""
        cfg, k = self.cfg, self.cfg.k
        self.all_members = list(self.members)
        if self.progress is None:
            self.progress = Progress(self.total, cfg.progress, self.step)
        for m in self.members:
            m.log = Log(m.dir, cfg.tensorboard, self.step)
        old = {s: signal.signal(s, self._on_signal) for s in (signal.SIGINT, signal.SIGTERM)}
        E = len(self.members)
        acc_d = torch.zeros(E, 3, device=self.device)
        acc_g = torch.zeros(E, 2, device=self.device)
        self.start_step, n, self.compile_s = self.step, 0, 0.0
        self.t_start = time.perf_counter()
        t_mark, mark_step = self.t_start, self.step
        eval_s = 0.0
        if all(m.last_ckpt is None for m in self.members):
            self.save_checkpoints()              # the initial state: a good checkpoint always exists
        try:
            while self.step < self.total and self.members:
                left = 1 - self.step / self.total          # 1 at the start, 1/total at the end
                self.gan.set_lr_scales(self.step, self.total)
                topk = topk_count(cfg, self.step, self.steps_per_epoch)
                if self.gan.shared:
                    d_stats, g_stats = self.gan.shared_step(self.batches.get(self.step), left,
                                                            topk)
                    acc_d += d_stats
                    acc_g += g_stats
                else:
                    for j in range(k):
                        acc_d += self.gan.d_step(self.batches.get(self.step * k + j), left)
                    acc_g += self.gan.g_step(cfg.batch_size, left, topk)
                self.step += 1
                n += 1
                self.progress.tick(len(self.members))
                if self.step == self.start_step + 1:  # the first step compiles / warms up: apart
                    if self.device.type == "cuda":
                        torch.cuda.synchronize(self.device)
                    self.compile_s = time.perf_counter() - self.t_start
                    t_mark, mark_step = time.perf_counter(), self.step
                epoch_end = self.step % self.steps_per_epoch == 0
                ckpt_due = self.step % cfg.ckpt_every == 0 or self.step == self.total
                if self.step % cfg.log_every == 0 or ckpt_due or epoch_end or self.stop_signal:
                    now = time.perf_counter()
                    rate = (self.step - mark_step) / (now - t_mark) if now > t_mark else 0.0
                    self._records(acc_d, acc_g, n, rate,
                                  now - self.t_start - self.compile_s - eval_s)
                    acc_d.zero_()
                    acc_g.zero_()
                    n = 0
                    t_mark, mark_step = time.perf_counter(), self.step
                    acc_d, acc_g = self._drop_finished(acc_d, acc_g)
                    if not self.members:
                        break
                if epoch_end:
                    epoch = self.step // self.steps_per_epoch
                    self.save_samples(f"epoch_{epoch:03d}")
                    if self.eval_every and (epoch % self.eval_every == 0
                                            or self.step == self.total):
                        if self.device.type == "cuda":
                            torch.cuda.synchronize(self.device)
                        t0 = time.perf_counter()
                        self.evaluate(t0 - self.t_start - self.compile_s - eval_s)
                        eval_s += time.perf_counter() - t0
                        t_mark, mark_step = time.perf_counter(), self.step
                        for m in self.members:
                            if m.reached:
                                m.stop("done")           # target met: this member stops here
                        if any(m.reached for m in self.members):
                            ckpt_due = True
                if ckpt_due or self.stop_signal:
                    self.save_checkpoints()
                    acc_d, acc_g = self._drop_finished(acc_d, acc_g)
                if self.stop_signal:
                    raise KeyboardInterrupt
        except KeyboardInterrupt:
            for m in self.members:
                m.log.close()
            self.progress.close()
            where = ", ".join(str(m.last_ckpt) for m in self.members[:1])
            raise Interrupted(f"interrupted at step {self.step}; checkpoint {where}"
                              + (f" (and {len(self.members) - 1} more)" if len(self.members) > 1
                                 else "")) from None
        finally:
            for s, handler in old.items():
                signal.signal(s, handler)
        self.wall = time.perf_counter() - self.t_start - self.compile_s - eval_s
        for m in self.members:
            m.stop("done")
        if self.members and self.final_eval:
            last = [r for r in self.members[0].log.records if "fid" in r]
            if not last or last[-1]["step"] != self.step:
                self.progress.write(f"scoring the averaged G of {len(self.members)} member(s) "
                                    "on 10k samples (classifier FID, IS, modes, class shares)")
                self.evaluate(self.wall)
        for m in self.members:
            self._finish(m)
        return self.all_members

    def _finish(self, m: Member) -> None:
        """A member's last outputs (final grid, curves, summary.json), whatever its status."""
        e = self.members.index(m)
        samples = None                       # a member that stopped keeps its epoch grids
        if m.status not in STOPPED:
            with torch.no_grad():
                img = grid(self.gan.sampler(self.fixed_z)[e], nrow=8)   # [E, 64, 784] -> e
            samples = write_png(m.dir / "samples" / "final.png", img)
        wall = time.perf_counter() - self.t_start - self.compile_s - m.eval_s
        if m.status == "done":
            wall = getattr(self, "wall", wall)
        last_eval = [r for r in m.log.records if "fid" in r]
        done_steps = self.step - self.start_step
        summary = {"status": m.status, "reason": m.reason, "steps": self.step,
                   "train_s": wall, "compile_s": self.compile_s, "eval_s": m.eval_s,
                   "target": m.reached,
                   "scores": ({k: last_eval[-1][k] for k in ("fid", "is", "modes", "confident",
                                                             "histogram", "rejection")
                               if k in last_eval[-1]} if last_eval else None),
                   "steps_per_s": max(done_steps - 1, 0) / max(wall, 1e-9),
                   "samples": str(samples) if samples else None, "curves": str(self.save_curves(m)),
                   "checkpoint": str(m.last_ckpt)}
        m.summary = summary
        atomic_write(m.dir / "summary.json",
                     lambda f: f.write((json.dumps(summary, indent=2) + "\n").encode()))
        m.log.close()


def prepare(cfg: TrainConfig, run_dir: Path, resume: dict | None) -> None:
    """A member's folder before it trains: no other run in it unless resuming, partial
    checkpoint files cleaned, config.json written."""
    if resume is None and checkpoint.list_checkpoints(run_dir):
        raise UserError(f"{run_dir} already holds a run; use --resume {run_dir} or another --out")
    run_dir.mkdir(parents=True, exist_ok=True)
    for tmp in checkpoint.clean_partial(run_dir):
        print(f"removed {tmp}, a partial checkpoint an interrupted run left", file=sys.stderr)
    (run_dir / "config.json").write_text(json.dumps(to_dict(cfg), indent=2) + "\n")


def fit(cfg: TrainConfig, resume: dict | None = None) -> dict:
    """Trains cfg into cfg.out (or runs/<timestamp>); returns the summary (also summary.json)."""
    validate(cfg)
    run_dir = Path(cfg.out or Path("runs") / datetime.now().strftime("%Y%m%d-%H%M%S"))
    cfg.out = str(run_dir)
    if resume is not None and total_steps(cfg) < resume["step"]:
        raise UserError(f"--resume: the run would end at step {total_steps(cfg)}, before the "
                        f"checkpoint's step {resume['step']} (raise --epochs or --steps)")
    if resume is None and checkpoint.list_checkpoints(run_dir):
        raise UserError(f"{run_dir} already holds a run; use --resume {run_dir} or another --out")
    member = Member(cfg, run_dir, resume)
    group = Group([member], final_eval=cfg.eval)
    prepare(cfg, run_dir, resume)
    where = (f"{group.device}, {'compiled' if group.compile else 'eager'}"
             f"{' + CUDA graphs' if cfg.cuda_graphs else ''}, backend {cfg.backend}")
    print(f"training {group.total} steps ({group.steps_per_epoch}/epoch) from step {group.step} "
          f"on {where} -> {run_dir}", flush=True)
    try:
        group.train()
    except Interrupted as e:
        raise Interrupted(f"{e}; continue with --resume {run_dir}") from None
    if member.status in STOPPED:
        raise DivergenceError(member.reason)
    s = member.summary
    return {k: s[k] for k in ("steps", "train_s", "compile_s", "eval_s", "target", "scores",
                              "steps_per_s", "samples", "curves", "checkpoint")}

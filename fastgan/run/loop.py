"""The training loop: E members of one shape trained together (a run is the one-member case).

Each step is fastgan.step.train_step (Algorithm 1 for every member). After it, what falls due:
a log record (the one host sync of an interval), an epoch's sample grids, an evaluation,
checkpoints. A member stops when its record is not finite (diverged), when D saturates
(the collapse in which G learns nothing), or when it reaches --target-fid (done); a member that
stops leaves the batched state, its folder keeping its last good checkpoint and a summary that
names why, while the others go on. What a member writes is fastgan.run.outputs; `fit`
(fastgan.run.fit) runs one config; fastgan.sweep runs groups through `Group`.
"""
import math
import signal
import time
from pathlib import Path

import torch

from fastgan import data
from fastgan.config import TrainConfig, steps_per_epoch, total_steps
from fastgan.gan import GAN
from fastgan.graphs import CudaGraphs, GraphedSteps
from fastgan.io.cli import Interrupted
from fastgan.io.device import resolve_device, setup_backend
from fastgan.run import outputs
from fastgan.run.log import Log, Progress
from fastgan.step import Stats

# A saturated D (the collapse the paper warns of: log(1 - D(G(z))) saturates, G learns nothing):
# D(x) above 1 - SATURATED and D(G(z)) below SATURATED in this many consecutive log records
# (or in the last record of the run). Healthy training, early steps included, stays far from it.
SATURATED, SATURATED_RECORDS = 1e-3, 2
STOPPED = ("diverged", "saturated")       # the statuses of a member that stopped early


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

    def judge(self, d: list, g: list, step: int, last: bool) -> None:
        """Stops the member if its interval's means (d: d_loss, D(x), D(G(z)); g: g_loss, ...)
        show divergence or a saturated D."""
        if not all(math.isfinite(v) for v in d + g):
            self.stop("diverged", f"training diverged by step {step} (d_loss={d[0]}, "
                      f"g_loss={g[0]}); last good checkpoint: {self.last_ckpt}")
            return
        self.saturated = self.saturated + 1 if d[1] > 1 - SATURATED and d[2] < SATURATED else 0
        if self.saturated >= SATURATED_RECORDS or (self.saturated and last):
            self.stop("saturated",
                      f"the discriminator saturated by step {step}: D(x) = {d[1]:.4g}, "
                      f"D(G(z)) = {d[2]:.3g}, g_loss = {g[0]:.4g} (G gets no useful gradient; "
                      f"try a lower --lr); last good checkpoint: {self.last_ckpt}")


class Group:
    """Members of one shape (config.group_key) trained batched: data, GAN, outputs.
    `train()` runs them to the end; each member's summary lands in its folder."""

    def __init__(self, members: list[Member], progress: Progress | None = None,
                 final_eval: bool = False):
        self.members = members
        cfg = self.cfg = members[0].cfg
        self.device = resolve_device(cfg.device)
        self.compile = setup_backend(cfg, self.device)
        images, _ = data.load_split(data.find(cfg.data_dir), "train")
        self.batches = data.Batches(data.to_unit_range(images[:cfg.train_size], self.device),
                                    cfg.batch_size, [m.cfg.seed for m in members])
        self.steps_per_epoch = steps_per_epoch(cfg)
        self.total = total_steps(cfg)
        self.gan = GAN([m.cfg for m in members], self.device, self.compile)
        self.stats = Stats(len(members), self.device)
        self.step = 0
        resumed = [m.resume for m in members if m.resume is not None]
        if resumed:
            if len(resumed) != len(members) or len({r["step"] for r in resumed}) != 1:
                raise ValueError("a group resumes all its members from one step")
            for e, m in enumerate(members):
                self.gan.load_member_state(e, m.resume)
                self.stats.load_member_state(e, m.resume)
            self.step = resumed[0]["step"]
        self.fixed_z = outputs.fixed_z([m.cfg for m in members], self.device)
        self.eval_every = cfg.eval_every or (1 if cfg.target_fid is not None else 0)
        self.final_eval = final_eval or bool(self.eval_every)
        self.evaluator = None
        self.progress = progress
        self.stop_signal = None
        self.runner = self._runner()

    def _runner(self) -> GraphedSteps:
        """What runs the steps: train_step, eagerly, or captured as whole-step CUDA graphs."""
        return GraphedSteps(self.gan, self.batches, self.stats, self.total, self.cfg.graph_steps,
                            CudaGraphs(self.device) if self.cfg.cuda_graphs else None)

    def _next_event(self) -> int:
        """The steps up to the next log record, checkpoint, epoch end or the end (one step
        when eager: a signal then stops the run at the next step)."""
        if not self.cfg.cuda_graphs or self.step == self.start_step:
            return 1
        cfg, t = self.cfg, self.step
        return min(e - t % e for e in (cfg.log_every, cfg.ckpt_every, self.steps_per_epoch))

    def _log(self, rate: float, wall: float) -> None:
        """Each member's log record of the interval (the host sync of this interval); stops
        the members that diverged or saturated."""
        d_all, g_all = self.stats.read()
        records = []
        for m, d, g in zip(self.members, d_all, g_all):
            rec = {"step": self.step, "epoch": round(self.step / self.steps_per_epoch, 4),
                   "d_loss": d[0], "g_loss": g[0], "d_x": d[1], "d_g_z": d[2],
                   "steps_per_s": rate, "wall_s": wall}
            m.log.log(rec)
            records.append(rec)
            m.judge(d, g, self.step, self.step >= self.total)
        self.progress.show(self.step, self.total, records)

    def _drop_finished(self) -> None:
        """Members that stopped leave the batched state (their folders keep what they wrote)."""
        keep = [e for e, m in enumerate(self.members) if m.status == "running"]
        if len(keep) == len(self.members):
            return
        for m in self.members:
            if m.status != "running":
                outputs.finish(self, m)
        self.members = [self.members[e] for e in keep]
        if keep:
            self.gan = self.gan.subset(keep)
            self.batches = self.batches.select(keep)
            self.fixed_z = self.fixed_z[keep]
            self.stats.keep(keep)
            self.runner = self._runner()

    def _on_signal(self, signum, frame):
        self.stop_signal = signum

    def _sync(self) -> None:
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)

    def train(self) -> list[Member]:
        """Trains every member to its end (or its stop); returns the members, each with its
        status, and its summary written as summary.json."""
        cfg = self.cfg
        self.all_members = list(self.members)
        if self.progress is None:
            self.progress = Progress(self.total, cfg.progress, self.step)
        for m in self.members:
            m.log = Log(m.dir, cfg.tensorboard, self.step)
        old = {s: signal.signal(s, self._on_signal) for s in (signal.SIGINT, signal.SIGTERM)}
        self.start_step, self.compile_s = self.step, 0.0
        if self.device.type == "cuda":           # the group's peak, per member, in summaries
            torch.cuda.reset_peak_memory_stats(self.device)
        self.t_start = time.perf_counter()
        t_mark, mark_step = self.t_start, self.step
        eval_s = 0.0
        if all(m.last_ckpt is None for m in self.members):
            outputs.save_checkpoints(self)   # the initial state: a good checkpoint always exists
        try:
            while self.step < self.total and self.members:
                n = min(self._next_event(), self.total - self.step)
                self.runner.run(self.step, n)
                self.step += n
                self.progress.tick(n * len(self.members))
                if self.step == self.start_step + 1:  # the first step compiles / warms up: apart
                    self._sync()
                    self.compile_s = time.perf_counter() - self.t_start
                    t_mark, mark_step = time.perf_counter(), self.step
                epoch_end = self.step % self.steps_per_epoch == 0
                ckpt_due = self.step % cfg.ckpt_every == 0 or self.step == self.total
                if self.step % cfg.log_every == 0 or ckpt_due or epoch_end:
                    now = time.perf_counter()
                    rate = (self.step - mark_step) / (now - t_mark) if now > t_mark else 0.0
                    self._log(rate, now - self.t_start - self.compile_s - eval_s)
                    t_mark, mark_step = time.perf_counter(), self.step
                    self._drop_finished()
                    if not self.members:
                        break
                if epoch_end:
                    epoch = self.step // self.steps_per_epoch
                    outputs.save_samples(self, f"epoch_{epoch:03d}")
                    if self.eval_every and (epoch % self.eval_every == 0
                                            or self.step == self.total):
                        self._sync()
                        t0 = time.perf_counter()
                        outputs.evaluate(self, t0 - self.t_start - self.compile_s - eval_s)
                        eval_s += time.perf_counter() - t0
                        t_mark, mark_step = time.perf_counter(), self.step
                        for m in self.members:
                            if m.reached:
                                m.stop("done")           # target met: this member stops here
                        if any(m.reached for m in self.members):
                            ckpt_due = True
                if ckpt_due or self.stop_signal:
                    outputs.save_checkpoints(self)   # on a signal: the interval's sums with it
                    self._drop_finished()
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
                outputs.evaluate(self, self.wall)
        for m in self.members:
            outputs.finish(self, m)
        return self.all_members

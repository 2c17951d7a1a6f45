"""What each member of a training group writes into its folder: sample grids of a fixed z
(samples/epoch_NNN.png, samples/final.png), checkpoints, evaluation records in metrics.jsonl,
curves.png and summary.json. Functions of a fastgan.run.loop.Group and its members (those still
training, aligned with the group's GAN)."""
import json
import math
import time

import torch

from fastgan.config import to_dict
from fastgan.eval.evaluator import Evaluator
from fastgan.eval.rejection import reject_members
from fastgan.eval.scores import N_SAMPLES
from fastgan.io import checkpoint
from fastgan.io.files import atomic_write
from fastgan.io.images import grid, write_png
from fastgan.io.plots import curves
from fastgan.streams import generator

SAMPLE_GRID = 64  # fixed-z samples in each grid (8 x 8)


def fixed_z(cfgs, device) -> torch.Tensor:
    """The same z for every sample grid of a member, on any device: [E, 64, latent]."""
    return torch.stack([torch.randn(SAMPLE_GRID, c.model.latent_dim,
                                    generator=generator(c.seed, "grid")) for c in cfgs]).to(device)


def save_samples(group, name: str) -> list:
    with torch.no_grad():
        images = group.gan.sampler(group.fixed_z)                    # [E, 64, 784]
    paths = []
    for m, x in zip(group.members, images):
        img = grid(x, nrow=8)
        m.log.image("samples", img, group.step)
        paths.append(write_png(m.dir / "samples" / f"{name}.png", img))
    return paths


def save_checkpoints(group) -> None:
    """A checkpoint of every member (its GAN and the statistics of the interval so far); a
    member whose parameters are not finite gets none and stops (diverged)."""
    finite = group.gan.finite().tolist()
    for e, m in enumerate(group.members):
        if not finite[e]:
            m.stop("diverged", f"parameters are not finite at step {group.step}; last good "
                   f"checkpoint: {m.last_ckpt}")
            continue
        state = {**group.gan.member_state(e), **group.stats.member_state(e)}
        m.last_ckpt = checkpoint.save(m.dir, group.step, state, to_dict(m.cfg))


def save_curves(m):
    """curves.png: the losses, D's outputs, and the FID when evaluated, from the member's log."""
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


def evaluate(group, train_s: float) -> None:
    """Classifier scores of 10k samples of every member (z from its eval stream), batched;
    logged as each member's eval record. A member that reaches --target-fid is done."""
    t0 = time.perf_counter()
    cfg, gan = group.cfg, group.gan
    if group.evaluator is None:
        group.evaluator = Evaluator(cfg.data_dir, group.device, log=group.progress.write)
    ev = group.evaluator
    gens = lambda: [generator(m.cfg.seed, "eval") for m in group.members]
    scores = ev.score_members(gan.sampler, gens())
    raw = None
    if gan.G_ema is not None:          # what the average buys: the trained G's scores too
        raw = ev.score_members(gan.G, gens())
    kept = None
    if group.step >= group.total and cfg.reject > 0:   # the final scores: D's too
        x, rates = reject_members(gan.sampler, gan.D, N_SAMPLES, gens(),
                                  cfg.reject)                # D without dropout (no masks)
        kept = [{**ev.scores(xe), "kept": r} for xe, r in zip(x, rates)]
    seconds = time.perf_counter() - t0
    records = []
    for e, m in enumerate(group.members):
        sc = scores[e]
        rec = {"step": group.step, "epoch": round(group.step / group.steps_per_epoch, 4),
               "fid": sc["fid"], "is": sc["is"], "modes": sc["modes"],
               "confident": sc["confident"], "histogram": sc["histogram"]}
        if raw is not None and m.cfg.ema_decay > 0:
            rec.update(raw_fid=raw[e]["fid"], raw_is=raw[e]["is"], raw_modes=raw[e]["modes"])
        if kept is not None:
            rec["rejection"] = {"quantile": cfg.reject, "kept": kept[e]["kept"],
                                **{k: kept[e][k] for k in ("fid", "is", "modes",
                                                           "confident", "histogram")}}
        rec.update(train_s=train_s, eval_s=seconds)
        m.eval_s += seconds
        m.log.log(rec)
        records.append(rec)
        if m.cfg.target_fid is not None and sc["fid"] <= m.cfg.target_fid \
                and m.reached is None:
            m.reached = {"step": group.step, "fid": sc["fid"], "train_s": train_s}
    group.progress.show(group.step, group.total, records)


def _peak_mb(group) -> float | None:
    """The group's peak device memory so far over its members, in MiB (CUDA; None elsewhere)."""
    if group.device.type != "cuda":
        return None
    return torch.cuda.max_memory_allocated(group.device) / len(group.all_members) / 2 ** 20


def finish(group, m) -> None:
    """A member's last outputs (final grid, curves, summary.json), whatever its status."""
    e = group.members.index(m)
    samples = None                       # a member that stopped early keeps its epoch grids
    if m.status == "done":
        with torch.no_grad():
            img = grid(group.gan.sampler(group.fixed_z)[e], nrow=8)   # [E, 64, 784] -> e
        samples = write_png(m.dir / "samples" / "final.png", img)
    wall = time.perf_counter() - group.t_start - group.compile_s - m.eval_s
    if m.status == "done":
        wall = getattr(group, "wall", wall)
    last_eval = [r for r in m.log.records if "fid" in r]
    done_steps = group.step - group.start_step
    summary = {"status": m.status, "reason": m.reason, "steps": group.step,
               "train_s": wall, "compile_s": group.compile_s, "eval_s": m.eval_s,
               "target": m.reached,
               "scores": ({k: last_eval[-1][k] for k in ("fid", "is", "modes", "confident",
                                                         "histogram", "rejection")
                           if k in last_eval[-1]} if last_eval else None),
               "steps_per_s": max(done_steps - 1, 0) / max(wall, 1e-9),
               "samples": str(samples) if samples else None, "curves": str(save_curves(m)),
               "checkpoint": str(m.last_ckpt), "peak_mb_per_member": _peak_mb(group)}
    m.summary = summary
    atomic_write(m.dir / "summary.json",
                 lambda f: f.write((json.dumps(summary, indent=2) + "\n").encode()))
    m.log.close()

"""Training many GANs at once on the CPU: aggregate member-steps/s, side by side in one run.

    python bench/sweep_speed.py [--members 8] [--steps 60] [--rounds 3] [--save] [--readme docs/benchmarks.md]

Every configuration trains the default model (seeds 0..E-1, batch 64, one D step and one G step
per step, statistics summed on the device as the trainer does) for --steps steps after a
warm-up, and reports member-steps per second of wall time:
  sweep, 1 process     one process trains all E members batched (fastgan.sweep's group), on
                       1 thread and on every core
  sweep, P ranks       P processes (as torchrun's ranks: no communication while training) train
                       E / P members each on one thread
  single runs          fastgan.train's step (a one-member group), one process per core, one
                       thread each, running at once: today's way to train many GANs here
  eager PyTorch        the plain nn.Linear GAN of bench/train_speed.py, the same way
The configurations of one round run one after another, rounds interleaved, and each row reports
the median over rounds (with its min-max), so drifting machine speed hits every row alike. Also
reported: E = 1, 2, 4, 8, 16 in one process, the share of CPU time in GEMMs (torch.profiler) and
the memory each extra member costs (peak RSS). Run it alone: a second job halves every rate.
"""
import argparse
import json
import multiprocessing as mp
import os
import resource
import statistics
import sys
import time
from datetime import date
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))


def _worker(kind, members, threads, steps, warmup, seed0, barrier, out, device="cpu"):
    """One process: builds its GANs, waits for the others, times `steps` steps (on CUDA:
    compiled steps, the clock read after the queue drains)."""
    import torch
    torch.set_num_threads(threads)
    from fastgan.config import TrainConfig
    from fastgan.data import Batches
    device = torch.device(device)
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    images = (torch.rand(50000, 784, generator=torch.Generator().manual_seed(0)) * 2 - 1).to(device)
    seeds = list(range(seed0, seed0 + members))
    batches = Batches(images, 64, seeds)
    if kind == "eager":
        from train_speed import plain_gan
        steps_fns = [plain_gan() for _ in range(members)]

        def step(i):
            real = batches.get(i)
            for e, fn in enumerate(steps_fns):
                fn(real[e])
    else:                            # the trainer's step, at k = 1 as the plain GAN's
        from fastgan.gan import GAN
        from fastgan.step import Stats, train_step
        gan = GAN([TrainConfig(seed=s, batch_size=64, k=1) for s in seeds], device,
                  compile=device.type == "cuda")
        stats = Stats(members, device)

        def step(i):
            train_step(gan, batches, i, 10 ** 6, stats)
    for i in range(warmup):
        step(i)
    sync()
    barrier.wait()
    t0 = time.perf_counter()
    for i in range(steps):
        step(warmup + i)
    sync()
    seconds = time.perf_counter() - t0
    out.put({"member_steps": members * steps, "seconds": seconds,
             "rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024})


def run(kind: str, processes: int, members: int, threads: int, steps: int, warmup: int,
        device: str = "cpu") -> dict:
    """`processes` workers of `members` members each, started together."""
    ctx = mp.get_context("spawn")
    barrier, out = ctx.Barrier(processes), ctx.Queue()
    procs = [ctx.Process(target=_worker, args=(kind, members, threads, steps, warmup,
                                               p * members, barrier, out, device))
             for p in range(processes)]
    for p in procs:
        p.start()
    results = [out.get() for _ in procs]
    for p in procs:
        p.join()
    seconds = max(r["seconds"] for r in results)             # the whole batch of work
    return {"member_steps_per_s": sum(r["member_steps"] for r in results) / seconds,
            "rss_mb": max(r["rss_mb"] for r in results)}


def gemm_share(members: int, threads: int, steps: int = 10) -> float:
    """The share of CPU time in matrix products of a group's step (torch.profiler)."""
    import torch
    from torch.profiler import profile
    torch.set_num_threads(threads)
    from fastgan.config import TrainConfig
    from fastgan.data import Batches
    from fastgan.gan import GAN
    from fastgan.step import Stats, train_step
    gan = GAN([TrainConfig(seed=s, batch_size=64, k=1) for s in range(members)],
              torch.device("cpu"), compile=False)
    batches = Batches(torch.rand(50000, 784) * 2 - 1, 64, list(range(members)))
    stats = Stats(members, "cpu")
    for i in range(3):
        train_step(gan, batches, i, 10 ** 6, stats)
    with profile() as prof:
        for i in range(steps):
            train_step(gan, batches, 3 + i, 10 ** 6, stats)
    events = prof.key_averages()
    total = sum(e.self_cpu_time_total for e in events)
    gemm = sum(e.self_cpu_time_total for e in events
               if e.key in ("aten::bmm", "aten::baddbmm", "aten::mm", "aten::addmm"))
    return gemm / total


def configurations(E: int, cores: int) -> list[tuple]:
    """(label, kind, processes, members per process, threads)."""
    rows = [(f"sweep, 1 process, {cores} threads", "sweep", 1, E, cores),
            ("sweep, 1 process, 1 thread", "sweep", 1, E, 1)]
    if cores > 1 and E % cores == 0:
        rows.append((f"sweep, {cores} ranks x 1 thread", "sweep", cores, E // cores, 1))
    rows += [(f"single runs, {cores} at once x 1 thread", "sweep", cores, 1, 1),
             (f"eager PyTorch, {cores} at once x 1 thread", "eager", cores, 1, 1),
             (f"eager PyTorch, 1 process, {cores} threads", "eager", 1, 1, cores)]
    return rows


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--members", type=int, default=8, help="E of the side-by-side comparison")
    p.add_argument("--scaling", default="1,2,4,8,16", help="E values for one process")
    p.add_argument("--steps", type=int, default=60)
    p.add_argument("--warmup", type=int, default=10)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--save", action="store_true", help="write bench/results/sweep_speed.*")
    p.add_argument("--readme", type=Path, help="also put the table into this file")
    p.add_argument("--cuda", action="store_true", help="one process on the GPU, the default "
                   "recipe in whole-step CUDA graphs: member-steps/s, memory and kernels a step "
                   "for each E of --scaling (writes sweep_speed_cuda.*)")
    args = p.parse_args(argv)
    if args.cuda:
        return cuda_scaling(args)
    cores = os.cpu_count() or 1
    E = args.members
    side = configurations(E, cores)
    scaling = [(f"E = {e}, 1 process, {t} thread{'s' if t > 1 else ''}", "sweep", 1, e, t)
               for e in map(int, args.scaling.split(",")) for t in sorted({1, cores})]
    everything = side + [s for s in scaling if s[0] not in {x[0] for x in side}]
    rates = {c[0]: [] for c in everything}
    rss = {}
    for r in range(args.rounds):
        for label, kind, procs, members, threads in everything:
            # short steps for small E: about the same work per configuration
            steps = max(10, args.steps * 8 // max(procs * members, 1))
            res = run(kind, procs, members, threads, steps, args.warmup)
            rates[label].append(res["member_steps_per_s"])
            rss[label] = res["rss_mb"]
            print(f"round {r + 1}: {label}: {res['member_steps_per_s']:.1f} member-steps/s",
                  flush=True)
    med = {k: statistics.median(v) for k, v in rates.items()}
    base = med[f"single runs, {cores} at once x 1 thread"]
    best = max((c for c in side if c[1] == "sweep" and c[3] > 1), key=lambda c: med[c[0]])
    shares = {f"E = {e}, {t} thread(s)": gemm_share(e, t) for e, t in ((1, cores), (E, cores), (E // cores or 1, 1))}
    by_e = {}
    for label, _, procs, members, threads in scaling:
        by_e.setdefault(threads, {})[members] = rss[label]
    per_member = {t: (v[max(v)] - v[min(v)]) / (max(v) - min(v)) for t, v in by_e.items()
                  if len(v) > 1}
    from common import environment, splice
    env = environment()
    header = (f"{env['gpu']}, {cores} cores, torch {env['torch']}, commit {env['commit']}, "
              f"{date.today().isoformat()}; medians of {args.rounds} interleaved rounds")
    lines = [f"**{E} members of the default model** (seeds 0–{E - 1}, batch 64), aggregate "
             "member-steps/s:", "", "| configuration | member-steps/s (min–max) | vs single "
             "runs | peak RSS per process |", "|---|---:|---:|---:|"]
    for label, *_ in side:
        lines.append(f"| {label} | {med[label]:.1f} ({min(rates[label]):.1f}–"
                     f"{max(rates[label]):.1f}) | {med[label] / base:.2f}x | {rss[label]:.0f} MB |")
    got = med[best[0]] / base
    lines += ["", f"Best sweep configuration here: {best[0]}, {got:.2f}x the single runs "
              f"(target 1.25x: {'met' if got >= 1.25 else 'missed'}; goal 1.5x); "
              f"{med[best[0]] / med[f'eager PyTorch, {cores} at once x 1 thread']:.2f}x eager "
              "PyTorch run the same way.", "", "**One process, E members:**", "",
              "| E | threads | member-steps/s (min–max) | peak RSS |", "|---:|---:|---:|---:|"]
    for label, _, _, members, threads in scaling:
        lines.append(f"| {members} | {threads} | {med[label]:.1f} ({min(rates[label]):.1f}–"
                     f"{max(rates[label]):.1f}) | {rss[label]:.0f} MB |")
    lines += ["", "Share of CPU time in GEMMs (bmm / baddbmm): " + ", ".join(
        f"{k}: {100 * v:.0f}%" for k, v in shares.items()) + ". Memory per extra member "
        "(peak RSS slope over E): " + ", ".join(f"{v:.0f} MB at {t} thread(s)"
                                               for t, v in per_member.items()) + "."]
    md = "\n".join(lines)
    print(header)
    print(md)
    result = {**env, "cores": cores, "date": date.today().isoformat(), "rounds": rates,
              "median": med, "rss_mb": rss, "gemm_share": shares, "mb_per_member": per_member,
              "best": best[0], "vs_single_runs": got}
    if args.save:
        (HERE / "results").mkdir(exist_ok=True)
        (HERE / "results" / "sweep_speed.json").write_text(json.dumps(result, indent=1) + "\n")
        (HERE / "results" / "sweep_speed.md").write_text(f"{header}\n\n{md}\n")
    if args.readme:
        splice(args.readme, "sweep", f"{header}\n\n{md}\n")
    return 0


def cuda_point(E: int, steps: int, warmup: int, S: int = 10) -> dict:
    """E default members (batch 256, k = 2) in one whole-step CUDA graph of S steps (what
    `fastgan.sweep --cuda-graphs` trains): member-steps/s, peak memory per member, and the
    kernels of one replay of a step (torch.profiler)."""
    import torch
    from torch.profiler import ProfilerActivity, profile
    from fastgan.config import TrainConfig
    from fastgan.data import Batches
    from fastgan.gan import GAN
    from fastgan.graphs import CudaGraphs, GraphedSteps
    from fastgan.step import Stats
    device = torch.device("cuda")
    torch.cuda.empty_cache()
    images = torch.rand(50000, 784, device=device) * 2 - 1
    torch.cuda.reset_peak_memory_stats()
    base = torch.cuda.memory_allocated()
    cfgs = [TrainConfig(seed=s) for s in range(E)]
    gan = GAN(cfgs, device, compile=True)
    batches = Batches(images, cfgs[0].batch_size, [c.seed for c in cfgs])
    runner = GraphedSteps(gan, batches, Stats(E, device), 10 ** 6, S, CudaGraphs(device))
    warmup = max(warmup, 3 * S)                       # the S-step graph captured before
    runner.run(0, warmup)
    torch.cuda.synchronize()
    start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    start.record()
    runner.run(warmup, steps)
    end.record()
    torch.cuda.synchronize()
    seconds = start.elapsed_time(end) / 1000
    t = warmup + steps
    runner.run(t, 1)                                  # the one-step graph, captured
    with profile(activities=[ProfilerActivity.CUDA]) as prof:
        runner.run(t + 1, 1)
        torch.cuda.synchronize()
    kernels = [e for e in prof.events() if e.device_type == torch.autograd.DeviceType.CUDA]
    return {"members": E, "member_steps_per_s": E * steps / seconds,
            "peak_mb_per_member": (torch.cuda.max_memory_allocated() - base) / E / 2 ** 20,
            "kernels_per_step": len(kernels), "replayed": runner.replayed}


def cuda_scaling(args) -> int:
    """E members on one GPU in whole-step graphs: member-steps/s and its ratio to E = 1 (the
    launch-bound case), memory per member, kernels per step (the same at every E)."""
    from common import environment
    env = environment()
    rows = []
    for e in map(int, args.scaling.split(",")):
        r = cuda_point(e, args.steps, args.warmup)
        rows.append(r)
        print(f"E = {e}: {r['member_steps_per_s']:.0f} member-steps/s, "
              f"{r['peak_mb_per_member']:.0f} MB a member, {r['kernels_per_step']} kernels a step",
              flush=True)
    header = (f"{env['gpu']}, torch {env['torch']}, triton {env['triton']}, commit "
              f"{env['commit']}, {date.today().isoformat()}; the default recipe (batch 256, "
              "k = 2), compiled, whole-step CUDA graphs of 10 steps")
    lines = ["| E | member-steps/s | steps/s | vs E = 1 | MB a member | kernels a step |",
             "|---:|---:|---:|---:|---:|---:|"]
    one = rows[0]["member_steps_per_s"]
    lines += [f"| {r['members']} | {r['member_steps_per_s']:.0f} | "
              f"{r['member_steps_per_s'] / r['members']:.0f} | "
              f"{r['member_steps_per_s'] / one:.2f}x | {r['peak_mb_per_member']:.0f} | "
              f"{r['kernels_per_step']} |" for r in rows]
    md = "\n".join(lines)
    print(header)
    print(md)
    if args.save:
        (HERE / "results").mkdir(exist_ok=True)
        (HERE / "results" / "sweep_speed_cuda.json").write_text(json.dumps(
            {**env, "date": date.today().isoformat(), "rows": rows}, indent=1) + "\n")
        (HERE / "results" / "sweep_speed_cuda.md").write_text(f"{header}\n\n{md}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())

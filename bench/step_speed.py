"""Algorithm 1's whole step, timed: fastgan eager, compiled and as one CUDA graph, against the
plain PyTorch GAN at the same model, batch and k, all in one process on one device.

    python bench/step_speed.py [--batches 256,64] [--k 2] [--steps 300] [--modes ...]
                               [--profile] [--save]

Modes (the default model, G 100-384-768-1536-784 and D 784-512-256-1 with the default
dropout, k D updates per G update):
    plain-eager, plain-compile, plain-reduce-overhead: bench/plain_gan.py's GAN (nn.Linear,
        BCEWithLogitsLoss, torch.optim.Adam), eager, torch.compile default and reduce-overhead;
    fastgan-eager, fastgan-compile: fastgan.step.train_step, its ops eager or its forwards
        compiled;
    fastgan-graph, fastgan-graph10: the whole step captured as one CUDA graph (fastgan.graphs),
        1 and 10 steps per replay (the trainer's --cuda-graphs --graph-steps S).
Every mode takes its real minibatches from 50,000 device-resident images by fresh permutations
(fastgan.data.Batches), in tf32. A mode is warmed up (compiles, autotuning, captures), then
timed over --steps steps with CUDA events (the host clock on the CPU, where the graph and
compile modes are left out). --profile: a torch.profiler trace of one replay of the S = 1 graph
at the first batch size: kernels, their time, the gaps between them, and the step's GEMMs timed
alone with torch.mm (cuBLAS) for the floor. --save writes bench/results/gpu/step.{json,md} on a
GPU (bench/results/step_cpu.* on the CPU) with the device, driver, versions and commit.
"""
import argparse
import json
import subprocess
import sys
import time
from datetime import date
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import CUDA, DEVICE, environment, precision, sync  # noqa: E402
from fastgan import kernels  # noqa: E402
from fastgan.config import ModelConfig, TrainConfig  # noqa: E402
from fastgan.data import Batches  # noqa: E402
from fastgan.gan import GAN  # noqa: E402
from fastgan.graphs import CudaGraphs, GraphedSteps  # noqa: E402
from fastgan.step import Stats  # noqa: E402
from plain_gan import build  # noqa: E402

STEPS = 10 ** 6    # the run length the steps see (schedules, annealing): far beyond a benchmark
MODES = ("plain-eager", "plain-compile", "plain-reduce-overhead", "fastgan-eager",
         "fastgan-compile", "fastgan-graph", "fastgan-graph10")
CPU_MODES = ("plain-eager", "fastgan-eager")


def make(mode: str, batches: Batches, k: int):
    """run(i, n): steps i .. i + n - 1 of the mode."""
    if mode.startswith("plain-"):
        m = ModelConfig()
        step = build(DEVICE, m.d_input_dropout, m.d_dropout, g_sizes=m.g_hidden)[2]
        if mode != "plain-eager":
            step = torch.compile(step, mode=None if mode == "plain-compile" else "reduce-overhead")

        def run(i, n):
            for t in range(i, i + n):
                step(*(batches.get(t * k + j)[0] for j in range(k)))
        return run
    graph = mode.startswith("fastgan-graph")
    S = int(mode.removeprefix("fastgan-graph") or 1) if graph else 1
    gan = GAN(TrainConfig(batch_size=batches.batch_size, k=k), DEVICE,
              compile=mode == "fastgan-compile" or (graph and CUDA))
    runner = GraphedSteps(gan, batches, Stats(1, DEVICE), STEPS, S,
                          CudaGraphs(DEVICE) if graph else None)
    return runner.run


def measure(mode: str, batch: int, k: int, steps: int, warmup: int, images) -> dict:
    batches = Batches(images, batch, seeds=[0])
    run = make(mode, batches, k)
    t0 = time.perf_counter()
    run(0, warmup)
    sync()
    warm_s = time.perf_counter() - t0
    if CUDA:
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        run(warmup, steps)
        end.record()
        torch.cuda.synchronize()
        seconds = start.elapsed_time(end) / 1000
    else:
        t0 = time.perf_counter()
        run(warmup, steps)
        seconds = time.perf_counter() - t0
    return {"mode": mode, "batch": batch, "k": k, "steps_per_s": steps / seconds,
            "ms_per_step": 1000 * seconds / steps, "warmup_s": warm_s}


def step_gemms(m: ModelConfig, B: int, k: int) -> list[tuple[int, int, int]]:
    """(M, N, K) of every matrix product of one step: k D updates (G forward on B z, D forward
    on 2B rows, D's dW everywhere and dX above its first layer), one G update (G and D forward
    on B, D's dX everywhere, G's dW everywhere and dX above its first layer)."""
    g = list(zip([m.latent_dim, *m.g_hidden], [*m.g_hidden, m.image_dim]))
    d = list(zip([m.image_dim, *m.d_hidden], [*m.d_hidden, 1]))
    fwd = lambda layers, R: [(R, n, kk) for kk, n in layers]
    dw = lambda layers, R: [(n, kk, R) for kk, n in layers]
    dx = lambda layers, R: [(R, kk, n) for kk, n in layers]
    d_update = fwd(g, B) + fwd(d, 2 * B) + dw(d, 2 * B) + dx(d[1:], 2 * B)
    g_update = fwd(g, B) + fwd(d, B) + dx(d, B) + dw(g, B) + dx(g[1:], B)
    return k * d_update + g_update


def gemm_floor_us(shapes) -> float:
    """The step's matrix products timed alone with torch.mm (cuBLAS, tf32), µs."""
    total = 0.0
    for M, N, K in shapes:
        a, b = torch.randn(M, K, device=DEVICE), torch.randn(K, N, device=DEVICE)
        for _ in range(3):
            torch.mm(a, b)
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        for _ in range(50):
            torch.mm(a, b)
        end.record()
        torch.cuda.synchronize()
        total += start.elapsed_time(end) * 1000 / 50
    return total


def profile_replay(batch: int, k: int, images) -> dict:
    """One replay of the S = 1 graph under torch.profiler: kernels, kernel time, gaps."""
    from torch.profiler import ProfilerActivity, profile
    batches = Batches(images, batch, seeds=[0])
    run = make("fastgan-graph", batches, k)
    run(0, 20)
    torch.cuda.synchronize()
    with profile(activities=[ProfilerActivity.CUDA]) as prof:
        run(20, 1)
        torch.cuda.synchronize()
    kernels_ = [e for e in prof.events() if e.device_type == torch.autograd.DeviceType.CUDA
                and e.time_range.end > e.time_range.start]
    busy = sum(e.time_range.end - e.time_range.start for e in kernels_)
    span = (max(e.time_range.end for e in kernels_) - min(e.time_range.start for e in kernels_)
            if kernels_ else 0.0)
    names = {}
    for e in kernels_:
        names[e.name] = names.get(e.name, 0.0) + e.time_range.end - e.time_range.start
    floor = gemm_floor_us(step_gemms(ModelConfig(), batch, k))
    return {"batch": batch, "k": k, "kernels": len(kernels_), "kernel_us": busy, "span_us": span,
            "gap_us": span - busy, "gemm_cublas_us": floor,
            "kernel_over_gemm": busy / floor if floor else None,
            "top": sorted(names.items(), key=lambda x: -x[1])[:12]}


def driver() -> str:
    try:
        return subprocess.run(["nvidia-smi", "--query-gpu=driver_version", "--format=csv,noheader"],
                              capture_output=True, text=True).stdout.strip() or "unknown"
    except OSError:
        return "none"


def table(rows) -> str:
    lines = ["| batch | k | mode | steps/s | ms/step | vs plain's best |",
             "|---:|---:|---|---:|---:|---:|"]
    for r in rows:
        best = max((x["steps_per_s"] for x in rows if x["batch"] == r["batch"]
                    and x["mode"].startswith("plain-")), default=None)
        ratio = f"{r['steps_per_s'] / best:.2f}x" if best else "-"
        lines.append(f"| {r['batch']} | {r['k']} | {r['mode']} | {r['steps_per_s']:.1f} | "
                     f"{r['ms_per_step']:.3f} | {ratio} |")
    return "\n".join(lines)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--batches", default="256,64", help="(default: 256,64)")
    p.add_argument("--k", type=int, default=2, help="D updates per G update (default: 2)")
    p.add_argument("--steps", type=int, default=300, help="timed steps a mode (default: 300)")
    p.add_argument("--warmup", type=int, default=20, help="(default: 20)")
    p.add_argument("--modes", default=",".join(MODES if CUDA else CPU_MODES))
    p.add_argument("--profile", action="store_true", help="trace one replay (CUDA)")
    p.add_argument("--save", action="store_true", help="write bench/results/gpu/step.* (GPU) "
                   "or bench/results/step_cpu.* (CPU)")
    args = p.parse_args(argv)
    modes = args.modes.split(",")
    bad = [m for m in modes if m not in MODES or (not CUDA and m not in CPU_MODES)]
    if bad:
        p.error(f"mode {bad[0]} is not one of {', '.join(MODES if CUDA else CPU_MODES)}")
    images = torch.rand(50000, 784, device=DEVICE) * 2 - 1
    env = {**environment(), "driver": driver() if CUDA else "none",
           "date": date.today().isoformat()}
    rows, prof = [], None
    with precision("tf32"):
        kernels.set_precision("tf32")
        for b in map(int, args.batches.split(",")):
            for mode in modes:
                torch._dynamo.reset()
                r = measure(mode, b, args.k, args.steps, args.warmup, images)
                rows.append(r)
                print(f"batch {b} k {args.k} {mode}: {r['steps_per_s']:.1f} steps/s "
                      f"(warm-up {r['warmup_s']:.1f} s)", flush=True)
                if args.save:                  # row by row: a stopped run keeps what it measured
                    save(env, rows, prof)
        if args.profile and CUDA:
            prof = profile_replay(int(args.batches.split(",")[0]), args.k, images)
    md = report(env, rows, prof)
    print(md)
    if args.save:
        save(env, rows, prof)
    return 0


def report(env, rows, prof) -> str:
    header = (f"{env['gpu']}, driver {env['driver']}, torch {env['torch']}, triton "
              f"{env['triton']}, commit {env['commit']}, {env['date']}")
    md = f"{header}\n\n{table(rows)}\n"
    if prof:
        md += (f"\nOne replay of the whole-step graph (batch {prof['batch']}, k {prof['k']}): "
               f"{prof['kernels']} kernels, {prof['kernel_us']:.0f} µs of kernel time over a "
               f"{prof['span_us']:.0f} µs span ({prof['gap_us']:.0f} µs of gaps); the step's "
               f"GEMMs alone in cuBLAS: {prof['gemm_cublas_us']:.0f} µs "
               f"(kernel time {prof['kernel_over_gemm']:.2f}x that).\n")
    return md


def save(env, rows, prof) -> None:
    out = Path(__file__).parent / "results" / ("gpu" if CUDA else "")
    out.mkdir(parents=True, exist_ok=True)
    name = "step" if CUDA else "step_cpu"
    (out / f"{name}.json").write_text(json.dumps({**env, "rows": rows, "profile": prof},
                                                 indent=1) + "\n")
    (out / f"{name}.md").write_text(report(env, rows, prof))


if __name__ == "__main__":
    sys.exit(main())

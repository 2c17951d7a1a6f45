"""End-to-end training speed: steps/s of one D step + one G step, at several batch sizes.

    python bench/train_speed.py [--batches 64,1024] [--steps 200] [--modes ...] [--save]

(a) "eager": a plain PyTorch GAN of the same sizes written the usual way (bench/plain_gan.py:
nn.Linear, nn.LeakyReLU, nn.Dropout in D as the default model has, nn.BCEWithLogitsLoss, two
Adam optimizers); (b) "compile" and "max-autotune":
that model's step under torch.compile in the default mode and in mode="max-autotune" (which adds
CUDA graphs); (c) "fastgan": the project's GAN (its ops and compiled steps), and "fastgan-graphs"
its whole step captured as one CUDA graph (--cuda-graphs, fastgan.graphs). All in one process, one after another, warm-up
excluded, timed with CUDA events on the GPU. Like with like: every mode gathers its real batch
from 50,000 device-resident images by a fresh permutation, as the trainer does, and runs its
float32 matmuls at --precision (tf32: torch's allow_tf32 and the kernels' tf32 dots; fp32: both
exact). --save writes JSON and a markdown table under bench/results/; --readme docs/benchmarks.md puts
the table into that page.
"""
import argparse
import json
import sys
import time
from datetime import date
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import CUDA, DEVICE, environment, precision, splice, sync, verdict  # noqa: E402
from fastgan import kernels  # noqa: E402
from fastgan.config import ModelConfig, TrainConfig  # noqa: E402
from fastgan.data import Batches  # noqa: E402
from fastgan.gan import GAN  # noqa: E402
from fastgan.graphs import CudaGraphs, GraphedSteps  # noqa: E402
from fastgan.step import Stats  # noqa: E402

STEPS = 10 ** 6    # the run length the steps see (schedules, annealing): far beyond a benchmark
from plain_gan import build  # noqa: E402


def plain_gan():
    """The plain PyTorch GAN's step at the default model's widths, with the default D's
    dropout (as fastgan's D has)."""
    m = ModelConfig()
    return build(DEVICE, m.d_input_dropout, m.d_dropout, g_sizes=m.g_hidden)[2]


def make(mode: str, batches):
    """step(i): the i-th training step of the mode, on batches (one member's [1, B, 784]). fastgan
    runs fastgan.step.train_step, the step the trainer runs, at k = 1 as the plain GAN does."""
    if mode in ("eager", "compile", "max-autotune"):
        fn = plain_gan()
        if mode != "eager":
            fn = torch.compile(fn, mode=None if mode == "compile" else mode)
        return lambda i: fn(batches.get(i)[0])
    if mode in ("fastgan", "fastgan-graphs"):
        graphs = mode == "fastgan-graphs"
        if graphs and not CUDA:
            raise SystemExit("error: fastgan-graphs needs CUDA")
        gan = GAN(TrainConfig(batch_size=batches.batch_size, k=1), DEVICE, compile=CUDA)
        stats = Stats(1, DEVICE)
        runner = GraphedSteps(gan, batches, stats, STEPS, 1,
                              CudaGraphs(DEVICE) if graphs else None)
        return lambda i: runner.run(i, 1)
    raise ValueError(mode)


def measure(mode: str, batch: int, steps: int, warmup: int, prec: str = "tf32") -> dict:
    images = torch.rand(50000, 784, device=DEVICE) * 2 - 1
    batches = Batches(images, batch, seeds=[0])
    with precision(prec):
        kernels.set_precision(prec)
        step = make(mode, batches)
        t0 = time.perf_counter()
        for i in range(warmup):
            step(i)
        sync()
        warm_s = time.perf_counter() - t0
        if CUDA:
            start = torch.cuda.Event(enable_timing=True)
            end = torch.cuda.Event(enable_timing=True)
            start.record()
            for i in range(steps):
                step(warmup + i)
            end.record()
            torch.cuda.synchronize()
            seconds = start.elapsed_time(end) / 1000
        else:
            t0 = time.perf_counter()
            for i in range(steps):
                step(warmup + i)
            seconds = time.perf_counter() - t0
    return {"mode": mode, "batch": batch, "precision": prec, "steps_per_s": steps / seconds,
            "warmup_s": warm_s}


# the targets at batch 64, fastgan's steps/s over each mode's: for an H100, and for the CPU
TARGETS = ({"eager": 10.0, "compile": 1.5, "max-autotune": 1.2} if CUDA else {"eager": 1.5})


def table(rows) -> str:
    lines = ["| batch | mode | steps/s | vs eager |", "|---:|---|---:|---:|"]
    for r in rows:
        base = next(x for x in rows if x["batch"] == r["batch"] and x["mode"] == rows[0]["mode"])
        lines.append(f"| {r['batch']} | {r['mode']} | {r['steps_per_s']:.1f} | "
                     f"{r['steps_per_s'] / base['steps_per_s']:.2f}x |")
    ours = {}                                 # fastgan's best mode per batch
    for r in rows:
        if r["mode"].startswith("fastgan"):
            ours[r["batch"]] = max(ours.get(r["batch"], 0.0), r["steps_per_s"])
    checks = [(r["mode"], ours[64] / r["steps_per_s"], TARGETS[r["mode"]]) for r in rows
              if r["batch"] == 64 and r["mode"] in TARGETS and 64 in ours]
    if checks:
        lines += ["", f"Targets at batch 64 (set for {'an H100' if CUDA else 'the CPU'}):", "",
                  "| fastgan over | achieved | required | |", "|---|---:|---:|---|"]
        for mode, got, need in checks:
            lines.append(f"| {mode} | {got:.2f}x | {need:.1f}x | {verdict(got, need)} |")
    return "\n".join(lines)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--batches", default="64,1024")
    p.add_argument("--steps", type=int, default=200)
    p.add_argument("--warmup", type=int, default=20)
    p.add_argument("--modes", default="eager,compile,max-autotune,fastgan"
                   + (",fastgan-graphs" if CUDA else ""))
    p.add_argument("--precision", default="tf32", choices=("tf32", "fp32"),
                   help="float32 matmuls of every mode (default tf32)")
    p.add_argument("--rounds", type=int, default=1 if CUDA else 3,
                   help="interleaved rounds; each row is the median (default: 1 on CUDA, 3 "
                   "on the CPU, whose rate drifts)")
    p.add_argument("--save", action="store_true",
                   help="write bench/results/train_speed.* (train_speed_cpu.* on the CPU)")
    p.add_argument("--readme", type=Path, help="also put the table into this file")
    args = p.parse_args(argv)
    runs = {}
    for _ in range(args.rounds):        # modes take turns, so a slow spell hits them alike
        for b in args.batches.split(","):
            for m in args.modes.split(","):
                r = measure(m, int(b), args.steps, args.warmup, args.precision)
                runs.setdefault((b, m), []).append(r)
                print(f"batch {b} {m}: {r['steps_per_s']:.1f} steps/s (warm-up and compile "
                      f"{r['warmup_s']:.1f} s)", flush=True)   # a stopped run keeps its rows
    rows = []
    for got in runs.values():
        rates = sorted(r["steps_per_s"] for r in got)
        rows.append(dict(got[0], steps_per_s=rates[len(rates) // 2], rounds=rates))
    env = environment()
    md = table(rows)
    header = (f"{env['gpu']}, torch {env['torch']}, triton {env['triton']}, commit "
              f"{env['commit']}, {date.today().isoformat()}")
    print(header)
    print(md)
    name = "train_speed" if CUDA else "train_speed_cpu"         # the GPU's, or this CPU's
    if args.save:
        out = Path(__file__).parent / "results"
        out.mkdir(exist_ok=True)
        (out / f"{name}.json").write_text(json.dumps(
            {**env, "date": date.today().isoformat(), "rows": rows}, indent=2) + "\n")
        (out / f"{name}.md").write_text(f"{header}\n\n{md}\n")
    if args.readme:
        splice(args.readme, "train" if CUDA else "train-cpu", f"{header}\n\n{md}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())

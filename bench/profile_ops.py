"""Where the time of one op call goes: wall time against the GPU kernels' own time.

    python bench/profile_ops.py [--iters 50] [--save]

For linear_act forward+backward (a batch-64 layer and a batch-16384 one) and sigmoid_bce
forward+backward over 16M logits, fastgan's ops and the eager PyTorch they replace, each run
eagerly for --iters calls after a warm-up. Reported per call: the wall time (the queue drained
before the clock is read), the summed time of the CUDA kernels it launched and their count
(torch.profiler), and the host's share, 1 - kernels / wall: near 1 the call is bound by its
Python and launch overhead, near 0 by the kernels themselves. The first GPU run's kernel
benchmark had every fastgan op at ~1 ms whatever its size; this says which of the two it is.
On the CPU the same cases run at tiny sizes on the references (no kernel column), so CI proves
the script runs. --save writes bench/results/profile_ops.{json,md}.
"""
import argparse
import json
import sys
import time
from datetime import date
from pathlib import Path

import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import CUDA, DEVICE, environment, sync  # noqa: E402
from fastgan.kernels.linear_act import linear_act  # noqa: E402
from fastgan.kernels.sigmoid_bce import sigmoid_bce  # noqa: E402

# (name, batch, K, N, activation) of the linear_act cases; the BCE size
LINEAR = [("B64 768x1536 leaky_relu", 64, 768, 1536, "leaky_relu"),
          ("B16384 1536x784 tanh", 16384, 1536, 784, "tanh")] if CUDA else \
         [("B4 16x8 leaky_relu", 4, 16, 8, "leaky_relu")]
BCE_N = 1 << 24 if CUDA else 128


def _linear_case(batch, k, n, act, impl):
    x = torch.randn(batch, k, device=DEVICE, requires_grad=True)
    w = (torch.randn(n, k, device=DEVICE) / k ** 0.5).requires_grad_()
    b = torch.zeros(n, device=DEVICE, requires_grad=True)
    dy = torch.randn(batch, n, device=DEVICE)

    def eager(x, w, b):
        z = F.linear(x, w, b)
        return F.leaky_relu(z, 0.2) if act == "leaky_relu" else torch.tanh(z) \
            if act == "tanh" else z
    fn = (lambda x, w, b: linear_act(x, w, b, act, input_precision="tf32")) \
        if impl == "fastgan" else eager
    return lambda: torch.autograd.grad(fn(x, w, b), (x, w, b), dy)


def _bce_case(impl):
    z = torch.randn(BCE_N, device=DEVICE, requires_grad=True)
    y = torch.ones(BCE_N, device=DEVICE)
    if impl == "fastgan":
        return lambda: torch.autograd.grad(sigmoid_bce(z, 1.0), z)
    return lambda: torch.autograd.grad(F.binary_cross_entropy_with_logits(z, y), z)


def measure(call, iters: int) -> dict:
    for _ in range(3):                       # compile, autotune, allocate outside the numbers
        call()
    sync()
    t0 = time.perf_counter()
    for _ in range(iters):
        call()
    sync()
    wall = (time.perf_counter() - t0) / iters
    row = {"wall_ms": wall * 1e3}
    if CUDA:
        from torch.profiler import ProfilerActivity, profile
        with profile(activities=[ProfilerActivity.CPU, ProfilerActivity.CUDA]) as prof:
            for _ in range(iters):
                call()
            sync()
        kernels = [e for e in prof.events()
                   if e.device_type == torch.autograd.DeviceType.CUDA]
        row["kernel_ms"] = sum(e.device_time_total for e in kernels) / iters / 1e3
        row["kernels"] = len(kernels) / iters
        row["host_share"] = max(0.0, 1 - row["kernel_ms"] / row["wall_ms"])
        top = {}
        for e in kernels:
            top[e.name] = top.get(e.name, 0.0) + e.device_time_total / iters / 1e3
        row["top_kernels"] = sorted(top.items(), key=lambda kv: -kv[1])[:3]
    return row


def table(rows) -> str:
    lines = ["| op | case | impl | wall ms | kernel ms | kernels / call | host share |",
             "|---|---|---|---:|---:|---:|---:|"]
    for r in rows:
        k = (f"{r['kernel_ms']:.4f} | {r['kernels']:.1f} | {r['host_share']:.0%}"
             if "kernel_ms" in r else "— | — | —")
        lines.append(f"| {r['op']} | {r['case']} | {r['impl']} | {r['wall_ms']:.4f} | {k} |")
    return "\n".join(lines)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--iters", type=int, default=50)
    p.add_argument("--save", action="store_true",
                   help="write bench/results/profile_ops.{json,md}")
    args = p.parse_args(argv)
    if args.iters < 1:
        print(f"error: --iters must be >= 1, got {args.iters}", file=sys.stderr)
        return 2
    rows = []
    for impl in ("fastgan", "eager"):
        for name, batch, k, n, act in LINEAR:
            rows.append({"op": "linear_act fwd+bwd", "case": name, "impl": impl,
                         **measure(_linear_case(batch, k, n, act, impl), args.iters)})
        rows.append({"op": "sigmoid_bce fwd+bwd", "case": f"N {BCE_N}", "impl": impl,
                     **measure(_bce_case(impl), args.iters)})
    env = environment()
    header = (f"{env['gpu']}, torch {env['torch']}, triton {env['triton']}, commit "
              f"{env['commit']}, {date.today().isoformat()}; {args.iters} calls each, eager")
    md = table(rows)
    print(header)
    print(md)
    for r in rows:
        for name, ms in r.get("top_kernels", []):
            print(f"  {r['impl']} {r['op']} {r['case']}: {ms:.4f} ms in {name[:90]}")
    if args.save:
        out = Path(__file__).parent / "results"
        out.mkdir(exist_ok=True)
        (out / "profile_ops.json").write_text(json.dumps(
            {**env, "date": date.today().isoformat(), "iters": args.iters, "rows": rows},
            indent=2) + "\n")
        (out / "profile_ops.md").write_text(f"{header}\n\n{md}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())

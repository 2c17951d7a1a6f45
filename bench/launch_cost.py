"""Host cost of one eager op call with its kernel launches stubbed, without a GPU: fastgan's
linear_act forward + backward against eager PyTorch's F.linear + leaky_relu forward + backward,
interleaved in one run.

    TRITON_INTERPRET=1 python bench/launch_cost.py [--iters 2000] [--rounds 5] [--save]

The Triton launch (the interpreter's InterpretedFunction.run, where a GPU run calls Triton's
JIT launcher) is replaced by a no-op after a real warm-up call, so what is timed is all the
Python around it: the argument checks, torch's op dispatch and autograd, the autotuner's or
the tile cache's lookup, the grid. PyTorch's side runs its CPU kernels at the same tiny shape
(x [64, 32], weight [48, 32]: a few µs of arithmetic), so its time is mostly its own host cost.
Each row is the median of --rounds rounds of --iters calls. --save writes
bench/results/launch_cost.{json,md}.
"""
import argparse
import json
import os
import sys
import time
from datetime import date
from pathlib import Path

import torch
import torch.nn.functional as F

if os.environ.get("TRITON_INTERPRET") != "1":
    sys.exit("error: run with TRITON_INTERPRET=1 (the launches are stubbed in the interpreter)")

import triton.runtime.interpreter as interpreter  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import environment  # noqa: E402
from fastgan import kernels  # noqa: E402
from fastgan.kernels.linear_act import linear_act  # noqa: E402


def cases():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(64, 32, generator=g, requires_grad=True)
    w = torch.randn(48, 32, generator=g, requires_grad=True)
    b = torch.randn(48, generator=g, requires_grad=True)
    dy = torch.randn(64, 48, generator=g)

    def fastgan():
        linear_act(x, w, b, "leaky_relu", 0.2).backward(dy)

    def pytorch():
        F.leaky_relu(F.linear(x, w, b), 0.2).backward(dy)
    return {"fastgan linear_act": fastgan, "torch F.linear + leaky_relu": pytorch}


def per_call_us(fn, iters: int) -> float:
    t0 = time.perf_counter()
    for _ in range(iters):
        fn()
    return (time.perf_counter() - t0) / iters * 1e6


def measure(iters: int, rounds: int) -> dict:
    kernels.set_backend("triton")
    kernels.set_precision("fp32")
    threads = torch.get_num_threads()
    torch.set_num_threads(1)            # host cost: no intra-op threads to wait on
    fns = cases()
    for fn in fns.values():                       # real calls first: tiles chosen, kernels bound
        fn()
    run = interpreter.InterpretedFunction.run
    interpreter.InterpretedFunction.run = lambda self, *args, **kw: None
    try:
        times = {name: [] for name in fns}
        for _ in range(rounds):                   # interleaved: a slow spell hits both
            for name, fn in fns.items():
                times[name].append(per_call_us(fn, iters))
    finally:
        interpreter.InterpretedFunction.run = run
        torch.set_num_threads(threads)
    return {name: sorted(t)[len(t) // 2] for name, t in times.items()}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--iters", type=int, default=2000)
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--save", action="store_true", help="write bench/results/launch_cost.*")
    args = p.parse_args(argv)
    us = measure(args.iters, args.rounds)
    ours, theirs = us["fastgan linear_act"], us["torch F.linear + leaky_relu"]
    env = {**environment(), "date": date.today().isoformat()}
    md = (f"Host cost per forward + backward, launches stubbed (median of {args.rounds} rounds of "
          f"{args.iters} calls; torch {env['torch']}, triton {env['triton']}, commit "
          f"{env['commit']}, {env['date']}, this CPU)\n\n| call | µs | vs PyTorch |\n|---|---:|---:|\n"
          + "\n".join(f"| {name} | {t:.1f} | {t / theirs:.2f}x |" for name, t in us.items())
          + f"\n\nTarget: fastgan's ≤ PyTorch's ({'met' if ours <= theirs else 'not met'}).\n")
    print(md)
    if args.save:
        out = Path(__file__).parent / "results"
        (out / "launch_cost.json").write_text(json.dumps({**env, "us_per_call": us,
                                                          "iters": args.iters}, indent=1) + "\n")
        (out / "launch_cost.md").write_text(md)
    return 0


if __name__ == "__main__":
    sys.exit(main())

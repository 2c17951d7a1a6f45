"""Counts the kernel launches of one training step (one D step and one G step, batch 64) on the
Triton path, without a GPU: the Triton launches as the interpreter runs them, and the PyTorch
ops around them as the dispatcher sees them (each non-view op is one kernel launch on CUDA in
eager mode; foreach ops and fused Adam launch one kernel per chunk of tensors).

    TRITON_INTERPRET=1 python bench/launch_count.py [--share-g-forward] [--json FILE]

On CUDA with --compile, Inductor fuses the PyTorch ops between the Triton kernels into fewer
kernels; the Triton launches stay as counted here, so they are the floor of a step's launches
(and, at batch 64, of its time: a few microseconds each).
"""
import argparse
import collections
import json
import os
import sys
from pathlib import Path

if os.environ.get("TRITON_INTERPRET") != "1":
    sys.exit("error: run with TRITON_INTERPRET=1 (the Triton launches are counted in the "
             "interpreter)")

import torch  # noqa: E402
import triton.runtime.interpreter as interpreter  # noqa: E402
from torch.utils._python_dispatch import TorchDispatchMode, _disable_current_modes  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from fastgan import kernels  # noqa: E402
from fastgan.config import ModelConfig, TrainConfig  # noqa: E402
from fastgan.data import Batches  # noqa: E402
from fastgan.gan import GAN  # noqa: E402
from fastgan.step import Stats, train_step  # noqa: E402

NO_KERNEL = ("view", "_unsafe_view", "slice", "select", "detach", "alias", "expand", "t",
             "transpose", "as_strided", "unsqueeze", "squeeze", "permute", "lift_fresh",
             "empty", "empty_like", "empty_strided", "new_empty")


class Ops(TorchDispatchMode):
    def __init__(self):
        super().__init__()
        self.count = collections.Counter()

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        name = func.overloadpacket.__name__
        if name not in NO_KERNEL and func.namespace != "profiler":
            self.count[f"{func.namespace}::{name}"] += 1
        return func(*args, **(kwargs or {}))


def count(share: bool, model: ModelConfig = ModelConfig(), batch: int = 64,
          members: int = 1, counted: bool = False, k: int = 1) -> dict:
    """Launches of one step of `members` stacked GANs; the Triton launches depend on the layer
    count, not on the widths nor on the members. counted: the random draws of CUDA's counted
    streams (one Triton launch per draw for all members) instead of the CPU's generators (one
    call per member)."""
    kernels.set_backend("triton")
    kernels.set_precision("fp32")
    cfgs = [TrainConfig(share_g_forward=share, k=k, model=model, seed=s, batch_size=batch)
            for s in range(members)]
    gan = GAN(cfgs, torch.device("cpu"), compile=False)
    if counted:
        from fastgan.streams import Streams
        gan.streams = Streams([c.seed for c in cfgs], "cpu", counted=True)
    batches = Batches(torch.rand(4 * k * batch, 784) * 2 - 1, batch, [c.seed for c in cfgs])
    stats = Stats(members, "cpu")
    launches = collections.Counter()
    run = interpreter.InterpretedFunction.run

    def counted(self, *args, grid, warmup, **kw):
        if not warmup:
            launches[self.fn.__name__] += 1
        with _disable_current_modes():      # the interpreter's own host copies: not the step's
            return run(self, *args, grid=grid, warmup=warmup, **kw)
    interpreter.InterpretedFunction.run = counted
    try:
        train_step(gan, batches, 0, 10, stats)                               # warm-up
        launches.clear()
        with Ops() as ops:
            train_step(gan, batches, 1, 10, stats)
    finally:
        interpreter.InterpretedFunction.run = run
    triton_ops = {k: v for k, v in ops.count.items() if k.startswith("fastgan::")}
    torch_ops = {k: v for k, v in ops.count.items() if not k.startswith("fastgan::")}
    return {"triton_launches": dict(launches), "triton_total": sum(launches.values()),
            "fastgan_ops": triton_ops, "torch_ops": torch_ops,
            "torch_total": sum(torch_ops.values())}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--share-g-forward", action="store_true")
    p.add_argument("--members", type=int, default=1, help="GANs trained side by side (a sweep)")
    p.add_argument("--counted-streams", action="store_true",
                   help="draw as on CUDA: one Philox launch per draw for all members")
    p.add_argument("--k", type=int, default=1, help="D updates per G update (default 1; the "
                   "trainer's default is 2)")
    p.add_argument("--json", help="write the counts here")
    args = p.parse_args(argv)
    c = count(args.share_g_forward, members=args.members, counted=args.counted_streams, k=args.k)
    print(f"{args.members} member(s). Triton launches per step: {c['triton_total']}  "
          + ", ".join(f"{k} {v}" for k, v in sorted(c["triton_launches"].items())))
    print(f"PyTorch ops (kernel launches in eager CUDA) per step: {c['torch_total']}; "
          f"{c['triton_total'] + c['torch_total']} kernels in all")
    for k, v in sorted(c["torch_ops"].items(), key=lambda kv: -kv[1]):
        print(f"  {v:3d}  {k}")
    if args.json:
        Path(args.json).write_text(json.dumps(c, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())

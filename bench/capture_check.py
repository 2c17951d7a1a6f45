"""What in a training step would break a CUDA graph of the whole step, found without a GPU.

Runs two consecutive steps of fastgan.step.train_step along the CUDA code path (the Triton
kernels in the interpreter, the members' counted Philox streams) and records every launch: each
Triton kernel with its non-tensor arguments, and each PyTorch op with its non-tensor arguments
(a slice's offsets, Adam's learning rate, the average's weight). A graph replays its launches
with the arguments they had when it was captured, so

    an argument that differs between the two steps would be frozen into the graph (a draw number
    that repeats its random numbers, a batch offset that repeats its minibatch, a weight that
    stops changing);
    a read back to the host (.item(), .tolist(): aten::_local_scalar_dense) stalls the queue and
    cannot be captured;
    a tensor made from host data inside the step (torch.tensor(...): aten::lift_fresh) is a
    host-to-device copy in the step.

    TRITON_INTERPRET=1 python bench/capture_check.py [--save]

--save writes bench/results/capture_check.{json,md}. Exit status 0 when the step is capture-safe
(the default, and with a learning-rate schedule and instance noise), 1 otherwise.
"""
import argparse
import collections
import contextlib
import json
import os
import sys
from pathlib import Path

import torch  # noqa: E402
import triton.runtime.interpreter as interpreter  # noqa: E402
from torch.utils._python_dispatch import TorchDispatchMode, _disable_current_modes  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from fastgan import kernels  # noqa: E402
from fastgan.config import ModelConfig, TrainConfig  # noqa: E402
from fastgan.data import Batches  # noqa: E402
from fastgan.gan import GAN  # noqa: E402
from fastgan.step import Stats, train_step  # noqa: E402
from fastgan.streams import Streams  # noqa: E402

HOST_SYNC = {"aten::_local_scalar_dense": "reads a value back to the host (.item(), .tolist())",
             "aten::lift_fresh": "makes a tensor from host data (a host-to-device copy)"}


def _plain(value):
    """The non-tensor part of an argument, as JSON-able values (tensors become None)."""
    if isinstance(value, (torch.Tensor, torch.UntypedStorage, torch.TypedStorage)):
        return None                      # device memory: what a graph's replay reads anew
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (int, float, bool, str)) or value is None:
        return value
    if callable(value):                  # a launcher's grid: a function of the tile, not data
        return "<function>"
    return str(value)


class Recorder(TorchDispatchMode):
    def __init__(self, log):
        super().__init__()
        self.log = log

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        if func.namespace != "profiler":
            self.log.append((f"{func.namespace}::{func.overloadpacket.__name__}",
                             _plain(list(args)), _plain(kwargs or {})))
        return func(*args, **(kwargs or {}))


@contextlib.contextmanager
def recording(log: list):
    """Appends every launch inside to log: (name, non-tensor args, kwargs), Triton kernels (in
    the interpreter) and PyTorch ops alike."""
    run = interpreter.InterpretedFunction.run

    def recorded(self, *args, grid, warmup, **kw):
        if not warmup:
            log.append((f"triton::{self.fn.__name__}", _plain(list(args)),
                        _plain({"grid": grid, **kw})))
        with _disable_current_modes():      # the interpreter's own host copies: not the step's
            return run(self, *args, grid=grid, warmup=warmup, **kw)
    interpreter.InterpretedFunction.run = recorded
    try:
        with Recorder(log):
            yield log
    finally:
        interpreter.InterpretedFunction.run = run


def record_steps(cfg: TrainConfig, steps=(1, 2)) -> list[list]:
    """Each step's launches: [(name, non-tensor args, kwargs)] in order."""
    kernels.set_backend("triton")
    kernels.set_precision("fp32")
    gan = GAN([cfg], torch.device("cpu"), compile=False)
    gan.streams = Streams([cfg.seed], "cpu", counted=True)      # CUDA's random streams
    batches = Batches(torch.rand(4 * cfg.batch_size * cfg.k, 784) * 2 - 1, cfg.batch_size,
                      [cfg.seed])
    stats = Stats(1, "cpu")
    total = 1000
    train_step(gan, batches, 0, total, stats)                       # warm-up
    logs = []
    for t in steps:
        with recording([]) as log:
            train_step(gan, batches, t, total, stats)
        logs.append(log)
    return logs


def hazards(a: list, b: list) -> list[dict]:
    """What differs between two steps' launches, and what syncs with the host."""
    out = []
    if [x[0] for x in a] != [x[0] for x in b]:
        out.append({"kind": "sequence", "what": "the two steps launch different kernels",
                    "detail": f"{len(a)} and {len(b)} launches"})
    for i, (x, y) in enumerate(zip(a, b)):
        if x[0] in HOST_SYNC:
            out.append({"kind": "host", "what": x[0], "detail": HOST_SYNC[x[0]], "at": i})
        if x[0] == y[0] and (x[1] != y[1] or x[2] != y[2]):
            changed = [(j, u, v) for j, (u, v) in enumerate(zip(x[1], y[1])) if u != v]
            changed += [(k, x[2].get(k), y[2].get(k)) for k in x[2] if x[2].get(k) != y[2].get(k)]
            out.append({"kind": "frozen", "what": x[0], "at": i,
                        "detail": "; ".join(f"argument {j}: {u} -> {v}" for j, u, v in changed)})
    return out


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--save", action="store_true", help="write bench/results/capture_check.*")
    args = p.parse_args(argv)
    if os.environ.get("TRITON_INTERPRET") != "1":
        sys.exit("error: run with TRITON_INTERPRET=1 (the Triton launches are recorded in the "
                 "interpreter)")
    narrow = ModelConfig(latent_dim=16, g_hidden=(16, 16, 32), d_hidden=(32, 16))  # same depth
    configs = {"the default (k = 2)": TrainConfig(model=narrow, batch_size=16, seed=0),
               "with --lr-schedule linear --instance-noise 0.1":
                   TrainConfig(model=narrow, batch_size=16, seed=0, lr_schedule="linear",
                               instance_noise=0.1)}
    report, md, found = {}, [], []
    for label, cfg in configs.items():
        a, b = record_steps(cfg)
        found = hazards(a, b)
        kinds = collections.Counter(h["kind"] for h in found)
        by_what = collections.Counter((h["kind"], h["what"]) for h in found)
        line = (f"{label}: {len(a)} calls a step (Triton launches and PyTorch ops, views "
                f"included); {len(found)} would break a whole-step graph: {kinds['frozen']} "
                f"with arguments that change between steps, {kinds['host']} host syncs or "
                "host-data copies" + (", and the launch sequence differs"
                                      if kinds["sequence"] else ""))
        print(line)
        first = lambda key: next(h["detail"] for h in found if (h["kind"], h["what"]) == key)
        for (kind, what), n in by_what.most_common():
            print(f"  {n:3d} x {kind:6s} {what}: {first((kind, what))}")
        report[label] = {"summary": line, "calls": len(a), "hazards": found}
        md.append(f"{line}.\n\n| count | kind | launch | first example |\n|---:|---|---|---|\n"
                  + "\n".join(f"| {n} | {kind} | `{what}` | {first((kind, what))} |"
                               for (kind, what), n in by_what.most_common()) + "\n")
    if args.save:
        out = ROOT / "bench" / "results"
        (out / "capture_check.json").write_text(json.dumps(report, indent=1) + "\n")
        (out / "capture_check.md").write_text(
            "# What would break a whole-step CUDA graph (`TRITON_INTERPRET=1 python "
            "bench/capture_check.py --save`)\n\n" + "\n".join(md))
    found = [h for r in report.values() for h in r["hazards"]]
    return 0 if not found else 1


if __name__ == "__main__":
    sys.exit(main())

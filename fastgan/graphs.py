"""Algorithm 1's whole step as one CUDA graph (--cuda-graphs), S steps to a replay
(--graph-steps S).

fastgan.step.train_step launches the same kernels with the same non-tensor arguments at every
step (bench/capture_check.py): its draw numbers, minibatch positions, the average's weight and
Adam's step counts are device counters that the step itself advances. So one capture of S
steps, replayed, trains S more steps with nothing on the host. The host only mirrors the counts
it keeps for checkpoints and log records (the streams' draws, the statistics' update counts, the
average's update count, the minibatch numbering) by what the capture advanced them.

A step runs eagerly (train_step itself) where the host has work in it:
    the warm-up: Triton's autotuning and torch.compile's first calls, on a side stream;
    a new epoch's permutation, or a jump in the minibatch numbering (a resume);
    a stretch of steps whose host arguments are not the same at every step (top-k's count,
    which changes at epoch ends; a schedule's learning-rate factors and instance noise's
    annealing are device tensors on the CUDA path, fastgan.schedules.DeviceSchedule);
    the first step of a stretch whose host arguments have no graph yet (it warms them up).
Graphs are keyed by (S, those arguments), one capture per key, each in its own memory pool.
`GraphedSteps.run(step, n)` trains steps step .. step + n - 1; the loop passes the steps up to
its next log record, checkpoint or epoch end, so all of them see the state they always did.
"""
import contextlib

import torch

from fastgan.config import steps_per_epoch
from fastgan.schedules import topk_count
from fastgan.step import train_step

WARM_STEPS = 2          # eager steps before the first capture (PyTorch's notes: a few)


class CudaGraphs:
    """Graphs on a CUDA device: torch.cuda.CUDAGraph, the warm-up on a side stream."""

    def __init__(self, device: torch.device):
        self.device = device

    def capture(self, fn):
        graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(graph):
            fn()
        return graph.replay

    @contextlib.contextmanager
    def side_stream(self):
        side, main = torch.cuda.Stream(self.device), torch.cuda.current_stream(self.device)
        side.wait_stream(main)
        with torch.cuda.stream(side):
            yield
        main.wait_stream(side)


def host_counts(gan, batches, stats) -> dict:
    """What the host keeps of the training state (the device holds the rest)."""
    s = gan.streams
    return {"draws": dict(s.draws), "at_base": dict(s._at_base),
            "schedule": gan.schedule.host_step if gan.schedule is not None else None,
            "next": batches._next, "epoch": batches._epoch,          # the batches' place
            "taken": batches._taken,
            "d_updates": stats.d_updates, "g_updates": stats.g_updates,
            "ema": gan.ema._steps if gan.ema is not None else 0}


def set_host_counts(gan, batches, stats, counts: dict) -> None:
    gan.streams.draws, gan.streams._at_base = dict(counts["draws"]), dict(counts["at_base"])
    if gan.schedule is not None:
        gan.schedule.host_step = counts["schedule"]
    batches._next, batches._epoch, batches._taken = counts["next"], counts["epoch"], \
        counts["taken"]
    stats.d_updates, stats.g_updates = counts["d_updates"], counts["g_updates"]
    if gan.ema is not None:
        gan.ema._steps = counts["ema"]            # not the setter: the device count is the graph's


class GraphedSteps:
    """Runs the training steps of one group, replaying captured graphs where it can."""

    def __init__(self, gan, batches, stats, total: int, steps_per_replay: int = 1,
                 graphs=None):
        """graphs: what captures (CudaGraphs; the tests' stand-in on the CPU), or None: every
        step eager."""
        self.gan, self.batches, self.stats, self.total = gan, batches, stats, total
        self.S = steps_per_replay
        self.per_step = 1 if gan.shared else gan.cfg.k             # minibatches a step takes
        self.graphs = graphs
        self.replays, self.deltas = {}, {}          # key -> replay function, host-count delta
        self.warm, self.warmed = 0, None            # eager steps so far, the last one's key
        self.captures = self.replayed = 0

    def _host_args(self, step: int) -> tuple:
        """The step's arguments that the host passes as numbers (a graph freezes them)."""
        cfg = self.gan.cfg
        return (topk_count(cfg, step, steps_per_epoch(cfg)),
                *self.gan.host_numbers(step, self.total))

    def _eager(self, step: int) -> None:
        warm = self.graphs is not None and self.warm < WARM_STEPS
        with self.graphs.side_stream() if warm else contextlib.nullcontext():
            train_step(self.gan, self.batches, step, self.total, self.stats)
        self.warm += 1
        self.warmed = self._host_args(step)

    def _steps(self, step: int, s: int):
        return lambda: [train_step(self.gan, self.batches, t, self.total, self.stats)
                        for t in range(step, step + s)]

    def _capture(self, key, step: int, s: int) -> None:
        """Records steps step .. step + s - 1 (run by the first replay, not by the capture)."""
        before = host_counts(self.gan, self.batches, self.stats)
        self.replays[key] = self.graphs.capture(self._steps(step, s))
        after = host_counts(self.gan, self.batches, self.stats)
        self.deltas[key] = {name: ({u: after[name][u] - v for u, v in value.items()}
                                   if isinstance(value, dict) else
                                   None if name in ("next", "epoch") or value is None else
                                   after[name] - value)
                            for name, value in before.items()}
        set_host_counts(self.gan, self.batches, self.stats, before)
        self.captures += 1

    def _mirror(self, key, step: int, s: int) -> None:
        """The host's counts after a replay of key's s steps from step."""
        now = host_counts(self.gan, self.batches, self.stats)
        for name, delta in self.deltas[key].items():
            if isinstance(delta, dict):
                now[name] = {u: now[name][u] + d for u, d in delta.items()}
            elif delta is not None:
                now[name] += delta
        set_host_counts(self.gan, self.batches, self.stats, now)
        self.batches.taken(step * self.per_step, s * self.per_step)

    def run(self, step: int, n: int) -> None:
        """Trains steps step .. step + n - 1."""
        if self.graphs is None:
            for t in range(step, step + n):
                train_step(self.gan, self.batches, t, self.total, self.stats)
            return
        args = {self._host_args(t) for t in range(step, step + n)}
        same = len(args) == 1
        end = step + n
        while step < end:
            s = self.S if end - step >= self.S else 1
            key = (s, *args) if same else None
            if (not same or self.warm < WARM_STEPS
                    or not self.batches.in_order(step * self.per_step, s * self.per_step)
                    or (key not in self.replays and self.warmed not in args)):
                self._eager(step)
                step += 1
                continue
            if key not in self.replays:
                self._capture(key, step, s)
            self.replays[key]()
            self._mirror(key, step, s)
            self.replayed += s
            step += s

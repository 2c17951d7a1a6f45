"""What changes over a run: the learning-rate factor of a member and the share of fakes that
top-k generator updates keep. Host floats and ints of (config, step): a step reads nothing back
from the device to know them. DeviceSchedule holds the same numbers on the device for the CUDA
path, where the step is captured as a graph.

Learning rate, at step t of T (p = t / T), the factor on a member's --lr-d / --lr-g:
    constant: 1;   linear: 1 before s = --lr-decay-start, then (1 - p) / (1 - s) down to 0;
    cosine:   1 before s, then (1 + cos(pi (p - s) / (1 - s))) / 2 down to 0;
times min(1, (t + 1) / W) in the first W = --lr-warmup steps (a linear warm-up from 0).
With s = 0 the linear schedule is the decay over the whole run that it always was.

Top-k (Sinha et al. 2020): G's loss keeps the k fakes D rates highest, k = round(f B) with
f = max(decay ** epoch, --g-topk): all B at first, shrinking each epoch to the floor --g-topk.
"""
import math

import torch


def schedule_key(cfg) -> tuple:
    """What fixes a member's learning-rate factor at every step (members that share it get one
    fused Adam call per step)."""
    return (cfg.lr_schedule, cfg.lr_decay_start, cfg.lr_warmup)


def lr_factor(cfg, step: int, total: int) -> float:
    """The factor on the member's learning rates for the update at `step` (0-based) of total."""
    p, s = step / total, cfg.lr_decay_start
    factor = 1.0
    if cfg.lr_schedule != "constant" and p > s:
        q = (p - s) / (1 - s)                             # 0 -> 1 over the decay
        factor = 1 - q if cfg.lr_schedule == "linear" else 0.5 * (1 + math.cos(math.pi * q))
    if cfg.lr_warmup > 0 and step < cfg.lr_warmup:
        factor *= (step + 1) / cfg.lr_warmup
    return factor


def topk_count(cfg, step: int, steps_per_epoch: int) -> int:
    """How many of a G step's batch_size fakes its loss keeps (batch_size: top-k is off)."""
    if cfg.g_topk >= 1:
        return cfg.batch_size
    share = max(cfg.g_topk_decay ** (step // steps_per_epoch), cfg.g_topk)
    return max(1, min(cfg.batch_size, round(share * cfg.batch_size)))


class DeviceSchedule:
    """The same numbers as device tensors, for the CUDA path (counted streams): each member's
    learning-rate factor and instance noise's annealing 1 - t / T, read at a device step count
    that `advance` moves on after each step, so every step launches alike (a host float that
    changed every step would be frozen into a captured graph). The values are the host's: a
    float64 table of lr_factor per distinct schedule, and 1 - t / T in float64."""

    def __init__(self, cfgs, total: int, device):
        self.total = total
        keys = [schedule_key(c) for c in cfgs]
        distinct = list(dict.fromkeys(keys))
        first = [cfgs[keys.index(k)] for k in distinct]
        self.table = torch.tensor([[lr_factor(c, t, total) for t in range(total)] for c in first],
                                  dtype=torch.float64, device=device)       # [schedules, T]
        self.rows = torch.tensor([distinct.index(k) for k in keys], device=device)   # [E]
        self.step = torch.zeros(1, dtype=torch.int64, device=device)
        self.host_step = None                    # the host's copy (None: not placed yet)

    def place(self, step: int) -> None:
        """At a step's start: the device count set from the host at a start or a jump only."""
        if step != self.host_step:
            self.step.fill_(step)
            self.host_step = step

    def lr_factors(self):
        """[E] float64: each member's factor at the current step."""
        return self.table.index_select(1, self.step)[:, 0].index_select(0, self.rows)

    def noise_left(self):
        """[1] float64: 1 - t / T."""
        return 1 - self.step.double() / self.total

    def advance(self) -> None:
        self.step += 1
        self.host_step += 1

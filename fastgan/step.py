"""Algorithm 1's step for every member of a group, and the statistics it leaves on the device.

`train_step(gan, batches, step, total, stats)` is the one step that the loop, the sweep and the
benchmarks call. For step t of T, every member at once:
    learning-rate factors of t (fastgan.schedules), top-k's count of t,
    k times: a D update on the real minibatch t * k + j and a fresh z (annealed instance noise),
    once:    a G update on a fresh z (through the frozen D, top-k's fakes), Adam, the average;
or, with share_g_forward (k = 1), the D and the G update on one G forward.
Nothing here reads a value back to the host: `Stats` sums each update's [E, .] statistics on
the device, and `Stats.read()` is the one host sync, once per log record.
"""
import torch

from fastgan.config import steps_per_epoch
from fastgan.schedules import topk_count


class Stats:
    """Device sums of the statistics over a log interval: D [E, 3] (d_loss, D(x), D(G(z))) per
    D update, G [E, 2] (g_loss, D(G(z))) per G update."""

    def __init__(self, members: int, device):
        self.d = torch.zeros(members, 3, device=device)
        self.g = torch.zeros(members, 2, device=device)
        self.d_updates = self.g_updates = 0

    def read(self) -> tuple[list, list]:
        """The interval's means per member, on the host (the sync), then zeroed."""
        d = (self.d / max(self.d_updates, 1)).tolist()
        g = (self.g / max(self.g_updates, 1)).tolist()
        self.d.zero_()
        self.g.zero_()
        self.d_updates = self.g_updates = 0
        return d, g

    def member_state(self, e: int) -> dict:
        """Member e's sums so far (a checkpoint taken mid-interval carries them on)."""
        return {"stats": {"d": self.d[e].clone(), "g": self.g[e].clone(),
                          "d_updates": self.d_updates, "g_updates": self.g_updates}}

    def load_member_state(self, e: int, state: dict) -> None:
        saved = state.get("stats")            # checkpoints before these were kept: none
        if saved is not None:
            self.d[e].copy_(saved["d"])
            self.g[e].copy_(saved["g"])
            self.d_updates, self.g_updates = saved["d_updates"], saved["g_updates"]

    def keep(self, members: list[int]) -> None:
        """Only these members' rows (a member that stopped leaves the group)."""
        self.d, self.g = self.d[members], self.g[members]


def train_step(gan, batches, step: int, total: int, stats: Stats) -> None:
    """Step `step` (0-based) of `total` of Algorithm 1 for every member of gan, its real
    minibatches from batches ([E, B, 784] each); statistics summed into stats."""
    cfg, k = gan.cfg, gan.cfg.k
    left = 1 - step / total                  # instance noise's annealing: 1 at the start
    gan.set_lr_scales(step, total)
    topk = topk_count(cfg, step, steps_per_epoch(cfg))
    if gan.shared:
        gan.shared_step(batches.get(step), left, topk, into_d=stats.d, into_g=stats.g)
        stats.d_updates += 1
    else:
        for j in range(k):
            gan.d_step(batches.get(step * k + j), left, into=stats.d)
        stats.d_updates += k
        gan.g_step(cfg.batch_size, left, topk, into=stats.g)
    stats.g_updates += 1
    gan.end_step()
    batches.end_step()

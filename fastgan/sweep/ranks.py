"""A sweep over several processes and machines, on torch.distributed (started by torchrun).

torchrun sets RANK, WORLD_SIZE, LOCAL_RANK and LOCAL_WORLD_SIZE; without them a sweep is one
rank. The members are split over the ranks in contiguous blocks (so the seeds of one setting
mostly share a rank, and a group); each rank trains its block batched; rank 0 gathers the rows
and writes the table. Backends: gloo for CPU ranks, nccl for CUDA (one GPU per rank, the rank's
LOCAL_RANK). A member's result does not depend on the split: its state and streams are its own.
"""
import os
from dataclasses import dataclass
from datetime import timedelta

import torch

# A rank may finish its members long before the others: the collectives that wait for them
# (the final gather) must not time out meanwhile.
WAIT = timedelta(days=7)


@dataclass
class World:
    rank: int = 0
    size: int = 1
    local_rank: int = 0
    local_size: int = 1

    @property
    def distributed(self) -> bool:
        return self.size > 1


def world() -> World:
    """This process's place, from torchrun's environment (one rank without it)."""
    env = os.environ
    return World(int(env.get("RANK", 0)), int(env.get("WORLD_SIZE", 1)),
                 int(env.get("LOCAL_RANK", 0)), int(env.get("LOCAL_WORLD_SIZE", 1)))


def restarted() -> bool:
    """Whether torchrun restarted the workers (--max-restarts) after a rank failed."""
    return int(os.environ.get("TORCHELASTIC_RESTART_COUNT", "0") or 0) > 0


def device_for(name: str, w: World) -> str:
    """A rank's device: CUDA ranks take the GPU of their local rank."""
    if w.distributed and name in ("cuda", "auto") and torch.cuda.is_available():
        return f"cuda:{w.local_rank}"
    return name


def start(w: World, device: str) -> None:
    """Joins the process group. Its keys in torchrun's store are prefixed by the restart
    count: after a rank died and torchrun restarted the workers, a fast new rank could
    otherwise read a peer's address from the previous attempt and fail to connect."""
    if w.distributed and not torch.distributed.is_initialized():
        backend = "nccl" if device.startswith("cuda") else "gloo"
        store, rank, size = next(torch.distributed.rendezvous("env://", timeout=WAIT))
        attempt = os.environ.get("TORCHELASTIC_RESTART_COUNT", "0")
        torch.distributed.init_process_group(
            backend, store=torch.distributed.PrefixStore(f"fastgan/attempt_{attempt}", store),
            rank=rank, world_size=size, timeout=WAIT)


def stop(w: World) -> None:
    if w.distributed and torch.distributed.is_initialized():
        torch.distributed.destroy_process_group()


def split(n: int, w: World) -> list[int]:
    """The member indices of this rank: a contiguous block, sizes differing by at most one."""
    per, extra = divmod(n, w.size)
    start_ = w.rank * per + min(w.rank, extra)
    return list(range(start_, start_ + per + (w.rank < extra)))


def gather(obj, w: World):
    """Every rank's obj, as a list on rank 0 (None elsewhere); [obj] on one rank."""
    if not w.distributed:
        return [obj]
    out = [None] * w.size if w.rank == 0 else None
    torch.distributed.gather_object(obj, out, dst=0)
    return out


def broadcast(obj, w: World):
    """Rank 0's obj on every rank."""
    if not w.distributed:
        return obj
    box = [obj]
    torch.distributed.broadcast_object_list(box, src=0)
    return box[0]

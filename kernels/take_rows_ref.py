"""Pure-PyTorch reference of take_rows: every member's minibatch, gathered. The CPU path."""
import torch


def take_rows_ref(images, perm, start, offset: int, count: int):
    """images [n, F], perm int64 [E, n], start int64 [1] -> [E, count, F]: member e's rows
    images[perm[e, start + offset + b]], b < count (index ops on the device: no host read)."""
    positions = start + torch.arange(offset, offset + count, device=start.device)   # [count]
    return images[perm.index_select(1, positions)]

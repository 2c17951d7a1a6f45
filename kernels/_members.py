"""Elementwise math that rounds the same for a member whatever group it is in (the references'
CPU path).

PyTorch's CPU loops run an elementwise op in SIMD over whole chunks (2 vectors: 16 floats on
AVX2, 32 on AVX-512) and in scalar code over the tail, and for exp, log1p, sigmoid and tanh the
two round differently. A member's elements inside a stacked [E, ...] tensor can fall in the SIMD
part where, alone, they fall in the tail: its result would depend on E. `by_member` computes
such an op with each member's elements padded to a multiple of CHUNK, so that every element of
every member is computed in SIMD, as it is alone. Shapes whose member size is already a multiple
of CHUNK (every default shape: B = 256, B x 784) run the op as is, with no copy.
"""
import torch
import torch.nn.functional as F

CHUNK = 64   # floats: a multiple of every CPU vector loop's chunk (32 on AVX-512)


def by_member(fn, x: torch.Tensor) -> torch.Tensor:
    """fn(x) for an elementwise fn of x [E, ...], each member's elements computed as if alone."""
    n = x[0].numel()
    if x.device.type != "cpu" or n % CHUNK == 0:
        return fn(x)
    e = x.shape[0]
    flat = F.pad(x.reshape(e, n), (0, (-n) % CHUNK))            # [E, n + pad], zeros after
    return fn(flat)[:, :n].reshape(x.shape)

"""Every member's minibatch in one launch: the rows of the training images at the positions of
each member's permutation.

    out[e, b, :] = images[perm[e, start + offset + b], :]     e < E, b < count
images [n, F] (resident on the device), perm int64 [E, n] (each member's order of the epoch),
start an int64 [1] device counter (where the step's batches begin in the permutation) and
offset the batch's place after it: fastgan.data.Batches advances start once per step on the
device, so each batch of a step launches with the same arguments every step (what a captured
CUDA graph replays). One program per (row, member) copies its row.
"""
import torch

try:
    import triton
    import triton.language as tl
except ImportError:    # no Triton (macOS, Windows): the kernels are never launched
    from fastgan.kernels._no_triton import tl, triton

from fastgan.kernels._dispatch import launch, use_triton
from fastgan.kernels.take_rows_ref import take_rows_ref


@triton.jit(do_not_specialize=["offset"])
def _take_rows_kernel(images_ptr, perm_ptr, start_ptr, out_ptr, offset, F, s_img, s_perm,
                      s_out_e, s_out_r, BLOCK: tl.constexpr):
    b = tl.program_id(0)
    e = tl.program_id(1).to(tl.int64)
    position = tl.load(start_ptr) + offset.to(tl.int64) + b
    row = tl.load(perm_ptr + e * s_perm + position)                              # int64
    for f0 in range(0, F, BLOCK):
        f = f0 + tl.arange(0, BLOCK)
        v = tl.load(images_ptr + row * s_img + f, mask=f < F)
        tl.store(out_ptr + e * s_out_e + b * s_out_r + f, v, mask=f < F)


def take_rows(images: torch.Tensor, perm: torch.Tensor, start: torch.Tensor, offset: int,
              count: int) -> torch.Tensor:
    """[E, count, F] (the module's docstring). Triton on CUDA (and under TRITON_INTERPRET=1),
    the reference elsewhere; the caller keeps start + offset + count within perm's rows."""
    if images.dim() != 2 or perm.dim() != 2 or perm.dtype != torch.int64 \
            or start.dtype != torch.int64 or start.numel() != 1 or images.stride(1) != 1:
        raise ValueError("take_rows: images [n, F] (rows contiguous), perm int64 [E, n] and "
                         "start int64 [1]")
    if not use_triton(images):
        return take_rows_ref(images, perm, start, offset, count)
    E, F = perm.shape[0], images.shape[1]
    out = torch.empty((E, count, F), dtype=images.dtype, device=images.device)
    launch(_take_rows_kernel, (count, E),
           (images, perm, start, out, offset, F, images.stride(0), perm.stride(0), out.stride(0),
            out.stride(1)), (), True, BLOCK=min(1024, triton.next_power_of_2(F)))
    return out

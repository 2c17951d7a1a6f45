"""The moving average's weights of one update in one launch, from a device update count.

For the count t (float64 [1], updates so far) and G groups of members, each with a decay and a
start (float64 [G]): w_g = 1 - min(decay_g, (1 + s) / (10 + s)), s = t - start_g, and w_g = 1
while s < 0 (before the group's start: a copy); then t += 1. float64 arithmetic, one rounding
to the float32 the lerp takes, the same numbers as the host's formula
(fastgan.optim.MemberEMA.weight) and the reference's torch ops. What a captured graph replays
in place of the six element-wise launches those ops take.
"""
import torch

try:
    import triton
    import triton.language as tl
except ImportError:    # no Triton (macOS, Windows): the kernels are never launched
    from fastgan.kernels._no_triton import tl, triton

from fastgan.kernels._dispatch import launch, use_triton
from fastgan.kernels.ema_weights_ref import ema_weights_ref


@triton.jit
def _ema_weights_kernel(t_ptr, decay_ptr, start_ptr, w_ptr, n, BLOCK: tl.constexpr):
    i = tl.arange(0, BLOCK)
    inside = i < n
    t = tl.load(t_ptr)
    s = t - tl.load(start_ptr + i, mask=inside, other=0.0)                       # float64
    w = 1.0 - tl.minimum((s + 1.0) / (s + 10.0), tl.load(decay_ptr + i, mask=inside, other=0.0))
    tl.store(w_ptr + i, tl.where(s >= 0, w, 1.0).to(tl.float32), mask=inside)
    tl.store(t_ptr, t + 1.0)


def ema_weights_(t: torch.Tensor, decays: torch.Tensor, starts: torch.Tensor) -> torch.Tensor:
    """w float32 [G] of the update after t (float64 [1]) ones, then t += 1 in place (the
    module's docstring). Triton on CUDA (and under TRITON_INTERPRET=1), the reference
    elsewhere."""
    if t.dtype != torch.float64 or t.numel() != 1 or decays.dtype != torch.float64 \
            or starts.shape != decays.shape or decays.dim() != 1:
        raise ValueError("ema_weights_: t must be float64 [1], decays and starts float64 [G]")
    if not use_triton(t):
        return ema_weights_ref(t, decays, starts)
    w = torch.empty(decays.shape, dtype=torch.float32, device=t.device)
    launch(_ema_weights_kernel, (1,), (t, decays, starts, w, decays.numel()), (), True,
           BLOCK=triton.next_power_of_2(decays.numel()))
    return w

"""Random numbers for E members in one launch, each from its own counter-based stream.

Member e's stream is Triton's Philox4x32-10 (tl.randint4x, tl.randn) keyed by its 64-bit seed
seeds[e]; draw number d of the stream (a counter the caller advances once per draw) uses the
Philox counters (i, d), i the position in the draw: value = philox(seeds[e]; i, d, 0, 0). So
what member e gets depends on its seed, the draw number and the position alone, never on E or
on the other members, and a draw is one launch whatever E is (the member is grid axis 1).

    member_bits(seeds [E], draw, n)              -> int16 [E, n], uniform 16-bit words
    member_normal(seeds [E], draw, n, scale)     -> float32 [E, n], N(0, 1) (times scale[e])

The CUDA path of fastgan.streams; the pure-PyTorch Philox beside it (member_random_ref) is the
tests' truth, bit for bit for the words (the normals within rounding: log and cos are the
device's). The CPU training path keeps one torch.Generator per member instead (a Philox in
PyTorch's integer ops would cost more than the step).
"""
import torch
from torch.library import triton_op

try:
    import triton
    import triton.language as tl
except ImportError:    # no Triton (macOS, Windows): the kernels are never launched
    from fastgan.kernels._no_triton import tl, triton

from fastgan.kernels._dispatch import launcher

BLOCK = 1024


# ---- kernels -------------------------------------------------------------------------------
@triton.jit
def _counters(draw, BLOCK: tl.constexpr):
    """(positions, int64 Philox counters: draw << 32 | position) of this program's block."""
    i = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    return i, (draw.to(tl.int64) << 32) | i.to(tl.int64)


# `draw` changes every launch: never specialized (Triton would pass a 1 as a Python int, with no
# .to(), and compile a variant for draws divisible by 16).
@triton.jit(do_not_specialize=["draw"])
def _bits_kernel(seed_ptr, out_ptr, draw, n_words, s_out, BLOCK: tl.constexpr):
    # out [E, n_words] int32, member e = program_id(1); each counter gives 4 words, stored at
    # 4 i .. 4 i + 3 (the counters this program owns: i in [pid * BLOCK, (pid + 1) * BLOCK))
    e = tl.program_id(1).to(tl.int64)
    seed = tl.load(seed_ptr + e)
    i, offs = _counters(draw, BLOCK)
    r0, r1, r2, r3 = tl.randint4x(seed, offs)
    base = out_ptr + e * s_out + 4 * i
    tl.store(base, r0.to(tl.int32, bitcast=True), mask=4 * i < n_words)
    tl.store(base + 1, r1.to(tl.int32, bitcast=True), mask=4 * i + 1 < n_words)
    tl.store(base + 2, r2.to(tl.int32, bitcast=True), mask=4 * i + 2 < n_words)
    tl.store(base + 3, r3.to(tl.int32, bitcast=True), mask=4 * i + 3 < n_words)


@triton.jit(do_not_specialize=["draw"])
def _normal_kernel(seed_ptr, scale_ptr, out_ptr, draw, n, s_out, HAS_SCALE: tl.constexpr,
                   BLOCK: tl.constexpr):
    # out [E, n] float32: tl.randn of counter (draw, i), times scale[e] when given
    e = tl.program_id(1).to(tl.int64)
    seed = tl.load(seed_ptr + e)
    i, offs = _counters(draw, BLOCK)
    v = tl.randn(seed, offs)
    if HAS_SCALE:
        v = v * tl.load(scale_ptr + e)
    tl.store(out_ptr + e * s_out + i, v, mask=i < n)


# ---- launchers -----------------------------------------------------------------------------
def _check(seeds, draw, n):
    if seeds.dtype != torch.int64 or seeds.dim() != 1 or seeds.numel() == 0:
        raise ValueError(f"member_random: seeds must be int64 [E], E >= 1; got {seeds.dtype} "
                         f"{tuple(seeds.shape)}")
    if not 0 <= draw < 2 ** 32 or not 1 <= n < 2 ** 31:
        raise ValueError(f"member_random: draw {draw} must be in [0, 2^32), n {n} in [1, 2^31)")


@triton_op("fastgan::member_bits", mutates_args={})
def member_bits_op(seeds: torch.Tensor, draw: int, n_words: int) -> torch.Tensor:
    E = seeds.shape[0]
    out = torch.empty((E, n_words), dtype=torch.int32, device=seeds.device)
    grid = (triton.cdiv(triton.cdiv(n_words, 4), BLOCK), E)
    launcher(_bits_kernel)[grid](seeds, out, draw, n_words, out.stride(0), BLOCK=BLOCK)
    return out


@triton_op("fastgan::member_normal", mutates_args={})
def member_normal_op(seeds: torch.Tensor, scale: torch.Tensor | None, draw: int,
                     n: int) -> torch.Tensor:
    E = seeds.shape[0]
    out = torch.empty((E, n), dtype=torch.float32, device=seeds.device)
    grid = (triton.cdiv(n, BLOCK), E)
    scale_ = scale if scale is not None else out.new_empty(1)   # unread; never out itself
    launcher(_normal_kernel)[grid](seeds, scale_, out, draw, n, out.stride(0),
                                   HAS_SCALE=scale is not None, BLOCK=BLOCK)
    return out


# ---- public functions ----------------------------------------------------------------------
def member_bits(seeds: torch.Tensor, draw: int, n: int) -> torch.Tensor:
    """int16 [E, n] of uniform random 16-bit words: member e's from its stream, draw `draw`."""
    _check(seeds, draw, n)
    words = member_bits_op(seeds, int(draw), (n + 1) // 2)              # int32 [E, ceil(n/2)]
    return words.view(torch.int16)[:, :n]


def member_normal(seeds: torch.Tensor, draw: int, n: int, scale: torch.Tensor | None = None):
    """float32 [E, n] of N(0, 1), times scale[e] (float32 [E]) when given."""
    _check(seeds, draw, n)
    if scale is not None and (scale.shape != seeds.shape or scale.dtype != torch.float32):
        raise ValueError("member_random: scale must be float32 [E], like seeds")
    return member_normal_op(seeds, scale, int(draw), n)

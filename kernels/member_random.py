"""Random numbers for E members in one launch, each from its own counter-based stream.

Member e's stream is Triton's Philox4x32-10 (tl.randint4x, tl.randn) keyed by its 64-bit seed
seeds[e]; draw number d of the stream (a counter the caller advances once per draw) uses the
Philox counters (i, d), i the position in the draw: value = philox(seeds[e]; i, d, 0, 0). So
what member e gets depends on its seed, the draw number and the position alone, never on E or
on the other members, and a draw is one launch whatever E is (the member is grid axis 1).

    member_bits(seeds [E], draw, n, offset)          -> int16 [E, n], uniform 16-bit words
    member_normal(seeds [E], draw, n, scale, offset) -> float32 [E, n], N(0, 1) (times scale[e])
    _dropout_scale (a jit helper): the same bits, computed where a kernel reads a unit, as a
        dropout multiplier (fastgan.kernels.linear_act drops its input's units with it)
    _normal_at (a jit helper): the same normals, computed where a kernel reads them
        (linear_act takes G's z so: z is never stored)

The draw number is draw + offset: draw an int, or a device counter (int64 [1]) that the kernels
read, so the caller can advance it on the device and launch each draw of a training step with
the same arguments every step (what a captured CUDA graph replays). Draw numbers stay below
2^32 (the counter's high word): 12 draws a default step, 2^32 of them last 350 million steps.

The CUDA path of fastgan.streams; the pure-PyTorch Philox beside it (member_random_ref) is the
tests' truth, bit for bit for the words (the normals within rounding: log and cos are the
device's). The CPU training path keeps one torch.Generator per member instead (a Philox in
PyTorch's integer ops would cost more than the step).
"""
from typing import NamedTuple

import torch
from torch.library import triton_op

try:
    import triton
    import triton.language as tl
except ImportError:    # no Triton (macOS, Windows): the kernels are never launched
    from fastgan.kernels._no_triton import tl, triton

from fastgan.kernels._dispatch import launcher, triton_available

BLOCK = 1024


# ---- kernels -------------------------------------------------------------------------------
@triton.jit
def _counters(draw_ptr, draw_offset, BLOCK: tl.constexpr):
    """(positions, int64 Philox counters: draw << 32 | position) of this program's block; the
    draw number is *draw_ptr + draw_offset (a device counter and the draw's place after it)."""
    i = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    draw = tl.load(draw_ptr) + draw_offset.to(tl.int64)
    return i, (draw << 32) | i.to(tl.int64)


@triton.jit
def _normal_at(seed_ptr, draw_ptr, draw_offset, e, u):
    """N(0, 1) at positions u (int64, any shape) of member e's draw *draw_ptr + draw_offset:
    what member_normal stores at u (both compute it here)."""
    seed = tl.load(seed_ptr + e)
    draw = tl.load(draw_ptr) + draw_offset.to(tl.int64)
    return tl.randn(seed, (draw << 32) | u)


@triton.jit
def _dropout_scale(seed_ptr, draw_ptr, threshold_ptr, scale_ptr, draw_offset, e, rows, cols,
                   width):
    """[R, C] float32: member e's dropout multiplier of the units (rows [R], cols [C]) of a
    [rows, width] site whose bits are member_bits(seeds, draw, rows * width, draw_offset):
    scale[e] where the unit's 16 bits (signed) are >= threshold[e], else 0. Unit u = row * width
    + col is half u % 2 (low first) of word u // 2, which is lane (u // 2) % 4 of Philox
    counter u // 8: the same bits member_bits stores, recomputed (one Philox per unit)."""
    seed = tl.load(seed_ptr + e)
    draw = tl.load(draw_ptr) + draw_offset.to(tl.int64)
    u = rows[:, None].to(tl.int64) * width + cols[None, :]                       # [R, C]
    r0, r1, r2, r3 = tl.randint4x(seed, (draw << 32) | (u >> 3))
    lane = (u >> 1) & 3
    word = tl.where(lane == 0, r0, tl.where(lane == 1, r1, tl.where(lane == 2, r2, r3)))
    word = word.to(tl.int32, bitcast=True)
    bits = tl.where((u & 1) == 0, (word << 16) >> 16, word >> 16)      # the signed 16-bit half
    keep = bits >= tl.load(threshold_ptr + e).to(tl.int32)
    return tl.where(keep, tl.load(scale_ptr + e).to(tl.float32), 0.0)


# `draw_offset` is never specialized (Triton would pass a 1 as a Python int, with no .to(), and
# compile a variant for offsets divisible by 16).
@triton.jit(do_not_specialize=["draw_offset"])
def _bits_kernel(seed_ptr, draw_ptr, out_ptr, draw_offset, n_words, s_out, BLOCK: tl.constexpr):
    # out [E, n_words] int32, member e = program_id(1); each counter gives 4 words, stored at
    # 4 i .. 4 i + 3 (the counters this program owns: i in [pid * BLOCK, (pid + 1) * BLOCK))
    e = tl.program_id(1).to(tl.int64)
    seed = tl.load(seed_ptr + e)
    i, offs = _counters(draw_ptr, draw_offset, BLOCK)
    r0, r1, r2, r3 = tl.randint4x(seed, offs)
    base = out_ptr + e * s_out + 4 * i
    tl.store(base, r0.to(tl.int32, bitcast=True), mask=4 * i < n_words)
    tl.store(base + 1, r1.to(tl.int32, bitcast=True), mask=4 * i + 1 < n_words)
    tl.store(base + 2, r2.to(tl.int32, bitcast=True), mask=4 * i + 2 < n_words)
    tl.store(base + 3, r3.to(tl.int32, bitcast=True), mask=4 * i + 3 < n_words)


@triton.jit(do_not_specialize=["draw_offset"])
def _normal_kernel(seed_ptr, scale_ptr, draw_ptr, out_ptr, draw_offset, n, s_out,
                   HAS_SCALE: tl.constexpr, BLOCK: tl.constexpr):
    # out [E, n] float32: tl.randn of counter (draw, i), times scale[e] when given
    e = tl.program_id(1).to(tl.int64)
    i = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    v = _normal_at(seed_ptr, draw_ptr, draw_offset, e, i.to(tl.int64))
    if HAS_SCALE:
        v = v * tl.load(scale_ptr + e)
    tl.store(out_ptr + e * s_out + i, v, mask=i < n)


# ---- launchers -----------------------------------------------------------------------------
def _check(seeds, n, offset):
    if seeds.dtype != torch.int64 or seeds.dim() != 1 or seeds.numel() == 0:
        raise ValueError(f"member_random: seeds must be int64 [E], E >= 1; got {seeds.dtype} "
                         f"{tuple(seeds.shape)}")
    if not 1 <= n < 2 ** 31 or not 0 <= offset < 2 ** 31:
        raise ValueError(f"member_random: n {n} must be in [1, 2^31), offset {offset} in "
                         "[0, 2^31)")


def _draw(seeds, draw) -> torch.Tensor:
    """The draw's base as an int64 [1] tensor on the seeds' device: a device counter as given,
    or a draw number (an int in [0, 2^32)) made into one."""
    if isinstance(draw, torch.Tensor):
        if draw.dtype != torch.int64 or draw.shape != (1,) or draw.device != seeds.device:
            raise ValueError(f"member_random: a draw counter must be int64 [1] on "
                             f"{seeds.device}; got {draw.dtype} {tuple(draw.shape)} on "
                             f"{draw.device}")
        return draw
    if not 0 <= draw < 2 ** 32:
        raise ValueError(f"member_random: draw {draw} must be in [0, 2^32)")
    return torch.tensor([int(draw)], dtype=torch.int64, device=seeds.device)


@triton_op("fastgan::member_bits", mutates_args={})
def member_bits_op(seeds: torch.Tensor, draw: torch.Tensor, offset: int,
                   n_words: int) -> torch.Tensor:
    E = seeds.shape[0]
    out = torch.empty((E, n_words), dtype=torch.int32, device=seeds.device)
    grid = (triton.cdiv(triton.cdiv(n_words, 4), BLOCK), E)
    launcher(_bits_kernel)[grid](seeds, draw, out, offset, n_words, out.stride(0), BLOCK=BLOCK)
    return out


@triton_op("fastgan::member_normal", mutates_args={})
def member_normal_op(seeds: torch.Tensor, scale: torch.Tensor | None, draw: torch.Tensor,
                     offset: int, n: int) -> torch.Tensor:
    E = seeds.shape[0]
    out = torch.empty((E, n), dtype=torch.float32, device=seeds.device)
    grid = (triton.cdiv(n, BLOCK), E)
    scale_ = scale if scale is not None else out.new_empty(1)   # unread; never out itself
    launcher(_normal_kernel)[grid](seeds, scale_, draw, out, offset, n, out.stride(0),
                                   HAS_SCALE=scale is not None, BLOCK=BLOCK)
    return out


# ---- public functions ----------------------------------------------------------------------
class BitDraw(NamedTuple):
    """A draw of member_bits not made yet: the bits of member_bits(seeds, draw, n, offset), for
    a kernel that computes them where it reads them (_dropout_scale), or for bits() to make."""
    seeds: torch.Tensor          # int64 [E]
    draw: torch.Tensor           # int64 [1], the device counter
    offset: int

    def bits(self, n: int) -> torch.Tensor:
        """int16 [E, n]: the draw made (by the reference where no Triton kernel runs)."""
        if triton_available(self.seeds.device):
            return member_bits(self.seeds, self.draw, n, self.offset)
        from fastgan.kernels.member_random_ref import member_bits_ref
        return member_bits_ref(self.seeds, int(self.draw) + self.offset, n).to(self.seeds.device)


class NormalDraw(NamedTuple):
    """A draw of member_normal not made yet: [E, rows, width] of N(0, 1), draw number draw +
    offset, for a kernel that computes each value where it reads it (_normal_at), or for
    make()."""
    seeds: torch.Tensor          # int64 [E]
    draw: torch.Tensor           # int64 [1], the device counter
    offset: int
    rows: int
    width: int

    def make(self) -> torch.Tensor:
        """float32 [E, rows, width]: the draw made (by the reference where no Triton runs)."""
        E, n = self.seeds.numel(), self.rows * self.width
        if triton_available(self.seeds.device):
            out = member_normal(self.seeds, self.draw, n, offset=self.offset)
        else:
            from fastgan.kernels.member_random_ref import member_normal_ref
            out = member_normal_ref(self.seeds, int(self.draw) + self.offset, n).to(
                self.seeds.device)
        return out.view(E, self.rows, self.width)


def member_bits(seeds: torch.Tensor, draw, n: int, offset: int = 0) -> torch.Tensor:
    """int16 [E, n] of uniform random 16-bit words: member e's from its stream, draw number
    draw + offset. draw: an int, or an int64 [1] device counter (fastgan.streams passes its
    counter and the draw's place in the step, so a step's launches take the same arguments
    every step)."""
    _check(seeds, n, offset)
    words = member_bits_op(seeds, _draw(seeds, draw), int(offset), (n + 1) // 2)  # [E, n/2]
    return words.view(torch.int16)[:, :n]


def member_normal(seeds: torch.Tensor, draw, n: int, scale: torch.Tensor | None = None,
                  offset: int = 0):
    """float32 [E, n] of N(0, 1), times scale[e] (float32 [E]) when given; draw as in
    member_bits."""
    _check(seeds, n, offset)
    if scale is not None and (scale.shape != seeds.shape or scale.dtype != torch.float32):
        raise ValueError("member_random: scale must be float32 [E], like seeds")
    return member_normal_op(seeds, scale, _draw(seeds, draw), int(offset), n)

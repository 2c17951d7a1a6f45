"""Fused linear + activation: Y = act(X W^T + b), with its backward, as Triton kernels.

Shapes: X [M, K], W [N, K], b [N] or None -> Y [M, N], or with a leading member axis (E models
of one shape, stacked) X [E, M, K], W [E, N, K], b [E, N] -> Y [E, M, N]: one launch serves
every member, the member a grid axis (program_id(1)) whose index moves each base pointer once
by its member stride (int64, so a large E cannot overflow). Any M, N, K, E >= 1 (edges masked),
any strides (a stride-0 gradient from `.sum()`, or an input shared by all members, works as is). dtypes: float32 (dot precision "ieee" or
"tf32") or bfloat16 (fp32 accumulation); X, W and b share one dtype.
act: "leaky_relu" (slope in (0, 1)), "tanh" or "none", applied to the fp32 accumulator before the
one store.

Dropout of X's units inside the op (drop, a Drop): the layer computes with X * mask, mask[e, m, k]
= scale[e] where member e's 16 random bits of unit m * K + k (a member_bits draw, recomputed from
its Philox counter where the kernel reads the unit: kernels.member_random._dropout_scale) are >=
threshold[e], else 0. No bits and no mask are ever stored: the forward and dW read X through the
mask, dX leaves through it (the mask's backward: dX = mask * dZ W), and each recomputes it.
X may also be a draw of normals not made (kernels.member_random.NormalDraw, G's z [E, M, K]):
the forward and dW compute X where they read it (_normal_at), X is never stored, and it has no
gradient.

Backward, from the saved output Y rather than the pre-activation Z (one M x N tensor kept):
    act'(Z) = 1 where Y > 0 else slope   (leaky_relu, slope > 0: sign(Y) = sign(Z))
            = 1 - Y^2                    (tanh)
            = 1                          (none)
    dZ = dY * act'(Y)        recomputed tile by tile inside both GEMMs, never stored
    dX = dZ W                [M, N] @ [N, K]  (kernel _dx)
    dW = dZ^T X              [N, M] @ [M, K]  (kernel _dw), db = sum_rows dZ fused into it
each per member: member e's result depends on its own tensors alone, whatever E is.
"""
import functools
import os
from typing import NamedTuple

import torch
from torch.library import triton_op

try:
    import triton
    import triton.language as tl
    from triton.language.extra import libdevice
except ImportError:    # no Triton (macOS, Windows): the kernels are never launched
    from fastgan.kernels._no_triton import libdevice, tl, triton

from fastgan.kernels import _dispatch
from fastgan.kernels._dispatch import _TILES as TILES_CHOSEN
from fastgan.kernels._dispatch import (INTERPRET, default_precision, launch,
                                       stand_ins, use_triton)
from fastgan.kernels.linear_act_ref import dropout_mask, linear_act_ref
from fastgan.kernels.member_random import BitDraw, NormalDraw, _dropout_scale, _normal_at

ACTIVATIONS = {"none": 0, "leaky_relu": 1, "tanh": 2}
PRECISIONS = ("ieee", "tf32")
_F64_TANH = tl.constexpr(INTERPRET)     # tanh in float64 where libdevice is missing
DTYPES = (torch.float32, torch.bfloat16)


# ---- autotune configs: the one place they are declared --------------------------------------
# (BLOCK_M, BLOCK_N, BLOCK_K, warps, stages) per kernel and kind of dot product:
#   "tf32": float32 on tensor cores;  "ieee": float32 by FMA (exact products);  "bf16": bfloat16.
# Small tiles for batch-64 layers (more CTAs on the SMs), large ones for big batches. Every tile
# here compiles for sm_90 and sm_80, with Triton 3.6 and 3.9, with no register spill in any
# activation / bias variant at the model's layers (the FMA path, whose operands live in
# registers, gets smaller tiles; D's output layer, K = 257 with the minibatch-std feature, has
# rows no load can vectorize: twelve tiles that spilled 12 B - 2 KB there now run other warps,
# stages or BLOCK_K, and the float32 FMA forward lost its 128 x 128 tile, for which no neighbour
# was spill-free under both Triton versions), and fits the block by `smem_bytes`, an upper bound
# of what the compiler allocates;
# `_prune` keeps, before any compile, the tiles of the launch's kind that fit the GPU at hand (an
# sm_80 block has 163 KB, sm_90 227 KB), so no autotune run compiles a config that cannot load.
# bench/aot_check.py compiles them all ahead of time. The key: the power-of-two buckets of the
# batch and of the member count (E members make E times the CTAs, so the best tile moves with
# E), the layer's N and K, and what changes the kernel (activation, bias, precision; Triton adds
# the tensors' dtypes).
TILES = {
    "fwd": {
        "tf32": [(32, 64, 64, 4, 3), (64, 64, 32, 8, 4), (64, 128, 64, 8, 3), (128, 64, 32, 8, 3),
                 (128, 128, 32, 8, 2), (128, 64, 32, 4, 4)],
        "ieee": [(16, 64, 32, 4, 3), (32, 64, 32, 4, 3), (64, 32, 32, 4, 4), (64, 128, 32, 8, 2),
                 (128, 64, 16, 8, 2)],
        "bf16": [(16, 64, 64, 4, 4), (64, 64, 32, 4, 4), (64, 64, 64, 8, 3), (64, 128, 64, 8, 3),
                 (128, 64, 32, 8, 3), (128, 128, 32, 8, 3)],
    },
    "dx": {
        "tf32": [(16, 64, 64, 4, 4), (32, 64, 64, 4, 4), (64, 64, 32, 4, 4), (64, 64, 64, 4, 2),
                 (128, 64, 32, 8, 3)],
        "ieee": [(16, 64, 32, 4, 2), (16, 32, 64, 4, 4), (32, 64, 16, 4, 4), (32, 64, 32, 4, 3),
                 (32, 32, 64, 4, 3)],
        "bf16": [(16, 64, 64, 4, 4), (64, 64, 32, 4, 4), (64, 64, 64, 4, 3), (64, 128, 32, 4, 3),
                 (128, 64, 32, 8, 3), (64, 128, 64, 8, 3)],
    },
    "dw": {
        "tf32": [(16, 64, 64, 4, 4), (32, 64, 64, 4, 4), (64, 64, 32, 4, 4), (64, 64, 64, 4, 3),
                 (64, 128, 32, 4, 3)],
        "ieee": [(16, 64, 32, 4, 3), (16, 32, 64, 4, 4), (32, 64, 16, 8, 4), (32, 32, 64, 4, 3),
                 (64, 32, 32, 4, 3), (64, 64, 16, 4, 4)],
        "bf16": [(16, 64, 64, 4, 4), (32, 64, 64, 4, 4), (64, 64, 32, 4, 4), (64, 128, 32, 4, 3),
                 (128, 64, 32, 8, 2), (128, 128, 32, 8, 3)],
    },
}
_KEY = ["M_BUCKET", "E_BUCKET", "N", "K", "ACT", "PRECISION"]
# FASTGAN_AUTOTUNE=0 (the test suites set it): the first tile of each kind only, no tuning, so a
# first run of the CUDA tests compiles each kernel variant once instead of once per tile.
TUNE = os.environ.get("FASTGAN_AUTOTUNE", "1") != "0"


def smem_bytes(kernel: str, tile, itemsize: int = 4) -> int:
    """Shared memory one block of kernel ("fwd", "dx", "dw") needs with this tile: its
    pipelined loads, stages deep (fwd: X and W^T tiles; dx: dY, Y [BM, BN] and W [BN, BK];
    dw: dY^T, Y^T [BN, BM] and X [BM, BK])."""
    m, n, k, _, stages = tile
    per_stage = {"fwd": m * k + k * n, "dx": 2 * m * n + n * k, "dw": 2 * n * m + m * k}[kernel]
    return stages * per_stage * itemsize


ITEMSIZE = {"tf32": 4, "ieee": 4, "bf16": 2}     # bytes per element of each kind's operands


def kind(dtype: torch.dtype, precision: str) -> str:
    """The tile list a launch uses: bf16 inputs, else the float32 dot's precision."""
    return "bf16" if dtype == torch.bfloat16 else precision


# Tiles that spill a few bytes of registers (8-32 B) in one variant of a kernel, under Triton
# 3.9 or 3.6 (the GPU machines') on sm_90 or sm_80 (bench/aot_check.py, bench/results/ and
# bench/results/triton36/): never tried for that variant. Variants: "randn" (G's z computed
# inside), "drop" (D's dropout inside), "tanh-nobias".
SPILLS = {
    ("fwd", "randn"): {(64, 32, 32, 4, 4), (32, 64, 64, 4, 3), (16, 64, 32, 4, 3)},
    ("fwd", "drop"): {(64, 32, 32, 4, 4), (64, 128, 32, 8, 2), (128, 64, 16, 8, 2)},
    ("dw", "randn"): {(16, 32, 64, 4, 4)},
    ("fwd", "tanh-nobias"): {(64, 32, 32, 4, 4), (32, 64, 64, 4, 3)},
}
VARIANTS = ("randn", "drop", "tanh-nobias")


def variant(act, has_bias: bool, drop: bool, randn: bool) -> str | None:
    """Which SPILLS variant a launch is (act: a name or ACTIVATIONS' number)."""
    if randn:
        return "randn"
    if drop:
        return "drop"
    return "tanh-nobias" if act in ("tanh", 2) and not has_bias else None


def candidates(kernel: str, kind_: str, variant_: str | None = None) -> list[tuple]:
    """The declared tiles of one kind of launch: its kind's list (the first tile only when
    FASTGAN_AUTOTUNE=0), less those that spill in the launch's variant."""
    avoid = SPILLS.get((kernel, variant_), ())
    tiles = [t for t in TILES[kernel][kind_] if t not in avoid]
    return tiles if TUNE else tiles[:1]


def tiles_for(kernel: str, kind_: str, smem_limit: int,
              variant_: str | None = None) -> list[tuple]:
    """The tiles the autotuner may try for one launch: its candidates, less those over the
    block's shared memory (if none is left, the first)."""
    tiles = candidates(kernel, kind_, variant_)
    return [t for t in tiles if smem_bytes(kernel, t, ITEMSIZE[kind_]) <= smem_limit] or tiles[:1]


def _tile(c) -> tuple:
    return (c.kwargs["BLOCK_M"], c.kwargs["BLOCK_N"], c.kwargs["BLOCK_K"], c.num_warps,
            c.num_stages)


def _configs(kernel: str):
    if INTERPRET:  # the interpreter runs one config; tl.dot needs every block dim >= 16
        return [triton.Config({"BLOCK_M": 64, "BLOCK_N": 64, "BLOCK_K": 64}, num_warps=4)]
    tiles = dict.fromkeys(t for kind_ in TILES[kernel] for v in (None, *VARIANTS)  # in order
                          for t in candidates(kernel, kind_, v))
    return [triton.Config({"BLOCK_M": m, "BLOCK_N": n, "BLOCK_K": k}, num_warps=w, num_stages=s)
            for m, n, k, w, s in tiles]


def _smem_limit() -> int:
    """Shared memory per block of the current GPU, in bytes (asked once per device: the prune
    hook runs at every launch)."""
    return _device_smem(torch.cuda.current_device())


@functools.cache
def _device_smem(device: int) -> int:
    return triton.runtime.driver.active.utils.get_device_properties(device)["max_shared_mem"]


def _prune(kernel: str):
    """prune_configs_by hook: keeps the configs of the launch's kind that fit this GPU's block."""
    def prune(configs, named_args, **kwargs):
        if INTERPRET:
            return configs
        v = variant(kwargs.get("ACT", 0), kwargs.get("HAS_BIAS", True), kwargs.get("DROP", False),
                    kwargs.get("X_RANDN", False))
        keep = set(tiles_for(kernel, kind(named_args["y_ptr"].dtype, kwargs["PRECISION"]),
                             _smem_limit(), v))
        return [c for c in configs if _tile(c) in keep]
    return {"prune_configs_by": {"early_config_prune": prune}}


# ---- kernels -------------------------------------------------------------------------------
@triton.jit
def _tanh(z, F64_TANH: tl.constexpr):
    # On CUDA: libdevice's float32 tanhf, the function torch.tanh calls there (same error, no
    # float64 registers: the float64 version spilled 1-8 KB per thread in large tiles).
    # In the interpreter (no libdevice): evaluated in float64 and rounded once, within 0.5 ulp,
    # as torch's CPU tanh is (1 - Y^2 in the backward amplifies any error in Y). For |z| < 0.25
    # an odd Taylor series (next term < 1e-10 relative) avoids the cancellation in
    # 1 - e^{-2|z|}; elsewhere (1 - t) / (1 + t) with t = e^{-2|z|}.
    if not F64_TANH:
        return libdevice.tanh(z)
    z = z.to(tl.float64)
    a = tl.abs(z)
    t = tl.exp(-2.0 * a)
    big = (1.0 - t) / (1.0 + t)
    z2 = z * z
    small = z * (1.0 + z2 * (-1.0 / 3.0 + z2 * (2.0 / 15.0 + z2 * (-17.0 / 315.0 + z2 * (
        62.0 / 2835.0 + z2 * (-1382.0 / 155925.0))))))
    return tl.where(a < 0.25, small, tl.where(z < 0, -big, big)).to(tl.float32)


@triton.jit
def _act(z, slope, ACT: tl.constexpr):
    if ACT == 1:
        z = tl.where(z > 0, z, z * slope)
    elif ACT == 2:
        z = _tanh(z, _F64_TANH)
    return z


@triton.jit
def _act_grad(dy, y, slope, ACT: tl.constexpr):
    """dZ = dY * act'(Y), in fp32, from the saved output Y."""
    dy = dy.to(tl.float32)
    y = y.to(tl.float32)
    if ACT == 1:
        dy = tl.where(y > 0, dy, dy * slope)
    elif ACT == 2:
        dy = dy * (1.0 - y * y)
    return dy


@triton.jit
def _operand(t, PRECISION: tl.constexpr):
    """A dot operand as the tensor cores should see it. tf32 keeps 10 of float32's 23 mantissa
    bits; handed float32 registers, the tensor cores ignore the other 13 (truncation toward
    zero: twice the error of rounding), where cuBLAS rounds to nearest first (cvt.rna). So
    round here: add half a tf32 ulp to the bits, then clear the 13 (ties away from zero, as
    rna; infinities stay). On the first GPU run the truncating kernels failed the tf32 test
    (within twice torch's error); a CPU emulation of that test fails truncation and passes
    rounding. In the interpreter, whose dot is float32, the same rounding makes the products
    tf32's exactly."""
    if PRECISION == "tf32" and t.dtype == tl.float32:
        t = ((t.to(tl.int32, bitcast=True) + 0x1000) & -0x2000).to(tl.float32, bitcast=True)
    return t


@triton.jit
def _tile_ids(pid, num_a, num_b, GROUP: tl.constexpr):
    # Grouped ordering: GROUP consecutive row-tiles share column tiles, for L2 reuse.
    per_group = GROUP * num_b
    first = (pid // per_group) * GROUP
    size = tl.minimum(num_a - first, GROUP)
    return first + (pid % per_group) % size, (pid % per_group) // size


# Each kernel's draw arguments (read only with DROP or X_RANDN): the draw's seeds [E] and counter
# [1], the dropout's threshold [E] and scale [E], and the draw's offset (never specialized, as
# member_random's). X_RANDN: X is the draw's normals (x_ptr unread).
@triton.autotune(configs=_configs("fwd"), key=_KEY + ["HAS_BIAS", "DROP", "X_RANDN"],
                 **_prune("fwd"))
@triton.jit(do_not_specialize=["drop_offset"])
def _fwd(x_ptr, w_ptr, b_ptr, y_ptr,          # x [E, M, K], w [E, N, K], b [E, N], y [E, M, N]
         ds_ptr, dd_ptr, dt_ptr, dk_ptr, drop_offset,
         M, N, K, M_BUCKET, E_BUCKET,
         sxe, sxm, sxk, swe, swn, swk, sbe, sye, sym, syn, slope,
         ACT: tl.constexpr, HAS_BIAS: tl.constexpr, DROP: tl.constexpr, X_RANDN: tl.constexpr,
         PRECISION: tl.constexpr,
         BLOCK_M: tl.constexpr, BLOCK_N: tl.constexpr, BLOCK_K: tl.constexpr):
    e = tl.program_id(1).to(tl.int64)                                            # the member
    slope = tl.cast(slope, tl.float32)          # torch.compile passes Python floats as fp64
    x_ptr += e * sxe
    w_ptr += e * swe
    b_ptr += e * sbe
    y_ptr += e * sye
    pid_m, pid_n = _tile_ids(tl.program_id(0), tl.cdiv(M, BLOCK_M), tl.cdiv(N, BLOCK_N), 8)
    rm = pid_m * BLOCK_M + tl.arange(0, BLOCK_M)
    rn = pid_n * BLOCK_N + tl.arange(0, BLOCK_N)
    rk = tl.arange(0, BLOCK_K)
    acc = tl.zeros((BLOCK_M, BLOCK_N), dtype=tl.float32)
    for k0 in range(0, K, BLOCK_K):
        kk = k0 + rk
        inside = (rm[:, None] < M) & (kk[None, :] < K)
        if X_RANDN:
            u = rm[:, None].to(tl.int64) * K + kk[None, :]
            x = tl.where(inside, _normal_at(ds_ptr, dd_ptr, drop_offset, e, u),
                         0.0).to(w_ptr.dtype.element_ty)                         # [BM, BK]
        else:
            x = tl.load(x_ptr + rm[:, None] * sxm + kk[None, :] * sxk, mask=inside,
                        other=0.0)                                               # [BM, BK]
        if DROP:
            x = (x * _dropout_scale(ds_ptr, dd_ptr, dt_ptr, dk_ptr, drop_offset, e, rm, kk,
                                    K)).to(x_ptr.dtype.element_ty)
        wt = tl.load(w_ptr + rn[None, :] * swn + kk[:, None] * swk,
                     mask=(rn[None, :] < N) & (kk[:, None] < K), other=0.0)      # [BK, BN] = W^T
        acc = tl.dot(_operand(x, PRECISION), _operand(wt, PRECISION), acc,
                     input_precision=PRECISION)
    if HAS_BIAS:
        acc += tl.load(b_ptr + rn, mask=rn < N, other=0.0).to(tl.float32)[None, :]
    acc = _act(acc, slope, ACT)
    tl.store(y_ptr + rm[:, None] * sym + rn[None, :] * syn, acc.to(y_ptr.dtype.element_ty),
             mask=(rm[:, None] < M) & (rn[None, :] < N))


@triton.autotune(configs=_configs("dx"), key=_KEY + ["DROP"], **_prune("dx"))
@triton.jit(do_not_specialize=["drop_offset"])
def _dx(dy_ptr, y_ptr, w_ptr, dx_ptr,         # dy, y [E, M, N], w [E, N, K], dx [E, M, K]
        ds_ptr, dd_ptr, dt_ptr, dk_ptr, drop_offset,
        M, N, K, M_BUCKET, E_BUCKET,
        sde, sdm, sdn, sye, sym, syn, swe, swn, swk, sxe, sxm, sxk, slope,
        ACT: tl.constexpr, DROP: tl.constexpr, PRECISION: tl.constexpr,
        BLOCK_M: tl.constexpr, BLOCK_N: tl.constexpr, BLOCK_K: tl.constexpr):
    # dX [M, K] = dZ [M, N] @ W [N, K] of member e; tiles over (M, K), loop over N.
    e = tl.program_id(1).to(tl.int64)
    slope = tl.cast(slope, tl.float32)          # torch.compile passes Python floats as fp64
    dy_ptr += e * sde
    y_ptr += e * sye
    w_ptr += e * swe
    dx_ptr += e * sxe
    pid_m, pid_k = _tile_ids(tl.program_id(0), tl.cdiv(M, BLOCK_M), tl.cdiv(K, BLOCK_K), 8)
    rm = pid_m * BLOCK_M + tl.arange(0, BLOCK_M)
    rk = pid_k * BLOCK_K + tl.arange(0, BLOCK_K)
    rn = tl.arange(0, BLOCK_N)
    acc = tl.zeros((BLOCK_M, BLOCK_K), dtype=tl.float32)
    for n0 in range(0, N, BLOCK_N):
        nn = n0 + rn
        mask = (rm[:, None] < M) & (nn[None, :] < N)
        dy = tl.load(dy_ptr + rm[:, None] * sdm + nn[None, :] * sdn, mask=mask, other=0.0)
        y = tl.load(y_ptr + rm[:, None] * sym + nn[None, :] * syn, mask=mask, other=0.0)
        w = tl.load(w_ptr + nn[:, None] * swn + rk[None, :] * swk,
                    mask=(nn[:, None] < N) & (rk[None, :] < K), other=0.0)       # [BN, BK]
        dz = _act_grad(dy, y, slope, ACT).to(w.dtype)                             # [BM, BN]
        acc = tl.dot(_operand(dz, PRECISION), _operand(w, PRECISION), acc,
                     input_precision=PRECISION)
    if DROP:                                   # dX = mask * (dZ W): the mask's backward
        acc = acc * _dropout_scale(ds_ptr, dd_ptr, dt_ptr, dk_ptr, drop_offset, e, rm, rk, K)
    tl.store(dx_ptr + rm[:, None] * sxm + rk[None, :] * sxk, acc.to(dx_ptr.dtype.element_ty),
             mask=(rm[:, None] < M) & (rk[None, :] < K))


@triton.autotune(configs=_configs("dw"), key=_KEY + ["HAS_BIAS", "DROP", "X_RANDN"],
                 **_prune("dw"))
@triton.jit(do_not_specialize=["drop_offset"])
def _dw(dy_ptr, y_ptr, x_ptr, dw_ptr, db_ptr,  # dy, y [E, M, N], x [E, M, K], dw [E, N, K], db [E, N]
        ds_ptr, dd_ptr, dt_ptr, dk_ptr, drop_offset,
        M, N, K, M_BUCKET, E_BUCKET,
        sde, sdm, sdn, sye, sym, syn, sxe, sxm, sxk, swe, swn, swk, sbe, slope,
        ACT: tl.constexpr, HAS_BIAS: tl.constexpr, DROP: tl.constexpr, X_RANDN: tl.constexpr,
        PRECISION: tl.constexpr,
        BLOCK_M: tl.constexpr, BLOCK_N: tl.constexpr, BLOCK_K: tl.constexpr):
    # dW [N, K] = dZ^T [N, M] @ X [M, K] of member e; tiles over (N, K), loop over M.
    # db [N] = sum over M of dZ: the row sums of the same dZ^T tiles, stored by the pid_k == 0 column.
    e = tl.program_id(1).to(tl.int64)
    slope = tl.cast(slope, tl.float32)          # torch.compile passes Python floats as fp64
    dy_ptr += e * sde
    y_ptr += e * sye
    x_ptr += e * sxe
    dw_ptr += e * swe
    db_ptr += e * sbe
    pid_n, pid_k = _tile_ids(tl.program_id(0), tl.cdiv(N, BLOCK_N), tl.cdiv(K, BLOCK_K), 8)
    rn = pid_n * BLOCK_N + tl.arange(0, BLOCK_N)
    rk = pid_k * BLOCK_K + tl.arange(0, BLOCK_K)
    rm = tl.arange(0, BLOCK_M)
    acc = tl.zeros((BLOCK_N, BLOCK_K), dtype=tl.float32)
    db = tl.zeros((BLOCK_N,), dtype=tl.float32)
    for m0 in range(0, M, BLOCK_M):
        mm = m0 + rm
        mask = (rn[:, None] < N) & (mm[None, :] < M)
        dyt = tl.load(dy_ptr + mm[None, :] * sdm + rn[:, None] * sdn, mask=mask, other=0.0)
        yt = tl.load(y_ptr + mm[None, :] * sym + rn[:, None] * syn, mask=mask, other=0.0)
        inside = (mm[:, None] < M) & (rk[None, :] < K)
        if X_RANDN:
            u = mm[:, None].to(tl.int64) * K + rk[None, :]
            x = tl.where(inside, _normal_at(ds_ptr, dd_ptr, drop_offset, e, u),
                         0.0).to(dw_ptr.dtype.element_ty)                        # [BM, BK]
        else:
            x = tl.load(x_ptr + mm[:, None] * sxm + rk[None, :] * sxk, mask=inside,
                        other=0.0)                                               # [BM, BK]
        if DROP:
            x = (x * _dropout_scale(ds_ptr, dd_ptr, dt_ptr, dk_ptr, drop_offset, e, mm, rk,
                                    K)).to(x_ptr.dtype.element_ty)
        dzt = _act_grad(dyt, yt, slope, ACT)                                      # [BN, BM]
        if HAS_BIAS:
            db += tl.sum(dzt, axis=1)
        acc = tl.dot(_operand(dzt.to(x.dtype), PRECISION), _operand(x, PRECISION), acc,
                     input_precision=PRECISION)
    tl.store(dw_ptr + rn[:, None] * swn + rk[None, :] * swk, acc.to(dw_ptr.dtype.element_ty),
             mask=(rn[:, None] < N) & (rk[None, :] < K))
    if HAS_BIAS:
        if pid_k == 0:
            tl.store(db_ptr + rn, db.to(db_ptr.dtype.element_ty), mask=rn < N)


# ---- launchers -----------------------------------------------------------------------------
class Drop(NamedTuple):
    """Dropout of linear_act's input units inside its kernels (the module's docstring)."""
    draw: BitDraw             # the site's bits: a member_bits draw, not made
    threshold: torch.Tensor   # int16 [E]: a unit is kept where its 16 bits are >= this
    scale: torch.Tensor       # float32 [E]: what a kept unit is multiplied by

    def flat(self) -> tuple:
        """The five op arguments (seeds, counter, threshold, scale, offset)."""
        return self.draw.seeds, self.draw.draw, self.threshold, self.scale, self.draw.offset


NO_DROP = (None, None, None, None, 0)


def _drop(seeds, draw, threshold, scale, offset) -> Drop | None:
    return None if seeds is None else Drop(BitDraw(seeds, draw, offset), threshold, scale)


def _drop_args(drop: Drop | None, ref, direct: bool) -> tuple:
    """The kernels' five dropout arguments; without drop, stand-ins never read."""
    return drop.flat() if drop is not None else (*stand_ins(ref, 4, direct), 0)


def _x_args(x, drop: Drop | None, ref, direct: bool) -> tuple:
    """X as the kernels take it: (pointer argument, (E, M, K), its three strides, the five draw
    arguments, X_RANDN). A NormalDraw is read through its draw (stand-ins for the rest)."""
    if isinstance(x, NormalDraw):
        x_, t, k = stand_ins(ref, 3, direct)
        return (x_, (x.seeds.numel(), x.rows, x.width), (0, 0, 0),
                (x.seeds, x.draw, t, k, x.offset), True)
    shape = x.shape if x.dim() == 3 else (1, *x.shape)
    return x, shape, _strides(x), _drop_args(drop, ref, direct), False


def _bucket(m: int) -> int:
    return 1 << (m - 1).bit_length()                   # the next power of 2 (plain ints: cheap)


def _grid(a, b, block_a, block_b, members):
    # axis 0: the (a, b) tiles of one member in grouped order; axis 1: the members
    return lambda meta: (-(-a // meta[block_a]) * -(-b // meta[block_b]), members)


def _check(x, weight, bias, act, slope, precision):
    if x.dim() not in (2, 3) or weight.dim() != x.dim():
        raise ValueError(f"linear_act: x and weight must both be 2-D ([M, K], [N, K]) or both "
                         f"3-D ([E, M, K], [E, N, K]), got {tuple(x.shape)} and "
                         f"{tuple(weight.shape)}")
    if x.shape[-1] != weight.shape[-1] or 0 in x.shape or 0 in weight.shape or (
            x.dim() == 3 and x.shape[0] != weight.shape[0]):
        raise ValueError(f"linear_act: x {tuple(x.shape)} and weight {tuple(weight.shape)} do "
                         "not match as [(E,) M, K] and [(E,) N, K] with E, M, N, K >= 1")
    if bias is not None and tuple(bias.shape) != tuple(weight.shape[:-1]):
        raise ValueError(f"linear_act: bias must have shape {tuple(weight.shape[:-1])}, "
                         f"got {tuple(bias.shape)}")
    _check_act(act, slope, precision)
    tensors = [x, weight] + ([bias] if bias is not None else [])
    if len({t.dtype for t in tensors}) != 1 or len({t.device for t in tensors}) != 1:
        raise TypeError("linear_act: x, weight and bias must share one dtype and device, got "
                        + ", ".join(f"{t.dtype} on {t.device}" for t in tensors))


def _check_act(act, slope, precision):
    if act not in ACTIVATIONS:
        raise ValueError(f"linear_act: activation must be one of {tuple(ACTIVATIONS)}, got {act!r}")
    if act == "leaky_relu" and not 0.0 < slope < 1.0:
        raise ValueError(f"linear_act: negative_slope must be in (0, 1), got {slope}")
    if precision is not None and precision not in PRECISIONS:
        raise ValueError(f"linear_act: input_precision must be one of {PRECISIONS}, "
                         f"got {precision!r}")


def _check_drop(drop, x):
    E = x.shape[0] if x.dim() == 3 else 1
    ok = (isinstance(drop, Drop) and drop.draw.seeds.dtype == torch.int64
          and drop.threshold.dtype == torch.int16 and drop.scale.dtype == torch.float32
          and all(tuple(t.shape) == (E,) for t in (drop.draw.seeds, drop.threshold, drop.scale))
          and drop.draw.draw.dtype == torch.int64 and tuple(drop.draw.draw.shape) == (1,)
          and all(t.device == x.device for t in drop.flat()[:4])
          and 0 <= drop.draw.offset < 2 ** 31)
    if not ok:
        raise ValueError(f"linear_act: drop must be a Drop of int64 seeds [{E}], an int64 [1] "
                         f"counter, int16 thresholds [{E}] and float32 scales [{E}] on "
                         f"{x.device}, offset in [0, 2^31)")


def _check_kernel_dtype(x):
    if x.dtype not in DTYPES:
        raise TypeError(f"linear_act: the Triton kernel takes float32 or bfloat16, got {x.dtype}")


def _strides(t: torch.Tensor) -> tuple:
    """A tensor's (member, row, column) strides; one model's 2-D tensor has a member axis of 1."""
    s = t.stride()
    return s if len(s) == 3 else (0, *s)


# The launchers take one model's 2-D tensors or E models' 3-D ones and return the same kind;
# direct: called eagerly by FastganLinearAct (no torch.compile wrapper to consider).
# Each launcher returns its outputs; plan=True: also the launch's plan (out shapes, grid,
# arguments after the tensors, keywords) for _Eager to repeat with new tensors.
def _fwd_launch(x, weight, bias, act, slope, precision, direct=False, drop=None, plan=False):
    x_arg, (E, M, K), x_strides, draw, randn = _x_args(x, drop, weight, direct)
    N = weight.shape[-2]                                   # x [E, M, K], weight [E, N, K]
    lead = (E, M) if randn else x.shape[:-1]
    y = torch.empty((*lead, N), dtype=weight.dtype, device=weight.device)   # [(E,) M, N]
    b = bias if bias is not None else y.new_empty(1)   # never read without HAS_BIAS; never y:
    # torch.compile's functionalized launch copies each pointer argument on its own, so two
    # arguments on one buffer are a race (see _dispatch.launcher)
    MB, EB, has_bias = _bucket(M), _bucket(E), bias is not None
    tail = (*draw[4:], M, N, K, MB, EB, *x_strides, *_strides(weight),
            b.stride(0) if b.dim() == 2 else 0, *_strides(y), slope)
    grid, key = _grid(M, N, "BLOCK_M", "BLOCK_N", E), (MB, EB, N, K, act, precision, has_bias,
                                                        drop is not None, randn, x_arg.dtype)
    launch(_fwd, grid, (x_arg, weight, b, y, *draw[:4], *tail), key, direct, ACT=act,
           HAS_BIAS=has_bias, DROP=drop is not None, X_RANDN=randn, PRECISION=precision)
    return (y, _plan(_fwd, key, grid, tail, (y.shape,))) if plan else y


def _dx_launch(dy, y, weight, act, slope, precision, direct=False, drop=None, plan=False):
    E, M, N = y.shape if y.dim() == 3 else (1, *y.shape)   # dy, y [E, M, N], weight [E, N, K]
    K = weight.shape[-1]
    dx = torch.empty((*y.shape[:-1], K), dtype=weight.dtype, device=y.device)  # [(E,) M, K]
    MB, EB = _bucket(M), _bucket(E)
    draw = _drop_args(drop, weight, direct)
    tail = (draw[4], M, N, K, MB, EB, *_strides(dy), *_strides(y), *_strides(weight),
            *_strides(dx), slope)
    grid = _grid(M, K, "BLOCK_M", "BLOCK_K", E)
    key = (MB, EB, N, K, act, precision, drop is not None, dy.dtype, weight.dtype)
    launch(_dx, grid, (dy, y, weight, dx, *draw[:4], *tail), key, direct, ACT=act,
           DROP=drop is not None, PRECISION=precision)
    return (dx, _plan(_dx, key, grid, tail, (dx.shape,))) if plan else dx


def _dw_launch(dy, y, x, act, slope, has_bias, precision, direct=False, drop=None, plan=False):
    x_arg, (E, M, K), x_strides, draw, randn = _x_args(x, drop, y, direct)
    N = y.shape[-1]                                         # dy, y [E, M, N], x [E, M, K]
    members = y.shape[:-2]                                  # (E,) or ()
    dw = torch.empty((*members, N, K), dtype=y.dtype, device=y.device)
    db = torch.empty((*members, N if has_bias else 0), dtype=y.dtype, device=y.device)
    MB, EB = _bucket(M), _bucket(E)
    tail = (draw[4], M, N, K, MB, EB, *_strides(dy), *_strides(y), *x_strides, *_strides(dw),
            db.stride(0) if db.dim() == 2 else 0, slope)
    grid = _grid(N, K, "BLOCK_N", "BLOCK_K", E)
    key = (MB, EB, N, K, act, precision, has_bias, drop is not None, randn, dy.dtype,
           x_arg.dtype)
    launch(_dw, grid, (dy, y, x_arg, dw, db, *draw[:4], *tail), key, direct, ACT=act,
           HAS_BIAS=has_bias, DROP=drop is not None, X_RANDN=randn, PRECISION=precision)
    return ((dw, db), _plan(_dw, key, grid, tail, (dw.shape, db.shape))) if plan else (dw, db)


def _plan(kernel, key, grid, tail, shapes) -> tuple | None:
    """(out shapes, grid, tail, keywords) of a launch whose tile is chosen (else None)."""
    chosen = TILES_CHOSEN.get((kernel, key))
    return None if chosen is None else (shapes, grid(chosen[0]), tail, chosen[1])


# The ops take a Drop as its five fields (ds, dd, dt, dk: seeds, counter, threshold, scale, or
# None without dropout; doff: the draw's offset), and a NormalDraw X as x None, its seeds and
# counter in ds, dd, its offset in doff and its rows in rows (K: the weight's).
def _x_of(x, weight, ds, dd, doff, rows):
    return x if x is not None else NormalDraw(ds, dd, doff, rows, weight.shape[-1])


def _flat(x, drop) -> tuple:
    """(x, ds, dd, dt, dk, doff, rows) for the ops from linear_act's x and drop."""
    if isinstance(x, NormalDraw):
        return None, x.seeds, x.draw, None, None, x.offset, x.rows
    return (x, *(drop.flat() if drop is not None else NO_DROP), 0)


@triton_op("fastgan::linear_act_fwd", mutates_args={})
def linear_act_fwd(x: torch.Tensor | None, weight: torch.Tensor, bias: torch.Tensor | None,
                   act: int, slope: float, precision: str, ds: torch.Tensor | None,
                   dd: torch.Tensor | None, dt: torch.Tensor | None, dk: torch.Tensor | None,
                   doff: int, rows: int) -> torch.Tensor:
    return _fwd_launch(_x_of(x, weight, ds, dd, doff, rows), weight, bias, act, slope, precision,
                       drop=_drop(ds, dd, dt, dk, doff) if x is not None else None)


@triton_op("fastgan::linear_act_bwd_dx", mutates_args={})
def linear_act_bwd_dx(dy: torch.Tensor, y: torch.Tensor, weight: torch.Tensor, act: int,
                      slope: float, precision: str, ds: torch.Tensor | None,
                      dd: torch.Tensor | None, dt: torch.Tensor | None, dk: torch.Tensor | None,
                      doff: int) -> torch.Tensor:
    return _dx_launch(dy, y, weight, act, slope, precision, drop=_drop(ds, dd, dt, dk, doff))


@triton_op("fastgan::linear_act_bwd_dw", mutates_args={})
def linear_act_bwd_dw(dy: torch.Tensor, y: torch.Tensor, x: torch.Tensor | None,
                      weight: torch.Tensor, act: int, slope: float, has_bias: bool,
                      precision: str, ds: torch.Tensor | None, dd: torch.Tensor | None,
                      dt: torch.Tensor | None, dk: torch.Tensor | None, doff: int,
                      rows: int) -> tuple[torch.Tensor, torch.Tensor]:
    return _dw_launch(dy, y, _x_of(x, weight, ds, dd, doff, rows), act, slope, has_bias,
                      precision, drop=_drop(ds, dd, dt, dk, doff) if x is not None else None)


# ---- autograd ------------------------------------------------------------------------------
def _setup_context(ctx, inputs, output):
    x, weight, bias, act, slope, precision, ds, dd, dt, dk, doff, rows = inputs
    ctx.save_for_backward(x, weight, output, ds, dd, dt, dk)
    ctx.act, ctx.slope, ctx.precision, ctx.has_bias = act, slope, precision, bias is not None
    ctx.doff, ctx.rows = doff, rows


def _backward(ctx, dy):
    # dX = mask * (dZ W) and dW = dZ^T (mask * X), db = sum_rows dZ, dZ = dY act'(Y) (the
    # module's docstring; mask = 1 without dropout; a NormalDraw X has no dX)
    x, weight, y, ds, dd, dt, dk = ctx.saved_tensors
    flat = (ds, dd, dt, dk, ctx.doff)
    need_x, need_w, need_b = ctx.needs_input_grad[:3]
    dx = dw = db = None
    if need_x:
        dx = linear_act_bwd_dx(dy, y, weight, ctx.act, ctx.slope, ctx.precision, *flat)
    if need_w or need_b:
        dw, db = linear_act_bwd_dw(dy, y, x, weight, ctx.act, ctx.slope, ctx.has_bias,
                                   ctx.precision, *flat, ctx.rows)
        dw = dw if need_w else None
        db = db if (need_b and ctx.has_bias) else None
    return dx, dw, db, None, None, None, None, None, None, None, None, None


linear_act_fwd.register_autograd(_backward, setup_context=_setup_context)


class FastganLinearAct(torch.autograd.Function):
    """The same forward and backward called eagerly, without torch.library's dispatch: what an
    eager call takes when nothing traces. Each launch's plan (out shapes, grid, the arguments
    after the tensors, the tile's keywords) is kept per key of the inputs' shapes and strides
    and the op's settings, so a call after the first only allocates its outputs and calls the
    kernel's JIT function (no argument math, no autotuner). spec: (act, slope, precision, drop);
    x a tensor or a NormalDraw."""

    @staticmethod
    def forward(ctx, x, weight, bias, spec, key=None):
        act, slope, precision, drop = spec
        drawn = key is None and isinstance(x, NormalDraw)
        if key is None:                     # else linear_act's signature of the call
            key = ((x.offset, x.rows, x.width) if drawn else (x.shape, x.stride(), x.dtype),
                   weight.shape, weight.stride(), bias is None or bias.stride(), spec[:3],
                   None if drop is None else drop.draw.offset)
        plan = _PLANS.get((_fwd, key))
        if plan is None:
            y, plan = _fwd_launch(x, weight, bias, act, slope, precision, True, drop, plan=True)
            if plan is not None:
                _PLANS[(_fwd, key)] = plan
        else:
            (shape,), grid, tail, kwargs = plan
            y = weight.new_empty(shape)
            x_arg, draw, b = _eager_tensors(x, drop, bias, weight)
            _fwd.fn.run(x_arg, weight, b, y, *draw, *tail, grid=grid, warmup=False, **kwargs)
        ctx.save_for_backward(None if drawn else x, weight, y)
        ctx.spec, ctx.key, ctx.has_bias = spec, key, bias is not None
        ctx.drawn = x if drawn else None
        return y

    @staticmethod
    def backward(ctx, dy):
        # dX = mask * (dZ W), dW = dZ^T (mask * X), db = sum_rows dZ (the module's docstring)
        x, weight, y = ctx.saved_tensors
        act, slope, precision, drop = ctx.spec
        need_x, need_w, need_b = ctx.needs_input_grad[:3]
        dx = dw = db = None
        stride = dy.stride()        # the rest of what the launches depend on is in ctx.key
        if need_x:
            key = (_dx, ctx.key, stride)
            plan = _PLANS.get(key)
            if plan is None:
                dx, plan = _dx_launch(dy, y, weight, act, slope, precision, True, drop, plan=True)
                if plan is not None:
                    _PLANS[key] = plan
            else:
                (shape,), grid, tail, kwargs = plan
                dx = weight.new_empty(shape)
                draw = drop.flat()[:4] if drop is not None else stand_ins(weight, 4, True)
                _dx.fn.run(dy, y, weight, dx, *draw, *tail, grid=grid, warmup=False, **kwargs)
        if need_w or need_b:
            x = x if ctx.drawn is None else ctx.drawn
            key = (_dw, ctx.key, stride)
            plan = _PLANS.get(key)
            if plan is None:
                (dw, db), plan = _dw_launch(dy, y, x, act, slope, ctx.has_bias, precision, True,
                                            drop, plan=True)
                if plan is not None:
                    _PLANS[key] = plan
            else:
                (w_shape, b_shape), grid, tail, kwargs = plan
                dw, db = y.new_empty(w_shape), y.new_empty(b_shape)
                x_arg, draw, _ = _eager_tensors(x, drop, None, y)
                _dw.fn.run(dy, y, x_arg, dw, db, *draw, *tail, grid=grid, warmup=False,
                           **kwargs)
            dw = dw if need_w else None
            db = db if (need_b and ctx.has_bias) else None
        return dx, dw, db, None, None


# autograd.Function.apply's Python wrapper (functorch's unwrapping of dead wrappers) costs about
# 18 us a call on the development CPU; with no functorch transform active it only calls the C++
# apply, which an eager call here calls itself (torch._C._FunctionBase.apply, bound to the class).
_C_APPLY = torch._C._FunctionBase.__dict__["apply"].__get__(None, FastganLinearAct)


def _apply(*args):
    if torch._C._are_functorch_transforms_active():
        return FastganLinearAct.apply(*args)
    return _C_APPLY(*args)


_PLANS = {}     # (kernel, key of the call) -> plan (FastganLinearAct)
_SEEN = {}      # an eager call's signature, its checks passed -> (act, slope, precision, None)


def _settings() -> tuple:
    """The global settings an eager call's path depends on: the backend, the CUDA precision."""
    return _dispatch._backend, _dispatch._cuda_precision


def _eager_tensors(x, drop, bias, ref) -> tuple:
    """(x's pointer argument, the four draw tensors, the bias or its stand-in) of an eager
    launch, as _x_args and the launchers pass them."""
    st = stand_ins(ref, 5, True)
    b = bias if bias is not None else st[4]
    if isinstance(x, NormalDraw):
        return st[0], (x.seeds, x.draw, st[1], st[2]), b
    return x, (drop.flat()[:4] if drop is not None else st[:4]), b


# ---- public function -----------------------------------------------------------------------
def linear_act(x, weight: torch.Tensor, bias: torch.Tensor | None,
               activation: str, negative_slope: float = 0.2, *,
               input_precision: str | None = None, drop: Drop | None = None) -> torch.Tensor:
    """act(x @ weight.T + bias), for one model or E stacked ones:
    x [M, K], weight [N, K], bias [N] or None -> [M, N];
    x [E, M, K], weight [E, N, K], bias [E, N] or None -> [E, M, N] (member e: x[e] @ weight[e].T).

    Triton on CUDA (and on the CPU under TRITON_INTERPRET=1), the reference elsewhere.
    input_precision: "ieee" or "tf32" for float32 dots; None picks tf32 on CUDA.
    drop: x's units dropped inside the kernels (x * mask, the mask from drop's bits: the
    module's docstring). x may be a NormalDraw [E, M, K] (no gradient), computed where the
    kernels read it. The reference makes the draws (the bits and the mask, the normals).
    """
    if type(x) is torch.Tensor and not torch.compiler.is_compiling():
        # an eager call like one before it (checked, on Triton): straight to the kernels
        sig = (x.shape, x.stride(), x.dtype, x.device, weight.shape, weight.stride(),
               weight.dtype, bias is None or (bias.shape, bias.stride(), bias.dtype), activation,
               negative_slope, input_precision, None if drop is None else drop.draw.offset,
               _settings())     # None, not a bool, beside the offset: True == 1
        spec = _SEEN.get(sig)
        if spec is not None:
            if drop is not None:
                _check_drop(drop, x)
                spec = (*spec[:3], drop)
            return _apply(x, weight, bias, spec, sig)
    else:
        sig = None
    if isinstance(x, NormalDraw):
        if drop is not None or weight.dim() != 3 or x.width != weight.shape[-1] \
                or x.seeds.numel() != weight.shape[0]:
            raise ValueError(f"linear_act: a NormalDraw x [{x.seeds.numel()}, {x.rows}, "
                             f"{x.width}] needs weight [E, N, {x.width}] of its E members and "
                             f"no drop, got {tuple(weight.shape)}")
        _check_act(activation, negative_slope, input_precision)
        if not use_triton(weight):
            x = x.make()
    else:
        _check(x, weight, bias, activation, negative_slope, input_precision)
        if drop is not None:
            _check_drop(drop, x)
    if not use_triton(weight):
        if drop is not None:
            M, K = x.shape[-2:]
            bits = drop.draw.bits(M * K).view(*x.shape)            # [(E,) M, K] int16
            x = x * dropout_mask(bits, drop.threshold, drop.scale)
        return linear_act_ref(x, weight, bias, activation, negative_slope)
    _check_kernel_dtype(weight)
    precision = input_precision or default_precision(weight)
    if not torch.compiler.is_compiling():
        spec = (ACTIVATIONS[activation], float(negative_slope), precision, drop)
        if sig is not None:
            _SEEN[sig] = (*spec[:3], None)
        return _apply(x, weight, bias, spec, sig)
    x, *draw = _flat(x, drop)
    return linear_act_fwd(x, weight, bias, ACTIVATIONS[activation], float(negative_slope),
                          precision, *draw)

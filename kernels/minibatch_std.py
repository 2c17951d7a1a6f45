"""Minibatch standard deviation as one Triton kernel each way, with D's dropout of its input.

x [E, R, F] -> out [E, R, F + 1]: for member e and each group of G consecutive rows (R a
multiple of G), with X = x * mask (mask from a dropout draw, kernels.linear_act's Drop; 1
without one),
    mu_f = mean_g X_gf,   s_f = sqrt(mean_g (X_gf - mu_f)^2 + 1e-8),   std = mean_f s_f
    out[g, :F] = X[g],    out[g, F] = std                                for every row g
One program per (group, member) holds the group's [G, F] block. No bits and no mask are stored:
both kernels recompute the mask from its Philox counters (kernels.member_random).

Backward, for dOut [E, R, F + 1] (the mean over g of (X - mu) is 0, so mu drops out):
    dstd   = sum_g dOut[g, F]
    dX_gf  = dOut[g, f] + dstd (X_gf - mu_f) / (F G s_f)
    dx     = mask * dX
float32 (the statistics in fp32); one launch each way for all members.
"""
import torch
from torch.library import triton_op

try:
    import triton
    import triton.language as tl
except ImportError:    # no Triton (macOS, Windows): the kernels are never launched
    from fastgan.kernels._no_triton import tl, triton

from fastgan.kernels._dispatch import launch, use_triton
from fastgan.kernels.linear_act import NO_DROP, Drop, _drop, _drop_args
from fastgan.kernels.linear_act_ref import dropout_mask
from fastgan.kernels.member_random import _dropout_scale
from fastgan.kernels.minibatch_std_ref import EPS, minibatch_std_ref


# ---- kernels -------------------------------------------------------------------------------
@triton.jit
def _group(x_ptr, ds_ptr, dd_ptr, dt_ptr, dk_ptr, drop_offset, e, rows, cols, F, G,
           sxr, sxf, DROP: tl.constexpr):
    """The group's X [BG, BF] (masked where dropped; 0 outside), its mask (or 1), centred X
    and s_f [BF] (1 outside the features)."""
    inside = (rows[:, None] < G) & (cols[None, :] < F)
    r = tl.program_id(0) * G + rows                                # rows of the whole batch
    x = tl.load(x_ptr + r[:, None] * sxr + cols[None, :] * sxf, mask=inside,
                other=0.0).to(tl.float32)
    mask = 1.0
    if DROP:
        mask = _dropout_scale(ds_ptr, dd_ptr, dt_ptr, dk_ptr, drop_offset, e, r, cols, F)
        x = x * mask
    mu = tl.sum(x, axis=0) / G                                                    # [BF]
    d = tl.where(inside, x - mu[None, :], 0.0)
    s = tl.sqrt_rn(tl.sum(d * d, axis=0) / G + EPS_)
    return x, mask, d, tl.where(cols < F, s, 1.0)


EPS_ = tl.constexpr(EPS)


@triton.jit(do_not_specialize=["drop_offset"])
def _mbstd_fwd(x_ptr, out_ptr, ds_ptr, dd_ptr, dt_ptr, dk_ptr, drop_offset, F, G,
               sxe, sxr, sxf, soe, sor, sof,
               DROP: tl.constexpr, BLOCK_G: tl.constexpr, BLOCK_F: tl.constexpr):
    e = tl.program_id(1).to(tl.int64)
    x_ptr += e * sxe
    out_ptr += e * soe
    rows = tl.arange(0, BLOCK_G)
    cols = tl.arange(0, BLOCK_F)
    x, mask, d, s = _group(x_ptr, ds_ptr, dd_ptr, dt_ptr, dk_ptr, drop_offset, e, rows, cols,
                           F, G, sxr, sxf, DROP)
    std = tl.sum(tl.where(cols < F, s, 0.0), axis=0) / F
    r = tl.program_id(0) * G + rows
    tl.store(out_ptr + r[:, None] * sor + cols[None, :] * sof, x,
             mask=(rows[:, None] < G) & (cols[None, :] < F))
    tl.store(out_ptr + r * sor + F * sof, tl.zeros((BLOCK_G,), tl.float32) + std,
             mask=rows < G)


@triton.jit(do_not_specialize=["drop_offset"])
def _mbstd_bwd(dout_ptr, x_ptr, dx_ptr, ds_ptr, dd_ptr, dt_ptr, dk_ptr, drop_offset, F, G,
               sxe, sxr, sxf, soe, sor, sof,
               DROP: tl.constexpr, BLOCK_G: tl.constexpr, BLOCK_F: tl.constexpr):
    # dx [E, R, F] and x share strides (both made contiguous by the launcher)
    e = tl.program_id(1).to(tl.int64)
    x_ptr += e * sxe
    dx_ptr += e * sxe
    dout_ptr += e * soe
    rows = tl.arange(0, BLOCK_G)
    cols = tl.arange(0, BLOCK_F)
    x, mask, d, s = _group(x_ptr, ds_ptr, dd_ptr, dt_ptr, dk_ptr, drop_offset, e, rows, cols,
                           F, G, sxr, sxf, DROP)
    r = tl.program_id(0) * G + rows
    inside = (rows[:, None] < G) & (cols[None, :] < F)
    dstd = tl.sum(tl.load(dout_ptr + r * sor + F * sof, mask=rows < G, other=0.0), axis=0)
    dout = tl.load(dout_ptr + r[:, None] * sor + cols[None, :] * sof, mask=inside, other=0.0)
    dx = (dout + dstd * d / (s * (F * G))[None, :]) * mask
    tl.store(dx_ptr + r[:, None] * sxr + cols[None, :] * sxf, dx, mask=inside)


# ---- launchers -----------------------------------------------------------------------------
def _blocks(group: int, F: int) -> dict:
    return {"BLOCK_G": triton.next_power_of_2(group), "BLOCK_F": triton.next_power_of_2(F)}


def _fwd_launch(x, group, drop=None, direct=False):
    E, R, F = x.shape
    out = torch.empty((E, R, F + 1), dtype=x.dtype, device=x.device)
    launch(_mbstd_fwd, (R // group, E),
           (x, out, *_drop_args(drop, x, direct), F, group, *x.stride(), *out.stride()),
           (), direct, DROP=drop is not None, **_blocks(group, F))
    return out


def _bwd_launch(dout, x, group, drop=None, direct=False):
    E, R, F = x.shape
    x = x.contiguous()
    dx = torch.empty_like(x)
    launch(_mbstd_bwd, (R // group, E),
           (dout, x, dx, *_drop_args(drop, x, direct), F, group, *x.stride(), *dout.stride()),
           (), direct, DROP=drop is not None, **_blocks(group, F))
    return dx


@triton_op("fastgan::minibatch_std_fwd", mutates_args={})
def minibatch_std_fwd(x: torch.Tensor, group: int, ds: torch.Tensor | None,
                      dd: torch.Tensor | None, dt: torch.Tensor | None, dk: torch.Tensor | None,
                      doff: int) -> torch.Tensor:
    return _fwd_launch(x, group, _drop(ds, dd, dt, dk, doff))


@triton_op("fastgan::minibatch_std_bwd", mutates_args={})
def minibatch_std_bwd(dout: torch.Tensor, x: torch.Tensor, group: int, ds: torch.Tensor | None,
                      dd: torch.Tensor | None, dt: torch.Tensor | None, dk: torch.Tensor | None,
                      doff: int) -> torch.Tensor:
    return _bwd_launch(dout, x, group, _drop(ds, dd, dt, dk, doff))


# ---- autograd ------------------------------------------------------------------------------
def _setup_context(ctx, inputs, output):
    x, group, ds, dd, dt, dk, doff = inputs
    ctx.save_for_backward(x, ds, dd, dt, dk)
    ctx.group, ctx.doff = group, doff


def _backward(ctx, dout):
    x, *drop = ctx.saved_tensors
    flat = (*drop, ctx.doff)
    if getattr(ctx, "eager", False):
        dx = _bwd_launch(dout, x, ctx.group, _drop(*flat), True)
    else:
        dx = minibatch_std_bwd(dout, x, ctx.group, *flat)
    return dx, None, None, None, None, None, None


minibatch_std_fwd.register_autograd(_backward, setup_context=_setup_context)


class FastganMinibatchStd(torch.autograd.Function):
    """The op called eagerly without torch.library's dispatch (as linear_act's)."""

    @staticmethod
    def forward(ctx, x, group, ds, dd, dt, dk, doff):
        out = _fwd_launch(x, group, _drop(ds, dd, dt, dk, doff), True)
        _setup_context(ctx, (x, group, ds, dd, dt, dk, doff), out)
        ctx.eager = True
        return out

    backward = staticmethod(_backward)


# ---- public function -----------------------------------------------------------------------
def minibatch_std(x: torch.Tensor, group: int, drop: Drop | None = None) -> torch.Tensor:
    """x [E, R, F] -> [E, R, F + 1], the group's mean std appended to each row (the module's
    docstring); drop: x's units dropped first, inside the kernels (kernels.linear_act.Drop).
    Triton on CUDA (and under TRITON_INTERPRET=1), the reference elsewhere."""
    if x.dim() != 3 or x.shape[1] % group or group < 1 or 0 in x.shape:
        raise ValueError(f"minibatch std: x must be [E, R, F] with R a multiple of the group "
                         f"of {group}, got {tuple(x.shape)}")
    if not use_triton(x) or x.dtype != torch.float32:
        if drop is not None:
            bits = drop.draw.bits(x.shape[1] * x.shape[2]).view(x.shape)
            x = x * dropout_mask(bits, drop.threshold, drop.scale)
        return minibatch_std_ref(x, group)
    flat = drop.flat() if drop is not None else NO_DROP
    if torch.compiler.is_compiling():
        return minibatch_std_fwd(x, group, *flat)
    return FastganMinibatchStd.apply(x, group, *flat)

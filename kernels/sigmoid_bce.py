"""Fused sigmoid + binary cross-entropy from logits, as one Triton kernel.

For logits z (any shape, contiguous, N >= 1 elements) and a target y (a float, or a tensor of
z's shape), one pass computes
    loss      = mean_i [ max(z, 0) - z*y + log1p(exp(-|z|)) ]      (softplus form; exact and
                                                                    finite for |z| up to 1e4)
    grad_i    = (sigmoid(z_i) - y_i) / N                           (d loss / d z_i, stored;
                                                                    exact where sigmoid -> 1)
    mean_prob = mean_i sigmoid(z_i)                                (D(x) or D(G(z)) for free)
so the backward is grad_i * grad_output. The discriminator form takes the real and the fake
logits in the same launch: BCE(real, real_label) + BCE(fake, 0), each a mean.

Reductions are deterministic: each program writes its partial sums (already divided by N) to its
own slot and the slots are summed afterwards. float32 or bfloat16 logits (fp32 math); the target
carries no gradient.
"""
import torch
import triton
import triton.language as tl
from torch.library import triton_op, wrap_triton

from fastgan.kernels._dispatch import use_triton
from fastgan.kernels.sigmoid_bce_ref import discriminator_bce_ref, sigmoid_bce_ref

BLOCK = 1024
DTYPES = (torch.float32, torch.bfloat16)


# ---- kernels -------------------------------------------------------------------------------
@triton.jit
def _log1p(t):
    # log1p for t in [0, 1] without libdevice: Kahan's u = 1 + t; log(u) * t / (u - 1) is
    # accurate to a few ulps; where u rounds to 1, log1p(t) = t to working precision.
    u = 1.0 + t
    return tl.where(u == 1.0, t, tl.log(u) * t / tl.where(u == 1.0, 1.0, u - 1.0))


@triton.jit
def _bce_block(z_ptr, y_ptr, g_ptr, n, y_value, inv_n, block, HAS_Y: tl.constexpr,
               BLOCK: tl.constexpr):
    """Loss and sigmoid sums (times 1/N) of one block; writes the block's gradient."""
    offs = block * BLOCK + tl.arange(0, BLOCK)
    mask = offs < n
    z = tl.load(z_ptr + offs, mask=mask, other=0.0).to(tl.float32)
    if HAS_Y:
        y = tl.load(y_ptr + offs, mask=mask, other=0.0).to(tl.float32)
    else:
        y = y_value
    e = tl.exp(-tl.abs(z))                                   # in (0, 1]: never overflows
    loss = tl.maximum(z, 0.0) - z * y + _log1p(e)
    s_neg = e / (1.0 + e)                                    # sigmoid(-|z|), exact in fp32
    sig = tl.where(z >= 0, 1.0 - s_neg, s_neg)
    # sigmoid(z) - y, written so it stays exact where sigmoid(z) rounds to 1 (z = 30, y = 1)
    grad = tl.where(z >= 0, (1.0 - y) - s_neg, s_neg - y)
    tl.store(g_ptr + offs, (grad * inv_n).to(g_ptr.dtype.element_ty), mask=mask)
    loss = tl.where(mask, loss, 0.0)
    sig = tl.where(mask, sig, 0.0)
    return tl.sum(loss, axis=0) * inv_n, tl.sum(sig, axis=0) * inv_n


@triton.jit
def _bce_kernel(z1_ptr, y1_ptr, g1_ptr, n1, y1_value, inv_n1, blocks1,
                z2_ptr, g2_ptr, n2, y2_value, inv_n2, part_ptr,
                HAS_Y1: tl.constexpr, BLOCK: tl.constexpr):
    # Programs [0, blocks1) take segment 1 (target tensor or scalar), the rest segment 2
    # (scalar target). part[pid] = (loss sum / N, sigmoid sum / N) of that program's block.
    pid = tl.program_id(0)
    if pid < blocks1:
        loss, sig = _bce_block(z1_ptr, y1_ptr, g1_ptr, n1, y1_value, inv_n1, pid, HAS_Y1, BLOCK)
    else:
        loss, sig = _bce_block(z2_ptr, z2_ptr, g2_ptr, n2, y2_value, inv_n2, pid - blocks1,
                               False, BLOCK)
    tl.store(part_ptr + 2 * pid, loss)
    tl.store(part_ptr + 2 * pid + 1, sig)


# ---- launchers -----------------------------------------------------------------------------
def _launch(z1, y1, y1_value, z2, y2_value):
    """Runs the kernel over one or two segments; returns (grads, partials [P, 2], blocks1)."""
    n1, n2 = z1.numel(), (z2.numel() if z2 is not None else 0)
    blocks1, blocks2 = triton.cdiv(n1, BLOCK), triton.cdiv(n2, BLOCK)
    g1 = torch.empty_like(z1)
    g2 = torch.empty_like(z2) if z2 is not None else g1
    part = torch.empty((blocks1 + blocks2, 2), dtype=torch.float32, device=z1.device)
    wrap_triton(_bce_kernel)[(blocks1 + blocks2,)](
        z1, y1 if y1 is not None else z1, g1, n1, y1_value, 1.0 / n1, blocks1,
        z2 if z2 is not None else z1, g2, n2, y2_value, 1.0 / max(n2, 1), part,
        HAS_Y1=y1 is not None, BLOCK=BLOCK)
    return g1, g2, part, blocks1


@triton_op("fastgan::sigmoid_bce_fwd", mutates_args={})
def sigmoid_bce_fwd(logits: torch.Tensor, target: torch.Tensor | None,
                    target_value: float) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(mean loss, mean sigmoid, d loss / d logits); target=None uses target_value."""
    grad, _, part, _ = _launch(logits, target, target_value, None, 0.0)
    return part[:, 0].sum(), part[:, 1].sum(), grad          # part [P, 2]: (loss, sigmoid)


@triton_op("fastgan::discriminator_bce_fwd", mutates_args={})
def discriminator_bce_fwd(real: torch.Tensor, fake: torch.Tensor, real_label: float
                          ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor,
                                     torch.Tensor]:
    """(loss, mean D(x), mean D(G(z)), d loss / d real, d loss / d fake)."""
    g_real, g_fake, part, blocks1 = _launch(real, None, real_label, fake, 0.0)
    # part [P, 2]: rows [0, blocks1) real, the rest fake; columns (loss, sigmoid)
    return (part[:, 0].sum(), part[:blocks1, 1].sum(), part[blocks1:, 1].sum(), g_real, g_fake)


# ---- autograd: the gradient was computed in the forward; scale it by grad_output ------------
def _save_grads(indices):
    def setup_context(ctx, inputs, output):
        ctx.save_for_backward(*(output[i] for i in indices))
    return setup_context


def _bce_backward(ctx, grad_loss, *_):
    (grad,) = ctx.saved_tensors
    return grad * grad_loss.to(grad.dtype), None, None


def _pair_backward(ctx, grad_loss, *_):
    g_real, g_fake = ctx.saved_tensors
    scale = grad_loss.to(g_real.dtype)
    return g_real * scale, g_fake * scale, None


sigmoid_bce_fwd.register_autograd(_bce_backward, setup_context=_save_grads((2,)))
discriminator_bce_fwd.register_autograd(_pair_backward, setup_context=_save_grads((3, 4)))


# ---- public functions ----------------------------------------------------------------------
def _check_logits(name, z):
    if not isinstance(z, torch.Tensor) or not z.is_floating_point():
        raise TypeError(f"{name}: logits must be a floating tensor, got "
                        f"{getattr(z, 'dtype', type(z).__name__)}")
    if z.numel() == 0:
        raise ValueError(f"{name}: logits are empty")


def _check_kernel(name, *tensors):
    for t in tensors:
        if t.dtype not in DTYPES:
            raise TypeError(f"{name}: the Triton kernel takes float32 or bfloat16, got {t.dtype}")
        if not t.is_contiguous():
            raise ValueError(f"{name}: the Triton kernel takes contiguous tensors, got strides "
                             f"{t.stride()} for shape {tuple(t.shape)}")


def sigmoid_bce_stats(logits: torch.Tensor, target) -> tuple[torch.Tensor, torch.Tensor]:
    """(mean BCE(sigmoid(logits), target), mean sigmoid(logits)); target a float or a tensor."""
    _check_logits("sigmoid_bce", logits)
    if isinstance(target, torch.Tensor):
        if target.shape != logits.shape or target.device != logits.device:
            raise ValueError(f"sigmoid_bce: target {tuple(target.shape)} on {target.device} must "
                             f"match logits {tuple(logits.shape)} on {logits.device}")
        if target.requires_grad:
            raise ValueError("sigmoid_bce: the target carries no gradient; detach it")
    elif not isinstance(target, (int, float)):
        raise TypeError(f"sigmoid_bce: target must be a float or a tensor, got {type(target)}")
    if not use_triton(logits):
        return sigmoid_bce_ref(logits, target)
    if isinstance(target, torch.Tensor):
        target = target.to(logits.dtype)
        _check_kernel("sigmoid_bce", logits, target)
        loss, prob, _ = sigmoid_bce_fwd(logits, target, 0.0)
    else:
        _check_kernel("sigmoid_bce", logits)
        loss, prob, _ = sigmoid_bce_fwd(logits, None, float(target))
    return loss, prob.detach()


def sigmoid_bce(logits: torch.Tensor, target) -> torch.Tensor:
    """Mean binary cross-entropy of sigmoid(logits) against target (a float or a tensor)."""
    return sigmoid_bce_stats(logits, target)[0]


def discriminator_bce(real_logits: torch.Tensor, fake_logits: torch.Tensor,
                      real_label: float = 1.0):
    """BCE(real, real_label) + BCE(fake, 0), each a mean, in one launch.

    Returns (loss, mean D(x), mean D(G(z))); the means carry no gradient.
    """
    _check_logits("discriminator_bce", real_logits)
    _check_logits("discriminator_bce", fake_logits)
    if not 0.0 <= real_label <= 1.0:
        raise ValueError(f"discriminator_bce: real_label must be in [0, 1], got {real_label}")
    if real_logits.device != fake_logits.device or real_logits.dtype != fake_logits.dtype:
        raise TypeError("discriminator_bce: real and fake logits must share dtype and device")
    if not use_triton(real_logits):
        return discriminator_bce_ref(real_logits, fake_logits, real_label)
    _check_kernel("discriminator_bce", real_logits, fake_logits)
    loss, p_real, p_fake, _, _ = discriminator_bce_fwd(real_logits, fake_logits,
                                                       float(real_label))
    return loss, p_real.detach(), p_fake.detach()

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

Members: logits [E, M] hold one row per member (E models trained side by side); the kernel's
grid has the member as axis 1, and each member gets its own means, gradient scale and target
(a float for all, or a tensor of one value per member, e.g. per-member label smoothing). The
flat functions (sigmoid_bce, discriminator_bce) are the one-member case over all elements.

Reductions are deterministic: each program writes its partial sums (already divided by N) to its
own slot and the slots are summed afterwards. float32 or bfloat16 logits (fp32 math); the target
carries no gradient.
"""
import torch
from torch.library import triton_op

try:
    import triton
    import triton.language as tl
    from triton.language.extra import libdevice
except ImportError:    # no Triton (macOS, Windows): the kernels are never launched
    from fastgan.kernels._no_triton import libdevice, tl, triton

from fastgan.kernels._dispatch import INTERPRET, launcher, use_triton
from fastgan.kernels.sigmoid_bce_ref import discriminator_bce_ref, sigmoid_bce_ref

BLOCK = 1024
DTYPES = (torch.float32, torch.bfloat16)
# On CUDA, exp and log1p from libdevice (CUDA's expf / log1pf, within 2 ulp): tl.exp and tl.log
# lower to the approximate ex2 / lg2 of x * log2(e), and rounding x * log2(e) alone costs
# |x| 2^-24 relative (1.8e-6 at z = 30): the first GPU run failed the float64 checks at |z| of
# 30 and more. The interpreter has no libdevice: there tl.exp (numpy's, exact to rounding) and
# Kahan's log1p.
_LIBDEVICE = tl.constexpr(not INTERPRET)


# ---- kernels -------------------------------------------------------------------------------
@triton.jit
def _exp(x):
    if _LIBDEVICE:
        return libdevice.exp(x)
    return tl.exp(x)


@triton.jit
def _log1p(t):
    # log1p for t in [0, 1]. Without libdevice, Kahan's u = 1 + t; log(u) * t / (u - 1) is
    # accurate to a few ulps; where u rounds to 1, log1p(t) = t to working precision.
    if _LIBDEVICE:
        return libdevice.log1p(t)
    u = 1.0 + t
    return tl.where(u == 1.0, t, tl.log(u) * t / tl.where(u == 1.0, 1.0, u - 1.0))


@triton.jit
def _bce_terms(z, y):
    """Per element (fp32): the loss, sigmoid(z) and the loss's gradient sigmoid(z) - y."""
    e = _exp(-tl.abs(z))                                     # in (0, 1]: never overflows
    loss = tl.maximum(z, 0.0) - z * y + _log1p(e)
    s_neg = e / (1.0 + e)                                    # sigmoid(-|z|), exact in fp32
    sig = tl.where(z >= 0, 1.0 - s_neg, s_neg)
    # sigmoid(z) - y, written so it stays exact where sigmoid(z) rounds to 1 (z = 30, y = 1)
    grad = tl.where(z >= 0, (1.0 - y) - s_neg, s_neg - y)
    return loss, sig, grad


@triton.jit
def _bce_block(z_ptr, y_ptr, g_ptr, n, y_value, inv_n, block, TARGET: tl.constexpr,
               BLOCK: tl.constexpr):
    """Loss and sigmoid sums (times 1/N) of one block of one member's row; writes its gradient.
    TARGET 0: the scalar y_value; 1: one target per member (y_ptr -> it); 2: a target per
    element (y_ptr -> the member's row)."""
    offs = block * BLOCK + tl.arange(0, BLOCK)
    mask = offs < n
    z = tl.load(z_ptr + offs, mask=mask, other=0.0).to(tl.float32)
    if TARGET == 2:
        y = tl.load(y_ptr + offs, mask=mask, other=0.0).to(tl.float32)
    elif TARGET == 1:
        y = tl.load(y_ptr).to(tl.float32)
    else:
        y = y_value
    loss, sig, grad = _bce_terms(z, y)
    tl.store(g_ptr + offs, (grad * inv_n).to(g_ptr.dtype.element_ty), mask=mask)
    loss = tl.where(mask, loss, 0.0)
    sig = tl.where(mask, sig, 0.0)
    return tl.sum(loss, axis=0) * inv_n, tl.sum(sig, axis=0) * inv_n


@triton.jit
def _bce_kernel(z1_ptr, y1_ptr, g1_ptr, n1, y1_value, inv_n1, blocks1, sz1, sy1, sg1,
                z2_ptr, g2_ptr, n2, inv_n2, sz2, sg2, part_ptr, parts,
                TARGET1: tl.constexpr, BLOCK: tl.constexpr):
    # Member e = program_id(1); its rows z1[e] [n1] and z2[e] [n2] are contiguous, sz* / sg* /
    # sy1 their member strides. Programs [0, blocks1) of axis 0 take segment 1 (target as
    # TARGET1 says), the rest segment 2 (target 0: the fake half of the D loss).
    # part[e, pid] = (loss sum / N, sigmoid sum / N) of that program's block.
    pid = tl.program_id(0)
    e = tl.program_id(1).to(tl.int64)
    # torch.compile passes Python floats as fp64: the math stays fp32
    y1_value = tl.cast(y1_value, tl.float32)
    inv_n1 = tl.cast(inv_n1, tl.float32)
    inv_n2 = tl.cast(inv_n2, tl.float32)
    if pid < blocks1:
        loss, sig = _bce_block(z1_ptr + e * sz1, y1_ptr + e * sy1, g1_ptr + e * sg1, n1,
                               y1_value, inv_n1, pid, TARGET1, BLOCK)
    else:
        loss, sig = _bce_block(z2_ptr + e * sz2, z2_ptr, g2_ptr + e * sg2, n2, 0.0, inv_n2,
                               pid - blocks1, 0, BLOCK)
    out = part_ptr + (e * parts + pid) * 2
    tl.store(out, loss)
    tl.store(out + 1, sig)


# ---- launchers -----------------------------------------------------------------------------
def _launch(z1, y1, y1_value, z2):
    """Runs the kernel over the members' rows z1 [E, n1] (and z2 [E, n2]); y1 None (the scalar
    y1_value), [E] or [E, n1]. Returns (grads, partials [E, P, 2], blocks1)."""
    E, n1 = z1.shape
    n2 = z2.shape[1] if z2 is not None else 0
    blocks1, blocks2 = triton.cdiv(n1, BLOCK), triton.cdiv(n2, BLOCK)
    g1 = torch.empty((E, n1), dtype=z1.dtype, device=z1.device)
    part = torch.empty((E, blocks1 + blocks2, 2), dtype=torch.float32, device=z1.device)
    target = 0 if y1 is None else 1 if y1.dim() == 1 else 2
    # Absent tensors are stand-ins of one element the kernel never touches (no block reads a
    # target without TARGET1, none runs over an empty z2), never a real argument passed twice:
    # torch.compile's functionalized launch copies each pointer argument on its own and writes
    # the copies back in turn, so g1 passed again as g2 came back as g2's untouched copy.
    z2_ = z2 if z2 is not None else z1.new_empty((E, 1))
    g2 = (torch.empty((E, n2), dtype=z1.dtype, device=z1.device) if z2 is not None
          else z1.new_empty((E, 1)))
    y1_ = y1 if y1 is not None else z1.new_empty(1)
    launcher(_bce_kernel)[(blocks1 + blocks2, E)](
        z1, y1_, g1, n1, y1_value, 1.0 / n1, blocks1, z1.stride(0),
        y1.stride(0) if y1 is not None else 0, g1.stride(0),
        z2_, g2, n2, 1.0 / max(n2, 1), z2_.stride(0), g2.stride(0), part, blocks1 + blocks2,
        TARGET1=target, BLOCK=BLOCK)
    return g1, g2, part, blocks1


@triton_op("fastgan::sigmoid_bce_fwd", mutates_args={})
def sigmoid_bce_fwd(logits: torch.Tensor, target: torch.Tensor | None,
                    target_value: float) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Per member of logits [E, M]: (mean loss [E], mean sigmoid [E], d loss / d logits
    [E, M]); target None uses target_value, else [E] or [E, M]."""
    grad, _, part, _ = _launch(logits, target, target_value, None)
    return part[:, :, 0].sum(1), part[:, :, 1].sum(1), grad   # part [E, P, 2]: (loss, sigmoid)


@triton_op("fastgan::discriminator_bce_fwd", mutates_args={})
def discriminator_bce_fwd(real: torch.Tensor, fake: torch.Tensor, label: torch.Tensor | None,
                          label_value: float) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor,
                                                       torch.Tensor, torch.Tensor]:
    """Per member: (loss, mean D(x), mean D(G(z)), d loss / d real, d loss / d fake)."""
    g_real, g_fake, part, blocks1 = _launch(real, label, label_value, fake)
    # part [E, P, 2]: columns [0, blocks1) real, the rest fake; last axis (loss, sigmoid)
    return (part[:, :, 0].sum(1), part[:, :blocks1, 1].sum(1), part[:, blocks1:, 1].sum(1),
            g_real, g_fake)


# ---- autograd: the gradient was computed in the forward; scale it by grad_output ------------
def _save_grads(indices):
    def setup_context(ctx, inputs, output):
        ctx.save_for_backward(*(output[i] for i in indices))
    return setup_context


def _bce_backward(ctx, grad_loss, *_):
    (grad,) = ctx.saved_tensors                      # [E, M]; grad_loss [E]
    return grad * grad_loss.to(grad.dtype)[:, None], None, None


def _pair_backward(ctx, grad_loss, *_):
    g_real, g_fake = ctx.saved_tensors
    scale = grad_loss.to(g_real.dtype)[:, None]
    return g_real * scale, g_fake * scale, None, None


sigmoid_bce_fwd.register_autograd(_bce_backward, setup_context=_save_grads((2,)))
discriminator_bce_fwd.register_autograd(_pair_backward, setup_context=_save_grads((3, 4)))


# ---- public functions ----------------------------------------------------------------------
def _check_logits(name, z, dims=None):
    if not isinstance(z, torch.Tensor) or not z.is_floating_point():
        raise TypeError(f"{name}: logits must be a floating tensor, got "
                        f"{getattr(z, 'dtype', type(z).__name__)}")
    if z.numel() == 0:
        raise ValueError(f"{name}: logits are empty")
    if dims is not None and z.dim() != dims:
        raise ValueError(f"{name}: logits must be [E, M] (one row per member), got "
                         f"{tuple(z.shape)}")


def _check_kernel(name, *tensors):
    for t in tensors:
        if t.dtype not in DTYPES:
            raise TypeError(f"{name}: the Triton kernel takes float32 or bfloat16, got {t.dtype}")
        if t.stride(-1) != 1:
            raise ValueError(f"{name}: the Triton kernel takes rows of contiguous elements, got "
                             f"strides {t.stride()} for shape {tuple(t.shape)}")


def _check_target(name, target, logits):
    """A float, one value per member [E], or one per element [E, M]; no gradient."""
    if isinstance(target, torch.Tensor):
        if target.shape not in (logits.shape[:1], logits.shape) or target.device != logits.device:
            raise ValueError(f"{name}: target {tuple(target.shape)} on {target.device} must "
                             f"be [E] or match logits {tuple(logits.shape)} on {logits.device}")
        if target.requires_grad:
            raise ValueError(f"{name}: the target carries no gradient; detach it")
    elif not isinstance(target, (int, float)):
        raise TypeError(f"{name}: target must be a float or a tensor, got {type(target)}")


def sigmoid_bce_members(logits: torch.Tensor, target) -> tuple[torch.Tensor, torch.Tensor]:
    """Per member e of logits [E, M]: (mean BCE(sigmoid(logits[e]), target), mean
    sigmoid(logits[e])), each [E]; target a float, a tensor [E] (one per member) or [E, M]."""
    _check_logits("sigmoid_bce", logits, dims=2)
    _check_target("sigmoid_bce", target, logits)
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


def sigmoid_bce_stats(logits: torch.Tensor, target) -> tuple[torch.Tensor, torch.Tensor]:
    """(mean BCE(sigmoid(logits), target), mean sigmoid(logits)) over all of logits (any
    shape: one member); target a float or a tensor of logits' shape."""
    _check_logits("sigmoid_bce", logits)
    if isinstance(target, torch.Tensor):
        if target.shape != logits.shape or target.device != logits.device:
            raise ValueError(f"sigmoid_bce: target {tuple(target.shape)} on {target.device} must "
                             f"match logits {tuple(logits.shape)} on {logits.device}")
        target = target.reshape(1, -1)
    if not logits.is_contiguous() and use_triton(logits):
        raise ValueError(f"sigmoid_bce: the Triton kernel takes contiguous tensors, got strides "
                         f"{logits.stride()} for shape {tuple(logits.shape)}")
    loss, prob = sigmoid_bce_members(logits.reshape(1, -1), target)
    return loss[0], prob[0]


def sigmoid_bce(logits: torch.Tensor, target) -> torch.Tensor:
    """Mean binary cross-entropy of sigmoid(logits) against target (a float or a tensor)."""
    return sigmoid_bce_stats(logits, target)[0]


def discriminator_bce_members(real_logits: torch.Tensor, fake_logits: torch.Tensor,
                              real_label=1.0):
    """Per member e of real [E, B] and fake [E, B'] logits, in one launch:
    BCE(real[e], real_label[e]) + BCE(fake[e], 0), each a mean; real_label a float or a
    tensor [E]. Returns (loss [E], mean D(x) [E], mean D(G(z)) [E]); the means carry no
    gradient."""
    _check_logits("discriminator_bce", real_logits, dims=2)
    _check_logits("discriminator_bce", fake_logits, dims=2)
    if isinstance(real_label, torch.Tensor):     # per member; its range is the caller's to
        _check_target("discriminator_bce", real_label, real_logits[:, 0])   # check (no sync)
    elif not 0.0 <= real_label <= 1.0:
        raise ValueError(f"discriminator_bce: real_label must be in [0, 1], got {real_label}")
    if real_logits.device != fake_logits.device or real_logits.dtype != fake_logits.dtype \
            or real_logits.shape[0] != fake_logits.shape[0]:
        raise TypeError("discriminator_bce: real and fake logits must share members, dtype and "
                        "device")
    if not use_triton(real_logits):
        return discriminator_bce_ref(real_logits, fake_logits, real_label)
    _check_kernel("discriminator_bce", real_logits, fake_logits)
    if isinstance(real_label, torch.Tensor):
        label, value = real_label.to(real_logits.dtype), 0.0
    else:
        label, value = None, float(real_label)
    loss, p_real, p_fake, _, _ = discriminator_bce_fwd(real_logits, fake_logits, label, value)
    return loss, p_real.detach(), p_fake.detach()


def discriminator_bce(real_logits: torch.Tensor, fake_logits: torch.Tensor,
                      real_label: float = 1.0):
    """BCE(real, real_label) + BCE(fake, 0), each a mean over all of its logits (one member),
    in one launch. Returns (loss, mean D(x), mean D(G(z))); the means carry no gradient."""
    for z in (real_logits, fake_logits):
        _check_logits("discriminator_bce", z)
        if not z.is_contiguous() and use_triton(z):
            raise ValueError(f"discriminator_bce: the Triton kernel takes contiguous tensors, "
                             f"got strides {z.stride()} for shape {tuple(z.shape)}")
    loss, p_real, p_fake = discriminator_bce_members(real_logits.reshape(1, -1),
                                                     fake_logits.reshape(1, -1), real_label)
    return loss[0], p_real[0], p_fake[0]

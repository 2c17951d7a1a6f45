"""The GAN losses' gradient with respect to D's logits, and their statistics, in one launch.

For logits z [E, R] (or D's output [E, R, 1]), a split s, a target y and a sign c per member:
    loss_e = c_e (mean_{r < s} BCE(z_er, y_e) + mean_{r >= s} BCE(z_er, 0))
    dz_er  = c_e (sigmoid(z_er) - y_er) / n_seg(r)      (y_er = y_e below s, else 0)
    stats[e] += (loss_e, mean_{r < s} sigmoid(z_er)[, mean_{r >= s} sigmoid(z_er)])
The D loss is split = B (real rows first, y = the real label, c = 1); the G loss split = R (one
segment, y and c from the member's kind of G loss, kernels.sigmoid_bce's G_LOSSES). The step
backpropagates z.backward(dz): no loss tensor, no autograd node, no reduction launched after,
the statistics summed on the device where the log reads them. BCE in sigmoid_bce's softplus
form (its _bce_terms). One program per member walks its rows block by block: deterministic.
"""
import torch
from torch.library import triton_op

try:
    import triton
    import triton.language as tl
except ImportError:    # no Triton (macOS, Windows): the kernels are never launched
    from fastgan.kernels._no_triton import tl, triton

from fastgan.kernels._dispatch import launch, stand_ins, use_triton
from fastgan.kernels.gan_bce_ref import gan_bce_ref
from fastgan.kernels.sigmoid_bce import _bce_terms

BLOCK = 1024


# ---- kernels -------------------------------------------------------------------------------
@triton.jit
def _segment(z_ptr, g_ptr, first, n, y, scale, szr, sgr, BLOCK: tl.constexpr):
    """Rows [first, first + n) of one member: stores scale * (sigmoid(z) - y) / n, returns
    (loss sum / n, sigmoid sum / n)."""
    loss_sum = 0.0
    sig_sum = 0.0
    inv_n = 1.0 / n
    for b0 in range(0, n, BLOCK):
        r = first + b0 + tl.arange(0, BLOCK)
        inside = r < first + n
        z = tl.load(z_ptr + r * szr, mask=inside, other=0.0).to(tl.float32)
        loss, sig, grad = _bce_terms(z, y)
        tl.store(g_ptr + r * sgr, (grad * inv_n * scale).to(g_ptr.dtype.element_ty),
                 mask=inside)
        loss_sum += tl.sum(tl.where(inside, loss, 0.0), axis=0) * inv_n
        sig_sum += tl.sum(tl.where(inside, sig, 0.0), axis=0) * inv_n
    return loss_sum, sig_sum


@triton.jit
def _gan_bce_kernel(z_ptr, g_ptr, stats_ptr, y_ptr, c_ptr, R, split, y_value, c_value,
                    sze, szr, sge, sgr, sse, ssc,
                    Y_EACH: tl.constexpr, C_EACH: tl.constexpr, BLOCK: tl.constexpr):
    e = tl.program_id(0).to(tl.int64)
    z_ptr += e * sze
    g_ptr += e * sge
    stats_ptr += e * sse
    y = tl.cast(y_value, tl.float32)          # torch.compile passes Python floats as fp64
    c = tl.cast(c_value, tl.float32)
    if Y_EACH:
        y = tl.load(y_ptr + e).to(tl.float32)
    if C_EACH:
        c = tl.load(c_ptr + e).to(tl.float32)
    loss, sig = _segment(z_ptr, g_ptr, 0, split, y, c, szr, sgr, BLOCK)
    if split < R:                                     # the D loss's fake rows, target 0
        loss2, sig2 = _segment(z_ptr, g_ptr, split, R - split, 0.0, c, szr, sgr, BLOCK)
        loss += loss2
        tl.store(stats_ptr + 2 * ssc, tl.load(stats_ptr + 2 * ssc) + sig2)
    tl.store(stats_ptr, tl.load(stats_ptr) + loss * c)
    tl.store(stats_ptr + ssc, tl.load(stats_ptr + ssc) + sig)


# ---- launcher and op -----------------------------------------------------------------------
def _launch(z, split, y, y_value, c, c_value, stats, direct=False):
    E, R = z.shape[:2]
    grad = torch.empty_like(z, memory_format=torch.contiguous_format)
    y_, c_ = stand_ins(z, 2, direct)           # never read without Y_EACH, C_EACH
    y_ = y if y is not None else y_
    c_ = c if c is not None else c_
    launch(_gan_bce_kernel, (E,),
           (z, grad, stats, y_, c_, R, split, y_value, c_value, z.stride(0), z.stride(1),
            grad.stride(0), grad.stride(1), stats.stride(0), stats.stride(1)),
           (), direct, Y_EACH=y is not None, C_EACH=c is not None, BLOCK=BLOCK)
    return grad


@triton_op("fastgan::gan_bce", mutates_args={"stats"})
def gan_bce_op(z: torch.Tensor, split: int, y: torch.Tensor | None, y_value: float,
               c: torch.Tensor | None, c_value: float, stats: torch.Tensor) -> torch.Tensor:
    return _launch(z, split, y, y_value, c, c_value, stats)


# ---- public functions ----------------------------------------------------------------------
def runs_kernel(logits: torch.Tensor) -> bool:
    """Whether gan_bce runs its kernel on these logits (float32 where Triton runs)."""
    return use_triton(logits) and logits.dtype == torch.float32


def gan_bce(logits: torch.Tensor, split: int, target, sign, stats: torch.Tensor):
    """d loss / d logits (logits' shape) for the loss of the module's docstring; adds to stats
    [E, 3] (split < R: loss, D(x), D(G(z))) or [E, 2] (split = R: loss, D(G(z))) in place.
    logits [E, R] or [E, R, 1], carrying no graph of their own here (the caller runs
    logits.backward(grad)); target and sign floats or float32 tensors [E]. Triton on CUDA
    (and under TRITON_INTERPRET=1), the reference elsewhere."""
    E, R = logits.shape[:2]
    if logits.dim() not in (2, 3) or (logits.dim() == 3 and logits.shape[2] != 1) \
            or not 1 <= split <= R:
        raise ValueError(f"gan_bce: logits must be [E, R] or [E, R, 1] with 1 <= split <= R, "
                         f"got {tuple(logits.shape)} and split {split}")
    if tuple(stats.shape) != (E, 3 if split < R else 2) or stats.dtype != torch.float32:
        raise ValueError(f"gan_bce: stats must be float32 [{E}, {3 if split < R else 2}], got "
                         f"{stats.dtype} {tuple(stats.shape)}")
    z = logits.detach()
    if not runs_kernel(z):
        return gan_bce_ref(z, split, target, sign, stats)
    y, y_value = (target, 0.0) if isinstance(target, torch.Tensor) else (None, float(target))
    c, c_value = (sign, 0.0) if isinstance(sign, torch.Tensor) else (None, float(sign))
    if torch.compiler.is_compiling():
        return gan_bce_op(z, split, y, y_value, c, c_value, stats)
    return _launch(z, split, y, y_value, c, c_value, stats, direct=True)

"""Pure-PyTorch reference of gan_bce: the GAN losses' gradient with respect to D's logits and
their statistics, from kernels.sigmoid_bce_ref's formulas. The tests' truth (float64)."""
import torch

from fastgan.kernels.sigmoid_bce_ref import sigmoid_bce_ref


def gan_bce_ref(logits, split: int, target, sign, stats):
    """As kernels.gan_bce.gan_bce (logits [E, R] or [E, R, 1]): returns the gradient, adds
    the statistics to stats [E, C]."""
    z = logits.detach().reshape(logits.shape[0], -1).requires_grad_()       # [E, R]
    sign = torch.as_tensor(sign, dtype=z.dtype, device=z.device)
    sign = sign[:, None] if sign.dim() else sign
    loss1, p1 = sigmoid_bce_ref(z[:, :split], target)
    parts = [p1]
    if split < z.shape[1]:
        loss2, p2 = sigmoid_bce_ref(z[:, split:], 0.0)
        loss1, parts = loss1 + loss2, [p1, p2]
    loss = loss1 * sign.reshape(-1) if sign.dim() else loss1 * sign
    (grad,) = torch.autograd.grad(loss.sum(), z)
    stats += torch.stack([loss.detach(), *parts], 1).to(stats.dtype)
    return grad.reshape(logits.shape)

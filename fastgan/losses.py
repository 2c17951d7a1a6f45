"""The GAN losses of the paper, on logits, through the fused sigmoid-BCE op.

D maximizes log D(x) + log(1 - D(G(z)))  <=>  minimizes BCE(D(x), 1) + BCE(D(G(z)), 0).
G, non-saturating ("ns"): maximizes log D(G(z))   <=>  minimizes BCE(D(G(z)), 1).
G, minimax:               minimizes log(1 - D(G(z))) =  -BCE(D(G(z)), 0).

The *_members forms take one row of logits per member ([E, B]) and return one value per member
([E]); each member may have its own real label and its own kind of G loss.

The training step's forms (d_loss_step, g_loss_step) take D's logits [E, R, 1], add each
update's statistics to a device buffer, and return what to backpropagate, (root, grad) for
root.backward(grad): where the Triton kernels run, the logits and their gradient from one
launch (kernels.gan_bce: no loss node, no reduction after); elsewhere the summed loss and None.
"""
import torch

from fastgan.kernels.gan_bce import gan_bce, runs_kernel
from fastgan.kernels.sigmoid_bce import (discriminator_bce, discriminator_bce_members,
                                         sigmoid_bce_members, sigmoid_bce_stats)

G_LOSSES = {"ns": (1.0, 1.0), "minimax": (0.0, -1.0)}    # kind -> (BCE target, sign)


def d_loss(real_logits, fake_logits, real_label: float = 1.0):
    """(loss, mean D(x), mean D(G(z)))."""
    return discriminator_bce(real_logits, fake_logits, real_label)


def g_loss(fake_logits, kind: str = "ns"):
    """(loss, mean D(G(z)))."""
    if kind not in G_LOSSES:
        raise ValueError(f"g_loss must be 'ns' or 'minimax', got {kind!r}")
    target, sign = G_LOSSES[kind]
    loss, prob = sigmoid_bce_stats(fake_logits, target)
    return (loss if sign > 0 else -loss), prob


def d_loss_members(real_logits, fake_logits, real_label=1.0):
    """Per member of [E, B] logits: (loss [E], mean D(x) [E], mean D(G(z)) [E]); real_label a
    float or one per member [E]."""
    return discriminator_bce_members(real_logits, fake_logits, real_label)


def g_loss_members(fake_logits, target=1.0, sign=None):
    """Per member of [E, B] logits: (sign * BCE(fake, target) [E], mean D(G(z)) [E]); target
    and sign floats or [E] tensors, from G_LOSSES of each member's kind (sign None: +1)."""
    loss, prob = sigmoid_bce_members(fake_logits, target)
    return (loss if sign is None else sign * loss), prob


def d_loss_step(logits, b: int, real_label, into: torch.Tensor):
    """The D update's loss on logits [E, 2B, 1] (the B real rows first): adds (d_loss, D(x),
    D(G(z))) to into [E, 3]; returns (root, grad) to backpropagate."""
    if runs_kernel(logits):
        return logits, gan_bce(logits, b, real_label, 1.0, into)
    z = logits[..., 0]                                                       # [E, 2B]
    loss, p_real, p_fake = d_loss_members(z[:, :b], z[:, b:], real_label)
    into += torch.stack([loss.detach(), p_real, p_fake], 1)
    return loss.sum(), None


def g_loss_step(logits, target, sign, into: torch.Tensor, topk: int | None = None):
    """The G update's loss on logits [E, B, 1]: adds (g_loss, D(G(z))) to into [E, 2]; returns
    (root, grad). topk: the loss over the topk fakes D rates highest (D(G(z)) over all)."""
    B = logits.shape[1]
    if topk is not None and topk >= B:
        topk = None
    if topk is None and runs_kernel(logits):
        return logits, gan_bce(logits, B, target, 1.0 if sign is None else sign, into)
    z = logits[..., 0]                                                       # [E, B]
    if topk is None:
        loss, p_fake = g_loss_members(z, target, sign)
    else:
        loss, _ = g_loss_members(z.topk(topk, dim=1).values, target, sign)
        p_fake = torch.sigmoid(z.detach()).mean(1)             # D(G(z)) over the whole batch
    into += torch.stack([loss.detach(), p_fake], 1)
    return loss.sum(), None

"""The GAN losses of the paper, on logits, through the fused sigmoid-BCE op.

D maximizes log D(x) + log(1 - D(G(z)))  <=>  minimizes BCE(D(x), 1) + BCE(D(G(z)), 0).
G, non-saturating ("ns"): maximizes log D(G(z))   <=>  minimizes BCE(D(G(z)), 1).
G, minimax:               minimizes log(1 - D(G(z))) =  -BCE(D(G(z)), 0).

The *_members forms take one row of logits per member ([E, B]) and return one value per member
([E]); each member may have its own real label and its own kind of G loss.
"""
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

"""The GAN losses of the paper, on logits, through the fused sigmoid-BCE op.

D maximizes log D(x) + log(1 - D(G(z)))  <=>  minimizes BCE(D(x), 1) + BCE(D(G(z)), 0).
G, non-saturating ("ns"): maximizes log D(G(z))   <=>  minimizes BCE(D(G(z)), 1).
G, minimax:               minimizes log(1 - D(G(z))) =  -BCE(D(G(z)), 0).
"""
from fastgan.kernels.sigmoid_bce import discriminator_bce, sigmoid_bce_stats


def d_loss(real_logits, fake_logits, real_label: float = 1.0):
    """(loss, mean D(x), mean D(G(z)))."""
    return discriminator_bce(real_logits, fake_logits, real_label)


def g_loss(fake_logits, kind: str = "ns"):
    """(loss, mean D(G(z)))."""
    if kind == "ns":
        return sigmoid_bce_stats(fake_logits, 1.0)
    if kind == "minimax":
        loss, prob = sigmoid_bce_stats(fake_logits, 0.0)
        return -loss, prob
    raise ValueError(f"g_loss must be 'ns' or 'minimax', got {kind!r}")

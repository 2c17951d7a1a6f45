"""Pure-PyTorch reference of sigmoid_bce: mean BCE(sigmoid(z), y) from logits, softplus form.

loss_i = max(z, 0) - z*y + log1p(exp(-|z|))   (= softplus(z) - z*y, exact and finite for any z)
d mean / dz_i = (sigmoid(z_i) - y_i) / N      (written out: autograd through |z| and max is wrong
                                               at z = 0, and through a where() it leaks NaN)
Per member: logits [E, M], one mean per row (N = M); the target a float, a tensor [E] (one value
per member) or [E, M]. Any floating dtype; the target is treated as a constant (no gradient).
The exponentials run by member (kernels._members.by_member), so a member's result does not
depend on the other members of its group.
"""
import torch

from fastgan.kernels._members import by_member


def _softplus_neg_abs(z):
    return torch.log1p(torch.exp(-z.abs()))


def _sigmoid_neg_abs(z):
    return torch.sigmoid(-z.abs())


class _SigmoidBCE(torch.autograd.Function):
    @staticmethod
    def forward(ctx, z, y):                                # z, y [E, M] -> loss [E]
        loss = (z.clamp(min=0) - z * y + by_member(_softplus_neg_abs, z)).mean(1)
        ctx.save_for_backward(z, y)
        return loss

    @staticmethod
    def backward(ctx, grad):
        z, y = ctx.saved_tensors
        s_neg = by_member(_sigmoid_neg_abs, z)             # sigmoid(z) - y, exact where
        d = torch.where(z >= 0, (1 - y) - s_neg, s_neg - y)   # sigmoid(z) rounds to 1
        return grad[:, None] * d / z.shape[1], None


def _target(target, logits):
    y = torch.as_tensor(target, dtype=logits.dtype, device=logits.device)
    return (y[:, None] if y.dim() == 1 else y).expand_as(logits)


def sigmoid_bce_ref(logits, target):
    """Per member of logits [E, M]: (mean loss [E], mean sigmoid [E]); the second carries no
    gradient."""
    return _SigmoidBCE.apply(logits, _target(target, logits)), \
        by_member(torch.sigmoid, logits.detach()).mean(1)


def discriminator_bce_ref(real_logits, fake_logits, real_label=1.0):
    """Per member of real [E, B] and fake [E, B'] logits: BCE(real, real_label) + BCE(fake, 0),
    each a mean; returns (loss [E], D(x) mean [E], D(G(z)) mean [E])."""
    lr, pr = sigmoid_bce_ref(real_logits, real_label)
    lf, pf = sigmoid_bce_ref(fake_logits, 0.0)
    return lr + lf, pr, pf

"""Pure-PyTorch reference of sigmoid_bce: mean BCE(sigmoid(z), y) from logits, softplus form.

loss_i = max(z, 0) - z*y + log1p(exp(-|z|))   (= softplus(z) - z*y, exact and finite for any z)
d mean / dz_i = (sigmoid(z_i) - y_i) / N      (written out: autograd through |z| and max is wrong
                                               at z = 0, and through a where() it leaks NaN)
Any floating dtype; the target is treated as a constant (no gradient).
"""
import torch


class _SigmoidBCE(torch.autograd.Function):
    @staticmethod
    def forward(ctx, z, y):
        loss = (z.clamp(min=0) - z * y + torch.log1p(torch.exp(-z.abs()))).mean()
        ctx.save_for_backward(z, y)
        return loss

    @staticmethod
    def backward(ctx, grad):
        z, y = ctx.saved_tensors
        s_neg = torch.sigmoid(-z.abs())                    # sigmoid(z) - y, exact where
        d = torch.where(z >= 0, (1 - y) - s_neg, s_neg - y)   # sigmoid(z) rounds to 1
        return grad * d / z.numel(), None


def sigmoid_bce_ref(logits, target):
    """Returns (mean loss, mean sigmoid(logits)); the second carries no gradient."""
    y = torch.as_tensor(target, dtype=logits.dtype, device=logits.device).expand_as(logits)
    return _SigmoidBCE.apply(logits, y), torch.sigmoid(logits.detach()).mean()


def discriminator_bce_ref(real_logits, fake_logits, real_label: float = 1.0):
    """BCE(real, real_label) + BCE(fake, 0), each a mean; returns (loss, D(x) mean, D(G(z)) mean)."""
    lr, pr = sigmoid_bce_ref(real_logits, real_label)
    lf, pf = sigmoid_bce_ref(fake_logits, 0.0)
    return lr + lf, pr, pf

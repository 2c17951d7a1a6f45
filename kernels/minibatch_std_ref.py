"""Pure-PyTorch reference of minibatch_std. The CPU path and the tests' truth.

x [E, R, F] -> [E, R, F + 1]: over each group of `group` consecutive rows, the biased std of
every feature, sqrt(var + 1e-8), averaged over the features, appended to each row of the group
(Karras et al. 2018, for an MLP). Any floating dtype (float64 for the tests); autograd gives
the backward.
"""
import torch

EPS = 1e-8


def minibatch_std_ref(x: torch.Tensor, group: int) -> torch.Tensor:
    E, R, n = x.shape
    y = x.unflatten(1, (R // group, group))                      # [E, R/g, g, F]
    std = (y - y.mean(2, keepdim=True)).square().mean(2).add(EPS).sqrt().mean(-1)   # [E, R/g]
    feature = std[:, :, None, None].expand(E, R // group, group, 1)
    return torch.cat([x, feature.reshape(E, R, 1)], -1)          # [E, R, F + 1]

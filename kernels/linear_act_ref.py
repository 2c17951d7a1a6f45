"""Pure-PyTorch reference of linear_act: Y = act(X W^T + b). The CPU path and the tests' truth.

Works in any floating dtype (float64 for the tests' ground truth); autograd does the backward.
"""
import torch
import torch.nn.functional as F


def linear_act_ref(x, weight, bias, activation: str, negative_slope: float = 0.2):
    z = F.linear(x, weight, bias)  # [M, K] @ [N, K]^T + [N] -> [M, N]
    if activation == "leaky_relu":
        return F.leaky_relu(z, negative_slope)
    if activation == "tanh":
        return torch.tanh(z)
    return z

"""The paper's MLPs, computing only through the kernels ops.

Generator     z [B, latent] -> 256 -> 512 -> 1024 -> 784, LeakyReLU hidden, tanh out.
Discriminator x [B, 784] -> 512 -> 256 -> 1, LeakyReLU hidden, a logit out (the sigmoid lives
in the loss). Widths, latent size and slope come from ModelConfig.
"""
import math

import torch
from torch import nn

from fastgan.config import ModelConfig
from fastgan.kernels.linear_act import linear_act


class Dense(nn.Module):
    """weight [out, in], bias [out]; initialized as nn.Linear is (uniform +-1/sqrt(in))."""

    def __init__(self, n_in: int, n_out: int, activation: str, slope: float):
        super().__init__()
        self.weight = nn.Parameter(torch.empty(n_out, n_in))
        self.bias = nn.Parameter(torch.empty(n_out))
        self.activation, self.slope = activation, slope
        bound = 1.0 / math.sqrt(n_in)
        nn.init.uniform_(self.weight, -bound, bound)
        nn.init.uniform_(self.bias, -bound, bound)

    def forward(self, x):
        return linear_act(x, self.weight, self.bias, self.activation, self.slope)

    def extra_repr(self):
        return f"{self.weight.shape[1]} -> {self.weight.shape[0]}, {self.activation}"


def mlp(sizes, last_activation: str, slope: float = 0.2) -> nn.Sequential:
    """Dense layers sizes[0] -> ... -> sizes[-1]; LeakyReLU between, last_activation at the end."""
    acts = ["leaky_relu"] * (len(sizes) - 2) + [last_activation]
    return nn.Sequential(*(Dense(a, b, act, slope)
                           for a, b, act in zip(sizes[:-1], sizes[1:], acts)))


class Generator(nn.Module):
    def __init__(self, cfg: ModelConfig = ModelConfig()):
        super().__init__()
        self.latent_dim = cfg.latent_dim
        self.net = mlp([cfg.latent_dim, *cfg.g_hidden, cfg.image_dim], "tanh",
                        cfg.negative_slope)

    def forward(self, z):          # [B, latent] -> [B, 784] in (-1, 1)
        return self.net(z)


class Discriminator(nn.Module):
    def __init__(self, cfg: ModelConfig = ModelConfig()):
        super().__init__()
        self.net = mlp([cfg.image_dim, *cfg.d_hidden, 1], "none", cfg.negative_slope)

    def forward(self, x):          # [B, 784] -> [B, 1] logits
        return self.net(x)

"""The paper's MLPs, computing only through the kernels ops.

Generator     z [B, latent] -> 256 -> 512 -> 1024 -> 784, LeakyReLU hidden, tanh out.
Discriminator x [B, 784] -> 512 -> 256 -> 1, LeakyReLU hidden, a logit out (the sigmoid lives
in the loss). As in the paper, D may drop out its input pixels and hidden units, and its hidden
units may be maxout units (a linear_act(..., "none") of width units x pieces, max-pooled over
the pieces). Widths, latent size, slope, dropout and maxout come from ModelConfig.

Dropout is torch's (F.dropout): on CUDA under torch.compile, Inductor fuses it into the kernels
around it; the CPU path and the CUDA path both draw a Bernoulli(1 - p) keep mask from the global
generator and scale kept units by 1 / (1 - p), so both compute the same function in distribution.
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


class Maxout(nn.Module):
    """units maxout units of `pieces` linear pieces each: max over pieces of (x W^T + b)."""

    def __init__(self, n_in: int, units: int, pieces: int):
        super().__init__()
        self.units, self.pieces = units, pieces
        self.linear = Dense(n_in, units * pieces, "none", 0.2)

    def forward(self, x):          # [B, in] -> [B, units * pieces] -> [B, units, pieces] -> max
        return self.linear(x).view(x.shape[0], self.units, self.pieces).amax(dim=2)


class Discriminator(nn.Module):
    def __init__(self, cfg: ModelConfig = ModelConfig()):
        super().__init__()
        layers = [nn.Dropout(cfg.d_input_dropout)] if cfg.d_input_dropout > 0 else []
        sizes = [cfg.image_dim, *cfg.d_hidden]
        for a, b in zip(sizes[:-1], sizes[1:]):
            layers.append(Maxout(a, b, cfg.d_maxout) if cfg.d_maxout > 0
                          else Dense(a, b, "leaky_relu", cfg.negative_slope))
            if cfg.d_dropout > 0:
                layers.append(nn.Dropout(cfg.d_dropout))
        layers.append(Dense(sizes[-1], 1, "none", cfg.negative_slope))
        self.net = nn.Sequential(*layers)

    def forward(self, x):          # [B, 784] -> [B, 1] logits
        return self.net(x)

"""The paper's MLPs, computing only through the kernels ops, for E models of one shape at once.

Generator     z [E, B, latent] -> 256 -> 512 -> 1024 -> 784, LeakyReLU hidden, tanh out.
Discriminator x [E, B, 784] -> 512 -> 256 -> 1, LeakyReLU hidden, a logit out (the sigmoid lives
in the loss). As in the paper, D may drop out its input pixels and hidden units, and its hidden
units may be maxout units (a linear_act(..., "none") of width units x pieces, max-pooled over
the pieces). D's weights may be spectrally normalized, and D may append a minibatch standard
deviation feature before its last layer. Widths, latent size, slope, dropout, maxout, spectral
norm and minibatch std come from ModelConfig.

Members: every parameter has a leading member axis (weight [E, out, in], bias [E, out]), as
PyTorch's ensembling recipe stacks models, and one linear_act launch serves every member. Member
e is initialized from its own generator as nn.Linear is (uniform +-1/sqrt(in), weight then bias,
layer by layer, G then D), so it starts where it would start alone. A member's parameter names
are those of one model (G.net.0.weight ...): a member's checkpoint holds its slices.

Dropout takes its random bits from the caller (the GAN draws each member's from that member's
own stream, 16 bits per unit, only at the sites where the member drops units): D(x, bits) turns
them into keep / drop with the member's own rate and scales kept units by 1 / (1 - rate), so it
is a pure function of its inputs (what torch.compile traces).
"""
import math

import torch
import torch.nn.functional as F
from torch import nn

from fastgan.config import ModelConfig
from fastgan.kernels.linear_act import Drop, linear_act
from fastgan.kernels.linear_act_ref import dropout_mask
from fastgan.kernels.member_random import BitDraw
from fastgan.kernels.minibatch_std import minibatch_std


class Dense(nn.Module):
    """weight [E, out, in] and bias [E, out] for E members (members=None: [out, in] and [out],
    one model, as the 1-D toy uses); initialized as nn.Linear is, member e from generators[e]
    (the global generator when none is given).

    spectral_norm (Miyato et al. 2018, as torch.nn.utils.parametrizations.spectral_norm): the
    layer computes with W / sigma, sigma = u^T W v, where u [E, out] and v [E, in] (buffers,
    drawn N(0, I) after the weights, normalized, then 15 power iterations, as PyTorch starts
    them) estimate W's first singular vectors; power_iteration() refines them once (no graph),
    and gradients flow through sigma to W, u and v held fixed."""

    def __init__(self, n_in: int, n_out: int, activation: str, slope: float,
                 members: int | None = None, generators=None, spectral_norm: bool = False):
        super().__init__()
        lead = () if members is None else (members,)
        self.weight = nn.Parameter(torch.empty(*lead, n_out, n_in))
        self.bias = nn.Parameter(torch.empty(*lead, n_out))
        self.activation, self.slope = activation, slope
        self.spectral_norm = spectral_norm
        bound = 1.0 / math.sqrt(n_in)
        with torch.no_grad():
            if generators is None:
                self.weight.uniform_(-bound, bound)
                self.bias.uniform_(-bound, bound)
            else:
                for w, b, gen in zip(self.weight, self.bias, generators):  # init only
                    w.uniform_(-bound, bound, generator=gen)
                    b.uniform_(-bound, bound, generator=gen)
        if spectral_norm:
            self.register_buffer("u", torch.empty(*lead, n_out))
            self.register_buffer("v", torch.empty(*lead, n_in))
            with torch.no_grad():
                if generators is None:
                    self.u.normal_()
                    self.v.normal_()
                else:
                    for u, v, gen in zip(self.u, self.v, generators):         # init only
                        u.normal_(generator=gen)
                        v.normal_(generator=gen)
                self.u.copy_(F.normalize(self.u, dim=-1, eps=SN_EPS))
                self.v.copy_(F.normalize(self.v, dim=-1, eps=SN_EPS))
                for _ in range(15):
                    self.power_iteration()

    @torch.no_grad()
    def power_iteration(self) -> None:
        """u <- normalize(W v), v <- normalize(W^T u): one step toward W's first singular
        vectors. Products as elementwise sums over one axis, so a member's result does not
        depend on how many members share the tensors."""
        w = self.weight
        self.u.copy_(F.normalize((w * self.v.unsqueeze(-2)).sum(-1), dim=-1, eps=SN_EPS))
        self.v.copy_(F.normalize((w * self.u.unsqueeze(-1)).sum(-2), dim=-1, eps=SN_EPS))

    def sigma(self) -> torch.Tensor:
        """u^T W v per member ([E], or a scalar), differentiable in W."""
        return (self.u * (self.weight * self.v.unsqueeze(-2)).sum(-1)).sum(-1)

    def effective_weight(self) -> torch.Tensor:
        if not self.spectral_norm:
            return self.weight
        return self.weight / self.sigma()[..., None, None]        # [E, out, in] / [E, 1, 1]

    def forward(self, x, drop: Drop | None = None):
        return linear_act(x, self.effective_weight(), self.bias, self.activation, self.slope,
                          drop=drop)

    def extra_repr(self):
        return f"{self.weight.shape[-1]} -> {self.weight.shape[-2]}, {self.activation}"


def mlp(sizes, last_activation: str, slope: float = 0.2, members: int | None = None,
        generators=None) -> nn.Sequential:
    """Dense layers sizes[0] -> ... -> sizes[-1]; LeakyReLU between, last_activation at the end."""
    acts = ["leaky_relu"] * (len(sizes) - 2) + [last_activation]
    return nn.Sequential(*(Dense(a, b, act, slope, members, generators)
                           for a, b, act in zip(sizes[:-1], sizes[1:], acts)))


class Generator(nn.Module):
    def __init__(self, cfg: ModelConfig = ModelConfig(), members: int = 1, generators=None):
        super().__init__()
        self.latent_dim, self.members = cfg.latent_dim, members
        self.net = mlp([cfg.latent_dim, *cfg.g_hidden, cfg.image_dim], "tanh",
                       cfg.negative_slope, members, generators)

    def forward(self, z):          # [E, B, latent] -> [E, B, 784] in (-1, 1)
        """z: a tensor, or a NormalDraw [E, B, latent] (its normals computed inside the first
        layer's kernels, kernels.linear_act)."""
        if isinstance(z, torch.Tensor) and z.dim() == 2 and self.members == 1:   # one model:
            # [B, latent] -> [B, 784]
            return self.net(z.unsqueeze(0)).squeeze(0)
        return self.net(z)


class Maxout(nn.Module):
    """units maxout units of `pieces` linear pieces each: max over pieces of (x W^T + b)."""

    def __init__(self, n_in: int, units: int, pieces: int, members: int = 1, generators=None,
                 spectral_norm: bool = False):
        super().__init__()
        self.units, self.pieces = units, pieces
        self.linear = Dense(n_in, units * pieces, "none", 0.2, members, generators, spectral_norm)

    def forward(self, x, drop: Drop | None = None):
        # [E, B, in] -> [E, B, units * pieces] -> [E, B, units, pieces] -> max over pieces
        return self.linear(x, drop).unflatten(-1, (self.units, self.pieces)).amax(dim=-1)


SN_EPS = 1e-12                     # torch.nn.utils.parametrizations.spectral_norm's normalize eps


class MinibatchStd(nn.Module):
    """Minibatch standard deviation (Karras et al. 2018) for an MLP: over each group of `group`
    consecutive rows, the std of every feature (biased, sqrt(var + 1e-8)) averaged over the
    features, appended to each row of the group as one more feature. [E, R, F] -> [E, R, F + 1];
    R a multiple of group (D sees [real; fake] with the batch a multiple of it: no group mixes
    real and fake images)."""

    def __init__(self, group: int):
        super().__init__()
        self.group = group

    def forward(self, x, drop: Drop | None = None):                # [E, R, F] -> [E, R, F + 1]
        if x.shape[1] % self.group:
            raise ValueError(f"minibatch std: {x.shape[1]} rows per member are not a multiple "
                             f"of the group of {self.group} (--d-mbstd must divide "
                             "--batch-size)")
        return minibatch_std(x, self.group, drop)

    def extra_repr(self):
        return f"group {self.group}"


# A rate p drops a unit when its 16 random bits, read as a signed int16 in [-32768, 32767], fall
# below round(p * 65536) - 32768: the rate is applied at a resolution of 2^-16 (0.1 -> 0.1000061),
# and kept units are scaled by 1 / (1 - that rate), so the mean of every unit stays unchanged.
BITS = 1 << 16


def quantized_rate(rate: float) -> float:
    """The dropout rate a site applies for the configured rate (a multiple of 2^-16)."""
    return round(rate * BITS) / BITS


class Dropout(nn.Module):
    """A dropout site of D with one rate per member; applies the mask it is given (x * mask, the
    mask already scaled), and nothing without one. Buffers, per member [E]: the int16 threshold
    below which 16 random bits drop a unit, and the scale of kept units."""

    def __init__(self, rates, width: int):
        super().__init__()
        self.width = width
        q = [quantized_rate(r) for r in rates]
        self.drops = [r > 0 for r in q]
        self.active = any(q)                           # a site no member drops at: skipped
        self.register_buffer("threshold", torch.tensor([round(r * BITS) - BITS // 2 for r in q],
                                                       dtype=torch.int16), persistent=False)
        self.register_buffer("scale", torch.tensor([1.0 / (1.0 - r) for r in q]),
                             persistent=False)

    def mask(self, bits: torch.Tensor) -> torch.Tensor:
        """bits int16 [E, R, width] -> mask [E, R, width]: the member's scale where kept, else 0
        (a member of rate 0 keeps every unit, whatever its bits hold)."""
        return dropout_mask(bits, self.threshold, self.scale)

    def drop(self, draw: BitDraw) -> Drop:
        """The site applied inside the next layer's kernels, its bits never made."""
        return Drop(draw, self.threshold, self.scale)

    def extra_repr(self):
        return f"width {self.width}"


class Discriminator(nn.Module):
    def __init__(self, cfg: ModelConfig = ModelConfig(), members: int = 1, generators=None,
                 input_rates=None, hidden_rates=None):
        """input_rates / hidden_rates: D's dropout rate of each member (default: cfg's for all).
        Every site is there whatever its rates (so a member's parameter names never depend on
        them: net.1, net.3, net.5 for two hidden layers); one where no member drops is skipped."""
        super().__init__()
        input_rates = input_rates if input_rates is not None else [cfg.d_input_dropout] * members
        hidden_rates = hidden_rates if hidden_rates is not None else [cfg.d_dropout] * members
        layers = [Dropout(input_rates, cfg.image_dim)]
        sizes, sn = [cfg.image_dim, *cfg.d_hidden], cfg.d_spectral_norm
        for a, b in zip(sizes[:-1], sizes[1:]):
            layers.append(Maxout(a, b, cfg.d_maxout, members, generators, sn) if cfg.d_maxout > 0
                          else Dense(a, b, "leaky_relu", cfg.negative_slope, members, generators,
                                     sn))
            layers.append(Dropout(hidden_rates, b))
        if cfg.d_mbstd:
            layers.append(MinibatchStd(cfg.d_mbstd))
        layers.append(Dense(sizes[-1] + (cfg.d_mbstd > 0), 1, "none", cfg.negative_slope,
                            members, generators, sn))
        self.net = nn.Sequential(*layers)
        for site, after in zip(layers, layers[1:]):    # a linear_act next: it can drop units
            if isinstance(site, Dropout):
                site.into_layer = isinstance(after, (Dense, Maxout, MinibatchStd))
        self.normalized = [m for m in self.modules() if isinstance(m, Dense) and m.spectral_norm]
        self.all_sites = [m for m in self.net if isinstance(m, Dropout)]
        self.sites = [m for m in self.all_sites if m.active]

    @torch.no_grad()
    def power_iteration(self) -> None:
        """One power iteration of every spectrally normalized layer (once per D step)."""
        for layer in self.normalized:
            layer.power_iteration()

    def forward(self, x, bits=None):   # [E, B, 784] -> [E, B, 1] logits
        """bits: the random bits of each active site in order (int16 [E, B, width], drawn by
        the caller for the members that drop units there), or None (no dropout). A site's
        bits may also be a BitDraw (fastgan.streams' counted draws): the next layer's kernels
        (linear_act, minibatch_std) drop the units from the draw's Philox counters, no bits
        and no mask in memory. Bits given are made into masks here, so a compiled forward
        fuses them into the layers around them."""
        sites = iter(bits) if bits is not None else None
        drop = None                      # a site the next layer's kernels apply
        for layer in self.net:
            if isinstance(layer, Dropout):
                if sites is not None and layer.active:
                    site = next(sites)
                    if not isinstance(site, BitDraw):
                        x = x * layer.mask(site)
                    elif layer.into_layer:
                        drop = layer.drop(site)
                    else:
                        x = x * layer.mask(site.bits(x.shape[-2] * x.shape[-1]).view(x.shape))
            elif isinstance(layer, (Dense, Maxout, MinibatchStd)):
                x, drop = layer(x, drop), None
            else:
                x = layer(x)
        return x


def layer_shapes(m: ModelConfig | None = None) -> list[tuple[int, int, str]]:
    """(K, N, activation) of every linear_act layer of a model (the default one): G then D, D's
    output layer with its one minibatch-std feature when that is on."""
    m = m or ModelConfig()
    g, d = [m.latent_dim, *m.g_hidden], [m.image_dim, *m.d_hidden]
    return ([(a, b, "leaky_relu") for a, b in zip(g, g[1:])] + [(g[-1], m.image_dim, "tanh")]
            + [(a, b, "leaky_relu") for a, b in zip(d, d[1:])]
            + [(d[-1] + (m.d_mbstd > 0), 1, "none")])

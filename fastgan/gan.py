"""The GAN being trained: G, D, their Adam optimizers, the two steps of Algorithm 1, and a
moving average of G's weights.

A D step draws z, computes G(z) without a graph, runs D once over [real; fake] and minimizes
BCE(D(x), 1) + BCE(D(G(z)), 0). A G step draws z and minimizes the generator loss through a
frozen D. With share_g_forward (k = 1 only) one G forward on one z serves both: the D step
takes it detached, and the G step, after D's update, backpropagates through the updated D into
the kept G graph (G's weights have not changed in between, so that graph is exact); this saves
one G forward per step. With instance noise, Gaussian noise of the given std is added to every
input D sees, real and fake, in both steps.

The forward of each step (and, through AOTAutograd, its backward) is one function that
torch.compile(fullgraph=True) traces when compile is on (and, with cuda_graphs, replays as CUDA
graphs); the optimizer step is PyTorch's fused (or foreach) Adam. After each G step the
averaged generator G_ema moves toward G in one fused foreach lerp:
    ema <- ema + (1 - d_t) (theta - ema),   d_t = min(ema_decay, (1 + t) / (10 + t))
where t counts the updates so far (the warm-up keeps early averages from dwelling on the random
initial G). Nothing here reads a value back to the host: each step returns its statistics as a
device tensor that the caller accumulates.
"""
import copy

import torch

from fastgan.config import TrainConfig
from fastgan.losses import d_loss, g_loss
from fastgan.models import Discriminator, Generator


def _adam(params, lr: float, cfg: TrainConfig):
    kw = dict(lr=lr, betas=(cfg.beta1, cfg.beta2))
    try:
        return torch.optim.Adam(params, fused=True, **kw)
    except (RuntimeError, TypeError):          # no fused kernel for this device
        return torch.optim.Adam(params, foreach=True, **kw)


class GAN:
    def __init__(self, cfg: TrainConfig, device: torch.device, compile: bool,
                 cuda_graphs: bool = False):
        self.cfg, self.device = cfg, device
        torch.manual_seed(cfg.seed)             # parameter init (and then D's dropout masks)
        self.G = Generator(cfg.model).to(device)
        self.D = Discriminator(cfg.model).to(device)
        self.opt_g = _adam(self.G.parameters(), cfg.g_lr, cfg)
        self.opt_d = _adam(self.D.parameters(), cfg.d_lr, cfg)
        self.G_ema = None
        if cfg.ema_decay > 0:
            self.G_ema = copy.deepcopy(self.G).requires_grad_(False).eval()
        self.ema_steps = 0
        self._ema_pairs = ((list(self.G_ema.parameters()), list(self.G.parameters()))
                           if self.G_ema is not None else None)       # built once, not per step
        self.noise = torch.Generator(device=device)
        self.noise.manual_seed(cfg.seed + 1)
        self.shared = cfg.share_g_forward
        if self.shared and cfg.k != 1:
            raise ValueError("share_g_forward needs k = 1")
        if cuda_graphs and not (compile and device.type == "cuda"):
            raise ValueError("cuda_graphs needs compile=True on a CUDA device")
        fns = ["_g_fake", "_d_on_fake", "_g_on_fake"] if self.shared else ["_d_forward", "_g_forward"]
        for name in fns:
            fn = getattr(self, name)
            if compile:
                # reduce-overhead: CUDA-graph trees record the compiled forward and backward
                # once and replay them. Each step's inputs (real, z) are copied into the
                # recorded buffers; the parameters, updated in place by Adam, are static; the
                # stats a step returns are consumed by the caller before the next replay.
                fn = torch.compile(fn, fullgraph=True,
                                   mode="reduce-overhead" if cuda_graphs else None)
            setattr(self, name + "_fn", fn)

    @property
    def sampler(self) -> Generator:
        """The generator that samples, grids and evaluation use: the average when kept."""
        return self.G_ema if self.G_ema is not None else self.G

    def z(self, n: int) -> torch.Tensor:
        return torch.randn(n, self.cfg.model.latent_dim, generator=self.noise,
                           device=self.device)

    def eps(self, n: int, std: float):
        """Instance noise for n inputs of D, or None when std is 0."""
        if std <= 0:
            return None
        return std * torch.randn(n, self.cfg.model.image_dim, generator=self.noise,
                                 device=self.device)

    # -- the traced functions: forward + loss, returning (loss, stats) --
    def _d_on_fake(self, real, fake, eps):
        x = torch.cat([real, fake])                            # [2B, 784]
        if eps is not None:
            x = x + eps
        logits = self.D(x)                                     # [2B, 1]
        b = real.shape[0]
        loss, p_real, p_fake = d_loss(logits[:b], logits[b:], self.cfg.real_label)
        return loss, torch.stack([loss.detach(), p_real, p_fake])

    def _d_forward(self, real, z, eps):
        with torch.no_grad():
            fake = self.G(z)                                   # [B, 784]
        return self._d_on_fake(real, fake, eps)

    def _g_on_fake(self, fake, eps):
        loss, p_fake = g_loss(self.D(fake if eps is None else fake + eps), self.cfg.g_loss)
        return loss, torch.stack([loss.detach(), p_fake])

    def _g_forward(self, z, eps):
        return self._g_on_fake(self.G(z), eps)

    def _g_fake(self, z):
        return self.G(z)

    # -- the steps --
    def d_step(self, real: torch.Tensor, noise_std: float = 0.0) -> torch.Tensor:
        """One discriminator update on a real batch; returns [d_loss, D(x), D(G(z))]."""
        b = real.shape[0]
        self.opt_d.zero_grad(set_to_none=True)
        z = self.z(b)
        loss, stats = self._d_forward_fn(real, z, self.eps(2 * b, noise_std))
        loss.backward()
        self.opt_d.step()
        return stats

    def g_step(self, batch_size: int, noise_std: float = 0.0) -> torch.Tensor:
        """One generator update through a frozen D; returns [g_loss, D(G(z))]."""
        z = self.z(batch_size)
        return self._g_update(lambda: self._g_forward_fn(z, self.eps(batch_size, noise_std)))

    def shared_step(self, real: torch.Tensor, noise_std: float = 0.0):
        """A D step and a G step on one G forward (k = 1); returns (D stats, G stats)."""
        b = real.shape[0]
        self.opt_d.zero_grad(set_to_none=True)
        fake = self._g_fake_fn(self.z(b))                      # [B, 784], G's graph kept
        loss, d_stats = self._d_on_fake_fn(real, fake.detach(), self.eps(2 * b, noise_std))
        loss.backward()
        self.opt_d.step()
        eps = self.eps(b, noise_std)
        return d_stats, self._g_update(lambda: self._g_on_fake_fn(fake, eps))

    def _g_update(self, forward) -> torch.Tensor:
        self.opt_g.zero_grad(set_to_none=True)
        self.D.requires_grad_(False)                           # no dW for D in this backward
        try:
            loss, stats = forward()
            loss.backward()
        finally:
            self.D.requires_grad_(True)
        self.opt_g.step()
        self.update_ema()
        return stats

    def set_lr_scale(self, scale: float) -> None:
        """Both learning rates at scale x their configured values (host floats: no sync)."""
        for opt, lr in ((self.opt_d, self.cfg.d_lr), (self.opt_g, self.cfg.g_lr)):
            for group in opt.param_groups:
                group["lr"] = lr * scale

    @torch.no_grad()
    def update_ema(self) -> None:
        if self.G_ema is None:
            return
        t = self.ema_steps
        decay = min(self.cfg.ema_decay, (1 + t) / (10 + t))
        torch._foreach_lerp_(*self._ema_pairs, 1 - decay)
        self.ema_steps += 1

    # -- state, for checkpoints --
    def state_dict(self) -> dict:
        state = {"G": self.G.state_dict(), "D": self.D.state_dict(),
                 "opt_g": self.opt_g.state_dict(), "opt_d": self.opt_d.state_dict(),
                 "noise": self.noise.get_state(), "rng": torch.get_rng_state(),
                 "ema_steps": self.ema_steps}
        if self.G_ema is not None:
            state["G_ema"] = self.G_ema.state_dict()
        if self.device.type == "cuda":
            state["cuda_rng"] = torch.cuda.get_rng_state(self.device)
        return state

    def load_state_dict(self, state: dict) -> None:
        self.G.load_state_dict(state["G"])
        self.D.load_state_dict(state["D"])
        self.opt_g.load_state_dict(state["opt_g"])
        self.opt_d.load_state_dict(state["opt_d"])
        noise = state["noise"]
        if noise.numel() == self.noise.get_state().numel():
            self.noise.set_state(noise)
        else:   # saved on another device type (CPU and CUDA generators differ): a fresh stream
            self.noise.manual_seed(self.cfg.seed + 1 + 1_000_003 * int(state.get("step", 0)))
        if "rng" in state:
            torch.set_rng_state(state["rng"])       # the CPU generator: D's dropout on the CPU
        if self.device.type == "cuda" and "cuda_rng" in state:
            torch.cuda.set_rng_state(state["cuda_rng"], self.device)
        self.ema_steps = state.get("ema_steps", 0)
        if self.G_ema is not None:
            self.G_ema.load_state_dict(state.get("G_ema", state["G"]))

    def parameters_finite(self) -> bool:
        params = [p for m in (self.G, self.D) for p in m.parameters()]
        return bool(torch.stack([torch.isfinite(p).all() for p in params]).all())

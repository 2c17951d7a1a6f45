"""The GAN being trained: G, D, their Adam optimizers, and the two steps of Algorithm 1.

A D step draws z, computes G(z) without a graph, runs D once over [real; fake] and minimizes
BCE(D(x), 1) + BCE(D(G(z)), 0). A G step draws z and minimizes the generator loss through a
frozen D. The forward of each (and, through AOTAutograd, its backward) is one function that
torch.compile(fullgraph=True) traces when compile is on (and, with cuda_graphs, replays as CUDA
graphs); the optimizer step is PyTorch's fused
(or foreach) Adam. Nothing here reads a value back to the host: each step returns its
statistics as a device tensor that the caller accumulates.
"""
import torch

from fastgan.config import TrainConfig
from fastgan.losses import d_loss, g_loss
from fastgan.models import Discriminator, Generator


def _adam(params, cfg: TrainConfig, device: torch.device):
    kw = dict(lr=cfg.lr, betas=(cfg.beta1, cfg.beta2))
    try:
        return torch.optim.Adam(params, fused=True, **kw)
    except (RuntimeError, TypeError):          # no fused kernel for this device
        return torch.optim.Adam(params, foreach=True, **kw)


class GAN:
    def __init__(self, cfg: TrainConfig, device: torch.device, compile: bool,
                 cuda_graphs: bool = False):
        self.cfg, self.device = cfg, device
        torch.manual_seed(cfg.seed)             # parameter init
        self.G = Generator(cfg.model).to(device)
        self.D = Discriminator(cfg.model).to(device)
        self.opt_g = _adam(self.G.parameters(), cfg, device)
        self.opt_d = _adam(self.D.parameters(), cfg, device)
        self.noise = torch.Generator(device=device)
        self.noise.manual_seed(cfg.seed + 1)
        self._d_fwd, self._g_fwd = self._d_forward, self._g_forward
        if cuda_graphs and not (compile and device.type == "cuda"):
            raise ValueError("cuda_graphs needs compile=True on a CUDA device")
        if compile:
            # reduce-overhead: CUDA-graph trees record the compiled forward and backward once
            # and replay them. Each step's inputs (real, z) are copied into the recorded
            # buffers; the parameters, updated in place by Adam, are static; the stats a step
            # returns are consumed by the caller before the next step replays over them.
            mode = "reduce-overhead" if cuda_graphs else None
            self._d_fwd = torch.compile(self._d_forward, fullgraph=True, mode=mode)
            self._g_fwd = torch.compile(self._g_forward, fullgraph=True, mode=mode)

    def z(self, n: int) -> torch.Tensor:
        return torch.randn(n, self.cfg.model.latent_dim, generator=self.noise,
                           device=self.device)

    # -- the traced functions: forward + loss, returning (loss, stats) --
    def _d_forward(self, real, z):
        with torch.no_grad():
            fake = self.G(z)                                   # [B, 784]
        logits = self.D(torch.cat([real, fake]))               # [2B, 1]
        b = real.shape[0]
        loss, p_real, p_fake = d_loss(logits[:b], logits[b:], self.cfg.real_label)
        return loss, torch.stack([loss.detach(), p_real, p_fake])

    def _g_forward(self, z):
        loss, p_fake = g_loss(self.D(self.G(z)), self.cfg.g_loss)
        return loss, torch.stack([loss.detach(), p_fake])

    # -- the steps --
    def d_step(self, real: torch.Tensor) -> torch.Tensor:
        """One discriminator update on a real batch; returns [d_loss, D(x), D(G(z))]."""
        self.opt_d.zero_grad(set_to_none=True)
        loss, stats = self._d_fwd(real, self.z(real.shape[0]))
        loss.backward()
        self.opt_d.step()
        return stats

    def g_step(self, batch_size: int) -> torch.Tensor:
        """One generator update through a frozen D; returns [g_loss, D(G(z))]."""
        self.opt_g.zero_grad(set_to_none=True)
        self.D.requires_grad_(False)                           # no dW for D in this backward
        try:
            loss, stats = self._g_fwd(self.z(batch_size))
            loss.backward()
        finally:
            self.D.requires_grad_(True)
        self.opt_g.step()
        return stats

    # -- state, for checkpoints --
    def state_dict(self) -> dict:
        return {"G": self.G.state_dict(), "D": self.D.state_dict(),
                "opt_g": self.opt_g.state_dict(), "opt_d": self.opt_d.state_dict(),
                "noise": self.noise.get_state()}

    def load_state_dict(self, state: dict) -> None:
        self.G.load_state_dict(state["G"])
        self.D.load_state_dict(state["D"])
        self.opt_g.load_state_dict(state["opt_g"])
        self.opt_d.load_state_dict(state["opt_d"])
        self.noise.set_state(state["noise"])

    def parameters_finite(self) -> bool:
        params = [p for m in (self.G, self.D) for p in m.parameters()]
        return bool(torch.stack([torch.isfinite(p).all() for p in params]).all())

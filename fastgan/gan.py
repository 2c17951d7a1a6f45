"""The GANs being trained: E members of one shape, stacked (a single run is E = 1). G, D, their
Adam optimizers, the two steps of Algorithm 1, and a moving average of G's weights.

Every tensor of the state has a leading member axis; each step is one call of each op for all
members. Member e has its own config (seed, learning rates, betas, schedule, real label, kind of
G loss, dropout rates, instance noise, average decay), held as per-member tensors or host floats,
and its own random streams (fastgan.streams), so what it computes depends on nothing the other
members do.

A D step draws z, computes G(z) without a graph, runs D once over [real; fake] and minimizes
BCE(D(x), label) + BCE(D(G(z)), 0). A G step draws z and minimizes the generator loss through a
frozen D (with top-k, over the fakes D rates highest). With share_g_forward (k = 1 only) one G
forward on one z serves both: the G step, after D's update, backpropagates through the updated
D into the kept G graph (G's weights have not changed in between, so that graph is exact).
Spectral normalization runs one power iteration of D's layers per D step; instance noise adds
the member's Gaussian noise to every input D sees. On counted streams (CUDA) z and D's dropout
bits are draws left to the kernels that read them (fastgan.models); elsewhere they are made.

The forward of each step (and, through AOTAutograd, its backward) is one function of tensors
that torch.compile(fullgraph=True) traces when compile is on (the whole step's CUDA graph is
fastgan.graphs'). The optimizer is fastgan.optim's MemberAdam (PyTorch's fused Adam over each
member's slices) and the average MemberEMA. Nothing here reads a value back to the host: each
update adds its statistics [E, .] to a device buffer (fastgan.losses' step forms).
"""
import torch

from fastgan.config import TrainConfig, group_key
from fastgan.io.checkpoint import dense_keys
from fastgan.losses import G_LOSSES, d_loss_step, g_loss_step
from fastgan.models import Discriminator, Generator
from fastgan.optim import MemberAdam, MemberEMA
from fastgan.schedules import DeviceSchedule, lr_factor, schedule_key
from fastgan.streams import Streams, generator


def _per_member(values, device):
    """One float for all members when they agree (a scalar argument), else a tensor [E]."""
    values = [float(v) for v in values]
    if all(v == values[0] for v in values):
        return values[0]
    return torch.tensor(values, device=device)


class GAN:
    def __init__(self, cfgs, device: torch.device, compile: bool):
        """cfgs: one TrainConfig or a list of them that agree on config.SHAPE (one group)."""
        self.cfgs = [cfgs] if isinstance(cfgs, TrainConfig) else list(cfgs)
        if len({group_key(c) for c in self.cfgs}) != 1:
            raise ValueError("members of one GAN must agree on their shapes (config.SHAPE)")
        self.cfg, self.device, self.members = self.cfgs[0], device, len(self.cfgs)
        self.compile = compile
        cfgs, model, E = self.cfgs, self.cfgs[0].model, len(self.cfgs)
        inits = [generator(c.seed, "init") for c in cfgs]       # on the CPU: any device alike
        self.G = Generator(model, E, inits).to(device)
        self.D = Discriminator(model, E, inits, [c.model.d_input_dropout for c in cfgs],
                               [c.model.d_dropout for c in cfgs]).to(device)
        schedules = [schedule_key(c) for c in cfgs]
        self.opt_g = MemberAdam(self.G.parameters(), [c.g_lr for c in cfgs],
                                [(c.beta1, c.beta2) for c in cfgs], schedules)
        self.opt_d = MemberAdam(self.D.parameters(), [c.d_lr for c in cfgs],
                                [(c.beta1, c.beta2) for c in cfgs], schedules)
        self.lr_scales = [1.0] * E
        self.G_ema, self.ema = None, None
        if any(c.ema_decay > 0 for c in cfgs):
            self.G_ema = Generator(model, E, None).to(device).requires_grad_(False).eval()
            self.G_ema.load_state_dict(self.G.state_dict())
            self.ema = MemberEMA(self.G_ema, self.G, [c.ema_decay for c in cfgs],
                                 [c.ema_start for c in cfgs])
        self.streams = Streams([c.seed for c in cfgs], device)
        self.real_label = _per_member([c.real_label for c in cfgs], device)
        self.g_target = _per_member([G_LOSSES[c.g_loss][0] for c in cfgs], device)
        sign = _per_member([G_LOSSES[c.g_loss][1] for c in cfgs], device)
        self.g_sign = None if isinstance(sign, float) and sign == 1.0 else sign
        self.noise_std = [c.instance_noise for c in cfgs]
        self.noise_std_t = torch.tensor(self.noise_std, dtype=torch.float64, device=device)
        self.varying_lr = any(c.lr_schedule != "constant" or c.lr_warmup > 0 for c in cfgs)
        self.schedule = None         # on the CUDA path: the changing numbers on the device
        self.shared = self.cfg.share_g_forward
        if self.shared and self.cfg.k != 1:
            raise ValueError("share_g_forward needs k = 1")
        # The traced functions, compiled when compile is on (in the default mode: a whole-step
        # CUDA graph, fastgan.graphs, captures their kernels with the rest of the step).
        def compiled(fn):
            return torch.compile(fn, fullgraph=True) if compile else fn
        if self.shared:
            self._g_fake_fn = compiled(self._g_fake)
            self._d_on_fake_fn = compiled(self._d_on_fake)
            self._g_on_fake_fn = compiled(self._g_on_fake)
        else:
            self._d_forward_fn = compiled(self._d_forward)
            self._g_forward_fn = compiled(self._g_forward)

    @property
    def sampler(self) -> Generator:
        """The generator that samples, grids and evaluation use: the average when kept (a
        member without one has an exact copy of its G there)."""
        return self.G_ema if self.G_ema is not None else self.G

    # -- each member's random draws, from its own streams --
    @property
    def _later(self) -> bool:
        """Whether draws are left to the kernels that read them (counted streams: z inside G's
        first layer, D's dropout bits inside D's layers), not made first; not while compiling on
        the CPU, which runs the reference there and no Triton at all."""
        return self.streams.counted and not (self.compile and self.device.type == "cpu")

    def z(self, n: int):
        """[E, n, latent] of N(0, 1): a tensor, or a NormalDraw G's first layer computes."""
        latent = self.cfg.model.latent_dim
        return (self.streams.normal_draw(n, latent) if self._later else
                self.streams.normal(n, latent))

    def eps(self, n: int, scale: float = 1.0):
        """Instance noise [E, n, 784] of each member's std times scale (its annealing), or
        None when no member has any."""
        if not any(s > 0 for s in self.noise_std) or scale <= 0:
            self.streams.skip("noise")
            return None
        std = ([s * scale for s in self.noise_std] if self.schedule is None else   # host floats
               (self.noise_std_t * self.schedule.noise_left()).float())  # on the device
        return self.streams.normal(n, self.cfg.model.image_dim, scale=std)

    def masks(self, rows: int):
        """The random bits of D's dropout sites for one forward over rows inputs per member
        (a member draws only where it drops units), or None without dropout."""
        bits = []
        for site in self.D.all_sites:          # every site, so counted streams number alike
            if site.active:
                bits.append(self.streams.bit_draw() if self._later else
                            self.streams.bits(rows, site.width, site.drops))
            else:
                self.streams.skip("masks")
        return bits or None

    # -- the traced functions: forward + loss, adding the update's statistics to `into` and
    # returning (root, grad) for root.backward(grad) (fastgan.losses' step forms) --
    def _d_on_fake(self, real, fake, eps, masks, into):
        x = torch.cat([real, fake], 1)                         # [E, 2B, 784]
        if eps is not None:
            x = x + eps
        logits = self.D(x, masks)                              # [E, 2B, 1]
        return d_loss_step(logits, real.shape[1], self.real_label, into)   # into [E, 3]

    def _d_forward(self, real, z, eps, masks, into):
        with torch.no_grad():
            fake = self.G(z)                                   # [E, B, 784]
        return self._d_on_fake(real, fake, eps, masks, into)

    def _g_on_fake(self, fake, eps, masks, into, topk=None):
        logits = self.D(fake if eps is None else fake + eps, masks)          # [E, B, 1]
        return g_loss_step(logits, self.g_target, self.g_sign, into, topk)  # into [E, 2]

    def _g_forward(self, z, eps, masks, into, topk=None):
        return self._g_on_fake(self.G(z), eps, masks, into, topk)

    def _g_fake(self, z):
        return self.G(z)

    # -- the steps --
    # Each update adds its statistics to `into` (D: [E, 3], G: [E, 2]) and returns it.
    def _into(self, into, columns: int) -> torch.Tensor:
        return into if into is not None else torch.zeros(self.members, columns,
                                                         device=self.device)

    def d_step(self, real: torch.Tensor, noise_scale: float = 1.0,
               into: torch.Tensor | None = None) -> torch.Tensor:
        """One discriminator update of every member on its real batch [E, B, 784].
        noise_scale anneals the instance noise."""
        b, into = real.shape[1], self._into(into, 3)
        self.opt_d.zero_grad()
        self.D.power_iteration()                               # spectral norm's u, v (if on)
        z = self.z(b)
        root, grad = self._d_forward_fn(real, z, self.eps(2 * b, noise_scale),
                                        self.masks(2 * b), into)
        root.backward(grad)
        self.opt_d.step(self.lr_scales)
        return into

    def g_step(self, batch_size: int, noise_scale: float = 1.0, topk: int | None = None,
               into: torch.Tensor | None = None) -> torch.Tensor:
        """One generator update of every member through its frozen D. topk: the loss keeps
        only the topk fakes D rates highest (None: all)."""
        z, into = self.z(batch_size), self._into(into, 2)
        eps, masks = self.eps(batch_size, noise_scale), self.masks(batch_size)
        self._g_update(lambda: self._g_forward_fn(z, eps, masks, into, topk))
        return into

    def shared_step(self, real: torch.Tensor, noise_scale: float = 1.0,
                    topk: int | None = None, into_d=None, into_g=None):
        """A D step and a G step on one G forward (k = 1); returns (D stats, G stats)."""
        b, into_d, into_g = real.shape[1], self._into(into_d, 3), self._into(into_g, 2)
        self.opt_d.zero_grad()
        self.D.power_iteration()
        fake = self._g_fake_fn(self.z(b))                      # [E, B, 784], G's graph kept
        root, grad = self._d_on_fake_fn(real, fake.detach(), self.eps(2 * b, noise_scale),
                                        self.masks(2 * b), into_d)
        root.backward(grad)
        self.opt_d.step(self.lr_scales)
        eps, masks = self.eps(b, noise_scale), self.masks(b)
        self._g_update(lambda: self._g_on_fake_fn(fake, eps, masks, into_g, topk))
        return into_d, into_g

    def _g_update(self, forward) -> None:
        self.opt_g.zero_grad()
        self.D.requires_grad_(False)                           # no dW for D in this backward
        try:
            root, grad = forward()
            root.backward(grad)
        finally:
            self.D.requires_grad_(True)
        self.opt_g.step(self.lr_scales)
        self.update_ema()

    def set_lr_scales(self, step: int, total: int) -> None:
        """Each member's learning rates for the update at `step` of `total`: its schedule's
        factor (fastgan.schedules.lr_factor) on its configured values: host floats, or on the
        CUDA path (counted streams), where a schedule or instance noise changes them every
        step, a device tensor [E] (fastgan.schedules.DeviceSchedule)."""
        if self.streams.counted and (self.varying_lr or any(self.noise_std)):
            if self.schedule is None or self.schedule.total != total:
                self.schedule = DeviceSchedule(self.cfgs, total, self.device)
            self.schedule.place(step)
            if self.varying_lr:
                self.lr_scales = self.schedule.lr_factors()
                return
        self.lr_scales = [lr_factor(c, step, total) for c in self.cfgs]

    def host_numbers(self, step: int, total: int) -> tuple:
        """The numbers of the update at `step` that the host passes (what a captured graph
        would freeze): the learning-rate factors and the noise's annealing, unless on the
        device."""
        on_device = self.streams.counted
        lr = () if on_device else tuple(lr_factor(c, step, total) for c in self.cfgs)
        noise = 1 - step / total if any(self.noise_std) and not on_device else None
        return lr, noise

    def end_step(self) -> None:
        """After a whole step (its k D updates and its G update): the random streams' device
        counters advance (fastgan.streams), so each step launches its draws alike."""
        self.streams.end_step()
        if self.schedule is not None:
            self.schedule.advance()

    def update_ema(self) -> None:
        if self.ema is not None:
            self.ema.update()

    @property
    def ema_steps(self) -> int:
        return self.ema.steps if self.ema is not None else 0

    # -- state: one member's, in the checkpoint layout of a single run --
    def member_state(self, e: int) -> dict:
        def take(module):
            return {k: v[e].clone() for k, v in module.state_dict().items()}
        state = {"G": take(self.G), "D": take(self.D), "opt_g": self.opt_g.member_state(e),
                 "opt_d": self.opt_d.member_state(e), **self.streams.state(e),
                 "ema_steps": self.ema_steps}
        if self.cfgs[e].ema_decay > 0:
            state["G_ema"] = take(self.G_ema)
        return state

    @torch.no_grad()
    def load_member_state(self, e: int, state: dict) -> None:
        for name, module in (("G", self.G), ("D", self.D)):
            own = module.state_dict()
            for key, value in dense_keys(state[name], own).items():
                own[key][e].copy_(value)
        self.opt_g.load_member_state(e, state["opt_g"])
        self.opt_d.load_member_state(e, state["opt_d"])
        self.streams.load_state(e, state, int(state.get("step", 0)))
        if self.ema is not None:
            self.ema.steps = state.get("ema_steps", 0)
            own = self.G_ema.state_dict()
            for key, value in state.get("G_ema", state["G"]).items():
                own[key][e].copy_(value)

    def state_dict(self) -> dict:
        """A one-member GAN's state (a run's checkpoint)."""
        assert self.members == 1, "state_dict is one member's: use member_state(e)"
        return self.member_state(0)

    def load_state_dict(self, state: dict) -> None:
        assert self.members == 1, "load_state_dict is one member's: use load_member_state(e)"
        self.load_member_state(0, state)

    def finite(self) -> torch.Tensor:
        """[E] bool: every parameter of the member's G and D is finite."""
        params = [p for m in (self.G, self.D) for p in m.parameters()]
        return torch.stack([torch.isfinite(p).flatten(1).all(1) for p in params]).all(0)

    def subset(self, members) -> "GAN":
        """A GAN of the given members only (indices into this one), their states carried over:
        how a sweep drops a member that stopped."""
        members = list(members)
        out = GAN([self.cfgs[e] for e in members], self.device, self.compile)
        for i, e in enumerate(members):
            out.load_member_state(i, self.member_state(e))
        return out


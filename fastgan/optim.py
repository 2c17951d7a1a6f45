"""Adam and the moving average of G for E stacked members, each with its own hyperparameters.

MemberAdam: Adam (Kingma & Ba) over parameters with a leading member axis [E, ...], member e
with its own learning rate and betas. The update is PyTorch's own fused Adam kernel
(torch._fused_adam_, what torch.optim.Adam(fused=True) runs) over each member's slices of every
parameter: one call per distinct (lr, beta1, beta2) among the members (one call for a seed
sweep), each updating all its members' tensors; the kernel treats each tensor on its own, so a
member's update is the one torch.optim.Adam makes for it alone, bit for bit. Per step:
    m <- b1 m + (1 - b1) g,   v <- b2 v + (1 - b2) g^2,
    p <- p - lr / (1 - b1^t) * m / (sqrt(v) / sqrt(1 - b2^t) + eps)
Nothing reads a value back to the host: learning rates are host floats, the step counts [E]
stay on the device.

MemberEMA: ema <- ema + w (theta - ema), w = 1 - min(decay_e, (1 + t) / (10 + t)) at the t-th
update since the member's start (the warm-up keeps early averages from dwelling on the random
initial G): one fused foreach lerp per distinct (decay, start), w computed on the device from a
device count (no host number that changes per step; kernels.ema_weights, one launch for all).
Before its start (--ema-start G steps), and always for a member without an average (decay 0), w =
1: an exact copy of its G, so the stacked average is always the generator that samples.
"""
import torch

from fastgan.kernels.ema_weights import ema_weights_

EPS = 1e-8


def _groups(keys) -> dict:
    """{key: [member indices]} in first-seen order."""
    out = {}
    for e, key in enumerate(keys):
        out.setdefault(key, []).append(e)
    return out


class MemberAdam:
    def __init__(self, params, lrs, betas, schedules=None):
        """params: stacked tensors [E, ...]; lrs: E floats; betas: E pairs (beta1, beta2);
        schedules: E keys of learning-rate schedules (fastgan.schedules.schedule_key: members on
        one schedule get one scale per step)."""
        self.params = list(params)
        E = self.params[0].shape[0]
        self.lrs, self.betas = [float(v) for v in lrs], [tuple(map(float, b)) for b in betas]
        schedules = list(schedules) if schedules is not None else ["constant"] * E
        assert len(self.lrs) == len(self.betas) == len(schedules) == E
        self.exp_avg = [torch.zeros_like(p, memory_format=torch.contiguous_format)
                        for p in self.params]
        self.exp_avg_sq = [torch.zeros_like(p, memory_format=torch.contiguous_format)
                           for p in self.params]
        self.steps = torch.zeros(E, dtype=torch.float32, device=self.params[0].device)
        # per group of one (lr, betas, schedule): its members' slices, built once (the
        # gradients' slices are taken per step: backward makes new gradient tensors)
        self.groups = [(members, self.lrs[members[0]], self.betas[members[0]],
                        [p.detach()[e] for e in members for p in self.params],
                        [m[e] for e in members for m in self.exp_avg],
                        [v[e] for e in members for v in self.exp_avg_sq],
                        [self.steps[e] for e in members for _ in self.params])
                       for members in _groups(zip(self.lrs, self.betas, schedules)).values()]

    def zero_grad(self) -> None:
        for p in self.params:
            p.grad = None

    @torch.no_grad()
    def step(self, lr_scales=None) -> None:
        """One update of every member; lr_scales: E host floats multiplying the learning rates
        (a schedule's factor, the same for the members of one schedule), or a device tensor [E]
        of them (fastgan.schedules.DeviceSchedule), else 1."""
        self.steps.add_(1)
        for members, lr, (b1, b2), params, exp_avg, exp_avg_sq, steps in self.groups:
            grads = [p.grad[e] for e in members for p in self.params]
            scale = lr_scales[members[0]] if lr_scales is not None else 1.0
            step_lr = lr * scale                 # a host float, or a device tensor
            if isinstance(step_lr, torch.Tensor):
                step_lr = step_lr.float()        # what CUDA's fused kernel reads (float32)
            torch._fused_adam_(params, grads, exp_avg, exp_avg_sq, [], steps, lr=step_lr,
                               beta1=b1, beta2=b2, weight_decay=0.0, eps=EPS, amsgrad=False,
                               maximize=False)

    # -- one member's state, in torch.optim.Adam's state_dict format --
    def member_state(self, e: int) -> dict:
        group = torch.optim.Adam([torch.zeros(1)], lr=self.lrs[e], betas=self.betas[e],
                                 eps=EPS).state_dict()["param_groups"][0]
        group["params"] = list(range(len(self.params)))
        return {"state": {i: {"step": self.steps[e].clone(), "exp_avg": self.exp_avg[i][e].clone(),
                              "exp_avg_sq": self.exp_avg_sq[i][e].clone()}
                          for i in range(len(self.params))},
                "param_groups": [group]}

    @torch.no_grad()
    def load_member_state(self, e: int, state: dict) -> None:
        saved = state["state"]
        if not saved:                                  # saved before the first step
            self.steps[e] = 0
            return
        for i in range(len(self.params)):
            self.exp_avg[i][e].copy_(saved[i]["exp_avg"])
            self.exp_avg_sq[i][e].copy_(saved[i]["exp_avg_sq"])
        self.steps[e] = float(saved[0]["step"])


class MemberEMA:
    def __init__(self, average, model, decays, starts=None):
        """average, model: stacked modules of one shape (the average starts as a copy of model);
        decays: E floats (0: that member keeps no average; the copy follows its model); starts:
        E counts of updates that copy before the average begins (default 0)."""
        self.decays = [float(d) for d in decays]
        starts = [int(s) for s in starts] if starts is not None else [0] * len(self.decays)
        avg, src = list(average.parameters()), list(model.parameters())
        self.groups = {key: ([a[e] for e in m for a in avg],
                             [p.detach()[e] for e in m for p in src])
                       for key, m in _groups(zip(self.decays, starts)).items()}
        # the update count on the device, so the weight of each update is computed there: a
        # host float that changed every step would be frozen into a captured graph
        self._t = torch.zeros((), dtype=torch.float64, device=avg[0].device)
        self._steps = 0
        averaged = [key for key in self.groups if key[0]]           # (decay, start), decay > 0
        self._averaged = bool(averaged)
        self._decays, self._starts = (torch.tensor(v, dtype=torch.float64, device=self._t.device)
                                      for v in ([d for d, _ in averaged], [s for _, s in averaged]))

    @property
    def steps(self) -> int:
        """Updates so far (a host count kept beside the device one: checkpoints read it)."""
        return self._steps

    @steps.setter
    def steps(self, value: int) -> None:
        self._steps = int(value)
        self._t.fill_(self._steps)

    @staticmethod
    def weight(decay: float, start: int, steps: int) -> float:
        """w of the update after `steps` earlier ones (host arithmetic, as the device's)."""
        t = steps - start
        return 1.0 - min(decay, (1 + t) / (10 + t)) if decay and t >= 0 else 1.0

    @torch.no_grad()
    def update(self) -> None:
        # the weights of the averaged groups from the device count, which advances (one
        # launch where Triton runs: kernels.ema_weights)
        w = ema_weights_(self._t, self._decays, self._starts) if self._averaged else None
        i = 0
        for (decay, start), (avg, src) in self.groups.items():
            if decay == 0:                   # no average: an exact copy, a constant weight
                torch._foreach_lerp_(avg, src, 1.0)
                continue
            # expanded per tensor: a 0-d tensor weight would be read back to the host
            torch._foreach_lerp_(avg, src, [w[i].expand(a.shape) for a in avg])
            i += 1
        if not self._averaged:
            self._t += 1
        self._steps += 1

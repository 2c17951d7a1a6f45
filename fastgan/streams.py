"""Each member's random streams, seeded from its own seed alone.

A member's seed s gives one torch.Generator per use, seeded by NumPy's SeedSequence([s, use]),
which mixes the pair into unrelated 64-bit seeds (no two members, nor two uses of one member,
share a stream, as s + 1 and (s + 1) + 0 would):
    init    parameter initialization (G, then D)
    data    the minibatch order: one permutation per epoch, SeedSequence([s, data, epoch])
    noise   z for every D and G step, and instance noise
    masks   D's dropout masks (16 random bits per unit)
    grid    the fixed z of the sample grids (on the CPU, so every device shows the same)
    eval    the z of each evaluation's 10k samples (on the CPU)
What member e draws depends on its generators alone, never on the other members; the draws of
one step are one call per member and stream (torch.Generator is one stream per object: this is
the one place the step loops over members).
"""
import numpy as np
import torch

USES = {"init": 0, "data": 1, "noise": 2, "masks": 3, "grid": 4, "eval": 5}


def stream_seed(seed: int, use: str, *more: int) -> int:
    """A 63-bit seed for one use of one member's seed (and e.g. an epoch)."""
    state = np.random.SeedSequence([seed, USES[use], *more]).generate_state(2, np.uint32)
    return int(state[0]) << 31 | int(state[1]) >> 1


def generator(seed: int, use: str, *more: int, device="cpu") -> torch.Generator:
    return torch.Generator(device=device).manual_seed(stream_seed(seed, use, *more))


class Streams:
    """The noise and mask generators of E members on a device; draws come back stacked [E, ...]."""

    def __init__(self, seeds, device):
        self.seeds, self.device = list(seeds), torch.device(device)
        self.noise = [generator(s, "noise", device=self.device) for s in self.seeds]
        self.masks = [generator(s, "masks", device=self.device) for s in self.seeds]

    def normal(self, *shape, scale=None) -> torch.Tensor:
        """[E, *shape] of N(0, 1) from each member's noise stream; with scale (a list of E
        floats), scale[e] * N(0, 1), and zeros (nothing drawn) where scale[e] is 0."""
        out = torch.empty(len(self.seeds), *shape, device=self.device)
        for e, gen in enumerate(self.noise):
            if scale is None:
                out[e].normal_(generator=gen)
            elif scale[e] > 0:
                out[e].normal_(0.0, scale[e], generator=gen)
            else:
                out[e].zero_()
        return out

    def bits(self, rows: int, width: int, draw=None) -> torch.Tensor:
        """int16 [E, rows, width] of uniform random bits from each member's mask stream (one
        full-range int64 draw per 4 units); draw: E bools, whose False members draw nothing
        (their rows are left unset: the caller must not read them)."""
        n = rows * width
        words = torch.empty(len(self.seeds), (n + 3) // 4, dtype=torch.int64, device=self.device)
        for e, gen in enumerate(self.masks):
            if draw is None or draw[e]:
                words[e].random_(-2 ** 63, None, generator=gen)
        return words.view(torch.int16)[:, :n].view(len(self.seeds), rows, width)

    # -- state, per member --
    def state(self, e: int) -> dict:
        return {"noise": self.noise[e].get_state(), "masks": self.masks[e].get_state()}

    def load_state(self, e: int, state: dict, step: int = 0) -> None:
        """A member's generators from its checkpoint. A state saved on another device type (CPU
        and CUDA generators differ) or before the mask stream existed: a fresh stream, seeded
        from the step as well."""
        for name in ("noise", "masks"):
            gen, saved = getattr(self, name)[e], state.get(name)
            if saved is not None and saved.numel() == gen.get_state().numel():
                gen.set_state(saved)
            else:
                gen.manual_seed(stream_seed(self.seeds[e], name, step))

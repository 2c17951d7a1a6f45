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
What member e draws depends on its own streams alone, never on the other members.

On the CPU each stream is a torch.Generator, so a draw is one call per member (a generator is
one stream per object: the one place a step loops over members), and a member that needs no
draw (a dropout rate or noise of 0) makes none. On CUDA each stream is a counter-based Philox
stream keyed by the same seed (fastgan.kernels.member_random): a draw is one launch for all
members, numbered by a counter that advances once per draw slot of the step, drawn or skipped,
so the numbering, and with it every member's numbers, is the same alone or in any group. The
kernels read a draw's number as a device counter (the count at the step's start) plus the
draw's place in the step; `end_step` advances the counter on the device, so every step launches
its draws with the same arguments (what a captured CUDA graph replays).
"""
import math

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
    """The noise and mask streams of E members on a device; draws come back stacked [E, ...]."""

    def __init__(self, seeds, device, counted: bool | None = None):
        """counted: Philox streams (default: on CUDA; the tests also run them in Triton's
        interpreter on the CPU)."""
        self.seeds, self.device = list(seeds), torch.device(device)
        self.counted = self.device.type == "cuda" if counted is None else counted
        if self.counted:                   # Philox keys [E] and a draw counter per use
            self.keys = {use: torch.tensor([stream_seed(s, use) for s in self.seeds],
                                           dtype=torch.int64, device=self.device)
                         for use in ("noise", "masks")}
            self.draws = {"noise": 0, "masks": 0}          # draws so far (host: checkpoints)
            # the counts at the step's start: one tensor, so one add advances both
            self._bases = torch.zeros(len(self.draws), dtype=torch.int64, device=self.device)
            self._base = {use: self._bases[i:i + 1] for i, use in enumerate(self.draws)}
            self._at_base = dict(self.draws)
            self._advance = {}                              # counts -> device increment
        else:
            self.noise = [generator(s, "noise", device=self.device) for s in self.seeds]
            self.masks = [generator(s, "masks", device=self.device) for s in self.seeds]

    def _next(self, use: str) -> int:
        """The next draw's place after the step's base count (its number: base + place)."""
        place = self.draws[use] - self._at_base[use]
        self.draws[use] += 1
        return place

    def end_step(self) -> None:
        """Folds this step's draws into the device counters (one add per use, by the same
        increment every step), so the next step's draws take the same places again."""
        if not self.counted:
            return
        counts = tuple(self.draws[use] - self._at_base[use] for use in self._base)
        if any(counts):
            inc = self._advance.get(counts)
            if inc is None:                        # once: the step's counts of draws
                inc = self._advance[counts] = torch.tensor(counts, dtype=torch.int64,
                                                           device=self.device)
            self._bases += inc
        self._at_base = dict(self.draws)

    def skip(self, use: str) -> None:
        """A draw slot no member of this group needs: counted streams number it all the same."""
        if self.counted:
            self._next(use)

    def normal(self, *shape, scale=None) -> torch.Tensor:
        """[E, *shape] of N(0, 1) from each member's noise stream; with scale (a list of E
        floats, or on counted streams a float32 tensor [E]), scale[e] * N(0, 1), and zeros where
        scale[e] is 0 (on the CPU nothing drawn)."""
        E = len(self.seeds)
        if self.counted:
            from fastgan.kernels.member_random import member_normal
            n = math.prod(shape)
            factor = (scale if scale is None or isinstance(scale, torch.Tensor) else   # [E]
                      torch.tensor(scale, dtype=torch.float32).to(self.device, non_blocking=True))
            place = self._next("noise")
            return member_normal(self.keys["noise"], self._base["noise"], n, factor,
                                 offset=place).view(E, *shape)
        out = torch.empty(E, *shape, device=self.device)
        for e, gen in enumerate(self.noise):
            if scale is None:
                out[e].normal_(generator=gen)
            elif scale[e] > 0:
                out[e].normal_(0.0, scale[e], generator=gen)
            else:
                out[e].zero_()
        return out

    def bits(self, rows: int, width: int, draw=None) -> torch.Tensor:
        """int16 [E, rows, width] of uniform random bits from each member's mask stream; draw:
        E bools, whose False members need none (on the CPU they draw nothing and their rows are
        left unset: the caller must not read them)."""
        E, n = len(self.seeds), rows * width
        if self.counted:
            from fastgan.kernels.member_random import member_bits
            place = self._next("masks")
            return member_bits(self.keys["masks"], self._base["masks"], n,
                               offset=place).view(E, rows, width)
        words = torch.empty(E, (n + 3) // 4, dtype=torch.int64, device=self.device)
        for e, gen in enumerate(self.masks):        # one full-range int64 per 4 units
            if draw is None or draw[e]:
                words[e].random_(-2 ** 63, None, generator=gen)
        return words.view(torch.int16)[:, :n].view(E, rows, width)

    def normal_draw(self, rows: int, width: int):
        """Counted streams: the next noise draw [E, rows, width] of N(0, 1), not made
        (kernels.member_random.NormalDraw): G's first layer computes it where it reads it."""
        from fastgan.kernels.member_random import NormalDraw
        return NormalDraw(self.keys["noise"], self._base["noise"], self._next("noise"), rows,
                          width)

    def bit_draw(self):
        """Counted streams: the next mask draw, not made (kernels.member_random.BitDraw): a
        kernel computes its bits where it reads them (fastgan.models.Discriminator)."""
        from fastgan.kernels.member_random import BitDraw
        return BitDraw(self.keys["masks"], self._base["masks"], self._next("masks"))

    # -- state, per member --
    def state(self, e: int) -> dict:
        if self.counted:
            return {f"{use}_draw": torch.tensor(d) for use, d in self.draws.items()}
        return {"noise": self.noise[e].get_state(), "masks": self.masks[e].get_state()}

    def load_state(self, e: int, state: dict, step: int = 0) -> None:
        """A member's streams from its checkpoint. A state of another kind of stream (saved on
        another device type, or before the mask stream existed): a fresh stream, seeded from
        the step as well."""
        for use in ("noise", "masks"):
            if self.counted:
                if f"{use}_draw" in state:
                    self.draws[use] = int(state[f"{use}_draw"])
                else:
                    self.keys[use][e] = stream_seed(self.seeds[e], use, step)
                    self.draws[use] = 0
                self._base[use].fill_(self.draws[use])     # the counter, set from the host
                self._at_base[use] = self.draws[use]      # outside any step
                continue
            gen, saved = getattr(self, use)[e], state.get(use)
            if saved is not None and saved.numel() == gen.get_state().numel():
                gen.set_state(saved)
            else:
                gen.manual_seed(stream_seed(self.seeds[e], use, step))

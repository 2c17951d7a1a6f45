"""Pure-PyTorch reference of member_random: Triton's Philox4x32-10 in int64 tensor ops.

For member e (key = seeds[e], k0 its low and k1 its high 32 bits) and counters (c0, c1, c2, c3)
= (position i, draw, 0, 0), ten rounds of
    c0, c1, c2, c3 = hi(B c2) ^ c1 ^ k0,  lo(B c2),  hi(A c0) ^ c3 ^ k1,  lo(A c0)
    k0, k1 = k0 + 0x9E3779B9, k1 + 0xBB67AE85          (all mod 2^32)
with A = 0xD2511F53, B = 0xCD9E8D57, give the four words of position i (tl.randint4x). 32 x 32
bit products are split in 16-bit halves so no int64 overflows. Normals are Box-Muller of the
first two words as tl.randn forms them. The tests' truth; slow (about 40 tensor ops a round).
"""
import math

import torch

M32 = 0xFFFFFFFF
A, B = 0xD2511F53, 0xCD9E8D57
KEY_A, KEY_B = 0x9E3779B9, 0xBB67AE85


def _mulhilo(a: int, b: torch.Tensor):
    """(hi, lo) 32-bit halves of a * b for a constant a and uint32 values b (in int64)."""
    b_lo, b_hi = b & 0xFFFF, b >> 16
    p_lo, p_hi = a * b_lo, a * b_hi                  # each < 2^48
    lo = (p_lo + ((p_hi & 0xFFFF) << 16)) & M32
    hi = (p_hi + (p_lo >> 16)) >> 16
    return hi, lo


def philox_words(seeds, draw: int, n_counters: int) -> torch.Tensor:
    """int64 [E, n_counters, 4] of uint32 words (as tl.randint4x gives them)."""
    seeds = torch.as_tensor(seeds, dtype=torch.int64).cpu()
    E = seeds.numel()
    k0 = (seeds & M32)[:, None]                                           # [E, 1]
    k1 = ((seeds >> 32) & M32)[:, None]
    c0 = torch.arange(n_counters, dtype=torch.int64).expand(E, -1)
    c1 = torch.full((E, n_counters), draw, dtype=torch.int64)
    c2 = torch.zeros(E, n_counters, dtype=torch.int64)
    c3 = torch.zeros(E, n_counters, dtype=torch.int64)
    for _ in range(10):
        hi_b, lo_b = _mulhilo(B, c2)
        hi_a, lo_a = _mulhilo(A, c0)
        c0, c1, c2, c3 = hi_b ^ c1 ^ k0, lo_b, hi_a ^ c3 ^ k1, lo_a
        k0, k1 = (k0 + KEY_A) & M32, (k1 + KEY_B) & M32
    return torch.stack([c0, c1, c2, c3], dim=2)


def member_bits_ref(seeds, draw: int, n: int) -> torch.Tensor:
    """int16 [E, n], as member_bits: the words in order, each split into two 16-bit halves."""
    n_words = (n + 1) // 2
    words = philox_words(seeds, draw, (n_words + 3) // 4).flatten(1)[:, :n_words]
    signed = torch.where(words >= 2 ** 31, words - 2 ** 32, words).to(torch.int32)
    return signed.contiguous().view(torch.int16)[:, :n]


def _uniform(word: torch.Tensor) -> torch.Tensor:
    """tl's uint_to_uniform_float: the word as int32, its complement if negative, x 2^-31."""
    x = torch.where(word >= 2 ** 31, word - 2 ** 32, word)
    x = torch.where(x < 0, ~x, x)
    return x.to(torch.float32) * 4.6566127342e-10


def member_normal_ref(seeds, draw: int, n: int, scale=None) -> torch.Tensor:
    """float32 [E, n], as member_normal (Box-Muller of the first two words of each counter)."""
    w = philox_words(seeds, draw, n)
    u1 = torch.clamp(_uniform(w[..., 0]), min=1.0e-7)
    u2 = _uniform(w[..., 1])
    out = torch.sqrt(-2.0 * torch.log(u1)) * torch.cos(2 * math.pi * u2)
    if scale is not None:
        out = out * torch.as_tensor(scale, dtype=torch.float32).cpu()[:, None]
    return out

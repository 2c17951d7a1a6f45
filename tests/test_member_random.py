"""The members' counted random streams (CUDA's): the Triton Philox kernels against the
pure-PyTorch Philox, member independence, and a GAN on them (one launch per draw for all
members, a member alone = the member in a grid).

    TRITON_INTERPRET=1 python -m pytest tests/test_member_random.py
"""
import math

import pytest
import torch

from fastgan.kernels._dispatch import INTERPRET
from fastgan.kernels.member_random import member_bits, member_normal
from fastgan.kernels.member_random_ref import member_bits_ref, member_normal_ref
from triton_limits import runs_linear_act
from numerics import assert_rel

CUDA = torch.cuda.is_available()
pytestmark = pytest.mark.skipif(not (CUDA or INTERPRET), reason=(
    "needs CUDA or TRITON_INTERPRET=1"))
DEVICE = "cuda" if CUDA else "cpu"
SEEDS = [3, 2 ** 62 + 12345, 7 * 2 ** 40 + 1, 0, 2 ** 63 - 1]


@pytest.fixture(autouse=True)
def nan_buffers(monkeypatch):
    """torch.empty hands out garbage-filled buffers: an unwritten word or value shows."""
    empty = torch.empty

    def fill(t):
        return t.fill_(float("nan")) if t.is_floating_point() else t.fill_(-7)
    monkeypatch.setattr(torch, "empty", lambda *a, **k: fill(empty(*a, **k)))


@pytest.mark.parametrize("n", [1, 3, 17, 1025, 8193])
@pytest.mark.parametrize("E", [1, 3, 5])
def test_bits_are_philox_bit_for_bit(E, n):
    seeds = torch.tensor(SEEDS[:E], device=DEVICE)
    got = member_bits(seeds, 11, n)
    want = member_bits_ref(SEEDS[:E], 11, n)
    assert got.shape == (E, n) and got.dtype == torch.int16
    assert torch.equal(got.cpu(), want), "words differ from the reference Philox"


@pytest.mark.parametrize("draw", [0, 1, 16, 2 ** 31 - 1, 2 ** 31 + 5, 2 ** 32 - 1])
def test_every_draw_number_is_philox(draw):
    """Draw numbers Triton's launcher would specialize (1, multiples of 16) or pass as another
    integer type (>= 2^31): on CUDA, draw 1 once failed to compile."""
    seeds = torch.tensor(SEEDS[:3], device=DEVICE)
    assert torch.equal(member_bits(seeds, draw, 17).cpu(), member_bits_ref(SEEDS[:3], draw, 17))
    assert_rel(f"normals of draw {draw}", member_normal(seeds, draw, 17).cpu(),
               member_normal_ref(SEEDS[:3], draw, 17), 1e-6)


@pytest.mark.parametrize("n", [1, 3, 1025])
@pytest.mark.parametrize("scaled", [False, True])
def test_normals_match_the_reference(n, scaled):
    seeds = torch.tensor(SEEDS[:3], device=DEVICE)
    scale = torch.tensor([0.5, 0.0, 2.0], device=DEVICE) if scaled else None
    got = member_normal(seeds, 4, n, scale)
    want = member_normal_ref(SEEDS[:3], 4, n, scale.cpu() if scaled else None)
    assert torch.isfinite(got).all()
    assert_rel("normals", got.cpu(), want, 1e-6)
    if scaled:
        assert torch.equal(got[1].cpu(), torch.zeros(n))


def test_a_member_draws_the_same_alone_and_among_others():
    seeds = torch.tensor(SEEDS[:3], device=DEVICE)
    for e in range(3):
        assert torch.equal(member_bits(seeds, 2, 999)[e], member_bits(seeds[e:e + 1], 2, 999)[0])
        assert torch.equal(member_normal(seeds, 2, 99)[e], member_normal(seeds[e:e + 1], 2, 99)[0])


def test_draws_and_members_are_different_streams_and_look_uniform():
    seeds = torch.tensor([1, 2], device=DEVICE)
    a, b = member_bits(seeds, 0, 50000).cpu().double(), member_bits(seeds, 1, 50000).cpu().double()
    assert not torch.equal(a, b) and not torch.equal(a[0], a[1])
    for x in (a[0], a[1], b[0]):                      # uniform on [-32768, 32767]
        assert abs(x.mean().item() + 0.5) < 5 * 65536 / math.sqrt(12 * 50000)
        assert abs(x.std().item() / (65536 / math.sqrt(12)) - 1) < 0.02
    z = member_normal(seeds, 0, 50000).cpu().double()
    assert abs(z.mean().item()) < 0.03 and abs(z.std().item() - 1) < 0.02
    assert abs(torch.corrcoef(z)[0, 1].item()) < 0.03


def test_bad_arguments():
    with pytest.raises(ValueError, match="int64"):
        member_bits(torch.tensor([1.0]), 0, 4)
    with pytest.raises(ValueError, match="draw"):
        member_bits(torch.tensor([1]), 2 ** 32, 4)
    with pytest.raises(ValueError, match="draw counter must be int64"):
        member_bits(torch.tensor([1]), torch.zeros(1, dtype=torch.int32), 4)
    with pytest.raises(ValueError, match="offset"):
        member_bits(torch.tensor([1]), 0, 4, offset=-1)


def test_a_device_counter_draws_the_host_numbering():
    """The streams' device counter plus a draw's place in its step gives the numbers of the
    host numbering (the draw's count since the start), over steps with end_step between them
    and after a resume."""
    from fastgan.streams import Streams
    seeds = [SEEDS[0], SEEDS[2], SEEDS[4]]
    keys = lambda s: s.keys["masks"].cpu()
    s = Streams(seeds, DEVICE, counted=True)
    numbers = []
    for step in range(3):
        for width in (5, 17, 3):                          # three draws a step
            numbers.append(s.draws["masks"])
            got = s.bits(2, width).cpu()
            want = member_bits_ref(keys(s), numbers[-1], 2 * width).view(3, 2, width)
            assert torch.equal(got, want), f"step {step}, draw {numbers[-1]}"
        s.end_step()
    assert numbers == list(range(9)) and s.draws["masks"] == 9
    again = Streams(seeds, DEVICE, counted=True)           # a resume at that point
    for e in range(3):
        again.load_state(e, s.state(e), step=3)
    assert torch.equal(again.bits(2, 5).cpu(), s.bits(2, 5).cpu())


def _gan(cfgs):
    from fastgan import kernels
    from fastgan.gan import GAN
    from fastgan.streams import Streams
    kernels.set_precision("fp32")
    gan = GAN(cfgs, torch.device(DEVICE), compile=False)
    gan.streams = Streams([c.seed for c in cfgs], DEVICE, counted=True)
    return gan


@runs_linear_act
def test_a_member_alone_equals_the_member_in_a_grid_on_counted_streams():
    """Sites and noise that only some members use are numbered all the same."""
    from fastgan.config import ModelConfig, TrainConfig
    model = lambda **kw: ModelConfig(latent_dim=8, g_hidden=(16,), d_hidden=(16, 16), **kw)
    cfgs = [TrainConfig(seed=0, instance_noise=0.2, model=model(d_dropout=0.0)),
            TrainConfig(seed=1, model=model(d_dropout=0.2, d_input_dropout=0.0))]
    grid, alone = _gan(cfgs), _gan([cfgs[1]])
    gen = torch.Generator().manual_seed(0)
    for _ in range(3):
        real = (torch.rand(2, 8, 784, generator=gen) * 2 - 1).to(DEVICE)
        s_grid = torch.cat([grid.d_step(real), grid.g_step(8)], 1)
        s_alone = torch.cat([alone.d_step(real[1:]), alone.g_step(8)], 1)
        assert torch.equal(s_grid[1], s_alone[0]), "member 1's stats differ alone"
    assert grid.streams.draws == alone.streams.draws
    for (name, a), b in zip(grid.G.named_parameters(), alone.G.parameters()):
        assert torch.equal(a[1], b[0]), f"member 1 G.{name} differs alone"
    state = grid.member_state(1)
    assert int(state["masks_draw"]) == grid.streams.draws["masks"]
    again = _gan([cfgs[1]])
    again.load_member_state(0, dict(state, step=3))
    assert again.streams.draws == grid.streams.draws


@runs_linear_act
@pytest.mark.skipif(not INTERPRET, reason="counts launches in the Triton interpreter")
def test_launches_per_step_do_not_depend_on_members():
    import sys
    from conftest import ROOT
    from fastgan.config import ModelConfig
    sys.path.insert(0, str(ROOT / "bench"))
    import launch_count
    narrow = ModelConfig(latent_dim=16, g_hidden=(16, 16, 32), d_hidden=(32, 16))
    one, three = (launch_count.count(False, narrow, batch=16, members=e, counted=True)
                  for e in (1, 3))
    assert one["triton_launches"] == three["triton_launches"] == {
        "_fwd": 14, "_dx": 8, "_dw": 7, "_gan_bce_kernel": 2, "_mbstd_fwd": 2, "_mbstd_bwd": 2,
        "_take_rows_kernel": 1, "_ema_weights_kernel": 1}      # z and the bits drawn inside
    assert one["torch_ops"] == three["torch_ops"]
    assert "aten::normal_" not in one["torch_ops"] and "aten::random_" not in one["torch_ops"]

"""The training recipe's parts: G's moving average, D's dropout and maxout, instance noise, the
shared G forward, learning rates and schedules; one member at a time and several side by side."""
import dataclasses
import math

import pytest
import torch

from fastgan.config import ModelConfig, TrainConfig
from fastgan.gan import GAN
from fastgan.kernels.linear_act_ref import linear_act_ref
from fastgan.models import BITS, Discriminator, Maxout, quantized_rate
from numerics import assert_rel

SMALL = ModelConfig(latent_dim=8, g_hidden=(16,), d_hidden=(32, 16), d_dropout=0.0,
                    d_input_dropout=0.0, d_mbstd=0)     # any batch (tests at 5, 6, 17 rows)
CPU = torch.device("cpu")


def small_cfg(**kw) -> TrainConfig:
    model = dataclasses.replace(SMALL, **{k: kw.pop(k) for k in list(kw) if hasattr(SMALL, k)})
    return TrainConfig(seed=kw.pop("seed", 3), model=model, **kw)


def _steps(gan, n, batch=4, seed=0):
    gen = torch.Generator().manual_seed(seed)
    for _ in range(n):
        gan.d_step(torch.rand(gan.members, batch, 784, generator=gen) * 2 - 1)
        gan.g_step(batch)


@pytest.mark.parametrize("decays", [[0.6], [0.6, 0.0, 0.9]], ids=["one", "three-mixed"])
def test_ema_follows_the_hand_computed_average(decays):
    gan = GAN([small_cfg(ema_decay=d, seed=i) for i, d in enumerate(decays)], CPU, compile=False)
    expect = [[p[e].detach().double().clone() for p in gan.G.parameters()]      # starts at G
              for e in range(len(decays))]
    for t in range(6):
        _steps(gan, 1, seed=t)
        for e, decay in enumerate(decays):
            d = min(decay, (1 + t) / (10 + t))      # the warm-up of the average
            expect[e] = [d * x + (1 - d) * p[e].detach().double()
                         for x, p in zip(expect[e], gan.G.parameters())]
    assert gan.ema_steps == 6
    for e, decay in enumerate(decays):
        for (name, got), want, raw in zip(gan.G_ema.named_parameters(), expect[e],
                                          gan.G.parameters()):
            assert_rel(f"member {e} G_ema.{name}", got[e], want, 1e-6)
            # a member without an average holds an exact copy of its G there
            assert torch.equal(got[e], raw[e]) == (decay == 0), f"member {e} G_ema.{name}"
    assert gan.sampler is gan.G_ema and not any(p.requires_grad for p in gan.G_ema.parameters())
    assert [("G_ema" in gan.member_state(e)) for e in range(len(decays))] == [d > 0 for d in decays]


def test_ema_off_samples_the_trained_g():
    gan = GAN(small_cfg(ema_decay=0.0), CPU, compile=False)
    assert gan.G_ema is None and gan.sampler is gan.G
    assert "G_ema" not in gan.state_dict()


@pytest.mark.parametrize("p", [0.2, 0.5])
@pytest.mark.parametrize("path", ["eager", "compiled"])
def test_dropout_keep_rate_and_scaling(p, path):
    """D's input dropout alone: the first op sees x * mask / (1 - p), the rate p (to 2^-16)."""
    gan = GAN([small_cfg(d_input_dropout=p, seed=0), small_cfg(d_input_dropout=0.0, seed=1)],
              CPU, compile=False)
    site = gan.D.net[0]
    x = torch.rand(2, 64, 784) + 0.5                      # no zeros of its own
    mask = site.mask(gan.streams.bits(64, 784, site.drops))
    f = (lambda x, m: x * m)
    y = torch.compile(f)(x, mask) if path == "compiled" else f(x, mask)
    kept = y[0] != 0
    n, rate = kept.numel(), kept.float().mean().item()
    sd = math.sqrt(p * (1 - p) / n)
    assert abs(rate - (1 - p)) < 5 * sd, f"keep rate {rate:.4f}, want {1 - p} +- {5 * sd:.4f}"
    assert_rel("kept values", y[0][kept], x[0][kept] / (1 - quantized_rate(p)), 1e-6)
    assert torch.equal(y[1], x[1]), "a member of rate 0 keeps every unit, unscaled"
    assert abs(quantized_rate(p) - p) <= 0.5 / BITS


def test_dropout_sites_are_fixed_and_skip_without_rates():
    D = Discriminator(ModelConfig(d_dropout=0.3, d_input_dropout=0.1, d_mbstd=0), members=2,
                      input_rates=[0.1, 0.0], hidden_rates=[0.0, 0.0])
    kinds = [type(m).__name__ for m in D.net]
    assert kinds == ["Dropout", "Dense", "Dropout", "Dense", "Dropout", "Dense"]
    assert [s.width for s in D.sites] == [784] and D.sites[0].drops == [True, False]
    names = [n for n, _ in D.named_parameters()]
    assert names == ["net.1.weight", "net.1.bias", "net.3.weight", "net.3.bias", "net.5.weight",
                     "net.5.bias"]                        # whatever the rates


def test_a_member_draws_mask_bits_only_where_it_drops(one_thread):
    """Member 1 (rate 0 at the input) draws nothing there: its mask stream matches a member
    alone whose sites are the hidden ones only."""
    both = GAN([small_cfg(d_input_dropout=0.2, d_dropout=0.1, seed=0),
                small_cfg(d_input_dropout=0.0, d_dropout=0.1, seed=1)], CPU, compile=False)
    alone = GAN([small_cfg(d_input_dropout=0.0, d_dropout=0.1, seed=1)], CPU, compile=False)
    a = [s.mask(bits) for s, bits in zip(both.D.sites, both.masks(5))]
    b = [s.mask(bits) for s, bits in zip(alone.D.sites, alone.masks(5))]
    assert len(a) == 3 and len(b) == 2
    assert torch.equal(a[0][1], torch.ones(5, 784))
    for x, y in zip(a[1:], b):
        assert torch.equal(x[1], y[0])


@pytest.mark.parametrize("batch, n_in, units, pieces", [(1, 3, 2, 2), (17, 65, 5, 3), (64, 784, 24, 5)],
                         ids=lambda v: str(v))
@pytest.mark.parametrize("members", [1, 3])
def test_maxout_shapes_and_gradients_against_float64(batch, n_in, units, pieces, members):
    torch.manual_seed(batch + units)
    m = Maxout(n_in, units, pieces, members)
    x = torch.randn(members, batch, n_in, requires_grad=True)
    y = m(x)
    assert y.shape == (members, batch, units)
    dy = torch.randn_like(y)
    y.backward(dy)
    for e in range(members):
        # float64 reference: the max over pieces of unit j are columns j*pieces .. j*pieces+pieces-1
        w = m.linear.weight[e].detach().double().requires_grad_()
        b = m.linear.bias[e].detach().double().requires_grad_()
        xd = x[e].detach().double().requires_grad_()
        ref = linear_act_ref(xd, w, b, "none").view(batch, units, pieces).max(dim=2).values
        ref.backward(dy[e].double())
        assert_rel(f"member {e} maxout y", y[e], ref, 1e-6)
        assert_rel(f"member {e} maxout dx", x.grad[e], xd.grad, 1e-6)
        assert_rel(f"member {e} maxout dW", m.linear.weight.grad[e], w.grad, 1e-6)
        assert_rel(f"member {e} maxout db", m.linear.bias.grad[e], b.grad, 1e-6)


def test_maxout_discriminator_replaces_hidden_units():
    D = Discriminator(ModelConfig(d_hidden=(40, 20), d_maxout=4, d_dropout=0.0,
                                  d_input_dropout=0.0, d_mbstd=0))
    assert [type(m).__name__ for m in D.net] == ["Dropout", "Maxout", "Dropout", "Maxout",
                                                 "Dropout", "Dense"]
    assert D.net[1].linear.weight.shape == (1, 160, 784) and D.net[5].weight.shape == (1, 1, 20)
    assert D(torch.randn(1, 3, 784)).shape == (1, 3, 1)


def test_shared_g_forward_matches_two_separate_steps():
    """One z for both steps: the shared step must give the parameters of d_step + g_step."""
    def make(shared):
        gan = GAN([small_cfg(share_g_forward=shared, k=1, seed=s) for s in (3, 4)], CPU,
                  compile=False)
        z = torch.randn(2, 5, 8, generator=torch.Generator().manual_seed(9))
        gan.z = lambda n: z                        # the same z for the D and the G step
        return gan
    real = torch.rand(2, 5, 784) * 2 - 1
    a, b = make(True), make(False)
    for _ in range(3):
        sa_d, sa_g = a.shared_step(real)
        sb_d, sb_g = b.d_step(real), b.g_step(5)
        assert_rel("D stats", sa_d, sb_d, 1e-6)
        assert_rel("G stats", sa_g, sb_g, 1e-6)
    for net in ("G", "D", "G_ema"):
        for (name, pa), pb in zip(getattr(a, net).named_parameters(), getattr(b, net).parameters()):
            assert_rel(f"{net}.{name}", pa, pb, 1e-6)


def test_shared_g_forward_needs_k_1():
    with pytest.raises(ValueError, match="k = 1"):
        GAN(small_cfg(share_g_forward=True, k=2), CPU, compile=False)


def test_members_must_share_shapes():
    with pytest.raises(ValueError, match="agree on their shapes"):
        GAN([small_cfg(), small_cfg(latent_dim=9)], CPU, compile=False)


def test_instance_noise_per_member_and_zero_std_draws_nothing():
    gan = GAN([small_cfg(instance_noise=0.3, seed=0), small_cfg(instance_noise=0.0, seed=1)],
              CPU, compile=False)
    assert gan.eps(4, 0.0) is None                        # annealed to 0: nothing drawn
    quiet = gan.streams.noise[1].get_state()
    e = gan.eps(4000, 1.0)
    assert e.shape == (2, 4000, 784) and abs(e[0].std().item() - 0.3) < 0.003
    assert torch.equal(e[1], torch.zeros(4000, 784))
    assert torch.equal(gan.streams.noise[1].get_state(), quiet)   # member 1 drew nothing
    assert GAN(small_cfg(), CPU, compile=False).eps(4, 1.0) is None
    real = torch.zeros(2, 4, 784)
    with torch.no_grad():
        z = gan.z(4)
        calm, noisy = torch.zeros(2, 3), torch.zeros(2, 3)
        gan._d_forward(real, z, None, None, calm)
        gan._d_forward(real, z, gan.eps(8, 0.5), None, noisy)
    assert not torch.equal(calm[0], noisy[0]) and torch.equal(calm[1], noisy[1])


def test_separate_learning_rates_per_member():
    gan = GAN([small_cfg(lr=1e-3, lr_d=4e-4), small_cfg(lr=1e-3), small_cfg(lr=1e-3, seed=5)],
              CPU, compile=False)
    assert gan.opt_d.lrs == [4e-4, 1e-3, 1e-3] and gan.opt_g.lrs == [1e-3] * 3
    assert [g[0] for g in gan.opt_d.groups] == [[0], [1, 2]]   # one fused call per lr
    assert [g[0] for g in gan.opt_g.groups] == [[0, 1, 2]]


def test_lr_schedule_scales_only_linear_members():
    gan = GAN([small_cfg(lr_schedule="linear"), small_cfg(seed=4)], CPU, compile=False)
    gan.set_lr_scales(3, 4)                            # linear: 1 - 3/4
    assert gan.lr_scales == [0.25, 1.0]
    assert len(gan.opt_d.groups) == 2                  # one schedule per fused call


def test_per_member_labels_and_g_losses(one_thread):
    """Member 0: label 0.9, minimax G; member 1: label 1, ns G; each as it would be alone."""
    cfgs = [small_cfg(real_label=0.9, g_loss="minimax", seed=0), small_cfg(seed=1)]
    both = GAN(cfgs, CPU, compile=False)
    assert torch.equal(both.real_label, torch.tensor([0.9, 1.0]))
    for e, cfg in enumerate(cfgs):
        alone = GAN([cfg], CPU, compile=False)
        real = torch.rand(1, 6, 784) * 2 - 1
        fake = torch.rand(1, 6, 784) * 2 - 1
        with torch.no_grad():
            d2, g2, d1, g1 = (torch.zeros(n, c) for n, c in ((2, 3), (2, 2), (1, 3), (1, 2)))
            both._d_on_fake(real.repeat(2, 1, 1), fake.repeat(2, 1, 1), None, None, d2)
            both._g_on_fake(fake.repeat(2, 1, 1), None, None, g2)
            for p, q in zip(alone.D.parameters(), both.D.parameters()):
                p.copy_(q[e:e + 1])
            alone._d_on_fake(real, fake, None, None, d1)
            alone._g_on_fake(fake, None, None, g1)
        assert torch.equal(d2[e], d1[0]) and torch.equal(g2[e], g1[0])
        assert (g1[0, 0] < 0) == (cfg.g_loss == "minimax")   # -BCE(D(G(z)), 0)


def test_checkpoints_hold_both_generators_and_sampling_takes_the_average(tmp_path):
    from fastgan.io import checkpoint
    from fastgan.config import to_dict
    from fastgan.eval.trained import load_generator, sample
    gan = GAN(small_cfg(ema_decay=0.5), CPU, compile=False)
    _steps(gan, 3)
    checkpoint.save(tmp_path, 3, gan.state_dict(), to_dict(gan.cfg))
    ckpt = checkpoint.load(tmp_path)
    assert ckpt["ema_steps"] == 3 and ckpt["G"]["net.0.weight"].shape == (16, 8)
    for raw, want in ((False, gan.G_ema), (True, gan.G)):
        G = load_generator(tmp_path, CPU, raw=raw)
        for (name, got), ref in zip(G.named_parameters(), want.parameters()):
            assert torch.equal(got, ref), f"{'raw' if raw else 'average'} {name}"
    assert (sample(load_generator(tmp_path, CPU), 8, seed=1) == sample(gan.G_ema, 8, seed=1)).all()


def test_member_state_round_trips_into_another_group():
    """A member's state (a run's checkpoint layout) loads into any slot of another GAN and it
    then trains exactly as the original."""
    src = GAN([small_cfg(seed=s, lr_g=2e-3 * (s + 1)) for s in range(3)], CPU, compile=False)
    _steps(src, 2)
    dst = src.subset([2, 0])
    for (name, a), b in zip(src.D.named_parameters(), dst.D.parameters()):
        assert torch.equal(a[2], b[0]) and torch.equal(a[0], b[1]), name
    assert torch.equal(dst.opt_g.steps, torch.tensor([2.0, 2.0]))
    gen = torch.Generator().manual_seed(5)
    real = torch.rand(3, 4, 784, generator=gen) * 2 - 1
    s_src, s_dst = src.d_step(real), dst.d_step(real[[2, 0]])
    assert torch.equal(s_src[[2, 0]], s_dst)
    for (name, a), b in zip(src.G_ema.named_parameters(), dst.G_ema.parameters()):
        assert torch.equal(a[[2, 0]], b), name


def test_resume_across_devices_reseeds_the_noise_generator():
    """A CUDA generator's state does not fit a CPU one (and back): the stream is reseeded."""
    from fastgan.streams import generator
    gan = GAN(small_cfg(), CPU, compile=False)
    state = dict(gan.state_dict(), step=7)
    state["noise"] = torch.zeros(16, dtype=torch.uint8)      # a CUDA Philox state's size
    other = GAN(small_cfg(), CPU, compile=False)
    other.load_state_dict(state)
    want = generator(3, "noise", 7)
    assert torch.equal(other.z(4)[0], torch.randn(4, 8, generator=want))

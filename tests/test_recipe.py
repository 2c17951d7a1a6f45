"""The training recipe's parts: G's moving average, D's dropout and maxout, instance noise, and
the shared G forward."""
import math

import pytest
import torch

from fastgan.config import ModelConfig, TrainConfig
from fastgan.gan import GAN
from fastgan.kernels.linear_act_ref import linear_act_ref
from fastgan.models import Discriminator, Maxout
from numerics import assert_rel

SMALL = ModelConfig(latent_dim=8, g_hidden=(16,), d_hidden=(32, 16), d_dropout=0.0,
                    d_input_dropout=0.0)


def small_cfg(**kw) -> TrainConfig:
    return TrainConfig(seed=3, model=SMALL, **kw)


def test_ema_follows_the_hand_computed_average():
    decay = 0.6
    gan = GAN(small_cfg(ema_decay=decay), torch.device("cpu"), compile=False)
    expect = [p.detach().double().clone() for p in gan.G.parameters()]   # starts at G
    real = torch.rand(4, 784) * 2 - 1
    for t in range(6):
        gan.d_step(real)
        gan.g_step(4)
        d = min(decay, (1 + t) / (10 + t))          # the warm-up of the average
        expect = [d * e + (1 - d) * p.detach().double() for e, p in zip(expect, gan.G.parameters())]
    assert gan.ema_steps == 6
    for (name, got), want, raw in zip(gan.G_ema.named_parameters(), expect, gan.G.parameters()):
        assert_rel(f"G_ema.{name}", got, want, 1e-6)
        assert not torch.equal(got, raw), f"G_ema.{name} is just G"
    assert gan.sampler is gan.G_ema and not any(p.requires_grad for p in gan.G_ema.parameters())


def test_ema_off_samples_the_trained_g():
    gan = GAN(small_cfg(ema_decay=0.0), torch.device("cpu"), compile=False)
    assert gan.G_ema is None and gan.sampler is gan.G
    assert "G_ema" not in gan.state_dict()


@pytest.mark.parametrize("p", [0.2, 0.5])
@pytest.mark.parametrize("path", ["eager", "compiled"])
def test_dropout_keep_rate_and_scaling(p, path):
    """D's input dropout alone (hidden widths as given): the first op sees x * mask / (1 - p)."""
    torch.manual_seed(0)
    D = Discriminator(ModelConfig(d_input_dropout=p, d_dropout=0.0)).train()
    drop = D.net[0]
    x = torch.rand(64, 784) + 0.5                         # no zeros of its own
    f = torch.compile(drop) if path == "compiled" else drop
    y = f(x)
    kept = y != 0
    n, rate = kept.numel(), kept.float().mean().item()
    sd = math.sqrt(p * (1 - p) / n)
    assert abs(rate - (1 - p)) < 5 * sd, f"keep rate {rate:.4f}, want {1 - p} +- {5 * sd:.4f}"
    assert_rel("kept values", y[kept], x[kept] / (1 - p), 1e-6)
    D.eval()
    assert torch.equal(D.net[0](x), x), "dropout must be off in eval mode"


def test_hidden_dropout_sits_after_each_hidden_layer():
    D = Discriminator(ModelConfig(d_dropout=0.3, d_input_dropout=0.1))
    kinds = [type(m).__name__ for m in D.net]
    assert kinds == ["Dropout", "Dense", "Dropout", "Dense", "Dropout", "Dense"]
    assert [m.p for m in D.net if isinstance(m, torch.nn.Dropout)] == [0.1, 0.3, 0.3]


@pytest.mark.parametrize("batch, n_in, units, pieces", [(1, 3, 2, 2), (17, 65, 5, 3), (64, 784, 24, 5)],
                         ids=lambda v: str(v))
def test_maxout_shapes_and_gradients_against_float64(batch, n_in, units, pieces):
    torch.manual_seed(batch + units)
    m = Maxout(n_in, units, pieces)
    x = torch.randn(batch, n_in, requires_grad=True)
    y = m(x)
    assert y.shape == (batch, units)
    dy = torch.randn_like(y)
    y.backward(dy)
    # float64 reference: the max over pieces of unit j are columns j*pieces .. j*pieces+pieces-1
    w = m.linear.weight.detach().double().requires_grad_()
    b = m.linear.bias.detach().double().requires_grad_()
    xd = x.detach().double().requires_grad_()
    ref = linear_act_ref(xd, w, b, "none").view(batch, units, pieces).max(dim=2).values
    ref.backward(dy.double())
    assert_rel("maxout y", y, ref, 1e-6)
    assert_rel("maxout dx", x.grad, xd.grad, 1e-6)
    assert_rel("maxout dW", m.linear.weight.grad, w.grad, 1e-6)
    assert_rel("maxout db", m.linear.bias.grad, b.grad, 1e-6)


def test_maxout_discriminator_replaces_hidden_units():
    D = Discriminator(ModelConfig(d_hidden=(40, 20), d_maxout=4, d_dropout=0.0,
                                  d_input_dropout=0.0))
    assert [type(m).__name__ for m in D.net] == ["Maxout", "Maxout", "Dense"]
    assert D.net[0].linear.weight.shape == (160, 784) and D.net[2].weight.shape == (1, 20)
    assert D(torch.randn(3, 784)).shape == (3, 1)


def test_shared_g_forward_matches_two_separate_steps():
    """One z for both steps: the shared step must give the parameters of d_step + g_step."""
    def make(shared):
        gan = GAN(small_cfg(share_g_forward=shared), torch.device("cpu"), compile=False)
        z = torch.randn(5, 8, generator=torch.Generator().manual_seed(9))
        gan.z = lambda n: z                        # the same z for the D and the G step
        return gan
    real = torch.rand(5, 784) * 2 - 1
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
        GAN(small_cfg(share_g_forward=True, k=2), torch.device("cpu"), compile=False)


def test_instance_noise_reaches_d_and_zero_std_draws_nothing():
    gan = GAN(small_cfg(), torch.device("cpu"), compile=False)
    assert gan.eps(4, 0.0) is None
    state = gan.noise.get_state()
    e = gan.eps(4000, 0.3)
    assert e.shape == (4000, 784) and abs(e.std().item() - 0.3) < 0.003
    gan.noise.set_state(state)
    real = torch.zeros(4, 784)
    with torch.no_grad():
        z = gan.z(4)
        quiet = gan._d_forward(real, z, None)[1]
        noisy = gan._d_forward(real, z, gan.eps(8, 0.5))[1]
    assert not torch.equal(quiet, noisy)


def test_separate_learning_rates():
    gan = GAN(small_cfg(lr=1e-3, lr_d=4e-4), torch.device("cpu"), compile=False)
    assert gan.opt_d.param_groups[0]["lr"] == 4e-4 and gan.opt_g.param_groups[0]["lr"] == 1e-3


def test_checkpoints_hold_both_generators_and_sampling_takes_the_average(tmp_path):
    from fastgan import checkpoint
    from fastgan.config import to_dict
    from fastgan.sampling import load_generator, sample
    gan = GAN(small_cfg(ema_decay=0.5), torch.device("cpu"), compile=False)
    for _ in range(3):
        gan.d_step(torch.rand(4, 784) * 2 - 1)
        gan.g_step(4)
    checkpoint.save(tmp_path, 3, gan.state_dict(), to_dict(gan.cfg))
    ckpt = checkpoint.load(tmp_path)
    assert ckpt["ema_steps"] == 3
    for raw, want in ((False, gan.G_ema), (True, gan.G)):
        G = load_generator(tmp_path, torch.device("cpu"), raw=raw)
        for (name, got), ref in zip(G.named_parameters(), want.parameters()):
            assert torch.equal(got, ref), f"{'raw' if raw else 'average'} {name}"
    assert (sample(load_generator(tmp_path, torch.device("cpu")), 8, seed=1)
            == sample(gan.G_ema, 8, seed=1)).all()


def test_lr_scale_sets_both_optimizers():
    gan = GAN(small_cfg(lr=1e-3, lr_g=2e-3), torch.device("cpu"), compile=False)
    gan.set_lr_scale(0.25)
    assert gan.opt_d.param_groups[0]["lr"] == 2.5e-4 and gan.opt_g.param_groups[0]["lr"] == 5e-4


def test_resume_across_devices_reseeds_the_noise_generator():
    """A CUDA generator's state does not fit a CPU one (and back): the stream is reseeded."""
    gan = GAN(small_cfg(), torch.device("cpu"), compile=False)
    state = dict(gan.state_dict(), step=7)
    state["noise"] = torch.zeros(16, dtype=torch.uint8)      # a CUDA Philox state's size
    other = GAN(small_cfg(), torch.device("cpu"), compile=False)
    other.load_state_dict(state)
    want = torch.Generator().manual_seed(3 + 1 + 1_000_003 * 7)
    assert torch.equal(other.z(4), torch.randn(4, 8, generator=want))

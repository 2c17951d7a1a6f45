"""The recipe options of the step-count study: spectral normalization of D (against PyTorch's
parametrization), the minibatch-std feature (by hand in float64), top-k generator updates (the
selection and its gradient), learning-rate schedules with warm-up and a late decay, the average's
start; every one of them in a group of members as alone, through a CPU resume bit for bit, and
their bad values as one line with exit code 2."""
import math

import pytest
import torch
from torch import nn

from fastgan.io.cli import run
from fastgan.config import ModelConfig, TrainConfig
from fastgan.gan import GAN
from fastgan.models import Dense, Discriminator, MinibatchStd
from fastgan.optim import MemberEMA
from fastgan.schedules import lr_factor, topk_count
from numerics import assert_rel, rel_err
from test_members import _train

CPU = torch.device("cpu")
EPS32 = torch.finfo(torch.float32).eps


def _torch_sn(weight, u, v):
    """nn.Linear with PyTorch's spectral_norm parametrization, holding weight and our u, v."""
    lin = nn.Linear(weight.shape[1], weight.shape[0], bias=False).to(weight.dtype)
    with torch.no_grad():
        lin.weight.copy_(weight)
    lin = torch.nn.utils.parametrizations.spectral_norm(lin)
    sn = lin.parametrizations.weight[0]
    with torch.no_grad():
        lin.parametrizations.weight.original.copy_(weight)
        sn._u.copy_(u)
        sn._v.copy_(v)
    return lin, sn


@pytest.mark.parametrize("n_in, n_out", [(3, 1), (17, 3), (65, 17), (785, 257), (256, 1)],
                         ids=lambda v: str(v))
@pytest.mark.parametrize("E", [1, 3], ids=lambda v: f"E{v}")
def test_spectral_norm_matches_pytorchs_member_by_member(E, n_in, n_out):
    """One power iteration then W / sigma and its gradient, each member against PyTorch's
    spectral_norm in float64 (to rounding) and in float32 (within 2x PyTorch's own error)."""
    gens = [torch.Generator().manual_seed(100 * E + n_in + e) for e in range(E)]
    for dtype in (torch.float64, torch.float32):
        layer = Dense(n_in, n_out, "none", 0.2, E, gens, spectral_norm=True).to(dtype)
        u0, v0 = layer.u.clone(), layer.v.clone()
        layer.power_iteration()
        w_sn = layer.effective_weight()
        dy = torch.randn(E, n_out, n_in, generator=gens[0], dtype=dtype)
        (w_sn * dy).sum().backward()
        for e in range(E):
            ref, ref_sn = _torch_sn(layer.weight[e].detach().double(), u0[e].double(),
                                    v0[e].double())
            want = ref.weight                                  # training mode: one iteration
            (want * dy[e].double()).sum().backward()
            want_grad = ref.parametrizations.weight.original.grad
            if dtype == torch.float64:
                assert_rel(f"member {e} W/sigma", w_sn[e], want, 1e-12)
                assert_rel(f"member {e} u", layer.u[e], ref_sn._u, 1e-12)
                assert_rel(f"member {e} v", layer.v[e], ref_sn._v, 1e-12)
                assert_rel(f"member {e} dW", layer.weight.grad[e], want_grad, 1e-12)
            else:
                theirs, _ = _torch_sn(layer.weight[e].detach(), u0[e], v0[e])
                got32 = theirs.weight
                (got32 * dy[e]).sum().backward()
                # norm-wise: rel err <= 2 x PyTorch's own float32 rel err + one float32 ulp
                for name, ours, torch32, ref64 in (
                        ("W/sigma", w_sn[e], got32, want),
                        ("dW", layer.weight.grad[e], theirs.parametrizations.weight.original.grad,
                         want_grad)):
                    bound = 2 * rel_err(torch32, ref64) + EPS32
                    assert_rel(f"member {e} {name} fp32", ours, ref64, bound)


def test_spectral_norm_estimates_the_top_singular_value():
    """sigma = u^T W v of unit u, v never exceeds W's largest singular value; after the 15
    starting iterations it is within 10% of it (a uniform init's top singular values lie close
    together, so power iteration converges slowly), and further iterations (one per D step)
    close the gap."""
    D = Discriminator(ModelConfig(d_spectral_norm=True, d_dropout=0, d_input_dropout=0), 2,
                      [torch.Generator().manual_seed(s) for s in (0, 1)])
    assert len(D.normalized) == 3
    for i, layer in enumerate(D.normalized):
        top = torch.linalg.matrix_norm(layer.weight.detach().double(), ord=2)        # [E]
        sigma = layer.sigma().detach().double()
        assert (sigma <= top * (1 + 1e-6)).all() and (sigma >= 0.9 * top).all(), (i, sigma, top)
        for _ in range(300):
            layer.power_iteration()
        assert_rel(f"layer {i} sigma after 315 iterations", layer.sigma().detach(), top, 1e-2)


@pytest.mark.parametrize("group, rows, feats", [(2, 6, 1), (4, 8, 17), (3, 9, 65), (64, 128, 3)])
def test_minibatch_std_by_hand(group, rows, feats):
    g = torch.Generator().manual_seed(group * rows + feats)
    x = torch.randn(3, rows, feats, generator=g, dtype=torch.float64, requires_grad=True)
    out = MinibatchStd(group)(x)
    assert out.shape == (3, rows, feats + 1)
    assert torch.equal(out[..., :feats], x)
    want = torch.empty(3, rows, dtype=torch.float64)
    for e in range(3):
        for start in range(0, rows, group):
            block = x[e, start:start + group].detach()
            stds = [math.sqrt(sum((float(v) - float(col.mean())) ** 2 for v in col) / group
                              + 1e-8) for col in block.T]
            want[e, start:start + group] = sum(stds) / feats
    assert_rel("minibatch std feature", out[..., feats], want, 1e-12)
    out[..., feats].sum().backward()                    # differentiable through the std
    assert torch.isfinite(x.grad).all() and x.grad.abs().sum() > 0


def test_minibatch_std_never_mixes_real_and_fake():
    """D's forward over [real; fake]: each half's feature depends only on that half."""
    cfg = ModelConfig(d_mbstd=4, d_dropout=0, d_input_dropout=0, d_hidden=(16, 8))
    D = Discriminator(cfg, 1, [torch.Generator().manual_seed(0)])
    real, fake, other = torch.randn(1, 8, 784), torch.randn(1, 8, 784), torch.randn(1, 8, 784)
    with torch.no_grad():
        one, two = D(torch.cat([real, fake], 1)), D(torch.cat([real, 3 * other], 1))
    assert torch.equal(one[:, :8], two[:, :8]), "the real half's logits depend on the fakes"
    assert not torch.equal(one[:, 8:], two[:, 8:])
    assert D.net[-1].weight.shape == (1, 1, 9)              # 8 features + the std


def test_topk_loss_keeps_the_fakes_d_rates_highest():
    cfg = TrainConfig(seed=1, model=ModelConfig(latent_dim=8, g_hidden=(16,), d_hidden=(32, 16),
                                                d_dropout=0, d_input_dropout=0, d_mbstd=0))
    gan = GAN([cfg, TrainConfig(seed=2, model=cfg.model)], CPU, compile=False)
    fake = (torch.rand(2, 17, 784, generator=torch.Generator().manual_seed(3)) * 2 - 1)
    fake.requires_grad_()
    stats = torch.zeros(2, 2)
    loss, grad = gan._g_on_fake(fake, None, None, stats, topk=5)
    loss.backward(grad)
    with torch.no_grad():
        logits = gan.D(fake)[..., 0].double()                                  # [2, 17]
    for e in range(2):
        top = sorted(range(17), key=lambda i: -float(logits[e, i]))[:5]
        want = sum(math.log1p(math.exp(-float(logits[e, i]))) for i in top) / 5  # BCE(., 1)
        assert abs(float(stats[e, 0]) - want) <= 1e-6 * abs(want), f"member {e} top-k loss"
        assert abs(float(stats[e, 1]) - float(torch.sigmoid(logits[e]).mean())) < 1e-6
        used = fake.grad[e].abs().sum(1) > 0
        assert sorted(torch.nonzero(used).flatten().tolist()) == sorted(top), \
            f"member {e}: the gradient reaches fakes outside the top 5"


def test_topk_count_anneals_from_the_batch_to_its_floor():
    cfg = TrainConfig(batch_size=64, g_topk=0.5, g_topk_decay=0.9)
    assert topk_count(cfg, 0, 100) == 64 and topk_count(cfg, 99, 100) == 64
    assert topk_count(cfg, 100, 100) == round(0.9 * 64)
    assert topk_count(cfg, 300, 100) == round(0.9 ** 3 * 64)
    assert topk_count(cfg, 100_000, 100) == 32
    assert topk_count(TrainConfig(), 100_000, 100) == TrainConfig().batch_size   # off by default


@pytest.mark.parametrize("schedule, start, warmup, step, want", [
    ("constant", 0.0, 0, 500, 1.0),
    ("linear", 0.0, 0, 250, 0.75),                     # the whole-run decay, as before
    ("linear", 0.75, 0, 700, 1.0),
    ("linear", 0.75, 0, 875, 0.5),
    ("cosine", 0.75, 0, 875, 0.5),
    ("cosine", 0.5, 0, 625, 0.5 * (1 + math.cos(math.pi / 4))),
    ("constant", 0.0, 100, 0, 0.01),
    ("constant", 0.0, 100, 49, 0.5),
    ("cosine", 0.0, 100, 49, 0.5 * 0.5 * (1 + math.cos(math.pi * 49 / 1000))),
    ("linear", 0.0, 100, 100, 0.9),
], ids=lambda v: str(v))
def test_lr_factor(schedule, start, warmup, step, want):
    cfg = TrainConfig(lr_schedule=schedule, lr_decay_start=start, lr_warmup=warmup)
    assert lr_factor(cfg, step, 1000) == pytest.approx(want, rel=1e-12)


def test_linear_schedule_is_bitwise_the_earlier_one():
    cfg = TrainConfig(lr_schedule="linear")
    for step, total in ((0, 7), (3, 7), (6, 7), (12345, 31240)):
        assert lr_factor(cfg, step, total) == 1 - step / total


def test_ema_start_copies_then_averages():
    model, avg = nn.Linear(3, 2), nn.Linear(3, 2)
    stacked = lambda m: nn.ParameterList([nn.Parameter(p.detach().unsqueeze(0).clone())
                                          for p in m.parameters()])
    src, dst = stacked(model), stacked(avg)
    ema = MemberEMA(dst, src, [0.9], [3])
    for t in range(6):
        with torch.no_grad():
            for p in src:
                p.add_(1.0)
        before = [p.detach().clone() for p in dst]
        ema.update()
        for p, q, b in zip(dst, src, before):
            if t < 3:
                assert torch.equal(p, q), f"update {t}: before the start the average copies"
            else:
                w = 1 - min(0.9, (1 + t - 3) / (10 + t - 3))
                assert_rel(f"update {t}", p, b + w * (q - b), 1e-6)


def _option_cfgs():
    model = ModelConfig(latent_dim=8, g_hidden=(16, 24), d_hidden=(32, 16), d_spectral_norm=True,
                        d_mbstd=4)
    kw = dict(batch_size=8, g_topk=0.5, g_topk_decay=0.5)
    return [TrainConfig(seed=0, lr_schedule="cosine", lr_decay_start=0.5, lr_warmup=2,
                        ema_start=2, model=model, **kw),
            TrainConfig(seed=4, lr_g=1e-3, beta2=0.99, model=model, **kw),
            TrainConfig(seed=9, lr_schedule="linear", lr_decay_start=0.25, ema_decay=0.9,
                        model=model, **kw)]


@pytest.mark.parametrize("e", [0, 1, 2])
def test_options_alone_equal_in_a_grid_bit_for_bit(e, one_thread):
    cfgs = _option_cfgs()
    topk = lambda t: topk_count(cfgs[0], t, 2)                  # an "epoch" of 2 steps
    grid, s_grid = _train(cfgs, topk=topk)
    alone, s_alone = _train([cfgs[e]], topk=topk)
    assert torch.equal(s_grid[e], s_alone[0]), "the step statistics differ"
    ours, theirs = grid.member_state(e), alone.member_state(0)
    for net in ("G", "D", "G_ema"):
        for key, value in theirs[net].items():
            assert torch.equal(ours[net][key], value), f"member {e} {net}.{key} differs alone"
    assert "net.1.u" in ours["D"] and "net.6.weight" in ours["D"]   # SN buffers; final layer


def test_options_resume_bit_for_bit(tmp_path, mnist_dir, monkeypatch):
    from test_train import test_resume_matches_uninterrupted_run_bit_for_bit as resume_test
    resume_test(tmp_path, mnist_dir, ["--d-spectral-norm", "--d-mbstd", "4", "--g-topk", "0.5",
                                      "--g-topk-decay", "0.7", "--lr-schedule", "cosine",
                                      "--lr-decay-start", "0.5", "--lr-warmup", "5",
                                      "--ema-start", "8", "--beta2", "0.99"], monkeypatch)


@pytest.mark.parametrize("flags, says", [
    (["--g-topk", "0"], "--g-topk must be in (0, 1]"),
    (["--g-topk", "1.5"], "--g-topk must be in (0, 1]"),
    (["--g-topk-decay", "0"], "--g-topk-decay must be in (0, 1]"),
    (["--d-mbstd", "1"], "--d-mbstd must be 0 (off) or a group of >= 2"),
    (["--d-mbstd", "5", "--batch-size", "64"], "--d-mbstd 5 must divide --batch-size 64"),
    (["--batch-size", "50"], "--d-mbstd 4 must divide --batch-size 50 (--d-mbstd 0 turns"),
    (["--lr-decay-start", "1"], "--lr-decay-start must be in [0, 1)"),
    (["--lr-warmup", "-1"], "--lr-warmup must be >= 0"),
    (["--ema-start", "-3"], "--ema-start must be >= 0"),
    (["--lr-schedule", "step"], "invalid choice"),
    (["--d-spectral-norm=yes"], "ignored explicit argument"),
], ids=lambda v: v[0] if isinstance(v, list) else None)
def test_bad_values_one_line_exit_2(flags, says, capsys):
    from fastgan.run.command import main
    try:
        rc = run(main, ["--device", "cpu", "--steps", "1", *flags])
    except SystemExit as e:                           # argparse's own errors exit directly
        rc = e.code
    assert rc == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and says in err, err
    assert "Traceback" not in err


@pytest.mark.parametrize("flag", [["--d-spectral-norm"], ["--d-mbstd", "8"], ["--ema-start", "5"]],
                         ids=lambda v: v[0])
def test_options_that_fix_the_model_cannot_change_on_resume(tmp_path, mnist_dir, flag, capsys):
    from fastgan.run.command import main
    out = tmp_path / "r"
    common = ["--device", "cpu", "--data-dir", str(mnist_dir), "--no-progress", "--no-tensorboard",
              "--no-eval"]
    assert run(main, [*common, "--out", str(out), "--train-size", "640", "--steps", "2"]) == 0
    capsys.readouterr()
    assert run(main, ["--resume", str(out), "--steps", "4", *flag]) == 2
    err = capsys.readouterr().err.strip()
    assert "cannot change on resume" in err and len(err.splitlines()) == 1

"""E models side by side on the CPU reference path: the stacked ops against float64, Adam and the
average against PyTorch's member by member, and member independence (a member among others
computes the same bits as alone)."""
import pytest
import torch

from fastgan.config import ModelConfig, TrainConfig
from fastgan.gan import GAN
from fastgan.kernels.linear_act_ref import linear_act_ref
from fastgan.kernels.sigmoid_bce import discriminator_bce_members, sigmoid_bce_members
from fastgan.optim import MemberAdam, MemberEMA
from numerics import assert_rel

CPU = torch.device("cpu")
SHAPES = [(1, 1, 1), (3, 17, 10), (17, 65, 257), (65, 785, 3), (64, 256, 1)]


@pytest.mark.parametrize("act", ["leaky_relu", "tanh", "none"])
@pytest.mark.parametrize("m, k, n", SHAPES, ids=lambda v: str(v))
@pytest.mark.parametrize("E", [1, 3], ids=lambda v: f"E{v}")
def test_stacked_reference_matches_float64_per_member(E, m, k, n, act):
    """The stacked reference (baddbmm, its backward written out) against plain autograd of one
    model in float64, member by member."""
    g = torch.Generator().manual_seed(E * 1000 + m + k + n)
    x = torch.randn(E, m, k, generator=g, requires_grad=True)
    w = (torch.randn(E, n, k, generator=g) / k ** 0.5).requires_grad_()
    b = torch.randn(E, n, generator=g, requires_grad=True)
    dy = torch.randn(E, m, n, generator=g)
    y = linear_act_ref(x, w, b, act, 0.2)
    y.backward(dy)
    for e in range(E):
        xd, wd, bd = (t[e].detach().double().requires_grad_() for t in (x, w, b))
        ref = linear_act_ref(xd, wd, bd, act, 0.2)
        ref.backward(dy[e].double())
        for name, got, want in (("y", y[e], ref), ("dx", x.grad[e], xd.grad),
                                ("dw", w.grad[e], wd.grad), ("db", b.grad[e], bd.grad)):
            assert_rel(f"member {e} {name} [{m}x{k}x{n} {act}]", got, want, 2e-5)
    assert w.grad.is_contiguous(), "dW comes back in W's layout (no copy on accumulation)"


@pytest.mark.parametrize("E", [1, 3])
def test_bce_members_reference_against_float64(E):
    g = torch.Generator().manual_seed(E)
    z = (torch.randn(E, 2 * 17, generator=g) * 5).requires_grad_()
    labels = torch.tensor([1.0, 0.9, 0.7][:E])
    loss, p_real, p_fake = discriminator_bce_members(z[:, :17], z[:, 17:], labels)
    loss.sum().backward()
    for e in range(E):
        zd = z[e].detach().double().requires_grad_()
        sr, sf = torch.sigmoid(zd[:17]), torch.sigmoid(zd[17:])
        y = float(labels[e])
        want = -(y * sr.log() + (1 - y) * (1 - sr).log()).mean() - (1 - sf).log().mean()
        want.backward()
        assert_rel(f"member {e} loss", loss[e], want, 1e-6)
        assert_rel(f"member {e} D(x)", p_real[e], sr.mean(), 1e-6)
        assert_rel(f"member {e} D(G(z))", p_fake[e], sf.mean(), 1e-6)
        assert_rel(f"member {e} grad", z.grad[e], zd.grad, 1e-6)
    ns, _ = sigmoid_bce_members(z[:, 17:], 1.0)
    assert ns.shape == (E,)


@pytest.mark.parametrize("E", [1, 3])
def test_member_adam_is_torch_adam_member_by_member(E):
    """Each member's slices step exactly as torch.optim.Adam steps that member alone, with its
    own lr and betas, a linear schedule included."""
    g = torch.Generator().manual_seed(E)
    shapes = [(E, 7, 5), (E, 7), (E, 1, 3)]
    stacked = [torch.randn(*s, generator=g).requires_grad_() for s in shapes]
    lrs = [1e-3, 3e-4, 1e-3][:E]
    betas = [(0.5, 0.999), (0.0, 0.99), (0.5, 0.999)][:E]
    schedules = ["linear", "constant", "constant"][:E]
    ours = MemberAdam(stacked, lrs, betas, schedules)
    alone = []
    for e in range(E):
        params = [p[e].detach().clone().requires_grad_() for p in stacked]
        alone.append((params, torch.optim.Adam(params, lr=lrs[e], betas=betas[e], fused=True)))
    for step in range(5):
        scale = 1 - step / 5
        grads = [torch.randn(*s, generator=g) for s in shapes]
        ours.zero_grad()
        for p, gr in zip(stacked, grads):
            p.grad = gr.clone()
        ours.step([scale if s == "linear" else 1.0 for s in schedules])
        for e, (params, opt) in enumerate(alone):
            for group in opt.param_groups:
                group["lr"] = lrs[e] * (scale if schedules[e] == "linear" else 1.0)
            for p, gr in zip(params, grads):
                p.grad = gr[e].clone()
            opt.step()
    for e, (params, opt) in enumerate(alone):
        for i, (p, q) in enumerate(zip(stacked, params)):
            assert torch.equal(p[e], q), f"member {e} param {i} differs from torch.optim.Adam"
        state = ours.member_state(e)
        fresh = [q.detach().clone().requires_grad_() for q in params]
        again = torch.optim.Adam(fresh, lr=lrs[e], betas=betas[e])
        again.load_state_dict(state)                       # torch.optim.Adam's own format
        for i, q in enumerate(params):
            want = opt.state[q]
            assert torch.equal(again.state[fresh[i]]["exp_avg"], want["exp_avg"])
            assert float(again.state[fresh[i]]["step"]) == float(want["step"]) == 5


def test_member_ema_decays_per_member():
    g = torch.Generator().manual_seed(0)
    model = torch.nn.Linear(3, 2)
    with torch.no_grad():
        model.weight = torch.nn.Parameter(torch.randn(2, 2, 3, generator=g))  # [E, out, in]
        model.bias = torch.nn.Parameter(torch.randn(2, 2, generator=g))
    avg = torch.nn.Linear(3, 2)
    avg.weight = torch.nn.Parameter(model.weight.detach().clone())
    avg.bias = torch.nn.Parameter(model.bias.detach().clone())
    ema = MemberEMA(avg, model, [0.9, 0.0])
    want = model.weight.detach().double().clone()
    for t in range(4):
        with torch.no_grad():
            model.weight.add_(torch.randn(2, 2, 3, generator=g))
        ema.update()
        d = min(0.9, (1 + t) / (10 + t))
        want[0] = d * want[0] + (1 - d) * model.weight[0].double()
        want[1] = model.weight[1].double()
    assert_rel("member 0 average", avg.weight[0], want[0], 1e-6)
    assert torch.equal(avg.weight[1], model.weight[1]), "decay 0: an exact copy"


def _cfgs():
    """Three members that differ in everything a group lets differ."""
    model = lambda **kw: ModelConfig(latent_dim=8, g_hidden=(16, 24), d_hidden=(32, 16), **kw)
    return [TrainConfig(seed=0, model=model(d_dropout=0.1, d_input_dropout=0.1)),
            TrainConfig(seed=5, lr_g=1e-3, beta1=0.0, real_label=0.9, g_loss="minimax",
                        ema_decay=0.0, model=model(d_dropout=0.0, d_input_dropout=0.2)),
            TrainConfig(seed=2, lr_d=1e-4, instance_noise=0.1, lr_schedule="linear",
                        model=model(d_dropout=0.3, d_input_dropout=0.0))]


def _train(cfgs, steps=6, threads=None, topk=None):
    """steps of D and G on each member's own batches; topk(t): top-k's count at step t."""
    gan = GAN(cfgs, CPU, compile=False)
    data = torch.Generator().manual_seed(1)
    real = [torch.rand(8, 784, generator=data) * 2 - 1 for _ in range(steps)]
    stats = []
    for t in range(steps):
        gan.set_lr_scales(t, steps)
        x = torch.stack([real[t] + c.seed for c in cfgs])     # each member its own batch
        stats.append(torch.cat([gan.d_step(x, 1 - t / steps),
                                gan.g_step(8, 1 - t / steps, topk(t) if topk else None)], 1))
    return gan, torch.stack(stats, 1)                         # [E, steps, 5]


@pytest.mark.parametrize("e", [0, 1, 2])
def test_a_member_alone_equals_the_member_in_a_grid_bit_for_bit(e, one_thread):
    cfgs = _cfgs()
    grid, s_grid = _train(cfgs)
    alone, s_alone = _train([cfgs[e]])
    assert torch.equal(s_grid[e], s_alone[0]), "the step statistics differ"
    for net in ("G", "D"):
        for (name, a), b in zip(getattr(grid, net).named_parameters(),
                                getattr(alone, net).parameters()):
            assert torch.equal(a[e], b[0]), f"member {e} {net}.{name} differs alone"
    ours, theirs = grid.member_state(e), alone.member_state(0)
    assert ("G_ema" in ours) == ("G_ema" in theirs) == (cfgs[e].ema_decay > 0)
    for key in ours.get("G_ema", {}):
        assert torch.equal(ours["G_ema"][key], theirs["G_ema"][key])


def test_a_grid_is_the_same_on_one_thread_and_on_two():
    threads = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        one, s_one = _train(_cfgs())
        torch.set_num_threads(2)
        two, s_two = _train(_cfgs())
    finally:
        torch.set_num_threads(threads)
    assert torch.equal(s_one, s_two)
    for (name, a), b in zip(one.G.named_parameters(), two.G.parameters()):
        assert torch.equal(a, b), name


def test_a_cpu_grid_is_reproducible():
    _, a = _train(_cfgs())
    _, b = _train(_cfgs())
    assert torch.equal(a, b)

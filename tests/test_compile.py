"""torch.compile(fullgraph=True) traces both ops (on the CPU: the reference path)."""
import pytest
import torch

from fastgan.kernels.linear_act import linear_act
from fastgan.kernels.sigmoid_bce import discriminator_bce, sigmoid_bce
from numerics import assert_rel


def step(x, w1, b1, w2, b2):
    h = linear_act(x, w1, b1, "leaky_relu", 0.2)
    logits = linear_act(h, w2, b2, "none")
    n = x.shape[0] // 2
    d_loss, p_real, p_fake = discriminator_bce(logits[:n], logits[n:], 0.9)
    g_loss = sigmoid_bce(logits[n:], 1.0)
    return d_loss + g_loss, p_real, p_fake


def test_compiled_fullgraph_matches_eager():
    torch._dynamo.reset()
    x = torch.randn(8, 17)
    params = [torch.randn(5, 17), torch.randn(5), torch.randn(1, 5), torch.randn(1)]
    eager = [p.clone().requires_grad_() for p in params]
    comp = [p.clone().requires_grad_() for p in params]
    out_e = step(x, *eager)
    out_e[0].backward()
    compiled = torch.compile(step, fullgraph=True)
    out_c = compiled(x, *comp)
    out_c[0].backward()
    for name, a, b in zip(("loss", "D(x)", "D(G(z))"), out_c, out_e):
        assert_rel(name, a, b, 1e-6)
    for i, (a, b) in enumerate(zip(comp, eager)):
        assert_rel(f"grad {i}", a.grad, b.grad, 1e-5)


@pytest.mark.parametrize("activation", ["leaky_relu", "tanh", "none"])
def test_compiled_stacked_reference_matches_eager(activation):
    """The member-stacked reference (its own autograd.Function, activation in place in eager)
    traced with its backward: torch 2.11 once saved a wrong output for the backward."""
    torch._dynamo.reset()
    g = torch.Generator().manual_seed(11)
    inputs = [torch.randn(3, 17, 65, generator=g), torch.randn(3, 5, 65, generator=g),
              torch.randn(3, 5, generator=g)]
    scale = torch.randn(3, 17, 5, generator=g)
    f = lambda x, w, b: linear_act(x, w, b, activation, 0.2)
    results = []
    for fn in (f, torch.compile(f, fullgraph=True)):
        ps = [t.clone().requires_grad_() for t in inputs]
        y = fn(*ps)
        (y * scale).sum().backward()
        results.append([y] + [p.grad for p in ps])
    for name, a, b in zip(("y", "dx", "dw", "db"), results[1], results[0]):
        assert_rel(name, a, b, 1e-5)


def test_compiled_gan_steps_with_the_recipe_options_match_eager():
    """The traced D and G steps with spectral norm, minibatch std and top-k (fullgraph) follow
    the eager steps (the power iteration runs outside the traced functions)."""
    from fastgan.config import ModelConfig, TrainConfig
    from fastgan.gan import GAN
    torch._dynamo.reset()
    model = ModelConfig(latent_dim=8, g_hidden=(16,), d_hidden=(32, 16), d_spectral_norm=True,
                        d_mbstd=4, d_dropout=0.1, d_input_dropout=0.1)
    cfgs = [TrainConfig(seed=s, batch_size=8, g_topk=0.5, model=model) for s in (0, 1)]
    runs = []
    for compiled in (False, True):
        gan = GAN(cfgs, torch.device("cpu"), compile=compiled)
        real = torch.rand(2, 8, 784, generator=torch.Generator().manual_seed(0)) * 2 - 1
        stats = [torch.cat([gan.d_step(real), gan.g_step(8, 1.0, topk)], 1)
                 for topk in (8, 6, 4)]
        runs.append((gan, torch.stack(stats)))
    (eager, s_e), (comp, s_c) = runs
    assert_rel("step statistics", s_c, s_e, 1e-5)
    for (name, a), b in zip(comp.D.named_parameters(), eager.D.parameters()):
        assert_rel(f"D.{name}", a, b, 1e-5)


CUDA = torch.cuda.is_available()


@pytest.mark.skipif(not CUDA, reason="needs CUDA (torch.compile traces the Triton ops there)")
@pytest.mark.parametrize("bias", [True, False], ids=["bias", "no-bias"])
@pytest.mark.parametrize("E", [1, 3], ids=lambda v: f"E{v}")
def test_compiled_triton_ops_match_eager_on_cuda(E, bias):
    """The Triton ops traced into one graph (launches functionalized by Inductor) give what
    they give eagerly: a linear layer of each activation, the D and G losses (a scalar and a
    per-element target), the members' normal draws. The first GPU run trained eagerly and
    diverged compiled (sigmoid_bce's gradient buffer passed twice to its kernel)."""
    from fastgan.kernels.member_random import member_normal
    from fastgan.kernels.sigmoid_bce import discriminator_bce_members, sigmoid_bce_members
    torch._dynamo.reset()
    g = torch.Generator().manual_seed(5 + E)
    x = torch.randn(E, 65, 17, generator=g).cuda()
    params = [torch.randn(E, 257, 17, generator=g), torch.randn(E, 257, generator=g),
              torch.randn(E, 3, 257, generator=g) / 16, torch.randn(E, 3, generator=g),
              torch.randn(E, 1, 3, generator=g), torch.randn(E, 1, generator=g)]
    target = torch.rand(E, 33, generator=g).cuda()
    seeds = torch.arange(E, dtype=torch.int64, device="cuda") + 7

    def f(x, w1, b1, w2, b2, w3, b3):
        h = linear_act(x, w1, b1 if bias else None, "leaky_relu", 0.2, input_precision="ieee")
        h = linear_act(h, w2, b2 if bias else None, "tanh", input_precision="ieee")
        z = linear_act(h, w3, b3 if bias else None, "none", input_precision="ieee")[..., 0]
        d_loss = discriminator_bce_members(z[:, :32], z[:, 32:], 0.9)[0]
        g_loss = sigmoid_bce_members(z[:, 32:], 1.0)[0]
        t_loss = sigmoid_bce_members(z[:, 32:], target)[0]
        noise = member_normal(seeds, 3, 9)
        return (d_loss + 2 * g_loss + 3 * t_loss).sum(), d_loss, g_loss, t_loss, noise

    results = []
    for fn in (f, torch.compile(f, fullgraph=True)):
        ps = [p.cuda().requires_grad_() for p in params]
        out = fn(x, *ps)
        out[0].backward()
        results.append(list(out) + [p.grad for p in ps])
    names = ["loss", "d_loss", "g_loss", "t_loss", "noise", "dw1", "db1", "dw2", "db2", "dw3",
             "db3"]
    for name, c, e in zip(names, results[1], results[0]):
        if e is None:
            assert c is None, name
            continue
        assert torch.isfinite(c).all(), f"{name}: non-finite compiled values"
        assert_rel(f"compiled {name}", c, e, 1e-5)

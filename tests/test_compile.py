"""torch.compile(fullgraph=True) traces both ops (on the CPU: the reference path)."""
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

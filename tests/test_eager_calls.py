"""linear_act's eager fast path: a call like one before it skips the checks that call passed and
repeats each launch's plan; the numbers equal the first call's, bit for bit, and anything that
changes what a check or a launch depends on takes the full path again.

    TRITON_INTERPRET=1 python -m pytest tests/test_eager_calls.py
"""
import pytest
import torch

from fastgan.kernels._dispatch import INTERPRET
from fastgan.kernels import linear_act as la
from fastgan.kernels.linear_act import Drop, linear_act
from fastgan.kernels.member_random import BitDraw, NormalDraw
from triton_limits import runs_linear_act

CUDA = torch.cuda.is_available()
pytestmark = [pytest.mark.skipif(not (CUDA or INTERPRET), reason="needs CUDA or "
                                 "TRITON_INTERPRET=1"), runs_linear_act]
DEVICE = "cuda" if CUDA else "cpu"


def _inputs(seed, E=3, M=17, K=65, N=10):
    g = torch.Generator().manual_seed(seed)
    return [torch.randn(*s, generator=g).to(DEVICE).requires_grad_()
            for s in ((E, M, K), (E, N, K), (E, N))]


def _call(x, w, b, **kw):
    y = linear_act(x, w, b, "leaky_relu", 0.2, input_precision="ieee", **kw)
    dy = torch.randn(y.shape, generator=torch.Generator().manual_seed(1)).to(DEVICE)
    return (y, *torch.autograd.grad(y, [t for t in (x, w, b) if isinstance(t, torch.Tensor)], dy))


@pytest.mark.parametrize("case", ["plain", "dropout", "z drawn"])
def test_a_repeated_call_takes_the_plans_and_equals_the_first(case):
    x, w, b = _inputs(11)
    seeds = torch.tensor([3, 5, 7], device=DEVICE)
    counter = torch.tensor([2], device=DEVICE)
    kw = {}
    if case == "dropout":
        kw["drop"] = Drop(BitDraw(seeds, counter, 1), torch.tensor([-29000, -32768, 0],
                                                                   dtype=torch.int16,
                                                                   device=DEVICE),
                          torch.tensor([1.1, 1.0, 2.0], device=DEVICE))
    if case == "z drawn":
        x = NormalDraw(seeds, counter, 3, 17, 65)
    first = _call(x, w, b, **kw)
    plans = len(la._PLANS)
    again = _call(x, w, b, **kw)
    assert len(la._PLANS) == plans and plans >= 3       # fwd, dx or dw: the same plans reused
    for name, a, c in zip(("y", "d1", "d2", "d3"), first, again):
        assert torch.equal(a, c), f"{name} differs on the repeated call"
    if case == "plain":
        assert any(sig[0] == x.shape for sig in la._SEEN), "the call was not remembered"


def test_a_changed_input_is_checked_again():
    """After a good call, the same x and weight with a bias of another shape or dtype, or a
    non-contiguous x, take the full path: the checks still say what is wrong, and a strided x
    computes what its contiguous copy does."""
    x, w, b = _inputs(12)
    _call(x, w, b)
    with pytest.raises(ValueError, match="bias must have shape"):
        linear_act(x, w, b[:, :5], "leaky_relu")
    with pytest.raises(TypeError, match="share one dtype"):
        linear_act(x, w, b.double(), "leaky_relu")
    wide = torch.randn(3, 17, 130, device=DEVICE)[:, :, ::2]           # strides (., 130, 2)
    assert torch.equal(linear_act(wide, w, b, "tanh", input_precision="ieee"),
                       linear_act(wide.contiguous(), w, b, "tanh", input_precision="ieee"))


def test_under_a_functorch_transform_the_full_apply_runs():
    """Where a functorch transform is active (torch.func.grad), the call goes through
    autograd.Function.apply, whose wrapper handles transforms (here: PyTorch's own refusal of a
    Function without setup_context), not the C++ apply alone."""
    x, w, b = _inputs(13)
    _call(x, w, b)                                     # the call is remembered
    with pytest.raises(RuntimeError, match="setup_context"):
        torch.func.grad(lambda w_: linear_act(x.detach(), w_, b.detach(), "leaky_relu",
                                              input_precision="ieee").sum())(w.detach())


def test_a_call_with_a_draw_never_takes_the_plan_of_one_without():
    """The same tensors without dropout, then with a draw at offset 1 (as True == 1 in a key
    would confuse them), then 0: each computes what its own path does."""
    from fastgan.kernels.linear_act_ref import dropout_mask
    x, w, b = _inputs(14)
    seeds, counter = torch.tensor([3, 5, 7], device=DEVICE), torch.tensor([2], device=DEVICE)
    threshold = torch.tensor([-20000, -32768, 0], dtype=torch.int16, device=DEVICE)
    scale = torch.tensor([1.2, 1.0, 2.0], device=DEVICE)
    plain = _call(x, w, b)
    for offset in (1, 0):
        drop = Drop(BitDraw(seeds, counter, offset), threshold, scale)
        mask = dropout_mask(drop.draw.bits(17 * 65).view(3, 17, 65), threshold, scale)
        x2 = (x.detach() * mask).requires_grad_()
        got, want = _call(x, w, b, drop=drop), _call(x2, w, b)
        assert torch.equal(got[0], want[0]), f"offset {offset}: y differs"
        assert not torch.equal(got[0], plain[0])
        assert torch.equal(got[1], want[1] * mask), f"offset {offset}: dx differs"

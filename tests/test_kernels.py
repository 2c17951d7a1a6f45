"""The Triton kernels against float64 references.

Runs on CUDA, or on the CPU through the Triton interpreter:
    TRITON_INTERPRET=1 python -m pytest tests/test_kernels.py
Every buffer the kernels allocate is pre-filled with NaN, so an element a kernel fails to write
shows up as a non-finite value.
"""
import itertools

import pytest
import torch

from fastgan.kernels.linear_act import linear_act
from fastgan.kernels.linear_act_ref import linear_act_ref
from fastgan.kernels.sigmoid_bce import (discriminator_bce, discriminator_bce_members,
                                         sigmoid_bce, sigmoid_bce_members, sigmoid_bce_stats)
from fastgan.kernels.sigmoid_bce_ref import discriminator_bce_ref, sigmoid_bce_ref
from fastgan.kernels._dispatch import INTERPRET
from triton_limits import runs_linear_act
from numerics import assert_like_torch, assert_rel, rel_err

CUDA = torch.cuda.is_available()
pytestmark = pytest.mark.skipif(not (CUDA or INTERPRET), reason=(
    "needs CUDA or the Triton interpreter: TRITON_INTERPRET=1 pytest tests/test_kernels.py"))
DEVICE = "cuda" if CUDA else "cpu"

ACTS = [("leaky_relu", 0.01), ("leaky_relu", 0.2), ("tanh", 0.2), ("none", 0.2)]
ACT_IDS = ["leaky0.01", "leaky0.2", "tanh", "none"]
# Every M in {1, 3, 64, 65} with every K in {1, 17, 100, 784}, N cycling through {1, 10, 257};
# then the model's own layers at batch 64 (D sees 2 x 64 rows).
_NS = itertools.cycle([1, 10, 257])
SHAPES = [(m, k, next(_NS)) for m in (1, 3, 64, 65) for k in (1, 17, 100, 784)]
MODEL = [(64, 100, 384, "leaky_relu"), (64, 1536, 784, "tanh"), (128, 784, 512, "leaky_relu"),
         (128, 257, 1, "none")]


@pytest.fixture(autouse=True)
def nan_buffers(monkeypatch):
    """torch.empty / empty_like hand out NaN-filled floating tensors during each test."""
    empty, empty_like = torch.empty, torch.empty_like

    def fill(t):
        return t.fill_(float("nan")) if t.is_floating_point() else t
    monkeypatch.setattr(torch, "empty", lambda *a, **k: fill(empty(*a, **k)))
    monkeypatch.setattr(torch, "empty_like", lambda *a, **k: fill(empty_like(*a, **k)))


def _inputs(m, k, n, dtype=torch.float32, bias=True):
    """Fresh random x [m, k], w [n, k], b [n]; redrawn while any pre-activation lies within its
    fp32 rounding scale of 0, where even torch's fp32 sign of Z (the LeakyReLU branch) is a
    coin toss."""
    for _ in range(50):
        x = torch.randn(m, k, device=DEVICE, dtype=dtype)
        w = torch.randn(n, k, device=DEVICE, dtype=dtype) / k ** 0.5
        b = torch.randn(n, device=DEVICE, dtype=dtype) if bias else None
        z = x.double() @ w.double().T + (b.double() if bias else 0)
        if (z.abs() > 10 * _forward_scale(x, w, b)).all():
            break
    return x, w, b


def _forward_scale(x, w, b, dtype=torch.float32):
    u = torch.finfo(dtype).eps / 2
    y = x.double().abs() @ w.double().abs().T + (b.double().abs() if b is not None else 0)
    return u * (x.shape[1] ** 0.5 + 3) * y


def _run(fn, x, w, b, dy, **kw):
    """Forward and all input grads of fn(x, w, b) against the upstream gradient dy."""
    leaves = [t.detach().clone().requires_grad_() if t is not None else None for t in (x, w, b)]
    y = fn(*leaves, **kw)
    y.backward(dy.to(y.dtype))
    return [y.detach()] + [t.grad if t is not None else None for t in leaves], y


def _ran_triton(t) -> bool:
    """Whether a fastgan op is in t's autograd graph (a one-model call adds a squeeze)."""
    todo, seen = [t.grad_fn], set()
    while todo:
        fn = todo.pop()
        if fn is None or fn in seen:
            continue
        seen.add(fn)
        if "fastgan" in type(fn).__name__.lower():   # the op, or its eager Function
            return True
        todo.extend(f for f, _ in fn.next_functions)
    return False


def _check_against_fp64(x, w, b, act, slope, precision="ieee"):
    """(ours, fp64 reference, torch fp32, rounding scale) for y, dx, dw, db."""
    m, n = x.shape[0], w.shape[0]
    dy = torch.randn(m, n, device=DEVICE, dtype=torch.float32)
    ours, y = _run(linear_act, x, w, b, dy, activation=act, negative_slope=slope,
                   input_precision=precision)
    assert _ran_triton(y), "the Triton op did not run"
    ref, _ = _run(linear_act_ref, *(t.double() if t is not None else None for t in (x, w, b)),
                  dy.double(), activation=act, negative_slope=slope)
    same, _ = _run(linear_act_ref, x, w, b, dy, activation=act, negative_slope=slope)
    return ours, ref, same, _rounding_scale(x, w, b, dy, act)


def _rounding_scale(x, w, b, dy, act):
    """Per element, the rounding-error scale of an fp32 computation of y, dx, dw, db:
    u (sqrt(L) + 3) (|A| |B|) for a length-L dot product plus the epilogue's few roundings
    (u = eps/2), the backward taking |dY| for |dZ| (act' <= 1). For tanh, the forward's error in
    Z also reaches dZ = dY (1 - Y^2), through |d(1 - tanh^2)/dZ| <= 0.77. A wrong tile or mask
    errs by the size of the terms themselves, far above this."""
    u = torch.finfo(torch.float32).eps / 2
    xa, wa, g = x.double().abs(), w.double().abs(), dy.double().abs()
    m, n = x.shape[0], w.shape[0]
    s_y = _forward_scale(x, w, b)
    p = g * 0.77 * s_y if act == "tanh" else torch.zeros_like(g)   # forward error carried in dZ
    return [s_y, u * (n ** 0.5 + 3) * (g @ wa) + p @ wa,
            u * (m ** 0.5 + 3) * (g.T @ xa) + p.T @ xa, u * (m ** 0.5 + 3) * g.sum(0) + p.sum(0)]


def _assert_fp32(label, ours, ref, torch32, scale):
    for name, o, r, t, s in zip(("y", "dx", "dw", "db"), ours, ref, torch32, scale):
        if o is None:
            continue
        # 1e-5 relative, unless the output is so ill-conditioned (a sum that cancels) that its
        # rounding scale alone exceeds that
        assert_rel(f"{name} {label}", o, r, max(1e-5, rel_err(s, torch.zeros_like(s)) /
                                                 max(r.double().norm().item(), 1e-300)))
        assert_like_torch(f"{name} {label}", o, t, r, atol=s)


@runs_linear_act
@pytest.mark.parametrize("act, slope", ACTS, ids=ACT_IDS)
@pytest.mark.parametrize("m, k, n", SHAPES, ids=lambda v: str(v))
def test_linear_act_fp32_ieee(m, k, n, act, slope):
    x, w, b = _inputs(m, k, n)
    _assert_fp32(f"[{m}x{k}x{n} {act} {slope}]", *_check_against_fp64(x, w, b, act, slope))


@runs_linear_act
@pytest.mark.parametrize("m, k, n, act", MODEL, ids=lambda v: str(v))
def test_linear_act_model_shapes(m, k, n, act):
    x, w, b = _inputs(m, k, n)
    _assert_fp32(f"[{m}x{k}x{n} {act}]", *_check_against_fp64(x, w, b, act, 0.2))


@runs_linear_act
def test_linear_act_without_bias_and_strided_inputs():
    x, w, _ = _inputs(17, 33, 10)
    xt = torch.randn(33, 17, device=DEVICE).t()               # [17, 33], column-major
    ours, ref, torch32, scale = _check_against_fp64(xt, w, None, "leaky_relu", 0.2)
    _assert_fp32("[17x33x10 strided, no bias]", ours, ref, torch32, scale)
    assert ours[3] is None


@runs_linear_act
def test_linear_act_stride0_gradient():
    # y.sum() hands the backward an expanded (stride 0) gradient.
    x, w, b = (t.requires_grad_() for t in _inputs(5, 7, 3))
    linear_act(x, w, b, "tanh", input_precision="ieee").sum().backward()
    xd, wd, bd = (t.detach().double().requires_grad_() for t in (x, w, b))
    linear_act_ref(xd, wd, bd, "tanh").sum().backward()
    for name, o, r in (("dx", x.grad, xd.grad), ("dw", w.grad, wd.grad), ("db", b.grad, bd.grad)):
        assert_rel(name, o, r, 1e-5)


@runs_linear_act
def test_linear_act_leaky_at_zero_uses_the_slope():
    x = torch.zeros(2, 3, device=DEVICE, requires_grad=True)
    w = torch.ones(4, 3, device=DEVICE, requires_grad=True)
    y = linear_act(x, w, None, "leaky_relu", 0.2, input_precision="ieee")   # 0.2 exact
    y.backward(torch.ones_like(y))
    assert torch.equal(x.grad, torch.full_like(x.grad, 0.8))   # 4 outputs x slope 0.2


@pytest.mark.parametrize("bad, error, says", [
    (lambda x, w, b: (x.double(), w.double(), b.double()), TypeError, "float32 or bfloat16"),
    (lambda x, w, b: (x, w.double(), b), TypeError, "share one dtype"),
    (lambda x, w, b: (x[:, :-1], w, b), ValueError, "do not match"),
    (lambda x, w, b: (x[0], w, b), ValueError, "must both be 2-D"),
    (lambda x, w, b: (x, w, b[:-1]), ValueError, "bias must have shape"),
    (lambda x, w, b: (x.expand(2, -1, -1), w.expand(3, -1, -1), b.expand(3, -1)), ValueError,
     "do not match"),
    (lambda x, w, b: (x.expand(3, -1, -1), w.expand(3, -1, -1), b), ValueError,
     "bias must have shape"),
], ids=["float64", "mixed-dtype", "k-mismatch", "1-D", "bias-shape", "members-mismatch",
        "members-bias"])
def test_linear_act_bad_inputs(bad, error, says):
    x, w, b = bad(*_inputs(4, 5, 6))
    with pytest.raises(error, match=says):
        linear_act(x, w, b, "none")


def test_linear_act_bad_activation_and_slope():
    x, w, b = _inputs(4, 5, 6)
    with pytest.raises(ValueError, match="activation must be one of"):
        linear_act(x, w, b, "relu")
    with pytest.raises(ValueError, match="negative_slope must be in"):
        linear_act(x, w, b, "leaky_relu", 0.0)


# ---- linear_act with a member axis: E models in one launch ----------------------------------
# (M, K, N) odd shapes with E = 1 and 3 members; each member against its own float64 reference.
MEMBER_SHAPES = [(1, 1, 1), (3, 17, 10), (17, 65, 257), (65, 785, 3)]


def _member_case(E, m, k, n, bias=True, seed=0):
    torch.manual_seed(1000 * E + 7 * m + k + n + seed)
    xs, ws, bs = zip(*(_inputs(m, k, n, bias=bias) for _ in range(E)))
    return torch.stack(xs), torch.stack(ws), (torch.stack(bs) if bias else None)


def _assert_members(label, x, w, b, act, slope, dy=None):
    """Runs the batched op once for all members, then checks member e against the float64
    reference of member e alone, within its own rounding scale."""
    E, m, n = x.shape[0], x.shape[1], w.shape[1]
    dy = dy if dy is not None else torch.randn(E, m, n, device=DEVICE)
    ours, y = _run(linear_act, x, w, b, dy, activation=act, negative_slope=slope,
                   input_precision="ieee")
    assert _ran_triton(y), "the Triton op did not run"
    for e in range(E):
        be = b[e] if b is not None else None
        ref, _ = _run(linear_act_ref, x[e].double(), w[e].double(),
                      be.double() if be is not None else None, dy[e].double(),
                      activation=act, negative_slope=slope)
        same, _ = _run(linear_act_ref, x[e], w[e], be, dy[e], activation=act,
                       negative_slope=slope)
        mine = [t[e] if t is not None else None for t in ours]
        _assert_fp32(f"{label} member {e}", mine, ref, same,
                     _rounding_scale(x[e], w[e], be, dy[e], act))


@runs_linear_act
@pytest.mark.parametrize("act, slope", ACTS, ids=ACT_IDS)
@pytest.mark.parametrize("m, k, n", MEMBER_SHAPES, ids=lambda v: str(v))
@pytest.mark.parametrize("E", [1, 3], ids=lambda v: f"E{v}")
def test_linear_act_members(E, m, k, n, act, slope):
    x, w, b = _member_case(E, m, k, n)
    _assert_members(f"[E{E} {m}x{k}x{n} {act}]", x, w, b, act, slope)


@runs_linear_act
@pytest.mark.parametrize("E", [1, 3], ids=lambda v: f"E{v}")
def test_linear_act_members_model_layer(E):
    x, w, b = _member_case(E, 64, 1536, 784)
    _assert_members(f"[E{E} 64x1536x784 tanh]", x, w, b, "tanh", 0.2)


@runs_linear_act
def test_linear_act_members_strided_and_without_bias():
    """Member strides that are not the product of the others (slices of larger tensors),
    column-major members, and no bias."""
    x, w, _ = _member_case(3, 17, 33, 10, bias=False)
    big = torch.randn(3, 40, 33, device=DEVICE)
    big[:, 5:22] = x
    xs = big[:, 5:22]                                  # member stride 40*33, not 17*33
    wt = torch.randn(3, 33, 10, device=DEVICE)
    wt.copy_(w.transpose(1, 2))
    _assert_members("[E3 strided, column-major w, no bias]", xs, wt.transpose(1, 2), None,
                    "leaky_relu", 0.2)


@runs_linear_act
def test_linear_act_shared_input_has_stride_0_and_sums_its_gradient():
    """One input for every member (stride 0 on the member axis): each member's output is its
    own layer of it, and the input's gradient is the sum over members."""
    x, w, b = _member_case(3, 5, 7, 4)
    shared = x[0].clone().requires_grad_()
    y = linear_act(shared.expand(3, -1, -1), w, b, "tanh", input_precision="ieee")
    dy = torch.randn_like(y)
    y.backward(dy)
    xd = shared.detach().double().requires_grad_()
    ref = torch.stack([linear_act_ref(xd, w[e].double(), b[e].double(), "tanh") for e in range(3)])
    ref.backward(dy.double())
    assert_rel("y", y, ref, 1e-6)
    assert_rel("dx summed over members", shared.grad, xd.grad, 1e-6)


@runs_linear_act
def test_linear_act_members_do_not_depend_on_each_other():
    """Member 1's outputs and gradients are the same bits whether it runs alone or among 3."""
    x, w, b = _member_case(3, 17, 65, 10)
    dy = torch.randn(3, 17, 10, device=DEVICE)
    all3, _ = _run(linear_act, x, w, b, dy, activation="leaky_relu", input_precision="ieee")
    one, _ = _run(linear_act, x[1:2], w[1:2], b[1:2], dy[1:2], activation="leaky_relu",
                  input_precision="ieee")
    for name, a, o in zip(("y", "dx", "dw", "db"), all3, one):
        assert torch.equal(a[1], o[0]), f"{name} of member 1 depends on the other members"


# ---- sigmoid_bce -----------------------------------------------------------------------------
def _logits(n, scale):
    z = torch.randn(n, device=DEVICE) * scale
    if scale >= 30:                       # the extremes themselves, both signs
        z[: min(n, 4)] = torch.tensor([scale, -scale, scale, -scale][: min(n, 4)])
    return z


SIZES = [1, 3, 1023, 1025, 5000]
SCALES = [3.0, 30.0, 1e4]


@pytest.mark.parametrize("scale", SCALES, ids=lambda v: f"z~{v:g}")
@pytest.mark.parametrize("n", SIZES, ids=lambda v: f"n{v}")
@pytest.mark.parametrize("target", ["one", "zero", "smooth", "tensor"])
def test_sigmoid_bce(n, scale, target):
    z = _logits(n, scale)
    y = {"one": 1.0, "zero": 0.0, "smooth": 0.9,
         "tensor": torch.rand(n, device=DEVICE).round()}[target]
    zl = z.clone().requires_grad_()
    loss, prob = sigmoid_bce_stats(zl, y)
    loss.backward()
    assert _ran_triton(loss), "the Triton op did not run"
    # the reference sees the target the kernel sees: 0.9 rounded to fp32
    yd = y.double() if isinstance(y, torch.Tensor) else float(torch.tensor(y))
    zd = z.double().requires_grad_()
    ref, ref_prob = sigmoid_bce_ref(zd[None], yd[None] if isinstance(yd, torch.Tensor) else yd)
    ref.sum().backward()
    assert torch.isfinite(loss) and torch.isfinite(zl.grad).all()
    assert_rel("loss", loss, ref[0], 1e-6)         # a mean of terms >= 0: no cancellation
    assert_rel("mean sigmoid", prob, ref_prob[0], 1e-6)
    _assert_grad("grad", zl.grad, zd.grad, zd.detach(), yd)


def _assert_grad(name, got, want, z, y):
    # (sigmoid(z) - y) / N cancels where sigmoid(z) ~ y: bound each element by the rounding
    # scale of that difference, 8 u (sigmoid(z) + |y|) / N (exp, 1 + e, the division, the
    # subtraction, 1/N and the product: about eight roundings), with fp32's smallest normal
    # number as the floor (subnormals keep no relative precision); 1e-6 relative overall.
    fp32 = torch.finfo(torch.float32)
    y = torch.as_tensor(y, dtype=torch.float64, device=z.device)
    scale = 8 * (fp32.eps / 2) * (torch.sigmoid(z) + y.abs()) / z.numel() + fp32.tiny
    assert_like_torch(name, got, want, want, atol=scale)   # torch term 0: the bound is atol
    assert_rel(name, got, want, max(1e-6, scale.norm().item() / max(want.norm().item(), 1e-300)))


@pytest.mark.parametrize("n_real, n_fake", [(1, 1), (3, 1025), (1025, 3), (64, 64)])
@pytest.mark.parametrize("real_label", [1.0, 0.9])
def test_discriminator_bce(n_real, n_fake, real_label):
    zr, zf = _logits(n_real, 30.0).view(-1, 1), _logits(n_fake, 3.0).view(-1, 1)
    r, f = zr.clone().requires_grad_(), zf.clone().requires_grad_()
    loss, p_real, p_fake = discriminator_bce(r, f, real_label)
    (loss * 2).backward()                                 # a grad_output other than 1
    rd, fd = zr.double().requires_grad_(), zf.double().requires_grad_()
    label32 = float(torch.tensor(real_label))          # the label the kernel sees, in fp32
    ref, ref_real, ref_fake = discriminator_bce_ref(rd.view(1, -1), fd.view(1, -1), label32)
    (ref.sum() * 2).backward()
    assert_rel("loss", loss, ref[0], 1e-6)
    assert_rel("D(x)", p_real, ref_real[0], 1e-6)
    assert_rel("D(G(z))", p_fake, ref_fake[0], 1e-6)
    _assert_grad("grad real", r.grad / 2, rd.grad / 2, rd.detach(), float(torch.tensor(real_label)))
    _assert_grad("grad fake", f.grad / 2, fd.grad / 2, fd.detach(), 0.0)


def test_sigmoid_bce_exact_at_extremes():
    # softplus form: exact where a naive log(sigmoid) gives inf or 0.
    z = torch.tensor([1e4, -1e4, 30.0, -30.0], device=DEVICE)
    for y, want in ((1.0, [0.0, 1e4, 9.357622968840175e-14, 30.0]),
                    (0.0, [1e4, 0.0, 30.0, 9.357622968840175e-14])):
        for i, w in enumerate(want):
            got = sigmoid_bce(z[i:i + 1], y).item()
            assert got == pytest.approx(w, rel=1e-6, abs=0), f"z={z[i].item()} y={y}"


@pytest.mark.parametrize("call, error, says", [
    (lambda z: sigmoid_bce(z.double(), 1.0), TypeError, "float32 or bfloat16"),
    (lambda z: sigmoid_bce(z.long(), 1.0), TypeError, "floating tensor"),
    (lambda z: sigmoid_bce(z.t(), 1.0), ValueError, "contiguous"),
    (lambda z: sigmoid_bce(z, torch.ones(3, device=z.device)), ValueError, "must match"),
    (lambda z: sigmoid_bce_members(z, torch.ones(3, device=z.device)), ValueError, r"must be \[E\]"),
    (lambda z: sigmoid_bce_members(z[None], 1.0), ValueError, "one row per member"),
    (lambda z: sigmoid_bce(z[:0], 1.0), ValueError, "empty"),
    (lambda z: sigmoid_bce(z, "1"), TypeError, "float or a tensor"),
    (lambda z: discriminator_bce(z, z, 1.5), ValueError, "real_label"),
], ids=["float64", "int", "non-contiguous", "target-shape", "members-target", "members-3d",
        "empty", "str-target", "label"])
def test_sigmoid_bce_bad_inputs(call, error, says):
    with pytest.raises(error, match=says):
        call(torch.randn(4, 5, device=DEVICE))


# ---- sigmoid_bce with a member axis ----------------------------------------------------------
@pytest.mark.parametrize("target", ["float", "per-member", "per-element"])
@pytest.mark.parametrize("E, n", [(1, 1), (3, 17), (3, 1025), (5, 64)], ids=lambda v: str(v))
def test_sigmoid_bce_members(E, n, target):
    big = torch.randn(E, n + 3, device=DEVICE) * 3
    z = big[:, 2:n + 2]                                # member stride n + 3: rows of a larger tensor
    y = {"float": 0.9, "per-member": torch.rand(E, device=DEVICE),
         "per-element": torch.rand(E, n, device=DEVICE).round()}[target]
    zl = z.clone().requires_grad_()
    loss, prob = sigmoid_bce_members(zl, y)
    assert loss.shape == prob.shape == (E,) and _ran_triton(loss)
    w = torch.arange(1.0, E + 1, device=DEVICE)        # each member's loss its own weight
    (loss * w).sum().backward()
    for e in range(E):
        ye = y if isinstance(y, float) else y[e]
        yd = float(torch.tensor(ye)) if isinstance(ye, float) else ye.double()
        zd = z[e].double().requires_grad_()
        ref, ref_prob = sigmoid_bce_ref(zd[None], yd if isinstance(yd, float) else
                                        (yd[None] if yd.dim() else yd.expand(1)))
        (ref.sum() * w[e].item()).backward()
        assert_rel(f"member {e} loss", loss[e], ref[0], 1e-6)
        assert_rel(f"member {e} mean sigmoid", prob[e], ref_prob[0], 1e-6)
        _assert_grad(f"member {e} grad", zl.grad[e] / w[e], zd.grad / w[e].item(), zd.detach(),
                     yd if isinstance(yd, float) else yd.expand(n))


@pytest.mark.parametrize("E", [1, 3])
def test_discriminator_bce_members(E):
    logits = torch.randn(E, 2 * 65, device=DEVICE) * 4   # D's output: real then fake, per member
    labels = torch.tensor([1.0, 0.9, 0.8][:E], device=DEVICE)
    lg = logits.clone().requires_grad_()
    loss, p_real, p_fake = discriminator_bce_members(lg[:, :65], lg[:, 65:], labels)
    (loss.sum() * 2).backward()
    for e in range(E):
        rd = logits[e, :65].double().requires_grad_()
        fd = logits[e, 65:].double().requires_grad_()
        label = float(labels[e])
        ref, ref_real, ref_fake = discriminator_bce_ref(rd[None], fd[None], label)
        (ref.sum() * 2).backward()
        assert_rel(f"member {e} loss", loss[e], ref[0], 1e-6)
        assert_rel(f"member {e} D(x)", p_real[e], ref_real[0], 1e-6)
        assert_rel(f"member {e} D(G(z))", p_fake[e], ref_fake[0], 1e-6)
        _assert_grad(f"member {e} grad real", lg.grad[e, :65] / 2, rd.grad / 2, rd.detach(), label)
        _assert_grad(f"member {e} grad fake", lg.grad[e, 65:] / 2, fd.grad / 2, fd.detach(), 0.0)


# ---- CUDA only: tf32 and bf16, by the rule |ours - fp64| <= 2 |torch same dtype - fp64| + atol ---
cuda_only = pytest.mark.skipif(not CUDA, reason="needs CUDA")


def _tf32(t):
    """float32 rounded to tf32 (10 mantissa bits), to nearest, ties away from zero: cvt.rna."""
    bits = t.contiguous().view(torch.int32)
    return ((bits + 0x1000) & -0x2000).view(torch.float32)


@runs_linear_act
@pytest.mark.parametrize("m, k, n, act", [(1, 17, 10, "leaky_relu"), (65, 100, 257, "tanh"),
                                          (64, 256, 1, "none"), (3, 785, 65, "leaky_relu")],
                         ids=lambda v: str(v))
def test_linear_act_tf32_rounds_its_operands_to_nearest(m, k, n, act):
    """input_precision="tf32": every dot operand (X and W forward, dZ and W for dX, dZ^T and X
    for dW) is rounded to tf32 to nearest, as cuBLAS does, not truncated as raw float32 bits in
    the tensor cores are. tf32 products are exact in float32, so the result is the float64
    product of the rounded operands up to float32 accumulation, on the GPU and in the
    interpreter alike. Unrounded or truncated operands err by ~2^-11 relative, 30x the bound."""
    for _ in range(50):           # pre-activations clear of 0 by 10 fp32 scales, after rounding
        x, w, b = _inputs(m, k, n)
        z = _tf32(x).double() @ _tf32(w).double().T + b.double()
        if (z.abs() > 10 * _forward_scale(x, w, b)).all():
            break
    dy = torch.randn(m, n, device=DEVICE)
    (y, dx, dw, db), _ = _run(linear_act, x, w, b, dy, activation=act, input_precision="tf32")
    yd = {"leaky_relu": lambda v: torch.where(v > 0, v, 0.2 * v), "tanh": torch.tanh,
          "none": lambda v: v}[act](z)
    # dZ as the kernels form it, from their own float32 Y (1 - Y^2 cancels near |Y| = 1, so a
    # float64 Y would move dZ across tf32 rounding boundaries), then rounded to tf32
    y64 = y.double()
    dz = dy.double() * {"leaky_relu": torch.where(y64 > 0, 1.0, 0.2), "tanh": 1 - y64 * y64,
                        "none": torch.ones_like(y64)}[act]
    dz32 = _tf32(dz.float()).double()
    want = {"y": yd, "dx": dz32 @ _tf32(w).double(), "dw": dz32.T @ _tf32(x).double(),
            "db": dz.sum(0)}
    unrounded = {"dx": dz @ w.double(), "dw": dz.T @ x.double()}
    for name, got in (("y", y), ("dx", dx), ("dw", dw), ("db", db)):
        assert_rel(f"{name} tf32 [{m}x{k}x{n} {act}]", got, want[name], 1e-5)
        if name in unrounded and k > 1 and n > 1:        # the bound tells the two apart
            assert rel_err(unrounded[name], want[name]) > 3e-4 / 10, name


@cuda_only
@pytest.mark.parametrize("m, k, n, act", MODEL + [(65, 17, 257, "tanh")], ids=lambda v: str(v))
def test_linear_act_tf32(m, k, n, act, monkeypatch):
    x, w, b = _inputs(m, k, n)
    dy = torch.randn(m, n, device=DEVICE)
    ours, _ = _run(linear_act, x, w, b, dy, activation=act, input_precision="tf32")
    ref, _ = _run(linear_act_ref, x.double(), w.double(), b.double(), dy.double(), activation=act)
    monkeypatch.setattr(torch.backends.cuda.matmul, "allow_tf32", True)
    theirs, _ = _run(linear_act_ref, x, w, b, dy, activation=act)
    for name, o, t, r in zip(("y", "dx", "dw", "db"), ours, theirs, ref):
        assert_like_torch(f"{name} tf32", o, t, r, atol=1e-3 * r.abs().max().item())


@cuda_only
@pytest.mark.parametrize("m, k, n, act", MODEL + [(65, 17, 257, "tanh")], ids=lambda v: str(v))
def test_linear_act_bf16(m, k, n, act):
    x, w, b = _inputs(m, k, n, torch.bfloat16)
    dy = torch.randn(m, n, device=DEVICE)
    ours, _ = _run(linear_act, x, w, b, dy, activation=act)
    ref, _ = _run(linear_act_ref, x.double(), w.double(), b.double(), dy.double(), activation=act)
    theirs, _ = _run(linear_act_ref, x, w, b, dy, activation=act)
    for name, o, t, r in zip(("y", "dx", "dw", "db"), ours, theirs, ref):
        assert_like_torch(f"{name} bf16", o, t, r, atol=1e-2 * r.abs().max().item())


@cuda_only
def test_fp32_ieee_error_figure_on_gpu():
    x, w, b = _inputs(64, 1536, 784)
    ours, ref, _, _ = _check_against_fp64(x, w, b, "tanh", 0.2)
    errs = {n: rel_err(o, r) for n, o, r in zip(("y", "dx", "dw", "db"), ours, ref)}
    assert max(errs.values()) < 1e-5, errs

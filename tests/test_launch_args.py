"""No kernel launch passes one buffer as two arguments.

Under torch.compile a launch is functionalized: every tensor argument the kernel may write is
copied, the kernel runs on the copies, and the copies are written back one after another. A
buffer passed twice (an output reused as the stand-in for an absent input) then comes back as
whichever copy is written last: on the first GPU run, sigmoid_bce's gradient came back as the
untouched copy of the stand-in, and compiled training diverged while eager training did not.
The launches are recorded here without running a kernel, so this runs on any CPU with Triton
installed."""
import pytest
import torch

from fastgan.kernels import HAS_TRITON

pytestmark = pytest.mark.skipif(not HAS_TRITON, reason="needs Triton installed")


@pytest.fixture
def launches(monkeypatch):
    """Each op module's launcher replaced by one that records the tensor arguments."""
    from fastgan.kernels import _dispatch, member_random, sigmoid_bce
    seen = []

    class Record:
        def __init__(self, kernel):
            self.name = kernel.fn.__name__ if hasattr(kernel, "fn") else kernel.__name__

        def __getitem__(self, grid):
            def launch(*args, **kwargs):
                seen.append((self.name, [(i, a) for i, a in enumerate(args)
                                         if isinstance(a, torch.Tensor)]))
            return launch

    for module in (_dispatch, member_random, sigmoid_bce):   # the rest: _dispatch.launch
        monkeypatch.setattr(module, "launcher", Record)
    return seen


def _ops():
    """(id, call) for every op in every form that passes or omits an optional tensor."""
    from fastgan.kernels.gan_bce import gan_bce_op
    from fastgan.kernels.linear_act import (linear_act_bwd_dw, linear_act_bwd_dx,
                                            linear_act_fwd)
    from fastgan.kernels.member_random import member_bits_op, member_normal_op
    from fastgan.kernels.minibatch_std import minibatch_std_bwd, minibatch_std_fwd
    from fastgan.kernels.sigmoid_bce import discriminator_bce_fwd, sigmoid_bce_fwd
    E, M, N, K = 3, 17, 5, 65
    x, w, b = torch.randn(E, M, K), torch.randn(E, N, K), torch.randn(E, N)
    y, dy = torch.randn(E, M, N), torch.randn(E, M, N)
    z, fake, t = torch.randn(E, M), torch.randn(E, 3), torch.rand(E, M)
    seeds = torch.arange(E, dtype=torch.int64)
    draw = torch.zeros(1, dtype=torch.int64)
    no = (None, None, None, None, 0)                   # no dropout inside
    drop = (seeds, draw, torch.zeros(E, dtype=torch.int16), torch.ones(E), 2)
    z_draw = (seeds, draw, None, None, 1)              # x: a NormalDraw [E, M, K]
    return [
        ("linear_act_fwd bias", lambda: linear_act_fwd(x, w, b, 0, 0.2, "ieee", *no, 0)),
        ("linear_act_fwd no-bias", lambda: linear_act_fwd(x, w, None, 0, 0.2, "ieee", *no, 0)),
        ("linear_act_fwd dropout", lambda: linear_act_fwd(x, w, b, 1, 0.2, "ieee", *drop, 0)),
        ("linear_act_fwd z drawn",
         lambda: linear_act_fwd(None, w, b, 1, 0.2, "ieee", *z_draw, M)),
        ("linear_act_bwd_dx", lambda: linear_act_bwd_dx(dy, y, w, 0, 0.2, "ieee", *no)),
        ("linear_act_bwd_dx dropout",
         lambda: linear_act_bwd_dx(dy, y, w, 1, 0.2, "ieee", *drop)),
        ("linear_act_bwd_dw bias",
         lambda: linear_act_bwd_dw(dy, y, x, w, 0, 0.2, True, "ieee", *no, 0)),
        ("linear_act_bwd_dw no-bias",
         lambda: linear_act_bwd_dw(dy, y, x, w, 0, 0.2, False, "ieee", *no, 0)),
        ("linear_act_bwd_dw dropout",
         lambda: linear_act_bwd_dw(dy, y, x, w, 1, 0.2, True, "ieee", *drop, 0)),
        ("linear_act_bwd_dw z drawn",
         lambda: linear_act_bwd_dw(dy, y, None, w, 1, 0.2, True, "ieee", *z_draw, M)),
        ("minibatch_std_fwd", lambda: minibatch_std_fwd(x[:, :16], 4, *no)),
        ("minibatch_std_fwd dropout", lambda: minibatch_std_fwd(x[:, :16], 4, *drop)),
        ("minibatch_std_bwd",
         lambda: minibatch_std_bwd(torch.randn(E, 16, K + 1), x[:, :16], 4, *no)),
        ("minibatch_std_bwd dropout",
         lambda: minibatch_std_bwd(torch.randn(E, 16, K + 1), x[:, :16], 4, *drop)),
        ("gan_bce floats", lambda: gan_bce_op(z, 9, None, 1.0, None, 1.0, torch.zeros(E, 3))),
        ("gan_bce per member",
         lambda: gan_bce_op(z, M, torch.rand(E), 0.0, -torch.ones(E), 0.0, torch.zeros(E, 2))),
        ("sigmoid_bce_fwd float", lambda: sigmoid_bce_fwd(z, None, 1.0)),
        ("sigmoid_bce_fwd per-member", lambda: sigmoid_bce_fwd(z, t[:, 0], 0.0)),
        ("sigmoid_bce_fwd per-element", lambda: sigmoid_bce_fwd(z, t, 0.0)),
        ("discriminator_bce_fwd float", lambda: discriminator_bce_fwd(z, fake, None, 0.9)),
        ("discriminator_bce_fwd per-member",
         lambda: discriminator_bce_fwd(z, fake, t[:, 0], 0.0)),
        ("member_bits", lambda: member_bits_op(seeds, draw, 1, 9)),
        ("member_normal scale", lambda: member_normal_op(seeds, torch.rand(E), draw, 1, 9)),
        ("member_normal no-scale", lambda: member_normal_op(seeds, None, draw, 1, 9)),
    ]


@pytest.mark.parametrize("case", range(len(_ops())), ids=[name for name, _ in _ops()])
def test_no_launch_passes_one_buffer_twice(launches, case):
    name, call = _ops()[case]
    call()
    assert launches, f"{name}: no launch recorded"
    for kernel, tensors in launches:
        storages = {}
        for i, t in tensors:
            ptr = t.untyped_storage().data_ptr()
            assert ptr not in storages, (
                f"{name}: {kernel} gets one buffer as arguments {storages[ptr]} and {i}")
            storages[ptr] = i

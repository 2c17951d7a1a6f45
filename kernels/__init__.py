"""fastgan's ops, installed as `fastgan.kernels` (the folder is kernels/ at the repo top).

Each op lives in its own module beside its pure-PyTorch reference (NAME_ref, the CPU path and
the tests' truth):
    linear_act      linear_act(x, weight, bias, activation, negative_slope, drop=...)
    sigmoid_bce     sigmoid_bce, sigmoid_bce_stats, discriminator_bce (and *_members)
    member_random   member_bits, member_normal: each member's Philox draws (BitDraw, NormalDraw:
                    draws left to the kernels that read them)
    minibatch_std   minibatch_std(x, group, drop=...): D's minibatch standard deviation
    gan_bce         gan_bce: the GAN loss's gradient and statistics in one launch
    take_rows       take_rows: every member's minibatch, gathered at device positions
    ema_weights     ema_weights_: the moving average's weights from a device count
Each public function runs the Triton kernels on CUDA tensors (and on CPU tensors under
TRITON_INTERPRET=1) and the reference elsewhere. The package itself exports only the backend
controls (and HAS_TRITON: whether Triton is installed; without it, on macOS or Windows, every op
takes its reference), so no function ever shadows a module of the same name.
"""
from fastgan.kernels._dispatch import (HAS_TRITON, get_backend, set_backend, set_precision,
                                       triton_available)

__all__ = ["HAS_TRITON", "get_backend", "set_backend", "set_precision", "triton_available"]

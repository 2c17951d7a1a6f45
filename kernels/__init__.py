"""fastgan's two ops, installed as `fastgan.kernels` (the folder is kernels/ at the repo top).

Each op lives in its own module beside its pure-PyTorch reference:
    fastgan.kernels.linear_act       linear_act(x, weight, bias, activation, negative_slope)
    fastgan.kernels.linear_act_ref   linear_act_ref(...)         (the CPU path, the tests' truth)
    fastgan.kernels.sigmoid_bce      sigmoid_bce, sigmoid_bce_stats, discriminator_bce
    fastgan.kernels.sigmoid_bce_ref  sigmoid_bce_ref, discriminator_bce_ref
Each public function runs the Triton kernels on CUDA tensors (and on CPU tensors under
TRITON_INTERPRET=1) and the reference elsewhere. The package itself exports only the backend
controls (and HAS_TRITON: whether Triton is installed; without it, on macOS or Windows, every op
takes its reference), so no function ever shadows a module of the same name.
"""
from fastgan.kernels._dispatch import (HAS_TRITON, get_backend, set_backend, set_precision,
                                       triton_available)

__all__ = ["HAS_TRITON", "get_backend", "set_backend", "set_precision", "triton_available"]

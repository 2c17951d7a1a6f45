"""fastgan's two ops: fused linear + activation and fused sigmoid + BCE (Triton, with references).

Each public function runs the Triton kernels on CUDA tensors (and on CPU tensors under
TRITON_INTERPRET=1) and the pure-PyTorch reference beside it elsewhere.
"""
from kernels._dispatch import get_backend, set_backend, set_precision, triton_available
from kernels.linear_act import ACTIVATIONS, linear_act
from kernels.linear_act_ref import linear_act_ref
from kernels.sigmoid_bce import discriminator_bce, sigmoid_bce, sigmoid_bce_stats
from kernels.sigmoid_bce_ref import discriminator_bce_ref, sigmoid_bce_ref

__all__ = ["ACTIVATIONS", "discriminator_bce", "discriminator_bce_ref", "get_backend",
           "linear_act", "linear_act_ref", "set_backend", "set_precision", "sigmoid_bce", "sigmoid_bce_ref",
           "sigmoid_bce_stats", "triton_available"]

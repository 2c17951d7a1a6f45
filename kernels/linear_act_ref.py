"""Pure-PyTorch reference of linear_act: Y = act(X W^T + b). The CPU path and the tests' truth.

Works in any floating dtype (float64 for the tests' ground truth). One model (x [M, K],
weight [N, K]): F.linear and autograd. E stacked models (x [E, M, K], weight [E, N, K],
bias [E, N]): one baddbmm for all members, and a backward written out as the kernels compute
it, from the saved output Y:
    dZ = dY * act'(Y)     (leaky_relu: 1 where Y > 0 else slope; tanh: 1 - Y^2; none: 1)
    dX = bmm(dZ, W)       [E, M, N] @ [E, N, K]
    dW = bmm(dZ^T, X)     [E, N, M] @ [E, M, K], produced in W's own [E, N, K] layout (autograd
                          through a transposed view would hand back a transposed gradient that
                          the optimizer's accumulation then copies)
    db = sum over M of dZ
Each member's result depends on its own slices alone: on the CPU, batched GEMMs run each
member's product with the same kernel whatever E is (see the README on bit-exactness). The one
exception is a layer of one output (D's logit), which MKL would compute by a matrix-vector
product for E = 1 and a GEMM otherwise (the two round differently): that layer is written as
the dot products it is (y = sum_k x w + b, dW = sum_m dZ x, dX = dZ w), which round the same
whatever E is. tanh runs by member (kernels._members): SIMD and scalar tanh round differently.
"""
import torch
import torch.nn.functional as F

from fastgan.kernels._members import by_member


def _act(z, activation: str, slope: float):
    if activation == "leaky_relu":
        return F.leaky_relu(z, slope)
    if activation == "tanh":
        return torch.tanh(z)
    return z


def _act_(z, activation: str, slope: float):
    """The activation of stacked z [E, M, N], in place where that rounds the same for every
    member (leaky_relu is exact; tanh runs by member, kernels._members)."""
    if activation == "leaky_relu":
        return F.leaky_relu_(z, slope)
    if activation == "tanh":
        return by_member(torch.tanh_, z)
    return z


class _StackedLinearAct(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, weight, bias, activation, slope):
        if weight.shape[1] == 1:                  # [E, M, K] . [E, 1, K] -> [E, M, 1]
            z = (x * weight).sum(2, keepdim=True)
            z = z + bias.unsqueeze(1) if bias is not None else z
        elif bias is not None:                    # [E, 1, N] + [E, M, K] @ [E, K, N]
            z = torch.baddbmm(bias.unsqueeze(1), x, weight.transpose(1, 2))
        else:
            z = torch.bmm(x, weight.transpose(1, 2))
        # in place in eager (z is fresh); out of place while traced, where torch 2.11's compile
        # saved a wrong Y for backward after the in-place op (2.13 got it right)
        if torch.compiler.is_compiling():
            y = _act(z, activation, slope)
        else:
            y = _act_(z, activation, slope)
        ctx.save_for_backward(x, weight, y)
        ctx.activation, ctx.slope = activation, slope
        return y

    @staticmethod
    def backward(ctx, dy):
        x, weight, y = ctx.saved_tensors
        if ctx.activation == "leaky_relu":          # one pass each, from Y (sign(Y) = sign(Z))
            dz = torch.ops.aten.leaky_relu_backward(dy, y, ctx.slope, False)
        elif ctx.activation == "tanh":
            dz = torch.ops.aten.tanh_backward(dy, y)
        else:
            dz = dy
        need_x, need_w, need_b = ctx.needs_input_grad[:3]
        if weight.shape[1] == 1:                  # one output: dZ [E, M, 1]
            dx = dz * weight if need_x else None
            dw = (dz * x).sum(1, keepdim=True) if need_w else None
        else:
            dx = torch.bmm(dz, weight) if need_x else None
            dw = torch.bmm(dz.transpose(1, 2), x) if need_w else None
        db = dz.sum(1) if need_b else None
        return dx, dw, db, None, None


def dropout_mask(bits: torch.Tensor, threshold: torch.Tensor, scale: torch.Tensor):
    """A dropout site's mask from its random bits, int16 [E, R, W] (or [R, W] for one model):
    scale[e] where bits >= threshold[e] (int16 [E]), else 0 (scale float32 [E])."""
    lead = (slice(None),) + (None,) * (bits.dim() - 1) if bits.dim() == 3 else (0,)
    keep = bits >= threshold[lead]                                       # bool, as bits
    return keep.to(scale.dtype).mul_(scale[lead])


def linear_act_ref(x, weight, bias, activation: str, negative_slope: float = 0.2):
    """act(x @ weight.T + bias): x [M, K] or [E, M, K] (with weight [E, N, K], bias [E, N])."""
    if x.dim() == 3:
        return _StackedLinearAct.apply(x, weight, bias, activation, negative_slope)
    return _act(F.linear(x, weight, bias), activation, negative_slope)  # [M, K] @ [N, K]^T

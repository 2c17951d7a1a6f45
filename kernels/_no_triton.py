"""Stand-ins for the names of Triton that kernels/ uses when a module is imported, for machines
without Triton (it has no wheels for macOS or Windows). With them the kernel modules import, their
@triton.jit functions stay plain Python functions that nothing launches, and every op takes its
pure-PyTorch reference (`_dispatch.use_triton` is False without Triton). Only names used at import
time are here; a launch would fail, and none happens.
"""
import logging
import types


def jit(fn=None, **_):
    """@triton.jit and @triton.jit(...): the function, unchanged."""
    return fn if fn is not None else (lambda f: f)


def autotune(*_, **__):
    return lambda fn: fn


class Config:
    def __init__(self, kwargs, num_warps=4, num_stages=3, **_):
        self.kwargs, self.num_warps, self.num_stages = kwargs, num_warps, num_stages


def _constexpr(value=None):
    return value


triton = types.SimpleNamespace(jit=jit, autotune=autotune, Config=Config)
tl = types.SimpleNamespace(constexpr=_constexpr)
libdevice = None

# torch.library.triton_op looks for the Triton kernels an op launches when it registers the op,
# and without Triton it logs a warning per op that says so; here that is expected, not news.
logging.getLogger("torch._library.triton").setLevel(logging.ERROR)

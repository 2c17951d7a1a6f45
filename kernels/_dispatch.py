"""Which implementation an op call takes: the Triton kernels or the pure-PyTorch reference.

CUDA tensors go to Triton. CPU tensors go to the reference, except with TRITON_INTERPRET=1 set
(read once, at import, as Triton itself does), where eager calls run the Triton kernels in the
interpreter so the same tests cover them without a GPU. A graph being traced by torch.compile on
the CPU always takes the reference: Triton finds no driver there, so it cannot be traced.
`set_backend("torch")` forces the reference everywhere (for comparisons on the GPU). Without
Triton installed (it has no wheels for macOS or Windows) every call takes the reference, CUDA
tensors too.
"""
import os

import torch
from torch.library import wrap_triton

try:
    import triton  # noqa: F401
    HAS_TRITON = True
except ImportError:
    HAS_TRITON = False
try:            # torch's switch: False inside a triton_op called eagerly on plain tensors
    from torch._library.triton import is_wrap_triton_enabled
except ImportError:       # a torch without it: always wrap (correct, only slower)
    def is_wrap_triton_enabled() -> bool:
        return True

INTERPRET = HAS_TRITON and os.environ.get("TRITON_INTERPRET", "0") == "1"
BACKENDS = ("auto", "triton", "torch")
_backend = "auto"
_cuda_precision = "tf32"


def set_backend(name: str) -> None:
    """"auto" / "triton": Triton where it can run (CUDA, or the interpreter); "torch": reference."""
    global _backend
    if name not in BACKENDS:
        raise ValueError(f"backend must be one of {BACKENDS}, got {name!r}")
    _backend = name


def get_backend() -> str:
    return _backend


def triton_available(device: torch.device) -> bool:
    """True where the Triton kernels can run on tensors of this device."""
    return HAS_TRITON and (device.type == "cuda" or (INTERPRET and device.type == "cpu"))


def use_triton(t: torch.Tensor) -> bool:
    if _backend == "torch" or not HAS_TRITON:
        return False
    if t.is_cuda:
        return True
    return INTERPRET and t.device.type == "cpu" and not torch.compiler.is_compiling()


def launcher(kernel):
    """What a launch calls: torch.library.wrap_triton(kernel), which lets torch.compile trace the
    launch into its graph, while an op is being traced; the kernel itself when the op runs
    eagerly on plain tensors (triton_op turns torch's wrap switch off there, and the wrapper
    would only call kernel[grid] after building itself: 53 us per autotuned launch on the
    development CPU, several per layer) and under the interpreter, whose launches are never
    traced (use_triton is False while compiling on the CPU) and whose kernels torch 2.11's
    wrap_triton refuses (torch 2.13 takes them).

    A traced launch is functionalized: each tensor argument the kernel writes is copied, the
    kernel runs on the copies, and the copies are written back one by one. So no launch may
    pass one buffer as two arguments (a stand-in for an absent input included): the write-back
    of the copy the kernel did not write would undo the other (tests/test_launch_args.py)."""
    if INTERPRET or not is_wrap_triton_enabled():
        return kernel
    return wrap_triton(kernel)


_STAND_INS = {}  # (device, n) -> n one-element tensors that eager launches pass, never read


def stand_ins(ref: torch.Tensor, n: int, direct: bool) -> tuple:
    """n distinct one-element tensors on ref's device for the pointer arguments of an absent
    input, which the kernel never reads: never a real argument again (see launcher: under
    torch.compile no launch may pass one buffer twice). Fresh ones in an op (which torch.compile
    may trace); made once and kept for direct eager calls, which allocate nothing for them."""
    if not direct:
        return tuple(ref.new_empty(1) for _ in range(n))
    device = ref.device
    out = _STAND_INS.get((device, n))
    if out is None:
        out = _STAND_INS[(device, n)] = tuple(torch.empty(1, device=device) for _ in range(n))
    return out


_TILES = {}     # (autotuned kernel, launch key) -> the chosen tile's block sizes, keywords


def launch(kernel, grid, args: tuple, key: tuple, direct: bool = False, **constexprs):
    """kernel[grid](*args, **constexprs). Traced (torch.compile), through launcher's wrapper.
    Eager: the first launch of a key goes through the autotuner, which picks its tile; later
    ones go straight to the JIT function with that tile and the grid as numbers (no autotuner
    Python, whose per-launch dict rebuilds and key cost more than the rest of the call). key must
    fix the autotuner's own key (its key arguments and the tensors' dtype). grid: a function of
    the tile's meta-parameters. direct: an eager call outside any op (nothing can trace it)."""
    run = kernel if direct else launcher(kernel)
    if run is not kernel or not hasattr(kernel, "configs"):       # traced, or not autotuned
        return run[grid](*args, **constexprs)
    chosen = _TILES.get((kernel, key))
    if chosen is None:
        out = kernel[grid](*args, **constexprs)
        tile = kernel.best_config
        _TILES[(kernel, key)] = (tile.kwargs, {**constexprs, **tile.all_kwargs()})
        return out
    meta, kwargs = chosen                # the tile's block sizes; every keyword of the launch
    return kernel.fn.run(*args, grid=grid(meta), warmup=False, **kwargs)


def set_precision(name: str) -> None:
    """Default float32 dot precision of the kernels on CUDA: "tf32" (tensor cores) or "fp32"
    (exact; Triton's input_precision calls it "ieee", the word the kernels pass on)."""
    global _cuda_precision
    if name not in ("fp32", "tf32"):
        raise ValueError(f"precision must be 'fp32' or 'tf32', got {name!r}")
    _cuda_precision = "ieee" if name == "fp32" else name


def default_precision(t: torch.Tensor) -> str:
    """float32 dot precision: the set one (tf32 unless changed) on CUDA, ieee in the interpreter."""
    return _cuda_precision if t.is_cuda else "ieee"

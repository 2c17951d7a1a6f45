"""The device a command runs on, from its --device flag, with one-line errors."""
import torch

from fastgan.io.cli import BadValue, UserError


def resolve_device(name: str) -> torch.device:
    """"auto" (CUDA when available), "cpu", "cuda" or "cuda:N"; makes a CUDA device current so
    eager Triton launches go to the device that holds the tensors."""
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    try:
        device = torch.device(name)
    except RuntimeError:
        raise BadValue(f"unknown device {name!r} (use cpu, cuda or cuda:N)") from None
    if device.type not in ("cpu", "cuda"):
        raise BadValue(f"--device {name}: only cpu and cuda are supported")
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise BadValue(f"--device {name}: CUDA is not available here (torch "
                            f"{torch.__version__}); use --device cpu")
        count = torch.cuda.device_count()
        if device.index is not None and device.index >= count:
            raise BadValue(f"--device {name}: this machine has {count} CUDA device(s)")
        device = torch.device("cuda", device.index or 0)
        torch.cuda.set_device(device)
    return device


def setup_backend(cfg, device: torch.device) -> bool:
    """Sets the kernels' backend and dot precision for a run's config (cfg.backend,
    cfg.precision, cfg.compile, cfg.cuda_graphs) on device; returns whether its steps compile
    (default: on CUDA when Triton is there, whose code torch.compile generates)."""
    from fastgan import kernels
    cuda = device.type == "cuda"
    if cfg.backend == "triton" and not kernels.HAS_TRITON:
        raise UserError("--backend triton needs Triton installed (pip install triton; Linux only)")
    if cfg.backend == "triton" and not kernels.triton_available(device):
        raise UserError("--backend triton needs --device cuda (or TRITON_INTERPRET=1 on the CPU)")
    kernels.set_backend(cfg.backend)
    kernels.set_precision(cfg.precision)
    if cuda:
        torch.backends.cuda.matmul.allow_tf32 = cfg.precision == "tf32"
    compile = cuda and kernels.HAS_TRITON if cfg.compile is None else cfg.compile
    if compile and cuda and not kernels.HAS_TRITON:
        raise UserError("--compile on CUDA needs Triton installed (pip install triton; Linux "
                        "only); without it, run with --no-compile")
    if cfg.cuda_graphs and not cuda:
        raise UserError("--cuda-graphs needs --device cuda (a CUDA graph captures GPU work)")
    return compile

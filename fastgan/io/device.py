"""The device a command runs on, from its --device flag, with one-line errors."""
import torch

from fastgan.io.cli import UserError


def resolve_device(name: str) -> torch.device:
    """"auto" (CUDA when available), "cpu", "cuda" or "cuda:N"; makes a CUDA device current so
    eager Triton launches go to the device that holds the tensors."""
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    try:
        device = torch.device(name)
    except RuntimeError:
        raise UserError(f"unknown device {name!r} (use cpu, cuda or cuda:N)") from None
    if device.type not in ("cpu", "cuda"):
        raise UserError(f"--device {name}: only cpu and cuda are supported")
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise UserError(f"--device {name}: CUDA is not available here (torch "
                            f"{torch.__version__}); use --device cpu")
        count = torch.cuda.device_count()
        if device.index is not None and device.index >= count:
            raise UserError(f"--device {name}: this machine has {count} CUDA device(s)")
        device = torch.device("cuda", device.index or 0)
        torch.cuda.set_device(device)
    return device

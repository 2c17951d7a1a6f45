"""Checkpoints: written atomically, loaded with weights_only=True, the latest found for resume.

A checkpoint is one file checkpoints/step_<8 digits>.pt holding {"step", "config", and the
GAN's state: G, D, both Adam states and the noise generator's state}. The newest `keep` are
kept; older ones are deleted once a newer one is safely on disk.
"""
import re
from pathlib import Path

import torch

from fastgan.cli import UserError
from fastgan.files import atomic_write

_NAME = re.compile(r"step_(\d{8})\.pt$")


def path_for(run_dir, step: int) -> Path:
    return Path(run_dir) / "checkpoints" / f"step_{step:08d}.pt"


def save(run_dir, step: int, state: dict, config: dict, keep: int = 3) -> Path:
    path = atomic_write(path_for(run_dir, step),
                        lambda f: torch.save({"step": step, "config": config, **state}, f))
    for old in list_checkpoints(run_dir)[:-keep]:
        old.unlink(missing_ok=True)
    return path


def list_checkpoints(run_dir) -> list[Path]:
    """Checkpoint files of a run, oldest first."""
    folder = Path(run_dir) / "checkpoints"
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.iterdir() if _NAME.search(p.name))


def latest(run_dir) -> Path:
    found = list_checkpoints(run_dir)
    if not found:
        raise UserError(f"no checkpoint in {Path(run_dir) / 'checkpoints'} to resume from")
    return found[-1]


def load(path) -> dict:
    """The checkpoint's dict, on the CPU (parameters move when loaded into modules)."""
    path = Path(path)
    if path.is_dir():
        path = latest(path)
    if not path.is_file():
        raise UserError(f"checkpoint {path} not found")
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # torch raises several types for a damaged or foreign file
        raise UserError(f"checkpoint {path} could not be read ({type(e).__name__}: "
                        f"{str(e).splitlines()[0] if str(e) else 'corrupt'})") from None
    if not isinstance(ckpt, dict) or not {"step", "config", "G"} <= ckpt.keys():
        raise UserError(f"{path} is not a fastgan checkpoint")
    return ckpt

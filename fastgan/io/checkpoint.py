"""Checkpoints: written atomically with a SHA-256 beside each, verified on every load, loaded with
weights_only=True, the newest good one found for resume.

A checkpoint is checkpoints/step_<8 digits>.pt holding {"step", "config", and the GAN's state:
G (and its average G_ema), D, both Adam states, the noise and global generators' states}, and
step_<8 digits>.pt.sha256 beside it holding the SHA-256 of the .pt file. A file whose checksum
is missing or differs (truncated, bit-flipped, empty) is never used: `load` refuses it, and
`latest_good` skips it, saying so, for an older one. The newest `keep` are kept; older ones are
deleted only after the new one has been read back from disk and verified. Temporary files a
crash left behind (.step_*.pt.*.tmp) are removed by `clean_partial`.
"""
import re
import sys
from pathlib import Path

from fastgan.io.cli import BadValue
from fastgan.io.files import atomic_write, digest as file_digest

_NAME = re.compile(r"step_(\d{8})\.pt$")


class CheckpointError(BadValue):
    """A checkpoint that cannot be used: missing, unreadable, or failing its checksum (one line
    and exit 2 from a command, a ValueError from the API)."""


def path_for(run_dir, step: int) -> Path:
    return Path(run_dir) / "checkpoints" / f"step_{step:08d}.pt"


def _sum_path(path: Path) -> Path:
    return path.with_name(path.name + ".sha256")


def save(run_dir, step: int, state: dict, config: dict, keep: int = 3) -> Path:
    """Writes the checkpoint and its checksum; then, once the file reads back verified, deletes
    all but the newest `keep`."""
    path = path_for(run_dir, step)
    _sum_path(path).unlink(missing_ok=True)               # never a stale sum beside a new file
    import io
    import torch                          # here, so that listing a run's checkpoints needs none
    buffer = io.BytesIO()                 # serialized first: a full disk then fails a plain
    torch.save({"step": step, "config": config, **state}, buffer)   # write (ENOSPC, the path)
    atomic_write(path, lambda f: f.write(buffer.getbuffer()))
    digest = file_digest(path)
    atomic_write(_sum_path(path), lambda f: f.write(f"{digest}  {path.name}\n".encode()))
    verify(path)                                           # read back from disk before rotating
    for old in list_checkpoints(run_dir)[:-keep]:
        old.unlink(missing_ok=True)
        _sum_path(old).unlink(missing_ok=True)
    return path


def verify(path: Path) -> None:
    """Raises CheckpointError unless path's SHA-256 matches the one written beside it."""
    sums = _sum_path(path)
    if not sums.is_file():
        raise CheckpointError(f"checkpoint {path} has no checksum file ({sums.name}); "
                              "it may be incomplete")
    want = sums.read_text().split()[:1]
    if not want or file_digest(path) != want[0]:
        raise CheckpointError(f"checkpoint {path} fails its SHA-256 check (corrupt or "
                              "truncated)")


def list_checkpoints(run_dir) -> list[Path]:
    """Checkpoint files of a run, oldest first."""
    folder = Path(run_dir) / "checkpoints"
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.iterdir() if _NAME.search(p.name))


def clean_partial(run_dir) -> list[Path]:
    """Removes the temporary files that an interrupted write left in checkpoints/."""
    folder = Path(run_dir) / "checkpoints"
    found = sorted(folder.glob(".step_*.tmp")) if folder.is_dir() else []
    for p in found:
        p.unlink(missing_ok=True)
    return found


def latest(run_dir) -> Path:
    found = list_checkpoints(run_dir)
    if not found:
        raise CheckpointError(f"no checkpoint in {Path(run_dir) / 'checkpoints'}")
    return found[-1]


def latest_good(run_dir, log=None) -> tuple[Path, dict]:
    """The newest checkpoint of a run that verifies and loads, and its dict; each bad newer one
    is reported through log (stderr by default)."""
    log = log or (lambda m: print(m, file=sys.stderr))
    found = list_checkpoints(run_dir)
    if not found:
        raise CheckpointError(f"no checkpoint in {Path(run_dir) / 'checkpoints'}")
    for i, path in enumerate(reversed(found)):
        try:
            ckpt = load(path)
        except CheckpointError as e:
            log(f"warning: {e}; trying an older one")
            continue
        if i:
            log(f"using {path}, the newest checkpoint that verifies")
        return path, ckpt
    raise CheckpointError(f"no usable checkpoint in {Path(run_dir) / 'checkpoints'}: all "
                    f"{len(found)} fail their checks")


def load(path) -> dict:
    """The checkpoint's dict, on the CPU, after its checksum is verified. A run folder stands
    for its newest good checkpoint."""
    path = Path(path)
    if path.is_dir():
        return latest_good(path)[1]
    if not path.is_file():
        raise CheckpointError(f"checkpoint {path} not found")
    verify(path)
    import torch
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # torch raises several types for a damaged or foreign file
        first = str(e).splitlines()[0] if str(e) else "corrupt"
        if "weights_only" in str(e) or "Unsupported global" in str(e):
            first = "it holds Python objects that a weights-only load refuses (not a fastgan " \
                    "checkpoint, or an unsafe one)"
        raise CheckpointError(f"checkpoint {path} could not be read ({type(e).__name__}: "
                              f"{first})") from None
    if not isinstance(ckpt, dict) or not {"step", "config", "G"} <= ckpt.keys():
        raise CheckpointError(f"{path} is not a fastgan checkpoint")
    return ckpt


def dense_keys(saved: dict, own: dict) -> dict:
    """A checkpoint's D (or G) keys in the model's names: checkpoints written before D kept a
    slot for every dropout site (a run without dropout: net.0, net.1, net.2) hold the same
    tensors in the same order."""
    if saved.keys() == own.keys():
        return saved
    if len(saved) != len(own):
        raise KeyError(f"checkpoint holds {sorted(saved)}, the model {sorted(own)}")
    return dict(zip(own.keys(), saved.values()))

"""Atomic file writes (a temporary file in the same folder, then a rename over the target), file
digests, and an output folder checked for writing before any work is done."""
import hashlib
import os
import tempfile
from pathlib import Path

from fastgan.io.cli import BadValue, os_fault


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def atomic_write(path, write) -> Path:
    """Calls write(file_object) on a temporary file, then renames it to path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.chmod(tmp, 0o666 & ~_umask())       # mkstemp makes 0600; a plain file follows umask
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except OSError as e:
        if e.filename is None:                 # a failed write names no file: name the target
            e.filename = str(path)
        raise
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return path


def digest(path, algorithm: str = "sha256") -> str:
    """The hex digest of a file's bytes (read in 1 MB chunks)."""
    h = hashlib.new(algorithm)
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()


def refuse_file(folder, flag: str = "--out") -> Path:
    """folder as a Path; raises BadValue (exit 2) when a file stands there (writes nothing)."""
    folder = Path(folder)
    if folder.exists() and not folder.is_dir():
        raise BadValue(f"{flag} {folder} is a file, not a folder; name a folder")
    return folder


def ensure_writable(folder, flag: str = "--out") -> Path:
    """Makes folder (and its parents) and checks that a file can be created in it; raises
    BadValue (exit 2) when it is a file, WriteError (one line naming it, exit 4) when the
    system refuses. Called before any work is done."""
    folder = refuse_file(folder, flag)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(dir=folder, prefix=".fastgan-write-check-")
        os.close(fd)
        os.unlink(probe)
    except OSError as e:
        raise os_fault(e) from None
    return folder

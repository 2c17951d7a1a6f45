"""MNIST from the original IDX .gz files: find, verify (MD5, magic, shape), load to a device.

Where the files are looked for, first match wins:
  1. the folder given as --data-dir          (must hold the four files)
  2. the folder in $FASTGAN_DATA             (must hold the four files)
  3. the cache folder ~/.cache/fastgan/mnist ($FASTGAN_CACHE overrides ~/.cache/fastgan)
  4. a download into the cache from the public mirrors ($FASTGAN_MIRRORS: space-separated
     base URLs), each file checked against its MD5 before it is kept.
Every problem (missing, truncated, wrong magic, wrong MD5) is a DataError: one line, exit 2.
"""
import gzip
import hashlib
import os
import struct
import sys
import tempfile
import urllib.request
from pathlib import Path

import numpy as np
import torch

from fastgan.io.cli import UserError
from fastgan.io.files import digest
from fastgan.kernels.take_rows import take_rows

FILES = {  # name -> (md5, IDX magic, shape)
    "train-images-idx3-ubyte.gz": ("f68b3c2dcbeaaa9fbdd348bbdeb94873", 2051, (60000, 28, 28)),
    "train-labels-idx1-ubyte.gz": ("d53e105ee54ea40749a09fcbcd1e9432", 2049, (60000,)),
    "t10k-images-idx3-ubyte.gz": ("9fb629c4189551a2d022fa330f9573f3", 2051, (10000, 28, 28)),
    "t10k-labels-idx1-ubyte.gz": ("ec29112dd5afa0611ce80d1b7f02629c", 2049, (10000,)),
}
MIRRORS = ("https://ossci-datasets.s3.amazonaws.com/mnist/",
           "https://storage.googleapis.com/cvdf-datasets/mnist/")


class DataError(UserError):
    pass


def cache_dir() -> Path:
    return Path(os.environ.get("FASTGAN_CACHE", Path.home() / ".cache" / "fastgan")) / "mnist"


def _has_all(folder: Path) -> bool:
    return all((folder / name).is_file() for name in FILES)


def find(data_dir: str | None = None, download: bool = True) -> Path:
    """The folder holding the four MNIST files, following the search order above."""
    for source, folder in (("--data-dir", data_dir), ("$FASTGAN_DATA",
                                                      os.environ.get("FASTGAN_DATA"))):
        if folder:
            folder = Path(folder).expanduser()
            if not folder.is_dir():
                raise DataError(f"MNIST folder {folder} (from {source}) does not exist")
            missing = [n for n in FILES if not (folder / n).is_file()]
            if missing:
                raise DataError(f"MNIST folder {folder} (from {source}) lacks {', '.join(missing)}")
            return folder
    cache = cache_dir()
    if _has_all(cache):
        return cache
    if not download:
        raise DataError(f"MNIST not found: put the four IDX .gz files in {cache} or point "
                        "--data-dir / $FASTGAN_DATA at them")
    _download(cache)
    return cache


def _download(cache: Path) -> None:
    cache.mkdir(parents=True, exist_ok=True)
    mirrors = os.environ.get("FASTGAN_MIRRORS", " ".join(MIRRORS)).split()
    for name, (md5, _, _) in FILES.items():
        if (cache / name).is_file():
            continue
        errors = []
        for base in mirrors:
            try:
                _fetch(base.rstrip("/") + "/" + name, cache / name, md5)
                break
            except (OSError, ValueError) as e:
                errors.append(f"{base}: {e}")
        else:
            raise DataError(f"could not download {name} ({'; '.join(errors)}); offline, put the "
                            f"four MNIST IDX .gz files in {cache} or point --data-dir / "
                            "$FASTGAN_DATA at them")


def _fetch(url: str, dest: Path, md5: str) -> None:
    """Downloads url to dest with a progress bar; kept only if its MD5 matches (atomic rename)."""
    with urllib.request.urlopen(url, timeout=30) as r:
        total = int(r.headers.get("Content-Length") or 0)
        digest, done = hashlib.md5(), 0
        with tempfile.NamedTemporaryFile(dir=dest.parent, delete=False, suffix=".part") as f:
            try:
                while chunk := r.read(1 << 16):
                    f.write(chunk)
                    digest.update(chunk)
                    done += len(chunk)
                    if total and sys.stderr.isatty():
                        print(f"\r{dest.name}: {done * 100 // total:3d}% of {total >> 10} KiB",
                              end="", file=sys.stderr)
                if sys.stderr.isatty():
                    print(file=sys.stderr)
                if digest.hexdigest() != md5:
                    raise ValueError(f"MD5 {digest.hexdigest()} != {md5}")
                f.close()
                os.replace(f.name, dest)
            finally:
                if os.path.exists(f.name):
                    os.unlink(f.name)


def read_idx(path: Path, magic: int, shape: tuple, md5: str | None = None) -> np.ndarray:
    """One IDX .gz file as a uint8 array, after checking its MD5, magic number and shape."""
    if not path.is_file():
        raise DataError(f"{path}: file not found")
    if md5 is not None and digest(path, "md5") != md5:
        fix = ("delete it and run again to download it afresh"
               if path.parent.resolve() == cache_dir().resolve() else
               "replace it with the original file (or point --data-dir elsewhere)")
        raise DataError(f"{path}: MD5 mismatch (corrupt or not the original MNIST file); {fix}")
    try:
        with gzip.open(path, "rb") as f:
            raw = f.read()
    except (OSError, EOFError, gzip.BadGzipFile) as e:
        raise DataError(f"{path}: not a readable gzip file ({e})") from None
    if len(raw) < 4 or struct.unpack(">I", raw[:4])[0] != magic:
        found = struct.unpack(">I", raw[:4])[0] if len(raw) >= 4 else None
        raise DataError(f"{path}: wrong IDX magic number {found} (expected {magic})")
    ndim = magic & 0xFF
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise DataError(f"{path}: truncated IDX header")
    dims = struct.unpack(f">{ndim}I", raw[4:header])
    if tuple(dims) != tuple(shape):
        raise DataError(f"{path}: shape {tuple(dims)} (expected {tuple(shape)})")
    if len(raw) != header + int(np.prod(dims)):
        raise DataError(f"{path}: truncated ({len(raw) - header} of {int(np.prod(dims))} bytes)")
    return np.frombuffer(raw, dtype=np.uint8, offset=header).reshape(dims)


_LOADED = {}     # (files' paths, sizes, mtimes, verify) -> the arrays: read and verified once


def load_split(folder: Path, split: str, verify_md5: bool = True):
    """(images uint8 [n, 28, 28], labels uint8 [n]) of split "train" or "test", read-only.
    Read and verified once per process (a sweep checks the data before it plans, then each
    group and the evaluator take the same arrays); a file changed on disk is read again."""
    prefix = "train" if split == "train" else "t10k"
    names = [f"{prefix}-{kind}-ubyte.gz" for kind in ("images-idx3", "labels-idx1")]
    try:
        stats = tuple((str((Path(folder) / n).resolve()), (Path(folder) / n).stat().st_size,
                       (Path(folder) / n).stat().st_mtime_ns) for n in names)
    except OSError:
        stats = None                           # missing: read_idx says so in one line
    key = (stats, verify_md5)
    if stats is None or key not in _LOADED:
        out = []
        for name in names:
            md5, magic, shape = FILES[name]
            array = read_idx(Path(folder) / name, magic, shape, md5 if verify_md5 else None)
            array.setflags(write=False)
            out.append(array)
        if stats is None:
            return out[0], out[1]
        _LOADED[key] = (out[0], out[1])
    return _LOADED[key]


def to_unit_range(images: np.ndarray, device="cpu") -> torch.Tensor:
    """uint8 [n, 28, 28] -> float32 [n, 784] in [-1, 1] on device (one host-to-device copy)."""
    x = torch.from_numpy(images.reshape(len(images), -1).copy()).to(device)
    return x.float().div_(127.5).sub_(1.0)


class Batches:
    """The training images resident on the device, and each member's minibatches: a fresh
    permutation per member and epoch, drawn on the device from that member's data stream
    (seed, epoch), so a resumed run sees the same batches and no member's order depends on
    another's. A batch is one gather of device indices for all members: no DataLoader, no host
    copy per step."""

    def __init__(self, images: torch.Tensor, batch_size: int, seeds):
        if batch_size > len(images):
            raise UserError(f"--batch-size {batch_size} exceeds the {len(images)} training images")
        self.images, self.batch_size = images, batch_size
        self.seeds = [seeds] if isinstance(seeds, int) else list(seeds)
        self.per_epoch = len(images) // batch_size   # the last partial batch is dropped
        self._epoch, self._perm, self._next = None, None, None
        # where the step's batches begin in the epoch's permutation, advanced on the device
        # once per step (end_step): a host offset that changed every batch would be frozen
        # into a captured graph. A batch is taken at start + (batches taken since) * B.
        self._start = torch.zeros(1, dtype=torch.int64, device=images.device)
        self._taken = 0
        self._advance = {}                          # batches taken -> device increment

    def get(self, batch_index: int) -> torch.Tensor:
        """The global batch number batch_index (epoch = batch_index // per_epoch) of every
        member: [E, B, 784]. Batches are taken in order; the host only starts each epoch (its
        permutations) and any jump in the numbering (a resume)."""
        from fastgan.streams import generator
        epoch, i = divmod(batch_index, self.per_epoch)
        if epoch != self._epoch:                     # once per epoch: a permutation per member
            device = self.images.device
            perm = torch.stack([
                torch.randperm(len(self.images), device=device,
                               generator=generator(s, "data", epoch, device=device))
                for s in self.seeds])                                       # [E, n]
            if self._perm is None:
                self._perm = perm
            else:                                    # in place: a captured graph reads it
                self._perm.copy_(perm)
            self._epoch = epoch
        offset = self._taken * self.batch_size
        if batch_index != self._next:                # a new epoch or a jump: placed from the host
            self._start.fill_(i * self.batch_size - offset)
        self._taken += 1
        self._next = batch_index + 1 if i + 1 < self.per_epoch else None
        return take_rows(self.images, self._perm, self._start, offset, self.batch_size)

    def end_step(self) -> None:
        """After a step's batches: start moves past them on the device (one add, by the same
        increment every step), so the next step takes its batches with the same arguments."""
        if self._taken:
            inc = self._advance.get(self._taken)
            if inc is None:
                inc = self._advance[self._taken] = torch.tensor(
                    [self._taken * self.batch_size], device=self.images.device)
            self._start += inc
            self._taken = 0

    def in_order(self, first: int, count: int) -> bool:
        """Whether batches first .. first + count - 1 follow the last one taken within one
        epoch: taking them is device work alone (what a captured graph can replay)."""
        return first == self._next and first % self.per_epoch + count <= self.per_epoch

    def taken(self, first: int, count: int) -> None:
        """The host's numbering after batches first .. first + count - 1 were taken on the
        device (by a graph's replay; in_order held)."""
        self._next = first + count if first % self.per_epoch + count < self.per_epoch else None

    def select(self, members) -> "Batches":
        """The same images for a subset of the members (indices into this one's)."""
        out = Batches(self.images, self.batch_size, [self.seeds[e] for e in members])
        if self._perm is not None:
            out._epoch, out._perm = self._epoch, self._perm[list(members)]
            out._start, out._taken, out._next = self._start.clone(), self._taken, self._next
        return out

import gzip
import hashlib
import struct

import numpy as np
import pytest
import torch

from fastgan import data
from fastgan.io.files import digest
from fastgan.io.cli import UserError


def write_idx(path, array, magic=None):
    array = np.asarray(array, dtype=np.uint8)
    magic = magic if magic is not None else 0x0800 + array.ndim
    raw = struct.pack(">I", magic) + struct.pack(f">{array.ndim}I", *array.shape) + array.tobytes()
    with gzip.open(path, "wb") as f:
        f.write(raw)
    return hashlib.md5(path.read_bytes()).hexdigest()


@pytest.fixture
def good(tmp_path):
    arr = np.random.randint(0, 256, size=(5, 28, 28))
    path = tmp_path / "x-images.gz"
    return path, arr, write_idx(path, arr)


def test_good_idx_reads_back(good):
    path, arr, md5 = good
    out = data.read_idx(path, 2051, (5, 28, 28), md5)
    assert out.dtype == np.uint8 and np.array_equal(out, arr)


def test_wrong_md5(good):
    path, _, _ = good
    with pytest.raises(data.DataError, match="MD5 mismatch"):
        data.read_idx(path, 2051, (5, 28, 28), "0" * 32)


def test_wrong_magic(tmp_path):
    path = tmp_path / "bad.gz"
    write_idx(path, np.zeros((5, 28, 28)), magic=2049)
    with pytest.raises(data.DataError, match="wrong IDX magic number 2049"):
        data.read_idx(path, 2051, (5, 28, 28))


def test_truncated_payload(tmp_path):
    path = tmp_path / "short.gz"
    raw = struct.pack(">IIII", 2051, 5, 28, 28) + bytes(100)
    with gzip.open(path, "wb") as f:
        f.write(raw)
    with pytest.raises(data.DataError, match="truncated"):
        data.read_idx(path, 2051, (5, 28, 28))


def test_truncated_gzip(good, tmp_path):
    path, _, _ = good
    cut = tmp_path / "cut.gz"
    cut.write_bytes(path.read_bytes()[:40])
    with pytest.raises(data.DataError, match="not a readable gzip"):
        data.read_idx(cut, 2051, (5, 28, 28))


def test_wrong_shape(tmp_path):
    path = tmp_path / "shape.gz"
    write_idx(path, np.zeros((4, 28, 28)))
    with pytest.raises(data.DataError, match=r"shape \(4, 28, 28\)"):
        data.read_idx(path, 2051, (5, 28, 28))


def test_find_explicit_folder_missing_files(tmp_path, monkeypatch):
    monkeypatch.delenv("FASTGAN_DATA", raising=False)
    with pytest.raises(data.DataError, match="lacks"):
        data.find(str(tmp_path))
    with pytest.raises(data.DataError, match="does not exist"):
        data.find(str(tmp_path / "nope"))


def test_offline_without_files_says_where(tmp_path, monkeypatch):
    monkeypatch.delenv("FASTGAN_DATA", raising=False)
    monkeypatch.setenv("FASTGAN_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("FASTGAN_MIRRORS", (tmp_path / "no-mirror").as_uri() + "/")
    with pytest.raises(data.DataError, match="put the four MNIST IDX .gz files in"):
        data.find(None)


def test_download_from_mirror_checks_md5(mnist_dir, tmp_path, monkeypatch):
    # A local folder serves as the mirror (file:// URL): the files land in the cache, verified.
    monkeypatch.delenv("FASTGAN_DATA", raising=False)
    monkeypatch.setenv("FASTGAN_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("FASTGAN_MIRRORS", mnist_dir.as_uri() + "/")
    folder = data.find(None)
    assert folder == tmp_path / "cache" / "mnist"
    assert digest(folder / "t10k-labels-idx1-ubyte.gz", "md5") == data.FILES[
        "t10k-labels-idx1-ubyte.gz"][0]
    assert not list(folder.glob("*.part"))


def test_download_rejects_bad_md5(tmp_path, monkeypatch):
    mirror = tmp_path / "mirror"
    mirror.mkdir()
    for name in data.FILES:
        (mirror / name).write_bytes(b"not mnist")
    monkeypatch.delenv("FASTGAN_DATA", raising=False)
    monkeypatch.setenv("FASTGAN_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("FASTGAN_MIRRORS", mirror.as_uri() + "/")
    with pytest.raises(data.DataError, match="MD5"):
        data.find(None)
    assert not list((tmp_path / "cache" / "mnist").glob("*"))


def test_real_mnist(mnist_dir):
    x, y = data.load_split(mnist_dir, "train")
    assert x.shape == (60000, 28, 28) and y.shape == (60000,)
    assert set(np.unique(y)) == set(range(10))
    xt, yt = data.load_split(mnist_dir, "test")
    assert xt.shape == (10000, 28, 28) and yt.shape == (10000,)
    t = data.to_unit_range(x[:100])
    assert t.shape == (100, 784) and t.dtype == torch.float32
    assert t.min().item() == -1.0 and t.max().item() == 1.0


def test_batches_reshuffle_per_epoch_and_cover_the_data():
    images = torch.arange(10, dtype=torch.float32)[:, None].repeat(1, 784)
    b = data.Batches(images, batch_size=3, seeds=[0, 1, 2])
    assert b.per_epoch == 3                       # 10 // 3: the last partial batch is dropped
    assert b.get(0).shape == (3, 3, 784)          # [members, batch, pixels]
    for e in range(3):
        epoch0 = torch.cat([b.get(i)[e, :, 0] for i in range(3)])
        epoch1 = torch.cat([b.get(i)[e, :, 0] for i in range(3, 6)])
        assert len(set(epoch0.tolist())) == 9 and not torch.equal(epoch0, epoch1)
    assert not torch.equal(b.get(0)[0], b.get(0)[1])   # each member its own order
    again = data.Batches(images, batch_size=3, seeds=[0, 1, 2])
    assert torch.equal(again.get(4), b.get(4))    # same (seed, batch) -> same batch, as on resume
    alone = data.Batches(images, batch_size=3, seeds=[1])
    assert torch.equal(alone.get(4)[0], b.get(4)[1])   # a member's order is its seed's alone
    assert torch.equal(b.select([2]).get(7)[0], b.get(7)[2])
    with pytest.raises(UserError):
        data.Batches(images, batch_size=11, seeds=[0])

"""Image grids of samples, written as PNG with zlib alone (no imaging library needed)."""
import struct
import zlib

import numpy as np
import torch

from fastgan.files import atomic_write


def to_uint8(images) -> np.ndarray:
    """[N, 784] (or [N, 28, 28]) in [-1, 1], tensor or array -> uint8 [N, 28, 28]."""
    if isinstance(images, torch.Tensor):
        images = images.detach().float().cpu().numpy()
    x = np.clip((np.asarray(images, dtype=np.float32).reshape(-1, 28, 28) + 1.0) * 127.5, 0, 255)
    return np.round(x).astype(np.uint8)


def grid(images, nrow: int | None = None, pad: int = 2) -> np.ndarray:
    """Tiles N images into one uint8 [H, W] picture, nrow per row, pad pixels between."""
    tiles = to_uint8(images)
    n = len(tiles)
    nrow = nrow or int(np.ceil(np.sqrt(n)))
    ncol_rows = int(np.ceil(n / nrow))
    h = ncol_rows * (28 + pad) + pad
    w = nrow * (28 + pad) + pad
    out = np.zeros((h, w), dtype=np.uint8)
    for i, tile in enumerate(tiles):
        r, c = divmod(i, nrow)
        out[pad + r * (28 + pad):pad + r * (28 + pad) + 28,
            pad + c * (28 + pad):pad + c * (28 + pad) + 28] = tile
    return out


def png_bytes(img: np.ndarray) -> bytes:
    """uint8 [H, W] (grey) or [H, W, 3] (RGB) -> PNG file bytes."""
    img = np.ascontiguousarray(img, dtype=np.uint8)
    h, w = img.shape[:2]
    color = 2 if img.ndim == 3 else 0
    raw = b"".join(b"\x00" + img[r].tobytes() for r in range(h))   # filter type 0 per row

    def chunk(tag, data):
        return (struct.pack(">I", len(data)) + tag + data
                + struct.pack(">I", zlib.crc32(tag + data) & 0xFFFFFFFF))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, color, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(raw, 6)) + chunk(b"IEND", b""))


def write_png(path, img: np.ndarray):
    return atomic_write(path, lambda f: f.write(png_bytes(img)))


def read_png_size(path) -> tuple[int, int]:
    """(width, height) from a PNG header, for checks."""
    with open(path, "rb") as f:
        head = f.read(24)
    if head[:8] != b"\x89PNG\r\n\x1a\n":
        raise ValueError(f"{path} is not a PNG")
    return struct.unpack(">II", head[16:24])

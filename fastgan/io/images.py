"""Image grids of samples, written as PNG with Pillow."""
import io

import numpy as np
import torch
from PIL import Image

from fastgan.io.files import atomic_write


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


def write_png(path, img: np.ndarray):
    """uint8 [H, W] (grey) or [H, W, 3] (RGB) -> a PNG file (Pillow), written atomically."""
    buf = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(img, dtype=np.uint8)).save(buf, format="PNG")
    return atomic_write(path, lambda f: f.write(buf.getvalue()))


def read_png_size(path) -> tuple[int, int]:
    """(width, height) of a PNG file, for checks."""
    with Image.open(path) as im:
        if im.format != "PNG":
            raise ValueError(f"{path} is not a PNG")
        return im.size

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def mnist_folder():
    for folder in (os.environ.get("FASTGAN_DATA"), ROOT.parent / "shared" / "mnist"):
        if folder and (Path(folder) / "train-images-idx3-ubyte.gz").is_file():
            return Path(folder).resolve()
    return None


@pytest.fixture(scope="session")
def mnist_dir():
    folder = mnist_folder()
    if folder is None:
        pytest.skip("MNIST not found: set FASTGAN_DATA to the folder with the four .gz files")
    return folder


@pytest.fixture(autouse=True)
def _reset_kernel_settings():
    from fastgan import kernels
    yield
    kernels.set_backend("auto")
    kernels.set_precision("tf32")

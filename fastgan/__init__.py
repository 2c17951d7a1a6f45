"""fastgan: the original GAN (Goodfellow et al., 2014) on MNIST, on fused Triton kernels."""
from pathlib import Path as _Path

__version__ = "0.1.0"

# The ops live in the top-level kernels/ folder, which an install maps to fastgan.kernels
# (pyproject.toml, package-dir). Run from a source tree without installing (PYTHONPATH=.), the
# same folder is found through the repo root.
_here = _Path(__file__).resolve().parent
if not (_here / "kernels").is_dir() and (_here.parent / "kernels" / "__init__.py").is_file():
    __path__.append(str(_here.parent))

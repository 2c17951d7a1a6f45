"""fastgan: the original GAN (Goodfellow et al., 2014) on MNIST, on fused Triton kernels.

The Python API, for a notebook (each function imports what it needs when called):

    import fastgan
    summary = fastgan.fit(fastgan.TrainConfig(epochs=1, device="cpu", out="runs/nb"),
                          overwrite=True)             # run twice: starts over in runs/nb
    G = fastgan.load_generator("runs/nb")              # the averaged G of the newest checkpoint
    x = fastgan.generate(G, 1000, seed=0)              # float32 [1000, 784] in [-1, 1]
    D = fastgan.load_discriminator("runs/nb")          # its trained D, to keep samples by:
    x = fastgan.generate(G, 1000, seed=0, D=D, reject=0.4)   # rejection sampling
    print(fastgan.score(x)["fid"])                     # classifier FID, IS, modes, ...
    table = fastgan.sweep({"lr_g": [2e-4, 4e-4]}, seeds=[0, 1, 2], epochs=1, device="cpu",
                          out="runs/sw")              # many GANs at once: sweep.json's table

(The names differ from the modules fastgan.train and fastgan.sample, the commands, so that no
function shadows a module.)
"""
from pathlib import Path as _Path

from fastgan.config import ModelConfig, TrainConfig

__version__ = "0.1.0"
__all__ = ["ModelConfig", "TrainConfig", "fit", "generate", "load_discriminator",
           "load_generator", "score", "sweep"]

# The ops live in the top-level kernels/ folder, which an install maps to fastgan.kernels
# (pyproject.toml, package-dir). Run from a source tree without installing (PYTHONPATH=.), the
# same folder is found through the repo root.
_here = _Path(__file__).resolve().parent
if not (_here / "kernels").is_dir() and (_here.parent / "kernels" / "__init__.py").is_file():
    __path__.append(str(_here.parent))


def __getattr__(name):
    """fastgan.sweep: the package fastgan/sweep, which is also callable (the sweep API)."""
    if name == "sweep":
        import importlib
        return importlib.import_module("fastgan.sweep")
    raise AttributeError(f"module 'fastgan' has no attribute {name!r}")


def fit(config: TrainConfig | None = None, overwrite: bool = False, **overrides) -> dict:
    """Trains a run (the defaults, a TrainConfig, and/or field overrides such as epochs=5);
    returns its summary: steps, seconds, final scores (unless eval=False), output paths.
    A folder that already holds a run is refused, unless overwrite=True: then, once the new
    config is accepted, what that run wrote is deleted (a notebook cell run twice); other files
    in the folder stay. Bad arguments raise ValueError or TypeError naming them."""
    import dataclasses
    from fastgan.config import validate
    from fastgan.run.fit import train_run
    from fastgan.run.folder import check_run, holds_run, remove_run
    if config is not None and not isinstance(config, TrainConfig):
        raise TypeError(f"fit: config must be a TrainConfig, got {type(config).__name__}")
    cfg = dataclasses.replace(config or TrainConfig(), **overrides)
    if overwrite and cfg.out and holds_run(cfg.out):
        validate(cfg)                         # the new run is accepted before anything goes
        remove_run(cfg.out)
    return train_run(cfg, check_run(cfg), None)


def load_generator(path, device: str = "cpu", raw: bool = False):
    """The generator of a checkpoint file or run folder (its moving average unless raw)."""
    from fastgan.io.device import resolve_device
    from fastgan.eval.trained import load_generator as load
    return load(path, resolve_device(device), raw=raw)


def load_discriminator(path, device: str = "cpu"):
    """The trained discriminator of a checkpoint file or run folder."""
    from fastgan.io.device import resolve_device
    from fastgan.eval.trained import load_discriminator as load
    return load(path, resolve_device(device))


def _count(name: str, n, least: int = 1) -> int:
    if isinstance(n, bool) or not isinstance(n, int):
        raise TypeError(f"{name} must be an int, got {n!r} ({type(n).__name__})")
    if n < least:
        raise ValueError(f"{name} must be >= {least}, got {n}")
    return n


def generate(G, n: int, seed: int = 0, D=None, reject: float = 0.0):
    """n samples of G as float32 [n, 784] in [-1, 1] (z drawn on the CPU from seed). With D
    and reject = q in (0, 1), the samples D keeps (discriminator rejection sampling: each with
    probability min(1, exp(logit - M)), M the q-quantile of D's logits; fastgan.eval.rejection)."""
    from fastgan.eval.rejection import reject as keep          # reject = 0: plain sampling
    _count("generate: n", n)
    _count("generate: seed", seed, 0)
    if reject and D is None:
        raise ValueError("generate: reject > 0 needs D (fastgan.load_discriminator)")
    return keep(G, D, n, seed, reject)[0]


def score(samples, data_dir=None, parzen: bool = False, device: str = "cpu") -> dict:
    """Classifier FID (against the 10k test images), IS, modes, confident share, class
    histogram, and with parzen=True the paper's Parzen-window log-likelihood. samples: [n, 784]
    (or [n, 28, 28]) images in [-1, 1], n >= 2, as generate returns them."""
    import numpy as np
    from fastgan.eval.evaluator import Evaluator
    from fastgan.io.device import resolve_device
    x = np.asarray(samples.detach().cpu() if hasattr(samples, "detach") else samples)
    if x.ndim < 2 or x.reshape(len(x), -1).shape[1] != 784:
        raise ValueError(f"score: samples must be [n, 784] images, got shape {x.shape}")
    if len(x) < 2:
        raise ValueError(f"score: needs at least 2 samples (a covariance), got {len(x)}")
    if not np.isfinite(x).all():
        raise ValueError("score: samples hold NaN or inf")
    if x.min() < -1 - 1e-6 or x.max() > 1 + 1e-6:
        raise ValueError(f"score: samples must lie in [-1, 1] (G's tanh range), got "
                         f"[{x.min():.3g}, {x.max():.3g}]")
    ev = Evaluator(data_dir, resolve_device(device))
    out = ev.scores(x.reshape(len(x), 784))
    if parzen:
        out["parzen"] = ev.parzen(x.reshape(len(x), 784))
    return out

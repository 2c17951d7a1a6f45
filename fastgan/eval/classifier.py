"""A small MNIST CNN, trained by the project, whose features and softmax drive the scores.

conv 5x5 (16) -> ReLU -> pool 2 -> conv 5x5 (32) -> ReLU -> pool 2 -> fc 1568 -> 128 -> ReLU
(the 128 "penultimate" features) -> fc 10. Trained with Adam (lr 1e-3, x0.6 per epoch, 5 epochs) on
the 60k training images from a seed. The seed-0 weights ship with the package
(fastgan/weights/classifier-v2-seed0.pt, 0.9 MB, 99.2% test accuracy); their SHA-256 is
SHIPPED_SHA256 below, checked on every load, and `python bench/classifier_weights.py`
retrains them and checks that it gets the same bytes. A classifier is trained (about 1.5 min on
a 2-core CPU) only when asked (retrain=True, `fastgan.eval --retrain-classifier`), for another
seed, or when the shipped file fails its checksum, saying so; a trained one is cached as
~/.cache/fastgan/classifier-v2-seed<S>.pt beside its SHA-256. Inputs are images in [-1, 1],
[N, 784].
"""
import os
from pathlib import Path

import numpy as np
import torch
from torch import nn

from fastgan.io.files import atomic_write, digest


class Classifier(nn.Module):
    def __init__(self):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(1, 16, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2),     # [16, 14, 14]
            nn.Conv2d(16, 32, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2),    # [32, 7, 7]
            nn.Flatten(), nn.Linear(32 * 7 * 7, 128), nn.ReLU())            # [128]
        self.head = nn.Linear(128, 10)

    def forward(self, x):                      # [N, 784] in [-1, 1] -> (features, logits)
        f = self.features(x.view(-1, 1, 28, 28))
        return f, self.head(f)


SHIPPED = Path(__file__).resolve().parents[1] / "weights" / "classifier-v2-seed0.pt"
SHIPPED_SHA256 = "43e6517c3ded8db5dd5fc406d5e48b5aa41c7c54dea46c0f0eaba2caeae4e630"


def cache_path(seed: int) -> Path:
    root = Path(os.environ.get("FASTGAN_CACHE", Path.home() / ".cache" / "fastgan"))
    return root / f"classifier-v2-seed{seed}.pt"      # v2: bump when training changes


def train_classifier(images: torch.Tensor, labels: torch.Tensor, seed: int = 0,
                     epochs: int = 5, batch: int = 128, log=print) -> Classifier:
    """images float [n, 784] in [-1, 1], labels int64 [n], on the training device."""
    torch.manual_seed(seed)
    model = Classifier().to(images.device)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    sched = torch.optim.lr_scheduler.ExponentialLR(opt, gamma=0.6)   # lr x0.6 per epoch
    gen = torch.Generator(device=images.device).manual_seed(seed)
    for epoch in range(epochs):
        perm = torch.randperm(len(images), generator=gen, device=images.device)
        for i in range(0, len(images), batch):
            idx = perm[i:i + batch]
            loss = nn.functional.cross_entropy(model(images[idx])[1], labels[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
        sched.step()
        log(f"classifier epoch {epoch + 1}/{epochs}: last batch loss {loss.item():.4f}")
    return model.eval()


@torch.no_grad()
def predict(model: Classifier, images, batch: int = 2000):
    """(features float64 [n, 128], probabilities float64 [n, 10]) as NumPy arrays."""
    device = next(model.parameters()).device
    feats, probs = [], []
    for i in range(0, len(images), batch):
        x = torch.as_tensor(images[i:i + batch], dtype=torch.float32).to(device)
        f, logits = model(x)
        feats.append(f.double().cpu())
        probs.append(torch.softmax(logits.double(), dim=1).cpu())
    return torch.cat(feats).numpy(), torch.cat(probs).numpy()


def accuracy(model: Classifier, images, labels) -> float:
    return float((predict(model, images)[1].argmax(1) == np.asarray(labels)).mean())


def _load(path: Path, device) -> Classifier:
    model = Classifier()
    model.load_state_dict(torch.load(path, map_location="cpu", weights_only=True))
    return model.to(device).eval()


def load_or_train(train_images, train_labels, device="cpu", seed: int = 0, log=print,
                  retrain: bool = False) -> Classifier:
    """The shipped classifier (seed 0) or the cached one for seed, each if its checksum holds;
    else (or with retrain) a freshly trained one, cached."""
    path = cache_path(seed)
    sums = path.with_suffix(".sha256")
    if not retrain:
        if seed == 0:
            if SHIPPED.is_file() and digest(SHIPPED) == SHIPPED_SHA256:
                return _load(SHIPPED, device)
            log(f"warning: the shipped classifier {SHIPPED} is missing or fails its SHA-256 "
                "check; using a cached one or training one")
        if path.is_file() and sums.is_file() and sums.read_text().strip() == digest(path):
            return _load(path, device)
    log(f"training the evaluation classifier (seed {seed}, about 1.5 min on 2 CPU cores); "
        f"cached at {path}")
    x = torch.as_tensor(train_images, dtype=torch.float32).to(device)
    y = torch.from_numpy(np.array(train_labels, dtype=np.int64)).to(device)
    with torch.random.fork_rng(devices=[]):             # the caller's global RNG is left as it was
        model = train_classifier(x, y, seed, log=log)
    save(model, path)
    atomic_write(sums, lambda f: f.write((digest(path) + "\n").encode()))
    return model


def save(model: Classifier, path: Path) -> Path:
    """The weights as the shipped file holds them (the module's state dict, trained on the CPU)."""
    return atomic_write(path, lambda f: torch.save(model.state_dict(), f))

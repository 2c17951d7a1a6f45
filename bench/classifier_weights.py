"""Reproduces the shipped evaluation classifier bit for bit (CPU, about 1.5 min on 2 cores).

    python bench/classifier_weights.py [--data-dir DIR] [--write]

Trains the seed-0 classifier exactly as fastgan.eval.classifier does, saves it as the package ships
it, and compares its SHA-256 with fastgan.eval.classifier.SHIPPED_SHA256 (exit 0 when equal, 1 when
not). It also prints the test accuracy. --write replaces the shipped file (then update
SHIPPED_SHA256 to the printed digest). Same torch version and CPU build as the shipped file's:
float arithmetic of another build may differ in the last bits.
"""
import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from fastgan import data  # noqa: E402
from fastgan.eval.classifier import (SHIPPED, SHIPPED_SHA256, accuracy, save,  # noqa: E402
                                train_classifier)
from fastgan.io.files import digest as file_digest  # noqa: E402


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--data-dir", help="MNIST folder (else $FASTGAN_DATA, the cache)")
    p.add_argument("--write", action="store_true", help="replace the shipped weights")
    args = p.parse_args(argv)
    folder = data.find(args.data_dir)
    x, y = data.load_split(folder, "train")
    tx, ty = data.load_split(folder, "test")
    t0 = time.perf_counter()
    model = train_classifier(data.to_unit_range(x), torch.from_numpy(y.astype(np.int64)), seed=0)
    out = SHIPPED if args.write else Path(tempfile.mkdtemp()) / SHIPPED.name
    save(model, out)
    digest = file_digest(out)
    print(f"trained in {time.perf_counter() - t0:.0f} s; test accuracy "
          f"{accuracy(model, data.to_unit_range(tx).numpy(), ty):.4f}")
    print(f"sha256 {digest} ({'written to ' + str(out) if args.write else 'not written'})")
    if digest == SHIPPED_SHA256:
        print("identical to the shipped weights")
        return 0
    print(f"differs from the shipped weights ({SHIPPED_SHA256})")
    return 0 if args.write else 1


if __name__ == "__main__":
    sys.exit(main())

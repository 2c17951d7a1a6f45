"""What a run reports as it goes: metrics.jsonl, a live progress line, TensorBoard if installed."""
import json
import sys
import time
from pathlib import Path

import numpy as np


class Monitor:
    def __init__(self, run_dir, total_steps: int, progress: bool = True,
                 tensorboard: bool = True, resume_step: int = 0):
        self.run_dir, self.total = Path(run_dir), total_steps
        self.records = _load_records(self.run_dir / "metrics.jsonl", resume_step)
        self.metrics = open(self.run_dir / "metrics.jsonl", "a")
        self.tty = progress and sys.stderr.isatty()
        self.start = time.perf_counter()
        self.tb = None
        if tensorboard:
            try:
                from torch.utils.tensorboard import SummaryWriter
                self.tb = SummaryWriter(str(self.run_dir / "tensorboard"))
            except ImportError:
                pass

    def log(self, record: dict) -> None:
        self.records.append(record)
        self.metrics.write(json.dumps(record) + "\n")
        self.metrics.flush()
        if self.tb is not None:
            for key, value in record.items():
                if key not in ("step", "epoch") and isinstance(value, (int, float)):
                    self.tb.add_scalar(key, value, record["step"])
        self.show(record)

    def show(self, record: dict) -> None:
        step = record["step"]
        text = "  ".join(f"{k}={v:.4g}" for k, v in record.items()
                         if k not in ("step", "epoch", "wall_s") and isinstance(v, float))
        if self.tty:
            done = int(30 * step / max(self.total, 1))
            print(f"\r[{'#' * done}{'.' * (30 - done)}] {step}/{self.total} {text}",
                  end="", file=sys.stderr, flush=True)
        else:
            print(f"step {step}/{self.total} epoch {record.get('epoch')} {text}", flush=True)

    def image(self, tag: str, img: np.ndarray, step: int) -> None:
        if self.tb is not None:
            self.tb.add_image(tag, img, step, dataformats="HW" if img.ndim == 2 else "HWC")

    def close(self) -> None:
        if self.tty:
            print(file=sys.stderr)
        self.metrics.close()
        if self.tb is not None:
            self.tb.close()


def _load_records(path: Path, resume_step: int) -> list[dict]:
    """Earlier records up to the resumed step; later ones (past the checkpoint) are dropped."""
    if not path.exists():
        return []
    records = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    records = [r for r in records if r.get("step", 0) <= resume_step]
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    return records

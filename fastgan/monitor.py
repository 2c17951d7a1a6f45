"""What a run reports as it goes: metrics.jsonl, a progress bar (tqdm) on a terminal or plain
log lines elsewhere, and TensorBoard if installed.

The bar moves every step (`tick`, host-side only: no device sync) and shows rate, ETA and the
last logged losses; the values come from the log records, the only host syncs of the loop.
"""
import json
import sys
import time
from pathlib import Path

import numpy as np
from tqdm import tqdm


class Monitor:
    def __init__(self, run_dir, total_steps: int, progress: bool = True,
                 tensorboard: bool = True, resume_step: int = 0):
        self.run_dir, self.total = Path(run_dir), total_steps
        self.records = _load_records(self.run_dir / "metrics.jsonl", resume_step)
        self.metrics = open(self.run_dir / "metrics.jsonl", "a")
        self.tty = progress and sys.stderr.isatty()
        self.bar = (tqdm(total=total_steps, initial=resume_step, unit="step", dynamic_ncols=True,
                         smoothing=0.05, file=sys.stderr) if self.tty else None)
        self.start = time.perf_counter()
        self.estimated = False
        self.tb = None
        if tensorboard:
            try:
                from torch.utils.tensorboard import SummaryWriter
                self.tb = SummaryWriter(str(self.run_dir / "tensorboard"))
            except ImportError:
                pass

    def tick(self) -> None:
        """One step done."""
        if self.bar is not None:
            self.bar.update(1)

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
        rate = record.get("steps_per_s")
        if rate and not self.estimated and step < self.total:
            self.estimated = True
            self.write(f"{rate:.1f} steps/s: about {(self.total - step) / rate / 60:.1f} min "
                       f"for the remaining {self.total - step} steps")
        keys = ("d_loss", "g_loss", "d_x", "d_g_z", "fid", "raw_fid")
        if self.bar is not None:
            shown = {k: f"{record[k]:.3g}" for k in keys if k in record}
            if "fid" in record:
                self.write(f"step {step}: " + "  ".join(f"{k}={v}" for k, v in shown.items()))
            else:
                self.bar.set_postfix(shown, refresh=False)
        else:
            text = "  ".join(f"{k}={v:.4g}" for k, v in record.items()
                             if k not in ("step", "epoch", "wall_s") and isinstance(v, float))
            print(f"step {step}/{self.total} epoch {record.get('epoch')} {text}", flush=True)

    def write(self, line: str) -> None:
        """A line of its own, above the bar on a terminal."""
        if self.bar is not None:
            self.bar.write(line, file=sys.stderr)
        else:
            print(line, flush=True)

    def image(self, tag: str, img: np.ndarray, step: int) -> None:
        if self.tb is not None:
            self.tb.add_image(tag, img, step, dataformats="HW" if img.ndim == 2 else "HWC")

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
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

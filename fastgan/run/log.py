"""What training reports as it goes: each member's metrics.jsonl (and TensorBoard if installed),
and one progress display for everything a process trains: a tqdm bar on a terminal, plain log
lines elsewhere.

`Log`: one member's records. `Progress`: the bar moves every step by the members trained
(`tick`, host-side only: no device sync) and shows the rate (steps/s for one run, member-steps/s
for a sweep), the ETA and the last logged losses; the values come from the log records, the only
host syncs of the loop.
"""
import json
import sys
import time
from pathlib import Path

import numpy as np
from tqdm import tqdm


class Log:
    """One member's metrics.jsonl and TensorBoard; earlier records beyond the resumed step are
    dropped (the steps after the checkpoint are trained again)."""

    def __init__(self, run_dir, tensorboard: bool = True, resume_step: int = 0):
        self.run_dir = Path(run_dir)
        self.records = _kept_records(self.run_dir, resume_step)
        self.metrics = open(self.run_dir / "metrics.jsonl", "a")
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

    def image(self, tag: str, img: np.ndarray, step: int) -> None:
        if self.tb is not None:
            self.tb.add_image(tag, img, step, dataformats="HW" if img.ndim == 2 else "HWC")

    def close(self) -> None:
        self.metrics.close()
        if self.tb is not None:
            self.tb.close()


class Progress:
    """total: steps of one run, or member-steps of a sweep (members x steps) when unit is
    "member-step"; done: what earlier legs (resumed checkpoints, finished groups) already did."""

    def __init__(self, total: int, progress: bool = True, done: int = 0, unit: str = "step",
                 quiet: bool = False):
        """quiet: no bar and no lines (the other ranks of a sweep: rank 0 reports)."""
        self.total, self.unit, self.done, self.quiet = total, unit, done, quiet
        self.tty = progress and sys.stderr.isatty() and not quiet
        self.bar = (tqdm(total=total, initial=done, unit=unit, dynamic_ncols=True,
                         smoothing=0.05, file=sys.stderr) if self.tty else None)
        self.estimated = False

    def tick(self, n: int = 1) -> None:
        """One step of n members done."""
        self.done += n
        if self.bar is not None:
            self.bar.update(n)

    def show(self, step: int, total: int, records: list[dict]) -> None:
        """The log records of one step (one per member still training)."""
        if self.quiet:
            return
        rate = sum(r.get("steps_per_s") or 0 for r in records)
        left = self.total - self.done
        if rate and not self.estimated and left > 0:
            self.estimated = True
            self.write(f"{rate:.1f} {self.unit}s/s: about {left / rate / 60:.1f} min for the "
                       f"remaining {left} {self.unit}s")
        keys = ("d_loss", "g_loss", "d_x", "d_g_z", "fid", "raw_fid")
        if len(records) == 1:
            record = records[0]
            if self.bar is not None:
                shown = {k: f"{record[k]:.3g}" for k in keys if k in record}
                if "fid" in record:
                    self.write(f"step {step}: " + "  ".join(f"{k}={v}" for k, v in shown.items()))
                else:
                    self.bar.set_postfix(shown, refresh=False)
            else:
                text = "  ".join(f"{k}={v:.4g}" for k, v in record.items()
                                 if k not in ("step", "epoch", "wall_s") and isinstance(v, float))
                print(f"step {step}/{total} epoch {record.get('epoch')} {text}", flush=True)
            return
        spans = {k: (min(r[k] for r in records), max(r[k] for r in records))
                 for k in keys if all(k in r for r in records)}
        text = "  ".join(f"{k} {lo:.3g}..{hi:.3g}" for k, (lo, hi) in spans.items())
        if self.bar is not None and "fid" not in spans:
            self.bar.set_postfix_str(f"{len(records)} members  {text}", refresh=False)
        else:
            self.write(f"step {step}/{total}, {len(records)} members: {text}"
                       + (f"  ({rate:.1f} member-steps/s)" if rate else ""))

    def write(self, line: str) -> None:
        """A line of its own, above the bar on a terminal."""
        if self.quiet:
            return
        if self.bar is not None:
            self.bar.write(line, file=sys.stderr)
        else:
            print(line, flush=True)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None


def _kept_records(run_dir: Path, resume_step: int) -> list[dict]:
    """Earlier records up to the resumed step, written back; later ones (past the checkpoint,
    trained again) and a cut last line are dropped."""
    from fastgan.run.folder import read_records
    path = run_dir / "metrics.jsonl"
    if not path.exists():
        return []
    records = read_records(run_dir, upto=resume_step)
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    return records

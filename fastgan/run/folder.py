"""A run's folder: the rules a run must pass before it writes anything (`check_run`), the
folder made ready (`prepare`), and the one reader of what a run wrote (config, metrics,
summary), used by training, the sweep, the benchmarks and the quality scripts.

RUN/config.json      the TrainConfig (also inside every checkpoint)
RUN/metrics.jsonl    one JSON record per line: the log records, the evaluation records
RUN/summary.json     written when the run ends (status, scores, paths)
RUN/checkpoints/     fastgan.io.checkpoint; samples/, curves.png, tensorboard/ beside them
Nothing here imports torch: the train command checks its flags before torch loads.
"""
import json
import shutil
import sys
from datetime import datetime
from pathlib import Path

from fastgan.config import TrainConfig, from_dict, to_dict, total_steps, validate
from fastgan.io import checkpoint
from fastgan.io.cli import UserError
from fastgan.io.files import atomic_write, refuse_file

# What a run writes in its folder (all that `remove_run` deletes: nothing else is touched).
RUN_FILES = ("config.json", "metrics.jsonl", "summary.json", "curves.png", "checkpoints",
             "samples", "tensorboard")


def holds_run(run_dir) -> bool:
    """Whether run_dir holds a fastgan run (a checkpoint, verified or not)."""
    return bool(checkpoint.list_checkpoints(run_dir))


def check_run(cfg: TrainConfig, resume: dict | None = None) -> Path:
    """Every rule a run must pass before it writes anything: the config (validate), its folder
    (cfg.out, defaulted to runs/<timestamp>), and either a folder free of another run or, when
    resuming from `resume` (a checkpoint's dict), a length that reaches past its step.
    Returns the run folder; raises UserError (one line, exit 2)."""
    validate(cfg)
    run_dir = Path(cfg.out or Path("runs") / datetime.now().strftime("%Y%m%d-%H%M%S"))
    cfg.out = str(run_dir)
    if resume is not None and total_steps(cfg) < resume["step"]:
        if cfg.steps is not None:
            raise UserError(f"--resume: --steps {cfg.steps} is below the checkpoint's step "
                            f"{resume['step']}")
        raise UserError(f"--resume: the run would end at step {total_steps(cfg)}, before the "
                        f"checkpoint's step {resume['step']} (raise --epochs or --steps)")
    if resume is None and holds_run(run_dir):
        raise UserError(f"{run_dir} already holds a run; use --resume {run_dir} or another --out")
    return refuse_file(run_dir)


def prepare(cfg: TrainConfig, run_dir: Path, resume: dict | None) -> None:
    """A checked run's folder before it trains: made, partial checkpoint files cleaned,
    config.json written."""
    run_dir.mkdir(parents=True, exist_ok=True)
    for tmp in checkpoint.clean_partial(run_dir):
        print(f"removed {tmp}, a partial checkpoint an interrupted run left", file=sys.stderr)
    atomic_write(run_dir / "config.json",
                 lambda f: f.write((json.dumps(to_dict(cfg), indent=2) + "\n").encode()))


def remove_run(run_dir) -> None:
    """Deletes what a run wrote in run_dir (RUN_FILES), and the folder if nothing else is in it;
    any other file stays."""
    run_dir = Path(run_dir)
    for name in RUN_FILES:
        path = run_dir / name
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path)
        elif path.exists() or path.is_symlink():
            path.unlink()
    if run_dir.is_dir() and not any(run_dir.iterdir()):
        run_dir.rmdir()


def read_config(run_dir, log=None) -> TrainConfig:
    """The run's TrainConfig from config.json; a damaged or missing one is rebuilt from the
    newest good checkpoint (which holds the config), saying so."""
    run_dir, log = Path(run_dir), log or (lambda m: print(m, file=sys.stderr))
    path = run_dir / "config.json"
    try:
        return from_dict(json.loads(path.read_text()))
    except (OSError, ValueError, TypeError) as e:
        if not holds_run(run_dir):
            what = "missing" if isinstance(e, FileNotFoundError) else "damaged"
            raise UserError(f"{run_dir}: not a run folder ({path.name} {what}, no checkpoint)") \
                from None
        _, ckpt = checkpoint.latest_good(run_dir, log)
        log(f"warning: {path} is damaged; using the config its newest checkpoint holds")
        try:
            return from_dict(ckpt["config"])
        except (TypeError, ValueError, KeyError):
            raise UserError(f"{path} is damaged and the checkpoint's config unreadable") from None


def read_records(run_dir, upto: int | None = None, log=None) -> list[dict]:
    """The records of metrics.jsonl (those at steps <= upto when given). A cut last line, what a
    kill mid-write leaves, is dropped with a word; a damaged line elsewhere is named."""
    path = Path(run_dir) / "metrics.jsonl"
    if not path.is_file():
        return []
    lines = path.read_text(errors="replace").splitlines()
    records = []
    for i, line in enumerate(lines):
        if not line.strip():
            continue
        try:
            records.append(json.loads(line))
        except ValueError:
            if i < len(lines) - 1 and any(rest.strip() for rest in lines[i + 1:]):
                raise UserError(f"{path}: line {i + 1} is not a JSON record (damaged)") from None
            (log or (lambda m: print(m, file=sys.stderr)))(
                f"warning: {path}: dropped its cut last line (an interrupted write)")
    if upto is not None:
        records = [r for r in records if r.get("step", 0) <= upto]
    return records


def read_summary(run_dir) -> dict | None:
    """summary.json, or None while the run has none (or it is unreadable)."""
    path = Path(run_dir) / "summary.json"
    try:
        return json.loads(path.read_text()) if path.is_file() else None
    except ValueError:
        return None

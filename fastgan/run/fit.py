"""One run from its config to its end: `fit(cfg)` (the API's fastgan.fit and the train
command): the run's rules checked, its folder prepared, one member trained by
fastgan.run.loop.Group, and its summary returned."""
from pathlib import Path

from fastgan.config import TrainConfig
from fastgan.io.cli import DivergenceError, Interrupted, os_fault
from fastgan.io.files import ensure_writable
from fastgan.run.folder import check_run, prepare
from fastgan.run.loop import STOPPED, Group, Member


def fit(cfg: TrainConfig, resume: dict | None = None) -> dict:
    """Trains cfg into cfg.out (or runs/<timestamp>); returns the summary (also summary.json)."""
    return train_run(cfg, check_run(cfg, resume), resume)


def train_run(cfg: TrainConfig, run_dir: Path, resume: dict | None) -> dict:
    """Trains a config that check_run accepted into run_dir (from resume when given). An
    operating-system fault (a full disk) ends it in one line with the resume hint: the
    checkpoints written before it are good."""
    member = Member(cfg, run_dir, resume)
    group = Group([member], final_eval=cfg.eval)      # the device, the data: checked first
    ensure_writable(run_dir)
    prepare(cfg, run_dir, resume)
    where = (f"{group.device}, {'compiled' if group.compile else 'eager'}"
             f"{' + CUDA graphs' if cfg.cuda_graphs else ''}, backend {cfg.backend}")
    print(f"training {group.total} steps ({group.steps_per_epoch}/epoch) from step {group.step} "
          f"on {where} -> {run_dir}", flush=True)
    try:
        group.train()
    except Interrupted as e:
        raise Interrupted(f"{e}; continue with --resume {run_dir}") from None
    except OSError as e:
        raise os_fault(e, f"the last good checkpoint is kept: continue with --resume {run_dir}") \
            from None
    if member.status in STOPPED:
        raise DivergenceError(member.reason)
    s = member.summary
    return {k: s[k] for k in ("steps", "train_s", "compile_s", "eval_s", "target", "scores",
                              "steps_per_s", "samples", "curves", "checkpoint")}

"""Train the GAN on MNIST: `python -m fastgan.train [--device cuda|cpu] [flags]` (see --help).

Algorithm 1 of the paper: each step runs k discriminator updates, each on a fresh real
minibatch, then one generator update. Writes into the run folder: config.json, metrics.jsonl,
samples/epoch_NNN.png and samples/final.png (a fixed z), curves.png, checkpoints/, and
tensorboard/ when TensorBoard is installed. Exit codes: 0 done, 2 bad input, 3 diverged or
saturated (the last good checkpoint is kept), 130 interrupted by Ctrl-C or SIGTERM (a checkpoint
is written first; --resume continues).
"""
import argparse
import sys
from pathlib import Path

from fastgan.config import FIXED_ON_RESUME, TrainConfig, add_flags, field_value, from_flags
from fastgan.io.cli import Parser, UserError, run


def parse(argv) -> tuple[TrainConfig, Path, dict | None]:
    """The config of the flags (on --resume, the run's own with the flags applied), checked by
    fastgan.run.folder.check_run; its folder; the checkpoint to resume from (or None)."""
    from fastgan.run.folder import check_run, read_config
    parser = Parser(prog="fastgan.train", description=__doc__.split("\n")[0],
                    argument_default=argparse.SUPPRESS)
    add_flags(parser, TrainConfig)
    given = vars(parser.parse_args(argv))
    resume = None
    if given.get("resume"):
        run_dir = Path(given["resume"])
        if not run_dir.is_dir():
            raise UserError(f"--resume {run_dir}: not a run folder (no such folder)")
        saved = read_config(run_dir)
        cfg = from_flags(given, saved)
        for name in FIXED_ON_RESUME:
            old, new = field_value(saved, name), field_value(cfg, name)
            if old != new:
                raise UserError(f"--resume: --{name.replace('_', '-')} {new} differs from the "
                                f"run's {old}; it cannot change on resume (start a new run)")
        from fastgan.io import checkpoint
        path, resume = checkpoint.latest_good(run_dir)
        resume["path"] = path
        cfg.out = str(run_dir)
    else:
        cfg = from_flags(given)
    cfg.resume = None
    return cfg, check_run(cfg, resume), resume


def main(argv=None) -> int:
    cfg, run_dir, resume = parse(argv)       # flags checked before torch and triton load
    from fastgan.run.fit import train_run
    summary = train_run(cfg, run_dir, resume)
    print(f"done: {summary['steps']} steps, {summary['steps_per_s']:.1f} steps/s "
          f"(compile/warm-up {summary['compile_s']:.1f} s, training {summary['train_s']:.1f} s)")
    if summary["scores"]:
        sc = summary["scores"]
        shares = [100 * n / sum(sc["histogram"]) for n in sc["histogram"]]
        print(f"scores: classifier FID {sc['fid']:.2f}  IS {sc['is']:.2f}  modes {sc['modes']}  "
              f"classes {min(shares):.1f}-{max(shares):.1f}%  confident {sc['confident']:.3f}  "
              f"(evaluation took {summary['eval_s']:.1f} s; real training images: FID 2.46, IS 9.7)")
        if "rejection" in sc:
            r = sc["rejection"]
            print(f"kept by D (--reject {r['quantile']:g}, {100 * r['kept']:.1f}% kept): "
                  f"classifier FID {r['fid']:.2f}  IS {r['is']:.2f}  modes {r['modes']}  "
                  f"confident {r['confident']:.3f}")
    if cfg.target_fid is not None:
        reached = summary["target"]
        print(f"target FID {cfg.target_fid}: " + (
            f"reached {reached['fid']:.2f} at step {reached['step']} after "
            f"{reached['train_s']:.1f} s of training" if reached else "not reached"))
    print(f"samples: {summary['samples']}  curves: {summary['curves']}  "
          f"checkpoint: {summary['checkpoint']}")
    return 0


def cli() -> None:
    """Console-script entry point."""
    sys.exit(run(main))


if __name__ == "__main__":
    cli()

"""Train many GANs at once: `python -m fastgan.sweep [flags with lists] --out DIR` (see --help).

Every fastgan.train flag may take a comma list; the members are the product of the lists
(seeds fastest), or --members FILE.json lists the settings. Members of one shape train batched
(one launch per layer for all of them), each exactly as fastgan.train would train it alone,
into DIR/members/NNN/ (a run folder); DIR/sweep.json, sweep.md and sweep.png hold the table.
Under torchrun the members are split over the ranks. Exit codes: 0 every member done, 2 bad
input, 3 some member diverged or saturated (the others finished), 130 interrupted (checkpoints
written; --resume DIR continues).
"""
import argparse
import os
import sys
from pathlib import Path

from fastgan.io.cli import Parser, UserError, WriteError, os_fault
from fastgan.sweep import grid

EPILOG = """lists: --lr-g 2e-4,4e-4 (comma list), --seeds 0-7 (integer range), --d-hidden
512,256/1024,512 (a list-valued flag: '/' between alternatives), --share-g-forward true,false.
Flags that set where and how the sweep runs (--device, --backend, --log-every, ...) take one
value. Members that agree on the shapes (sizes, --batch-size, --k, --share-g-forward,
--train-size, length) form one batched group; the rest may differ per member.
--members FILE.json: [{"lr_g": 2e-4, "d_dropout": 0.1}, ...], each setting crossed with --seeds.
Several processes: torchrun --nproc-per-node N -m fastgan.sweep ... (gloo on CPU, nccl with
one GPU per rank; across machines add --nnodes, --node-rank and --rdzv-endpoint)."""


def parse(argv):
    p = Parser(prog="fastgan.sweep", description=__doc__.split("\n")[0], epilog=EPILOG,
               formatter_class=argparse.RawDescriptionHelpFormatter)
    grid.add_flags(p)
    p.add_argument("--seeds", dest="seed", metavar="S[,S...]",
                   help="the seeds of every setting: a list or a range (0-7); the same as --seed")
    p.add_argument("--members", metavar="FILE.json",
                   help="the settings as a JSON list of objects (flag -> value) instead of lists")
    p.add_argument("--resume", metavar="DIR", help="continue the sweep in DIR from its "
                   "checkpoints (flags given then apply to every member, one value each)")
    p.add_argument("--parzen", action="store_true",
                   help="add the paper's Parzen-window estimate of every member (about 5 s each)")
    p.add_argument("--no-eval", dest="eval", action="store_false",
                   help="skip the final classifier scores of the members")
    p.add_argument("--threads", type=int, help="intra-op threads per process (default: all "
                   "cores; under torchrun, OMP_NUM_THREADS, which torchrun sets to 1)")
    args = vars(p.parse_args(argv))
    own = {k: args.pop(k) for k in ("members", "resume", "parzen", "eval", "threads")}
    if own["threads"] is not None and own["threads"] < 1:
        raise UserError("--threads must be >= 1")
    lists = grid.parse(args)
    if own["resume"]:
        for name, vals in lists.items():
            if len(vals) > 1:
                raise UserError(f"{grid.flag(name)}: on --resume a flag takes one value (it "
                                "applies to every member)")
        if own["members"]:
            raise UserError("--members cannot change on --resume")
        lists.pop("out", None)
    settings = grid.read(own["members"]) if own["members"] else None
    out = own["resume"] or (lists.pop("out", [None])[0])
    if out is None:
        raise UserError("--out DIR is required (the sweep's folder)")
    return lists, settings, out, own


def main(argv=None) -> int:
    lists, settings, out, own = parse(argv)   # flags checked before torch and triton load
    from fastgan.sweep import run
    result, code = run(lists, settings, out, bool(own["resume"]), own["parzen"], own["eval"],
                       own["threads"], progress=lists.get("progress", [True])[0])
    if result:
        print((Path(out) / "sweep.md").read_text(), end="")
        print(f"wrote {out}/sweep.json, sweep.md, sweep.png")
    return code


def cli() -> None:
    """Console-script entry point; under torchrun, only rank 0 reports bad input."""
    rank = int(os.environ.get("RANK", "0"))
    try:
        code = main()
    except UserError as e:
        if rank == 0 or e.exit_code != 2:            # bad input: every rank finds the same
            print(f"error: {f'rank {rank}: ' if rank else ''}{e}", file=sys.stderr)
        code = e.exit_code
    except OSError as e:                        # the operating system's fault: one line
        print(f"error: {os_fault(e)}", file=sys.stderr)
        code = WriteError.exit_code
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        code = 130
    sys.exit(code)


if __name__ == "__main__":
    cli()

"""Many GANs at once: seeds x settings trained batched, in one process or many (torchrun).

    python -m fastgan.sweep --seeds 0,1,2 --lr-g 2e-4,4e-4 --d-dropout 0,0.1 --device cpu --out runs/sw
    torchrun --nproc-per-node 2 -m fastgan.sweep --seeds 0-7 --device cpu --out runs/sw8

The Python API is this module itself, called:

    import fastgan
    table = fastgan.sweep({"lr_g": [2e-4, 4e-4]}, seeds=[0, 1, 2], device="cpu", epochs=1,
                          out="runs/sw")                 # what sweep.json holds

Modules: grid (flags with lists -> members), runner (the folder, groups, resume, rows),
ranks (torch.distributed), table (sweep.json, sweep.md, sweep.png); __main__ is the command.
"""
import json
import sys
import time
import types
from pathlib import Path

from fastgan.io.cli import DivergenceError, Interrupted, UserError, os_fault
from fastgan.io.files import ensure_writable

__all__ = ["run", "sweep"]


def _fixed_on_resume(plan: dict, overrides: dict) -> list:
    """The members' configs with a resume's overrides (one value each, for every member),
    refused where fastgan.train --resume would refuse them."""
    from fastgan.config import (FIXED_ON_RESUME, field_value, flag_name, from_dict, from_flags,
                                validate)
    configs = []
    for entry in plan["members"]:
        saved = from_dict(entry["config"])
        cfg = from_flags(overrides, saved)
        for name in FIXED_ON_RESUME:
            if field_value(saved, name) != field_value(cfg, name):
                raise UserError(f"--resume: {flag_name(name)} {field_value(cfg, name)} differs from "
                                f"member {entry['index']}'s {field_value(saved, name)}; it "
                                "cannot change on resume (start a new sweep)")
        validate(cfg)
        configs.append(cfg)
    return configs


def _check_memory(plan: dict, indices: list[int], device: str) -> None:
    """Refuses (one line, exit 2) a rank's members whose largest group would not fit in its
    device's free memory (fastgan.sweep.memory)."""
    from fastgan.config import from_dict, group_key
    from fastgan.io.device import resolve_device
    from fastgan.sweep import memory
    groups = {}
    for i in indices:
        cfg = from_dict(plan["members"][i]["config"])
        groups.setdefault(group_key(cfg), []).append(cfg)
    where = resolve_device(device)
    memory.check_fits(list(groups.values()), where, memory.free_bytes(where))


def plan_for(lists: dict, settings, out: Path, eval_: bool, parzen: bool):
    """A new sweep's plan: its members from the lists (and settings), checked."""
    from fastgan.sweep import grid, runner
    member_flags, configs = grid.members(lists, settings)
    varied = grid.varied(member_flags)
    for i, cfg in enumerate(configs):
        cfg.out = str(out / runner.member_dir(Path(""), i, len(configs)))
    return runner.new_plan(out, member_flags, configs, varied,
                           lambda f: grid.setting_of(f, varied), eval_, parzen)


def run(lists: dict | None = None, settings=None, out=None, resume: bool = False,
        parzen: bool = False, eval_: bool = True, threads: int | None = None,
        progress: bool = True, log=print) -> tuple[dict, int]:
    """Plans (or resumes) the sweep in out, trains this rank's members, and on rank 0 writes
    the table; returns (the table, the exit code: 0 every member done, 3 some stopped)."""
    import torch
    from fastgan.config import to_dict
    from fastgan.sweep import ranks, runner, table
    w = ranks.world()
    if out is None:
        raise UserError("--out is required (the sweep's folder)")
    out = Path(out)
    if resume:
        plan = runner.read_plan(out)
        configs = _fixed_on_resume(plan, {k: v[0] for k, v in (lists or {}).items()})
        for entry, cfg in zip(plan["members"], configs):
            entry["config"] = to_dict(cfg)
    elif ranks.restarted() and (out / runner.PLAN).is_file():
        # torchrun restarted the workers after a rank failed: the same command, resumed
        plan = runner.read_plan(out)
        again = plan_for(lists or {}, settings, out, eval_, parzen)
        same = lambda p: json.dumps([m["config"] for m in p["members"]], sort_keys=True)
        if same(again) != same(plan):
            raise UserError(f"{out} holds another sweep than this command's")
    else:
        if (out / runner.PLAN).is_file() and runner.started(out):
            raise UserError(f"{out} already holds a sweep; use --resume {out} or another --out")
        plan = plan_for(lists or {}, settings, out, eval_, parzen)
    from fastgan import data                  # MNIST found and verified before any folder
                                              # (once: the groups take the same arrays)
    first = plan["members"][0]["config"]
    data.load_split(data.find(first["data_dir"]), "train")
    n = len(plan["members"])
    if n < w.size:
        raise UserError(f"{w.size} ranks for {n} member(s): every rank needs a member (use "
                        f"--nproc-per-node {n} or fewer)")
    cores = torch.get_num_threads() if threads is None else threads
    torch.set_num_threads(max(1, cores))
    device = ranks.device_for(plan["members"][0]["config"]["device"], w)
    indices = ranks.split(n, w)
    _check_memory(plan, indices, device)      # before anything is written
    if w.local_rank == 0:
        ensure_writable(out)
        runner.write_plan(out, plan)
    for i in indices:
        plan["members"][i]["config"]["device"] = device
    ranks.start(w, device)
    t0 = time.perf_counter()
    try:
        where = f"rank {w.rank} of {w.size}: " if w.distributed else ""
        log(f"{where}{len(indices)} of {n} member(s) on {device}, {torch.get_num_threads()} "
            f"thread(s) -> {out}")
        run_ = runner.Runner(out, plan, indices, progress, quiet=w.rank != 0)
        try:
            run_.train()
        except Interrupted as e:
            why = " (stopped by torchrun: another rank failed, or the job was stopped)" \
                if w.distributed else ""
            raise Interrupted(f"{where}{e}{why}; continue with --resume {out}") from None
        except OSError as e:
            raise os_fault(e, f"the members' good checkpoints are kept: continue with "
                              f"--resume {out}") from None
        rows = run_.rows()
        gathered = ranks.gather(rows, w)
    finally:
        ranks.stop(w)
    seconds = time.perf_counter() - t0
    if w.rank != 0:
        return {}, 0
    rows = [r for part in gathered for r in part]
    member_steps = sum(r["steps"] for r in rows)
    header = (f"Sweep {out}: {n} members, {w.size} rank(s), {seconds:.0f} s "
              f"({sum(r['status'] == 'done' for r in rows)} done)")
    result = table.write(out, rows, header, {"ranks": w.size, "seconds": seconds,
                                             "member_steps": member_steps})
    return result, (0 if table.all_done(rows) else DivergenceError.exit_code)


def sweep(grid: dict | None = None, seeds=(0,), members: list | None = None, out=None,
          resume: bool = False, parzen: bool = False, eval: bool = True, progress: bool = True,
          **flags) -> dict:
    """Trains a sweep and returns its table (sweep.json's content). grid: flag name -> list of
    values (their product are the settings); members: an explicit list of settings (flag name
    -> value) instead; seeds: every setting's seeds; flags: one value for every member
    (device="cpu", epochs=1, ...)."""
    lists = {**{k: [v] for k, v in flags.items()}, **(grid or {}), "seed": list(seeds)}
    result, _ = run(lists, members, out, resume, parzen, eval, progress=progress)
    return result


class _Module(types.ModuleType):
    """fastgan.sweep is both a package and the API function: calling it runs sweep()."""

    def __call__(self, *args, **kwargs):
        return sweep(*args, **kwargs)


sys.modules[__name__].__class__ = _Module

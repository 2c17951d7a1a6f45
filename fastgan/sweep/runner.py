"""A sweep's folder and its training: the plan, each member's run folder, the groups of one
shape trained batched (fastgan.run.loop.Group, the loop a single run uses), resume, and the rows.

DIR/plan.json      the members: index, folder, flags, setting, and the whole config of each
DIR/members/NNN/   member NNN's run folder (config.json, metrics.jsonl, samples/, curves.png,
                   checkpoints/, summary.json): fastgan.sample, fastgan.eval and
                   fastgan.load_generator take it as a run
A sweep resumes (--resume DIR, or by itself when torchrun restarts its workers) each member
from its own newest checkpoint that verifies and loads: members that stand at one step train
as one group again, members at different steps (ranks that drifted apart, a kill between two
members' writes) as groups of their own. No checkpoint is deleted to make them meet. A member
whose checkpoints are all unusable is named and left alone; the others go on. A member that
stopped (diverged, saturated, or reached --target-fid) stays stopped.
"""
import json
from pathlib import Path

import torch

from fastgan.io import checkpoint
from fastgan.io.cli import UserError
from fastgan.config import from_dict, group_key, to_dict, total_steps
from fastgan.io.files import atomic_write
from fastgan.run.log import Progress
from fastgan.streams import generator
from fastgan.run.folder import check_run, prepare, read_records, read_summary
from fastgan.run.loop import STOPPED, Group, Member

PLAN = "plan.json"


def member_dir(out: Path, index: int, count: int) -> Path:
    return out / "members" / f"{index:0{max(3, len(str(count - 1)))}d}"


def write_plan(out: Path, plan: dict) -> None:
    out.mkdir(parents=True, exist_ok=True)
    atomic_write(out / PLAN, lambda f: f.write((json.dumps(plan, indent=1) + "\n").encode()))


def read_plan(out: Path) -> dict:
    path = Path(out) / PLAN
    if not path.is_file():
        raise UserError(f"--resume {out}: not a sweep folder (no {PLAN})")
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError:
        raise UserError(f"{path}: not readable JSON (damaged?)") from None


def started(out: Path) -> bool:
    """Whether any member of the sweep in out has written a checkpoint."""
    return any(checkpoint.list_checkpoints(d) for d in (Path(out) / "members").glob("*"))


def finished(run_dir: Path, cfg) -> bool:
    """A member that needs no more training: it stopped early, or it is done at its length."""
    s = read_summary(run_dir)
    if s is None or s.get("status") is None:
        return False
    return s["status"] in STOPPED or bool(s.get("target")) or s["steps"] >= total_steps(cfg)


def resume_state(run_dir: Path, log) -> dict | None:
    """A member's state to resume from: its own newest checkpoint that verifies and loads
    (checkpoint.latest_good, which names each bad newer one), or None when it has none yet.
    Raises UserError when it has checkpoints and none is usable. Nothing is deleted: a newer
    damaged file is only replaced when training writes that step again."""
    if not checkpoint.list_checkpoints(run_dir):
        return None
    path, state = checkpoint.latest_good(run_dir, log)
    state["path"] = path
    return state


class Runner:
    """Trains this rank's members of a plan, group by group; `rows()` describes them."""

    def __init__(self, out: Path, plan: dict, indices: list[int], progress: bool = True,
                 quiet: bool = False):
        self.out, self.plan, self.indices, self.quiet = Path(out), plan, indices, quiet
        self.entries = [plan["members"][i] for i in indices]
        self.configs = {e["index"]: from_dict(e["config"]) for e in self.entries}
        self.progress_on = progress
        self.skipped = {}                     # index -> why it was left alone

    def dir(self, index: int) -> Path:
        return self.out / self.plan["members"][index]["dir"]

    def groups(self) -> list[list[int]]:
        """This rank's unfinished members in groups of one shape, in member order."""
        groups = {}
        for i in self.indices:
            cfg = self.configs[i]
            if not finished(self.dir(i), cfg):
                groups.setdefault(group_key(cfg), []).append(i)
        return list(groups.values())

    def plan_groups(self, log) -> list[tuple[list[int], int, list]]:
        """(members, step, states) of each group to train: members of one shape that resume
        from the same step (or start afresh) train together; members at different steps (ranks
        that drifted apart before a kill) train as groups of their own, each from its own newest
        good checkpoint. A member whose checkpoints are all unusable is named and left alone."""
        plan = []
        for members in self.groups():
            by_step = {}
            for i in members:
                try:
                    state = resume_state(self.dir(i), log)
                except UserError as e:
                    self.skipped[i] = f"no usable checkpoint ({e}); its folder is left as it is"
                    log(f"warning: member {self.plan['members'][i]['dir']}: {self.skipped[i]}")
                    continue
                key = -1 if state is None else state["step"]
                by_step.setdefault(key, []).append((i, state))
            for key, entries in sorted(by_step.items()):
                plan.append(([i for i, _ in entries], max(key, 0), [s for _, s in entries]))
        return plan

    def train(self) -> None:
        say = (lambda m: None) if self.quiet else (lambda m: print(m, flush=True))
        plan = self.plan_groups(say)
        total = sum(len(m) * total_steps(self.configs[m[0]]) for m, _, _ in plan)
        done = sum(len(m) * step for m, step, _ in plan)
        if not plan:
            return
        progress = Progress(total, self.progress_on, done,
                            unit="member-step" if len(self.plan["members"]) > 1 else "step",
                            quiet=self.quiet)
        try:
            for members, step, states in plan:
                cfg = self.configs[members[0]]
                progress.write(f"group of {len(members)} member(s) "
                               f"{', '.join(self.plan['members'][i]['dir'][-3:] for i in members)}"
                               f": {total_steps(cfg)} steps from step {step}")
                group = []
                for i, state in zip(members, states):
                    check_run(self.configs[i], state)
                    prepare(self.configs[i], self.dir(i), state)
                    group.append(Member(self.configs[i], self.dir(i), state))
                Group(group, progress, final_eval=self.plan.get("eval", True)).train()
        finally:
            progress.close()
        if self.plan.get("parzen"):
            self.parzen()

    def parzen(self) -> None:
        """The paper's Parzen estimate of each finished member without one, from 10k samples
        of its averaged G (the eval stream's z), written into its summary."""
        from fastgan.eval.evaluator import Evaluator
        from fastgan.eval.trained import load_generator, sample_members
        ev = None
        for i in self.indices:
            s = read_summary(self.dir(i))
            if s is None or s["status"] in STOPPED or "parzen" in s:
                continue
            ev = ev or Evaluator(self.configs[i].data_dir, "cpu", log=lambda m: None)
            G = load_generator(self.dir(i), torch.device("cpu"))
            x = sample_members(G, 10000, [generator(self.configs[i].seed, "eval")])[0]
            s["parzen"] = ev.parzen(x)
            atomic_write(self.dir(i) / "summary.json",
                         lambda f: f.write((json.dumps(s, indent=2) + "\n").encode()))

    def rows(self) -> list[dict]:
        """One row per member of this rank: flags, status, steps, rate, scores, FID curve, and
        the final grid (a uint8 array, for the contact sheet)."""
        from PIL import Image
        import numpy as np
        out = []
        for entry in self.entries:
            d = self.dir(entry["index"])
            s = read_summary(d) or {"status": "not run", "steps": 0}
            if entry["index"] in self.skipped:
                s = {"status": "not run", "steps": 0, "reason": self.skipped[entry["index"]]}
            records = read_records(d)
            final = d / "samples" / "final.png"
            last_grid = final if final.is_file() else max(
                (d / "samples").glob("epoch_*.png"), default=None)
            row = {"index": entry["index"], "dir": entry["dir"], "flags": entry["flags"],
                   "setting": entry["setting"], "seed": entry["flags"].get("seed", 0),
                   "status": s["status"], "reason": s.get("reason"), "steps": s["steps"],
                   "steps_per_s": s.get("steps_per_s"), "train_s": s.get("train_s"),
                   "peak_mb_per_member": s.get("peak_mb_per_member"),
                   "target_step": (s.get("target") or {}).get("step"),
                   "curve": [(r["step"], r["fid"]) for r in records if "fid" in r]}
            scores = s.get("scores")
            if scores:
                hist = np.asarray(scores["histogram"], dtype=float)
                share = 100 * hist / hist.sum()
                row.update(fid=scores["fid"], is_=scores["is"], modes=scores["modes"],
                           share_min=float(share.min()), share_max=float(share.max()))
                if "rejection" in scores:             # the samples D keeps (--reject)
                    row["is_kept"] = scores["rejection"]["is"]
            if "parzen" in s:
                row.update(parzen=s["parzen"]["mean"], parzen_se=s["parzen"]["stderr"])
            if last_grid is not None:
                with Image.open(last_grid) as im:
                    row["grid"] = np.asarray(im.convert("L"))
            out.append(row)
        return out


def new_plan(out: Path, member_flags: list[dict], configs, varied: list[str], setting,
             eval_: bool, parzen: bool) -> dict:
    n = len(configs)
    return {"version": 1, "eval": eval_, "parzen": parzen, "varied": varied,
            "members": [{"index": i, "dir": str(member_dir(Path(""), i, n)),
                         "flags": {k: (list(v) if isinstance(v, tuple) else v)
                                   for k, v in member_flags[i].items()},
                         "setting": setting(member_flags[i]), "config": to_dict(cfg)}
                        for i, cfg in enumerate(configs)]}

"""A sweep's folder and its training: the plan, each member's run folder, the groups of one
shape trained batched (fastgan.run.loop.Group, the loop a single run uses), resume, and the rows.

DIR/plan.json      the members: index, folder, flags, setting, and the whole config of each
DIR/members/NNN/   member NNN's run folder (config.json, metrics.jsonl, samples/, curves.png,
                   checkpoints/, summary.json): fastgan.sample, fastgan.eval and
                   fastgan.load_generator take it as a run
A sweep resumes (--resume DIR, or by itself when torchrun restarts its workers) from each
group's newest step at which every unfinished member has a checkpoint that verifies: members of
a group step together, and a kill can land between two members' writes. A member that stopped
(diverged, saturated, or reached --target-fid) stays stopped.
"""
import json
from pathlib import Path

import torch

from fastgan.io import checkpoint
from fastgan.io.cli import UserError
from fastgan.config import from_dict, group_key, to_dict
from fastgan.io.files import atomic_write
from fastgan.run.log import Progress
from fastgan.streams import generator
from fastgan.run.loop import STOPPED, Group, Member, prepare, total_steps

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


def _summary(run_dir: Path) -> dict | None:
    path = run_dir / "summary.json"
    try:
        return json.loads(path.read_text()) if path.is_file() else None
    except json.JSONDecodeError:
        return None


def finished(run_dir: Path, cfg) -> bool:
    """A member that needs no more training: it stopped early, or it is done at its length."""
    s = _summary(run_dir)
    if s is None or s.get("status") is None:
        return False
    return s["status"] in STOPPED or bool(s.get("target")) or s["steps"] >= total_steps(cfg)


def _good_steps(run_dir: Path) -> dict:
    """{step: path} of a member's checkpoints that verify."""
    out = {}
    for path in checkpoint.list_checkpoints(run_dir):
        try:
            checkpoint.verify(path)
        except checkpoint.CheckpointError as e:
            print(f"warning: {e}; not used", flush=True)
            continue
        out[int(path.stem.split("_")[1])] = path
    return out


def resume_point(dirs: list[Path]) -> tuple[int | None, list[dict | None]]:
    """The newest step at which every one of a group's members has a good checkpoint, and each
    member's state there (None: start the group afresh). Checkpoints past that step were
    written by some members only before a kill: they are deleted (the steps are redone, to the
    same bits on the CPU)."""
    good = [_good_steps(d) for d in dirs]
    common = set.intersection(*(set(g) for g in good)) if good else set()
    if not common:
        for g in good:                        # no step all members reached: start afresh
            for path in g.values():
                _remove(path)
        return None, [None] * len(dirs)
    step = max(common)
    states = []
    for g in good:
        for s, path in g.items():
            if s > step:
                _remove(path)
        state = checkpoint.load(g[step])
        state["path"] = g[step]
        states.append(state)
    return step, states


def _remove(path: Path) -> None:
    path.unlink(missing_ok=True)
    path.with_name(path.name + ".sha256").unlink(missing_ok=True)


class Runner:
    """Trains this rank's members of a plan, group by group; `rows()` describes them."""

    def __init__(self, out: Path, plan: dict, indices: list[int], progress: bool = True,
                 quiet: bool = False):
        self.out, self.plan, self.indices, self.quiet = Path(out), plan, indices, quiet
        self.entries = [plan["members"][i] for i in indices]
        self.configs = {e["index"]: from_dict(e["config"]) for e in self.entries}
        self.progress_on = progress

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

    def train(self) -> None:
        plan = []
        for members in self.groups():
            step, states = resume_point([self.dir(i) for i in members])
            plan.append((members, step or 0, states))
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
            s = _summary(self.dir(i))
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
            s = _summary(d) or {"status": "not run", "steps": 0}
            metrics = d / "metrics.jsonl"
            records = ([json.loads(line) for line in metrics.read_text().splitlines()
                        if line.strip()] if metrics.is_file() else [])
            final = d / "samples" / "final.png"
            last_grid = final if final.is_file() else max(
                (d / "samples").glob("epoch_*.png"), default=None)
            row = {"index": entry["index"], "dir": entry["dir"], "flags": entry["flags"],
                   "setting": entry["setting"], "seed": entry["flags"].get("seed", 0),
                   "status": s["status"], "reason": s.get("reason"), "steps": s["steps"],
                   "steps_per_s": s.get("steps_per_s"), "train_s": s.get("train_s"),
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

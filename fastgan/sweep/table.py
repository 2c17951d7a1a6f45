"""A sweep's table: one row per member and one per setting (mean +- sd over its seeds), as
DIR/sweep.json and DIR/sweep.md, and DIR/sweep.png (FID against steps per setting, a contact
sheet of the members' final grids)."""
import json
from pathlib import Path

import numpy as np

from fastgan.io.files import atomic_write

SCORES = (("fid", "classifier FID"), ("is_", "IS"), ("is_kept", "IS kept by D"),
          ("modes", "modes"), ("parzen", "Parzen LL"), ("target_step", "steps to target FID"))


def _stats(values) -> dict | None:
    values = [v for v in values if v is not None]
    if not values:
        return None
    return {"mean": float(np.mean(values)), "sd": float(np.std(values, ddof=1)) if len(values) > 1
            else 0.0, "n": len(values)}


def settings(rows: list[dict]) -> list[dict]:
    """One entry per setting, in member order: its seeds, how many finished, and mean +- sd of
    each score over the seeds that have it; the class-share span over all its seeds."""
    out = {}
    for r in rows:
        out.setdefault(r["setting"], []).append(r)
    table = []
    for name, members in out.items():
        entry = {"setting": name, "seeds": [m["seed"] for m in members],
                 "done": sum(m["status"] == "done" for m in members),
                 "members": [m["index"] for m in members]}
        for key, _ in SCORES:
            entry[key] = _stats(m.get(key) for m in members)
        mins = [m["share_min"] for m in members if "share_min" in m]
        if mins:
            entry["share_span"] = [min(mins), max(m["share_max"] for m in members
                                                  if "share_max" in m)]
        rates = [m["steps_per_s"] for m in members if m.get("steps_per_s")]
        entry["steps_per_s"] = _stats(rates)
        table.append(entry)
    return table


def _fmt(stat, digits=2) -> str:
    if stat is None:
        return "—"
    if stat["n"] == 1:
        return f"{stat['mean']:.{digits}f}"
    return f"{stat['mean']:.{digits}f} ± {stat['sd']:.{digits}f}"


def markdown(rows: list[dict], table: list[dict], header: str) -> str:
    lines = [header, "", "| setting | seeds | done | classifier FID | IS | IS kept by D | modes | "
             "class shares | Parzen LL | steps to target | steps/s |",
             "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for t in table:
        span = f"{t['share_span'][0]:.1f}–{t['share_span'][1]:.1f}%" if "share_span" in t else "—"
        target = t["target_step"]
        reached = "—" if target is None else (_fmt(target, 0) + ("" if target["n"] == len(t["seeds"])
                                                                 else f" ({target['n']}/{len(t['seeds'])} seeds)"))
        lines.append(f"| {t['setting']} | {','.join(map(str, t['seeds']))} | {t['done']}/"
                     f"{len(t['seeds'])} | {_fmt(t['fid'])} | {_fmt(t['is_'])} | "
                     f"{_fmt(t['is_kept'])} | {_fmt(t['modes'], 1)} | {span} | {_fmt(t['parzen'], 1)} | {reached} | "
                     f"{_fmt(t['steps_per_s'], 1)} |")
    lines += ["", "| member | setting | seed | status | steps | steps/s | FID | IS | IS kept by D | "
              "modes | class shares | Parzen LL |",
              "|---|---|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        num = lambda key, d=2: f"{r[key]:.{d}f}" if r.get(key) is not None else "—"
        span = f"{r['share_min']:.1f}–{r['share_max']:.1f}%" if "share_min" in r else "—"
        status = r["status"] + (f" at step {r['steps']}" if r.get("reason") else "")
        lines.append(f"| {r['dir']} | {r['setting']} | {r['seed']} | {status} | {r['steps']} | "
                     f"{num('steps_per_s', 1)} | {num('fid')} | {num('is_')} | "
                     f"{num('is_kept')} | {r.get('modes', '—')} | {span} | {num('parzen', 1)} |")
    stopped = [r for r in rows if r.get("reason")]
    if stopped:
        lines += ["", "Stopped early (each keeps its last good checkpoint):", ""]
        lines += [f"- {r['dir']}: {r['reason']}" for r in stopped]
    return "\n".join(lines) + "\n"


def write(out: Path, rows: list[dict], header: str, info: dict) -> dict:
    """sweep.json, sweep.md and sweep.png; returns the table (what sweep.json holds)."""
    from fastgan.io.plots import sweep_figure
    rows = sorted(rows, key=lambda r: r["index"])
    table = settings(rows)
    clean = [{k: v for k, v in r.items() if k != "grid"} for r in rows]
    result = {**info, "members": clean, "settings": table}
    text = json.dumps(result, indent=1, default=float) + "\n"
    atomic_write(out / "sweep.json", lambda f: f.write(text.encode()))
    md = markdown(clean, table, header)
    atomic_write(out / "sweep.md", lambda f: f.write(md.encode()))
    curves = {}
    for t in table:
        members = [r for r in rows if r["setting"] == t["setting"] and r["curve"]]
        steps = sorted(set.intersection(*(set(s for s, _ in r["curve"]) for r in members))) \
            if members else []
        if steps:
            per = [[dict(r["curve"])[s] for s in steps] for r in members]
            curves[t["setting"]] = (steps, np.asarray(per))          # [seeds, steps]
    grids = [(f"{r['dir'][-3:]} {r['setting'] if r['setting'] != 'defaults' else ''} s{r['seed']}"
              .replace("  ", " "), r["grid"]) for r in rows if r.get("grid") is not None]
    sweep_figure(out / "sweep.png", curves, grids)
    return result


def all_done(rows: list[dict]) -> bool:
    return all(r["status"] == "done" for r in rows)

"""Sample-quality runs: train a recipe on several seeds, score it, and report (CPU or GPU).

    python bench/quality.py run NAME [--seeds 0 1 2] [--device cpu] [--extend BASE] -- [flags]
    python bench/quality.py rate NAME [NAME ...] [--repeat 3]
    python bench/quality.py shares NAME [NAME ...] [--n 50000]
    python bench/quality.py reject NAME [NAME ...] [--quantiles 0 0.3 0.5] [--n N] [--parzen]
    python bench/quality.py sweep NAME DIR
    python bench/quality.py study DIR NAME [NAME ...]
    python bench/quality.py report [--plot NAME ...] [--grid NAME] [--readme docs/quality.md]

`run` trains `python -m fastgan.train --eval-every 1 FLAGS` once per seed into
runs/quality/NAME/seed<S> (classifier FID, IS and modes of 10k samples after every epoch, for the
averaged G and, when an average is kept, for the trained G too), then scores the last
checkpoint with the paper's Parzen window (`fastgan.eval --parzen`, and `--raw-g`), and writes
bench/results/quality/NAME.json. Train alone: a second job on a 2-core machine halves both.
`--extend BASE` continues recipe BASE's runs instead of starting over: each seed's folder is
copied and trained on with `fastgan.train --resume` and FLAGS (e.g. `--epochs 40`); a CPU resume
is bit-exact (tests/test_checkpoint.py), so the result is the longer run's, for the extra steps
only. Its training time is the base's plus the extension's.

`sweep` records a finished fastgan.sweep of recipe NAME's flags (one member per seed, run with
--eval-every 1 --parzen) beside the recipe's single runs, under "sweep" in NAME.json: each
member's record as `run` makes it for a single run, and the sweep's wall clock; `report` adds
it as the row "NAME (sweep)".

`study` records each setting of a finished sweep (a grid of settings x seeds, `fastgan.sweep
--eval-every 1`) as a recipe of its own, NAME.json per setting in the sweep's order, with the
flags that reproduce it: how the step-count ablations are run and kept.

`reject` scores each seed's last checkpoint through discriminator rejection sampling
(fastgan.eval.rejection: its averaged G's samples kept by its D) at each quantile, 10k samples from
--sample-seed (quantile 0 is the same G unfiltered, so each row is paired with the plain one),
under "rejection" in NAME.json: FID, IS, modes, confident share, class histogram, the share D
kept, with --parzen the Parzen estimate; a run with --n 50000 (the class shares of 50k) goes
under "rejection_n50000". A later run adds its quantiles to those already recorded.

`report` turns every JSON there into bench/results/quality.md: per recipe the mean +- standard
deviation over seeds of FID, IS and Parzen (with the mean standard error of the estimate), the
modes and the smallest and largest class share, the generator steps to the first epoch with
FID <= 30, 15, 10 and 5, the images D had seen by FID <= 15 (steps x batch x k), and the CPU
minutes of the whole run. Rows whose name ends in "+raw" are the same runs scored through the
trained G. --plot draws FID against generator steps into docs/fid_vs_steps.png; --grid copies
that recipe's seed-0 final grid to
docs/samples.png; --readme docs/quality.md fills its quality block.
"""
import argparse
import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results" / "quality"
TARGETS = (30.0, 15.0, 10.0, 5.0)
N_TABLE = 10000      # the samples per seed of `reject`'s table (as the in-run evaluation's)


def _sh(args: list[str]) -> None:
    print("$", " ".join(args), flush=True)
    subprocess.run([sys.executable, "-m", *args], cwd=ROOT, check=True)


def _first_at_or_below(curve, key: str, target: float, steps_s: float):
    for rec in curve:
        if rec.get(key) is not None and rec[key] <= target:
            return {"step": rec["step"], "minutes": rec["step"] / steps_s / 60}
    return None


def collect(run_dir: Path, parzen: dict, raw_parzen: dict | None) -> dict:
    """One seed's record from its run folder and Parzen results."""
    sys.path.insert(0, str(ROOT))
    from fastgan.run.folder import read_records, read_summary
    summary = read_summary(run_dir)
    base = run_dir / "base_summary.json"             # written by --extend: the first leg
    if base.exists():
        first = json.loads(base.read_text())
        summary["train_s"] += first["train_s"]
        summary["steps_per_s"] = summary["steps"] / summary["train_s"]
    evals = [r for r in read_records(run_dir) if "fid" in r]
    curve = [{"step": r["step"], "fid": r["fid"], "raw_fid": r.get("raw_fid")} for r in evals]
    last = evals[-1]
    rate = summary["steps_per_s"]
    out = {"steps": summary["steps"], "train_minutes": summary["train_s"] / 60,
           "steps_per_s": rate, "curve": curve,
           "final": {k: last[k] for k in ("fid", "is", "modes", "confident", "histogram")},
           "parzen": parzen, "samples": summary["samples"],
           "to": {str(t): _first_at_or_below(curve, "fid", t, rate) for t in TARGETS}}
    if "raw_fid" in last:
        out["raw"] = {"final": {"fid": last["raw_fid"], "is": last["raw_is"],
                                "modes": last["raw_modes"]},
                      "parzen": raw_parzen,
                      "to": {str(t): _first_at_or_below(curve, "raw_fid", t, rate)
                             for t in TARGETS}}
    return out


def parzen_of(run_dir: Path, device: str, raw: bool) -> dict:
    out = run_dir / ("eval_raw" if raw else "eval")
    _sh(["fastgan.eval", "--checkpoint", str(run_dir), "--parzen", "--device", device,
         "--out", str(out), *(["--raw-g"] if raw else [])])
    return json.loads((out / "eval.json").read_text())["rows"]["samples"]["parzen"]


def _extend(run_dir: Path, base: str, seed: int) -> list[str]:
    """Copies recipe base's finished run of seed into run_dir; returns the flags resuming it."""
    src = ROOT / "runs" / "quality" / base / f"seed{seed}"
    if not (src / "summary.json").exists():
        _fail(f"--extend {base}: no finished run of seed {seed} in {src}")
    shutil.copytree(src, run_dir, ignore=shutil.ignore_patterns("eval", "eval_raw", "rate"))
    (run_dir / "summary.json").rename(run_dir / "base_summary.json")
    return ["--resume", str(run_dir)]


def _save_seed(path: Path, args, seed: int, rec: dict) -> dict:
    """Merges one seed's record into the recipe's JSON, re-read first: runs of other seeds
    (other processes) may have written theirs meanwhile."""
    result = json.loads(path.read_text()) if path.exists() else {}
    result.update(name=args.name, flags=args.flags, device=args.device)
    if args.extend:
        result["extends"] = args.extend
    result.setdefault("seeds", {})[str(seed)] = rec
    path.write_text(json.dumps(result, indent=1) + "\n")
    return result


def cmd_run(args) -> None:
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"{args.name}.json"
    for seed in args.seeds:
        run_dir = ROOT / "runs" / "quality" / args.name / f"seed{seed}"
        if not (run_dir / "summary.json").exists() and not (run_dir / "failed.txt").exists():
            if run_dir.exists():
                shutil.rmtree(run_dir)
            if args.extend:
                train = _extend(run_dir, args.extend, seed)
            else:
                train = ["--out", str(run_dir), "--seed", str(seed), "--eval-every", "1",
                         "--log-every", "1000"]
            try:
                _sh(["fastgan.train", "--device", args.device, "--no-progress",
                     "--no-tensorboard", *train, *args.flags])
            except subprocess.CalledProcessError as e:
                if e.returncode != 3:                  # 3: diverged or saturated, a result
                    raise
                (run_dir / "failed.txt").write_text("exit 3\n")
        if (run_dir / "failed.txt").exists():
            last = [json.loads(l) for l in (run_dir / "metrics.jsonl").read_text().splitlines()]
            _save_seed(path, args, seed, {"failed": f"stopped at step {last[-1]['step']}: "
                                                    "discriminator saturated or diverged"})
            continue
        ema = json.loads((run_dir / "config.json").read_text()).get("ema_decay", 0) > 0
        rec = collect(run_dir, parzen_of(run_dir, args.device, False),
                      parzen_of(run_dir, args.device, True) if ema and args.raw_parzen else None)
        _save_seed(path, args, seed, rec)
        print(f"{args.name} seed {seed}: FID {rec['final']['fid']:.2f}  "
              f"Parzen {rec['parzen']['mean']:.1f}  steps {rec['steps']}", flush=True)


def cmd_sweep(args) -> None:
    folder = Path(args.dir)
    try:
        table = json.loads((folder / "sweep.json").read_text())
    except (OSError, json.JSONDecodeError):
        _fail(f"{folder}: no readable sweep.json (a finished fastgan.sweep's folder)")
    path = RESULTS / f"{args.name}.json"
    result = _recipe(args.name)
    seeds = {}
    for m in table["members"]:
        if m["status"] != "done":
            seeds[str(m["seed"])] = {"failed": f"{m['status']} at step {m['steps']}"}
            continue
        run_dir = folder / m["dir"]
        sys.path.insert(0, str(ROOT))
        from fastgan.run.folder import read_summary
        summary = read_summary(run_dir)
        seeds[str(m["seed"])] = collect(run_dir, summary.get("parzen"), None)
    result["sweep"] = {"dir": str(folder), "seconds": table["seconds"],
                       "ranks": table["ranks"], "seeds": seeds}
    path.write_text(json.dumps(result, indent=1) + "\n")
    print(f"{args.name}: recorded the sweep in {folder} ({len(seeds)} members, "
          f"{table['seconds'] / 60:.1f} min)")


def cmd_study(args) -> None:
    """Each setting of a finished sweep (a grid of settings x seeds) as a recipe of its own:
    bench/results/quality/NAME.json with the setting's flags and one record per seed, as `run`
    writes them for single runs (the sweep's members train exactly as those would)."""
    folder = Path(args.dir)
    try:
        table = json.loads((folder / "sweep.json").read_text())
    except (OSError, json.JSONDecodeError):
        _fail(f"{folder}: no readable sweep.json (a finished fastgan.sweep's folder)")
    settings = table["settings"]
    if len(args.names) != len(settings):
        _fail(f"{folder} holds {len(settings)} settings ({'; '.join(s['setting'] for s in settings)}):"
              f" give as many names, got {len(args.names)}")
    RESULTS.mkdir(parents=True, exist_ok=True)
    sys.path.insert(0, str(ROOT))
    from fastgan.config import to_flags
    from fastgan.run.folder import read_summary
    for name, setting in zip(args.names, settings):
        members = [table["members"][j] for j in setting["members"]]
        seeds = {}
        for m in members:
            if m["status"] != "done":
                seeds[str(m["seed"])] = {"failed": f"{m['status']} at step {m['steps']}: "
                                                   f"{m.get('reason') or ''}".strip()}
                continue
            run_dir = folder / m["dir"]
            summary = read_summary(run_dir)
            seeds[str(m["seed"])] = collect(run_dir, summary.get("parzen"), None)
        device = json.loads((folder / members[0]["dir"] / "config.json").read_text())["device"]
        result = {"name": name, "flags": to_flags(members[0]["flags"]), "device": device,
                  "from_sweep": str(folder.resolve().relative_to(ROOT)
                                    if folder.resolve().is_relative_to(ROOT) else folder),
                  "setting": setting["setting"], "seeds": seeds}
        (RESULTS / f"{name}.json").write_text(json.dumps(result, indent=1) + "\n")
        print(f"{name}: {setting['setting']} ({len(seeds)} seeds)")


def _ms(values, fmt="{:.1f}") -> str:
    v = np.asarray([x for x in values if x is not None], dtype=float)
    if len(v) == 0:
        return "—"
    if len(v) == 1:
        return fmt.format(v[0])
    return f"{fmt.format(v.mean())} ± {fmt.format(v.std(ddof=1))}"


def rows_of(result: dict):
    """(name, per-seed views) for the recipe, when kept its trained-G view, and its sweep."""
    seeds = [s for s in result["seeds"].values() if "failed" not in s]
    if not seeds:
        return
    yield result["name"], [dict(s, view="ema" if "raw" in s else "g") for s in seeds]
    if seeds and all("raw" in s for s in seeds):
        yield result["name"] + " +raw", [dict(s, **s["raw"], view="raw") for s in seeds]
    swept = [s for s in result.get("sweep", {}).get("seeds", {}).values() if "failed" not in s]
    if swept:
        yield result["name"] + " (sweep)", [dict(s, view="ema") for s in swept]


def minutes(result: dict, seeds, sweep: bool = False) -> str:
    """CPU minutes of training: steps over the rate measured alone (`rate`), when measured;
    else the runs' own clocks, marked * (they may have shared the machine). A sweep's: the
    minutes of the whole sweep (every seed at once), by the member-steps/s measured alone
    (bench/sweep_speed.py) when recorded, else its own clock (*)."""
    if sweep:
        sw = result["sweep"]
        rate = sw.get("alone_member_steps_per_s")
        if rate:
            return f"{sum(s['steps'] for s in seeds) / rate / 60:.1f} for all"
        return f"{sw['seconds'] / 60:.1f} for all*"
    rate = result.get("alone_steps_per_s")
    if rate:
        return _ms([s["steps"] / rate / 60 for s in seeds])
    return _ms([s["train_minutes"] for s in seeds]) + "*"


def _fail(message: str):
    """Bad input: one line on stderr, exit code 2 (as the fastgan commands do)."""
    print(f"error: {message}", file=sys.stderr)
    sys.exit(2)


def _recipe(name: str) -> dict:
    """A recorded recipe's JSON, or a one-line error naming the recorded ones."""
    path = RESULTS / f"{name}.json"
    if not path.exists():
        _fail(f"no recorded recipe {name!r} (have: "
              f"{', '.join(sorted(p.stem for p in RESULTS.glob('*.json')))})")
    return json.loads(path.read_text())


def _rate_once(name: str, result: dict) -> float:
    out = ROOT / "runs" / "quality" / name / "rate"
    if out.exists():
        shutil.rmtree(out)
    # the recipe's flags first: the 700 steps after them override its --steps / --epochs
    _sh(["fastgan.train", *result["flags"], "--device", result["device"], "--out", str(out),
         "--steps", "700", "--log-every", "100", "--ckpt-every", "100000", "--no-progress",
         "--no-tensorboard", "--no-eval"])
    recs = [json.loads(l) for l in (out / "metrics.jsonl").read_text().splitlines()]
    return float(np.median([r["steps_per_s"] for r in recs
                            if "steps_per_s" in r and r["step"] > 100]))


def _sweep_rate_once(name: str, result: dict) -> float:
    """Member-steps/s of the recipe's recorded sweep (its seeds, one process), 700 steps."""
    out = ROOT / "runs" / "quality" / name / "sweep-rate"
    if out.exists():
        shutil.rmtree(out)
    seeds = ",".join(sorted(result["sweep"]["seeds"], key=int))
    _sh(["fastgan.sweep", *result["flags"], "--device", result["device"], "--out", str(out),
         "--seeds", seeds, "--steps", "700", "--log-every", "100", "--ckpt-every", "100000",
         "--no-progress", "--no-tensorboard", "--no-eval"])
    recs = [json.loads(l) for l in (out / "members" / "000" / "metrics.jsonl").read_text()
            .splitlines()]
    steps_s = np.median([r["steps_per_s"] for r in recs if "steps_per_s" in r and r["step"] > 100])
    return float(steps_s * len(result["sweep"]["seeds"]))


def cmd_rate(args) -> None:
    """Steps/s of each recipe alone on this machine: 600 steps after a 100-step warm-up, the
    median over --repeat rounds (and of its recorded sweep, member-steps/s). The recipes take
    turns within each round, so a slow spell of the machine (one run's rate varies by up to a
    third here) falls on all of them alike."""
    results = {n: _recipe(n) for n in args.names}
    runs = {n: [] for n in args.names}
    swept = {n: [] for n in args.names if "sweep" in results[n]}
    for _ in range(args.repeat):
        for name, result in results.items():
            runs[name].append(_rate_once(name, result))
            if name in swept:
                swept[name].append(_sweep_rate_once(name, result))
    for name, result in results.items():
        result["alone_steps_per_s"] = float(np.median(runs[name]))
        result["alone_runs"] = runs[name]
        if name in swept:
            result["sweep"]["alone_member_steps_per_s"] = float(np.median(swept[name]))
            result["sweep"]["alone_runs"] = swept[name]
            print(f"{name} (sweep): {result['sweep']['alone_member_steps_per_s']:.1f} "
                  f"member-steps/s alone")
        (RESULTS / f"{name}.json").write_text(json.dumps(result, indent=1) + "\n")
        print(f"{name}: {result['alone_steps_per_s']:.1f} steps/s alone "
              f"(runs: {', '.join(f'{r:.1f}' for r in runs[name])})")


def _run_dir(name: str, seed: str, rec: dict) -> Path:
    """The run folder of one recorded seed: where its samples were drawn (a sweep member's
    folder, runs/recipe/.../members/NNN, or a single run's), else runs/quality/NAME/seedS; a
    one-line error when neither holds a finished run (run folders are not committed)."""
    tried = [ROOT / Path(rec["samples"]).parents[1]] if rec.get("samples") else []
    single = ROOT / "runs" / "quality" / name / f"seed{seed}"
    tried += [single] if single not in tried else []
    for run_dir in tried:
        if (run_dir / "summary.json").exists():
            return run_dir
    shown = [str(t.relative_to(ROOT)) if t.is_relative_to(ROOT) else str(t) for t in tried]
    _fail(f"{name} seed {seed}: no finished run in {' or '.join(shown)} (train it first)")


def _each_seed(names, score) -> None:
    """score(name, seed, rec, run_dir) on every recorded seed of each recipe that did not fail
    (it adds to rec), then the recipe's JSON written back."""
    for name in names:
        result = _recipe(name)
        for seed, rec in sorted(result["seeds"].items()):
            if "failed" not in rec:
                score(name, seed, rec, _run_dir(name, seed, rec))
        (RESULTS / f"{name}.json").write_text(json.dumps(result, indent=1) + "\n")


def cmd_shares(args) -> None:
    """Class shares of each seed's averaged G from --n samples (50k: a share's standard error
    is 0.15 points, against 0.3 for the 10k of the in-run evaluation), into the recipe's JSON."""
    sys.path.insert(0, str(ROOT))
    import fastgan

    def score(name, seed, rec, run_dir):
        G = fastgan.load_generator(run_dir)
        scores = fastgan.score(fastgan.generate(G, args.n, seed=args.sample_seed))
        rec["shares"] = {"n": args.n, "sample_seed": args.sample_seed, "fid": scores["fid"],
                         "histogram": scores["histogram"]}
        h = np.asarray(scores["histogram"]) / args.n
        print(f"{name} seed {seed}: {args.n} samples, classes {100 * h.min():.2f}–"
              f"{100 * h.max():.2f}%", flush=True)
    _each_seed(args.names, score)


def cmd_reject(args) -> None:
    """Each seed's last checkpoint scored through D's rejection at each quantile (the plain
    averaged G at 0), 10k samples from --sample-seed, into the recipe's JSON."""
    sys.path.insert(0, str(ROOT))
    from fastgan.eval.evaluator import Evaluator
    from fastgan.eval.rejection import reject
    from fastgan.eval.trained import load_discriminator, load_generator
    ev = Evaluator(None, "cpu")

    key = "rejection" if args.n == N_TABLE else f"rejection_n{args.n}"

    def score(name, seed, rec, run_dir):
        G, D = load_generator(run_dir, "cpu"), load_discriminator(run_dir, "cpu")
        old = rec.get(key, {})
        rows = old["by_quantile"] if old.get("sample_seed") == args.sample_seed else {}
        for q in args.quantiles:
            x, kept = reject(G, D, args.n, args.sample_seed, q)
            sc = ev.scores(x)
            rows[str(q)] = {**{k: sc[k] for k in ("fid", "is", "modes", "confident",
                                                  "histogram")}, "kept": kept}
            if args.parzen:
                rows[str(q)]["parzen"] = ev.parzen(x)
            h = np.asarray(sc["histogram"]) / args.n
            print(f"{name} seed {seed} quantile {q}: kept {100 * kept:.1f}%, FID "
                  f"{sc['fid']:.2f}, IS {sc['is']:.3f}, confident {sc['confident']:.3f}, "
                  f"classes {100 * h.min():.2f}-{100 * h.max():.2f}%", flush=True)
        rec[key] = {"n": args.n, "sample_seed": args.sample_seed,
                    "by_quantile": dict(sorted(rows.items(), key=lambda kv: float(kv[0])))}
    _each_seed(args.names, score)


def _span(histograms: list) -> str:
    """Smallest and largest class share over the seeds' class histograms, or — if none."""
    if not histograms:
        return "—"
    shares = [np.asarray(h) / sum(h) for h in histograms]
    return f"{100 * min(x.min() for x in shares):.1f}–{100 * max(x.max() for x in shares):.1f}%"


def images_per_step(flags: list[str]) -> int:
    """Real images D sees per generator step (batch size x k) under a recipe's flags (what
    they leave unset: fastgan.train's defaults)."""
    sys.path.insert(0, str(ROOT))
    from fastgan.config import TrainConfig
    value = {"--batch-size": TrainConfig.batch_size, "--k": TrainConfig.k}
    for i, f in enumerate(flags[:-1]):
        if f in value:
            value[f] = int(flags[i + 1])
    return value["--batch-size"] * value["--k"]


def table(results: list[dict]) -> str:
    """One row per recipe view: scores (mean ± sd over seeds), then the generator steps to the
    first epoch at or below each FID target (from the curves), the images D had seen by the
    FID <= 15 epoch (steps x batch x k: a larger batch's win shows as such), and CPU minutes."""
    head = ("| recipe | seeds | FID | IS | modes | class share min–max | Parzen LL (± s.e.) | "
            "G steps | " + " | ".join(f"steps to FID ≤ {t:g}" for t in TARGETS) +
            " | images to FID ≤ 15 (M) | CPU min | class share, 50k |")
    lines = [head, "|---|---:|---:|---:|---:|---:|---:|---:|" + "---:|" * len(TARGETS)
             + "---:|---:|---:|"]
    for result in results:
        per_step = images_per_step(result.get("flags", []))
        failed = [s["failed"] for s in result["seeds"].values() if "failed" in s]
        if failed:
            lines.append(f"| {result['name']} | {len(failed)} | {'; '.join(failed)} |"
                         + " |" * (10 + len(TARGETS)))
        for name, seeds in rows_of(result):
            key = "raw_fid" if seeds[0]["view"] == "raw" else "fid"

            def first(s, t):
                hit = _first_at_or_below(s["curve"], key, t, 1.0)
                return hit["step"] if hit else None

            def to(t, scale=1):
                got = [first(s, t) for s in seeds]
                if all(g is None for g in got):
                    return "not reached"
                if any(g is None for g in got):
                    return f"{sum(g is not None for g in got)}/{len(got)} seeds"
                return _ms([g * scale for g in got], "{:.0f}" if scale == 1 else "{:.2f}")
            share = _span([s["final"]["histogram"] for s in seeds if "histogram" in s["final"]])
            share50 = _span([s["shares"]["histogram"] for s in seeds
                             if s.get("shares") and s["view"] != "raw"])
            pz = [s["parzen"] for s in seeds if s.get("parzen")]
            parzen = (f"{_ms([p['mean'] for p in pz])} (± {np.mean([p['stderr'] for p in pz]):.1f})"
                      if pz else "—")
            lines.append(
                f"| {name} | {len(seeds)} | {_ms([s['final']['fid'] for s in seeds], '{:.2f}')} | "
                f"{_ms([s['final']['is'] for s in seeds], '{:.2f}')} | "
                f"{_ms([s['final']['modes'] for s in seeds], '{:.0f}')} | {share} | {parzen} | "
                f"{_ms([s['steps'] for s in seeds], '{:.0f}')} | "
                + " | ".join(to(t) for t in TARGETS) + f" | {to(15.0, per_step / 1e6)} | "
                f"{minutes(result, seeds, name.endswith(' (sweep)'))} | {share50} |")
    return "\n".join(lines)


def plot(results: dict, names: list[str], path: Path) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(7, 4.2), dpi=110)
    for i, name in enumerate(names):
        for j, (seed, rec) in enumerate(sorted(results[name]["seeds"].items())):
            steps = [c["step"] for c in rec["curve"]]
            ax.plot(steps, [c["fid"] for c in rec["curve"]], color=f"C{i}", alpha=0.9,
                    label=f"{name}" if j == 0 else None, lw=1.4)
    for t in TARGETS:
        ax.axhline(t, color="grey", ls=":", lw=1)
        ax.text(ax.get_xlim()[1], t, f" FID {t:g}", va="center", fontsize=8, color="grey")
    ax.set_yscale("log")
    ax.set_xlabel("generator steps")
    ax.set_ylabel("classifier FID (10k samples, log scale)")
    ax.set_title("FID against generator steps (one line per seed)")
    ax.grid(True, which="both", alpha=0.25)
    ax.legend()
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)


def rejection_table(results: list[dict]) -> str:
    """One row per recipe and quantile of `reject`: the share D kept, FID, IS and confident
    share (mean +- sd over seeds), each seed's IS, and the IS change against quantile 0 (the same
    G unfiltered, the same sample seed), Parzen where `--parzen` ran, the smallest and largest
    class share of 50k where `--n 50000` ran; "" when no recipe was scored so."""
    lines = []
    for r in results:
        seeds = [rec["rejection"] for rec in r["seeds"].values() if "rejection" in rec]
        if not seeds:
            continue
        for q in seeds[0]["by_quantile"]:
            rows = [s["by_quantile"][q] for s in seeds]
            ms = lambda k, fmt="{:.2f}": _ms([row[k] for row in rows], fmt)
            base = [s["by_quantile"].get("0.0") for s in seeds]
            d = None if q == "0.0" or None in base else \
                np.array([row["is"] - b["is"] for row, b in zip(rows, base)])
            change = "" if d is None else f"{d.mean():+.3f} ± {d.std(ddof=1):.3f}"
            pz = [row["parzen"]["mean"] for row in rows if "parzen" in row]
            big = [rec["rejection_n50000"]["by_quantile"].get(q) for rec in r["seeds"].values()
                   if "rejection_n50000" in rec]
            if q == "0.0" and not any(big):          # G alone: what `shares` drew (the same z)
                big = [rec.get("shares") for rec in r["seeds"].values() if "rejection" in rec]
            lines.append(f"| {r['name']} | {q} | {100 * np.mean([row['kept'] for row in rows]):.1f}% "
                         f"| {ms('fid')} | {ms('is', '{:.3f}')} | "
                         f"{' / '.join(format(row['is'], '.3f') for row in rows)} | "
                         f"{change} | {ms('confident', '{:.3f}')} | "
                         f"{_ms(pz) if len(pz) == len(rows) else '—'} | "
                         f"{_span([b['histogram'] for b in big]) if big and None not in big else '—'} |")
    if not lines:
        return ""
    head = ("| recipe | `--reject` quantile | kept | FID | IS | IS per seed | IS change | "
            "confident | Parzen LL | class share min–max, 50k |\n"
            "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    return ("Samples kept by D (`quality.py reject`: each seed's last checkpoint, 10k samples "
            "of its averaged G kept by its D, from one sample seed; quantile 0 is the same G "
            "unfiltered):\n\n" + head + "\n" + "\n".join(lines))


def cmd_report(args) -> None:
    results = {p.stem: json.loads(p.read_text()) for p in sorted(RESULTS.glob("*.json"))}
    order = (args.order or []) + [n for n in sorted(results) if n not in (args.order or [])]
    md = table([results[n] for n in order if n in results])
    kept = rejection_table([results[n] for n in order if n in results])
    md += "\n\n" + kept if kept else ""
    (RESULTS.parent / "quality.md").write_text(md + "\n")
    print(md)
    if args.plot:
        plot(results, args.plot, ROOT / "docs" / "fid_vs_steps.png")
    if args.grid:
        seeds = results[args.grid]["seeds"]
        shutil.copyfile(seeds[sorted(seeds)[0]]["samples"], ROOT / "docs" / "samples.png")
    if args.readme:
        sys.path.insert(0, str(ROOT / "bench"))
        from common import splice
        splice(Path(args.readme), "quality", md + "\n")


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = p.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("run", help="train and score one recipe on several seeds")
    r.add_argument("name")
    r.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    r.add_argument("--device", default="cpu")
    r.add_argument("--extend", metavar="BASE",
                   help="continue recipe BASE's finished runs (fastgan.train --resume) with FLAGS")
    r.add_argument("--no-raw-parzen", dest="raw_parzen", action="store_false",
                   help="skip the Parzen estimate of the trained G (the average's is kept)")
    t = sub.add_parser("rate", help="measure recipes' steps/s alone (for CPU minutes)")
    t.add_argument("names", nargs="+", metavar="name")
    t.add_argument("--repeat", type=int, default=3, help="rounds to take the median of")
    c = sub.add_parser("shares", help="class shares of each seed's averaged G from 50k samples")
    c.add_argument("names", nargs="+", metavar="name")
    c.add_argument("--n", type=int, default=50000)
    c.add_argument("--sample-seed", type=int, default=1234)
    j = sub.add_parser("reject", help="score the last checkpoints through D's rejection sampling")
    j.add_argument("names", nargs="+", metavar="name")
    j.add_argument("--quantiles", type=float, nargs="+", default=[0.0, 0.3, 0.5])
    j.add_argument("--n", type=int, default=N_TABLE, help="samples per seed and quantile "
                   "(10000: the table's; 50000: its class shares)")
    j.add_argument("--parzen", action="store_true", help="add the Parzen estimate (slow)")
    j.add_argument("--sample-seed", type=int, default=1234)
    w = sub.add_parser("sweep", help="record a finished sweep of a recipe beside its runs")
    w.add_argument("name")
    w.add_argument("dir", help="the sweep's folder (fastgan.sweep --out)")
    y = sub.add_parser("study", help="record each setting of a finished sweep as a recipe")
    y.add_argument("dir", help="the sweep's folder (fastgan.sweep --out)")
    y.add_argument("names", nargs="+", metavar="name", help="one recipe name per setting, in "
                   "the sweep's order")
    q = sub.add_parser("report", help="tables (and plots) from the committed results")
    q.add_argument("--order", nargs="+", help="recipes first in this order (the rest by name)")
    q.add_argument("--plot", nargs="+", help="recipes drawn in docs/fid_vs_steps.png")
    q.add_argument("--grid", help="recipe whose seed-0 grid becomes docs/samples.png")
    q.add_argument("--readme", help="page to fill (docs/quality.md) between <!-- quality:start/end -->")
    argv = list(sys.argv[1:] if argv is None else argv)
    flags = argv[argv.index("--") + 1:] if "--" in argv else []
    args = p.parse_args(argv[:argv.index("--")] if "--" in argv else argv)
    if args.cmd == "run":
        args.flags = flags                  # everything after --: fastgan.train flags
        cmd_run(args)
    elif args.cmd == "rate":
        cmd_rate(args)
    elif args.cmd == "shares":
        cmd_shares(args)
    elif args.cmd == "reject":
        cmd_reject(args)
    elif args.cmd == "sweep":
        cmd_sweep(args)
    elif args.cmd == "study":
        cmd_study(args)
    else:
        cmd_report(args)


if __name__ == "__main__":
    main()

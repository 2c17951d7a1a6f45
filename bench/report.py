"""Kernel benchmark results -> a markdown table with speed-ups, rates and the issue's targets.

    python -m pytest bench/ --benchmark-only --benchmark-json=bench/results/kernels.json
    python bench/report.py bench/results/kernels.json [--readme docs/benchmarks.md]

Writes kernels.md beside the JSON: one row per (op, mode, batch or size, layer) with the median
time of fastgan, PyTorch eager and torch.compile, fastgan's TFLOP/s or GB/s, and its speed-up
over each; then the targets, each marked met or missed by how much:
  linear_act fwd+bwd, batch <= 1024: >= 1.5x eager;
  linear_act fwd+bwd, batch 16384:   >= 70% of the dense-GEMM rate measured in the same run;
  sigmoid_bce fwd+bwd, N = 16M:      >= 85% of the device-to-device copy bandwidth.
With --readme, the tables replace the block between <!-- kernels:start --> and
<!-- kernels:end --> in that file. Rates are computed from the median.
"""
import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import splice, verdict  # noqa: E402

IMPLS = ("fastgan", "eager", "compile")


def rate(bench: dict) -> tuple[float, str] | None:
    """(rate, unit) from the amount the benchmark recorded and its median time."""
    extra, median = bench["extra_info"], bench["stats"]["median"]
    if "tflop" in extra:
        return extra["tflop"] / median / 1e12, "TFLOP/s"
    if "gb" in extra:
        return extra["gb"] / median / 1e9, "GB/s"
    return None


def rows(data: dict) -> tuple[list[dict], dict]:
    """Rows of the comparison table, and the yardsticks: {("gemm", batch) | ("copy", n): rate}."""
    table, refs = {}, {}
    for b in data["benchmarks"]:
        p, name = b["params"], b["name"]
        if name.startswith("test_dense_gemm_reference"):
            refs[("gemm", p.get("prec", "fp32"), p["batch"])] = rate(b)[0]
        elif name.startswith("test_copy_reference"):
            refs[("copy", p["n"])] = rate(b)[0]
        elif name.startswith("test_linear_act"):
            k, n, act = p["layer"]
            key = ("linear_act", p["mode"], p["batch"], f"{k}x{n} {act} {p.get('prec', 'fp32')}")
            table.setdefault(key, {})[p["impl"]] = b
        elif name.startswith("test_sigmoid_bce"):
            table.setdefault(("sigmoid_bce", "fwd+bwd", p["n"], ""), {})[p["impl"]] = b
    out = []
    for (op, mode, size, layer), impls in sorted(table.items(), key=lambda kv: kv[0]):
        ms = {i: impls[i]["stats"]["median"] * 1e3 if i in impls else None for i in IMPLS}
        r = rate(impls["fastgan"]) if "fastgan" in impls else None
        out.append({"op": op, "mode": mode, "size": size, "layer": layer, "ms": ms,
                    "rate": r[0] if r else None, "unit": r[1] if r else ""})
    return out, refs


def _speedup(row: dict, base: str) -> float | None:
    ours, other = row["ms"]["fastgan"], row["ms"][base]
    return other / ours if ours and other else None


def _prec(row: dict) -> str:
    return row["layer"].split()[-1]          # the layer label ends in the dot precision


def targets(table: list[dict], refs: dict) -> list[tuple[str, float, float]]:
    """(what, achieved, required) for every target the results allow checking."""
    checks = []
    for r in table:
        if r["op"] == "linear_act" and r["mode"] == "fwd+bwd":
            if r["size"] <= 1024 and _speedup(r, "eager") is not None:
                s = _speedup(r, "eager")
                checks.append((f"linear_act fwd+bwd B{r['size']} {r['layer']}: x eager", s, 1.5))
            elif r["size"] == 16384 and r["rate"] and ("gemm", _prec(r), 16384) in refs:
                f = r["rate"] / refs[("gemm", _prec(r), 16384)]
                checks.append((f"linear_act fwd+bwd B16384 {r['layer']}: of dense GEMM", f, 0.7))
        if r["op"] == "sigmoid_bce" and r["size"] == 1 << 24 and r["rate"] \
                and ("copy", 1 << 24) in refs:
            f = r["rate"] / refs[("copy", 1 << 24)]
            checks.append(("sigmoid_bce fwd+bwd N16M: of copy bandwidth", f, 0.85))
    return checks


def _num(v, fmt):
    return "—" if v is None else format(v, fmt)


def _x(v):
    return "—" if v is None else f"{v:.2f}x"


def markdown(data: dict) -> str:
    info = data["machine_info"]   # layers are labelled "KxN act precision"; baselines run
    # at the precision the kernel is given (tf32 rows: torch's allow_tf32 on)
    table, refs = rows(data)
    lines = [f"{info.get('gpu', '?')}, torch {info.get('torch', '?')}, triton "
             f"{info.get('triton', '?')}, commit {info.get('commit', '?')}, "
             f"{data.get('datetime', '?')[:10]}. Median times.", "",
             "| op | mode | batch / N | layer | fastgan ms | eager ms | compile ms | fastgan rate "
             "| vs eager | vs compile |", "|---|---|---:|---|---:|---:|---:|---:|---:|---:|"]
    for r in table:
        rate_s = f"{r['rate']:.3g} {r['unit']}" if r["rate"] is not None else "—"
        lines.append(f"| {r['op']} | {r['mode']} | {r['size']} | {r['layer']} | "
                     f"{_num(r['ms']['fastgan'], '.4f')} | {_num(r['ms']['eager'], '.4f')} | "
                     f"{_num(r['ms']['compile'], '.4f')} | {rate_s} | "
                     f"{_x(_speedup(r, 'eager'))} | "
                     f"{_x(_speedup(r, 'compile'))} |")
    if refs:
        lines += ["", "Yardsticks: " + ", ".join(
            f"dense GEMM {k[1]} B{k[2]} {v:.3g} TFLOP/s" if k[0] == "gemm"
            else f"copy N{k[1]} {v:.3g} GB/s" for k, v in sorted(refs.items(), key=str))]
    checks = targets(table, refs)
    if checks:
        lines += ["", "Targets (set for an H100):", "", "| target | achieved | required | |",
                  "|---|---:|---:|---|"]
        for what, got, need in checks:
            lines.append(f"| {what} | {got:.2f} | {need:.2f} | {verdict(got, need)} |")
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("json", type=Path, help="pytest-benchmark --benchmark-json output")
    p.add_argument("--readme", type=Path, help="also put the tables into this file")
    args = p.parse_args(argv)
    try:
        data = json.loads(args.json.read_text())
        md = markdown(data)
    except (OSError, ValueError, KeyError, TypeError) as e:
        print(f"error: cannot read benchmark results from {args.json}: {e}", file=sys.stderr)
        return 2
    out = args.json.with_suffix(".md")
    out.write_text(md)
    if args.readme:
        splice(args.readme, "kernels", md)
    print(md, end="")
    return 0


if __name__ == "__main__":
    sys.exit(main())

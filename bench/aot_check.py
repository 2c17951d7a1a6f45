"""Ahead-of-time compile check of the Triton kernels for a GPU that is not here (sm_90, sm_80).

    python bench/aot_check.py [--target 90 80] [--subset] [--jobs N] [--out bench/results]

Compiles every kernel x autotune tile x activation x bias x precision x dtype that the
autotuner can pick on the target (the declared tiles after the shared-memory prune), at the
model's layer shapes as the runtime binder specializes them (unit strides as constants), with
Triton's own ptxas: no GPU needed. For each it records shared memory, registers, spill bytes
(TRITON_DUMP_PTXAS_LOG) and the matrix instructions in the PTX (wgmma, mma, or FMA only), and
writes aot_sm<T>.md and .json. The linear_act kernels also with their draws inside (float32:
D's dropout, "+drop", and G's z, "+randn", which compute Philox where they read X), and the
small kernels as the last rows (the members' Philox draws, minibatch std, the GAN loss's
gradient, the average's weights). `check(rows)` returns the failures: a compile error, shared memory over the
target's block limit, or a spill. `--subset` (what CI runs) takes one tile of
each kernel per activation and precision.
"""
import argparse
import contextlib
import io
import json
import os
import re
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

SMEM_LIMIT = {90: 227 * 1024, 80: 163 * 1024}       # bytes of shared memory per block
ACTS = {"none": 0, "leaky_relu": 1, "tanh": 2}
DTYPES = {"float32": "fp32", "bfloat16": "bf16"}      # torch name -> Triton pointer type


def variants(target: int, subset: bool = False) -> list[dict]:
    """Every (kernel, tile, act, bias, precision, dtype, draw) the autotuner can pick on
    target: each kind's declared tiles (all of them, whatever FASTGAN_AUTOTUNE says) that fit
    its block; the draws inside (float32: D's dropout, G's z) at the layers that take them
    (leaky_relu, with bias); no variant at the tiles it never tries (linear_act.SPILLS)."""
    import torch
    from fastgan.kernels.linear_act import ITEMSIZE, SPILLS, TILES, kind, smem_bytes, variant
    out = []
    for kernel, kinds in TILES.items():
        for dtype in DTYPES:
            for prec in (("ieee", "tf32") if dtype == "float32" else ("ieee",)):
                k = kind(getattr(torch, dtype), prec)
                full = [t for t in kinds[k]
                        if smem_bytes(kernel, t, ITEMSIZE[k]) <= SMEM_LIMIT[target]]
                fit = full[-1:] if subset else full    # subset: the largest tile it can pick
                for tile in fit:
                    for act in ACTS:
                        for bias in ((True, False) if kernel != "dx" else (False,)):
                            if subset and not bias and kernel != "dx":
                                continue
                            v = variant(act, bias or kernel == "dx", False, False)
                            if tile in SPILLS.get((kernel, v), ()):
                                continue                 # never tried for this variant
                            out.append(dict(kernel=kernel, tile=list(tile), act=act, bias=bias,
                                            precision=prec, dtype=dtype, target=target,
                                            draw="none"))
                for draw in ("drop", "randn") if dtype == "float32" else ():
                    if draw == "randn" and kernel == "dx":
                        continue                         # z has no gradient
                    tiles = [t for t in full if t not in SPILLS.get((kernel, draw), ())]
                    tiles = tiles[-1:] if subset else tiles
                    out += [dict(kernel=kernel, tile=list(t), act="leaky_relu",
                                 bias=kernel != "dx", precision=prec, dtype=dtype,
                                 target=target, draw=draw) for t in tiles]
    return out


def _model_layers() -> dict:
    """(K, N) of the default model's largest layer of each activation: G's output layer (tanh),
    its widest hidden layer (leaky_relu), D's output layer (none; K counts the minibatch-std
    feature when that is on)."""
    from fastgan.models import layer_shapes
    out = {}
    for k, n, act in layer_shapes():
        if k * n > out.get(act, (0, 0))[0] * out.get(act, (0, 0))[1]:
            out[act] = (k, n)
    return out


# The model's layer of each activation, at batch M = 64 and E = 8 members (a sweep): what the
# runtime binder sees.
LAYERS = _model_layers()
M, E = 64, 8


def _attrs(fn, sig: dict, values: dict) -> dict:
    """What the runtime binder specializes: 16-byte aligned pointers, and integers divisible by
    16, marked tt.divisibility = 16 (it is what lets loads vectorize)."""
    out = {}
    for i, name in enumerate(fn.arg_names):
        if sig.get(name, "").startswith("*") or (sig.get(name) == "i32" and values[name] % 16 == 0):
            out[(i,)] = [["tt.divisibility", 16]]
    return out


def _values(v: dict) -> dict:
    """Integer arguments of the launch at the variant's layer, for E members: sizes, row and
    member strides (contiguous [E, rows, cols] tensors)."""
    k, n = LAYERS[v["act"]]
    return dict(M=M, N=n, K=k, M_BUCKET=M, E_BUCKET=E, sxm=k, swn=k, sym=n, sdm=n,
                sxe=M * k, swe=n * k, sbe=n, sye=M * n, sde=M * n,
                drop_offset=1)                 # never specialized (do_not_specialize)


def _signature(v: dict):
    ptr = "*" + DTYPES[v["dtype"]]
    m, n, k, warps, stages = v["tile"]
    if v["kernel"] == "fwd":
        names = ["x_ptr", "w_ptr", "b_ptr", "y_ptr"]
        strides = [("sxe", "sxm", "sxk"), ("swe", "swn", "swk"), ("sbe",), ("sye", "sym", "syn")]
    elif v["kernel"] == "dx":
        names = ["dy_ptr", "y_ptr", "w_ptr", "dx_ptr"]
        strides = [("sde", "sdm", "sdn"), ("sye", "sym", "syn"), ("swe", "swn", "swk"),
                   ("sxe", "sxm", "sxk")]
    else:
        names = ["dy_ptr", "y_ptr", "x_ptr", "dw_ptr", "db_ptr"]
        strides = [("sde", "sdm", "sdn"), ("sye", "sym", "syn"), ("sxe", "sxm", "sxk"),
                   ("swe", "swn", "swk"), ("sbe",)]
    sig = {p: ptr for p in names}
    sig.update(M="i32", N="i32", K="i32", M_BUCKET="i32", E_BUCKET="i32")
    const = {"BLOCK_M": m, "BLOCK_N": n, "BLOCK_K": k, "ACT": ACTS[v["act"]],
             "PRECISION": v["precision"]}
    for group in strides:            # row-major tensors: the last (column) stride is 1
        for name in group[:-1] if len(group) > 1 else group:
            sig[name] = "i32"
        if len(group) > 1:
            sig[group[-1]], const[group[-1]] = "constexpr", 1
    sig["slope"] = "fp32"
    for name in ("ACT", "PRECISION", "BLOCK_M", "BLOCK_N", "BLOCK_K"):
        sig[name] = "constexpr"
    if v["kernel"] != "dx":
        sig["HAS_BIAS"] = "constexpr"
        const["HAS_BIAS"] = v["bias"]
    # the draw's arguments (stand-ins of x's type without a draw) and what reads them
    draw = v.get("draw", "none")
    sig.update(ds_ptr="*i64", dd_ptr="*i64", dt_ptr="*i16", dk_ptr="*fp32", drop_offset="i32",
               DROP="constexpr", X_RANDN="constexpr")
    if draw == "none":
        sig.update(ds_ptr=ptr, dd_ptr=ptr, dt_ptr=ptr, dk_ptr=ptr)
    const.update(DROP=draw == "drop", X_RANDN=draw == "randn")
    if v["kernel"] == "dx":
        del sig["X_RANDN"], const["X_RANDN"]
    fn_args = _arg_names(v["kernel"])
    return {a: sig[a] for a in fn_args}, const, warps, stages


def _arg_names(kernel: str) -> list[str]:
    from fastgan.kernels import linear_act as la
    return list({"fwd": la._fwd, "dx": la._dx, "dw": la._dw}[kernel].fn.arg_names)


def compile_one(v: dict) -> dict:
    """Compiles one variant; returns v with shared, registers, spill, mma, seconds or error."""
    import triton
    from triton.backends.compiler import GPUTarget
    from triton.compiler import ASTSource
    from fastgan.kernels import linear_act as la
    fn = {"fwd": la._fwd, "dx": la._dx, "dw": la._dw}[v["kernel"]].fn
    sig, const, warps, stages = _signature(v)
    t0 = time.perf_counter()
    log = io.StringIO()
    try:
        with _capture_output(log), _env(TRITON_DUMP_PTXAS_LOG="1",   # ptxas: registers, spills
                                     TRITON_ALWAYS_COMPILE="1"):  # a cache hit runs no ptxas
            k = triton.compile(ASTSource(fn, sig, const, _attrs(fn, sig, _values(v))),
                               target=GPUTarget("cuda", v["target"], 32),
                               options={"num_warps": warps, "num_stages": stages})
    except Exception as e:                                   # a compile error is a result
        return dict(v, error=f"{type(e).__name__}: {str(e).splitlines()[0][:200]}")
    text = log.getvalue()
    regs = re.search(r"Used (\d+) registers", text)
    spill = [int(a) + int(b) for a, b in re.findall(r"(\d+) bytes spill stores, (\d+) bytes "
                                                     r"spill loads", text)]
    ptx = k.asm["ptx"]
    mma = "wgmma" if "wgmma" in ptx else "mma" if "mma.sync" in ptx else "fma"
    return dict(v, shared=k.metadata.shared, registers=int(regs.group(1)) if regs else None,
                spill=sum(spill), mma=mma, seconds=round(time.perf_counter() - t0, 2))


@contextlib.contextmanager
def _env(**values):
    """Sets environment variables for the block, then restores them."""
    saved = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


@contextlib.contextmanager
def _capture_output(sink: io.StringIO):
    """Collects what the compile prints: Triton 3.9 prints ptxas's log with print() (to
    sys.stdout, which pytest replaces), other versions and ptxas itself write to the file
    descriptors; both levels go into sink."""
    import tempfile
    sys.stdout.flush()
    sys.stderr.flush()
    saved = {fd: os.dup(fd) for fd in (1, 2)}
    text = io.StringIO()
    with tempfile.TemporaryFile(mode="w+b") as tmp:
        for fd in saved:
            os.dup2(tmp.fileno(), fd)
        try:
            with contextlib.redirect_stdout(text), contextlib.redirect_stderr(text):
                yield
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            for fd, old in saved.items():
                os.dup2(old, fd)
                os.close(old)
            tmp.seek(0)
            sink.write(tmp.read().decode(errors="replace"))
            sink.write(text.getvalue())


def small_kernels() -> list[tuple]:
    """(name, block, jit function, signature, constants) of every kernel besides linear_act's:
    the members' Philox draws, minibatch std (with and without its dropout), the GAN loss's
    gradient (a target and a sign per member or not), the minibatch gather and the average's
    weights."""
    from fastgan.kernels import ema_weights as ew
    from fastgan.kernels import gan_bce as gb
    from fastgan.kernels import member_random as mr
    from fastgan.kernels import minibatch_std as ms
    from fastgan.kernels import take_rows as tr
    out = [("member_bits", mr.BLOCK, mr._bits_kernel,
            {"seed_ptr": "*i64", "draw_ptr": "*i64", "out_ptr": "*i32", "draw_offset": "i32",
             "n_words": "i32", "s_out": "i32", "BLOCK": "constexpr"}, {"BLOCK": mr.BLOCK}),
           ("member_normal", mr.BLOCK, mr._normal_kernel,
            {"seed_ptr": "*i64", "scale_ptr": "*fp32", "draw_ptr": "*i64", "out_ptr": "*fp32",
             "draw_offset": "i32", "n": "i32", "s_out": "i32", "HAS_SCALE": "constexpr",
             "BLOCK": "constexpr"}, {"HAS_SCALE": True, "BLOCK": mr.BLOCK})]
    for name, fn in (("mbstd_fwd", ms._mbstd_fwd), ("mbstd_bwd", ms._mbstd_bwd)):
        for drop in (False, True):
            sig = {a: "i32" for a in fn.arg_names}
            sig.update({a: "*fp32" for a in fn.arg_names if a.endswith("_ptr")})
            sig.update(ds_ptr="*i64", dd_ptr="*i64", dt_ptr="*i16", DROP="constexpr",
                       BLOCK_G="constexpr", BLOCK_F="constexpr")
            out.append((name + ("+drop" if drop else ""), 4 * 256, fn, sig,
                        {"DROP": drop, "BLOCK_G": 4, "BLOCK_F": 256}))
    bce = {a: "*fp32" if a.endswith("_ptr") else "i32" for a in gb._gan_bce_kernel.arg_names}
    bce.update(y_value="fp32", c_value="fp32", Y_EACH="constexpr", C_EACH="constexpr",
               BLOCK="constexpr")
    for each in (False, True):
        out.append((f"gan_bce{' per member' if each else ''}", gb.BLOCK, gb._gan_bce_kernel, bce,
                    {"Y_EACH": each, "C_EACH": each, "BLOCK": gb.BLOCK}))
    out.append(("take_rows", 1024, tr._take_rows_kernel,
                {"images_ptr": "*fp32", "perm_ptr": "*i64", "start_ptr": "*i64",
                 "out_ptr": "*fp32", "offset": "i32", "F": "i32", "s_img": "i32",
                 "s_perm": "i32", "s_out_e": "i32", "s_out_r": "i32", "BLOCK": "constexpr"},
                {"BLOCK": 1024}))
    out.append(("ema_weights", 4, ew._ema_weights_kernel,
                {"t_ptr": "*fp64", "decay_ptr": "*fp64", "start_ptr": "*fp64", "w_ptr": "*fp32",
                 "n": "i32", "BLOCK": "constexpr"}, {"BLOCK": 4}))
    return out


def compile_random(target: int) -> list[dict]:
    """The small kernels (small_kernels), compiled for target: one row each with shared memory,
    registers and spills, as compile_one reports."""
    import triton
    from triton.backends.compiler import GPUTarget
    from triton.compiler import ASTSource
    out = []
    for name, block, fn, sig, const in small_kernels():
        log = io.StringIO()
        row = dict(kernel=name, tile=[block], act="-", bias=False, precision="-",
                   dtype="int32" if name == "member_bits" else "float32", target=target,
                   draw="none")
        try:
            with _capture_output(log), _env(TRITON_DUMP_PTXAS_LOG="1", TRITON_ALWAYS_COMPILE="1"):
                k = triton.compile(ASTSource(fn, sig, const), target=GPUTarget("cuda", target, 32),
                                   options={"num_warps": 4, "num_stages": 1})
        except Exception as e:
            out.append(dict(row, error=f"{type(e).__name__}: {str(e).splitlines()[0][:200]}"))
            continue
        text = log.getvalue()
        regs = re.search(r"Used (\d+) registers", text)
        spill = [int(a) + int(b) for a, b in re.findall(r"(\d+) bytes spill stores, (\d+) "
                                                         r"bytes spill loads", text)]
        out.append(dict(row, shared=k.metadata.shared, registers=int(regs.group(1)) if regs
                        else None, spill=sum(spill), mma="-"))
    return out


def as_ones(fn, sig: dict, const: dict) -> tuple[dict, dict]:
    """The launch where every integer argument the runtime binder may specialize is 1: Triton
    passes an int equal to 1 as the constant 1 (a Python int in the kernel, with no .to() and
    no tensor methods), unless the kernel lists it in do_not_specialize. A kernel that compiles
    only with i32 arguments fails on the GPU the first time such an argument is 1 (a Philox
    draw number, M = 1, a member stride of 1)."""
    keep = {fn.arg_names[i] if isinstance(i, int) else i for i in fn.do_not_specialize}
    ones = [a for a, t in sig.items() if t in ("i32", "i64") and a not in keep]
    return ({a: "constexpr" if a in ones else t for a, t in sig.items()},
            dict(const, **{a: 1 for a in ones}))


def as_inductor(sig: dict) -> dict:
    """The signature torch.compile's Inductor gives a user-defined Triton kernel it launches:
    a Python float argument is fp64 there (config._use_fp64_for_unbacked_floats), where
    Triton's own launcher makes it fp32. A kernel that mixes such a scalar into its fp32 math
    without a cast computes in fp64, and a loop-carried fp32 value then fails to compile (the
    first GPU run: linear_act's dW kernel, `db += ...` with the slope in it)."""
    return {a: "fp64" if t == "fp32" else t for a, t in sig.items()}


def kernels_as_launched(target: int) -> list[str]:
    """Compiles every kernel (one tile of each linear_act kernel per activation, the BCE kernel
    and the Philox kernels) as the launchers on a GPU can call it: its integer arguments at 1
    (as_ones), and its float arguments fp64, as torch.compile passes them (as_inductor);
    returns each compile error, one line each."""
    import triton
    from triton.backends.compiler import GPUTarget
    from triton.compiler import ASTSource
    from fastgan.kernels import linear_act as la
    from fastgan.kernels import sigmoid_bce as sb
    cases = []
    for kernel, fn in (("fwd", la._fwd.fn), ("dx", la._dx.fn), ("dw", la._dw.fn)):
        for act in ACTS:
            v = dict(kernel=kernel, tile=list(la.TILES[kernel]["tf32"][0]), act=act, bias=True,
                     precision="tf32", dtype="float32", target=target)
            sig, const, warps, stages = _signature(v)
            cases.append((f"{kernel} {act}", fn, sig, const, warps, stages))
    bce = {name: "i32" for name in sb._bce_kernel.arg_names}
    bce.update({name: "*fp32" for name in bce if name.endswith("_ptr")})
    bce.update(y1_value="fp32", inv_n1="fp32", inv_n2="fp32", TARGET1="constexpr",
               BLOCK="constexpr")
    for target1 in (0, 1, 2):
        cases.append((f"bce TARGET1={target1}", sb._bce_kernel, bce,
                      {"TARGET1": target1, "BLOCK": sb.BLOCK}, 4, 1))
    for kernel, fn in (("fwd", la._fwd.fn), ("dx", la._dx.fn), ("dw", la._dw.fn)):
        for draw in ("drop", "randn") if kernel != "dx" else ("drop",):
            v = dict(kernel=kernel, tile=list(la.TILES[kernel]["tf32"][0]), act="leaky_relu",
                     bias=True, precision="tf32", dtype="float32", target=target, draw=draw)
            sig, const, warps, stages = _signature(v)
            cases.append((f"{kernel}+{draw}", fn, sig, const, warps, stages))
    cases += [(name, fn, sig, const, 4, 1) for name, _, fn, sig, const in small_kernels()]
    bad = []
    for name, fn, sig, const, warps, stages in cases:
        sig, const = as_ones(fn, as_inductor(sig), const)
        try:
            with _capture_output(io.StringIO()):
                triton.compile(ASTSource(fn, sig, const), target=GPUTarget("cuda", target, 32),
                               options={"num_warps": warps, "num_stages": stages})
        except Exception as e:
            msg = " ".join(str(e).split())
            bad.append(f"{name} (integers at 1, floats fp64): {type(e).__name__}: {msg[:300]}")
    return bad


APPROXIMATE = ("math.exp", "math.exp2", "math.log", "math.log2", "math.tanh")


def approximate_math(target: int) -> list[str]:
    """The transcendental functions of the loss and activation kernels, compiled for target:
    each one that Triton lowers to the GPU's approximate instructions (ex2 / lg2 of a scaled
    argument, whose error grows with it) rather than calling libdevice, one line each. The
    first GPU run failed the float64 checks of the BCE loss at |z| >= 30 on tl.exp."""
    import triton
    from triton.backends.compiler import GPUTarget
    from triton.compiler import ASTSource
    from fastgan.kernels import linear_act as la
    from fastgan.kernels import sigmoid_bce as sb
    v = dict(kernel="fwd", tile=list(la.TILES["fwd"]["tf32"][0]), act="tanh", bias=True,
             precision="tf32", dtype="float32", target=target)
    sig, const, warps, stages = _signature(v)
    bce = {name: "*fp32" if name.endswith("_ptr") else "i32" for name in sb._bce_kernel.arg_names}
    bce.update(y1_value="fp32", inv_n1="fp32", inv_n2="fp32", TARGET1="constexpr",
               BLOCK="constexpr")
    gan_bce = [(name, fn, sig_, const_) for name, _, fn, sig_, const_ in small_kernels()
               if name == "gan_bce"]
    bad = []
    for name, fn, sig_, const_ in [("linear_act fwd tanh", la._fwd.fn, sig, const),
                                   ("sigmoid_bce", sb._bce_kernel, bce,
                                    {"TARGET1": 2, "BLOCK": sb.BLOCK})] + gan_bce:
        with _capture_output(io.StringIO()), _env(TRITON_ALWAYS_COMPILE="1"):
            ttir = triton.compile(ASTSource(fn, sig_, const_),
                                  target=GPUTarget("cuda", target, 32)).asm["ttir"]
        ops = sorted(set(re.findall(r"\bmath\.\w+", ttir)) & set(APPROXIMATE))
        bad += [f"{name}: {op} (approximate on the GPU; libdevice is exact to 2 ulp)"
                for op in ops]
    return bad


def run(variants_: list[dict], jobs: int = 1) -> list[dict]:
    if jobs <= 1:
        return [compile_one(v) for v in variants_]
    with ProcessPoolExecutor(jobs) as pool:
        return list(pool.map(compile_one, variants_))


def check(rows: list[dict]) -> list[str]:
    """What must not happen to a config the autotuner can pick: each failure, one line."""
    bad = []
    for r in rows:
        name = f"{_kernel(r)} {tuple(r['tile'])} {r['act']} bias={r['bias']} " \
               f"{r['precision']} {r['dtype']} sm_{r['target']}"
        if "error" in r:
            bad.append(f"{name}: compile error {r['error']}")
        elif r["shared"] > SMEM_LIMIT[r["target"]]:
            bad.append(f"{name}: {r['shared']} B shared > {SMEM_LIMIT[r['target']]}")
        elif r["registers"] is None:
            bad.append(f"{name}: no ptxas log (registers and spills unknown)")
        elif r["spill"]:
            bad.append(f"{name}: spills {r['spill']} B")
    return bad


def _kernel(r: dict) -> str:
    """The row's kernel, with the draw computed inside it (fwd+drop, dw+randn)."""
    draw = r.get("draw", "none")
    return r["kernel"] if draw == "none" else f"{r['kernel']}+{draw}"


def markdown(rows: list[dict], target: int) -> str:
    import triton
    lines = [f"AOT compile of the linear_act kernels for sm_{target} (Triton {triton.__version__}, "
             f"no GPU): shared memory limit {SMEM_LIMIT[target] // 1024} KB per block.", "",
             "| kernel | tile (BM, BN, BK, warps, stages) | act | bias | precision | dtype | "
             "shared KB | registers | spill B | matrix op |",
             "|---|---|---|---|---|---|---:|---:|---:|---|"]
    for r in rows:
        if "error" in r:
            lines.append(f"| {_kernel(r)} | {tuple(r['tile'])} | {r['act']} | {r['bias']} | "
                         f"{r['precision']} | {r['dtype']} | error: {r['error']} | | | |")
            continue
        lines.append(f"| {_kernel(r)} | {tuple(r['tile'])} | {r['act']} | {r['bias']} | "
                     f"{r['precision']} | {r['dtype']} | {r['shared'] / 1024:.0f} | "
                     f"{r['registers']} | {r['spill']} | {r['mma']} |")
    bad = check(rows)
    lines += ["", f"{len(rows)} configs; {len(bad)} failing (compile error, over the shared "
              "memory limit, or spilling)."] + [f"- {b}" for b in bad]
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--target", type=int, nargs="+", default=[90], choices=sorted(SMEM_LIMIT))
    p.add_argument("--subset", action="store_true", help="one tile per kernel (as CI runs)")
    p.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    p.add_argument("--out", default=str(ROOT / "bench" / "results"))
    args = p.parse_args(argv)
    failed = 0
    for target in args.target:
        t0 = time.perf_counter()
        rows = run(variants(target, args.subset), args.jobs) + compile_random(target)
        out = Path(args.out)
        out.mkdir(parents=True, exist_ok=True)
        (out / f"aot_sm{target}.json").write_text(json.dumps(rows, indent=1) + "\n")
        (out / f"aot_sm{target}.md").write_text(markdown(rows, target))
        bad = check(rows)
        failed += len(bad)
        print(f"sm_{target}: {len(rows)} configs compiled in {time.perf_counter() - t0:.0f} s; "
              f"{len(bad)} failing")
        for b in bad:
            print("  " + b)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())

"""The CUDA kernels compile ahead of time for an H100 (sm_90) with no GPU here: a representative
subset (the largest tile the autotuner can pick, every activation, precision and dtype) has no
compile error, fits the block's shared memory and spills no register. The full table is
`python bench/aot_check.py` (bench/results/aot_sm90.md)."""
import sys

import pytest

from conftest import ROOT
from fastgan.kernels._dispatch import INTERPRET

sys.path.insert(0, str(ROOT / "bench"))
import aot_check  # noqa: E402

pytestmark = pytest.mark.skipif(INTERPRET, reason="ahead-of-time compiles the CUDA code path")


def test_declared_tiles_fit_sm90_and_are_pruned_by_target():
    from fastgan.kernels.linear_act import ITEMSIZE, TILES, smem_bytes
    for kernel, kinds in TILES.items():
        for kind, tiles in kinds.items():
            limit = aot_check.SMEM_LIMIT[90]
            over = [t for t in tiles if smem_bytes(kernel, t, ITEMSIZE[kind]) > limit]
            assert not over, f"{kernel} {kind}: {over} over sm_90's shared memory"
    assert len(aot_check.variants(80)) <= len(aot_check.variants(90))


@pytest.mark.parametrize("tune", [True, False], ids=["tune", "first-tile"])
@pytest.mark.parametrize("kernel", ["fwd", "dx", "dw"])
def test_prune_keeps_the_launch_kinds_tiles_that_fit(monkeypatch, kernel, tune):
    """The prune hook's choice (tiles_for): the launch's own kind (bf16 whatever the precision,
    else ieee or tf32), only tiles that fit the block, the first alone when not tuning."""
    import torch
    from fastgan.kernels import linear_act as la
    monkeypatch.setattr(la, "TUNE", tune)
    assert la.kind(torch.bfloat16, "tf32") == la.kind(torch.bfloat16, "ieee") == "bf16"
    assert la.kind(torch.float32, "tf32") == "tf32" and la.kind(torch.float32, "ieee") == "ieee"
    for kind, size in la.ITEMSIZE.items():
        for limit in (aot_check.SMEM_LIMIT[90], aot_check.SMEM_LIMIT[80], 48 * 1024):
            got = la.tiles_for(kernel, kind, limit)
            fits = [t for t in la.TILES[kernel][kind] if la.smem_bytes(kernel, t, size) <= limit]
            want = (fits if tune else fits[:1]) or la.TILES[kernel][kind][:1]
            assert got == want, f"{kernel} {kind} limit {limit}: {got} != {want}"


@pytest.mark.parametrize("kernel", ["fwd", "dx", "dw"])
def test_prune_hook_picks_by_dtype_and_precision(monkeypatch, kernel):
    """The hook the autotuner calls, on the configs it declares, with the GPU's limit mocked."""
    import torch
    from fastgan.kernels import linear_act as la
    monkeypatch.setattr(la, "TUNE", True)
    configs = la._configs(kernel)
    hook = la._prune(kernel)["prune_configs_by"]["early_config_prune"]
    for limit in (aot_check.SMEM_LIMIT[90], aot_check.SMEM_LIMIT[80]):
        monkeypatch.setattr(la, "_smem_limit", lambda: limit)
        for dtype, precision, kind in ((torch.float32, "tf32", "tf32"),
                                       (torch.float32, "ieee", "ieee"),
                                       (torch.bfloat16, "ieee", "bf16")):
            named = {"y_ptr": torch.empty(1, dtype=dtype)}
            got = [la._tile(c) for c in hook(configs, named, PRECISION=precision)]
            want = la.tiles_for(kernel, kind, limit)
            assert sorted(got) == sorted(want), f"{kernel} {kind} limit {limit}: {got} != {want}"


def test_subset_compiles_for_sm90_without_spills():
    rows = aot_check.run(aot_check.variants(90, subset=True), jobs=2)
    assert len(rows) >= 37
    assert not aot_check.check(rows), "\n".join(aot_check.check(rows))
    assert {r["mma"] for r in rows if r["precision"] == "tf32"} == {"wgmma"}


def test_small_kernels_compile_for_sm90_without_spills():
    """The members' Philox draws, minibatch std (with its dropout inside and without), the GAN
    loss's gradient, the minibatch gather and the average's weights."""
    rows = aot_check.compile_random(90)
    assert [r["kernel"] for r in rows] == [
        "member_bits", "member_normal", "mbstd_fwd", "mbstd_fwd+drop", "mbstd_bwd",
        "mbstd_bwd+drop", "gan_bce", "gan_bce per member", "take_rows", "ema_weights"]
    assert not aot_check.check(rows), "\n".join(aot_check.check(rows))


def test_the_draws_inside_linear_act_compile_without_spills():
    """The subset holds the largest tiles with D's dropout and G's z computed inside (Philox per
    element read: the register pressure that could spill), for both float32 precisions."""
    rows = [r for r in aot_check.run(aot_check.variants(90, subset=True), jobs=2)
            if r["draw"] != "none"]
    assert {(r["kernel"], r["draw"]) for r in rows} == {
        ("fwd", "drop"), ("fwd", "randn"), ("dx", "drop"), ("dw", "drop"), ("dw", "randn")}
    assert {r["precision"] for r in rows} == {"ieee", "tf32"}


def test_every_kernel_compiles_as_the_gpu_launchers_call_it():
    """Triton's launcher passes an int argument equal to 1 as the constant 1 (a Python int in the
    kernel), and torch.compile passes a Python float as fp64; the first GPU run failed on both
    (the Philox kernels at draw 1, `draw.to(...)`; linear_act's dW kernel under torch.compile,
    its fp32 bias-gradient loop turned fp64 by the slope). Every kernel, with its integer
    arguments at 1 (those it does not keep out of that specialization) and its floats fp64,
    compiles for sm_90."""
    bad = aot_check.kernels_as_launched(90)
    assert not bad, "\n".join(bad)


def test_kernels_at_ones_catches_a_specialized_draw(monkeypatch):
    """The check itself fails when the Philox kernels let `draw` be specialized."""
    from fastgan.kernels import member_random as mr
    monkeypatch.setattr(mr._bits_kernel, "do_not_specialize", [])
    bad = aot_check.kernels_as_launched(90)
    assert len(bad) == 1 and bad[0].startswith("member_bits (integers at 1, floats fp64)")


def test_loss_and_tanh_call_libdevice_not_the_approximate_instructions(monkeypatch):
    """The BCE kernel's exp / log1p and the tanh of linear_act come from libdevice on the GPU
    (tl.exp lowers to ex2.approx of x log2 e: 1.8e-6 relative at 30, beyond the float64 checks);
    with the interpreter's switch flipped (tl.exp, Kahan's log1p) the check names them."""
    assert not aot_check.approximate_math(90), aot_check.approximate_math(90)
    from fastgan.kernels import sigmoid_bce as sb
    import triton.language as tl
    monkeypatch.setattr(sb, "_LIBDEVICE", tl.constexpr(False))
    bad = aot_check.approximate_math(90)
    assert any(b.startswith("sigmoid_bce: math.exp ") for b in bad), bad
    assert any(b.startswith("sigmoid_bce: math.log ") for b in bad), bad


@pytest.mark.parametrize("traced", [True, False], ids=["traced", "eager"])
def test_launches_wrap_the_kernel_only_while_traced(traced):
    """kernels._dispatch.launcher: torch.library.wrap_triton's wrapper (what lets torch.compile
    trace a launch) while torch's wrap switch is on, as when an op is traced; the kernel itself
    when a triton_op runs eagerly (the switch off), where the wrapper costs tens of us a launch
    and then calls the kernel anyway."""
    from torch._library.triton import set_wrap_triton_enabled
    from fastgan.kernels._dispatch import launcher
    from fastgan.kernels.linear_act import _fwd
    with set_wrap_triton_enabled(traced):
        got = launcher(_fwd)
    assert (got is _fwd) != traced
    assert traced == (type(got).__name__ == "TraceableTritonKernelWrapper")


@pytest.mark.parametrize("tune", [True, False], ids=["tune", "first-tile"])
@pytest.mark.parametrize("kernel, variant, flags", [
    ("fwd", "randn", {"ACT": 1, "X_RANDN": True}), ("fwd", "drop", {"ACT": 1, "DROP": True}),
    ("dw", "randn", {"ACT": 1, "X_RANDN": True}), ("fwd", "tanh-nobias",
                                                   {"ACT": 2, "HAS_BIAS": False})],
    ids=["fwd-randn", "fwd-drop", "dw-randn", "fwd-tanh-nobias"])
def test_a_variant_never_tries_a_tile_that_spills_in_it(monkeypatch, tune, kernel, variant,
                                                       flags):
    """Some tiles spill 8-32 B in one variant of a kernel (the tables, Triton 3.9 and 3.6): the
    prune hook never keeps them for such a launch, also with the first tile only (the
    autotuner declares the tile that launch takes instead), and keeps them for the others."""
    import torch
    from fastgan.kernels import linear_act as la
    monkeypatch.setattr(la, "TUNE", tune)
    configs = la._configs(kernel)
    hook = la._prune(kernel)["prune_configs_by"]["early_config_prune"]
    for limit in (aot_check.SMEM_LIMIT[90], aot_check.SMEM_LIMIT[80]):
        monkeypatch.setattr(la, "_smem_limit", lambda: limit)
        for precision in ("tf32", "ieee"):
            named = {"y_ptr": torch.empty(1)}
            kept = [la._tile(c) for c in hook(configs, named, PRECISION=precision, **flags)]
            assert kept and not set(kept) & la.SPILLS[(kernel, variant)], (precision, kept)
            plain = [la._tile(c) for c in hook(configs, named, PRECISION=precision, ACT=1)]
            assert plain == la.tiles_for(kernel, precision, limit)

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


def test_declared_tiles_fit_and_are_pruned_by_target():
    from fastgan.kernels.linear_act import BWD_TILES, FWD_TILES, smem_bytes
    assert all(smem_bytes("fwd", t) <= aot_check.SMEM_LIMIT[90] for t in FWD_TILES)
    assert all(smem_bytes(k, t) <= aot_check.SMEM_LIMIT[90] for k in ("dx", "dw") for t in BWD_TILES)
    assert len(aot_check.variants(80)) <= len(aot_check.variants(90))


def test_subset_compiles_for_sm90_without_spills():
    rows = aot_check.run(aot_check.variants(90, subset=True), jobs=2)
    assert len(rows) >= 27
    assert not aot_check.check(rows), "\n".join(aot_check.check(rows))
    assert {r["mma"] for r in rows if r["precision"] == "tf32"} == {"wgmma"}

"""The package: its installed names (the ops are fastgan.kernels.*, and no function shadows a
module) and the version floors it declares, as the README states them."""
import importlib
import pkgutil
import types

import fastgan.kernels


def test_every_kernels_module_is_a_module_attribute():
    names = [m.name for m in pkgutil.iter_modules(fastgan.kernels.__path__)]
    assert {"linear_act", "linear_act_ref", "sigmoid_bce", "sigmoid_bce_ref"} <= set(names)
    for name in names:
        module = importlib.import_module(f"fastgan.kernels.{name}")
        assert isinstance(module, types.ModuleType)
        assert getattr(fastgan.kernels, name) is module, f"fastgan.kernels.{name} is shadowed"


def test_op_functions_live_in_their_modules():
    from fastgan.kernels import linear_act, sigmoid_bce
    assert callable(linear_act.linear_act) and callable(sigmoid_bce.discriminator_bce)


def test_version_floors_match_the_readme():
    import re
    from pathlib import Path
    root = Path(__file__).resolve().parents[1]
    deps = (root / "pyproject.toml").read_text()
    readme = (root / "README.md").read_text()
    for name in ("torch", "triton"):
        floor = re.search(rf'"{name}>=([0-9.]+)', deps)
        assert floor, f"pyproject.toml declares no floor for {name}"
        assert f"{name} ≥ {floor.group(1)}" in readme, \
            f"the README does not state {name} >= {floor.group(1)} as pyproject.toml does"

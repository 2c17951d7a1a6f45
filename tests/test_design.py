"""docs/design.md's rules, held: which room of fastgan may import which, no import circle, and
no module over about 300 lines without its docstring saying why."""
import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PKG = ROOT / "fastgan"
ENGINE = "engine"
# room -> the rooms it may import (besides itself and fastgan.kernels)
MAY_IMPORT = {"io": set(), ENGINE: {"io"}, "eval": {ENGINE, "io"},
              "run": {ENGINE, "io", "eval"}, "sweep": {ENGINE, "io", "eval", "run"},
              "toy": {ENGINE, "io"}, "commands": {ENGINE, "io", "eval", "run", "toy"}}
COMMANDS = {"fastgan.train", "fastgan.sample", "fastgan.toy1d", "fastgan.__main__",
            "fastgan.__init__"}


def _module(path: Path) -> str:
    return ".".join(path.relative_to(ROOT).with_suffix("").parts)


def _room(module: str) -> str | None:
    parts = module.split(".")
    if parts[0] != "fastgan" or module.startswith("fastgan.kernels"):
        return None
    if module in COMMANDS or module == "fastgan":
        return "commands"
    if len(parts) > 2 or (len(parts) == 2 and (PKG / parts[1]).is_dir()):
        return parts[1]
    return ENGINE


def _imports(path: Path) -> set[str]:
    """Every fastgan module path imports (module level or inside functions)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            base = node.module
            for alias in node.names:
                sub = f"{base}.{alias.name}"
                if sub.startswith("fastgan.kernels"):
                    continue
                is_module = (PKG.parent / Path(*sub.split("."))).with_suffix(".py").is_file() \
                    or (PKG.parent / Path(*sub.split("."))).is_dir()
                found.add(sub if is_module else base)
        elif isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
    return {m for m in found if m.startswith("fastgan") and not m.startswith("fastgan.kernels")}


MODULES = {_module(p): p for p in PKG.rglob("*.py")}


@pytest.mark.parametrize("module", sorted(MODULES))
def test_rooms_import_only_what_they_may(module):
    room = _room(module)
    allowed = MAY_IMPORT[room] | {room}
    for imported in _imports(MODULES[module]):
        other = _room(imported)
        assert other is None or other in allowed, \
            f"{module} ({room}) imports {imported} ({other}); docs/design.md allows {allowed}"


def test_no_import_circle_at_module_level():
    def top_level(path):
        out = set()
        for node in ast.parse(path.read_text()).body:
            if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                for alias in node.names:
                    sub = f"{node.module}.{alias.name}"
                    out.add(sub if sub in MODULES or f"{sub}.__init__" in MODULES else node.module)
            elif isinstance(node, ast.Import):
                out.update(a.name for a in node.names)
        return {m for m in out if m in MODULES or f"{m}.__init__" in MODULES}
    graph = {m: top_level(p) for m, p in MODULES.items()}
    state = {}

    def visit(m, path):
        if state.get(m) == "done":
            return
        assert state.get(m) != "open", "import circle: " + " -> ".join(path + [m])
        state[m] = "open"
        for n in graph.get(m, ()) | graph.get(f"{m}.__init__", set()):
            if n != m:
                visit(n, path + [m])
        state[m] = "done"
    for m in graph:
        visit(m, [])


@pytest.mark.parametrize("module", sorted(MODULES))
def test_long_modules_say_why(module):
    path = MODULES[module]
    lines = len(path.read_text().splitlines())
    doc = ast.get_docstring(ast.parse(path.read_text())) or ""
    assert lines <= 300 or "long" in doc.lower(), \
        f"{module} has {lines} lines and its docstring does not say why it is long"

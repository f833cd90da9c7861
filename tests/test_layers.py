"""The layers of vlab, checked on the import graph (every import statement, also inside functions).

``cli → workflows → campaign → {catalog, conductance, polymers} → {config, errors, _utils}``

1. A module imports only from lower layers or from its own top-level package.
2. The science packages (conductance, polymers) import no Dask, distributed, zarr or xarray.
3. Nothing imports another package's private (``_name``) module or name.

``ALLOWED`` lists the known exceptions, each with its reason; an exception that no longer
occurs fails too, so the list cannot go stale.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
RANK = {
    "errors": 0,
    "config": 0,
    "_utils": 0,
    "_yaml": 0,
    "": 0,  # vlab/__init__.py
    "catalog": 1,
    "conductance": 1,
    "polymers": 1,
    "campaign": 2,
    "workflows": 3,
    "cli": 4,
}
SCIENCE = {"conductance", "polymers"}
ENGINE_LIBRARIES = {"dask", "distributed", "zarr", "xarray"}
ALLOWED = {
    # (importing module, imported module): reason
    (
        "benchmarks.reference",
        "vlab.conductance._junctions",
    ): "times the reference's own test junctions",
    ("benchmarks.reference", "vlab.conductance._negf"): "clears the NEGF caches for cold timings",
    (
        "benchmarks.surrogate_spd",
        "vlab.conductance._negf",
    ): "clears the NEGF caches for cold timings",
    (
        "benchmarks.surrogate_spd",
        "vlab.conductance._slabnet",
    ): "reads the learned coupling constants",
    ("benchmarks.surrogate_spd", "vlab._utils"): "caches spd labels by the engine's content hash",
    ("benchmarks.polymers", "vlab._utils"): "caches features by the engine's content hash",
    ("vlab.polymers.datasets", "vlab.catalog"): (
        "the source loaders read a source's rows from its shipped catalog store when the "
        "published file is not in the data cache (lazy import; the store is opened by vlab.catalog)"
    ),
}


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def imports(path: Path) -> list[str]:
    """Every module or name imported by a file, as absolute dotted paths."""
    name = _module_name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parent = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(parent + ([node.module] if node.module else []))
            found += [f"{base}.{alias.name}" for alias in node.names]
    return found


def _top(dotted: str) -> str:
    """The top-level package or module of vlab a dotted name belongs to ("" for the root)."""
    parts = dotted.split(".")
    return parts[1] if len(parts) > 1 and parts[0] == "vlab" and parts[1] in RANK else ""


def _private_owner(target: str) -> str | None:
    """The package that owns the first private component of ``target`` (None if public).

    A private module belongs to its package; a private name in a module belongs to that
    module's package (its sibling modules may use it).
    """
    parts = target.split(".")
    for k, part in enumerate(parts):
        if part.startswith("_") and not part.startswith("__"):
            owner = parts[:k]
            if not (ROOT.joinpath(*owner)).is_dir():
                owner = owner[:-1]
            return ".".join(owner)
    return None


def violations(files: list[Path]) -> list[tuple[str, str, str]]:
    """(importer, imported, rule) for every broken rule."""
    found = []
    for path in files:
        importer = _module_name(path)
        in_vlab = importer.split(".")[0] == "vlab"
        for target in imports(path):
            owner = _private_owner(target)
            inside = importer == owner or importer.startswith(f"{owner}.")
            if owner and target.split(".")[0] == "vlab" and not inside:
                found.append((importer, target, "private"))
            if not in_vlab:
                continue
            src, dst = _top(importer), _top(target)
            if src in SCIENCE and target.split(".")[0] in ENGINE_LIBRARIES:
                found.append((importer, target, "science imports the engine"))
            if target.split(".")[0] == "vlab" and src != dst and RANK[dst] >= RANK[src] > 0:
                found.append((importer, target, "layer"))
    return found


def _allowed(importer: str, target: str) -> bool:
    return any(importer == a and (target == b or target.startswith(b + ".")) for a, b in ALLOWED)


def _project_files() -> list[Path]:
    return sorted((ROOT / "vlab").rglob("*.py")) + sorted((ROOT / "benchmarks").glob("*.py"))


def test_every_package_belongs_to_a_layer():
    tops = {p.name for p in (ROOT / "vlab").iterdir() if p.is_dir() and p.name != "__pycache__"}
    tops |= {p.stem for p in (ROOT / "vlab").glob("*.py") if p.stem != "__init__"}
    assert tops <= set(RANK), f"not in a layer: {sorted(tops - set(RANK))}"


def test_the_layers_hold():
    broken = [v for v in violations(_project_files()) if not _allowed(v[0], v[1])]
    assert not broken, "\n".join(f"{a} imports {b} ({rule})" for a, b, rule in broken)


def test_every_allowed_exception_still_occurs():
    seen = {(a, b) for a, b, _ in violations(_project_files())}
    stale = [pair for pair in ALLOWED if not any(_allowed(*s) and s[0] == pair[0] for s in seen)]
    assert not stale, f"these exceptions no longer occur; remove them from ALLOWED: {stale}"


@pytest.mark.parametrize(
    ("module", "source", "rule"),
    [
        ("vlab/polymers/bad.py", "import dask.array\n", "science imports the engine"),
        ("vlab/conductance/bad.py", "from xarray import Dataset\n", "science imports the engine"),
        ("vlab/catalog/bad.py", "from vlab.campaign import run_campaign\n", "layer"),
        ("vlab/polymers/bad.py", "from vlab.conductance import histogram_peak\n", "layer"),
        ("vlab/workflows/bad.py", "from vlab.campaign._kinds import x\n", "private"),
        ("vlab/workflows/bad.py", "from vlab.conductance.structures import _check\n", "private"),
        ("vlab/workflows/bad.py", "from vlab.conductance import _negf\n", "private"),
        ("benchmarks/bad.py", "from vlab.conductance._negf import x\n", "private"),
    ],
)
def test_a_broken_rule_is_caught(tmp_path, monkeypatch, module, source, rule):
    for package in RANK:
        (tmp_path / "vlab" / package).mkdir(parents=True, exist_ok=True)
    path = tmp_path / module
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(source)
    monkeypatch.setattr(f"{__name__}.ROOT", tmp_path)
    assert [v[2] for v in violations([path])] == [rule]


def test_relative_and_same_package_imports_are_fine(tmp_path, monkeypatch):
    path = tmp_path / "vlab/conductance/surrogate.py"
    path.parent.mkdir(parents=True)
    path.write_text("from . import _slabnet\nfrom vlab.errors import InputError\n")
    monkeypatch.setattr(f"{__name__}.ROOT", tmp_path)
    assert imports(path) == ["vlab.conductance._slabnet", "vlab.errors.InputError"]
    assert violations([path]) == []

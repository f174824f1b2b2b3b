"""The packages depend on each other one way: ground, then the pipeline, then the CLI and report on top.

Read from the source with ``ast``, so an import inside a function counts as much as one at the top.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

GROUND = {
    "zettaledger",
    "zettaledger.errors",
    "zettaledger.settings",
    "zettaledger.telemetry",
    "zettaledger.failpoints",
    "zettaledger.kafka_security",
    "zettaledger.kafka_python_last_bytes",
}
ROOF = {
    "zettaledger.cli",
    "zettaledger.report",
    "zettaledger.lineage_cli",
    "zettaledger.dead_letter_replay",
}  # and every module under zettaledger.statistics
# What each pipeline package may import of ours, besides itself and the ground.
PIPELINE = {
    "schemas": set[str](),
    "sinks": set[str](),
    "producers": {"schemas"},
    "streams": {"schemas", "sinks"},
}


def _modules() -> dict[str, Path]:
    found = {f"zettaledger.{p.stem}" if p.stem != "__init__" else "zettaledger": p for p in (ROOT / "zettaledger").glob("*.py")}
    for path in (ROOT / "zettaledger" / "statistics").rglob("*.py"):
        name = ".".join(path.relative_to(ROOT).with_suffix("").parts)
        found[name.removesuffix(".__init__")] = path
    for package in PIPELINE:
        for path in (ROOT / package).rglob("*.py"):
            parts = path.relative_to(ROOT).with_suffix("").parts
            name = ".".join(("zettaledger", *parts))
            found[name.removesuffix(".__init__")] = path
    return found


def _ours_imported_by(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return {n for n in names if n == "zettaledger" or n.startswith("zettaledger.")}


def _layer(module: str) -> str:
    if module in ROOF or module == "zettaledger.statistics" or module.startswith("zettaledger.statistics."):
        return "roof"
    parts = module.split(".")
    if len(parts) > 1 and parts[1] in PIPELINE:
        return parts[1]
    return "ground"


def _allowed(layer: str, target: str) -> bool:
    """May a module of ``layer`` import ``target`` (a module, or a name imported from one)?"""
    if layer == "roof":
        return True
    target_layer = _layer(target)
    if target_layer == "ground":
        return target in GROUND or ".".join(target.split(".")[:2]) in GROUND or target == "zettaledger"
    if layer == "ground":
        return False
    return target_layer == layer or target_layer in PIPELINE[layer]


MODULES = _modules()


def test_every_package_is_found() -> None:
    assert {
        "zettaledger.errors",
        "zettaledger.cli",
        "zettaledger.schemas.codec",
        "zettaledger.streams.accountant",
        "zettaledger.statistics.vintages",
    } <= set(MODULES)


@pytest.mark.parametrize("module", sorted(MODULES))
def test_imports_point_down_the_layers(module: str) -> None:
    layer = _layer(module)
    wrong = sorted(t for t in _ours_imported_by(MODULES[module]) if not _allowed(layer, t))
    assert not wrong, f"{module} ({layer}) imports {wrong}: the ground imports nothing of ours, the roof imports anything"


def test_the_rule_catches_a_ground_module_importing_the_pipeline() -> None:
    assert not _allowed("ground", "zettaledger.sinks.writer")
    assert not _allowed("ground", "zettaledger.cli")
    assert not _allowed("schemas", "zettaledger.streams.dedup")
    assert _allowed("streams", "zettaledger.sinks.ledger")
    assert _allowed("sinks", "zettaledger.failpoints")
    assert _layer("zettaledger.statistics.export") == "roof"
    assert not _allowed("sinks", "zettaledger.statistics.vintages")

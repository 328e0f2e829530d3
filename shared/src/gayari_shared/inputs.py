"""Strict types for values entering from outside: HTTP bodies and query parameters, CSV cells,
intake records. One set, so that the API, the CSV import and the intake refuse the same things.

- JSON values are taken as the type they are written in, never converted: a boolean is not a
  number (pydantic would take `true` as 1), a string of digits is not a number, a number with a
  fraction is not a whole number, and a number is not a text. FastAPI validates bodies with
  `validate_python` on the decoded JSON, so a model-wide `strict=True` would also refuse UUIDs,
  days and decimals written as JSON strings: strictness is per field, with these types.
- Values that are text by nature (CSV cells, query parameters) are numbers only when written
  as plain digits 0-9 (an optional minus sign, nothing else): "2" is 2; "2.0", "+2", "1e2",
  "true" and other scripts' digits are refused.
- Text refuses control characters (C0, DEL, C1) and lone surrogates: a NUL cannot be stored by
  PostgreSQL, and an escape or a bell in a name is never meant. Tab, line feed and carriage
  return are allowed only in free text (`FreeText`), such as a mentor's notes.

Event contracts on the platform's own topics do not use these: events already published must
stay readable, whatever a later rule says about new input.
"""

from __future__ import annotations

import re
from datetime import date, datetime
from typing import Annotated, Final

from pydantic import AfterValidator, BeforeValidator, Strict, StringConstraints

# C0 controls, DEL, C1 controls, and UTF-16 surrogates (a lone one cannot be encoded as UTF-8).
_CONTROL: Final = re.compile(r"[\x00-\x1f\x7f-\x9f\ud800-\udfff]")
_CONTROL_BUT_LINES: Final = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff]")
_WRITTEN_INT: Final = re.compile(r"-?[0-9]{1,18}")
_ISO_DATE: Final = re.compile(r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$")


def _refuse(found: re.Match[str] | None, allowed: str) -> None:
    if found is None:
        return
    char, at = found.group(), found.start()
    what = "a lone surrogate" if "\ud800" <= char <= "\udfff" else "a control character"
    raise ValueError(f"contains {what} (U+{ord(char):04X}) at position {at}; {allowed}")


def single_line(value: str) -> str:
    """The text, if it holds no control character at all (no tab, no line break either)."""
    _refuse(_CONTROL.search(value), "no control characters are allowed here")
    return value


def free_text(value: str) -> str:
    """The text, if its only control characters are tab, line feed and carriage return."""
    _refuse(_CONTROL_BUT_LINES.search(value), "only tab and line breaks are allowed here")
    return value


def _written_int(value: object) -> object:
    if isinstance(value, str) and not _WRITTEN_INT.fullmatch(value):
        raise ValueError("must be a whole number written in the digits 0-9")
    return value


def _iso_date_only(value: object) -> object:
    # Pydantic's lax dates take a number, or a string of digits, as Unix time: "0" would be a
    # training on 1970-01-01. A day is written as the OpenAPI document says, nothing else.
    if isinstance(value, date) and not isinstance(value, datetime):
        return value
    if isinstance(value, str) and _ISO_DATE.match(value):
        return value
    raise ValueError("must be a date written YYYY-MM-DD")


# A JSON integer: not a boolean, not a string, not a number with a fraction (not even .0).
Integer = Annotated[int, Strict()]


# A whole number given as text (a CSV cell, a query parameter): digits 0-9 only. Put it after
# the field's bounds, `Annotated[int, Field(ge=1, le=10), DIGITS_ONLY]`: given before them (or
# as the field's default), pydantic cannot put the bounds on the integer under it and publishes
# them as unknown keywords instead of minimum and maximum (tests/unit/test_strict_inputs.py).
DIGITS_ONLY: Final = BeforeValidator(_written_int)
# A calendar day: YYYY-MM-DD (OpenAPI `format: date`), nothing else.
IsoDate = Annotated[date, BeforeValidator(_iso_date_only)]
# A text of one line, taken as it is: not a number, no control characters.
_SINGLE_LINE: Final = AfterValidator(single_line)
SingleLine = Annotated[str, Strict(), _SINGLE_LINE]
# Free text: tab and line breaks allowed, no other control characters.
FreeText = Annotated[str, Strict(), AfterValidator(free_text)]

# One line an operator types: surrounding blanks are noise and dropped, an empty text is none.
_Trimmed = StringConstraints(strip_whitespace=True, min_length=1)
Text30 = Annotated[str, Strict(), _Trimmed, StringConstraints(max_length=30), _SINGLE_LINE]
Text64 = Annotated[str, Strict(), _Trimmed, StringConstraints(max_length=64), _SINGLE_LINE]
Text120 = Annotated[str, Strict(), _Trimmed, StringConstraints(max_length=120), _SINGLE_LINE]
Text200 = Annotated[str, Strict(), _Trimmed, StringConstraints(max_length=200), _SINGLE_LINE]

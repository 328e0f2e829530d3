"""The error a domain rule raises; entrypoints turn it into problem details or dead letters."""

from __future__ import annotations


class RuleViolationError(ValueError):
    """Well-formed input that breaks a rule; names the offending field."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message

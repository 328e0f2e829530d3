"""Upcasters: an event published under an older version is read as the newest version.

Topics keep every event for ever, so a consumer meets v1 events long after producers moved to
v2. Each step turns one version into the next; `to_latest` applies the steps in turn, so
consumers only ever handle the newest version of each event.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from gayari_shared.events.base import EventBase

Old = TypeVar("Old", bound=EventBase)
New = TypeVar("New", bound=EventBase)


@dataclass(frozen=True, slots=True)
class _Step:
    target: type[EventBase]
    convert: Callable[[Any], EventBase]


_STEPS: dict[type[EventBase], _Step] = {}


def upcaster(
    source: type[Old], target: type[New]
) -> Callable[[Callable[[Old], New]], Callable[[Old], New]]:
    """Register `convert` as the step from `source` to `target` (one version up)."""

    def register(convert: Callable[[Old], New]) -> Callable[[Old], New]:
        if source in _STEPS:
            raise ValueError(f"{source.TYPE} already has an upcaster")
        _STEPS[source] = _Step(target, convert)
        return convert

    return register


def to_latest(data: EventBase) -> EventBase:
    while (step := _STEPS.get(type(data))) is not None:
        data = step.convert(data)
    return data


def superseded(model: type[EventBase]) -> bool:
    """True for a version that producers no longer publish."""
    return model in _STEPS

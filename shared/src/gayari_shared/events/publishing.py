"""Which versions producers publish today: the newest of each event (older ones are upcast)."""

from __future__ import annotations

from collections.abc import Iterable

from gayari_shared.events.base import EventBase
from gayari_shared.events.upcasting import superseded


def current(models: Iterable[type[EventBase]]) -> tuple[type[EventBase], ...]:
    return tuple(model for model in models if not superseded(model))

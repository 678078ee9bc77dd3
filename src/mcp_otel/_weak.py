"""A weak, identity-keyed map: library objects may be unhashable (``mcp.Client`` is a frozen dataclass)."""

from __future__ import annotations

import weakref
from collections.abc import Callable
from typing import Any, Generic, TypeVar

V = TypeVar("V")


class _Entry(weakref.ref):  # type: ignore[type-arg]
    """One entry: the weak reference to the key object, carrying its id and the value.

    One object per entry (no closure, cell or tuple beside it): maps hold an entry per session layer,
    stream and, on mcp 1.x's server, per request, and every tracked object is work for the cycle collector
    of a process with many sessions open (issue 14, goal 5).
    """

    __slots__ = ("key", "value")

    key: int
    value: Any


class IdentityWeakMap(Generic[V]):
    """Maps objects by identity to values without keeping the objects alive.

    Objects that cannot be weakly referenced are not stored (``set`` returns False): we would rather lose
    an attribution than keep a session alive.
    """

    __slots__ = ("_data", "_forget")

    def __init__(self) -> None:
        self._data: dict[int, _Entry] = {}
        data = self._data

        def forget(entry: _Entry) -> None:  # one callback for every entry of this map
            if data.get(entry.key) is entry:
                del data[entry.key]

        self._forget: Callable[[_Entry], None] = forget

    def set(self, obj: Any, value: V) -> bool:
        try:
            entry = _Entry(obj, self._forget)
        except TypeError:
            return False
        entry.key = key = id(obj)
        entry.value = value
        self._data[key] = entry
        return True

    def get(self, obj: Any) -> V | None:
        entry = self._data.get(id(obj))
        if entry is not None and entry() is obj:
            return entry.value  # type: ignore[no-any-return]
        return None

    def pop(self, obj: Any) -> V | None:
        value = self.get(obj)
        if value is not None:
            del self._data[id(obj)]
        return value

    def __len__(self) -> int:
        return len(self._data)

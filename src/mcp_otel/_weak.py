"""A weak, identity-keyed map: library objects may be unhashable (``mcp.Client`` is a frozen dataclass)."""

from __future__ import annotations

import weakref
from typing import Any, Generic, TypeVar

V = TypeVar("V")


class IdentityWeakMap(Generic[V]):
    """Maps objects by identity to values without keeping the objects alive.

    Objects that cannot be weakly referenced are not stored (``set`` returns False): we would rather lose
    an attribution than keep a session alive.
    """

    __slots__ = ("_data",)

    def __init__(self) -> None:
        self._data: dict[int, tuple[weakref.ref[Any], V]] = {}

    def set(self, obj: Any, value: V) -> bool:
        key = id(obj)
        data = self._data

        def forget(ref: weakref.ref[Any], key: int = key) -> None:
            entry = data.get(key)
            if entry is not None and entry[0] is ref:
                del data[key]

        try:
            ref = weakref.ref(obj, forget)
        except TypeError:
            return False
        data[key] = (ref, value)
        return True

    def get(self, obj: Any) -> V | None:
        entry = self._data.get(id(obj))
        if entry is not None and entry[0]() is obj:
            return entry[1]
        return None

    def pop(self, obj: Any) -> V | None:
        value = self.get(obj)
        if value is not None:
            del self._data[id(obj)]
        return value

    def __len__(self) -> int:
        return len(self._data)

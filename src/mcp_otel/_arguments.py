"""Reading and replacing a wrapped callable's arguments the way its signature binds them (DESIGN rule 8).

A wrapper sees ``(args, kwargs)`` as the caller wrote them: ``send_request(req, ResultType)`` and
``send_request(request=req, result_type=ResultType)`` are the same call to the library, so they must be the
same call to us. ``Arguments`` is built once per wrapped callable (at ``apply()``, from
``inspect.signature`` of the installed version) and answers by parameter name in both shapes::

    SEND_REQUEST = Arguments.of_method(BaseSession, "send_request")
    request = SEND_REQUEST.get(args, kwargs, "request")
    args, kwargs = SEND_REQUEST.replace(args, kwargs, "request", proxy)

Lookups are a dict access and a tuple index: no ``Signature.bind`` per call. A call the signature cannot
bind (which the library itself rejects with ``TypeError``) reads as the default; never raises.
"""

from __future__ import annotations

import inspect
import operator
import sys
from collections.abc import Callable, Sequence
from typing import Any

_POSITIONAL = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)


class Arguments:
    """Where each named parameter of one callable sits in a call: a position, a keyword, or both."""

    __slots__ = ("_getters", "_keyword", "_position", "names")

    def __init__(
        self,
        positional: Sequence[str],
        keyword_only: Sequence[str] = (),
        positional_only: frozenset[str] = frozenset(),
    ) -> None:
        # name -> index in args (positional-capable parameters, ``self`` already dropped for methods)
        self._position = {name: index for index, name in enumerate(positional)}
        # names a caller may pass as keywords (all but positional-only)
        self._keyword = (frozenset(positional) | frozenset(keyword_only)) - positional_only
        self.names = (*positional, *keyword_only)
        # names -> (how many positional arguments answer them all, a C getter of those): values()' fast path
        self._getters: dict[tuple[str, ...], tuple[int, Callable[[Sequence[Any]], Any]]] = {}

    @classmethod
    def of(cls, func: Callable[..., Any], fallback: Sequence[str] = (), *, method: bool = False) -> Arguments:
        """The binding of ``func``; ``method`` drops its first parameter (wrapt passes ``self`` as ``instance``).

        ``fallback`` (positional names, after ``self``) is used when the signature cannot be read.
        """
        try:
            parameters = list(inspect.signature(func).parameters.values())
        except (TypeError, ValueError):
            return cls(fallback)
        if method and parameters and parameters[0].kind in _POSITIONAL:
            parameters = parameters[1:]
        positional: list[str] = []
        keyword: list[str] = []
        positional_only: set[str] = set()
        for parameter in parameters:
            if parameter.kind in _POSITIONAL:
                positional.append(parameter.name)
                if parameter.kind is inspect.Parameter.POSITIONAL_ONLY:
                    positional_only.add(parameter.name)
            elif parameter.kind is inspect.Parameter.KEYWORD_ONLY:
                keyword.append(parameter.name)
            # *args ends the positional slots; **kwargs accepts any keyword (get() reads kwargs first)
        return cls(positional, keyword, frozenset(positional_only))

    @classmethod
    def of_method(cls, owner: type, name: str, fallback: Sequence[str] = ()) -> Arguments:
        """The binding of ``owner.name`` as called on an instance (without ``self``)."""
        func = inspect.getattr_static(owner, name, None)
        if isinstance(func, staticmethod | classmethod):
            return cls.of(func.__func__, fallback, method=isinstance(func, classmethod))
        if func is None:
            return cls(fallback)
        return cls.of(func, fallback, method=True)

    def get(self, args: tuple[Any, ...], kwargs: dict[str, Any], name: str, default: Any = None) -> Any:
        """The value the callee receives for parameter ``name`` (``default`` when the caller left it out)."""
        if name in kwargs and name in self._keyword:
            return kwargs[name]
        index = self._position.get(name)
        if index is not None and index < len(args):
            return args[index]
        if name in kwargs:  # a **kwargs catch-all
            return kwargs[name]
        return default

    def values(
        self, args: tuple[Any, ...], kwargs: dict[str, Any], names: tuple[str, ...]
    ) -> tuple[Any, ...]:
        """:meth:`get` of each of ``names`` (None for one the caller left out), in one call: for wrappers
        that read several parameters per request."""
        if not kwargs:  # the common call shape, all positional: one C itemgetter, no loop (issue 14)
            fast = self._getters.get(names)
            if fast is None:
                fast = self._getters[names] = self._getter(names)
            if len(args) >= fast[0]:
                return fast[1](args)  # type: ignore[no-any-return]
        out = []
        position, keyword, count = self._position, self._keyword, len(args)
        for name in names:
            if name in kwargs and name in keyword:
                out.append(kwargs[name])
                continue
            index = position.get(name)
            if index is not None and index < count:
                out.append(args[index])
            else:
                out.append(kwargs.get(name))  # a **kwargs catch-all, or None
        return tuple(out)

    def _getter(self, names: tuple[str, ...]) -> tuple[int, Callable[[Sequence[Any]], Any]]:
        """(positional arguments needed, their getter) for ``names``; never matched when one is keyword-only."""
        indexes = [self._position.get(name) for name in names]
        if not indexes or any(index is None for index in indexes):
            return sys.maxsize, tuple
        picks = [index for index in indexes if index is not None]
        get = operator.itemgetter(*picks)
        return max(picks) + 1, (get if len(picks) > 1 else lambda args: (get(args),))

    def replace(
        self, args: tuple[Any, ...], kwargs: dict[str, Any], name: str, value: Any
    ) -> tuple[tuple[Any, ...], dict[str, Any]]:
        """New ``(args, kwargs)`` with ``name`` set to ``value``, in the shape the caller used (copies)."""
        index = self._position.get(name)
        if name in kwargs or index is None or index > len(args):
            return args, {**kwargs, name: value}
        if index == len(args):
            if name in self._keyword:
                return args, {**kwargs, name: value}
            return (*args, value), kwargs
        return (*args[:index], value, *args[index + 1 :]), kwargs

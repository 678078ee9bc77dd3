"""Apply and remove wrapt wrappers from one table, so uninstrument mirrors instrument exactly."""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable, Iterable
from typing import Any

import wrapt

_logger = logging.getLogger("mcp_otel")
_MISSING = object()

Wrapper = Callable[[Any, Any, tuple[Any, ...], dict[str, Any]], Any]


class Patcher:
    """Owns every wrapper one ``instrument()`` call installed.

    ``active`` is checked by hooks that cannot be removed (wrapt post-import hooks) and by wrappers that
    another library wrapped on top of, so that after ``uninstrument()`` they pass straight through.
    """

    def __init__(self) -> None:
        self.active = True
        # wrapt's ``enabled`` for every wrapper: non-empty while active. A list, not a callable: wrapt tests
        # a non-callable's truth in C, so a wrapped call pays no extra Python frame for the gate.
        self._enabled: list[bool] = [True]
        self._applied: list[tuple[Any, str, Any, Any]] = []
        self._import_hooks: list[tuple[str, Callable[[Any], None]]] = []

    def wrap(self, owner: Any, attribute: str, wrapper: Wrapper) -> bool:
        """Wrap ``owner.attribute`` (a class or module attribute); False (and a debug log) when absent."""
        current: Any = getattr(owner, attribute, _MISSING)
        if current is _MISSING:
            _logger.debug("mcp-otel: %r has no attribute %s; not patched", owner, attribute)
            return False
        return self.replace(owner, attribute, self.function_wrapper(current, wrapper))

    def replace(self, owner: Any, attribute: str, replacement: Any) -> bool:
        """Set ``owner.attribute`` to an already-built wrapper, remembering what was there."""
        own = (
            owner.__dict__.get(attribute, _MISSING) if isinstance(owner, type) else getattr(owner, attribute)
        )
        setattr(owner, attribute, replacement)
        self._applied.append((owner, attribute, own, replacement))
        return True

    def wrap_function(
        self, defining_module: str, name: str, import_sites: Iterable[str], wrapper: Wrapper
    ) -> None:
        """Wrap a module-level function where it is defined and wherever ``from x import name`` bound it.

        ``from mcp.client.streamable_http import streamable_http_client`` copies the function object into
        the importing module, so patching the defining module alone misses those call sites (hookpoints
        0.1). Sites not yet imported are patched when they are, through a post-import hook.
        """
        module = sys.modules.get(defining_module)
        if module is None:
            # Not imported yet: patched when it is (no call site can have bound the name before). Importing
            # it here would put its own imports on every instrumented process's start-up (mcp 1.x's
            # websocket client imports `websockets`: ~10 ms).
            self.on_import(
                defining_module, lambda mod: self.wrap_function(defining_module, name, import_sites, wrapper)
            )
            return
        if not hasattr(module, name):
            return
        original = getattr(module, name)
        proxy = self.function_wrapper(original, wrapper)
        self.replace(module, name, proxy)

        def patch_site(module: Any) -> None:
            self._patch_site(module, name, original, proxy)

        for site in import_sites:
            self.on_import(site, patch_site)

    def on_import(self, module_name: str, hook: Callable[[Any], None]) -> None:
        """Run ``hook(module)`` now if the module is imported, else when it is (never after uninstrument)."""

        def guarded_hook(module: Any) -> None:
            if not self.active:
                return
            try:
                hook(module)
            except Exception:  # runs inside the user's import: log, never raise
                _logger.debug("mcp-otel: patching %s failed", module_name, exc_info=True)

        if module_name in sys.modules:
            guarded_hook(sys.modules[module_name])
            return
        _PENDING_IMPORT_HOOKS.setdefault(module_name, []).append(guarded_hook)
        self._import_hooks.append((module_name, guarded_hook))
        if module_name not in _DISPATCHERS:
            # wrapt cannot unregister a post-import hook: register one dispatcher per module name for the
            # life of the process, so instrument/uninstrument cycles do not pile hooks up.
            _DISPATCHERS.add(module_name)
            wrapt.register_post_import_hook(_dispatch_import, module_name)

    def _patch_site(self, module: Any, name: str, original: Any, proxy: Any) -> None:
        current = getattr(module, name, None)
        if current is original:
            self.replace(module, name, proxy)
        elif current is proxy:
            # Imported after instrument(): its `from x import name` bound our proxy. Unwrap restores the original.
            self._applied.append((module, name, original, proxy))
        elif isinstance(current, wrapt.FunctionWrapper) and current.__wrapped__ is original:
            # An earlier instrument() left its (now inert) proxy here the same way: replace it.
            self._applied.append((module, name, original, proxy))
            setattr(module, name, proxy)

    def function_wrapper(self, wrapped: Any, wrapper: Wrapper) -> Any:
        """A wrapt wrapper of ``wrapped`` that passes straight through once this patcher is inactive."""
        # the list's truth (len) is what wrapt tests; its stubs only name bool-like types
        return wrapt.FunctionWrapper(wrapped, wrapper, enabled=self._enabled)  # type: ignore[arg-type]

    def unwrap_all(self) -> None:
        """Restore every patched attribute; wrappers someone else wrapped over stay but go inert."""
        self.active = False
        self._enabled.clear()
        for module_name, hook in self._import_hooks:
            pending = _PENDING_IMPORT_HOOKS.get(module_name, [])
            if hook in pending:
                pending.remove(hook)
        self._import_hooks.clear()
        for owner, attribute, original, replacement in reversed(self._applied):
            present = owner.__dict__.get(attribute, _MISSING) if isinstance(owner, type) else None
            if not isinstance(owner, type):
                present = getattr(owner, attribute, _MISSING)
            if present is not replacement:
                _logger.debug("mcp-otel: %r.%s was re-wrapped by someone else; left inert", owner, attribute)
                continue
            if original is _MISSING:
                delattr(owner, attribute)
            else:
                setattr(owner, attribute, original)
        self._applied.clear()


# module name -> hooks of the active patchers waiting for that module's import
_PENDING_IMPORT_HOOKS: dict[str, list[Callable[[Any], None]]] = {}
_DISPATCHERS: set[str] = set()


def _dispatch_import(module: Any) -> None:
    for hook in list(_PENDING_IMPORT_HOOKS.pop(module.__name__, ())):
        hook(module)

"""See the libraries' own (native) spans in a test: the mcp 2.x SDK and FastMCP trace through the *global*
tracer provider, which a process can set only once. `native_spans_to(processor)` installs, once, a global SDK
provider whose processor forwards to whatever the current test asks for, and routes spans to `processor`
for the duration of the block. Outside such a block native spans go nowhere.

    with instrumented() as cap, native_spans_to(SimpleSpanProcessor(cap.exporter)):
        ...  # cap.spans(None) now also holds the "mcp-python-sdk" and "fastmcp" spans
"""

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from opentelemetry import trace
from opentelemetry.sdk.trace import SpanProcessor, TracerProvider


class _Router(SpanProcessor):
    def __init__(self) -> None:
        self.targets: list[SpanProcessor] = []
        self._lock = threading.Lock()

    def on_start(self, span: Any, parent_context: Any = None) -> None:
        for target in list(self.targets):
            target.on_start(span, parent_context)

    def on_end(self, span: Any) -> None:
        for target in list(self.targets):
            target.on_end(span)

    def shutdown(self) -> None:
        pass

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return all(target.force_flush(timeout_millis) for target in list(self.targets))


_router: _Router | None = None


def _install() -> _Router:
    global _router
    if _router is not None:
        return _router
    router = _Router()
    provider = trace.get_tracer_provider()
    if not isinstance(provider, TracerProvider):
        trace.set_tracer_provider(TracerProvider())
        provider = trace.get_tracer_provider()
    # Either ours, or an SDK provider someone set before: in both cases the router sees every span.
    provider.add_span_processor(router)  # type: ignore[attr-defined]
    _router = router
    return router


@contextmanager
def native_spans_to(processor: SpanProcessor) -> Iterator[None]:
    """Route spans from the global provider (the libraries' native tracers) to `processor` in the block."""
    router = _install()
    router.targets.append(processor)
    try:
        yield
    finally:
        router.targets.remove(processor)

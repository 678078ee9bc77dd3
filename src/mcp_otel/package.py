"""The libraries this instrumentation applies to (read by ``opentelemetry-instrument``)."""

_instruments = ("mcp >= 1.12.4",)

"""Shared test infrastructure (importable as ``support``: tests/conftest.py puts tests/ on sys.path).

- ``support.env``: library versions of this environment (``MCP_MAJOR``, ``MCP_VERSION_TUPLE``, ``HAS_FASTMCP``,
  ``FASTMCP_MAJOR``...) and ``skip_or_fail`` (skips locally, fails under ``CI=true``/``MCP_OTEL_REQUIRE_ALL=1``).
- ``support.servers``: run tests/servers/mcp_server.py (flavours ``lowlevel``/``sdk``/``fastmcp``) as a real
  HTTP server (``start_http_server`` -> ``RunningServer``) or over stdio (``stdio_server_params``); what each
  flavour does with errors (``raise_tool_outcome``, ``jsonrpc_error_codes``, ``supports_idle_timeout``).
- ``support.clients``: ``open_connection``/``open_session`` for any transport on mcp 1.12, 1.30 and 2.x, and
  version-neutral result helpers (``is_error``, ``text_of``, ``structured_of``, ``error_code``, ``unwrap``).
- ``support.otlp``: ``OtlpReceiver``, a real OTLP gRPC + HTTP receiver on 127.0.0.1 decoding into records.
- ``support.fixtures``: pytest fixtures ``http_server`` (factory), ``stdio_params`` (factory), ``otlp_receiver``.
"""

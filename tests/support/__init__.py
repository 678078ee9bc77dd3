"""Shared test infrastructure: real MCP servers in subprocesses, MCP client helpers, a real OTLP receiver."""

.PHONY: test demo lint bench test-latest compat
# Each bootstraps its own environments under .venvs/ (scripts/bootstrap.sh: uv, and the Python versions of
# tests/requirements/envs.txt; README "Prerequisites").
test:
	scripts/test.sh
# Any python3 >= 3.10 will do for the demo when Python 3.11 is not installed.
demo:
	@venv=$$(MCP_OTEL_ANY_PYTHON=1 scripts/bootstrap.sh v1) && $$venv/bin/python examples/demo.py
lint:
	scripts/lint.sh
# One command per README benchmark table; compare.py, sampling.py and exporter.py build .venvs/bench-v1/-v2.
bench:
	@for e in v1 v2; do venv=$$(scripts/bootstrap.sh $$e) && $$venv/bin/python benchmarks/overhead.py && $$venv/bin/python benchmarks/overhead.py --transport stdio && $$venv/bin/python benchmarks/scale.py; done
	@scripts/bootstrap.sh v1 >/dev/null && venv=$$(scripts/bootstrap.sh v2) && $$venv/bin/python benchmarks/startup.py --envs v1 v2
	@venv=$$(scripts/bootstrap.sh v1) && $$venv/bin/python benchmarks/sampling.py && $$venv/bin/python benchmarks/exporter.py && $$venv/bin/python benchmarks/compare.py
	@if command -v valgrind >/dev/null; then venv=$$(scripts/bootstrap.sh v1) && $$venv/bin/python benchmarks/instructions.py; else echo "make bench: valgrind not installed, instruction counts skipped"; fi
# The newest mcp, fastmcp and OpenTelemetry from the index (not in CI: run it daily or before a release).
test-latest:
	scripts/test-latest.sh
# The libraries' own test suites without and with mcp-otel (compat/run.py; environments cached in .compat/).
# make compat SUITES="mcp1 mcp2"  runs only those (mcp1 mcp2 fastmcp3 fastmcp4).
compat:
	python3 compat/run.py $(SUITES)

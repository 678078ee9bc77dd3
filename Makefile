.PHONY: test demo lint bench compat
# Both bootstrap their own environments under .venvs/ (uv, pyenv interpreters).
test:
	scripts/test.sh
demo:
	@venv=$$(scripts/bootstrap.sh v1) && $$venv/bin/python examples/demo.py
lint:
	@venv=$$(scripts/bootstrap.sh v1) && $$venv/bin/ruff check src tests benchmarks examples && $$venv/bin/ruff format --check src tests benchmarks examples
bench:
	@for e in v1 v2; do venv=$$(scripts/bootstrap.sh $$e) && $$venv/bin/python benchmarks/overhead.py && $$venv/bin/python benchmarks/overhead.py --transport stdio; done
# The libraries' own test suites without and with mcp-otel (compat/run.py; environments cached in .compat/).
# make compat SUITES="mcp1 mcp2"  runs only those (mcp1 mcp2 fastmcp3 fastmcp4).
compat:
	python3 compat/run.py $(SUITES)

.PHONY: test demo lint bench
# Both bootstrap their own environments under .venvs/ (uv, pyenv interpreters).
test:
	scripts/test.sh
demo:
	@venv=$$(scripts/bootstrap.sh v1) && $$venv/bin/python examples/demo.py
lint:
	@venv=$$(scripts/bootstrap.sh v1) && $$venv/bin/ruff check src tests benchmarks examples && $$venv/bin/ruff format --check src tests benchmarks examples
bench:
	@for e in v1 v2; do venv=$$(scripts/bootstrap.sh $$e) && $$venv/bin/python benchmarks/overhead.py && $$venv/bin/python benchmarks/overhead.py --transport stdio; done
	@scripts/bootstrap.sh v1 >/dev/null && venv=$$(scripts/bootstrap.sh v2) && $$venv/bin/python benchmarks/startup.py --envs v1 v2

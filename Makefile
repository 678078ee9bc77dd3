.PHONY: test demo lint bench
# Both bootstrap their own environments under .venvs/ (uv, pyenv interpreters).
test:
	scripts/test.sh
demo:
	@venv=$$(scripts/bootstrap.sh v1) && $$venv/bin/python examples/demo.py
lint:
	@venv=$$(scripts/bootstrap.sh v1) && $$venv/bin/ruff check src tests benchmarks examples && $$venv/bin/ruff format --check src tests benchmarks examples
# One command per README benchmark table; compare.py, sampling.py and exporter.py build .venvs/bench-v1/-v2.
bench:
	@for e in v1 v2; do venv=$$(scripts/bootstrap.sh $$e) && $$venv/bin/python benchmarks/overhead.py && $$venv/bin/python benchmarks/overhead.py --transport stdio && $$venv/bin/python benchmarks/scale.py; done
	@venv=$$(scripts/bootstrap.sh v1) && $$venv/bin/python benchmarks/sampling.py && $$venv/bin/python benchmarks/exporter.py && $$venv/bin/python benchmarks/compare.py

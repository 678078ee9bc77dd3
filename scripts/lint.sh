#!/usr/bin/env bash
# `make lint` (and CI, before the tests): ruff (lint and format) over the code, mypy --strict over src/
# (configuration: pyproject.toml [tool.mypy]).
set -euo pipefail
cd "$(dirname "$0")/.."
venv=$(scripts/bootstrap.sh v1)
"$venv/bin/ruff" check src tests benchmarks examples
"$venv/bin/ruff" format --check src tests benchmarks examples
"$venv/bin/mypy"

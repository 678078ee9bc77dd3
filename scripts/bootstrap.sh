#!/usr/bin/env bash
# Build (or reuse) one environment: scripts/bootstrap.sh NAME  ->  .venvs/NAME
# NAME is a row of tests/requirements/envs.txt (test environments) or benchmarks/requirements/envs.txt
# (benchmark environments, with the alternative instrumentations). The environment is rebuilt only when
# its requirement files or pyproject.toml change; the package itself is always installed editable.
set -euo pipefail
cd "$(dirname "$0")/.."
name="$1"
reqdir=tests/requirements
pyver=$(awk -v n="$name" '$1==n {print $2}' "$reqdir/envs.txt")
if [ -z "$pyver" ]; then
  reqdir=benchmarks/requirements
  pyver=$(awk -v n="$name" '$1==n {print $2}' "$reqdir/envs.txt")
fi
[ -n "$pyver" ] || { echo "bootstrap: unknown environment '$name'" >&2; exit 2; }

if ! command -v uv >/dev/null 2>&1; then
  python3 -m pip install --quiet --disable-pip-version-check uv >&2
fi
python=""
if command -v pyenv >/dev/null 2>&1; then
  python=$(ls -d "$(pyenv root)"/versions/"$pyver".*/bin/python 2>/dev/null | sort -V | tail -n 1 || true)
fi
[ -n "$python" ] || python=$(command -v "python$pyver" || true)
[ -n "$python" ] || { echo "bootstrap: no Python $pyver found" >&2; exit 2; }

venv=".venvs/$name"
stamp_src=$(cat tests/requirements/base.txt "$reqdir"/"$name"*.txt pyproject.toml "$0" | sha256sum | cut -c1-16)
if [ ! -f "$venv/.stamp" ] || [ "$(cat "$venv/.stamp")" != "$stamp_src" ]; then
  echo "bootstrap: building $venv with $python" >&2
  rm -rf "$venv"
  uv venv --quiet --python "$python" "$venv" >&2
  VIRTUAL_ENV="$venv" uv pip install --quiet -r tests/requirements/base.txt -r "$reqdir"/"$name".txt >&2
  if [ -f "$reqdir"/"$name".nodeps.txt ]; then
    VIRTUAL_ENV="$venv" uv pip install --quiet --no-deps -r "$reqdir"/"$name".nodeps.txt >&2
  fi
  VIRTUAL_ENV="$venv" uv pip install --quiet -e ".[sdk]" >&2
  echo "$stamp_src" > "$venv/.stamp"
else
  VIRTUAL_ENV="$venv" uv pip install --quiet --no-deps -e . >&2
fi
echo "$venv"

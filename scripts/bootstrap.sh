#!/usr/bin/env bash
# Build (or reuse) one environment: scripts/bootstrap.sh NAME  ->  .venvs/NAME (printed on stdout)
# NAME is a row of tests/requirements/envs.txt (test environments), tests/requirements/latest/envs.txt (the
# newest releases: `make test-latest`) or benchmarks/requirements/envs.txt (benchmark environments, with the
# alternative instrumentations); a folder's own base.txt replaces tests/requirements/base.txt. The
# environment is rebuilt only when its requirement files, pyproject.toml, this script or the interpreter
# change; the package itself is always installed editable.
#
# What it needs (README "Prerequisites"):
# - uv: the one on PATH; else one installed into .venvs/.tools: by `python3 -m venv` + pip, or, where
#   python3 has no venv or pip (a stock Debian/Ubuntu), from uv's wheel by scripts/get_uv.py (standard
#   library only). Never into the system Python, which Debian and Ubuntu mark externally managed.
# - the environment's Python (envs.txt): pyenv's newest X.Y when pyenv is there, else pythonX.Y on PATH,
#   else one uv finds or manages (`uv python install X.Y`). With MCP_OTEL_ANY_PYTHON=1 (`make demo`) any
#   python3 >= 3.10 on PATH will do when that version is missing.
# MCP_OTEL_BOOTSTRAP_DRY_RUN=1 prints the uv and the interpreter it would use, and builds nothing.
set -euo pipefail
cd "$(dirname "$0")/.."
name="${1:?usage: scripts/bootstrap.sh NAME}"
reqdir=tests/requirements
pyver=""
for reqdir in tests/requirements tests/requirements/latest benchmarks/requirements; do
  pyver=$(awk -v n="$name" '$1==n {print $2}' "$reqdir/envs.txt" 2>/dev/null || true)
  [ -z "$pyver" ] || break
done
[ -n "$pyver" ] || { echo "bootstrap: unknown environment '$name'" >&2; exit 2; }
base=tests/requirements/base.txt
[ ! -f "$reqdir/base.txt" ] || base="$reqdir/base.txt"

# --- uv -------------------------------------------------------------------------------------------------
tools=.venvs/.tools
uv=$(command -v uv || true)
[ -n "$uv" ] || { [ -x "$tools/bin/uv" ] && uv="$PWD/$tools/bin/uv"; } || true
if [ -z "$uv" ]; then
  system=$(command -v python3 || true)
  [ -n "$system" ] || { echo "bootstrap: neither uv nor python3 on PATH: install Python 3 (Debian/Ubuntu: apt-get install python3)" >&2; exit 2; }
  echo "bootstrap: no uv on PATH; installing it into $tools (with $system)" >&2
  if "$system" -m venv "$tools" >/dev/null 2>&1 && "$tools/bin/python" -m pip --version >/dev/null 2>&1; then
    "$tools/bin/python" -m pip install --quiet --disable-pip-version-check uv >&2
  else
    # no venv module or no pip (a stock Debian/Ubuntu python3): uv's own binary, standard library only
    rm -rf "$tools"
    "$system" scripts/get_uv.py "$tools" >&2 || {
      echo "bootstrap: could not install uv: install it yourself (pipx install uv, or" >&2
      echo "           https://docs.astral.sh/uv/getting-started/installation/), or apt-get install python3-venv" >&2
      exit 2
    }
  fi
  uv="$PWD/$tools/bin/uv"
fi

# --- the interpreter ------------------------------------------------------------------------------------
python=""
if command -v pyenv >/dev/null 2>&1; then
  python=$(ls -d "$(pyenv root)"/versions/"$pyver".*/bin/python 2>/dev/null | sort -V | tail -n 1 || true)
fi
[ -n "$python" ] || python=$(command -v "python$pyver" || true)
[ -n "$python" ] || python=$(UV_PYTHON_DOWNLOADS=never "$uv" python find "$pyver" 2>/dev/null || true)
if [ -z "$python" ] && [ "${MCP_OTEL_ANY_PYTHON:-}" = 1 ]; then
  candidate=$(command -v python3 || true)
  if [ -n "$candidate" ] && "$candidate" -c 'import sys; sys.exit(sys.version_info < (3, 10))'; then
    python="$candidate"
    echo "bootstrap: no Python $pyver found; using $python ($("$python" -V 2>&1))" >&2
  fi
fi
if [ -z "$python" ]; then
  echo "bootstrap: environment '$name' needs Python $pyver, which was not found. Any one of:" >&2
  echo "  uv python install $pyver          # uv downloads a build" >&2
  echo "  pyenv install $pyver              # with pyenv" >&2
  echo "  apt-get install python$pyver-venv # where your distribution packages it" >&2
  exit 2
fi

venv=".venvs/$name"
stamp_src=$( (cat "$base" "$reqdir"/"$name"*.txt pyproject.toml "$0"; echo "$python") | sha256sum | cut -c1-16)
if [ "${MCP_OTEL_BOOTSTRAP_DRY_RUN:-}" = 1 ]; then
  echo "uv=$uv"
  echo "python=$python"
  exit 0
fi
if [ ! -f "$venv/.stamp" ] || [ "$(cat "$venv/.stamp")" != "$stamp_src" ]; then
  echo "bootstrap: building $venv with $python" >&2
  rm -rf "$venv"
  "$uv" venv --quiet --python "$python" "$venv" >&2
  VIRTUAL_ENV="$venv" "$uv" pip install --quiet -r "$base" -r "$reqdir"/"$name".txt >&2
  if [ -f "$reqdir"/"$name".nodeps.txt ]; then
    VIRTUAL_ENV="$venv" "$uv" pip install --quiet --no-deps -r "$reqdir"/"$name".nodeps.txt >&2
  fi
  VIRTUAL_ENV="$venv" "$uv" pip install --quiet -e ".[sdk]" >&2
  echo "$stamp_src" > "$venv/.stamp"
else
  VIRTUAL_ENV="$venv" "$uv" pip install --quiet --no-deps -e . >&2
fi
echo "$venv"

#!/usr/bin/env bash
# Run the whole suite in every environment of tests/requirements/envs.txt (or those named as arguments).
# Each environment runs tests/ with its own library versions; tests skip what their environment lacks,
# except under CI=true (or MCP_OTEL_REQUIRE_ALL=1), where a missing tool or library fails the test instead.
# Needs uv and one Python per environment (the second column of envs.txt: 3.10, 3.11, 3.13); an environment
# whose Python is missing fails with the commands that install it (scripts/bootstrap.sh, README
# "Prerequisites"); `scripts/test.sh v1` runs one environment.
set -uo pipefail
cd "$(dirname "$0")/.."
envs=("$@")
[ ${#envs[@]} -gt 0 ] || mapfile -t envs < <(awk '!/^#/ && NF {print $1}' tests/requirements/envs.txt)
status=0
for name in "${envs[@]}"; do
  venv=$(scripts/bootstrap.sh "$name") || {
    status=1
    echo "=== $name: not run (scripts/bootstrap.sh $name failed, see above)" >&2
    continue
  }
  echo "=== $name: $("$venv/bin/python" -c 'import sys,importlib.metadata as m; print("python", sys.version.split()[0], "mcp", m.version("mcp"))')" >&2
  MCP_OTEL_TEST_ENV="$name" "$venv/bin/python" -m pytest tests -q -p no:cacheprovider ${PYTEST_ARGS:-} || status=1
done
exit $status

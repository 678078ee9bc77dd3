#!/usr/bin/env bash
# `make test-latest`: the whole suite against the newest mcp, fastmcp and OpenTelemetry on the index, one
# environment per line (tests/requirements/latest/envs.txt), each rebuilt from scratch on every run so that
# a new release is picked up the day it appears. Not part of `make test` or CI (an index release would turn
# CI red without a commit): run it daily from cron or a scheduled CI job, and before a release.
# Prints the versions it tested; exits non-zero when any environment fails.
set -uo pipefail
cd "$(dirname "$0")/.."
envs=("$@")
[ ${#envs[@]} -gt 0 ] || mapfile -t envs < <(awk '!/^#/ && NF {print $1}' tests/requirements/latest/envs.txt)
status=0
for name in "${envs[@]}"; do
  rm -rf ".venvs/$name"
  venv=$(scripts/bootstrap.sh "$name") || { status=1; continue; }
  versions=$("$venv/bin/python" - <<'PY'
import importlib.metadata as m
names = ["mcp", "fastmcp", "opentelemetry-sdk", "opentelemetry-instrumentation"]
found = []
for name in names:
    try:
        found.append(f"{name} {m.version(name)}")
    except m.PackageNotFoundError:
        pass
print(", ".join(found))
PY
)
  echo "=== $name: $versions" >&2
  MCP_OTEL_TEST_ENV="$name" "$venv/bin/python" -m pytest tests -q -p no:cacheprovider ${PYTEST_ARGS:-} || {
    status=1
    echo "=== $name FAILED with: $versions" >&2
  }
done
exit $status

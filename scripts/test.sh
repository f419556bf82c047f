#!/usr/bin/env bash
# Install celery-ops with its test dependencies into .venv and run every check: ruff, mypy
# --strict, the import-linter contracts and the whole pytest suite against the real local
# services. Arguments go to pytest, e.g. `bash scripts/test.sh -m "not slow"` for the fast loop.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/services.sh

if [ ! -x .venv/bin/python ]; then
  python3 -m venv .venv
fi
.venv/bin/python -m pip install --quiet --upgrade pip
# A regular (not editable) install: the tests run against what `pip install .` ships.
.venv/bin/python -m pip install --quiet --upgrade --force-reinstall --no-deps .
.venv/bin/python -m pip install --quiet ".[test]"

# Browser tests drive Debian's Chromium (never a downloaded browser).
if [ ! -x /usr/bin/chromium ]; then
  echo "== installing chromium for the browser tests"
  apt-get install -y -q chromium >/dev/null 2>&1 \
    || { apt-get update -q >/dev/null && apt-get install -y -q chromium >/dev/null; } \
    || echo "could not install chromium (apt-get install -y chromium): browser tests will say so"
fi

# PgBouncer (Debian's) for the test of the store behind a pooler in transaction mode.
if ! command -v pgbouncer >/dev/null && [ ! -x /usr/sbin/pgbouncer ]; then
  echo "== installing pgbouncer for the pooler test"
  apt-get install -y -q pgbouncer >/dev/null 2>&1 \
    || { apt-get update -q >/dev/null && apt-get install -y -q pgbouncer >/dev/null; } \
    || echo "could not install pgbouncer (apt-get install -y pgbouncer): its test will say so"
fi

echo "== ruff"
.venv/bin/ruff check .
.venv/bin/ruff format --check .
echo "== mypy --strict"
.venv/bin/mypy celery_ops
echo "== import-linter (the layers of docs/architecture.md)"
.venv/bin/lint-imports --no-cache
echo "== pytest"
# Run from tests/ so that `import celery_ops` finds the installed package, not the source tree.
# The slowest tests are listed at the end, to keep the suite's time in view.
cd tests && ../.venv/bin/python -m pytest -p no:cacheprovider --durations=25 "$@"

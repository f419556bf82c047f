#!/usr/bin/env bash
# The long random run: the property tests and the API fuzzing (schemathesis, one call at a
# time and in linked sequences) with 40 times the suite's examples, freshly random each time
# (the suite's run is derandomized: always the same examples). Whatever it finds is a bug:
# hypothesis prints the failing example and a @reproduce_failure line to replay it.
#   bash scripts/explore.sh                  # about 10 minutes on two cores
#   CELERY_OPS_EXPLORE_FACTOR=200 bash scripts/explore.sh   # longer
# Arguments go to pytest, e.g. `-k sqlite` to explore the fold on SQLite only.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/services.sh
if [ ! -x .venv/bin/python ]; then
  python3 -m venv .venv
fi
.venv/bin/python -m pip install --quiet --upgrade --force-reinstall --no-deps .
.venv/bin/python -m pip install --quiet ".[test]"

cd tests
# A test tries 40 times the suite's examples: the suite's 300 s limit per test would stop the
# longest ones by construction; an hour still ends a run that hangs.
CELERY_OPS_EXPLORE=1 ../.venv/bin/python -m pytest -p no:cacheprovider --timeout 3600 \
  --hypothesis-show-statistics \
  properties integration/test_dashboard_api_fuzz.py "$@"

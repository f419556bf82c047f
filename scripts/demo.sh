#!/usr/bin/env bash
# Install and run the celery-ops demo (Procfile): a Celery worker, beat with celery-ops's
# DatabaseScheduler, the dashboard on http://127.0.0.1:5555/ and a traffic generator, all
# recording into demo-data/celery_ops.sqlite3.
#
#   bash scripts/demo.sh            # everything in the Procfile
#   bash scripts/demo.sh worker     # only some of its processes (honcho start NAMES)
#
# Environment: PYTHON (default python3, 3.10+), CELERY_BROKER_URL (default
# redis://127.0.0.1:6379/0), CELERY_OPS_DATABASE_URL (default sqlite:///demo-data/...).
set -euo pipefail

cd "$(dirname "$0")/.."
ROOT=$(pwd)
VENV="$ROOT/.venv"
PYTHON=${PYTHON:-python3}
BROKER=${CELERY_BROKER_URL:-redis://127.0.0.1:6379/0}

say() { printf '\n==> %s\n' "$*"; }
die() { printf '\nError: %s\n' "$*" >&2; exit 1; }

# 1. A virtualenv with celery-ops and the demo's extras.
if [ ! -x "$VENV/bin/python" ]; then
    command -v "$PYTHON" >/dev/null \
        || die "$PYTHON not found: install Python 3.10 or newer (apt-get install python3 python3-venv)"
    "$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 10))' \
        || die "celery-ops needs Python 3.10 or newer; $PYTHON is $("$PYTHON" -V 2>&1). Set PYTHON=python3.X"
    say "creating $VENV"
    "$PYTHON" -m venv "$VENV" || {
        rm -rf "$VENV"
        die "could not create a virtualenv: on Debian/Ubuntu run apt-get install python3-venv"
    }
fi
say "installing celery-ops with the demo extra"
"$VENV/bin/python" -m pip install --quiet --disable-pip-version-check -e '.[demo]'
export PATH="$VENV/bin:$PATH"

# 2. The broker: Redis, started here when it is local, installed and not running.
broker_check() { python -m demo.traffic --check; }  # exits 3 when the broker is unreachable
rc=0
broker_check >/dev/null 2>&1 || rc=$?
if [ "$rc" = 3 ]; then
    local_port=$(python -c '
import sys
from urllib.parse import urlsplit
url = urlsplit(sys.argv[1])
if url.scheme == "redis" and url.hostname in (None, "localhost", "127.0.0.1"):
    print(url.port or 6379)
' "$BROKER")
    if [ -n "$local_port" ] && command -v redis-server >/dev/null; then
        say "starting redis-server on port $local_port"
        redis-server --daemonize yes --bind 127.0.0.1 --port "$local_port" --save "" --appendonly no
        for _ in $(seq 1 25); do
            rc=0
            broker_check >/dev/null 2>&1 || rc=$?
            [ "$rc" = 3 ] || break
            sleep 0.2
        done
    fi
fi
# Prints why the broker is unreachable and how to start or install Redis (or what else failed).
broker_check || exit 1

# 3. The store: its tables, created or migrated before any process writes.
mkdir -p demo-data
say "migrating the celery-ops store"
celery -A demo.app ops db upgrade

# 4. A dashboard user for the demo (an operator: it may retry, cancel and purge). The
#    dashboard listens on 127.0.0.1 only; for anything else create your own users.
if ! celery -A demo.app ops users list | grep -q '^demo '; then
    echo "demo-password" | celery -A demo.app ops users add demo --role operator --password-stdin
fi

say "starting the demo (Ctrl-C stops it).
    Dashboard: http://127.0.0.1:5555/   user: demo   password: demo-password
    In another terminal: .venv/bin/celery -A demo.app ops show TASK_ID"
exec honcho start "$@"

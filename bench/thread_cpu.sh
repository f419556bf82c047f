#!/usr/bin/env bash
# CPU per task of every thread of a prefork worker while it drains a pre-filled queue.
#
#   bench/thread_cpu.sh plain|ops [TASKS] [SECONDS]
#
# Publishes TASKS no-op tasks (default 9000) with bench/bench_app.py, starts
# `celery worker -P prefork -c 2`, and after 3 s of warm-up reads utime and stime of each
# thread (/proc/<pid>/task/<tid>/stat) over SECONDS (default 10), then prints µs per task
# processed in that window (tasks counted from the queue length), and the CPU of the local
# PostgreSQL server's processes over the same window. Run plain and ops in
# alternation: single windows are noisy on a shared machine. Uses Redis db 9 (flushed) and,
# for ops, the PostgreSQL store postgresql://postgres@127.0.0.1:5432/bench_ops (truncated;
# bench/recorder_overhead.py creates it).
set -euo pipefail
mode=${1:?plain or ops}
tasks=${2:-9000}
window=${3:-10}
here=$(cd "$(dirname "$0")" && pwd)
python=${PYTHON:-$here/../.venv/bin/python}
celery=$(dirname "$python")/celery
export BENCH_MODE=$mode BENCH_BROKER_URL=redis://127.0.0.1:6379/9 BENCH_QUEUE=celery_ops_bench
export BENCH_DATABASE_URL=postgresql+psycopg://postgres@127.0.0.1:5432/bench_ops PYTHONPATH=$here
cd "$here"
redis-cli -n 9 flushdb >/dev/null
if [ "$mode" = ops ]; then
  psql -q -h 127.0.0.1 -U postgres bench_ops -c "TRUNCATE celery_ops_executions,
    celery_ops_events, celery_ops_workers, celery_ops_definitions, celery_ops_search" >/dev/null
fi
"$python" bench_app.py publish --count "$tasks" --task noop >/dev/null
setsid "$celery" -A bench_app worker -P prefork -c 2 --without-gossip --without-mingle \
  --without-heartbeat -l WARNING >/dev/null 2>&1 &
worker=$!
trap 'kill -KILL -- -$worker 2>/dev/null || true' EXIT
sleep 3
threads() {
  for t in /proc/$worker/task/* $(for c in $(pgrep -P $worker); do echo /proc/$c/task/*; done); do
    echo "$t $(cut -d' ' -f14,15 "$t/stat")"
  done
}
queued_before=$(redis-cli -n 9 llen celery_ops_bench)
# utime + stime of every local PostgreSQL process (the server's CPU for this worker's writes).
postgres_ticks() {
  for p in $(pgrep -f postgres); do cut -d' ' -f14,15 "/proc/$p/stat" 2>/dev/null || true; done |
    awk '{ s += $1 + $2 } END { print s + 0 }'
}
threads >/tmp/thread_cpu.$$.a
postgres_before=$(postgres_ticks)
sleep "$window"
queued_after=$(redis-cli -n 9 llen celery_ops_bench)
threads >/tmp/thread_cpu.$$.b
postgres_after=$(postgres_ticks)
done_tasks=$((queued_before - queued_after))
ticks=$(getconf CLK_TCK)
echo "$mode: $((done_tasks / window)) tasks/s (main process: $worker)"
join /tmp/thread_cpu.$$.a /tmp/thread_cpu.$$.b | awk -v n="$done_tasks" -v hz="$ticks" '{
  u = ($4 - $2) * 1e6 / hz / n; s = ($5 - $3) * 1e6 / hz / n
  if (u + s > 0) printf "  %-26s user %5.0f  sys %4.0f  µs/task\n", $1, u, s }'
awk -v t="$((postgres_after - postgres_before))" -v n="$done_tasks" -v hz="$ticks" \
  'BEGIN { printf "  %-26s %5.0f µs/task\n", "PostgreSQL (all processes)", t * 1e6 / hz / n }'
rm -f /tmp/thread_cpu.$$.a /tmp/thread_cpu.$$.b

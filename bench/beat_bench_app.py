"""The Celery app of ``bench/beat_scale.py``; it configures itself from the environment.

Environment (set by the benchmark script for each run):

``BENCH_SCHEDULER``     ``persistent``, ``djbeat``, ``redbeat`` or ``ops``
``BENCH_BROKER_URL``    the broker, e.g. ``redis://127.0.0.1:6379/10`` (no worker consumes it)
``BENCH_QUEUE``         the queue every scheduled message is sent to
``BENCH_DATABASE_URL``  djbeat: the Django database (``postgresql+psycopg://user@host:port/db``);
                        ops: the celery-ops store (``postgresql+psycopg://...``)
``BENCH_REDBEAT_URL``   redbeat: the Redis db of its schedule, e.g. ``redis://127.0.0.1:6379/11``
``BENCH_PLAN``          a JSON file describing the schedule entries (see ``Plan``)
``BENCH_SENDS_FILE``    (beat process) where every publish is appended as ``name<TAB>time``
``BENCH_OPS_SETTINGS``  (ops, optional) JSON object of extra ``init_app`` keyword settings
``BENCH_OPS_RECORD``    (ops, optional) ``0``: unwrap the recorder's publishing (send_task_message)

Every entry runs the task ``bench.tick`` with its own name as the only argument, so the
``after_task_publish`` handler below can tell which entry a message serves, whatever the
scheduler. The handler runs in the beat process, right after the message was handed to the
broker: its timestamp is the send time.

Run as a script, it prepares the scheduler's store from the plan (``seed``) or edits one entry
through the scheduler's normal edit path (``edit NAME --every 5``); both print one JSON line.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
import threading
import time
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

from celery import Celery, signals
from celery.schedules import schedule as interval_schedule

SCHEDULER = os.environ.get("BENCH_SCHEDULER", "persistent")
BROKER_URL = os.environ.get("BENCH_BROKER_URL", "redis://127.0.0.1:6379/10")
QUEUE = os.environ.get("BENCH_QUEUE", "beat_bench")
DATABASE_URL = os.environ.get("BENCH_DATABASE_URL", "")
REDBEAT_URL = os.environ.get("BENCH_REDBEAT_URL", "redis://127.0.0.1:6379/11")
TASK_NAME = "bench.tick"
PROBE_NAME = "startup-probe"
PROBE_INTERVAL = 3600.0

SCHEDULERS = ("persistent", "djbeat", "redbeat", "ops")
if SCHEDULER not in SCHEDULERS:
    raise SystemExit(f"BENCH_SCHEDULER must be one of {', '.join(SCHEDULERS)}, not {SCHEDULER!r}")


# The plan: which entries exist and when each one is due


@dataclass(frozen=True)
class Plan:
    """``count`` entries of period ``interval``; entry ``i`` is first due at
    ``t0 + i * interval / count`` (phases spread evenly), then every ``interval`` seconds.

    ``naming`` ``random``: names are hashes, so their order says nothing about due times;
    ``sorted``: ``e0000000``, ``e0000001``, ...: sorting by name is sorting by due time.

    One more entry, ``startup-probe`` (hourly), is due at ``probe_due`` (before the beat
    starts), so it is sent as soon as the scheduler is up: its send time marks the end of
    start-up. It is not part of the measured entries.
    """

    count: int
    interval: float
    t0: float
    probe_due: float
    naming: str = "random"

    def name(self, index: int) -> str:
        if self.naming == "sorted":
            return f"e{index:07d}"
        return hashlib.blake2s(str(index).encode(), digest_size=6).hexdigest()

    def first_due(self, index: int) -> float:
        return self.t0 + index * self.interval / self.count

    def names(self) -> dict[str, int]:
        return {self.name(i): i for i in range(self.count)}

    @classmethod
    def load(cls, path: str) -> Plan:
        with open(path) as file:
            return cls(**json.load(file))


def utc(timestamp: float) -> datetime:
    return datetime.fromtimestamp(timestamp, tz=timezone.utc)


PLAN = Plan.load(os.environ["BENCH_PLAN"]) if os.environ.get("BENCH_PLAN") else None


# The app


app = Celery("beat_bench_app", broker=BROKER_URL)
app.conf.update(
    task_default_queue=QUEUE,
    broker_connection_retry_on_startup=True,
    timezone="UTC",
    enable_utc=True,
)


@app.task(name=TASK_NAME)
def tick(name: str) -> None:
    return None


def _persistent_schedule(plan: Plan) -> dict[str, dict[str, Any]]:
    """``beat_schedule`` with each entry's phase.

    ``Scheduler.merge_inplace`` builds each new entry as ``Entry(**beat_schedule[name])``, so a
    ``last_run_at`` key is taken as the entry's last run: with a fresh shelve file (the bench
    deletes it before each run), entry ``i`` is first due at ``last_run_at + interval``.
    """
    every = timedelta(seconds=plan.interval)
    entries = {
        plan.name(i): {
            "task": TASK_NAME,
            "schedule": every,
            "args": (plan.name(i),),
            "last_run_at": utc(plan.first_due(i) - plan.interval),
        }
        for i in range(plan.count)
    }
    entries[PROBE_NAME] = {
        "task": TASK_NAME,
        "schedule": timedelta(seconds=PROBE_INTERVAL),
        "args": (PROBE_NAME,),
        "last_run_at": utc(plan.probe_due - PROBE_INTERVAL),
    }
    return entries


if SCHEDULER == "persistent" and PLAN is not None:
    app.conf.beat_schedule = _persistent_schedule(PLAN)

elif SCHEDULER == "djbeat":
    import django
    from django.conf import settings
    from sqlalchemy import make_url

    # The Django settings the bench needs, built here rather than in a settings module.
    url = make_url(DATABASE_URL or "postgresql+psycopg://postgres@127.0.0.1:5432/bench_djbeat")
    settings.configure(
        DATABASES={
            "default": {
                "ENGINE": "django.db.backends.postgresql",
                "NAME": url.database,
                "USER": url.username or "postgres",
                "PASSWORD": url.password or "",
                "HOST": url.host or "127.0.0.1",
                "PORT": str(url.port or 5432),
            }
        },
        INSTALLED_APPS=["django_celery_beat"],
        USE_TZ=True,
        TIME_ZONE="UTC",
        DEFAULT_AUTO_FIELD="django.db.models.AutoField",
    )
    django.setup()

elif SCHEDULER == "redbeat":
    app.conf.update(redbeat_redis_url=REDBEAT_URL, redbeat_key_prefix="redbeat:")

elif SCHEDULER == "ops":
    import celery_ops

    extra: dict[str, Any] = json.loads(os.environ.get("BENCH_OPS_SETTINGS") or "{}")
    OPS = celery_ops.init_app(app, database_url=DATABASE_URL, **extra)
    if os.environ.get("BENCH_OPS_RECORD") == "0":
        # Diagnostic variant: the recorder's publishing off, so that the scheduler's own cost
        # shows. celery-ops has no setting for it: this removes the wrapper init_app put on
        # the app's send_task_message (celery_ops.signals.publishing), an internal detail;
        # Celery then builds its own again on the next send.
        del app.amqp.send_task_message


# Recording every send (beat process only)


class SendLog:
    """Appends ``name<TAB>unix time`` per publish; a thread flushes the buffer twice a second,
    so that the file is complete up to the last half second when the bench reads it."""

    def __init__(self, path: str) -> None:
        self.file = open(path, "a", buffering=1 << 20)  # noqa: SIM115 (open for the process)
        thread = threading.Thread(target=self._flush_loop, name="bench-sends", daemon=True)
        thread.start()

    def write(self, name: str, at: float) -> None:
        self.file.write(f"{name}\t{at:.6f}\n")

    def _flush_loop(self) -> None:
        while True:
            time.sleep(0.5)
            self.file.flush()


_send_log = SendLog(os.environ["BENCH_SENDS_FILE"]) if os.environ.get("BENCH_SENDS_FILE") else None


@signals.after_task_publish.connect(weak=False)
def _record_send(body: Any = None, headers: Any = None, **_: Any) -> None:
    if _send_log is None:
        return
    at = time.time()
    # Message protocol 2: body = (args, kwargs, embed); every entry's only argument is its name.
    args = body[0] if isinstance(body, (list, tuple)) and body else None
    name = args[0] if args else (headers or {}).get("celery_ops_schedule", "?")
    _send_log.write(str(name), at)


# Seeding the scheduler's store from the plan


def seed(plan: Plan) -> dict[str, Any]:
    started = time.perf_counter()
    seeders = {
        "persistent": lambda _plan: None,  # beat_schedule is built at import (see above)
        "djbeat": _seed_djbeat,
        "redbeat": _seed_redbeat,
        "ops": _seed_ops,
    }
    seeders[SCHEDULER](plan)
    return {"seed_s": time.perf_counter() - started, "entries": plan.count}


def _seed_djbeat(plan: Plan) -> None:
    from django.core.management import call_command
    from django.db import connection
    from django_celery_beat.models import IntervalSchedule, PeriodicTask, PeriodicTasks

    call_command("migrate", "django_celery_beat", verbosity=0)
    with connection.cursor() as cursor:
        cursor.execute(
            "TRUNCATE django_celery_beat_periodictask, django_celery_beat_periodictasks, "
            "django_celery_beat_intervalschedule RESTART IDENTITY CASCADE"
        )
    every = IntervalSchedule.objects.create(every=int(plan.interval), period="seconds")
    hourly = IntervalSchedule.objects.create(every=int(PROBE_INTERVAL), period="seconds")

    # The scheduler computes the next run from last_run_at: one interval before the first due
    # time gives each row its phase. bulk_create skips PeriodicTask.save() (its validation and
    # the change signal), so the change marker is set once at the end.
    def row(name: str, schedule: Any, first_due: float, interval: float) -> Any:
        return PeriodicTask(
            name=name,
            task=TASK_NAME,
            interval=schedule,
            args=json.dumps([name]),
            last_run_at=utc(first_due - interval),
        )

    rows = [row(PROBE_NAME, hourly, plan.probe_due, PROBE_INTERVAL)]
    rows += [row(plan.name(i), every, plan.first_due(i), plan.interval) for i in range(plan.count)]
    PeriodicTask.objects.bulk_create(rows, batch_size=5000)
    PeriodicTasks.update_changed()


def _seed_redbeat(plan: Plan) -> None:
    import redis
    from redbeat.decoder import RedBeatJSONEncoder, to_timestamp
    from redbeat.schedulers import RedBeatSchedulerEntry, ensure_conf

    ensure_conf(app)
    client = redis.Redis.from_url(REDBEAT_URL)
    client.flushdb()
    schedule_key = app.redbeat_conf.schedule_key

    # What RedBeatSchedulerEntry.save() writes (definition, meta, score in the schedule zset),
    # in one pipeline instead of one round trip per entry. The score is the due time as redbeat
    # stores it (to_timestamp: whole seconds) but computed from the plan:
    # RedBeatSchedulerEntry.due_at is last_run_at + (time remaining from *now*), right only when
    # last_run_at is about now; with our past last_run_at it would put every entry at "due now"
    # and make each tick load all of them until they really are due.
    def add(pipe: Any, name: str, interval: float, first_due: float) -> None:
        entry = RedBeatSchedulerEntry(
            name, TASK_NAME, interval_schedule(timedelta(seconds=interval)), args=[name], app=app
        )
        definition = {
            "name": entry.name,
            "task": entry.task,
            "args": entry.args,
            "kwargs": entry.kwargs,
            "options": entry.options,
            "schedule": entry.schedule,
            "enabled": True,
        }
        meta = {"last_run_at": utc(first_due - interval)}
        pipe.hset(entry.key, "definition", json.dumps(definition, cls=RedBeatJSONEncoder))
        pipe.hset(entry.key, "meta", json.dumps(meta, cls=RedBeatJSONEncoder))
        pipe.zadd(schedule_key, {entry.key: to_timestamp(utc(first_due))})

    with client.pipeline(transaction=False) as pipe:
        add(pipe, PROBE_NAME, PROBE_INTERVAL, plan.probe_due)
        for i in range(plan.count):
            add(pipe, plan.name(i), plan.interval, plan.first_due(i))
            if i % 5000 == 4999:
                pipe.execute()
        pipe.execute()


def _seed_ops(plan: Plan) -> None:
    from celery_ops.beat import ScheduleSpec

    OPS.store.upgrade()
    _truncate_ops_tables()

    def spec(name: str, interval: float, first_due: float) -> Any:
        return ScheduleSpec(
            name=name,
            task=TASK_NAME,
            kind="interval",
            interval_seconds=interval,
            start_at=utc(first_due),
            args=[name],
        )

    # add_many is one transaction holding every row in memory: 100,000 rows at a time keeps a
    # 1,000,000-row seed to a few hundred MB.
    OPS.schedules.add_many([spec(PROBE_NAME, PROBE_INTERVAL, plan.probe_due)])
    for start in range(0, plan.count, 100_000):
        OPS.schedules.add_many(
            spec(plan.name(i), plan.interval, plan.first_due(i))
            for i in range(start, min(start + 100_000, plan.count))
        )


def _truncate_ops_tables() -> None:
    from sqlalchemy import create_engine, inspect, text

    engine = create_engine(DATABASE_URL, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as connection:
            tables = [
                name
                for name in inspect(connection).get_table_names()
                if name.startswith("celery_ops_schedule")
            ]
            if tables:
                connection.execute(text(f"TRUNCATE {', '.join(tables)} RESTART IDENTITY CASCADE"))
    finally:
        engine.dispose()


# Editing one entry while beat runs, through each scheduler's normal edit path


def edit(name: str, every: float) -> dict[str, Any]:
    editors = {"djbeat": _edit_djbeat, "redbeat": _edit_redbeat, "ops": _edit_ops}
    if SCHEDULER not in editors:
        raise SystemExit(f"{SCHEDULER} cannot be edited while beat runs")
    started = time.time()
    editors[SCHEDULER](name, every)
    return {"edit_started_at": started, "edited_at": time.time()}


def _edit_djbeat(name: str, every: float) -> None:
    from django_celery_beat.models import IntervalSchedule, PeriodicTask

    # The 10,000 rows share one IntervalSchedule: point this row at another one, as the admin
    # does, rather than changing the shared one.
    schedule, _ = IntervalSchedule.objects.get_or_create(every=int(every), period="seconds")
    task = PeriodicTask.objects.get(name=name)
    task.interval = schedule
    task.save()  # also marks PeriodicTasks changed, which makes the beat reload


def _edit_redbeat(name: str, every: float) -> None:
    from redbeat.schedulers import RedBeatSchedulerEntry, ensure_conf

    ensure_conf(app)
    entry = RedBeatSchedulerEntry.from_key(RedBeatSchedulerEntry.generate_key(app, name), app=app)
    entry.schedule = interval_schedule(timedelta(seconds=every))
    entry.save()


def _edit_ops(name: str, every: float) -> None:
    OPS.schedules.update(name, every=every)


def main(argv: list[str]) -> int:
    import argparse

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("seed")
    edit_parser = sub.add_parser("edit")
    edit_parser.add_argument("name")
    edit_parser.add_argument("--every", type=float, required=True)
    options = parser.parse_args(argv)
    if PLAN is None:
        raise SystemExit("BENCH_PLAN is not set")
    result = seed(PLAN) if options.command == "seed" else edit(options.name, options.every)
    print(json.dumps(result), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

"""The recorder's write path: one transaction per batch, multi-row upserts keyed on task id."""

from __future__ import annotations

import functools
import json
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Connection,
    and_,
    case,
    delete,
    func,
    literal_column,
    or_,
    select,
    update,
)
from sqlalchemy.dialects import mysql, sqlite

from celery_ops.core.clock import to_storage
from celery_ops.core.lifecycle import (
    COLUMN_POLICIES,
    LOST,
    RANKED_BY,
    REAPABLE,
    TERMINAL_STATUSES,
    ExecutionPatch,
    Policy,
)
from celery_ops.core.rollups import RollupDeltas
from celery_ops.store import limits, unique, upserts
from celery_ops.store import rollups as rollup_rows
from celery_ops.store.batches import RecordBatch
from celery_ops.store.models import definitions, executions, search_text, workers
from celery_ops.store.models import execution_events as timeline
from celery_ops.store.upserts import SetClause


def upsert_executions(
    connection: Connection, patches: Iterable[ExecutionPatch], deltas: RollupDeltas
) -> int:
    """Fold each patch into its row with the rules of ``celery_ops.core.lifecycle``, and
    what each row's change does to the rollups into ``deltas``.

    A patch carries only the columns its events knew (a pool process knows nothing of the
    arguments, a producer nothing of the result), and an absent column is a no-op under every
    rule. Rows are grouped by the columns they carry, so each statement sends and evaluates
    only those: a handful of shapes, each built once.
    """
    groups: dict[frozenset[str], list[dict[str, Any]]] = {}
    for patch in patches:
        row = _execution_row(patch)
        groups.setdefault(frozenset(row), []).append(row)
    for columns, rows in groups.items():
        set_clause = functools.partial(_execution_set_clause, columns=columns)
        returned = upserts.upsert(
            connection,
            executions,
            rows,
            "task_id",
            set_clause,
            cache_as=columns,
            returning=rollup_rows.RETURNED,
            returned_where=rollup_rows.may_count,
        )
        rollup_rows.fold_returned(returned, deltas)
    return sum(len(rows) for rows in groups.values())


#: How much of an execution's shown arguments search looks in (their start).
SEARCH_CHARS = 1000

#: Shown arguments with nothing in them to search for.
NOTHING_SHOWN = frozenset({None, "", "[]", "()", "{}"})


def index_search(connection: Connection, patches: Iterable[ExecutionPatch]) -> None:
    """Keep the text of each new execution's (shown) arguments for search, once."""
    rows = []
    for patch in patches:
        args, kwargs = patch.values.get("args"), patch.values.get("kwargs")
        if args in NOTHING_SHOWN and kwargs in NOTHING_SHOWN:
            continue  # no arguments: nothing to find (most of a busy worker's tasks)
        text = f"{args or ''} {kwargs or ''}".strip()[:SEARCH_CHARS]
        rows.append({"task_id": patch.task_id, "text": text})
    if not rows:
        return
    if connection.dialect.name == "postgresql":
        upserts.execute_unnested(
            connection, search_text, rows, lambda insert: insert.on_conflict_do_nothing()
        )
    else:
        connection.execute(_insert_search(connection.dialect.name), rows)


@functools.cache
def _insert_search(dialect: str) -> Any:
    # The first text wins: an execution's arguments do not change.
    if dialect == "sqlite":
        return sqlite.insert(search_text).on_conflict_do_nothing()
    statement = mysql.insert(search_text)
    return statement.on_duplicate_key_update(task_id=search_text.c.task_id)


TIMELINE_COLUMNS = ("task_id", "event", "at", "worker", "details")
TIMELINE_TYPES = ["varchar", "varchar", "timestamp", "varchar", "text"]


def append_timeline(connection: Connection, rows: Sequence[dict[str, Any]]) -> None:
    if not rows:
        return
    if connection.dialect.name == "postgresql":
        # Append-only rows: binary COPY is the cheapest way in, for this process and for the
        # server. Its "timestamp" column takes naive UTC, which batching already produces.
        columns = ", ".join(TIMELINE_COLUMNS)
        cursor = connection.connection.driver_connection.cursor()  # type: ignore[union-attr]
        with (
            cursor,
            cursor.copy(f"COPY {timeline.name} ({columns}) FROM STDIN (FORMAT BINARY)") as copy,
        ):
            copy.set_types(TIMELINE_TYPES)
            for row in rows:
                copy.write_row(
                    (
                        row["task_id"],
                        row["event"],
                        to_storage(row["at"]),
                        row["worker"],
                        row["details"],
                    )
                )
        return
    connection.execute(timeline.insert(), list(rows))


def write_batch(connection: Connection, batch: RecordBatch) -> None:
    """Everything ``batch`` holds, in the transaction of ``connection``."""
    for worker in batch.workers:
        upsert_worker(connection, worker.hostname, worker.at, worker.online, worker.values)
        if worker.just_started:
            close_previous_run(connection, worker.hostname, worker.at)
    deltas = RollupDeltas()
    upsert_executions(connection, batch.executions, deltas)
    index_search(connection, batch.executions)
    append_timeline(connection, batch.timeline)
    for hostname, at, reported in batch.definitions:
        upsert_definitions(connection, hostname, at, reported)
    for hostname, count in batch.dropped.items():
        if count:
            add_dropped_events(connection, hostname, count)
    unique.release(connection, batch.released)
    limits.free_slots(connection, batch.freed_slots)
    # Last: the rollups' rows are the ones every writer shares, so they are held briefly.
    rollup_rows.apply(connection, deltas)


def upsert_worker(
    connection: Connection, hostname: str, at: datetime, online: bool, values: dict[str, Any]
) -> None:
    row = {
        "hostname": hostname,
        "status": "online" if online else "offline",
        "last_heartbeat": at,
        "started_at": values.get("started_at"),
        "stopped_at": None if online else at,
        "pid": values.get("pid"),
        "pool": values.get("pool"),
        "concurrency": values.get("concurrency"),
        "queues": values.get("queues"),
        "versions": values.get("versions"),
        "tasks_processed": values.get("tasks_processed", 0),
        "events_dropped": 0,
    }

    def set_clause(new: Any) -> SetClause:
        t = workers.c
        keep_if_missing = ("started_at", "pid", "pool", "concurrency", "queues", "versions")
        clause: SetClause = [(name, func.coalesce(new[name], t[name])) for name in keep_if_missing]
        clause += [
            ("status", new.status),
            ("last_heartbeat", new.last_heartbeat),
            ("stopped_at", new.stopped_at),
            ("tasks_processed", func.coalesce(new.tasks_processed, t.tasks_processed)),
        ]
        return clause

    upserts.upsert(connection, workers, [row], "hostname", set_clause)


def delete_offline_worker(connection: Connection, hostname: str) -> bool:
    """Delete the row of ``hostname`` if it is offline; whether it was."""
    gone = connection.execute(
        delete(workers).where(workers.c.hostname == hostname, workers.c.status != "online")
    )
    return bool(gone.rowcount)


def add_dropped_events(connection: Connection, hostname: str, count: int) -> None:
    connection.execute(
        update(workers)
        .where(workers.c.hostname == hostname)
        .values(events_dropped=workers.c.events_dropped + count)
    )


def close_previous_run(connection: Connection, hostname: str, started_at: datetime) -> int:
    """A worker restarted under the same name: what its previous run held is lost."""
    return mark_lost(
        connection,
        and_(executions.c.worker_id == hostname, executions.c.status_at < started_at),
        started_at,
        f"worker {hostname} restarted while the task was running",
    )


#: Rows one statement of the reaper marks LOST.
LOST_CHUNK = 1000


def mark_lost(
    connection: Connection, condition: ColumnElement[bool], now: datetime, why: str
) -> int:
    """Turn the RECEIVED and STARTED rows matching ``condition`` into LOST, and count them
    in the rollups."""
    reaped = and_(executions.c.status.in_(list(REAPABLE)), condition)
    # Locked first (MariaDB cannot return from an UPDATE): what they were, for the rollups.
    before = connection.execute(
        select(*rollup_rows.COUNTED_COLUMNS, executions.c.task_id, executions.c.was_status)
        .where(reaped)
        .with_for_update()
    ).all()
    if not before:
        return 0
    deltas = RollupDeltas()
    for row in before:
        was = rollup_rows.counted_row(row)
        deltas.change(
            was if row.was_status is not None else None,
            was._replace(status=LOST, status_at=to_storage(now)),
        )
    drop = case(
        *((executions.c.status == literal_column(f"'{s}'"), d) for s, d in REAPABLE.items()),
        else_=0,
    )
    lost = 0
    task_ids = [row.task_id for row in before]
    # By chunks: a dead worker may have held tens of thousands of ETA tasks, past what one
    # statement may bind.
    for start in range(0, len(task_ids), LOST_CHUNK):
        chunk = task_ids[start : start + LOST_CHUNK]
        result = connection.execute(
            update(executions)
            .where(reaped, executions.c.task_id.in_(chunk))
            .ordered_values(
                # First: MariaDB assigns left to right, and this reads the progress before
                # it drops.
                (executions.c.error_progress, executions.c.progress - drop),
                (executions.c.progress, executions.c.progress - drop),
                (executions.c.status, LOST),
                (executions.c.status_at, now),
                (executions.c.error_type, "WorkerLost"),
                (executions.c.error_message, why),
                (executions.c.exception_trace, None),
                (executions.c.was_status, func.coalesce(executions.c.was_status, "")),
            )
        )
        lost += int(result.rowcount or 0)
    rollup_rows.apply(connection, deltas)
    return lost


def upsert_definitions(
    connection: Connection, hostname: str, at: datetime, reported: list[dict[str, Any]]
) -> None:
    """Record the tasks a worker registered; the list of workers per task is merged."""
    if not reported:
        return
    names = [definition["name"] for definition in reported]
    known = {
        row.name: row
        for row in connection.execute(
            select(definitions.c.name, definitions.c.workers, definitions.c.first_seen).where(
                definitions.c.name.in_(names)
            )
        )
    }
    for definition in reported:
        existing = known.get(definition["name"])
        hosts = set(json.loads(existing.workers or "[]")) if existing else set()
        hosts.add(hostname)
        row = dict(definition)
        row["workers"] = json.dumps(sorted(hosts))
        row["last_seen"] = at
        row["first_seen"] = existing.first_seen if existing and existing.first_seen else at
        # An upsert, not an UPDATE of a row read above: another worker may insert it meanwhile.
        upserts.upsert(connection, definitions, [row], "name", _replace_all(row))


def _replace_all(row: dict[str, Any]) -> Callable[[Any], SetClause]:
    def set_clause(new: Any) -> SetClause:
        return [(name, new[name]) for name in row if name != "name"]

    return set_clause


def _execution_row(patch: ExecutionPatch) -> dict[str, Any]:
    # A patch is folded for one write: its values become the row, without a copy.
    row = patch.values
    row.setdefault("attempts", 0)
    row["task_id"] = patch.task_id
    row["was_status"] = ""  # counted from its first write: see rollup_rows
    row["status"] = patch.status
    row["progress"] = patch.progress
    row["status_at"] = patch.status_at
    return row


def _execution_set_clause(new: Any, columns: frozenset[str]) -> SetClause:
    """The upsert's SET clause: ``celery_ops.core.lifecycle``'s folding rules, in SQL."""
    t = executions.c
    # First: they keep the row as it was, and MariaDB assigns left to right.
    clause: SetClause = rollup_rows.remembered(t)
    # Constants inlined: executemany() cannot expand an IN list per row.
    not_terminal = and_(
        *(new.status != literal_column(f"'{s}'") for s in sorted(TERMINAL_STATUSES))
    )
    applies = or_(new.progress > t.progress, and_(new.progress == t.progress, not_terminal))
    for name, policy in COLUMN_POLICIES.items():
        if name not in columns:
            continue
        current = t[name]
        incoming = new[name]
        if policy is Policy.SUM:
            clause.append((name, current + incoming))
        elif policy is Policy.FIRST:
            clause.append((name, func.coalesce(current, incoming)))
        elif policy is Policy.EARLIEST or policy is Policy.GREATEST:
            # Not LEAST()/GREATEST(): MariaDB's are NULL when either side is.
            beats = incoming < current if policy is Policy.EARLIEST else incoming > current
            clause.append(
                (
                    name,
                    case(
                        (current.is_(None), incoming),
                        (incoming.is_(None), current),
                        (beats, incoming),
                        else_=current,
                    ),
                )
            )
        elif policy in RANKED_BY and RANKED_BY[policy] not in columns:
            clause.append((name, func.coalesce(current, incoming)))  # only fills a gap
        elif policy in RANKED_BY:
            rank = RANKED_BY[policy]
            outranks = and_(new[rank].is_not(None), or_(t[rank].is_(None), new[rank] > t[rank]))
            clause.append((name, case((outranks, incoming), else_=current)))
        else:
            clause.append(
                (
                    name,
                    case(
                        (applies, func.coalesce(incoming, current)),
                        else_=func.coalesce(current, incoming),
                    ),
                )
            )
    # MariaDB evaluates ON DUPLICATE KEY UPDATE assignments left to right, each seeing the
    # columns already assigned: everything reads the old `progress`, so it is assigned last.
    clause.append(("status", case((applies, new.status), else_=t.status)))
    clause.append(("status_at", case((applies, new.status_at), else_=t.status_at)))
    clause.append(("progress", case((applies, new.progress), else_=t.progress)))
    return clause

"""Reads of executions, their timelines and workers."""

from __future__ import annotations

import json
from bisect import bisect_left, bisect_right
from datetime import datetime
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Connection,
    RowMapping,
    Select,
    and_,
    case,
    exists,
    func,
    literal_column,
    or_,
    select,
    table,
    true,
)

from celery_ops.core.filters import LIST_ORDERS, SORTED_WINDOW, ExecutionFilter
from celery_ops.core.lifecycle import FAILURE, PENDING, RECEIVED, STARTED, SUCCESS
from celery_ops.core.records import (
    Discard,
    Execution,
    FailureGroup,
    TaskDefinition,
    TimelineEntry,
    WorkerRecord,
)
from celery_ops.store.models import (
    definitions,
    discarded,
    execution_events,
    execution_record,
    executions,
    search_text,
    workers,
)


def get_discard(connection: Connection, task_id: str) -> Discard | None:
    row = connection.execute(
        select(discarded.c.discarded_at, discarded.c.discarded_by).where(
            discarded.c.task_id == task_id
        )
    ).first()
    return Discard(task_id, row.discarded_at, row.discarded_by) if row is not None else None


def get_execution(connection: Connection, task_id: str) -> Execution | None:
    row = connection.execute(
        select(*execution_record).where(executions.c.task_id == task_id)
    ).first()
    return Execution(**row._mapping) if row is not None else None


def get_workflow(
    connection: Connection, root_task_id: str, group_id: str | None, limit: int
) -> list[Execution]:
    """The executions of a workflow (chain, group, chord): its root, the members of
    ``group_id``, and everything they sent, level by level, through the parent and group
    indexes; at most ``limit`` rows in all."""
    found: dict[str, Execution] = {}
    root = get_execution(connection, root_task_id)
    if root is not None:
        found[root.task_id] = root
    parents = [root_task_id]
    # Members of a group sent from outside any task have no parent to be found by.
    groups = {group_id} if group_id else set()
    groups_seen: set[str] = set()
    while (parents or groups) and len(found) < limit:
        condition: ColumnElement[bool] = executions.c.parent_id.in_(parents)
        if groups:
            condition = or_(condition, executions.c.group_id.in_(sorted(groups)))
        groups_seen |= groups
        level = connection.execute(
            select(*execution_record).where(condition).order_by(executions.c.id).limit(limit)
        )
        parents = []
        for row in level:
            if row.task_id not in found and len(found) < limit:
                found[row.task_id] = Execution(**row._mapping)
                parents.append(row.task_id)
        groups = {g for task_id in parents if (g := found[task_id].group_id)} - groups_seen
    return list(found.values())


def get_timeline(connection: Connection, task_id: str) -> list[TimelineEntry]:
    rows = connection.execute(
        select(execution_events)
        .where(execution_events.c.task_id == task_id)
        .order_by(execution_events.c.at, execution_events.c.id)
    )
    entries = [TimelineEntry(**row._mapping) for row in rows]
    execution = connection.execute(
        select(*(executions.c[name] for name in _ROW_STEPS_COLUMNS)).where(
            executions.c.task_id == task_id
        )
    ).first()
    if execution is None:
        return entries
    stored = {entry.event for entry in entries}
    if PUBLISHED not in stored and execution.published_at is not None:
        # Before any entry at the same time: it is the step that comes first.
        published = _published_entry(task_id, execution)
        entries.insert(bisect_left(entries, published.at, key=_at), published)
    if execution.status == SUCCESS and SUCCEEDED not in stored:
        for step in _run_entries(task_id, execution, received="received" not in stored):
            entries.insert(bisect_right(entries, step.at, key=_at), step)
    return entries


#: The timeline's first step: the message on the broker.
PUBLISHED = "published"
SUCCEEDED = "succeeded"

_ROW_STEPS_COLUMNS = (
    "published_at",
    "queue",
    "eta",
    "status",
    "received_at",
    "started_at",
    "completed_at",
    "worker_id",
    "pid",
)


def _published_entry(task_id: str, row: Any) -> TimelineEntry:
    """The ``published`` step, from the execution's own row.

    A producer does not store it on the timeline: everything it says (when, to which queue,
    for when) is in the row already, and a producer writing one row per message instead of
    two publishes faster. Timelines written before that, or by an older producer, hold it.
    """
    details: dict[str, Any] = {"attempt": 1, "status": PENDING, "queue": row.queue}
    if row.eta is not None:
        details["eta"] = row.eta.isoformat()
    return TimelineEntry(0, task_id, PUBLISHED, row.published_at, None, json.dumps(details))


def _run_entries(task_id: str, row: Any, received: bool) -> list[TimelineEntry]:
    """The receipt, start and success of a first attempt, from the execution's own row.

    A worker that runs a task and sees it succeed at its first attempt before its next
    write stores none of the three (``celery_ops.recording.folding``): the row holds when
    each happened, on which worker and in which process, and most tasks are such tasks.
    """

    def step(event: str, at: datetime | None, **details: Any) -> list[TimelineEntry]:
        if at is None:
            return []
        text = json.dumps({"attempt": 1, **details})
        return [TimelineEntry(0, task_id, event, at, row.worker_id, text)]

    return [
        *(step("received", row.received_at, status=RECEIVED) if received else []),
        *step("started", row.started_at, status=STARTED, pid=row.pid),
        *step(SUCCEEDED, row.completed_at, status=SUCCESS),
    ]


def _at(entry: TimelineEntry) -> datetime:
    return entry.at


def get_worker(connection: Connection, hostname: str) -> WorkerRecord | None:
    row = connection.execute(select(workers).where(workers.c.hostname == hostname)).first()
    return _worker(row._mapping) if row is not None else None


def list_workers(connection: Connection) -> list[WorkerRecord]:
    """Every worker the store knows, online ones first, then by hostname."""
    online_first = (workers.c.status != "online", workers.c.hostname)
    return [
        _worker(row._mapping) for row in connection.execute(select(workers).order_by(*online_first))
    ]


def _worker(row: RowMapping) -> WorkerRecord:
    values = dict(row)
    values["queues"] = tuple(_json(values.get("queues"), []))
    values["versions"] = dict(_json(values.get("versions"), {}))
    values["tasks_processed"] = values.get("tasks_processed") or 0
    values["events_dropped"] = values.get("events_dropped") or 0
    return WorkerRecord(**values)


def _json(text: str | None, empty: Any) -> Any:
    """A JSON column only celery-ops writes; anything unreadable is empty."""
    if not text:
        return empty
    try:
        value = json.loads(text)
    except ValueError:
        return empty
    return value if isinstance(value, type(empty)) else empty


def count_executions(connection: Connection, where: ExecutionFilter, cap: int | None) -> int:
    """How many executions match, counting at most ``cap`` (a bounded scan, never a full
    COUNT(*) of a big table): ``cap`` means "that many or more". Without a cap (a purge
    that shows its progress), every match is counted."""
    condition = filter_condition(where, connection.dialect.name)
    if cap is None:
        total = select(func.count()).select_from(executions).where(condition)
        return int(connection.execute(total).scalar_one())
    # Newest first, though a count has no order: with LIMIT alone, PostgreSQL may plan a
    # sequential scan that expects matches spread evenly, and read 10 million old rows
    # before the last day's (2 s instead of 10 ms for "SUCCESS in the last day").
    newest = select(executions.c.id).where(condition).order_by(executions.c.id.desc())
    inner = newest.limit(cap).subquery()
    return int(connection.execute(select(func.count()).select_from(inner)).scalar_one())


def list_executions(
    connection: Connection,
    where: ExecutionFilter,
    limit: int,
    before_id: int | None,
    order: str = "newest",
) -> list[Execution]:
    """``limit`` executions matching ``where`` in ``order``. Newest first pages below row id
    ``before_id`` (keyset paging, never OFFSET or COUNT(*)); the other orders sort the
    newest :data:`SORTED_WINDOW` matches and have one page."""
    condition = filter_condition(where, connection.dialect.name, LISTED_MATCHES)
    column = executions.c
    if order == "newest":
        query = select(*execution_record).where(condition).order_by(column.id.desc()).limit(limit)
        if before_id is not None:
            query = query.where(column.id < before_id)
        return [Execution(**row._mapping) for row in connection.execute(query)]
    if order not in LIST_ORDERS:
        raise ValueError(f"unknown order {order!r}")
    window = (
        select(column.id)
        .where(condition)
        .order_by(column.id.desc())
        .limit(SORTED_WINDOW)
        .subquery()
    )
    key = column.status_at if order == "changed" else column.execution_time_ms
    query = (
        select(*execution_record)
        .where(column.id.in_(select(window.c.id)))
        # NULLs last on every backend: CASE first, as MariaDB has no NULLS LAST.
        .order_by(case((key.is_(None), 1), else_=0), key.desc(), column.id.desc())
        .limit(limit)
    )
    return [Execution(**row._mapping) for row in connection.execute(query)]


def execution_versions(
    connection: Connection, task_ids: list[str]
) -> list[tuple[str, str | None, datetime | None, datetime | None]]:
    """What says whether each of ``task_ids`` changed: status, its time, the progress time."""
    column = executions.c
    rows = connection.execute(
        select(column.task_id, column.status, column.status_at, column.progress_at)
        .where(column.task_id.in_(task_ids))
        .order_by(column.task_id)
    )
    return [(row.task_id, row.status, row.status_at, row.progress_at) for row in rows]


def newest_id(connection: Connection, where: ExecutionFilter) -> int | None:
    """The row id of the newest execution matching ``where``."""
    condition = filter_condition(where, connection.dialect.name, LISTED_MATCHES)
    query = select(executions.c.id).where(condition).order_by(executions.c.id.desc()).limit(1)
    return connection.execute(query).scalar()


def estimate_executions(
    connection: Connection, where: ExecutionFilter, exact_up_to: int
) -> int | None:
    """How many executions match: exactly up to ``exact_up_to``, beyond it the planner's
    estimate (PostgreSQL, MariaDB; never a full count), None where there is none (SQLite)."""
    counted = count_executions(connection, where, exact_up_to + 1)
    if counted <= exact_up_to:
        return counted
    dialect = connection.dialect.name
    if dialect not in ("postgresql", "mysql", "mariadb"):
        return None
    statement = select(executions.c.id).where(filter_condition(where, dialect))
    # Values written into the text (EXPLAIN takes no parameters through every driver),
    # quoted by SQLAlchemy; a "%" would read as a placeholder to some drivers: no estimate.
    sql = str(statement.compile(connection, compile_kwargs={"literal_binds": True}))
    if "%" in sql:
        return None
    if dialect == "postgresql":
        plan: Any = connection.exec_driver_sql(f"EXPLAIN (FORMAT JSON) {sql}").scalar_one()
        estimate = plan[0]["Plan"]["Plan Rows"]
    else:
        rows = connection.exec_driver_sql(f"EXPLAIN {sql}")
        estimate = max((int(row._mapping["rows"] or 0) for row in rows), default=0)
    return max(int(estimate), exact_up_to + 1)


def filter_condition(
    where: ExecutionFilter, dialect: str, newest_matches: int | None = None
) -> ColumnElement[bool]:
    """``where`` as one SQL condition on celery_ops_executions. ``newest_matches`` bounds
    the text search to that many of its newest matches, where the backend can tell them."""
    column = executions.c
    conditions: list[ColumnElement[bool]] = []
    if where.statuses:
        conditions.append(column.status.in_(list(where.statuses)))
    for value, target in (
        (where.task_name, column.task_name),
        (where.queue, column.queue),
        (where.worker_id, column.worker_id),
        (where.schedule_name, column.schedule_name),
        (where.tenant_id, column.tenant_id),
        (where.parent_id, column.parent_id),
        (where.group_id, column.group_id),
        (where.retried_from, column.retried_from),
        (where.error_type, column.error_type),
        (where.batch_id, column.batch_id),
    ):
        if value is not None:
            conditions.append(target == value)
    if where.since is not None:
        conditions.append(column.status_at >= where.since)
    if where.until is not None:
        conditions.append(column.status_at < where.until)
    if where.task_ids is not None:
        conditions.append(column.task_id.in_(list(where.task_ids)))
    if where.search:
        conditions.append(column.task_id.in_(_search(where.search, dialect, newest_matches)))
    if where.dead:
        conditions.extend(dead_set())
    return and_(true(), *conditions)


def dead_set() -> list[ColumnElement[bool]]:
    """The dead set: final failures (FAILURE comes after the last retry) that no execution
    retried (``retried_from``, indexed) and no operator discarded."""
    retry = executions.alias("retry")
    return [
        executions.c.status == FAILURE,
        ~exists().where(retry.c.retried_from == executions.c.task_id),
        ~exists().where(discarded.c.task_id == executions.c.task_id),
    ]


#: A list filtered by text looks at this many of the newest matches (on SQLite).
LISTED_MATCHES = 10_000

#: The text search configuration of the PostgreSQL search index (no stemming, no stop words).
WORDS: ColumnElement[Any] = literal_column("'simple'::regconfig")
#: PostgreSQL's parser keeps "invoice-4711" or "a.b@c.d" as one token (or "-4711" as a
#: number): these characters become spaces first, so that each part is a word of its own.
SPLIT_AT: tuple[ColumnElement[Any], ColumnElement[Any]] = (
    literal_column("'-+/._@:'"),
    literal_column("'       '"),
)


def _search(text: str, dialect: str, newest_matches: int | None) -> Select[Any]:
    """Task ids whose shown arguments contain ``text``, through each backend's index."""
    found = select(search_text.c.task_id)
    if dialect == "postgresql":
        # The words of ``text`` in that order, through the GIN index on the same expression
        # (migration 0005): the two sides split words at the same characters.
        indexed = func.to_tsvector(WORDS, func.translate(search_text.c.text, *SPLIT_AT))
        wanted = func.phraseto_tsquery(WORDS, func.translate(text, *SPLIT_AT))
        return found.where(indexed.op("@@")(wanted))
    if dialect == "sqlite":
        # A quoted phrase: the trigram tokenizer matches it anywhere in the text.
        phrase = '"' + text.replace('"', '""') + '"'
        matching: Select[Any] = (
            select(literal_column("rowid"))
            .select_from(table("celery_ops_search_fts"))
            .where(literal_column("celery_ops_search_fts").op("MATCH")(phrase))
        )
        if newest_matches is not None:
            # FTS5 walks its rowids (the order texts were written) backwards and stops: a
            # text in 200,000 rows no longer makes the list gather them all first.
            matching = matching.order_by(literal_column("rowid").desc()).limit(newest_matches)
        return found.where(literal_column("celery_ops_search.rowid").in_(matching))
    # MariaDB/MySQL FULLTEXT matches words: the text as one phrase of them.
    phrase = '"' + text.replace('"', " ") + '"'
    return found.where(search_text.c.text.match(phrase))


def failure_groups(
    connection: Connection, since: datetime, limit: int, sample: int
) -> list[FailureGroup]:
    """The latest ``sample`` failures since ``since``, grouped by task and exception type,
    latest group first. The sample bounds the work on a store with millions of failures."""
    column = executions.c
    latest = (
        select(column.task_name, column.error_type, column.status_at, column.error_message)
        .where(column.status == "FAILURE", column.status_at >= since)
        .order_by(column.status_at.desc())
        .limit(sample)
        .subquery()
    )
    last_seen = func.max(latest.c.status_at)
    query = (
        select(
            latest.c.task_name,
            latest.c.error_type,
            func.count().label("count"),
            func.min(latest.c.status_at).label("first_seen"),
            last_seen.label("last_seen"),
            func.min(latest.c.error_message).label("sample"),
        )
        .group_by(latest.c.task_name, latest.c.error_type)
        .order_by(last_seen.desc())
        .limit(limit)
    )
    return [FailureGroup(**row._mapping) for row in connection.execute(query)]


def recent_counts(
    connection: Connection, since: datetime, statuses: tuple[str, ...], sample: int
) -> dict[str, dict[str, int]]:
    """Task name -> status -> how many of the latest ``sample`` executions of that status
    since ``since`` it has. Each status is read newest first along its index and stops at
    the sample, so the cost is bounded whatever the traffic."""
    column = executions.c
    latest = [
        select(column.task_name, column.status)
        .where(column.status == status, column.status_at >= since)
        .order_by(column.status_at.desc())
        .limit(sample)
        .subquery()
        for status in statuses
    ]
    counts: dict[str, dict[str, int]] = {}
    for rows in latest:
        query = select(rows.c.task_name, rows.c.status, func.count()).group_by(
            rows.c.task_name, rows.c.status
        )
        for row in connection.execute(query):
            counts.setdefault(str(row[0]), {})[str(row[1])] = int(row[2])
    return counts


def count_by_status(connection: Connection, statuses: tuple[str, ...], cap: int) -> dict[str, int]:
    """Executions of each status whatever their age, each count stopping at ``cap``: read
    newest first along the (status, status_at) index, never a scan of the table."""
    column = executions.c
    found = {}
    for status in statuses:
        # Only the indexed columns: PostgreSQL can count from the index alone.
        newest = (
            select(column.status_at)
            .where(column.status == status)
            .order_by(column.status_at.desc())
            .limit(cap)
            .subquery()
        )
        found[status] = int(
            connection.execute(select(func.count()).select_from(newest)).scalar_one()
        )
    return found


def longest_running(connection: Connection, limit: int) -> list[Execution]:
    """The STARTED executions that started longest ago (along the (status, status_at) index:
    a STARTED row's status_at is its start)."""
    column = executions.c
    query = (
        select(*execution_record)
        .where(column.status == STARTED)
        .order_by(column.status_at)
        .limit(limit)
    )
    return [Execution(**row._mapping) for row in connection.execute(query)]


def list_definitions(connection: Connection) -> list[TaskDefinition]:
    query = select(definitions).order_by(definitions.c.name)
    found = []
    for row in connection.execute(query):
        values = dict(row._mapping)
        values.pop("id")
        values["workers"] = tuple(_json(values.get("workers"), []))
        found.append(TaskDefinition(**values))
    return found


def known_task_names(connection: Connection) -> set[str]:
    """Task names some worker has registered."""
    return set(connection.execute(select(definitions.c.name)).scalars())

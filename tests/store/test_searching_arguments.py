"""Search by argument text: served by each backend's index, on the shown (masked) form only."""

from __future__ import annotations

import time

import pytest
from sqlalchemy import func, select

from celery_ops.core.filters import ExecutionFilter
from celery_ops.recording.events import ExecutionEvent
from celery_ops.recording.folding import fold_events
from celery_ops.recording.payload import Arguments
from celery_ops.store import Store
from celery_ops.store.models import executions, search_text
from celery_ops.store.queries import filter_condition


def published(
    task_id: str, args: tuple, kwargs: dict, argsrepr: str | None = None
) -> ExecutionEvent:
    return ExecutionEvent(
        task_id,
        "published",
        time.time(),
        "PENDING",
        1,
        values={"task_name": "proj.echo"},
        arguments=Arguments(args, kwargs, argsrepr, None),
    )


@pytest.fixture
def searchable(store: Store) -> Store:
    events = [
        published("invoice", ("invoice-4711 for ACME",), {"customer": "Zoë"}),
        published("percent", ("other",), {"note": "100% _done_"}),
        published("card", ("4111111111111111",), {}, argsrepr="('****1111',)"),
    ]
    store.write(fold_events(events, 65_536, True))
    return store


def found(store: Store, text: str) -> list[str]:
    return sorted(row.task_id for row in store.executions(ExecutionFilter(search=text), 10))


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("4711", ["invoice"]),
        ("acme", ["invoice"]),
        ("Zoë", ["invoice"]),
        ("100%", ["percent"]),
        ("_done_", ["percent"]),
        ("nothing like it", []),
        ("' OR '1'='1", []),
    ],
)
def test_text_anywhere_in_the_arguments_is_found(
    searchable: Store, text: str, expected: list[str]
) -> None:
    assert found(searchable, text) == expected


def test_masked_arguments_are_searched_as_shown_never_as_sent(searchable: Store) -> None:
    assert found(searchable, "4111111111") == []
    assert found(searchable, "1111") == ["card"]


def test_search_combines_with_the_other_filters(searchable: Store) -> None:
    rows = searchable.executions(ExecutionFilter(search="4711", statuses=("SUCCESS",)), 10)
    assert rows == []


def test_purged_executions_leave_nothing_searchable_behind(searchable: Store) -> None:
    assert searchable.purge(ExecutionFilter(task_ids=("invoice",))) == 1
    assert found(searchable, "4711") == []
    with searchable.engine.connect() as connection:
        left = connection.execute(select(func.count()).select_from(search_text)).scalar_one()
    assert left == 2


def test_postgresql_searches_through_its_index(searchable: Store) -> None:
    if searchable.engine.dialect.name != "postgresql":
        pytest.skip("the words index is PostgreSQL's")
    where = filter_condition(ExecutionFilter(search="invoice-4711"), "postgresql")
    statement = select(executions.c.id).where(where)
    with searchable.engine.connect() as connection:
        connection.exec_driver_sql("SET enable_seqscan = off")  # the table is tiny here
        sql = statement.compile(connection, compile_kwargs={"literal_binds": True})
        plan = connection.exec_driver_sql(f"EXPLAIN {sql}").scalars().all()
    assert any("ix_celery_ops_search_text_words" in line for line in plan), plan


def test_executions_without_arguments_add_nothing_to_search(store: Store) -> None:
    events = [published("none", (), {}), published("some", ("needle",), {})]
    store.write(fold_events(events, 65_536, True))
    with store.engine.connect() as connection:
        indexed = connection.execute(select(search_text.c.task_id)).scalars().all()
    assert indexed == ["some"]
    assert found(store, "needle") == ["some"]

"""The store folds lifecycle events into one row per task id, whatever order they arrive in."""

from __future__ import annotations

import json
import time

import pytest
from sqlalchemy import func, select

from celery_ops.core.clock import utcnow
from celery_ops.core.lifecycle import FINAL_ATTEMPT
from celery_ops.recording.events import ExecutionEvent, WorkerReport
from celery_ops.recording.folding import fold_events
from celery_ops.recording.payload import Arguments
from celery_ops.recording.progress import progress_values
from celery_ops.store import RecordBatch, Store
from celery_ops.store.models import execution_events


def write(store: Store, *events: ExecutionEvent) -> None:
    store.write(fold_events(events, 65_536, True))


def event(
    task_id: str,
    name: str,
    status: str | None,
    attempt: int = 1,
    at: float | None = None,
    **values: object,
) -> ExecutionEvent:
    return ExecutionEvent(task_id, name, at or time.time(), status, attempt, values=dict(values))


class TestOneRowPerTaskId:
    def test_a_published_task_is_visible_as_pending(self, store: Store) -> None:
        published = event("t1", "published", "PENDING", task_name="app.add", queue="celery")
        published.arguments = Arguments((1, 2), {"z": "é"})
        write(store, published)
        row = store.execution("t1")
        assert row is not None
        assert (row.status, row.task_name, row.queue) == ("PENDING", "app.add", "celery")
        assert row.args == "[1, 2]" and row.kwargs == '{"z": "é"}'
        assert row.message_args == "[1, 2]"

    def test_each_batch_upserts_the_same_row(self, store: Store) -> None:
        write(store, event("t1", "published", "PENDING", task_name="app.add"))
        write(store, event("t1", "received", "RECEIVED", worker_id="w@h"))
        write(store, event("t1", "started", "STARTED", attempts=1, pid=42))
        write(store, event("t1", "succeeded", "SUCCESS"))
        row = store.execution("t1")
        assert row is not None
        assert (row.status, row.attempts, row.pid, row.worker_id) == (
            "SUCCESS",
            1,
            42,
            "w@h",
        )
        assert [e.event for e in store.timeline("t1")] == [
            "published",
            "received",
            "started",
            "succeeded",
        ]

    def test_a_start_that_stands_for_the_receipt_shows_both_on_the_timeline(
        self, store: Store
    ) -> None:
        # The process that runs a task at once records its receipt with its start.
        write(store, event("t1", "published", "PENDING", at=100.0, task_name="app.add"))
        started = event("t1", "started", "STARTED", at=100.5, received_at=100.25, worker_id="w")
        started.received_at, started.worker = 100.25, "w"
        write(store, started)
        row = store.execution("t1")
        assert row is not None
        assert (row.status, row.received_at.timestamp()) == ("STARTED", 100.25)
        timeline = store.timeline("t1")
        assert [(e.event, e.at.timestamp(), e.worker) for e in timeline] == [
            ("published", 100.0, None),
            ("received", 100.25, "w"),
            ("started", 100.5, "w"),
        ]
        assert json.loads(timeline[1].details) == {"attempt": 1, "status": "RECEIVED"}

    def test_a_publish_an_older_producer_kept_on_the_timeline_shows_once(
        self, store: Store
    ) -> None:
        # Producers now leave the entry to the row; one of an older version still stores it.
        write(store, event("old", "published", "PENDING", at=100.0, published_at=100.0))
        sent = event("new", "published", "PENDING", at=100.0, published_at=100.0)
        sent.on_timeline = False
        write(store, sent)
        for task_id in ("old", "new"):
            started = event(task_id, "started", "STARTED", at=100.0)
            write(store, started)
            timeline = store.timeline(task_id)
            assert [(e.event, e.at.timestamp()) for e in timeline] == [
                ("published", 100.0),
                ("started", 100.0),
            ]

    def test_a_task_whose_publish_was_never_recorded_has_no_published_entry(
        self, store: Store
    ) -> None:
        write(store, event("orphan", "started", "STARTED", at=100.0))
        assert [e.event for e in store.timeline("orphan")] == ["started"]


def a_first_attempt(task_id: str, at: float, read_from_row: bool = True) -> list[ExecutionEvent]:
    """What a worker's pool process records of a task it receives, runs and sees succeed."""
    started = event(
        task_id, "started", "STARTED", at=at + 0.5, received_at=at + 0.25, started_at=at + 0.5
    )
    started.values.update(worker_id="w@h", pid=42, attempts=1)
    started.received_at, started.worker, started.details = at + 0.25, "w@h", {"pid": 42}
    succeeded = event(task_id, "succeeded", "SUCCESS", at=at + 1.0, completed_at=at + 1.0)
    succeeded.worker = "w@h"
    started.read_from_row = succeeded.read_from_row = read_from_row
    return [started, succeeded]


def timeline_rows(store: Store, task_id: str) -> int:
    with store.engine.connect() as connection:
        query = select(func.count()).where(execution_events.c.task_id == task_id)
        return int(connection.execute(query).scalar_one())


def steps(store: Store, task_id: str) -> list[tuple[str, float, str | None, object]]:
    return [
        (e.event, e.at.timestamp(), e.worker, json.loads(e.details or "null"))
        for e in store.timeline(task_id)
    ]


class TestAFirstAttemptThatSucceedsBeforeTheNextWrite:
    """Most tasks: their row says when they were received, started and finished, so their
    timeline is read from it, and the three entries are not stored."""

    def test_stores_no_entry_and_shows_the_same_timeline(self, store: Store) -> None:
        for task_id, read_from_row in (("stored", False), ("in-row", True)):
            sent = event(task_id, "published", "PENDING", at=100.0, published_at=100.0)
            sent.on_timeline = False  # as producers record it
            write(store, sent)
            write(store, *a_first_attempt(task_id, 100.0, read_from_row))
        assert timeline_rows(store, "stored") == 3
        assert timeline_rows(store, "in-row") == 0
        assert steps(store, "in-row") == steps(store, "stored")
        assert steps(store, "in-row") == [
            ("published", 100.0, None, {"attempt": 1, "status": "PENDING", "queue": None}),
            ("received", 100.25, "w@h", {"attempt": 1, "status": "RECEIVED"}),
            ("started", 100.5, "w@h", {"attempt": 1, "status": "STARTED", "pid": 42}),
            ("succeeded", 101.0, "w@h", {"attempt": 1, "status": "SUCCESS"}),
        ]

    def test_a_start_written_before_the_success_keeps_every_entry(self, store: Store) -> None:
        started, succeeded = a_first_attempt("t1", 100.0)
        write(store, started)
        write(store, succeeded)
        assert timeline_rows(store, "t1") == 3
        assert [step[0] for step in steps(store, "t1")] == ["received", "started", "succeeded"]

    def test_progress_reports_in_between_do_not_matter(self, store: Store) -> None:
        started, succeeded = a_first_attempt("t1", 100.0)
        write(store, started, reported("t1", 1, 2, 100.7), succeeded)
        assert timeline_rows(store, "t1") == 0
        assert [step[0] for step in steps(store, "t1")] == ["received", "started", "succeeded"]

    def test_a_step_of_its_own_in_between_keeps_every_entry(self, store: Store) -> None:
        started, succeeded = a_first_attempt("t1", 100.0)
        noted = event("t1", "throttled", None, at=100.6)
        write(store, started, noted, succeeded)
        assert [step[0] for step in steps(store, "t1")] == [
            "received",
            "started",
            "throttled",
            "succeeded",
        ]

    def test_a_later_step_is_shown_after_the_run(self, store: Store) -> None:
        write(store, *a_first_attempt("t1", 100.0))
        write(store, event("t1", "revoked", None, at=102.0))
        assert [step[0] for step in steps(store, "t1")] == [
            "received",
            "started",
            "succeeded",
            "revoked",
        ]


class TestWholeBatches:
    """A flusher writes hundreds of tasks at once, in rows of different shapes."""

    def test_a_batch_of_many_tasks_in_several_shapes_lands_row_by_row(self, store: Store) -> None:
        at = 1_700_000_000.123456
        events = []
        for n in range(300):
            task_id = f"t{n}"
            if n % 3 == 0:  # published only
                events.append(event(task_id, "published", "PENDING", at=at, task_name="app.a"))
            elif n % 3 == 1:  # started and succeeded in the same batch
                events.append(
                    event(task_id, "started", "STARTED", at=at, pid=n, attempts=1, started_at=at)
                )
                events.append(event(task_id, "succeeded", "SUCCESS", at=at + 1))
            else:  # only the timing of a run, whose status a batch before carried
                events.append(
                    ExecutionEvent(
                        task_id,
                        "finished",
                        at,
                        None,
                        1,
                        {"execution_time_ms": 2.5},
                        on_timeline=False,
                    )
                )
        store.write(fold_events(events, 65_536, True))
        published, succeeded, timed = (store.execution(t) for t in ("t0", "t1", "t2"))
        assert published is not None and succeeded is not None and timed is not None
        assert (published.status, published.task_name) == ("PENDING", "app.a")
        assert (succeeded.status, succeeded.pid, succeeded.attempts) == ("SUCCESS", 1, 1)
        assert succeeded.started_at.timestamp() == at
        assert succeeded.status_at.timestamp() == at + 1
        assert (timed.status, timed.execution_time_ms) == (None, 2.5)
        assert [e.event for e in store.timeline("t1")] == ["started", "succeeded"]
        assert store.timeline("t1")[0].at.timestamp() == at

    def test_columns_whose_values_repeat_each_other_are_each_stored_in_place(
        self, store: Store
    ) -> None:
        # PostgreSQL sends such columns once; every backend must store each in its own place.
        at = 1_700_000_000.5
        first = [
            event(f"r{n}", "published", "PENDING", at=at + n, published_at=at + n, root_id=f"r{n}")
            for n in range(3)
        ]
        write(store, *first)
        # Equal lists of different types (an int column, a float column) stay apart.
        runs = [
            event(f"r{n}", "finished", None, pid=n + 1, execution_time_ms=float(n + 1))
            for n in range(3)
        ]
        write(store, *runs)
        # The same columns, no longer equal row for row in this batch.
        later = [
            event("s0", "published", "PENDING", at=at, published_at=at, root_id="s0"),
            event("s1", "published", "PENDING", at=at, published_at=at + 9, root_id="r0"),
        ]
        write(store, *later)
        for n in range(3):
            row = store.execution(f"r{n}")
            assert row is not None
            assert row.published_at.timestamp() == row.status_at.timestamp() == at + n
            assert (row.root_id, row.pid, row.execution_time_ms) == (
                f"r{n}",
                n + 1,
                float(n + 1),
            )
            assert type(row.pid) is int and type(row.execution_time_ms) is float
        s1 = store.execution("s1")
        assert s1 is not None and s1.root_id == "r0"
        assert (s1.published_at.timestamp(), s1.status_at.timestamp()) == (at + 9, at)

    def test_times_are_stored_in_utc_whatever_the_time_zone_of_the_session(
        self, database_url: str, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        # The process's zone and the database session's zone (PGTZ for PostgreSQL).
        monkeypatch.setenv("TZ", "America/New_York")
        monkeypatch.setenv("PGTZ", "Asia/Tokyo")
        time.tzset()
        store = Store(database_url)
        try:
            store.upgrade()
            at = 1_700_000_000.5
            write(store, event("t1", "started", "STARTED", at=at, started_at=at))
            write(
                store,
                event("t2", "started", "STARTED", at=at, started_at=at),
                event("t3", "started", "STARTED", at=at),
            )
            for task_id in ("t1", "t2"):
                row = store.execution(task_id)
                assert row is not None
                assert row.started_at.timestamp() == at
                assert row.status_at.timestamp() == at
                assert store.timeline(task_id)[0].at.timestamp() == at
        finally:
            store.dispose()
            monkeypatch.undo()
            time.tzset()

    def test_values_of_unexpected_types_are_stored_as_their_column_expects(
        self, store: Store
    ) -> None:
        # Headers come from any producer: a number where a name goes, a word where a number
        # goes. Rows of the same shape share one statement, so their values must share a type.
        odd = event(
            "t1", "published", "PENDING", schedule_name=7, tenant_id={"org": 1}, priority="5"
        )
        usual = event(
            "t2", "published", "PENDING", schedule_name="nightly", tenant_id="acme", priority=3
        )
        wordy = event("t3", "published", "PENDING", priority="high")
        store.write(fold_events([odd, usual, wordy], 65_536, True))
        rows = [store.execution(task_id) for task_id in ("t1", "t2", "t3")]
        assert [(r.schedule_name, r.tenant_id, r.priority) for r in rows if r] == [
            ("7", "{'org': 1}", 5),
            ("nightly", "acme", 3),
            (None, None, None),
        ]

    def test_a_time_that_cannot_be_read_costs_only_its_own_column(self, store: Store) -> None:
        published = event("t1", "published", "PENDING", task_name="app.add", eta="not a date")
        published.arguments = Arguments((1, 2), {})
        write(store, published)
        row = store.execution("t1")
        assert row is not None
        assert (row.status, row.task_name, row.eta, row.args) == (
            "PENDING",
            "app.add",
            None,
            "[1, 2]",
        )


class TestOutOfOrderEvents:
    def test_a_late_received_does_not_undo_success(self, store: Store) -> None:
        write(
            store,
            event("t1", "started", "STARTED", attempts=1),
            event("t1", "succeeded", "SUCCESS"),
        )
        write(store, event("t1", "received", "RECEIVED", received_at=time.time(), worker_id="w"))
        row = store.execution("t1")
        assert row is not None
        assert row.status == "SUCCESS"
        # ...but it still fills what the row did not know yet.
        assert row.received_at is not None and row.worker_id == "w"

    def test_a_late_publish_does_not_undo_failure(self, store: Store) -> None:
        write(store, event("t1", "failed", "FAILURE", error_type="KeyError"))
        write(store, event("t1", "published", "PENDING", task_name="app.x"))
        row = store.execution("t1")
        assert row is not None
        assert (row.status, row.task_name, row.error_type) == (
            "FAILURE",
            "app.x",
            "KeyError",
        )

    def test_a_second_failure_report_keeps_the_first(self, store: Store) -> None:
        write(store, event("t1", "failed", "FAILURE", FINAL_ATTEMPT, error_message="first"))
        write(store, event("t1", "failed", "FAILURE", FINAL_ATTEMPT, error_message="second"))
        row = store.execution("t1")
        assert row is not None and row.error_message == "first"

    def test_retries_move_forward_attempt_by_attempt(self, store: Store) -> None:
        write(store, event("t1", "started", "STARTED", 1, attempts=1))
        write(store, event("t1", "retried", "RETRY", 1, error_type="KeyError"))
        write(store, event("t1", "started", "STARTED", 2, attempts=1))
        # The RETRY of attempt 1 arriving again late changes nothing.
        write(store, event("t1", "retried", "RETRY", 1))
        row = store.execution("t1")
        assert row is not None
        assert (row.status, row.attempts) == ("STARTED", 2)
        write(store, event("t1", "succeeded", "SUCCESS", 2))
        row = store.execution("t1")
        assert row is not None and row.status == "SUCCESS"

    def test_a_main_process_failure_ends_any_attempt(self, store: Store) -> None:
        write(store, event("t1", "started", "STARTED", 3, attempts=1))
        write(
            store, event("t1", "failed", "FAILURE", FINAL_ATTEMPT, error_type="TimeLimitExceeded")
        )
        row = store.execution("t1")
        assert row is not None and row.status == "FAILURE"


class TestLostWork:
    def _start_on(self, store: Store, hostname: str, started: float) -> None:
        store.write(fold_events([], 1, True))
        write(
            store,
            event(
                "t1",
                "started",
                "STARTED",
                1,
                at=started,
                attempts=1,
                worker_id=hostname,
                started_at=started,
            ),
        )

    def test_the_reaper_marks_work_of_a_silent_worker_lost(self, store: Store) -> None:
        long_ago = time.time() - 3600
        batch: RecordBatch = fold_events([WorkerReport("dead@h", long_ago, online=False)], 1, True)
        store.write(batch)
        self._start_on(store, "dead@h", long_ago)
        result = store.reap_lost_work(60, utcnow())
        row = store.execution("t1")
        assert row is not None
        assert row.status == "LOST" and result.executions_lost == 1
        assert "heartbeat" in row.error_message
        # Running it again (as several processes do) changes nothing more.
        assert store.reap_lost_work(60, utcnow()).executions_lost == 0

    def test_a_redelivered_task_revives_a_lost_row(self, store: Store) -> None:
        long_ago = time.time() - 3600
        store.write(fold_events([WorkerReport("dead@h", long_ago, online=False)], 1, True))
        self._start_on(store, "dead@h", long_ago)
        store.reap_lost_work(60, utcnow())
        write(store, event("t1", "received", "RECEIVED", 1, worker_id="alive@h"))
        write(store, event("t1", "started", "STARTED", 1, attempts=1, worker_id="alive@h"))
        row = store.execution("t1")
        assert row is not None
        assert (row.status, row.attempts, row.worker_id) == ("STARTED", 2, "alive@h")

    def test_a_success_after_lost_wins(self, store: Store) -> None:
        long_ago = time.time() - 3600
        store.write(fold_events([WorkerReport("slow@h", long_ago, online=False)], 1, True))
        self._start_on(store, "slow@h", long_ago)
        store.reap_lost_work(60, utcnow())
        write(store, event("t1", "succeeded", "SUCCESS", 1))
        row = store.execution("t1")
        assert row is not None and row.status == "SUCCESS"


class TestPayloads:
    def test_one_megabyte_of_arguments_is_cut_and_marked(self, store: Store) -> None:
        published = event("big", "published", "PENDING")
        published.arguments = Arguments(("x" * 1_048_576,), {})
        write(store, published)
        row = store.execution("big")
        assert row is not None
        assert len(row.args.encode()) < 70_000
        assert "[celery-ops: truncated" in row.args
        assert row.message_args is None  # too big to keep for retry, and said so by NULL

    def test_non_ascii_and_nul_survive_every_backend(self, store: Store) -> None:
        published = event("u", "published", "PENDING")
        published.arguments = Arguments(("日本語 ünïcode 🎉", "a\x00b"), {"ß": "ø"})
        write(store, published)
        row = store.execution("u")
        assert row is not None
        assert "日本語 ünïcode 🎉" in row.args and "ø" in row.kwargs


class TestTimelineDetails:
    def test_details_keep_their_types_and_unhashable_values_are_kept_too(self) -> None:
        # Equal keys of different types (1, 1.0, True) must not share a rendering.
        details = [{"n": 1}, {"n": 1.0}, {"n": True}, {"n": [1, {"a": None}]}, {"n": 1}]
        events = []
        for index, extra in enumerate(details):
            published = event(f"d{index}", "published", "PENDING")
            published.details = extra
            events.append(published)
        batch = fold_events(events, 65_536, True)
        rendered = [json.loads(row["details"]) for row in batch.timeline]
        assert [r["n"] for r in rendered] == [1, 1.0, True, [1, {"a": None}], 1]
        assert [type(r["n"]) for r in rendered] == [int, float, bool, list, int]
        assert all(r["status"] == "PENDING" and r["attempt"] == 1 for r in rendered)


class TestValuesTheDatabaseWouldRefuse:
    def test_nul_bytes_and_over_long_names_are_stored_not_refused(self, store: Store) -> None:
        write(
            store,
            event(
                "t1",
                "failed",
                "FAILURE",
                error_type="E" * 300,
                error_message="bad\x00byte",
                tenant_id="t" * 300,
                queue="q\x00",
            ),
        )
        row = store.execution("t1")
        assert row is not None
        assert len(row.tenant_id) == 255 and row.tenant_id.endswith("…")
        assert len(row.error_type) == 255
        assert row.error_message == "bad\\u0000byte" and row.queue == "q\\u0000"


def reported(
    task_id: str, current: float, total: float | None, at: float, note: str = ""
) -> ExecutionEvent:
    values = progress_values(current, total, note, at)
    return ExecutionEvent(task_id, "progress", at, None, 1, values=values, on_timeline=False)


class TestProgressReports:
    def test_the_latest_report_is_kept_whatever_order_the_reports_arrive_in(
        self, store: Store
    ) -> None:
        write(store, event("t1", "started", "STARTED", at=100.0))
        write(store, reported("t1", 40, 100, 102.0, "page 4"))
        write(store, reported("t1", 10, 100, 101.0, "page 1"))  # written late: older
        row = store.execution("t1")
        assert row is not None and row.reported_progress is not None
        progress = row.reported_progress
        assert (progress.current, progress.total, progress.note) == (40, 100, "page 4")
        assert progress.at.timestamp() == 102.0

    def test_reports_folded_in_one_batch_keep_the_latest(self, store: Store) -> None:
        write(store, reported("t1", 30, 50, 103.0), reported("t1", 20, 50, 102.0, "older"))
        progress = store.execution("t1").reported_progress
        assert (progress.current, progress.total, progress.note) == (30, 50, None)

    def test_the_last_report_stays_when_the_task_ends(self, store: Store) -> None:
        write(store, event("t1", "started", "STARTED", at=100.0), reported("t1", 1, 3, 100.5))
        done = event("t1", "succeeded", "SUCCESS", at=104.0)
        done.values.update(progress_values(3, 3, "done", 103.9))
        write(store, done)
        write(store, reported("t1", 2, 3, 102.0))  # handed over before the end, written after
        row = store.execution("t1")
        assert row.status == "SUCCESS"
        assert (row.reported_progress.current, row.reported_progress.note) == (3, "done")

    def test_a_report_without_a_total_or_a_note(self, store: Store) -> None:
        write(store, reported("t1", 7, None, 100.0, "a note"), reported("t1", 9, None, 101.0))
        progress = store.execution("t1").reported_progress
        assert (progress.current, progress.total, progress.note, progress.fraction) == (
            9,
            None,
            None,
            None,
        )
        assert progress.as_dict()["current"] == 9 and isinstance(progress.as_dict()["current"], int)

    def test_a_task_that_reports_nothing_has_no_progress(self, store: Store) -> None:
        write(store, event("t1", "succeeded", "SUCCESS"))
        assert store.execution("t1").reported_progress is None
        assert store.execution("t1").shown()["progress"] is None

"""Batches with real workers: on_failure at the first member failing for good, on_success
when every member succeeded (retries included), on_finish when every member ended, each sent
exactly once; members a member adds keep the batch open; cancel revokes what waits."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable

import pytest
from helpers.dashboard_client import Dashboard
from helpers.services import REDIS_BROKER, require
from helpers.waiting import wait_for
from integration.conftest import ExternalApp

import celery_ops
from celery_ops.core.filters import ExecutionFilter

pytestmark = pytest.mark.slow


def callbacks_sent(external: ExternalApp, name: str) -> Counter[str]:
    """How many times each callback of batch ``name`` ran (callback tasks in the store)."""
    external.ops.recorder.flush(timeout=10)
    rows = external.ops.store.executions(ExecutionFilter(task_name="extapp.batch_callback"), 100)
    sent: Counter[str] = Counter()
    for row in rows:
        shown = row.args or ""
        if name in shown:
            sent.update(kind for kind in ("success", "failure", "finish") if kind in shown)
    return sent


def send(external: ExternalApp, name: str, members: list, **options: object) -> celery_ops.Batch:
    callback = external.module.batch_callback
    return celery_ops.batch(
        members,
        name=name,
        on_success=callback.si("success", name),
        on_failure=callback.si("failure", name),
        on_finish=callback.si("finish", name),
        **options,
    )


def finished(external: ExternalApp, batch: celery_ops.Batch) -> None:
    def done() -> bool:
        record = external.ops.store.task_batches.get(batch.id)
        return record is not None and record.finish_sent_at is not None

    wait_for(done, 90, "the batch to finish")


def test_three_failing_for_good_send_on_failure_and_on_finish_once(
    three_workers: ExternalApp,
) -> None:
    member = three_workers.module.batch_member
    members = [member.s(n, fails=3 if n in (7, 19, 41) else 0) for n in range(50)]
    batch = send(three_workers, "mixed", members, allow_failures=True)
    finished(three_workers, batch)
    wait_for(lambda: callbacks_sent(three_workers, "mixed")["finish"] == 1, 30, "on_finish to run")
    sent = callbacks_sent(three_workers, "mixed")
    assert sent == Counter({"failure": 1, "finish": 1})
    progress = batch.progress()
    assert (progress.total, progress.failed, progress.succeeded) == (50, 3, 47)


def test_all_succeeding_after_retries_send_on_success_and_on_finish_once(
    three_workers: ExternalApp,
) -> None:
    member = three_workers.module.batch_member
    members = [member.s(n, fails=1 if n % 5 == 0 else 0) for n in range(50)]
    batch = send(three_workers, "clean", members)
    finished(three_workers, batch)
    wait_for(lambda: callbacks_sent(three_workers, "clean")["finish"] == 1, 30, "on_finish to run")
    assert callbacks_sent(three_workers, "clean") == Counter({"success": 1, "finish": 1})
    rows = three_workers.ops.store.executions(ExecutionFilter(batch_id=batch.id), 100)
    assert len(rows) == 50 and {row.status for row in rows} == {"SUCCESS"}
    assert max(row.attempts for row in rows) == 2  # some succeeded on a retry


def test_members_added_by_a_member_keep_the_batch_open(three_workers: ExternalApp) -> None:
    member = three_workers.module.batch_member
    batch = send(three_workers, "growing", [member.s(1, adds=3), member.s(2)])
    finished(three_workers, batch)
    assert batch.progress().total == 5
    rows = three_workers.ops.store.executions(ExecutionFilter(batch_id=batch.id), 100)
    assert len(rows) == 5 and {row.status for row in rows} == {"SUCCESS"}
    wait_for(lambda: callbacks_sent(three_workers, "growing")["finish"] == 1, 30, "on_finish")
    assert callbacks_sent(three_workers, "growing") == Counter({"success": 1, "finish": 1})


def test_the_api_shows_it_and_cancel_revokes_what_waits(
    external_app: Callable[..., ExternalApp], new_database
) -> None:
    require("redis")
    external = external_app(REDIS_BROKER, new_database("postgresql"))
    web = Dashboard(external)
    member = external.module.batch_member
    batch = send(external, "waiting", [member.s(n) for n in range(5)])  # no worker: they wait
    external.ops.recorder.flush(timeout=10)
    shown = web.api("GET", f"/api/batches/{batch.id}", role="viewer").json
    assert (shown["total"], shown["state"], len(shown["members"])) == (5, "running", 5)
    cancelled = web.api("POST", f"/api/batches/{batch.id}/cancel")
    assert cancelled.status_code == 200 and cancelled.json["revoked"] == 5
    assert web.api("GET", f"/api/batches/{batch.id}", role="viewer").json["state"] == "cancelled"
    listed = web.api("GET", "/api/batches", role="viewer").json["items"]
    assert [item["id"] for item in listed] == [batch.id]
    page = web.signed_in("viewer").get(f"/batches/view/{batch.id}")
    assert page.status_code == 200 and "batch-progress" in page.text

"""Retry, cancel and purge of many executions: everything sent, one write of the record at the
end, counts of what was done and refused, one audit row, in the background when long."""

from __future__ import annotations

import time

import pytest
from helpers.door_app import DoorApp
from helpers.waiting import wait_for

from celery_ops.core.filters import ExecutionFilter
from celery_ops.operations import VIEWER
from celery_ops.operations.jobs import Accepted


def finished(door_app: DoorApp, accepted: Accepted) -> dict:
    """The job's result once it ended (waiting for it when it went to the background)."""
    executions = door_app.door().executions
    job = accepted.finished or wait_for(
        lambda: (job := executions.job(accepted.job_id)).status in ("done", "failed") and job,
        30,
        "the job to end",
    )
    assert job.status == "done", job.result
    return dict(job.result)


class TestRetryingMany:
    def test_every_failure_a_filter_matches_is_resent_and_recorded_with_its_origin(
        self, door_app: DoorApp
    ) -> None:
        failed = door_app.seed(300)
        door_app.seed(5, status="SUCCESS")
        accepted = door_app.door().executions.retry_many({"filter": {"status": "FAILURE"}})
        result = finished(door_app, accepted)
        assert (result["retried"], result["matched"], result["refused"]) == (300, 300, 0)
        assert door_app.queued() == 300
        retries = door_app.ops.store.executions(ExecutionFilter(statuses=("PENDING",)), 500)
        assert sorted(row.retried_from for row in retries) == sorted(failed)
        assert {row.message_args for row in retries} == {f"[{i}, 1]" for i in range(300)}

    def test_one_audit_row_carries_the_counts(self, door_app: DoorApp) -> None:
        door_app.seed(20)
        finished(door_app, door_app.door().executions.retry_many({"filter": {"status": "FAILURE"}}))
        [entry] = [e for e in door_app.audit() if e.action == "retry-many"]
        assert (entry.actor, entry.outcome) == ("operator-user", "ok")
        assert entry.targets["filter"] == {"statuses": ["FAILURE"]}
        assert (entry.targets["retried"], entry.targets["matched"]) == (20, 20)

    def test_what_cannot_be_resent_exactly_is_refused_and_counted(self, door_app: DoorApp) -> None:
        door_app.seed(3)
        door_app.seed(2, keep_arguments=False)
        accepted = door_app.door().executions.retry_many({"filter": {"status": "FAILURE"}})
        result = finished(door_app, accepted)
        assert (result["retried"], result["refused"]) == (3, 2)
        assert "were not kept" in result["errors"][0]
        assert door_app.audit()[-1].outcome == "partial"

    def test_selected_ids_that_do_not_exist_are_refused_by_name(self, door_app: DoorApp) -> None:
        [known] = door_app.seed(1)
        accepted = door_app.door().executions.retry_many({"task_ids": [known, "ghost"]})
        result = finished(door_app, accepted)
        assert (result["retried"], result["refused"]) == (1, 1)
        assert result["errors"] == ["no execution with task id 'ghost'"]

    def test_a_long_one_goes_to_the_background_and_says_how_far_it_got(
        self, door_app: DoorApp
    ) -> None:
        door_app.ops.services.jobs.inline_seconds = 0
        door_app.seed(50)
        accepted = door_app.door().executions.retry_many({"filter": {"status": "FAILURE"}})
        assert accepted.finished is None
        assert door_app.door(VIEWER).executions.job(accepted.job_id).action == "retry-many"
        assert finished(door_app, accepted)["retried"] == 50
        job = door_app.door().executions.job(accepted.job_id)
        assert (job.done, job.total) == (50, 50)
        entry = [e for e in door_app.audit() if e.action == "retry-many"][-1]
        assert entry.outcome == "ok"  # written as "accepted", completed when the job ended

    def test_a_viewer_is_refused_before_anything_starts(self, door_app: DoorApp) -> None:
        door_app.seed(2)
        with pytest.raises(Exception, match="needs the operator role"):
            door_app.door(VIEWER).executions.retry_many({"filter": {"status": "FAILURE"}})
        assert door_app.queued() == 0
        assert [(e.action, e.outcome) for e in door_app.audit()] == [("retry-many", "denied")]


class TestCancellingMany:
    def test_waiting_ones_are_revoked_and_finished_ones_refused(self, door_app: DoorApp) -> None:
        door_app.seed(4, status="PENDING")
        door_app.seed(2, status="SUCCESS")
        accepted = door_app.door().executions.cancel_many({"filter": {"task": "door.add"}})
        result = finished(door_app, accepted)
        assert (result["cancelled"], result["refused"]) == (4, 2)
        assert "already ended (SUCCESS)" in result["errors"][0]

    def test_running_ones_are_refused_unless_termination_is_asked(self, door_app: DoorApp) -> None:
        ids = door_app.seed(3, status="STARTED")
        executions = door_app.door().executions
        refused = finished(door_app, executions.cancel_many({"task_ids": ids}))
        assert (refused["cancelled"], refused["refused"]) == (0, 3)
        done = finished(door_app, executions.cancel_many({"task_ids": ids}, terminate=True))
        assert (done["cancelled"], done["terminated"]) == (3, 3)
        assert [e.action for e in door_app.audit()] == ["cancel-many", "terminate-many"]


class TestPurgingMany:
    def test_a_selection_is_deleted_with_its_timeline(self, door_app: DoorApp) -> None:
        ids = door_app.seed(3, status="SUCCESS")
        kept = door_app.seed(1, status="SUCCESS")
        result = finished(door_app, door_app.door().executions.purge({"task_ids": ids}))
        assert result["deleted"] == 3
        assert door_app.ops.store.execution(ids[0]) is None
        assert door_app.ops.store.timeline(ids[0]) == []
        assert door_app.ops.store.execution(kept[0]) is not None

    def test_by_age_and_status(self, door_app: DoorApp) -> None:
        door_app.seed(4, status="SUCCESS", at=time.time() - 3 * 86_400)
        door_app.seed(2, status="FAILURE", at=time.time() - 3 * 86_400)
        door_app.seed(1, status="SUCCESS")
        purge = {"older_than": "2d", "status": ["SUCCESS"]}
        assert finished(door_app, door_app.door().executions.purge(purge))["deleted"] == 4
        assert door_app.door().executions.count(ExecutionFilter()) == 3

"""The dead set: final failures nobody retried or discarded, listed by a filter, retried or
discarded in bulk through the door (one audit row each), discarded ones keeping their record."""

from __future__ import annotations

import pytest
from helpers.door_app import DoorApp
from operations.test_bulk_operations import finished

from celery_ops.core.errors import InvalidInput
from celery_ops.core.filters import ExecutionFilter
from celery_ops.operations import VIEWER, Denied
from celery_ops.operations.filters import parse_filter

DEAD = ExecutionFilter(dead=True)


def dead_ids(door_app: DoorApp) -> set[str]:
    return {row.task_id for row in door_app.door().executions.page(DEAD, 500).items}


class TestWhatIsDead:
    def test_final_failures_only_until_retried_or_discarded(self, door_app: DoorApp) -> None:
        failed = door_app.seed(4)
        door_app.seed(3, status="SUCCESS")
        assert dead_ids(door_app) == set(failed)
        executions = door_app.door().executions
        executions.retry(failed[0])
        door_app.ops.recorder.flush(timeout=10)
        finished(door_app, executions.discard_many({"task_ids": [failed[1]]}))
        assert dead_ids(door_app) == set(failed[2:])
        assert executions.count(DEAD) == 2

    def test_a_discarded_failure_keeps_its_record_and_says_by_whom(self, door_app: DoorApp) -> None:
        [failed] = door_app.seed(1)
        executions = door_app.door().executions
        finished(door_app, executions.discard_many({"task_ids": [failed]}))
        assert executions.get(failed).status == "FAILURE"
        discard = executions.discarded(failed)
        assert discard is not None and discard.by == "operator-user"

    def test_the_filter_reads_yes_and_no_and_refuses_the_rest(self) -> None:
        assert parse_filter({"dead": "true"}).dead is True
        assert parse_filter({"dead": True}).dead is True
        assert parse_filter({"dead": "0"}).dead is None
        with pytest.raises(InvalidInput, match="true or false"):
            parse_filter({"dead": "maybe"})


class TestActingOnIt:
    def test_everything_dead_is_discarded_in_one_job_with_one_audit_row(
        self, door_app: DoorApp
    ) -> None:
        door_app.seed(30)
        result = finished(
            door_app, door_app.door().executions.discard_many({"filter": {"dead": "true"}})
        )
        assert (result["discarded"], result["matched"]) == (30, 30)
        assert dead_ids(door_app) == set()
        [entry] = [e for e in door_app.audit() if e.action == "discard-many"]
        assert (entry.outcome, entry.targets["discarded"]) == ("ok", 30)

    def test_what_is_not_dead_is_refused_by_name(self, door_app: DoorApp) -> None:
        [succeeded] = door_app.seed(1, status="SUCCESS")
        result = finished(
            door_app, door_app.door().executions.discard_many({"task_ids": [succeeded]})
        )
        assert result["discarded"] == 0 and "not in the dead set" in result["errors"][0]

    def test_the_dead_set_is_retried_through_the_same_filter(self, door_app: DoorApp) -> None:
        failed = door_app.seed(5)
        result = finished(
            door_app, door_app.door().executions.retry_many({"filter": {"dead": True}})
        )
        assert result["retried"] == 5
        door_app.ops.recorder.flush(timeout=10)
        assert dead_ids(door_app) == set() and len(failed) == 5

    def test_a_viewer_may_look_but_not_discard(self, door_app: DoorApp) -> None:
        door_app.seed(2)
        viewer = door_app.door(VIEWER).executions
        assert viewer.count(DEAD) == 2
        with pytest.raises(Denied):
            viewer.discard_many({"filter": {"dead": True}})

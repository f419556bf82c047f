"""Limits through the door: set live (one audit row, winning over the settings), removed,
seeded from the settings only where nobody edited them, refused with a reason."""

from __future__ import annotations

import pytest
from helpers.door_app import DoorApp

from celery_ops.core.errors import InvalidInput
from celery_ops.operations import VIEWER, Denied


def test_a_live_edit_sets_one_part_and_keeps_the_other(door_app: DoorApp) -> None:
    limits = door_app.door().limits
    limits.set("door.add", {"rate": "10/s"})
    limit = limits.set("door.add", {"concurrency": 2, "key": ["x"]})
    assert limit.as_dict() == {
        "task": "door.add",
        "rate": "10/s",
        "rate_key": [],
        "concurrency": 2,
        "concurrency_key": ["x"],
    }
    assert [entry.action for entry in door_app.audit()][-2:] == ["limit-set", "limit-set"]


def test_the_settings_seed_only_what_was_not_edited_live(door_app: DoorApp) -> None:
    door_app.configure(
        rate_limits={"door.add": "5/s", "door.mul": "1/m"}, concurrency_limits={"door.mul": 1}
    )
    limits = door_app.door().limits
    assert sorted(limits.sync_config()) == ["door.add", "door.mul"]
    limits.set("door.add", {"rate": "50/s"})
    door_app.configure(rate_limits={"door.add": "7/s"}, concurrency_limits={"door.mul": 1})
    limits = door_app.door().limits
    assert limits.sync_config() == ["door.mul"]  # its rate left the settings
    shown = {limit.task_name: limit.as_dict() for limit in limits.all()}
    assert shown["door.add"]["rate"] == "50/s"  # the live edit wins
    assert (shown["door.mul"]["rate"], shown["door.mul"]["concurrency"]) == (None, 1)
    assert limits.sync_config() == []


def test_removing_ends_both_parts_and_the_settings_do_not_bring_them_back(
    door_app: DoorApp,
) -> None:
    door_app.configure(rate_limits={"door.add": "5/s"})
    limits = door_app.door().limits
    limits.sync_config()
    limits.remove("door.add")
    assert limits.all() == []
    assert limits.sync_config() == []


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({}, 'give one of "rate"'),
        ({"rate": "10/s", "concurrency": 1}, 'give one of "rate"'),
        ({"rate": "fast"}, "count per period"),
        ({"concurrency": 0}, "whole number"),
        ({"concurrency": 1, "key": "tenant"}, "list of at most"),
        ({"burst": 3}, "unknown field"),
    ],
)
def test_bad_edits_are_refused_with_why(door_app: DoorApp, change: dict, message: str) -> None:
    with pytest.raises(InvalidInput, match=message):
        door_app.door().limits.set("door.add", change)
    assert door_app.audit()[-1].outcome == "failed"


def test_a_viewer_reads_and_is_refused_an_edit(door_app: DoorApp) -> None:
    viewer = door_app.door(VIEWER).limits
    assert viewer.all() == []
    with pytest.raises(Denied):
        viewer.set("door.add", {"rate": "1/s"})

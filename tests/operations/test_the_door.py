"""The operations layer is the one door: it decides by role, validates, acts, and writes
exactly one audit row per state change, whoever asks."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from typing import Any

import pytest
from helpers.door_app import USERS, DoorApp

from celery_ops.core.errors import (
    Conflict,
    Denied,
    InvalidInput,
    NotFound,
    OperationError,
    UnknownTask,
)
from celery_ops.core.filters import ExecutionFilter
from celery_ops.operations import ADMIN, OPERATOR, VIEWER, AccountError, Actor, Operations
from celery_ops.scheduling.definition import ScheduleError, ScheduleNotFound


class TestRolesAreDecidedAtTheDoor:
    def test_a_viewer_reads_but_is_refused_a_change_and_the_refusal_is_audited(
        self, door_app: DoorApp
    ) -> None:
        viewer = door_app.door(VIEWER)
        assert viewer.executions.page(ExecutionFilter()).items == []
        with pytest.raises(Denied, match="needs the operator role"):
            viewer.executions.dispatch({"task": "door.add", "args": [1, 2]})
        [entry] = door_app.audit()
        assert (entry.actor, entry.role, entry.action, entry.outcome) == (
            "viewer-user", "viewer", "dispatch", "denied",
        )  # fmt: skip
        assert door_app.queued() == 0

    def test_someone_not_signed_in_may_do_nothing(self, door_app: DoorApp) -> None:
        anonymous = door_app.ops.operations(Actor.anonymous("10.0.0.9"))
        with pytest.raises(Denied):
            anonymous.executions.page(ExecutionFilter())
        with pytest.raises(Denied):
            anonymous.schedules.add("s", "door.add", every=5)
        [entry] = door_app.audit()
        assert (entry.actor, entry.remote_addr, entry.outcome) == (
            "anonymous:", "10.0.0.9", "denied",
        )  # fmt: skip

    def test_only_an_admin_manages_users_and_reads_the_audit_log(self, door_app: DoorApp) -> None:
        operator = door_app.door(OPERATOR)
        with pytest.raises(Denied):
            operator.accounts.add("eve", "password1", ADMIN)
        with pytest.raises(Denied):
            operator.audit.page({})
        assert door_app.door(ADMIN).audit.page({}).entries[0].action == "user-add"

    @pytest.mark.parametrize("name", ["cli:root@host", "system:reaper", "with space", ""])
    def test_a_user_name_can_never_be_one_of_the_products_actors(
        self, door_app: DoorApp, name: str
    ) -> None:
        with pytest.raises(AccountError, match="no spaces and no colon"):
            door_app.door(ADMIN).accounts.add(name, "password1", VIEWER)

    def test_the_products_own_actors_are_named_for_the_audit_log(self) -> None:
        assert Actor.cli().name.startswith("cli:") and "@" in Actor.cli().name
        assert Actor.code().name.startswith("python:")
        assert Actor.system("reaper").name == "system:reaper"
        assert not Actor.cli().is_user and Actor("alice", VIEWER).is_user


Operation = Callable[[DoorApp, Operations], Any]


def _seeded(door_app: DoorApp, **values: Any) -> str:
    return door_app.seed(1, **values)[0]


def _schedule(door_app: DoorApp) -> None:
    door_app.ops.operations(Actor.system("setup")).schedules.add("nightly", "door.add", every=60)


CHANGES: dict[str, tuple[str, Operation, Operation, type[OperationError]]] = {
    # action: (audit action, succeeds, is refused, with)
    "dispatch": (
        "dispatch",
        lambda app, door: door.executions.dispatch({"task": "door.add", "args": [1, 2]}),
        lambda app, door: door.executions.dispatch({"task": "no.such.task"}),
        UnknownTask,
    ),
    "retry": (
        "retry",
        lambda app, door: door.executions.retry(_seeded(app)),
        lambda app, door: door.executions.retry("no-such-id"),
        NotFound,
    ),
    "cancel": (
        "cancel",
        lambda app, door: door.executions.cancel(_seeded(app, status="PENDING")),
        lambda app, door: door.executions.cancel(_seeded(app, status="SUCCESS")),
        Conflict,
    ),
    "schedule-create": (
        "schedule-create",
        lambda app, door: door.schedules.add("every-5", "door.add", every=5),
        lambda app, door: door.schedules.add("bad", "door.add", cron="61 * * * *"),
        ScheduleError,
    ),
    "schedule-update": (
        "schedule-update",
        lambda app, door: (_schedule(app), door.schedules.update("nightly", every=30)),
        lambda app, door: door.schedules.update("ghost", every=30),
        ScheduleNotFound,
    ),
    "schedule-run": (
        "schedule-run",
        lambda app, door: (_schedule(app), door.schedules.run_now("nightly")),
        lambda app, door: door.schedules.run_now("ghost"),
        ScheduleNotFound,
    ),
    "schedule-delete": (
        "schedule-delete",
        lambda app, door: (_schedule(app), door.schedules.remove("nightly")),
        lambda app, door: door.schedules.remove("ghost"),
        ScheduleNotFound,
    ),
    "user-add": (
        "user-add",
        lambda app, door: door.accounts.add("dora", "password1", VIEWER),
        lambda app, door: door.accounts.add("dora", "short", VIEWER),
        AccountError,
    ),
    "purge": (
        "purge",
        lambda app, door: door.maintenance.purge({"older_than": "1s", "status": "SUCCESS"}),
        lambda app, door: door.maintenance.purge({"older_than": "soon"}),
        InvalidInput,
    ),
}


class TestEveryChangeWritesExactlyOneAuditRow:
    @pytest.mark.parametrize("name", sorted(CHANGES))
    def test_once_when_it_succeeds(self, door_app: DoorApp, name: str) -> None:
        action, succeeds, _refused, _error = CHANGES[name]
        before = len(door_app.audit())
        succeeds(door_app, door_app.door(ADMIN))
        mine = [e for e in door_app.audit()[before:] if e.actor == USERS[ADMIN].name]
        assert [(e.action, e.outcome) for e in mine] == [(action, "ok")]

    @pytest.mark.parametrize("name", sorted(CHANGES))
    def test_once_when_it_is_refused_with_the_reason(self, door_app: DoorApp, name: str) -> None:
        action, _succeeds, refused, error = CHANGES[name]
        before = len(door_app.audit())
        with pytest.raises(error) as raised:
            refused(door_app, door_app.door(ADMIN))
        mine = door_app.audit()[before:]
        assert [(e.action, e.outcome) for e in mine] == [(action, "failed")]
        assert mine[0].detail == str(raised.value)

    def test_a_retry_names_what_it_retried_and_what_it_created(self, door_app: DoorApp) -> None:
        old = _seeded(door_app)
        new = door_app.door().executions.retry(old)
        entry = door_app.audit()[-1]
        assert entry.targets == {"task_id": old, "created": new}
        assert door_app.ops.store.execution(new).retried_from == old  # written before answering

    def test_a_change_in_the_store_is_audited_in_its_own_transaction(
        self, door_app: DoorApp
    ) -> None:
        door = door_app.door()
        door.schedules.add("twice", "door.add", every=5)
        with pytest.raises(ScheduleError, match="'twice' already exists"):
            door.schedules.add("twice", "door.add", every=9)
        assert [(e.action, e.outcome) for e in door_app.audit()] == [
            ("schedule-create", "ok"),
            ("schedule-create", "failed"),
        ]
        assert door.schedules.get("twice").interval_seconds == 5

    def test_the_broker_being_down_is_said_and_audited(self, door_app: DoorApp) -> None:
        door_app.app.conf.broker_url = "redis://127.0.0.1:1/0"
        door_app.app.conf.broker_connection_timeout = 0.2
        door_app.app.conf.task_publish_retry = False
        with pytest.raises(OperationError, match="broker"):
            door_app.door().executions.dispatch({"task": "door.add"})
        assert door_app.audit()[-1].outcome == "failed"


class TestRunningAScheduleNow:
    def test_a_unique_task_whose_key_is_held_sends_nothing_and_names_the_holder(
        self, door_app: DoorApp
    ) -> None:
        @door_app.app.task(name="door.rebuild", ops_unique_for=600)
        def rebuild() -> None: ...

        door = door_app.door()
        door.schedules.add("rebuild", "door.rebuild", every=3600)
        first = door.schedules.run_now("rebuild")
        assert door.schedules.run_now("rebuild") == first
        assert door_app.queued() == 1
        runs = door.schedules.recent_runs("rebuild")
        assert [run.task_id for run in runs] == [first, first]
        assert sorted(str(run.error) for run in runs) == [
            "None",
            f"not sent: a duplicate of {first}, which holds its unique key",
        ]
        sent = [entry.targets for entry in door_app.audit() if entry.action == "schedule-run"]
        assert [[targets.get("created"), targets.get("duplicate_of")] for targets in sent] == [
            [first, None],
            [None, first],
        ]


class TestBadInputIsRefusedAtTheDoor:
    @pytest.mark.parametrize(
        ("request_", "message"),
        [
            ({"task": "door.add", "args": "nope"}, "args: is not valid JSON"),
            ({"task": "door.add", "args": {"a": 1}}, "args: must be a JSON list"),
            (
                {"task": "door.add", "countdown": float("nan")},
                "countdown: Input should be a finite",
            ),
            ({"task": "door.add", "countdown": -1}, "countdown: Input should be greater"),
            ({"task": "door.add", "priority": 256}, "priority: Input should be less"),
            ({"task": "door\x00add"}, "task: contains a NUL character"),
            ({"task": "door.add", "eta": "tomorrow"}, "eta: 'tomorrow' is not an ISO 8601 time"),
            ({"task": "door.add", "colour": "red"}, "colour: unknown field"),
            ({"task": "x" * 256}, "task: String should have at most 255 characters"),
        ],
    )
    def test_a_dispatch(self, door_app: DoorApp, request_: dict, message: str) -> None:
        with pytest.raises(InvalidInput, match=message):
            door_app.door().executions.dispatch(request_)
        assert door_app.queued() == 0

    @pytest.mark.parametrize("every", [float("inf"), float("nan"), "often", -1, 0, 1e-9, 1e308])
    def test_an_interval(self, door_app: DoorApp, every: Any) -> None:
        with pytest.raises(InvalidInput):
            door_app.door().schedules.add("bad", "door.add", every=every)
        assert not door_app.door().schedules.exists("bad")

    def test_a_selection_names_ids_or_a_filter(self, door_app: DoorApp) -> None:
        executions = door_app.door().executions
        for bad, message in [
            ({}, "give one of"),
            ({"task_ids": ["a"], "filter": {}}, "give one of"),
            ({"task_ids": []}, "select at least one"),
            ({"filter": {"stauts": "FAILURE"}}, "unknown filter stauts"),
            ({"filter": {"status": "FAILED"}}, "unknown status FAILED"),
            ({"older_than": "1d"}, "give one of"),
        ]:
            with pytest.raises(InvalidInput, match=message):
                executions.retry_many(bad)

    def test_a_purge_needs_a_condition(self, door_app: DoorApp) -> None:
        door_app.seed(3, status="SUCCESS")
        with pytest.raises(InvalidInput, match="needs at least one condition"):
            door_app.door().executions.purge({"filter": {}})
        assert door_app.door().executions.count(ExecutionFilter()) == 3


def printed_by_a_new_interpreter(code: str) -> list[str]:
    """The lines ``code`` prints in a fresh Python process (nothing imported beforehand)."""
    found = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert found.returncode == 0, found.stderr
    return found.stdout.splitlines()


class TestImportsStayLight:
    def test_the_store_loads_neither_celery_nor_beat_nor_the_web(self) -> None:
        assert printed_by_a_new_interpreter(
            "import sys, celery_ops.store, celery_ops.core.records, celery_ops.settings\n"
            "print([m for m in ('celery', 'kombu', 'flask', 'click', 'celery_ops.beat',"
            " 'celery_ops.signals', 'celery_ops.extension', 'celery_ops.scheduling')"
            " if m in sys.modules])"
        ) == ["[]"]

    def test_the_package_loads_each_exported_name_when_first_asked_for(self) -> None:
        assert printed_by_a_new_interpreter(
            "import sys, celery_ops\n"
            "before = 'celery_ops.extension' in sys.modules\n"
            "init_app = celery_ops.init_app\n"
            "print(before, 'celery_ops.extension' in sys.modules,"
            " vars(celery_ops)['init_app'] is init_app)\n"
            "try:\n"
            "    celery_ops.init_ap\n"
            "except AttributeError as exc:\n"
            "    print(exc)\n"
        ) == ["False True True", "module 'celery_ops' has no attribute 'init_ap'"]

    def test_an_actor_does_not_load_the_operations_themselves(self) -> None:
        assert printed_by_a_new_interpreter(
            "import sys\n"
            "from celery_ops.operations import Actor, OPERATOR\n"
            "print(Actor('cli:ops', OPERATOR).role,"
            " [m for m in ('celery_ops.operations.door', 'pydantic') if m in sys.modules])\n"
        ) == ["operator []"]

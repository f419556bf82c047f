"""Any schedule a user can type, through the door every front end uses: refused with a clear
error and nothing saved, or saved and then fired by beat (never a row beat cannot use)."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta, timezone

from helpers.door_app import DoorApp, door_app
from helpers.fuzzing import examples
from hypothesis import event, given, settings
from hypothesis import strategies as st

from celery_ops.core.errors import InvalidInput
from celery_ops.scheduling.firing import plan_fire

__all__ = ["door_app"]

CRON_FIELDS = st.sampled_from(
    ["*", "0", "59", "60", "*/0", "*/7", "1-5", "5-1", "mon", "L", "?", "1,2,3", "-1", "9" * 20,
     "jan", "feb-dec", "*/999999999", "0-59/15", "\x00", "٣"]
)  # fmt: skip
#: A cron expression a user means: each field from what crontab(5) allows.
SENSIBLE_CRON = st.tuples(
    st.sampled_from(["*", "0", "*/5", "15,45", "0-30/10", "59"]),
    st.sampled_from(["*", "9", "*/2", "1-5", "23"]),
    st.sampled_from(["*", "1", "15", "31", "29", "L"]),
    st.sampled_from(["*", "2", "feb", "1-6", "*/3"]),
    st.sampled_from(["*", "mon", "1-5", "0", "sat,sun"]),
).map(" ".join)
CRON = st.one_of(
    SENSIBLE_CRON,
    st.lists(CRON_FIELDS, min_size=4, max_size=7).map(" ".join),
    st.text(max_size=40),
    st.sampled_from(["@daily", "@hourly", "@reboot", "0 9 * * 1-5", "30 2 * * *"]),
)
ZONES = st.one_of(
    st.sampled_from(["UTC", "Europe/Rome", "America/New_York", "Pacific/Kiritimati",
                     "Asia/Kathmandu", "Nowhere/City", "../../etc/passwd", "", "utc"]),
    st.text(max_size=20),
)  # fmt: skip
EVERY = st.one_of(
    st.floats(0.1, 315_619_200),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from([1e-9, 0.1, 0.09, 1, 60, 315_619_200, 315_619_201, 1e308, -1]),
    st.text(max_size=10),
)
INSTANTS = st.one_of(
    st.datetimes(datetime(2000, 1, 1), datetime(2100, 1, 1), timezones=st.just(timezone.utc)),
    st.datetimes(timezones=st.sampled_from([timezone.utc, timezone(timedelta(hours=14))])),
    st.sampled_from(["0001-01-01T00:00:00+14:00", "9999-12-31T23:59:59", "1969-12-31T23:59:59Z",
                     "2030-01-01T00:00:00Z", "not a time", "2026-02-30T00:00:00"]),
)  # fmt: skip
TIMINGS = st.one_of(
    st.fixed_dictionaries({"cron": CRON}, optional={"timezone": ZONES}),
    st.fixed_dictionaries({"every": EVERY}),
    st.fixed_dictionaries({"at": INSTANTS}),
)
EXTRAS = st.fixed_dictionaries(
    {},
    optional={
        "start_at": INSTANTS,
        "end_at": INSTANTS,
        "max_runs": st.one_of(st.integers(1, 1000), st.integers(), st.sampled_from([2**40, 0])),
        "priority": st.integers(-5, 300),
        "misfire": st.sampled_from(["once", "skip", "sometimes"]),
    },
)


@settings(max_examples=examples(200))
@given(timing=TIMINGS, extras=EXTRAS)
def test_any_schedule_is_refused_clearly_or_saved_and_fired(
    door_app: DoorApp, timing: dict[str, object], extras: dict[str, object]
) -> None:
    schedules = door_app.door().schedules
    name = f"generated-{uuid.uuid4().hex[:8]}"
    try:
        schedules.add(name, "door.add", **timing, **extras)
    except InvalidInput as exc:
        event("refused")
        assert str(exc) and "Traceback" not in str(exc)
        assert not schedules.exists(name)
        return
    event(f"saved: {sorted(timing)[0]}")
    row = door_app.ops.store.schedules.get(name)
    assert row is not None and row.last_error is None
    schedules.upcoming(name, 3)  # the dashboard and `ops schedules show` can render it
    if row.next_run_at is not None:
        due = row.next_run_at
        plan = plan_fire(row, due + timedelta(seconds=1), "UTC", 60.0, lambda task: True)
        assert plan.error is None, plan.error
        assert plan.next_run_at is None or plan.next_run_at > due
    schedules.remove(name)


def test_the_bounds_themselves_are_accepted(door_app: DoorApp) -> None:
    schedules = door_app.door().schedules
    schedules.add("fastest", "door.add", every=0.1)
    schedules.add("slowest", "door.add", every=315_619_200)
    schedules.add("latest", "door.add", at=datetime(8999, 12, 31, tzinfo=timezone.utc))

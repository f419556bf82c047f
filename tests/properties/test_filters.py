"""Any query a client can send to GET /api/tasks, the executions page or a bulk action is
a filter the store runs, or a refusal that names the problem: never a crash."""

from __future__ import annotations

from helpers.door_app import DoorApp, door_app
from helpers.fuzzing import examples
from hypothesis import given, settings
from hypothesis import strategies as st

from celery_ops.core.errors import InvalidInput
from celery_ops.operations.filters import FILTER_KEYS, parse_filter

__all__ = ["door_app"]

KEYS = st.sampled_from(sorted(FILTER_KEYS | {"statuz", "cursor", ""}))
VALUES = st.one_of(
    st.text(max_size=40),
    st.sampled_from(["SUCCESS", "failure", "2026-01-01T00:00:00Z", "2026-13-01", "+14:00",
                     "9" * 30, "%", "_", "\\", "'; DROP TABLE x; --"]),
)  # fmt: skip
PARAMS = st.dictionaries(KEYS, st.one_of(VALUES, st.lists(VALUES, max_size=3)), max_size=5)


@settings(max_examples=examples(150))
@given(params=PARAMS)
def test_any_query_is_a_filter_the_store_runs_or_a_clear_refusal(
    door_app: DoorApp, params: dict[str, object]
) -> None:
    try:
        where = parse_filter(params)
    except InvalidInput as exc:
        assert str(exc)
        return
    executions = door_app.door("viewer").executions
    try:
        executions.count(where)
        executions.page(where, 10, None)
    except InvalidInput as exc:  # refused at the door (a NUL, a date out of range)
        assert str(exc)

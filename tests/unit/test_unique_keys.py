"""The key of a unique task's call: from the argument names it lists, a callable, or the
call's headers; the same call always gives the same key, a different one another."""

from __future__ import annotations

from typing import Any

import pytest

from celery_ops.core.errors import InvalidInput
from celery_ops.core.unique import unique_key


class Task:
    """A task's options as Celery keeps them (class attributes) and its ``run``."""

    def __init__(self, **options: Any) -> None:
        for name, value in options.items():
            setattr(self, name, value)

    def run(self, report_id: int, fmt: str = "pdf", *, notify: bool = False) -> None: ...


def key(task: Any, args: Any = (), kwargs: Any = None, headers: Any = None) -> Any:
    return unique_key("proj.rebuild", task, headers or {}, args, kwargs or {})


class TestWhichTasksAreUnique:
    def test_a_task_without_the_option_or_the_headers_is_not(self) -> None:
        assert key(Task(), (1,)) is None
        assert key(None, (1,)) is None

    def test_the_option_or_the_header_makes_it_so(self) -> None:
        assert key(Task(ops_unique_for=60), (1,)) is not None
        found = key(Task(), (1,), headers={"ops_unique_for": 5})
        assert found is not None and found.seconds == 5.0 and found.until == "finished"


class TestTheKey:
    def test_listed_names_pick_those_arguments_however_they_are_passed(self) -> None:
        task = Task(ops_unique_for=60, ops_unique_key=["report_id"])
        positional = key(task, (42, "csv"))
        by_name = key(task, (), {"report_id": 42, "fmt": "pdf"})
        assert positional is not None and by_name is not None
        assert positional.hash == by_name.hash
        assert positional.text == '{"report_id": 42}'
        other = key(task, (43,))
        assert other is not None and other.hash != positional.hash

    def test_without_names_every_argument_counts(self) -> None:
        task = Task(ops_unique_for=60)
        first, second = key(task, (42, "csv")), key(task, (42, "pdf"))
        assert first is not None and second is not None and first.hash != second.hash

    def test_a_callable_decides(self) -> None:
        task = Task(ops_unique_for=60, ops_unique_key=lambda args, kwargs: args[0] % 10)
        first, second = key(task, (12,)), key(task, (22,))
        assert first is not None and second is not None and first.hash == second.hash

    def test_the_header_overrides_the_option(self) -> None:
        task = Task(ops_unique_for=60, ops_unique_key=["report_id"])
        found = key(task, (1,), headers={"ops_unique_key": "nightly", "ops_unique_for": 5})
        assert found is not None and (found.text, found.seconds) == ("nightly", 5.0)


class TestOptionsThatCannotWork:
    @pytest.mark.parametrize(
        ("options", "headers", "message"),
        [
            ({}, {"ops_unique_key": "k"}, "needs ops_unique_for"),
            ({"ops_unique_for": 0}, {}, "above 0"),
            ({"ops_unique_for": float("nan")}, {}, "above 0"),
            ({"ops_unique_for": "60"}, {}, "number of seconds"),
            ({"ops_unique_for": 1e12}, {}, "ten years"),
            ({"ops_unique_for": 5, "ops_unique_until": "done"}, {}, "'started' or 'finished'"),
            ({"ops_unique_for": 5, "ops_unique_key": ["nope"]}, {}, "does not take"),
            ({"ops_unique_for": 5, "ops_unique_key": 42}, {}, "list of argument names"),
            ({"ops_unique_for": 5}, {"ops_unique_key": ""}, "non-empty text"),
            ({"ops_unique_for": 5}, {"ops_unique_key": "a\x00b"}, "non-empty text"),
        ],
    )
    def test_are_refused_with_what_to_do(
        self, options: dict[str, Any], headers: dict[str, Any], message: str
    ) -> None:
        with pytest.raises(InvalidInput, match=message):
            key(Task(**options), (1,), headers=headers)

    def test_a_failing_callable_is_named(self) -> None:
        task = Task(ops_unique_for=5, ops_unique_key=lambda args, kwargs: args[5])
        with pytest.raises(InvalidInput, match="callable failed: IndexError"):
            key(task, (1,))

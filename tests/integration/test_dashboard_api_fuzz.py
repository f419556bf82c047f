"""Schemathesis against the OpenAPI document: generated requests, one at a time and in
sequences that follow the document's links (create a schedule, then show, change, run and
delete it; send a task, then retry and cancel it), never get a 5xx, and every status they get
is one the document lists.

The suite's run is derandomized (the same requests every time: CI cannot go red by chance);
`scripts/explore.sh` runs many more, freshly random.
"""

from __future__ import annotations

import base64
from collections.abc import Callable
from typing import Any

import pytest
import schemathesis
from helpers.dashboard_client import PASSWORDS, Dashboard
from helpers.fuzzing import examples
from helpers.services import REDIS_BROKER
from hypothesis import given, settings
from hypothesis import strategies as st
from integration.conftest import ExternalApp
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import status_code_conformance

from celery_ops.core.filters import ExecutionFilter
from celery_ops.dashboard import openapi
from celery_ops.operations import Actor

#: Real worker processes, brokers or servers: not in the fast loop.
pytestmark = pytest.mark.slow

#: The operator may call every endpoint but the audit log: a viewer would stop at 403.
ROLE = "operator"
CHECKS = [not_a_server_error, status_code_conformance]
TIMINGS = ("cron", "every", "at")


@pytest.fixture
def dashboard(external_app: Callable[..., ExternalApp], new_database) -> Dashboard:
    dashboard = Dashboard(external_app(REDIS_BROKER, new_database("sqlite")))
    fresh_state(dashboard)
    return dashboard


def fresh_state(dashboard: Dashboard) -> None:
    """One schedule, no executions: where every generated sequence starts, so a sequence
    replayed (to shrink a failure) meets the same answers."""
    ops = dashboard.external.ops
    schedules = ops.operations(Actor.system("tests")).schedules
    for schedule in schedules.all():
        schedules.remove(schedule.name)
    schedules.add("existing", "extapp.add", every=3600, args=[1, 2])
    ops.store.purge(ExecutionFilter(), 1000, None)


@pytest.fixture
def schema(dashboard: Dashboard) -> Any:
    schema = schemathesis.openapi.from_dict(openapi.document())
    schema.app = dashboard.app

    @schema.hook
    def map_case(context: Any, case: Any) -> Any:
        # Every request as the operator: generated credentials would only meet the 401.
        case.headers = {**(case.headers or {}), **basic(ROLE)}
        return case

    @schema.hook
    def flatmap_body(context: Any, body: Any) -> Any:
        # Random task names are all unknown (422): also try the app's own task, and, for a
        # new schedule, a timing it accepts, so that sequences go on past the first call.
        if not isinstance(body, dict) or "task" not in body:
            return st.just(body)
        known = {**body, "task": "extapp.add"}
        variants = [body, known]
        if "name" in body:
            timing = {key: value for key, value in known.items() if key not in TIMINGS}
            variants.append({**timing, "every": 60})
        return st.sampled_from(variants)

    return schema


def basic(role: str) -> dict[str, str]:
    token = base64.b64encode(f"{role}:{PASSWORDS[role]}".encode()).decode()
    return {"Authorization": f"Basic {token}"}


def test_no_generated_request_gets_a_server_error_or_an_undocumented_status(
    schema: Any, dashboard: Dashboard
) -> None:
    failures: list[str] = []
    for result in schema.get_all_operations():
        operation = result.ok()

        @settings(max_examples=examples(25))
        @given(case=operation.as_strategy())
        def call(case: Any) -> None:
            # Each request meets the same state: hypothesis replays an example to confirm
            # a failure, and what earlier examples left (tasks sent, then cancelled, then
            # retried by the next bulk call, doubling each time) would answer differently.
            fresh_state(dashboard)
            try:
                case.call_and_validate(checks=CHECKS)
            except Exception as exc:  # a check failed, or the app raised instead of answering
                failures.append(f"{case.as_curl_command()}\n    {exc}".strip()[:2000])

        call()
    assert not failures, "\n".join(failures[:10])


def test_sequences_of_linked_calls_never_get_a_server_error(
    schema: Any, dashboard: Dashboard
) -> None:
    machine = schema.as_state_machine()

    class Operator(machine):  # type: ignore[misc, valid-type]
        def setup(self) -> None:
            fresh_state(dashboard)

        def validate_response(self, response: Any, case: Any, **kwargs: Any) -> None:
            case.validate_response(response, checks=CHECKS)

    Operator.run(settings=settings(max_examples=examples(30), stateful_step_count=6))

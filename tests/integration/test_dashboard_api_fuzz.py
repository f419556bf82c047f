"""Schemathesis against the OpenAPI document: generated requests never get a 5xx."""

from __future__ import annotations

import base64
from collections.abc import Callable
from typing import Any

import pytest
import schemathesis
from helpers.services import REDIS_BROKER
from hypothesis import HealthCheck, given, settings
from integration.conftest import ExternalApp
from integration.dashboard_client import PASSWORDS, Dashboard

from celery_ops.dashboard import openapi

#: Real worker processes, brokers or servers: not in the fast loop.
pytestmark = pytest.mark.slow

EXAMPLES_PER_OPERATION = 25


@pytest.fixture
def dashboard(external_app: Callable[..., ExternalApp], new_database) -> Dashboard:
    return Dashboard(external_app(REDIS_BROKER, new_database("sqlite")))


def test_no_generated_request_gets_a_server_error(dashboard: Dashboard) -> None:
    role = "operator"  # may call every endpoint: a viewer stops at 403 before the logic
    dashboard.external.ops.schedules.add("existing", "extapp.add", every=3600, args=[1, 2])
    schema = schemathesis.openapi.from_dict(openapi.document())
    schema.app = dashboard.app
    token = base64.b64encode(f"{role}:{PASSWORDS[role]}".encode()).decode()
    headers = {"Authorization": f"Basic {token}"}
    failures: list[str] = []

    for result in schema.get_all_operations():
        operation = result.ok()

        @settings(
            max_examples=EXAMPLES_PER_OPERATION,
            deadline=None,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        @given(case=operation.as_strategy())
        def call(case: Any) -> None:
            try:
                response = case.call(headers=headers)
            except Exception as exc:  # the app raised instead of answering
                failures.append(f"{case.as_curl_command()} raised {exc!r}")
                return
            if response.status_code >= 500:
                failures.append(f"{case.as_curl_command()} -> {response.status_code}")

        call()
    assert not failures, "\n".join(failures[:10])

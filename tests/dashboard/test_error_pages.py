"""Errors are pages of the dashboard, in its layout, saying what happened and where to go."""

from __future__ import annotations

import pytest
from helpers.dashboard_client import Dashboard


def in_layout(html: str) -> bool:
    return 'class="navbar' in html and "celery_ops.css" in html and 'id="error"' in html


class TestErrorPages:
    def test_an_operator_opening_users_is_told_in_the_layout(self, web: Dashboard) -> None:
        page = web.signed_in("operator").get("/users/")
        assert page.status_code == 403
        assert in_layout(page.text) and "Not allowed" in page.text and "admin" in page.text

    def test_a_page_that_does_not_exist(self, web: Dashboard) -> None:
        page = web.signed_in("viewer").get("/no/such/page")
        assert page.status_code == 404
        assert in_layout(page.text) and "There is no page at /no/such/page" in page.text

    def test_the_api_keeps_answering_json(self, web: Dashboard) -> None:
        missing = web.api("GET", "/api/nothing-here", role="viewer")
        assert missing.status_code == 404 and missing.json["error"] == "not_found"

    def test_a_failure_of_our_own_is_a_500_page_not_a_traceback(
        self, web: Dashboard, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        web.app.config["PROPAGATE_EXCEPTIONS"] = False
        from celery_ops.operations.executions import ExecutionOperations

        def broken(*_: object, **__: object) -> None:
            raise RuntimeError("a bug")

        monkeypatch.setattr(ExecutionOperations, "page", broken)
        page = web.signed_in("viewer").get("/executions/")
        assert page.status_code == 500
        assert in_layout(page.text) and "Something went wrong on our side" in page.text
        assert "a bug" not in page.text and "Traceback" not in page.text

    def test_a_favicon_for_every_browser(self, web: Dashboard) -> None:
        assert 'rel="icon" type="image/svg+xml"' in web.signed_in("viewer").get("/").text
        found = web.client().get("/favicon.ico", follow_redirects=True)
        assert found.status_code == 200 and found.mimetype == "image/svg+xml"

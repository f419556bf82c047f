"""The dashboard of an app under test, driven through Flask's test client (WSGI, in process):
an app written outside the repository (integration tests) or the in-memory door app."""

from __future__ import annotations

import base64
import re
from typing import Any, Protocol

from flask import Flask
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from celery_ops.core.records import AuditEntry
from celery_ops.dashboard import create_app
from celery_ops.extension import CeleryOps
from celery_ops.operations import Actor
from celery_ops.store.audit import AuditQuery

PASSWORDS = {"viewer": "viewer-password", "operator": "operator-password", "admin": "admin-pass"}


class AppUnderTest(Protocol):
    app: Any  # the Celery app
    ops: CeleryOps


class Dashboard:
    """A dashboard app with one user per role (named after the role)."""

    def __init__(self, external: AppUnderTest, **config: Any) -> None:
        self.external = external
        self.app: Flask = create_app(external.app, **config)
        self.accounts = external.ops.operations(Actor.system("tests")).accounts
        for role, password in PASSWORDS.items():
            if external.ops.store.accounts.user(role) is None:
                self.accounts.add(role, password, role)
            else:  # `admin`, made with a random password by the first start
                self.accounts.set_password(role, password)

    def client(self) -> FlaskClient:
        return self.app.test_client()

    def api(
        self, method: str, path: str, role: str | None = "operator", **kwargs: Any
    ) -> TestResponse:
        """An API call with HTTP Basic as ``role`` (None: anonymous)."""
        headers = dict(kwargs.pop("headers", {}))
        if role is not None:
            token = base64.b64encode(f"{role}:{PASSWORDS[role]}".encode()).decode()
            headers["Authorization"] = f"Basic {token}"
        return self.client().open(path, method=method, headers=headers, **kwargs)

    def signed_in(self, role: str) -> FlaskClient:
        """A browser-like client with a session, signed in through the login form."""
        client = self.client()
        token = csrf_token(client.get("/login").text)
        response = client.post(
            "/login", data={"username": role, "password": PASSWORDS[role], "csrf_token": token}
        )
        assert response.status_code == 302, response.text
        return client

    def audit(self) -> list[AuditEntry]:
        """The audit log, newest first."""
        return self.external.ops.store.audit.page(AuditQuery(limit=200))

    def user(self, name: str) -> Any:
        return self.external.ops.store.accounts.user(name)


def csrf_token(html: str) -> str:
    match = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', html) or re.search(
        r'value="([^"]+)"[^>]*name="csrf_token"', html
    )
    assert match, "no CSRF token in the page"
    return match.group(1)


def post_form(client: FlaskClient, path: str, data: dict[str, Any], page: str = "/") -> Any:
    """Post ``data`` as the form of ``page`` would, with that page's CSRF token."""
    return client.post(path, data={**data, "csrf_token": csrf_token(client.get(page).text)})

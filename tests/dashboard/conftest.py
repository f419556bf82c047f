"""The dashboard of an app on Celery's in-memory broker with its store in SQLite, driven
through Flask's test client: pages and API in milliseconds, no server."""

from __future__ import annotations

import base64
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from helpers.door_app import DoorApp, door_app
from werkzeug.test import TestResponse

from celery_ops.dashboard import create_app
from celery_ops.operations import Actor

__all__ = ["PASSWORDS", "Web", "csrf_token", "door_app", "post_form", "web"]

PASSWORDS = {"viewer": "viewer-password", "operator": "operator-password", "admin": "admin-pass"}


@dataclass
class Web:
    door_app: DoorApp
    app: Flask

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

    def signed_in(self, role: str, client: FlaskClient | None = None) -> FlaskClient:
        client = client or self.client()
        token = csrf_token(client.get("/login").text)
        response = client.post(
            "/login", data={"username": role, "password": PASSWORDS[role], "csrf_token": token}
        )
        assert response.status_code == 302, response.text
        return client


def csrf_token(html: str) -> str:
    match = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', html) or re.search(
        r'value="([^"]+)"[^>]*name="csrf_token"', html
    )
    assert match, "no CSRF token in the page"
    return match.group(1)


def post_form(client: FlaskClient, path: str, data: dict[str, Any], page: str = "/") -> Any:
    return client.post(path, data={**data, "csrf_token": csrf_token(client.get(page).text)})


@pytest.fixture
def web(door_app: DoorApp) -> Iterator[Web]:
    app = create_app(door_app.app, SECRET_KEY="tests")
    accounts = door_app.ops.operations(Actor.system("tests")).accounts
    for role, password in PASSWORDS.items():
        if door_app.ops.store.accounts.user(role) is None:
            accounts.add(role, password, role)
        else:
            accounts.set_password(role, password)
    yield Web(door_app, app)

"""Bearer tokens of dashboard users (`ops users token NAME`): the JSON API takes them as that
user, with that user's role; only their hash is kept; revoked or switched off, they stop."""

from __future__ import annotations

import pytest
from helpers.dashboard_client import Dashboard
from helpers.door_app import DoorApp

from celery_ops.operations import AccountError, Actor, Denied
from celery_ops.operations.accounts import token_hash
from celery_ops.store.models import api_tokens


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def token_for(door_app: DoorApp, name: str) -> str:
    return door_app.ops.operations(Actor.system("tests")).accounts.create_token(name, "tests")


class TestAUsersToken:
    def test_reads_the_api_as_that_user(self, web: Dashboard, door_app: DoorApp) -> None:
        token = token_for(door_app, "viewer")
        assert token.startswith("cops_") and len(token) > 40
        answer = web.client().get("/api/tasks", headers=bearer(token))
        assert answer.status_code == 200
        assert web.client().get("/metrics", headers=bearer(token)).status_code == 200

    def test_changes_state_without_a_csrf_token_within_its_role(
        self, web: Dashboard, door_app: DoorApp
    ) -> None:
        schedule = {"name": "by-token", "task": "door.add", "every": 3600}
        viewer, operator = token_for(door_app, "viewer"), token_for(door_app, "operator")
        refused = web.client().post("/api/schedules", headers=bearer(viewer), json=schedule)
        assert refused.status_code == 403
        created = web.client().post("/api/schedules", headers=bearer(operator), json=schedule)
        assert created.status_code == 201, created.json
        made = [e for e in web.audit() if e.action == "schedule-create"]
        assert [(e.actor, e.outcome) for e in made] == [("operator", "ok"), ("viewer", "denied")]

    def test_is_kept_only_as_a_hash(self, web: Dashboard, door_app: DoorApp) -> None:
        token = token_for(door_app, "viewer")
        with door_app.ops.store.engine.connect() as connection:
            stored = [row.token_hash for row in connection.execute(api_tokens.select())]
        assert stored == [token_hash(token)] and token not in stored
        made = [e for e in web.audit() if e.action == "user-token"]
        assert [e.targets["username"] for e in made] == ["viewer"]
        assert token not in str(made[0].targets)


class TestATokenStops:
    def test_when_revoked(self, web: Dashboard, door_app: DoorApp) -> None:
        first, second = token_for(door_app, "viewer"), token_for(door_app, "viewer")
        accounts = door_app.ops.operations(Actor.system("tests")).accounts
        assert accounts.revoke_tokens("viewer") == 2
        for token in (first, second):
            assert web.client().get("/api/tasks", headers=bearer(token)).status_code == 401

    def test_when_its_user_is_switched_off(self, web: Dashboard, door_app: DoorApp) -> None:
        token = token_for(door_app, "viewer")
        door_app.ops.operations(Actor.system("tests")).accounts.update("viewer", {"active": False})
        assert web.client().get("/api/tasks", headers=bearer(token)).status_code == 401

    def test_a_forged_token_is_refused_and_audited_without_its_text(
        self, web: Dashboard, door_app: DoorApp
    ) -> None:
        forged = "cops_" + "A" * 43
        answer = web.client().get("/api/tasks", headers=bearer(forged))
        assert answer.status_code == 401
        [entry] = [e for e in web.audit() if e.action == "login"]
        assert (entry.outcome, entry.targets["via"]) == ("denied", "bearer")
        assert forged not in str(entry.targets) + str(entry.detail)


class TestTokensAtTheDoor:
    def test_only_an_admin_makes_or_revokes_them(self, door_app: DoorApp) -> None:
        accounts = door_app.ops.operations(Actor("operator", "operator")).accounts
        with pytest.raises(Denied):
            accounts.create_token("operator")
        with pytest.raises(Denied):
            accounts.revoke_tokens("operator")

    def test_a_token_for_no_such_user_says_so(self, door_app: DoorApp) -> None:
        accounts = door_app.ops.operations(Actor.system("tests")).accounts
        with pytest.raises(AccountError, match="no user named 'ghost'"):
            accounts.create_token("ghost")
        with pytest.raises(AccountError, match="no user named 'ghost'"):
            accounts.revoke_tokens("ghost")
        with pytest.raises(AccountError, match="150 characters"):
            accounts.create_token("viewer", "x" * 151)

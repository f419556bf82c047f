"""The assistant interface (`ops mcp`), driven by the MCP SDK's own client against a real
store, broker and worker: in process, over stdio as a subprocess, and over HTTP with tokens."""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator
from typing import Any

import anyio
import httpx2
import pytest
from helpers.services import REDIS_BROKER, require
from helpers.waiting import wait_for
from helpers.workers import CELERY
from integration.conftest import ExternalApp
from mcp import Client, StdioServerParameters
from mcp.client.streamable_http import streamable_http_client
from mcp_types import CallToolResult

from celery_ops.assistant.answers import BUDGET
from celery_ops.assistant.server import build_server
from celery_ops.core.filters import ExecutionFilter
from celery_ops.core.records import AuditEntry
from celery_ops.operations import Actor
from celery_ops.store.audit import AuditQuery

pytestmark = pytest.mark.slow

READ_TOOLS = {
    "search_executions",
    "get_execution",
    "failure_groups",
    "list_schedules",
    "get_schedule",
    "list_workers",
    "list_queues",
    "get_metrics",
    "get_health",
    "get_job",
}
WRITE_TOOLS = {
    "retry_execution",
    "retry_failure_group",
    "cancel_execution",
    "run_schedule_now",
    "set_schedule_enabled",
    "dispatch_task",
}


class Cluster:
    """The external app with a worker, some history, and one user per role."""

    def __init__(self, external: ExternalApp) -> None:
        self.external = external
        self.ops = external.ops
        self.accounts = external.ops.operations(Actor.system("tests")).accounts
        for role in ("viewer", "operator"):
            self.accounts.add(role, f"{role}-password", role)
        self.module = external.module

    def run(self, signature: Any) -> str:
        task_id = signature.apply_async().id
        wait_for(lambda: self.status(task_id) in {"SUCCESS", "FAILURE"}, 30, "the task to end")
        return str(task_id)

    def status(self, task_id: str) -> str | None:
        found = self.ops.store.execution(task_id)
        return found.status if found else None

    def audit(self, action: str) -> list[AuditEntry]:
        entries = self.ops.store.audit.page(AuditQuery(limit=500))
        return [entry for entry in entries if entry.action == action]


@pytest.fixture
def cluster(external_app: Callable[..., ExternalApp], new_database) -> Iterator[Cluster]:
    require("redis")
    external = external_app(REDIS_BROKER, new_database("postgresql"))
    external.start_worker("mcp-worker", pool="threads", concurrency=4)
    yield Cluster(external)


def text_of(result: CallToolResult) -> str:
    return "".join(getattr(part, "text", "") for part in result.content)


def answer(result: CallToolResult) -> dict[str, Any]:
    assert not result.is_error, text_of(result)
    text = text_of(result)
    assert len(text.encode()) <= BUDGET
    return json.loads(text)


async def tool_names(client: Client) -> set[str]:
    return {tool.name for tool in (await client.list_tools()).tools}


class TestReadToolsInProcess:
    def test_every_read_tool_answers_within_its_budget(self, cluster: Cluster) -> None:
        app = cluster.module
        succeeded = cluster.run(app.add.s(2, 3))
        failed = cluster.run(app.always_fails.s("missing-key"))
        # Arguments far beyond the budget: previews, never the whole.
        huge = cluster.run(app.size_of.s("invoice " + "x" * 200_000))
        cluster.ops.operations(Actor.system("tests")).schedules.add(
            "nightly-import", "extapp.add", cron="0 3 * * *", args=[1, 2]
        )
        server = build_server(cluster.ops, Actor.assistant())

        async def session() -> None:
            async with Client(server) as client:
                assert await tool_names(client) == READ_TOOLS

                found = answer(
                    await client.call_tool(
                        "search_executions", {"status": ["FAILURE"], "task": "extapp.always_fails"}
                    )
                )
                assert [row["task_id"] for row in found["executions"]] == [failed]
                assert found["executions"][0]["error_type"] == "KeyError"

                shown = answer(await client.call_tool("get_execution", {"task_id": failed}))
                assert shown["status"] == "FAILURE"
                assert "KeyError" in shown["traceback"]
                assert "failed" in [e["event"] for e in shown["timeline"]]
                assert shown["can_be_retried"] is True

                big = answer(await client.call_tool("get_execution", {"task_id": huge}))
                assert len(big["args"]) < 1000 and "more characters cut" in big["args"]
                everything = answer(
                    await client.call_tool("search_executions", {"text": "invoice", "limit": 50})
                )
                assert everything["executions"][0]["task_id"] == huge

                groups = answer(await client.call_tool("failure_groups", {"since": "1h"}))
                assert {(g["task"], g["error_type"], g["count"]) for g in groups["groups"]} == {
                    ("extapp.always_fails", "KeyError", 1)
                }

                schedules = answer(await client.call_tool("list_schedules", {}))
                assert [s["name"] for s in schedules["schedules"]] == ["nightly-import"]
                assert schedules["schedules"][0]["next_due"] is not None
                one = answer(await client.call_tool("get_schedule", {"name": "nightly-import"}))
                assert len(one["upcoming"]) == 5

                workers = answer(await client.call_tool("list_workers", {}))
                assert workers["online"] == 1
                queues = answer(await client.call_tool("list_queues", {}))
                assert cluster.external.env["QUEUE"] in {q["name"] for q in queues["queues"]}

                metrics = answer(
                    await client.call_tool("get_metrics", {"since": "1h", "step": "5m"})
                )
                assert metrics["summary"]["counts"].get("SUCCESS", 0) >= 2
                assert metrics["summary"]["counts"].get("FAILURE", 0) == 1

                health = answer(await client.call_tool("get_health", {}))
                assert health["status"] in {"ok", "failing"}
                assert {check["name"] for check in health["checks"]} >= {"store", "broker"}

                missing = await client.call_tool("get_execution", {"task_id": "no-such-id"})
                assert missing.is_error and "not found" in text_of(missing)
                assert succeeded

        anyio.run(session)

    def test_search_pages_with_a_cursor_without_gaps_or_repeats(self, cluster: Cluster) -> None:
        app = cluster.module
        sent = [app.add.delay(i, i).id for i in range(7)]
        wait_for(lambda: all(cluster.status(i) == "SUCCESS" for i in sent), 30, "7 tasks")
        server = build_server(cluster.ops, Actor.assistant())

        async def session() -> list[str]:
            seen: list[str] = []
            async with Client(server) as client:
                cursor = None
                while True:
                    arguments: dict[str, Any] = {"task": "extapp.add", "limit": 3}
                    if cursor is not None:
                        arguments["cursor"] = cursor
                    page = answer(await client.call_tool("search_executions", arguments))
                    seen += [row["task_id"] for row in page["executions"]]
                    cursor = page["next_cursor"]
                    if cursor is None:
                        return seen

        assert sorted(anyio.run(session)) == sorted(sent)

    def test_bad_arguments_get_a_clear_error(self, cluster: Cluster) -> None:
        server = build_server(cluster.ops, Actor.assistant())

        async def session() -> list[str]:
            async with Client(server) as client:
                results = [
                    await client.call_tool("search_executions", {"status": ["EXPLODED"]}),
                    await client.call_tool("search_executions", {"since": "yesterday-ish"}),
                    await client.call_tool("search_executions", {"limit": 10_000}),
                    await client.call_tool("get_metrics", {"since": "30d", "step": "1m"}),
                    await client.call_tool("get_execution", {"task_id": "x" * 5000}),
                ]
            assert all(result.is_error for result in results)
            return [text_of(result) for result in results]

        errors = anyio.run(session)
        assert "unknown status EXPLODED" in errors[0]
        assert "24h" in errors[1]
        assert "limit is 1 to 50" in errors[2]
        assert "at most" in errors[3]
        assert errors[4].startswith("Error") or "invalid" in errors[4]


class TestWrites:
    def test_with_writes_off_no_write_tool_is_listed(self, cluster: Cluster) -> None:
        operator = cluster.accounts.named("operator")

        async def names() -> set[str]:
            async with Client(build_server(cluster.ops, Actor.assistant(operator))) as client:
                return await tool_names(client)

        assert anyio.run(names) == READ_TOOLS

    def test_over_http_a_viewer_is_refused_and_an_operator_retries_once(
        self, cluster: Cluster
    ) -> None:
        failed = cluster.run(cluster.module.always_fails.s("k"))
        url = cluster.external.start_mcp_http("--allow-writes")
        viewer = cluster.accounts.create_token("viewer", "assistant tests")
        operator = cluster.accounts.create_token("operator", "assistant tests")

        async def over_http(token: str, tool: str, arguments: dict[str, Any]) -> Any:
            headers = {"Authorization": f"Bearer {token}"}
            async with (
                httpx2.AsyncClient(headers=headers, timeout=30) as http,
                Client(streamable_http_client(url, http_client=http)) as client,
            ):
                assert await tool_names(client) == READ_TOOLS | WRITE_TOOLS
                return await client.call_tool(tool, arguments)

        refused = anyio.run(over_http, viewer, "retry_execution", {"task_id": failed})
        assert refused.is_error
        assert "refused" in text_of(refused) and "operator role" in text_of(refused)
        denied = cluster.audit("retry")
        assert [(e.actor, e.outcome) for e in denied] == [("mcp:viewer", "denied")]

        retried = anyio.run(over_http, operator, "retry_execution", {"task_id": failed})
        new_id = answer(retried)["task_id"]
        wait_for(lambda: cluster.status(new_id) == "FAILURE", 30, "the retry to run")
        again = cluster.ops.store.execution(new_id)
        assert again is not None and again.retried_from == failed
        retries = cluster.audit("retry")
        assert [(e.actor, e.outcome) for e in retries] == [
            ("mcp:operator", "ok"),
            ("mcp:viewer", "denied"),
        ]
        assert retries[0].targets["created"] == new_id

    def test_over_http_without_a_valid_token_nothing_is_served(self, cluster: Cluster) -> None:
        url = cluster.external.start_mcp_http()
        token = cluster.accounts.create_token("operator")
        for headers in ({}, {"Authorization": "Bearer cops_forged"}):
            response = httpx2.post(url, headers=headers, json={}, timeout=10)
            assert response.status_code == 401
            assert "ops users token" in response.json()["detail"]
        cluster.accounts.revoke_tokens("operator")
        response = httpx2.post(
            url, headers={"Authorization": f"Bearer {token}"}, json={}, timeout=10
        )
        assert response.status_code == 401
        denied = [e for e in cluster.audit("login") if e.outcome == "denied"]
        assert len(denied) == 2  # the forged token and the revoked one

    def test_every_write_tool_acts_through_the_door_as_the_mcp_user(self, cluster: Cluster) -> None:
        app = cluster.module
        failures = [cluster.run(app.always_fails.s(f"k{n}")) for n in range(2)]
        door = cluster.ops.operations(Actor.system("tests"))
        door.schedules.add("hourly", "extapp.add", every=3600, args=[1, 1])
        operator = cluster.accounts.named("operator")
        server = build_server(cluster.ops, Actor.assistant(operator), allow_writes=True)

        async def session() -> dict[str, Any]:
            async with Client(server) as client:
                sent = answer(
                    await client.call_tool("dispatch_task", {"task": "extapp.add", "args": [4, 5]})
                )
                ran = answer(await client.call_tool("run_schedule_now", {"name": "hourly"}))
                off = answer(
                    await client.call_tool(
                        "set_schedule_enabled", {"name": "hourly", "enabled": False}
                    )
                )
                later = answer(
                    await client.call_tool(
                        "dispatch_task",
                        {"task": "extapp.add", "args": [1, 1], "countdown": 600},
                    )
                )
                cancelled = answer(
                    await client.call_tool("cancel_execution", {"task_id": later["task_id"]})
                )
                group = {
                    "task": "extapp.always_fails",
                    "error_type": "KeyError",
                    "since": "1h",
                }
                wrong = await client.call_tool(
                    "retry_failure_group", {**group, "expected_count": 5}
                )
                assert wrong.is_error and "2 executions match" in text_of(wrong)
                retried = answer(
                    await client.call_tool("retry_failure_group", {**group, "expected_count": 2})
                )
                job = answer(await client.call_tool("get_job", {"job_id": retried["job_id"]}))
                unknown = await client.call_tool("dispatch_task", {"task": "extapp.nope"})
                assert unknown.is_error
                return {
                    "sent": sent,
                    "ran": ran,
                    "off": off,
                    "cancelled": cancelled,
                    "retried": retried,
                    "job": job,
                }

        done = anyio.run(session)
        wait_for(lambda: cluster.status(done["sent"]["task_id"]) == "SUCCESS", 30, "dispatch")
        wait_for(lambda: cluster.status(done["ran"]["task_id"]) == "SUCCESS", 30, "the run")
        assert done["off"] == {"schedule": "hourly", "enabled": False}
        assert done["cancelled"]["task_id"] and done["job"]["action"] == "retry-many"
        wait_for(
            lambda: (
                len(cluster.ops.store.executions(ExecutionFilter(retried_from=failures[0]), 5))
                + len(cluster.ops.store.executions(ExecutionFilter(retried_from=failures[1]), 5))
                == 2
            ),
            30,
            "both failures retried",
        )
        actions = {
            "dispatch",
            "schedule-run",
            "schedule-disable",
            "cancel",
            "retry-many",
        }
        entries = cluster.ops.store.audit.page(AuditQuery(limit=500))
        mine = [e for e in entries if e.action in actions]
        assert {e.actor for e in mine} == {"mcp:operator"}
        assert {e.action for e in mine} == actions

    def test_a_call_past_its_time_limit_is_told_so(self, cluster: Cluster) -> None:
        server = build_server(cluster.ops, Actor.assistant(), time_limit=0.000_001)

        async def session() -> CallToolResult:
            async with Client(server) as client:
                return await client.call_tool("list_workers", {})

        late = anyio.run(session)
        assert late.is_error and "timed out" in text_of(late)


class TestOverStdio:
    def test_a_local_assistant_reads_as_a_viewer_through_the_command(
        self, cluster: Cluster
    ) -> None:
        failed = cluster.run(cluster.module.always_fails.s("k"))
        external = cluster.external
        parameters = StdioServerParameters(
            command=CELERY,
            args=["-A", "extapp", "ops", "mcp", "--allow-writes"],
            cwd=str(external.directory),
            env={**os.environ, **external.env},
        )

        async def session() -> tuple[set[str], dict[str, Any], CallToolResult]:
            async with Client(parameters, read_timeout_seconds=60) as client:
                names = await tool_names(client)
                shown = answer(await client.call_tool("get_execution", {"task_id": failed}))
                refused = await client.call_tool("retry_execution", {"task_id": failed})
                return names, shown, refused

        names, shown, refused = anyio.run(session)
        assert names == READ_TOOLS | WRITE_TOOLS
        assert shown["task_id"] == failed and "KeyError" in shown["traceback"]
        # Without --user it is a viewer: writes are listed (--allow-writes) and refused.
        assert refused.is_error and "operator role" in text_of(refused)
        [entry] = cluster.audit("retry")
        assert entry.actor.startswith("mcp:") and entry.outcome == "denied"

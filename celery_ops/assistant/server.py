"""The MCP server: each tool's name, arguments and description for a model, on the official
SDK's ``MCPServer``; the work is :mod:`celery_ops.assistant.tools`, through the door.

Read tools are always listed; write tools only when the server is started with
``--allow-writes``, and even then the door checks each call against the caller's role (a
viewer sees them and is refused, audited). Every call runs in a worker thread under a time
limit and answers at most :data:`~celery_ops.assistant.answers.BUDGET` bytes of JSON.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any

import anyio
import anyio.to_thread
from mcp.server.mcpserver import Context, MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from mcp.types import ToolAnnotations
from pydantic import Field

from celery_ops.assistant import tools
from celery_ops.assistant.answers import BUDGET, bounded
from celery_ops.core.errors import (
    Conflict,
    Denied,
    InvalidInput,
    NotFound,
    OperationError,
    Throttled,
    Unavailable,
)
from celery_ops.extension import CeleryOps
from celery_ops.operations import Actor, Operations
from celery_ops.version import __version__

#: Seconds a tool call may take before the caller is told it ran out of time.
TIME_LIMIT = 10.0
#: Where the HTTP transport puts the caller it authenticated (celery_ops.assistant.http).
ACTOR_SCOPE_KEY = "celery_ops.actor"

INSTRUCTIONS = """\
celery-ops keeps a permanent record of every Celery task execution of this cluster, its
beat schedules, workers and queues, and acts on them through one audited door.
Start with search_executions (filter by status, task, time) or failure_groups, then open
one execution with get_execution (its traceback and timeline). Times are UTC, ISO 8601;
wherever a time is asked, a duration back from now such as 30m, 24h or 7d works too.
Answers are bounded: long texts end in a marker saying what was cut and how to get more.
Write tools (retry, cancel, run a schedule, dispatch) exist only when the server allows
writes, and the user's role decides whether each call is allowed; every call is audited."""

READ = ToolAnnotations(read_only_hint=True, open_world_hint=False)
WRITE = ToolAnnotations(read_only_hint=False, destructive_hint=False, open_world_hint=False)
DESTRUCTIVE = ToolAnnotations(read_only_hint=False, destructive_hint=True, open_world_hint=False)

#: An operation's refusal, as the model reads it.
_KIND = {
    Denied: "refused",
    NotFound: "not found",
    Conflict: "conflict",
    Throttled: "too many attempts",
    InvalidInput: "invalid input",
    Unavailable: "unavailable",
}


@dataclass(frozen=True)
class Caller:
    """Who each call acts for: one actor for the whole server (stdio), or the one the HTTP
    transport authenticated for the request; and the limits of every call."""

    ops: CeleryOps
    actor: Actor | None
    time_limit: float = TIME_LIMIT
    budget: int = BUDGET

    def door(self, ctx: Context) -> Operations:
        if self.actor is not None:
            return self.ops.operations(self.actor)
        request = ctx.request_context.request
        scope = getattr(request, "scope", None) or {}
        actor = scope.get(ACTOR_SCOPE_KEY)
        if not isinstance(actor, Actor):
            raise ToolError("refused: this call carries no authenticated user")
        return self.ops.operations(actor)

    async def run(self, ctx: Context, work: Callable[..., Any], **arguments: Any) -> str:
        """``work(door, **arguments)`` in a thread, within the time limit; its answer as
        bounded JSON, or a :class:`ToolError` saying what went wrong."""
        door = self.door(ctx)
        try:
            with anyio.fail_after(self.time_limit):
                answer = await anyio.to_thread.run_sync(
                    functools.partial(work, door, **arguments), abandon_on_cancel=True
                )
        except TimeoutError:
            raise ToolError(
                f"timed out: the call took longer than {self.time_limit:g} s; ask for less "
                "(a narrower filter, a shorter period)"
            ) from None
        except OperationError as exc:
            kind = next((word for cls, word in _KIND.items() if isinstance(exc, cls)), "failed")
            raise ToolError(f"{kind}: {exc}") from None
        return bounded(answer, self.budget)


def build_server(
    ops: CeleryOps,
    actor: Actor | None,
    allow_writes: bool = False,
    time_limit: float = TIME_LIMIT,
    budget: int = BUDGET,
) -> MCPServer:
    """The MCP server of ``ops``; ``actor`` is who every call acts for (stdio), or None
    when the HTTP transport authenticates each request."""
    caller = Caller(ops, actor, time_limit, budget)
    server: MCPServer = MCPServer(
        "celery-ops", instructions=INSTRUCTIONS, version=__version__, log_level="WARNING"
    )
    _add_read_tools(server, caller)
    if allow_writes:
        _add_write_tools(server, caller)
    return server


# Arguments shared by several tools.
TaskId = Annotated[str, Field(description="A Celery task id, e.g. 'a3f1c2d4-...'.")]
Since = Annotated[
    str | None,
    Field(description="Start of the period: ISO 8601 (2026-12-01T09:00Z) or back from now (24h)."),
]
Until = Annotated[str | None, Field(description="End of the period, as `since`; default: now.")]


def _add_read_tools(server: MCPServer, caller: Caller) -> None:
    @server.tool(annotations=READ)
    async def search_executions(
        ctx: Context,
        status: Annotated[
            list[str] | None,
            Field(
                description="Statuses to match, any of PENDING, RECEIVED, STARTED, RETRY, "
                "SUCCESS, FAILURE, REVOKED, REJECTED, IGNORED, LOST; e.g. ['FAILURE']."
            ),
        ] = None,
        task: Annotated[
            str | None, Field(description="Exact task name, e.g. 'proj.tasks.import_orders'.")
        ] = None,
        queue: Annotated[str | None, Field(description="Queue name, e.g. 'celery'.")] = None,
        worker: Annotated[
            str | None, Field(description="Worker hostname, e.g. 'celery@host1'.")
        ] = None,
        schedule: Annotated[
            str | None, Field(description="Name of the beat schedule that sent it.")
        ] = None,
        tenant: Annotated[str | None, Field(description="Tenant id the task carried.")] = None,
        error_type: Annotated[
            str | None, Field(description="Exception class name, e.g. 'TimeoutError'.")
        ] = None,
        since: Since = None,
        until: Until = None,
        text: Annotated[
            str | None,
            Field(description="Text to find in the arguments (3 characters at least)."),
        ] = None,
        dead: Annotated[
            bool,
            Field(
                description="Only the dead set: final failures (after their last retry) that "
                "nobody has retried or discarded yet."
            ),
        ] = False,
        limit: Annotated[int, Field(description="Rows per answer, 1 to 50.")] = 20,
        cursor: Annotated[
            int | None, Field(description="`next_cursor` of the previous answer, to go on.")
        ] = None,
    ) -> str:
        """Find task executions, newest first, by status, task name, queue, worker,
        schedule, tenant, exception type, time range and argument text.

        Returns {"executions": [{task_id, task, status, queue, worker, attempts, times,
        runtime_ms, args and kwargs previews, error_type, error_message}], "count",
        "next_cursor"}; pass next_cursor back to get the next, older page (null: no more).
        Example: the latest failure of a task: status=["FAILURE"],
        task="proj.tasks.nightly_import", limit=1. Open one with get_execution."""
        return await caller.run(
            ctx,
            tools.search_executions,
            status=status,
            task=task,
            queue=queue,
            worker=worker,
            schedule=schedule,
            tenant=tenant,
            error_type=error_type,
            since=since,
            until=until,
            text=text,
            dead=dead,
            limit=limit,
            cursor=cursor,
        )

    @server.tool(annotations=READ)
    async def get_execution(
        ctx: Context,
        task_id: TaskId,
        full: Annotated[
            bool,
            Field(description="Longer previews of arguments, result and message (4 KiB)."),
        ] = False,
        full_traceback: Annotated[
            bool, Field(description="The whole traceback, not only its last 5 frames.")
        ] = False,
    ) -> str:
        """One execution in detail: status, times, worker, arguments and result (previews,
        secrets masked), error type and message, the traceback's last frames, its timeline
        (received, started, retried, failed...), and links: parent, root, retried_from, the
        retries made of it, children, schedule, the dashboard page.

        `can_be_retried` says whether retry_execution can send it again with the same
        arguments. Example: get_execution(task_id="a3f1...")."""
        return await caller.run(
            ctx, tools.get_execution, task_id=task_id, full=full, full_traceback=full_traceback
        )

    @server.tool(annotations=READ)
    async def failure_groups(
        ctx: Context,
        since: Annotated[
            str, Field(description="Start of the period: ISO 8601 or back from now (24h).")
        ] = "24h",
        task: Annotated[str | None, Field(description="Only this task name.")] = None,
        limit: Annotated[int, Field(description="Groups at most, 1 to 100.")] = 20,
    ) -> str:
        """Failures grouped by task name and exception type, most frequent first: how
        many, first and last seen, a sample message. The quickest way to see what is
        going wrong. To retry a whole group, call retry_failure_group with its task,
        error_type, the same since and its count."""
        return await caller.run(ctx, tools.failure_groups, since=since, task=task, limit=limit)

    @server.tool(annotations=READ)
    async def list_schedules(
        ctx: Context,
        cursor: Annotated[
            str | None, Field(description="`next_cursor` of the previous answer.")
        ] = None,
        limit: Annotated[int, Field(description="Schedules per answer, 1 to 100.")] = 50,
    ) -> str:
        """Beat schedules by name: task, enabled, timing (cron, interval or once), next
        due time, last run, total runs, last error. Details and recent runs of one:
        get_schedule."""
        return await caller.run(ctx, tools.list_schedules, cursor=cursor, limit=limit)

    @server.tool(annotations=READ)
    async def get_schedule(
        ctx: Context, name: Annotated[str, Field(description="The schedule's name.")]
    ) -> str:
        """One beat schedule: its definition (task, timing, arguments, queue, options),
        its next 5 due times, and its last 10 runs with the status of what each sent."""
        return await caller.run(ctx, tools.get_schedule, name=name)

    @server.tool(annotations=READ)
    async def list_workers(ctx: Context) -> str:
        """The cluster's workers: online or not, last heartbeat, pool, concurrency, the
        queues each consumes, tasks processed, running and reserved counts, load."""
        return await caller.run(ctx, tools.list_workers)

    @server.tool(annotations=READ)
    async def list_queues(ctx: Context) -> str:
        """The queues: messages waiting (depth), consumers, paused or not, latency (age of
        the oldest waiting task, seconds), wait p50/p95, executions by status recently."""
        return await caller.run(ctx, tools.list_queues)

    @server.tool(annotations=READ)
    async def get_metrics(
        ctx: Context,
        task: Annotated[str | None, Field(description="Only this task name.")] = None,
        queue: Annotated[str | None, Field(description="Only this queue.")] = None,
        since: Annotated[
            str, Field(description="Start: ISO 8601 or back from now (1h, 7d).")
        ] = "1h",
        until: Until = None,
        step: Annotated[
            str, Field(description="Width of each point: 1m, 5m, 1h, 1d (120 points at most).")
        ] = "5m",
    ) -> str:
        """Counts by final state, throughput, failure rate, and runtime and wait
        percentiles (p50, p95, p99, seconds) for a period: a summary of the whole period
        and a series of points (steps with no execution left out). From the rollups: fast
        over any period. Example: p95 runtime of a task last week: task=..., since="7d",
        step="1d"."""
        return await caller.run(
            ctx, tools.metrics, task=task, queue=queue, since=since, until=until, step=step
        )

    @server.tool(annotations=READ)
    async def get_health(ctx: Context) -> str:
        """The cluster's health checks: store and broker reachable, workers online for
        each queue, queue latency, stuck executions, failure rate, recorder dropping
        events. "status" is "ok" or "failing"; each check says why."""
        return await caller.run(ctx, tools.health)

    @server.tool(annotations=READ)
    async def get_job(
        ctx: Context,
        job_id: Annotated[str, Field(description="The job_id a bulk action answered.")],
    ) -> str:
        """A background job (a bulk retry, say): status, done of total, result."""
        return await caller.run(ctx, tools.job, job_id=job_id)


def _add_write_tools(server: MCPServer, caller: Caller) -> None:
    @server.tool(annotations=WRITE)
    async def retry_execution(ctx: Context, task_id: TaskId) -> str:
        """Send a task again as a new execution, with the exact arguments of the original
        message. Returns the new task_id (its retried_from names the original). Needs the
        operator role; audited. Follow the new one with get_execution."""
        return await caller.run(ctx, tools.retry_execution, task_id=task_id)

    @server.tool(annotations=WRITE)
    async def retry_failure_group(
        ctx: Context,
        task: Annotated[str, Field(description="The group's task name.")],
        error_type: Annotated[str, Field(description="The group's exception type.")],
        since: Annotated[str, Field(description="The period's start, as in failure_groups.")],
        expected_count: Annotated[
            int,
            Field(description="How many failures you expect to retry (the group's count)."),
        ],
    ) -> str:
        """Retry every FAILURE of one task with one exception type since a time, in the
        background. The count must equal expected_count, or nothing is sent and the answer
        says the actual count. Returns a job_id to follow with get_job. Needs the operator
        role; audited."""
        return await caller.run(
            ctx,
            tools.retry_failure_group,
            task=task,
            error_type=error_type,
            since=since,
            expected_count=expected_count,
        )

    @server.tool(annotations=DESTRUCTIVE)
    async def cancel_execution(
        ctx: Context,
        task_id: TaskId,
        terminate: Annotated[
            bool,
            Field(description="Also kill it if it is running (a signal to its process)."),
        ] = False,
    ) -> str:
        """Revoke a task so that it does not run; with terminate=true, also stop it if it
        is running. Needs the operator role; audited."""
        return await caller.run(ctx, tools.cancel_execution, task_id=task_id, terminate=terminate)

    @server.tool(annotations=WRITE)
    async def run_schedule_now(
        ctx: Context, name: Annotated[str, Field(description="The schedule's name.")]
    ) -> str:
        """Send a schedule's task now, once, outside its timing. Returns the task_id.
        Needs the operator role; audited."""
        return await caller.run(ctx, tools.run_schedule_now, name=name)

    @server.tool(annotations=WRITE)
    async def set_schedule_enabled(
        ctx: Context,
        name: Annotated[str, Field(description="The schedule's name.")],
        enabled: Annotated[bool, Field(description="true to enable, false to disable.")],
    ) -> str:
        """Enable or disable a beat schedule; beats follow within seconds. Needs the
        operator role; audited."""
        return await caller.run(ctx, tools.set_schedule_enabled, name=name, enabled=enabled)

    @server.tool(annotations=WRITE)
    async def dispatch_task(
        ctx: Context,
        task: Annotated[str, Field(description="A task name registered on the workers.")],
        args: Annotated[
            list[Any] | None, Field(description="Positional arguments, e.g. [42].")
        ] = None,
        kwargs: Annotated[
            dict[str, Any] | None,
            Field(description='Keyword arguments, e.g. {"report_id": 42}.'),
        ] = None,
        queue: Annotated[str | None, Field(description="Queue; default: its route.")] = None,
        countdown: Annotated[
            float | None, Field(description="Seconds to wait before it may run.")
        ] = None,
    ) -> str:
        """Send a registered task with these arguments. Returns its task_id. Needs the
        operator role; audited."""
        return await caller.run(
            ctx,
            tools.dispatch_task,
            task=task,
            args=args,
            kwargs=kwargs,
            queue=queue,
            countdown=countdown,
        )

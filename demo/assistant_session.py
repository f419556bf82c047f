"""A scripted assistant session through the MCP SDK's own client, printed as a transcript:
find the latest failure of a task, read its traceback, retry it, watch the retry finish.

With the demo running (``bash scripts/demo.sh``), in another terminal::

    .venv/bin/python -m demo.assistant_session [--task demo.tasks.flaky] [--user demo]

It starts ``celery -A demo.app ops mcp --user demo --allow-writes`` over stdio, as a desktop
assistant would, and makes the calls an assistant would make.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

import anyio
from mcp import Client, StdioServerParameters

CELERY = str(Path(sys.executable).with_name("celery"))
FINAL = {"SUCCESS", "FAILURE", "REVOKED", "REJECTED", "IGNORED", "LOST"}


def show(direction: str, text: str) -> None:
    print(f"{direction} {text}", flush=True)


async def call(client: Client, tool: str, arguments: dict[str, Any]) -> dict[str, Any]:
    show(">>", f"{tool} {json.dumps(arguments)}")
    result = await client.call_tool(tool, arguments)
    text = "".join(getattr(part, "text", "") for part in result.content)
    if result.is_error:
        show("<<", f"error: {text}")
        raise SystemExit(1)
    answer: dict[str, Any] = json.loads(text)
    shown = json.dumps(answer, indent=2, ensure_ascii=False)
    lines = shown.splitlines()
    if len(lines) > 40:
        shown = "\n".join([*lines[:40], f"   ... ({len(lines) - 40} more lines)"])
    show("<<", f"({len(text.encode())} bytes)\n{shown}")
    return answer


async def session(task: str, user: str, timeout: float) -> None:
    server = StdioServerParameters(
        command=CELERY,
        args=["-A", "demo.app", "ops", "mcp", "--user", user, "--allow-writes"],
        # The SDK passes a bare environment to the server by default: it needs the demo's
        # (CELERY_BROKER_URL, CELERY_OPS_DATABASE_URL).
        env=dict(os.environ),
        cwd=os.getcwd(),
    )
    async with Client(server, read_timeout_seconds=60) as client:
        tools = [tool.name for tool in (await client.list_tools()).tools]
        show("..", f"tools: {', '.join(tools)}")
        found = await call(
            client, "search_executions", {"status": ["FAILURE"], "task": task, "limit": 1}
        )
        if not found["executions"]:
            show("..", f"no failure of {task} yet: let the demo run a minute and try again")
            return
        failed = found["executions"][0]["task_id"]
        await call(client, "get_execution", {"task_id": failed})
        retried = await call(client, "retry_execution", {"task_id": failed})
        new_id = retried["task_id"]
        deadline = time.monotonic() + timeout
        while True:
            await anyio.sleep(2)
            now = await call(client, "get_execution", {"task_id": new_id})
            if now.get("status") in FINAL or time.monotonic() > deadline:
                break
        show("..", f"the retry {new_id} ended {now.get('status')}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--task", default="demo.tasks.flaky")
    parser.add_argument("--user", default="demo", help="A dashboard user with the operator role.")
    parser.add_argument("--timeout", type=float, default=60.0)
    options = parser.parse_args()
    anyio.run(session, options.task, options.user, options.timeout)


if __name__ == "__main__":
    main()

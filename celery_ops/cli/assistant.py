"""`ops mcp`: the assistant interface (Model Context Protocol), over stdio or HTTP."""

from __future__ import annotations

import click

from celery_ops.cli.context import current_ops, door, fail, reported
from celery_ops.operations import Actor


@click.command(name="mcp")
@click.option(
    "--user",
    default=None,
    help="Over stdio, act as this dashboard user, with their role. Default: a viewer "
    "named mcp:<os user>@<host>.",
)
@click.option(
    "--allow-writes",
    is_flag=True,
    help="List the write tools (retry, cancel, run a schedule, dispatch); the user's role "
    "still decides each call.",
)
@click.option(
    "--http",
    "over_http",
    is_flag=True,
    help="Serve streamable HTTP for a shared server; every request needs a user's bearer "
    "token (`ops users token NAME`).",
)
@click.option("--host", default="127.0.0.1", show_default=True, help="With --http: address.")
@click.option("--port", default=8765, show_default=True, type=int, help="With --http: port.")
def mcp(user: str | None, allow_writes: bool, over_http: bool, host: str, port: int) -> None:
    """Serve celery-ops's tools to an AI assistant over the Model Context Protocol."""
    try:
        from celery_ops.assistant.http import PATH, serve_http
        from celery_ops.assistant.server import build_server
    except ImportError as exc:
        fail(
            f"the assistant interface needs the MCP SDK ({exc.name} is missing): "
            "pip install 'celery-ops[mcp]'"
        )
    operations = door()
    ops = current_ops()
    if over_http:
        if user is not None:
            fail("--user is for stdio: over HTTP, each request's bearer token names its user")
        server = build_server(ops, None, allow_writes)
        app = server.streamable_http_app(streamable_http_path=PATH, host=host)
        writes = "with write tools" if allow_writes else "read-only"
        click.echo(f"celery-ops MCP server ({writes}) on http://{host}:{port}{PATH}", err=True)
        serve_http(ops, app, host, port)
        return
    actor = Actor.assistant()
    if user is not None:
        with reported():
            found = operations.accounts.named(user)
        if not found.active:
            fail(f"user {user!r} is switched off: switch them on, or choose another user")
        actor = Actor.assistant(found)
    # stdout is the protocol's channel from here on: everything else goes to stderr.
    build_server(ops, actor, allow_writes).run("stdio")

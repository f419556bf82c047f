"""The assistant interface over streamable HTTP, for a shared server: every request carries
``Authorization: Bearer <token>``, a token made with ``ops users token NAME``; the call acts
as ``mcp:NAME`` with that user's role. Checked on every request, so a revoked token or a
switched-off user stops at once."""

from __future__ import annotations

import json
from typing import Any

import anyio.to_thread
import uvicorn
from starlette.types import ASGIApp, Receive, Scope, Send

from celery_ops.assistant.server import ACTOR_SCOPE_KEY
from celery_ops.extension import CeleryOps
from celery_ops.operations import Actor

#: Where the MCP endpoint is served.
PATH = "/mcp"


class BearerUsers:
    """ASGI middleware: refuse (401) any request without a dashboard user's bearer token;
    put the authenticated caller in the request's scope for the tools."""

    def __init__(self, app: ASGIApp, ops: CeleryOps) -> None:
        self.app = app
        self.ops = ops

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        client = scope.get("client")
        address = client[0] if client else None
        token = _bearer(scope)
        actor = await anyio.to_thread.run_sync(self._caller, token, address) if token else None
        if actor is None:
            await _refuse(send, "unknown or missing token" if token else "no bearer token")
            return
        scope[ACTOR_SCOPE_KEY] = actor
        await self.app(scope, receive, send)

    def _caller(self, token: str, address: str | None) -> Actor | None:
        found = self.ops.operations(Actor.anonymous(address)).accounts.bearer(token)
        if found is None or not found.is_user:
            return None  # the metrics token is for monitors, not for the assistant
        return Actor(f"mcp:{found.name}", found.role, address)


def serve_http(ops: CeleryOps, app: ASGIApp, host: str, port: int) -> None:
    """Serve ``app`` (the MCP server's streamable HTTP app) behind the bearer check."""
    config = uvicorn.Config(BearerUsers(app, ops), host=host, port=port, log_level="warning")
    uvicorn.Server(config).run()


def _bearer(scope: Scope) -> str | None:
    for name, value in scope.get("headers", ()):
        if name == b"authorization":
            kind, _, token = bytes(value).decode("latin-1").partition(" ")
            if kind.lower() == "bearer" and token.strip():
                return str(token.strip())
    return None


async def _refuse(send: Send, why: str) -> None:
    body: dict[str, Any] = {
        "error": "unauthorized",
        "detail": f"{why}: send Authorization: Bearer <token>, a token made with "
        "`celery -A proj ops users token NAME`",
    }
    await send(
        {
            "type": "http.response.start",
            "status": 401,
            "headers": [
                (b"content-type", b"application/json"),
                (b"www-authenticate", b'Bearer realm="celery-ops"'),
            ],
        }
    )
    await send({"type": "http.response.body", "body": json.dumps(body).encode()})

"""Pieces the OpenAPI document is built from: references, bodies, answers and errors."""

from __future__ import annotations

from typing import Any


def ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def json_content(schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def errors(*codes: int) -> dict[str, Any]:
    meaning = {
        400: "Malformed request (the body is not JSON, not an object, or nests too deeply)",
        401: "Not signed in: use HTTP Basic with a dashboard user",
        403: "Signed in without the role this needs; with a session, no CSRF token; or a "
        "state change a browser marked as sent from another site (error: cross_site)",
        404: "No such execution, schedule, queue, worker (online, for an action) or job",
        409: "The state of the thing does not allow this (an execution that ended, an online "
        "worker to forget, a paused queue to consume), or every worker refused",
        415: "The body is not sent as application/json",
        422: "A value the action cannot use, or an unknown task name",
        429: "Too many wrong passwords for this user or from this address: wait Retry-After "
        "seconds",
        503: "The store or the broker cannot be reached right now",
    }
    shown = (401, 422, 429, *codes)  # any input may be refused (a NUL in a path, say)
    if 400 in codes:  # a request with a body
        shown = (*shown, 415)
    return {str(code): json_content(ref("Error"), meaning[code]) for code in sorted(set(shown))}


def linked(
    response: dict[str, Any], field: str, *operations: str, parameter: str | None = None
) -> dict[str, Any]:
    """``response`` with OpenAPI links: what a client (or a stateful test) calls next with
    the ``field`` of its body, as the path parameter ``parameter`` (default: the same name)."""
    parameters = {parameter or field: f"$response.body#/{field}"}
    links = {op: {"operationId": op, "parameters": parameters} for op in operations}
    return {**response, "links": links}


def request_body(schema: dict[str, Any], required: bool = True) -> dict[str, Any]:
    return {"required": required, "content": {"application/json": {"schema": schema}}}

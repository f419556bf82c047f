"""Error pages inside the dashboard's layout (menu, sign-out, styles): a refusal by role
(403), a page or a thing that does not exist (404), a refusal of the operations layer, and
a failure of our own (500). The JSON API answers its errors as JSON instead."""

from __future__ import annotations

import logging
from typing import Any

from flask import Flask, current_app, request
from werkzeug.exceptions import HTTPException, InternalServerError

from celery_ops.core.errors import Denied, OperationError
from celery_ops.dashboard.api import error as api_error
from celery_ops.dashboard.api import status_of
from celery_ops.dashboard.auth import actor

logger = logging.getLogger("celery_ops.dashboard")

TITLES = {
    403: "Not allowed",
    404: "Not found",
    405: "Not done that way",
    409: "That cannot be done now",
    422: "That cannot be done",
    500: "Something went wrong on our side",
    503: "Not available right now",
}


def install_refusals(app: Flask) -> None:
    """A refusal of the operations layer as a page (or JSON under /api/)."""
    app.register_error_handler(OperationError, _refused)


def install_pages(app: Flask) -> None:
    """Every error as a page of the dashboard: for the app of ``create_app`` only (in an app
    of the user's own, its errors are its own)."""
    for code in (403, 404, 405):
        app.register_error_handler(code, _http_error)
    app.register_error_handler(InternalServerError, _failed)


def _refused(exc: OperationError) -> Any:
    # What a page did not handle itself: the operations layer's sentence, never a 500.
    status, code = status_of(exc)
    if request.path.startswith("/api/"):
        return api_error(status, code, str(exc))
    if isinstance(exc, Denied):
        reason = f"Your role does not allow this ({exc}). Ask an admin for a role that does."
        return error_page(403, reason)
    return error_page(status, str(exc), retry=status == 503)


def _http_error(exc: HTTPException) -> Any:
    status = exc.code or 500
    if request.path.startswith("/api/"):
        return api_error(
            status, (exc.name or "error").lower().replace(" ", "_"), exc.description or ""
        )
    reasons = {
        403: "Your role does not allow this. Ask an admin for a role that does.",
        404: f"There is no page at {request.path}. It may have been a link to something that "
        "was deleted since.",
        405: "This address does not take that kind of request.",
    }
    return error_page(status, reasons.get(status, exc.description or ""))


def _failed(exc: InternalServerError) -> Any:
    if request.path.startswith("/api/"):
        return api_error(500, "error", "the dashboard failed; the details are in its log")
    return error_page(
        500, "The dashboard failed to show this page; the details are in its log.", retry=True
    )


def error_page(status: int, reason: str, retry: bool = False) -> Any:
    """The page of an error, in the layout; plain text when even the layout cannot render
    (the store down, say)."""
    title = TITLES.get(status, "Error")
    try:
        admin = current_app.extensions["admin"][0]
        html = admin.index_view.render(
            "celery_ops/error.html",
            status=status,
            title=title,
            reason=reason,
            retry=retry,
            account=actor(),
        )
    except Exception:
        logger.exception("celery-ops: could not render the %s error page", status)
        html = f"{title}\n\n{reason}\n"
        return html, status, {"Content-Type": "text/plain; charset=utf-8"}
    return html, status

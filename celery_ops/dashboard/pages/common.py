"""What every page shares: sign-in, the door for the request, reading filters, going back."""

from __future__ import annotations

import hashlib
import re
from typing import Any

from flask import current_app, jsonify, redirect, request, url_for
from flask_admin import BaseView
from werkzeug.datastructures import MultiDict

from celery_ops.core.errors import Conflict, InvalidInput, NotFound, Unavailable
from celery_ops.dashboard.auth import actor, safe_next, signed_in

#: Rows per page of every list.
PAGE_SIZE = 50

#: Refusals a page shows as a message on the page it returns to. A refusal by role is not
#: one of them: it is a 403 page (the app's error handler).
REFUSALS = (InvalidInput, NotFound, Conflict, Unavailable)


class SignedIn:
    """Mixin for Flask-Admin views: visible only to signed-in users."""

    def is_accessible(self) -> bool:
        return signed_in()

    def inaccessible_callback(self, name: str, **kwargs: Any) -> Any:
        return redirect(url_for("celery_ops_auth.login", next=request.full_path))


class Page(SignedIn, BaseView):  # type: ignore[misc]
    """A dashboard page; ``render`` gives every template the actor as ``account``."""

    def render(self, template: str, **kwargs: Any) -> Any:
        kwargs.setdefault("account", actor())
        return super().render(template, **kwargs)


def live_page(view: Any, template: str, **context: Any) -> Any:
    """A page whose ``live_*`` blocks update themselves (``static/celery_ops.js``): the
    page, or, asked with ``?live=<block>``, that block alone when it changed since
    ``version`` (else 204)."""
    context.setdefault("account", actor())
    asked = request.args.get("live")
    if asked:
        if not asked.startswith("live_"):
            return "", 204
        html = render_block(template, asked, context)
        version = _version(html)
        if request.args.get("version") == version:
            return "", 204
        return jsonify({"version": version, "html": html, "done": False})
    blocks = current_app.jinja_env.get_template(template).blocks
    versions = {
        name: _version(render_block(template, name, context))
        for name in blocks
        if name.startswith("live_")
    }
    separator = "&" if request.query_string else "?"
    live_url = f"{request.full_path.rstrip('?')}{separator}live="
    return view.render(template, live_url=live_url, live_versions=versions, **context)


#: A form's CSRF token differs at each rendering: not a change of what the page shows.
_CSRF_VALUE = re.compile(r'name="csrf_token" value="[^"]*"')


def _version(html: str) -> str:
    return hashlib.blake2s(_CSRF_VALUE.sub("", html).encode(), digest_size=12).hexdigest()


def render_block(template_name: str, block: str, context: dict[str, Any]) -> str:
    """One block of a template, rendered alone with ``context`` and Flask's globals."""
    template = current_app.jinja_env.get_template(template_name)
    values = dict(context)
    current_app.update_template_context(values)
    return "".join(template.blocks[block](template.new_context(values)))


def query_params(args: MultiDict[str, str], keys: frozenset[str] | None = None) -> dict[str, Any]:
    """A query string (or a form) as the operations layer reads filters: each key with all
    its values; only ``keys`` when given."""
    return {
        key: values if len(values) > 1 else values[0]
        for key, values in args.lists()
        if keys is None or key in keys
    }


def int_arg(name: str) -> int | None:
    raw = request.args.get(name, "")
    return int(raw) if raw.isdigit() and len(raw) < 19 else None


def back(default_endpoint: str) -> str:
    """Where a form's ``back`` field says to return to, if it is a page of this site."""
    return safe_next(request.form.get("back"), url_for(default_endpoint))

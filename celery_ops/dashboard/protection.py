"""What every response of the dashboard carries, and what every state-changing request must
pass before any view sees it: security headers, the refusal of requests another site made a
browser send, and the client's address behind trusted proxies."""

from __future__ import annotations

from flask import Flask, request
from werkzeug.middleware.proxy_fix import ProxyFix
from werkzeug.wrappers import Response

from celery_ops.dashboard.api import error as api_error
from celery_ops.settings import OpsConfig

#: Scripts and styles from the dashboard itself only (every script is a file: no inline
#: script may run); no frame may hold it; forms post only to it.
CONTENT_SECURITY_POLICY = "; ".join(
    (
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self' 'unsafe-inline'",
        "img-src 'self' data:",
        "font-src 'self' data:",
        "connect-src 'self'",
        "object-src 'none'",
        "base-uri 'self'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    )
)
HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cross-Origin-Opener-Policy": "same-origin",
}
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def protect(app: Flask, config: OpsConfig) -> None:
    """Headers on every response, cross-site state changes refused, proxies trusted as the
    settings say."""
    if config.dashboard_trusted_proxies:
        hops = config.dashboard_trusted_proxies
        app.wsgi_app = ProxyFix(  # type: ignore[method-assign]
            app.wsgi_app, x_for=hops, x_proto=hops, x_host=hops
        )

    @app.before_request
    def _refuse_cross_site() -> Response | None:
        if request.method in SAFE_METHODS:
            return None
        reason = cross_site(config.dashboard_public_url)
        if reason is None:
            return None
        if request.path.startswith("/api/"):
            return api_error(403, "cross_site", reason)
        return Response(f"Refused: {reason}.", status=403, mimetype="text/plain")

    @app.after_request
    def _headers(response: Response) -> Response:
        for name, value in HEADERS.items():
            response.headers.setdefault(name, value)
        if request.path.startswith("/api/"):
            response.headers.setdefault("Cache-Control", "no-store")
        return response


def cross_site(public_url: str | None) -> str | None:
    """Why this request looks sent by another site's page, or None. Browsers say where a
    request comes from (``Sec-Fetch-Site``, ``Origin``); other clients send neither."""
    if request.headers.get("Sec-Fetch-Site") == "cross-site":
        return "a page of another site sent this request"
    origin = request.headers.get("Origin")
    if origin is None:
        return None
    expected = public_url or request.host_url.rstrip("/")
    if origin.rstrip("/") != expected:
        return (
            f"a page of {origin} sent this request, not one of {expected} (behind a proxy, "
            "set ops_dashboard_public_url to the address browsers use)"
        )
    return None

"""`ops dashboard` and `ops users ...`: serve the dashboard and manage who may use it."""

from __future__ import annotations

import sys

import click

from celery_ops.cli.context import current_ops, door, fail, reported
from celery_ops.operations import ROLES


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=5555, show_default=True, type=int, help="Port to listen on.")
@click.option("--threads", default=8, show_default=True, type=int, help="Worker threads.")
def dashboard(host: str, port: int, threads: int) -> None:
    """Serve the dashboard and its JSON API (waitress, a production WSGI server)."""
    # Flask, Flask-Admin and waitress load only for this command, not for every `ops` one.
    from waitress import serve

    from celery_ops.dashboard import create_app

    ops = current_ops()
    try:
        app = create_app(ops.app)
    except Exception as exc:
        fail(f"could not start the dashboard on {ops.store.safe_url}: {exc}")
    click.echo(f"celery-ops dashboard on http://{host}:{port}/ (store {ops.store.safe_url})")
    serve(app, host=host, port=port, threads=threads, ident="celery-ops")


@click.group()
def users() -> None:
    """Who may sign in to the dashboard and the API, with which role."""


@users.command(name="add")
@click.argument("name")
@click.option("--role", type=click.Choice(ROLES), required=True, help="What the user may do.")
@click.option("--password-stdin", is_flag=True, help="Read the password from standard input.")
def add_user(name: str, role: str, password_stdin: bool) -> None:
    """Create a user (viewer: read; operator: also act; admin: also manage users)."""
    password = _password(password_stdin)
    with reported():
        door().accounts.add(name, password, role)
    click.echo(f"added {name} ({role})")


@users.command(name="set-password")
@click.argument("name")
@click.option("--password-stdin", is_flag=True, help="Read the password from standard input.")
def set_password(name: str, password_stdin: bool) -> None:
    """Give a user a new password."""
    password = _password(password_stdin)
    with reported():
        door().accounts.set_password(name, password)
    click.echo(f"password of {name} changed")


@users.command(name="list")
def list_users() -> None:
    """Every user, with role and last sign-in."""
    with reported():
        accounts = door().accounts
        found, tokens = accounts.users(), accounts.token_counts()
    for user in found:
        last = user.last_login_at.strftime("%Y-%m-%d %H:%M") if user.last_login_at else "-"
        state = "" if user.active else "  (disabled)"
        held = tokens.get(user.username, 0)
        keys = f"  {held} token{'s' if held != 1 else ''}" if held else ""
        click.echo(f"{user.username:<24} {user.role:<9} last sign-in {last}{keys}{state}")


@users.command(name="token")
@click.argument("name")
@click.option("--label", default="", help="What the token is for (e.g. the client's name).")
def create_token(name: str, label: str) -> None:
    """Make a bearer token for NAME (JSON API, `ops mcp --http`); shown once, kept hashed."""
    with reported():
        token = door().accounts.create_token(name, label)
    click.echo(token)
    click.echo(
        f"Bearer token for {name}: send `Authorization: Bearer <token>`. It is shown only "
        f"now; `ops users revoke-token {name}` ends it.",
        err=True,
    )


@users.command(name="revoke-token")
@click.argument("name")
def revoke_token(name: str) -> None:
    """End every bearer token of NAME."""
    with reported():
        ended = door().accounts.revoke_tokens(name)
    click.echo(f"Ended {ended} token{'s' if ended != 1 else ''} of {name}.")


def _password(from_stdin: bool) -> str:
    if from_stdin:
        # One line; the trailing newline of `echo pw |` is not part of the password.
        return sys.stdin.readline().rstrip("\r\n")
    return str(click.prompt("Password", hide_input=True, confirmation_prompt=True))

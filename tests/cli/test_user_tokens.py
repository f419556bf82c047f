"""`ops users token NAME` and `ops users revoke-token NAME`: a token printed once, on stdout
alone (for `$(...)`), ended by the revoke command, and listed as a count."""

from __future__ import annotations

from cli.conftest import Cli


def test_a_token_is_printed_once_and_works_until_revoked(cli: Cli) -> None:
    added = cli("users", "add", "ana", "--role", "viewer", "--password-stdin", stdin="pass-word\n")
    assert added.exit_code == 0, added.output
    made = cli("users", "token", "ana", "--label", "laptop")
    assert made.exit_code == 0, made.output
    token = made.stdout.strip()
    assert token.startswith("cops_") and "\n" not in token
    assert "shown only now" in made.stderr
    accounts = cli.door_app.door().accounts
    assert accounts.bearer(token) is not None
    assert "1 token" in cli("users", "list").stdout

    ended = cli("users", "revoke-token", "ana")
    assert ended.exit_code == 0 and "Ended 1 token of ana." in ended.stdout
    assert accounts.bearer(token) is None


def test_a_token_for_no_such_user_is_refused(cli: Cli) -> None:
    for command in (("users", "token", "ghost"), ("users", "revoke-token", "ghost")):
        result = cli(*command)
        assert result.exit_code == 1
        assert "no user named 'ghost'" in result.stderr

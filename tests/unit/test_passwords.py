"""Passwords are hashed with the standard library's scrypt, in the form Werkzeug wrote, so
that the hashes of earlier versions keep verifying."""

from __future__ import annotations

from werkzeug.security import check_password_hash, generate_password_hash

from celery_ops.operations.passwords import hash_password, verify_password


def test_a_hash_verifies_its_password_only() -> None:
    stored = hash_password("correct horse")
    assert stored.startswith("scrypt:32768:8:1$") and "correct horse" not in stored
    assert verify_password(stored, "correct horse")
    assert not verify_password(stored, "correct horsE")
    assert hash_password("correct horse") != stored  # salted


def test_hashes_werkzeug_wrote_keep_verifying_both_ways() -> None:
    for method in ("scrypt", "pbkdf2:sha256:1000"):
        written = generate_password_hash("sécret", method=method)
        assert verify_password(written, "sécret") and not verify_password(written, "secret")
    assert check_password_hash(hash_password("sécret"), "sécret")


def test_anything_else_never_verifies() -> None:
    for stored in ("", "plain", "md5$x$y", "scrypt:x:8:1$salt$00", "pbkdf2:nosuchhash:1$s$00"):
        assert not verify_password(stored, "plain")

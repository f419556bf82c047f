"""Password hashes with the standard library's scrypt.

The stored form is ``scrypt:N:r:p$salt$hex``, the form Werkzeug writes, so hashes stored by
earlier versions (which used Werkzeug) keep verifying; Werkzeug's ``pbkdf2:...`` form is read
too. Nothing else is accepted.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import string

SCRYPT_N, SCRYPT_R, SCRYPT_P = 2**15, 8, 1
SALT_CHARS = string.ascii_letters + string.digits
SALT_LENGTH = 16


def hash_password(password: str) -> str:
    """A salted, slow hash of ``password`` for storage."""
    salt = "".join(secrets.choice(SALT_CHARS) for _ in range(SALT_LENGTH))
    digest = _scrypt(password, salt, SCRYPT_N, SCRYPT_R, SCRYPT_P)
    return f"scrypt:{SCRYPT_N}:{SCRYPT_R}:{SCRYPT_P}${salt}${digest}"


def verify_password(stored: str, password: str) -> bool:
    """Whether ``password`` is the one ``stored`` was made from; False for anything that is
    not a hash this module (or Werkzeug) wrote."""
    try:
        method, salt, expected = stored.split("$", 2)
        kind, *parameters = method.split(":")
        if kind == "scrypt":
            n, r, p = (int(value) for value in parameters) if parameters else (2**15, 8, 1)
            digest = _scrypt(password, salt, n, r, p)
        elif kind == "pbkdf2":
            name = parameters[0] if parameters else "sha256"
            rounds = int(parameters[1]) if len(parameters) > 1 else 1_000_000
            digest = hashlib.pbkdf2_hmac(name, password.encode(), salt.encode(), rounds).hex()
        else:
            return False
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(digest, expected)


def _scrypt(password: str, salt: str, n: int, r: int, p: int) -> str:
    digest = hashlib.scrypt(
        password.encode(), salt=salt.encode(), n=n, r=r, p=p, maxmem=132 * n * r * p
    )
    return digest.hex()

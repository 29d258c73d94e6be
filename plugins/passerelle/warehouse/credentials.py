"""Passwords of the embedded warehouse's roles: generated once, kept in a 0600 JSON file, sent as SCRAM verifiers.

The server only ever receives SCRAM-SHA-256 verifiers (``ALTER ROLE ... PASSWORD 'SCRAM-SHA-256$...'``),
never a plaintext password, so neither its log nor its catalog can reveal one; logins use SCRAM too.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import os
import secrets
import stat
from pathlib import Path

logger = logging.getLogger(__name__)

SCRAM_ITERATIONS = 4096


def generate_password() -> str:
    """32 URL-safe characters (192 bits): no quoting needed in URLs, ``.env`` files or SQL literals."""
    return secrets.token_urlsafe(24)


def load_or_create(path: Path, roles: tuple[str, ...]) -> tuple[dict[str, str], bool]:
    """The passwords of ``roles`` stored at ``path``, generating the missing ones; also whether the file is new.

    The file is written atomically with mode 0600; a file found with a wider mode is narrowed and reported.
    """
    passwords: dict[str, str] = {}
    created = not path.exists()
    if not created:
        mode = stat.S_IMODE(path.stat().st_mode)
        if mode & 0o077:
            logger.warning("%s had mode %o; narrowing it to 600", path, mode)
            path.chmod(0o600)
        passwords = json.loads(path.read_text())
    missing = [role for role in roles if not passwords.get(role)]
    if missing:
        passwords.update({role: generate_password() for role in missing})
        write_private(path, json.dumps(passwords, indent=2, sort_keys=True) + "\n")
    return passwords, created


def write_private(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` readable by its owner only, never exposing a partial or wider-mode file."""
    tmp = path.with_name(path.name + ".tmp")
    tmp.unlink(missing_ok=True)
    with os.fdopen(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "w") as handle:
        handle.write(text)
    tmp.replace(path)


def scram_verifier(password: str, *, salt: bytes | None = None, iterations: int = SCRAM_ITERATIONS) -> str:
    """The ``SCRAM-SHA-256$<iterations>:<salt>$<StoredKey>:<ServerKey>`` string Postgres stores (RFC 5802/7677)."""
    salt = salt if salt is not None else os.urandom(16)
    salted = hashlib.pbkdf2_hmac("sha256", password.encode(), salt, iterations)
    client_key = hmac.new(salted, b"Client Key", hashlib.sha256).digest()
    stored_key = hashlib.sha256(client_key).digest()
    server_key = hmac.new(salted, b"Server Key", hashlib.sha256).digest()
    b64 = lambda raw: base64.b64encode(raw).decode()  # noqa: E731
    return f"SCRAM-SHA-256${iterations}:{b64(salt)}${b64(stored_key)}:{b64(server_key)}"


def verifier_matches(verifier: str | None, password: str) -> bool:
    """Whether a stored ``rolpassword`` accepts ``password`` (False for none, md5 or a malformed value)."""
    if not verifier or not verifier.startswith("SCRAM-SHA-256$"):
        return False
    try:
        params, keys = verifier[len("SCRAM-SHA-256$"):].split("$")
        iterations, salt = params.split(":")
        expected = scram_verifier(password, salt=base64.b64decode(salt), iterations=int(iterations))
    except ValueError:
        return False
    return hmac.compare_digest(expected.split("$", 2)[2], keys)

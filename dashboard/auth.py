"""Who may open the dashboard: a shared password (scrypt-hashed), or an authenticating reverse proxy.

The password hash comes from `VIGIE_DASHBOARD_PASSWORD_HASH`, else from `VIGIE_DASHBOARD_PASSWORD` (plain, hashed
at start so it is never compared in clear), else from `dashboard.password_hash` in vigie.yaml. Without any of them
the dashboard only serves a loopback address, unless `dashboard.trust_proxy_auth` says a proxy in front of it
authenticates every request (docs/dashboard.md).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import ipaddress
import os
import secrets
import threading
import time
from collections.abc import Mapping
from functools import lru_cache

from vigie.config import DashboardSettings

HASH_ENV = "VIGIE_DASHBOARD_PASSWORD_HASH"
PLAIN_ENV = "VIGIE_DASHBOARD_PASSWORD"
SCHEME = "scrypt"
_N, _R, _P, _LENGTH = 2**14, 8, 1, 32
FAILED_LOGIN_DELAY = 1.0
"""Seconds every failed attempt costs, serialised across sessions so guessing runs at most once a second."""

_attempts = threading.Lock()


class AuthConfigError(Exception):
    """The password setup is unusable (malformed hash, open non-loopback bind); str() is one line."""


def hash_password(password: str, *, salt: bytes | None = None) -> str:
    """`scrypt$N$r$p$salt$hash`, salt and hash in unpadded base64."""
    if not password:
        raise AuthConfigError("the password is empty")
    salt = salt or secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode("utf-8"), salt=salt, n=_N, r=_R, p=_P, dklen=_LENGTH)
    return "$".join([SCHEME, str(_N), str(_R), str(_P), b64(salt), b64(digest)])


def check_hash(encoded: str) -> tuple[int, int, int, bytes, bytes]:
    """The parameters of a stored hash; AuthConfigError when it is not one of ours."""
    parts = encoded.strip().split("$")
    try:
        if len(parts) != 6 or parts[0] != SCHEME:
            raise ValueError
        n, r, p = (int(value) for value in parts[1:4])
        salt, digest = unb64(parts[4]), unb64(parts[5])
        if n < 2 or n & (n - 1) or not (1 <= r <= 64 and 1 <= p <= 16 and salt and digest):
            raise ValueError
    except ValueError:
        raise AuthConfigError("the dashboard password hash is malformed: expected the output of `vigie dashboard hash-password` (scrypt$N$r$p$salt$hash)") from None
    return n, r, p, salt, digest


def verify_password(password: str, encoded: str) -> bool:
    """Constant-time check of a password against a stored hash."""
    n, r, p, salt, digest = check_hash(encoded)
    candidate = hashlib.scrypt(password.encode("utf-8"), salt=salt, n=n, r=r, p=p, dklen=len(digest), maxmem=256 * n * r * p + 2**20)
    return hmac.compare_digest(candidate, digest)


def attempt_login(password: str, encoded: str) -> bool:
    """Verify one login attempt; a failure holds every other attempt back for FAILED_LOGIN_DELAY seconds."""
    with _attempts:
        if verify_password(password, encoded):
            return True
        time.sleep(FAILED_LOGIN_DELAY)
        return False


def password_hash(settings: DashboardSettings, environ: Mapping[str, str] | None = None) -> str | None:
    """The hash to check logins against, from the environment first, then vigie.yaml; None when unset."""
    environ = os.environ if environ is None else environ
    if environ.get(HASH_ENV, "").strip():
        encoded = environ[HASH_ENV].strip()
    elif environ.get(PLAIN_ENV):
        encoded = _hash_once(environ[PLAIN_ENV])
    elif settings.password_hash:
        encoded = settings.password_hash.strip()
    else:
        return None
    check_hash(encoded)
    return encoded


@lru_cache(maxsize=1)
def _hash_once(password: str) -> str:
    return hash_password(password)


def is_loopback(host: str) -> bool:
    host = host.strip().strip("[]")
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_exposure(settings: DashboardSettings, host: str, encoded_hash: str | None) -> None:
    """Refuse to serve a non-loopback address to anyone who asks."""
    if encoded_hash or settings.trust_proxy_auth or is_loopback(host):
        return
    raise AuthConfigError(
        f"refusing to serve the dashboard on {host} without a password: set {PLAIN_ENV} or {HASH_ENV} "
        "(or dashboard.password_hash), or dashboard.trust_proxy_auth behind an authenticating reverse proxy (docs/dashboard.md)"
    )


def b64(raw: bytes) -> str:
    """Unpadded URL-safe base64."""
    return base64.urlsafe_b64encode(raw).decode("ascii").rstrip("=")


def unb64(text: str) -> bytes:
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (ValueError, TypeError):
        raise ValueError(text) from None

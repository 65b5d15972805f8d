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
import logging
import os
import secrets
import threading
import time
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache

from vigie.config import DashboardSettings

HASH_ENV = "VIGIE_DASHBOARD_PASSWORD_HASH"
PLAIN_ENV = "VIGIE_DASHBOARD_PASSWORD"
SCHEME = "scrypt"
_N, _R, _P, _LENGTH = 2**14, 8, 1, 32
FAILED_LOGIN_DELAY = 1.0
"""Seconds every failed attempt costs, serialised across sessions so guessing runs at most once a second."""
MAX_FAILED_LOGINS = 5
LOCKOUT_SECONDS = 15 * 60
"""An address that failed MAX_FAILED_LOGINS times within LOCKOUT_SECONDS may not try again until the oldest of those
failures is that old: guessing from one address runs at 5 tries a quarter of an hour, and other addresses still get in."""
SESSION_SECONDS = 12 * 3600
"""A sign-in lasts this long (or until Sign out); then the session, and every export link it made, asks again."""

log = logging.getLogger("vigie.dashboard")
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


class FailedLogins:
    """Recent failed sign-ins per client address, shared by every session of the dashboard process."""

    MAX_ADDRESSES = 10_000

    def __init__(self, limit: int = MAX_FAILED_LOGINS, window: float = LOCKOUT_SECONDS) -> None:
        self.limit, self.window = limit, window
        self._failures: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def wait(self, address: str, now: float) -> float:
        """Seconds before `address` may try again (0: now)."""
        with self._lock:
            failures = self._recent(address, now)
            return max(0.0, failures[0] + self.window - now) if len(failures) >= self.limit else 0.0

    def failed(self, address: str, now: float) -> int:
        """Count a failure; returns the failures of `address` within the window."""
        with self._lock:
            if len(self._failures) >= self.MAX_ADDRESSES:
                for stale in [key for key, times in self._failures.items() if times[-1] <= now - self.window]:
                    del self._failures[stale]
            failures = self._recent(address, now)
            failures.append(now)
            self._failures[address] = failures
            return len(failures)

    def forget(self, address: str) -> None:
        with self._lock:
            self._failures.pop(address, None)

    def _recent(self, address: str, now: float) -> deque[float]:
        failures = self._failures.get(address) or deque(maxlen=self.limit)
        while failures and failures[0] <= now - self.window:
            failures.popleft()
        return failures


@dataclass(frozen=True)
class LoginResult:
    ok: bool
    wait: float = 0.0
    """Seconds before this address may try again, when it tried too often."""


failed_logins = FailedLogins()


def attempt_login(password: str, encoded: str, address: str, name: str, *, now: float | None = None) -> LoginResult:
    """Verify one sign-in from `address`; logged, refused unchecked while the address is locked out, and a failure holds
    every other attempt back for FAILED_LOGIN_DELAY seconds."""
    now = time.time() if now is None else now
    shown = f"from {address} as {name[:80]!r}"
    wait = failed_logins.wait(address, now)
    if wait:
        log.warning("dashboard sign-in refused %s: %d failed attempts within %d minutes (retry in %d s)", shown, failed_logins.limit, failed_logins.window // 60, wait)
        return LoginResult(ok=False, wait=wait)
    with _attempts:
        if verify_password(password, encoded):
            failed_logins.forget(address)
            log.info("dashboard sign-in %s", shown)
            return LoginResult(ok=True)
        count = failed_logins.failed(address, now)
        log.warning("dashboard sign-in failed %s: wrong password (%d of %d allowed within %d minutes)", shown, count, failed_logins.limit, failed_logins.window // 60)
        time.sleep(FAILED_LOGIN_DELAY)
        return LoginResult(ok=False)


class SignIns:
    """The signed-in sessions of the dashboard process, by an unguessable token: a token is valid until its session signs
    out or SESSION_SECONDS pass, and export links carry it, so neither a session nor its links outlive the sign-in."""

    def __init__(self, lifetime: float = SESSION_SECONDS) -> None:
        self.lifetime = lifetime
        self._until: dict[str, float] = {}
        self._lock = threading.Lock()

    def open(self, now: float | None = None) -> str:
        now = time.time() if now is None else now
        token = secrets.token_urlsafe(24)
        with self._lock:
            for stale in [key for key, until in self._until.items() if until <= now]:
                del self._until[stale]
            self._until[token] = now + self.lifetime
        return token

    def valid(self, token: str | None, now: float | None = None) -> bool:
        now = time.time() if now is None else now
        with self._lock:
            return token is not None and self._until.get(token, 0.0) > now

    def close(self, token: str | None) -> None:
        with self._lock:
            self._until.pop(token or "", None)


sign_ins = SignIns()


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

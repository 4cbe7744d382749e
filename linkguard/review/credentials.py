"""Credentials besides the password: per-user API tokens (CLI, scripts) and server-side web sessions.

A decision, a reveal or a view is attributed to a user only on that user's
credential: the web screen's session (made at log-in with the password), a
password typed at the CLI's prompt, or an API token an admin made for that
user. Tokens and sessions are kept as SHA-256 hashes of long random secrets
(a fast hash is enough for 256 random bits; argon2 is for what people
choose), so a copy of the database lets nobody act as anybody.

* :class:`TokenStore` — ``lgt_<id>_<secret>``: made by an admin for one user,
  shown once, revocable by an admin or its owner; making and revoking are
  audited; a token of a deactivated user does not work.
* :class:`SessionStore` — one row per signed-in browser. The cookie carries
  the random session id; the row must exist on every request, so log-out,
  deactivation, a role change and a password change (which delete the
  user's rows, :meth:`AccountStore._change`) end sessions at once.

>>> parse_token('lgt_0123456789abcdef_' + 'x' * 43)
('0123456789abcdef', 'xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx')
>>> parse_token('lgt_short_x') is None, parse_token('password') is None
(True, True)
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import re
import secrets
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import Engine, delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from linkguard.review.accounts import AccountError, AccountStore, Role, User
from sinks.audit import append_entry
from sinks.db import SQLITE_BEGIN_OPTION
from sinks.models import ApiToken, LoginFailure, WebSession

__all__ = ["TokenStore", "IssuedToken", "TokenInfo", "SessionStore", "FailedLogins", "parse_token", "TOKEN_PREFIX"]

TOKEN_PREFIX = "lgt_"
_TOKEN = re.compile(r"lgt_([0-9a-f]{16})_([A-Za-z0-9_-]{40,64})\Z")


def _now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def parse_token(token: str) -> tuple[str, str] | None:
    """``(token_id, secret)`` of a well-formed token, else None."""
    match = _TOKEN.match(token.strip())
    return (match.group(1), match.group(2)) if match else None


@dataclass(frozen=True, slots=True)
class IssuedToken:
    """A token just made: ``token`` is shown once and stored nowhere."""

    token_id: str
    username: str
    token: str


@dataclass(frozen=True, slots=True)
class TokenInfo:
    token_id: str
    username: str
    label: str
    created_by: str
    created_at: dt.datetime
    revoked_at: dt.datetime | None
    last_used_at: dt.datetime | None

    @property
    def live(self) -> bool:
        return self.revoked_at is None


class TokenStore:
    """Per-user API tokens; see the module docstring."""

    def __init__(self, engine: Engine, accounts: AccountStore) -> None:
        self.engine = engine
        self.accounts = accounts

    def create(self, username: str, *, by: User, label: str = "") -> IssuedToken:
        """A new token for ``username``, made by the admin ``by`` (audited)."""
        if not by.can(Role.admin):
            raise AccountError(f"only an admin makes tokens; {by.username} is not one")
        owner = self.accounts.get(username)
        if owner is None or not owner.active:
            raise AccountError(f"no active user {username!r}; create it with `linkguard users add`")
        token_id, secret = secrets.token_hex(8), secrets.token_urlsafe(32)
        with Session(self.engine) as session, session.begin():
            session.add(ApiToken(token_id=token_id, username=owner.username, secret_hash=_digest(secret),
                                 label=label[:200], created_by=by.username, created_at=_now()))
        append_entry(self.engine, by.username, "token-create", detail=f"token {token_id} for {owner.username}")
        return IssuedToken(token_id, owner.username, f"{TOKEN_PREFIX}{token_id}_{secret}")

    def authenticate(self, token: str) -> User | None:
        """The token's user if it is well-formed, live, matches, and the user is active; else None."""
        parsed = parse_token(token)
        if parsed is None:
            return None
        token_id, secret = parsed
        with Session(self.engine) as session, session.begin():
            row = session.get(ApiToken, token_id)
            expected = row.secret_hash if row is not None else _digest("no such token")
            matches = hmac.compare_digest(expected, _digest(secret))
            if row is None or not matches or row.revoked_at is not None:
                return None
            row.last_used_at = _now()
            username = row.username
        user = self.accounts.get(username)
        return user if user is not None and user.active else None

    def revoke(self, token_id: str, *, by: User) -> TokenInfo:
        """End a token for good: by an admin, or by its own user (audited)."""
        with Session(self.engine) as session, session.begin():
            row = session.get(ApiToken, token_id)
            if row is None:
                raise AccountError(f"no token {token_id!r}; `linkguard users token list` shows them")
            if not (by.can(Role.admin) or (by.active and by.username == row.username)):
                raise AccountError("a token is revoked by an admin or by its own user")
            if row.revoked_at is None:
                row.revoked_at, row.revoked_by = _now(), by.username
            info = _info(row)
        append_entry(self.engine, by.username, "token-revoke", detail=f"token {token_id} of {info.username}")
        return info

    def tokens(self, username: str | None = None) -> list[TokenInfo]:
        query = select(ApiToken).order_by(ApiToken.created_at, ApiToken.token_id)
        if username:
            query = query.where(ApiToken.username == username)
        with Session(self.engine) as session:
            return [_info(row) for row in session.scalars(query)]


def _info(row: ApiToken) -> TokenInfo:
    return TokenInfo(row.token_id, row.username, row.label, row.created_by, row.created_at, row.revoked_at,
                     row.last_used_at)


class SessionStore:
    """Server-side web sessions; see the module docstring."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def start(self, username: str, lifetime: dt.timedelta) -> str:
        """A new session for ``username``; returns the id the cookie carries (never stored as is)."""
        session_id = secrets.token_urlsafe(32)
        now = _now()
        with Session(self.engine) as session, session.begin():
            session.execute(delete(WebSession).where(WebSession.expires_at < now))  # keep the table small
            session.add(WebSession(session_hash=_digest(session_id), username=username, created_at=now,
                                   expires_at=now + lifetime))
        return session_id

    def username(self, session_id: str | None) -> str | None:
        """Whose session this is, if it still exists and has not expired."""
        if not session_id:
            return None
        with Session(self.engine) as session:
            row = session.get(WebSession, _digest(str(session_id)))
            if row is None or row.expires_at <= _now():
                return None
            return row.username

    def end(self, session_id: str | None) -> None:
        if session_id:
            with self.engine.begin() as conn:
                conn.execute(delete(WebSession).where(WebSession.session_hash == _digest(str(session_id))))

    def end_all(self, username: str) -> int:
        """End every session of ``username``; return how many there were."""
        with self.engine.begin() as conn:
            return conn.execute(delete(WebSession).where(WebSession.username == username)).rowcount or 0

    def count(self, username: str) -> int:
        with Session(self.engine) as session:
            return len(session.scalars(select(WebSession.session_hash)
                                       .where(WebSession.username == username, WebSession.expires_at > _now()))
                       .all())



class FailedLogins:
    """Failed log-ins (web and CLI): the lock-out per user name, and a cap on their audit rows.

    Every failure is counted (``review_login_failures``), but only the first
    ``audit_per_name`` per user name and ``audit_total`` in all are written to
    the audit log one by one in each ``window``; an attacker sending failed
    log-ins with fresh names therefore cannot grow the append-only log without
    limit (the first ``lock_after`` failures of a name and its first locked attempt are
    written). When a window with uncounted failures ends, one audit row says how many
    there were (``login-failures-counted``). A user name is locked once it has
    ``lock_after`` failures in the window, whatever the audit cap.
    """

    def __init__(self, engine: Engine, *, lock_after: int = 5, window: dt.timedelta = dt.timedelta(minutes=15),
                 audit_per_name: int = 6, audit_total: int = 100,
                 clock: Callable[[], dt.datetime] | None = None) -> None:
        self.engine = engine
        self._now = clock or _now
        self.lock_after = lock_after
        self.window = window
        self.audit_per_name = audit_per_name
        self.audit_total = audit_total

    def locked(self, username: str) -> bool:
        """Whether ``username`` has had ``lock_after`` failures within the current window."""
        with Session(self.engine) as session:
            row = session.get(LoginFailure, username[:64] or "-")
            return (row is not None and row.failures >= self.lock_after
                    and self._now() - row.window_start < self.window)

    def record(self, username: str, action: str = "login-failed") -> bool:
        """Count one failure of ``username``; return whether it went to the audit log one by one."""
        name = username[:64] or "-"
        for attempt in range(3):
            try:
                audited, summary = self._count(name)
                break
            except IntegrityError:  # two first failures of one name at once: count again
                if attempt == 2:
                    raise
        if summary is not None:
            uncounted, since = summary
            append_entry(self.engine, "-", "login-failures-counted",
                         detail=f"{uncounted} more failed log-ins since {since.isoformat(timespec='seconds')} "
                                "were counted, not written one by one")
        if audited:
            append_entry(self.engine, name, action)
        return audited

    def _count(self, name: str) -> tuple[bool, tuple[int, dt.datetime] | None]:
        now = self._now()
        summary = None
        bind = self.engine.execution_options(**{SQLITE_BEGIN_OPTION: "IMMEDIATE"})
        with Session(bind) as session, session.begin():
            everyone, mine = self._row(session, "", now), self._row(session, name, now)
            for row in (everyone, mine):
                if now - row.window_start >= self.window:
                    if row is everyone and row.failures > row.audited:
                        summary = (row.failures - row.audited, row.window_start)
                    row.window_start, row.failures, row.audited = now, 0, 0
            for row in (everyone, mine) if mine is not everyone else (everyone,):
                row.failures += 1
                row.last_at = now
            audited = mine.audited < self.audit_per_name and everyone.audited < self.audit_total
            if audited:
                mine.audited += 1
                if mine is not everyone:
                    everyone.audited += 1
        return audited, summary

    @staticmethod
    def _row(session: Session, name: str, now: dt.datetime) -> LoginFailure:
        row = session.get(LoginFailure, name, with_for_update=True)
        if row is None:
            row = LoginFailure(username=name, window_start=now, failures=0, audited=0, last_at=now)
            session.add(row)
            session.flush()
        return row

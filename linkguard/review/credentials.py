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
from dataclasses import dataclass

from sqlalchemy import Engine, delete, select
from sqlalchemy.orm import Session

from linkguard.review.accounts import AccountError, AccountStore, Role, User
from sinks.audit import append_entry
from sinks.models import ApiToken, WebSession

__all__ = ["TokenStore", "IssuedToken", "TokenInfo", "SessionStore", "parse_token", "TOKEN_PREFIX"]

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


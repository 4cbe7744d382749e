"""Per-user accounts of the review tool: argon2id password hashes, roles, active flag.

The table is :class:`sinks.models.Account` (on the sink's metadata, so
``SinkWriter.create_schema()`` creates it). Hashing is argon2-cffi's
:class:`~argon2.PasswordHasher` (argon2id, its RFC 9106 low-memory profile);
a hash made with older parameters is re-hashed on the next successful log-in.
"""

from __future__ import annotations

import datetime as dt
import enum
from dataclasses import dataclass
from typing import Iterable

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from sqlalchemy import Engine, delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from guards.exceptions import LinkguardError
from sinks.models import Account, WebSession

__all__ = ["Role", "User", "AccountStore", "AccountError", "parse_roles"]


class Role(str, enum.Enum):
    """What a user may do. ``operator`` sees dashboards only, never personal data."""

    reviewer = "reviewer"  # works the queue: request release, correct, return; may reveal
    approver = "approver"  # approves another person's release request; may reveal
    operator = "operator"  # read-only dashboards, no personal data
    admin = "admin"  # manages users, reads the audit log
    headquarters = "headquarters"  # 総点検本部: board, survey, stops, exposure and letters; never reveals a number


#: roles that may see a record's personal data (the case screen, the CLI's show)
PERSONAL_DATA_ROLES = frozenset({Role.reviewer, Role.approver})


class AccountError(LinkguardError, ValueError):
    """A user cannot be created or changed; says how to fix it."""


def parse_roles(roles: Iterable[str | Role] | str) -> frozenset[Role]:
    """Roles from names (a comma-separated string or an iterable).

    >>> sorted(r.value for r in parse_roles('reviewer, approver'))
    ['approver', 'reviewer']
    >>> parse_roles('boss')
    Traceback (most recent call last):
    ...
    linkguard.review.accounts.AccountError: unknown role 'boss'; roles are reviewer, approver, operator, admin, headquarters
    """
    names = roles.split(",") if isinstance(roles, str) else list(roles)
    result = set()
    for name in names:
        value = name.value if isinstance(name, Role) else str(name).strip()
        if not value:
            continue
        try:
            result.add(Role(value))
        except ValueError:
            raise AccountError(f"unknown role {value!r}; roles are "
                               f"{', '.join(r.value for r in Role)}") from None
    return frozenset(result)


@dataclass(frozen=True, slots=True)
class User:
    """A user as the rest of the code sees one: never the hash."""

    username: str
    display_name: str
    roles: frozenset[Role]
    active: bool = True

    def can(self, role: Role | str) -> bool:
        """Whether the user is active and holds ``role``.

        >>> User('sato', '佐藤', frozenset({Role.reviewer})).can('reviewer')
        True
        >>> User('sato', '佐藤', frozenset({Role.reviewer}), active=False).can(Role.reviewer)
        False
        """
        return self.active and Role(role) in self.roles

    @property
    def sees_personal_data(self) -> bool:
        return self.active and bool(self.roles & PERSONAL_DATA_ROLES)

    @property
    def label(self) -> str:
        return self.display_name or self.username


def _user(row: Account) -> User:
    return User(row.username, row.display_name, parse_roles(row.roles), bool(row.active))


def _roles_text(roles: frozenset[Role]) -> str:
    return ",".join(sorted(r.value for r in roles))


class AccountStore:
    """Accounts in the sink database."""

    def __init__(self, engine: Engine, *, hasher: PasswordHasher | None = None) -> None:
        self.engine = engine
        self.hasher = hasher or PasswordHasher()
        # verified against when the user does not exist, so a wrong name costs as much as a wrong password
        self._dummy = self.hasher.hash("not a password of anybody")

    def create_user(self, username: str, password: str, roles: Iterable[str | Role] | str,
                    display_name: str = "") -> User:
        username = username.strip()
        if not username or any(c.isspace() for c in username):
            raise AccountError("a username must be non-empty and without spaces")
        if len(password) < 8:
            raise AccountError("a password must have at least 8 characters")
        parsed = parse_roles(roles)
        if not parsed:
            raise AccountError("give at least one role: " + ", ".join(r.value for r in Role))
        row = Account(username=username, display_name=display_name, password_hash=self.hasher.hash(password),
                      roles=_roles_text(parsed), active=True, created_at=dt.datetime.now(dt.timezone.utc))
        try:
            with Session(self.engine) as session, session.begin():
                session.add(row)
        except IntegrityError as e:
            raise AccountError(f"user {username!r} exists already; change it with set_roles/set_active") from e
        return User(username, display_name, parsed, True)

    def authenticate(self, username: str, password: str) -> User | None:
        """The user if the password is right and the account active, else None (same cost either way)."""
        with Session(self.engine) as session, session.begin():
            row = session.get(Account, username)
            stored = row.password_hash if row is not None else self._dummy
            try:
                self.hasher.verify(stored, password)
            except (VerifyMismatchError, VerificationError, InvalidHashError):
                return None
            if row is None or not row.active:
                return None
            if self.hasher.check_needs_rehash(stored):
                row.password_hash = self.hasher.hash(password)
            return _user(row)

    def get(self, username: str) -> User | None:
        with Session(self.engine) as session:
            row = session.get(Account, username)
            return _user(row) if row is not None else None

    def list_users(self) -> list[User]:
        with Session(self.engine) as session:
            return [_user(row) for row in session.scalars(select(Account).order_by(Account.username))]

    def set_roles(self, username: str, roles: Iterable[str | Role] | str) -> User:
        return self._change(username, roles=_roles_text(parse_roles(roles)))

    def set_active(self, username: str, active: bool) -> User:
        return self._change(username, active=bool(active))

    def set_password(self, username: str, password: str) -> User:
        if len(password) < 8:
            raise AccountError("a password must have at least 8 characters")
        return self._change(username, password_hash=self.hasher.hash(password))

    def _change(self, username: str, **values: object) -> User:
        with Session(self.engine) as session, session.begin():
            row = session.get(Account, username)
            if row is None:
                raise AccountError(f"no user {username!r}; create it with `linkguard users add`")
            was_admin = bool(row.active) and Role.admin in parse_roles(row.roles)
            for name, value in values.items():
                setattr(row, name, value)
            if was_admin and not (row.active and Role.admin in parse_roles(row.roles)):
                others = [a for a in session.scalars(select(Account).where(Account.active.is_(True),
                                                                           Account.username != username))
                          if Role.admin in parse_roles(a.roles)]
                if not others:  # nobody could manage users any more
                    raise AccountError(f"{username} is the last active admin: make another user admin first")
            # a changed password, role or active flag ends every web session of the user at once
            session.execute(delete(WebSession).where(WebSession.username == username))
            return _user(row)

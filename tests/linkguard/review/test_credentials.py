"""API tokens for the CLI and server-side web sessions (issue 12, items 1 and 2), on SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt

import pytest
import sqlalchemy as sa

from linkguard.review.accounts import AccountError, AccountStore
from linkguard.review.credentials import SessionStore, TokenStore
from linkguard.review.service import AuditLog
from sinks.models import ApiToken


def test_an_admin_makes_a_token_that_authenticates_its_user_until_revoked(engine, accounts, users):
    tokens = TokenStore(engine, accounts)
    issued = tokens.create("sato", by=users["root"], label="batch script")
    assert issued.token.startswith("lgt_") and tokens.authenticate(issued.token) == users["sato"]
    with engine.connect() as conn:
        stored = conn.execute(sa.select(ApiToken)).one()
    assert issued.token.split("_", 2)[2] not in str(tuple(stored))  # only the hash is kept
    forged = issued.token[:-4] + ("AAAA" if not issued.token.endswith("AAAA") else "BBBB")
    assert tokens.authenticate(forged) is None and tokens.authenticate("password-sato") is None
    tokens.revoke(issued.token_id, by=users["root"])
    assert tokens.authenticate(issued.token) is None
    actions = [(e.actor, e.action) for e in AuditLog(engine).entries(newest_first=False)]
    assert actions == [("root", "token-create"), ("root", "token-revoke")]


def test_only_an_admin_makes_tokens_and_a_deactivated_users_token_is_dead(engine, accounts, users):
    tokens = TokenStore(engine, accounts)
    with pytest.raises(AccountError, match="only an admin"):
        tokens.create("sato", by=users["ito"])
    issued = tokens.create("ito", by=users["root"])
    with pytest.raises(AccountError, match="admin or by its own user"):
        tokens.revoke(issued.token_id, by=users["sato"])
    accounts.set_active("ito", False)
    assert tokens.authenticate(issued.token) is None
    accounts.set_active("ito", True)
    assert tokens.authenticate(issued.token) is not None
    tokens.revoke(issued.token_id, by=accounts.get("ito"))  # its own user may revoke it
    assert tokens.authenticate(issued.token) is None
    assert [t.live for t in tokens.tokens("ito")] == [False]


@pytest.mark.parametrize("change", ["logout", "deactivate", "roles", "password"])
def test_a_session_ends_at_once_on_logout_deactivation_role_or_password_change(engine, accounts: AccountStore,
                                                                                users, change):
    sessions = SessionStore(engine)
    mine = sessions.start("sato", dt.timedelta(hours=8))
    other = sessions.start("ito", dt.timedelta(hours=8))
    assert sessions.username(mine) == "sato"
    {"logout": lambda: sessions.end(mine),
     "deactivate": lambda: accounts.set_active("sato", False),
     "roles": lambda: accounts.set_roles("sato", "reviewer,approver"),
     "password": lambda: accounts.set_password("sato", "a-new-password")}[change]()
    assert sessions.username(mine) is None
    assert sessions.username(other) == "ito"  # nobody else's session ends


def test_an_expired_or_unknown_session_is_nobody(engine, writer):
    sessions = SessionStore(engine)
    expired = sessions.start("sato", dt.timedelta(seconds=-1))
    assert sessions.username(expired) is None
    assert sessions.username("made-up") is None and sessions.username(None) is None


def test_failed_logins_with_fresh_names_are_counted_not_written_without_limit(engine, writer):
    """Issue 12 item 8: every failed log-in added an audit row, so fresh names grew the log without limit."""
    from linkguard.review.credentials import FailedLogins

    now = [dt.datetime(2026, 12, 1, 9, 0, tzinfo=dt.timezone.utc)]
    failures = FailedLogins(engine, audit_total=3, window=dt.timedelta(minutes=15), clock=lambda: now[0])
    written = [failures.record(f"fresh-{i}") for i in range(10)]
    assert written == [True] * 3 + [False] * 7
    audit = AuditLog(engine)
    assert len(audit.entries(action="login-failed")) == 3
    now[0] += dt.timedelta(minutes=16)  # the next window: one row says how many were only counted
    assert failures.record("fresh-10") is True
    [summary] = audit.entries(action="login-failures-counted")
    assert summary.detail.startswith("7 more failed log-ins since 2026-12-01T09:00:00")


def test_a_name_is_locked_after_five_failures_even_when_the_audit_cap_is_reached(engine, writer):
    from linkguard.review.credentials import FailedLogins

    failures = FailedLogins(engine, audit_total=2)
    for i in range(5):
        failures.record(f"noise-{i}")  # fills the audit cap first
    for _ in range(5):
        assert not failures.locked("sato")
        failures.record("sato")
    assert failures.locked("sato") and not failures.locked("ito")

"""Accounts (argon2id, roles, active), masking and the append-only audit log, on SQLite and PostgreSQL."""

from __future__ import annotations

import io

import pytest
import sqlalchemy as sa

from linkguard.review.accounts import AccountError, AccountStore, Role, User, parse_roles
from guards.masking import mask_number, mask_person
from linkguard.review.service import AuditLog
from sinks.models import Account, AuditEntry
from fixtures.support import my_number


def test_a_user_authenticates_with_the_right_password_only(accounts: AccountStore):
    made = accounts.create_user("sato", "correct horse", ["reviewer", "approver"], "佐藤 一郎")
    assert made == User("sato", "佐藤 一郎", frozenset({Role.reviewer, Role.approver}), True)
    assert accounts.authenticate("sato", "correct horse") == made
    assert accounts.authenticate("sato", "wrong horse!") is None
    assert accounts.authenticate("nobody", "correct horse") is None
    accounts.set_active("sato", False)
    assert accounts.authenticate("sato", "correct horse") is None
    assert not accounts.get("sato").can(Role.reviewer)


def test_only_an_argon2id_hash_is_stored_and_never_shown(accounts: AccountStore, engine):
    user = accounts.create_user("ito", "s3cret-passphrase", "approver")
    with engine.connect() as conn:
        stored = conn.execute(sa.select(Account.password_hash)).scalar_one()
    assert stored.startswith("$argon2id$") and "s3cret-passphrase" not in stored
    assert stored not in repr(user) and not hasattr(user, "password_hash")


def test_an_old_hash_is_upgraded_on_the_next_log_in(engine, writer):
    from argon2 import PasswordHasher

    weak = AccountStore(engine, hasher=PasswordHasher(time_cost=1, memory_cost=8192))
    weak.create_user("kato", "password-kato", "reviewer")
    strong = AccountStore(engine, hasher=PasswordHasher(time_cost=2, memory_cost=16384))
    with engine.connect() as conn:
        before = conn.execute(sa.select(Account.password_hash)).scalar_one()
    assert strong.authenticate("kato", "password-kato") is not None
    with engine.connect() as conn:
        after = conn.execute(sa.select(Account.password_hash)).scalar_one()
    assert "t=1" in before and "t=2" in after


def test_accounts_refuse_duplicates_bad_roles_and_short_passwords(accounts: AccountStore):
    accounts.create_user("sato", "password-1", "reviewer")
    with pytest.raises(AccountError, match="exists already"):
        accounts.create_user("sato", "password-2", "reviewer")
    with pytest.raises(AccountError, match="unknown role 'boss'"):
        accounts.create_user("ito", "password-2", "boss")
    with pytest.raises(AccountError, match="at least 8"):
        accounts.create_user("ito", "short", "reviewer")
    with pytest.raises(AccountError, match="at least one role"):
        accounts.create_user("ito", "password-2", "")
    assert accounts.set_roles("sato", "operator").roles == frozenset({Role.operator})
    assert [u.username for u in accounts.list_users()] == ["sato"]
    with pytest.raises(AccountError, match="linkguard users add"):
        accounts.set_roles("nobody", "admin")


def test_only_reviewers_and_approvers_see_personal_data():
    assert parse_roles("reviewer").issubset(Role)
    for roles, sees in [("reviewer", True), ("approver", True), ("operator", False), ("admin", False),
                        ("operator,admin", False)]:
        assert User("u", "", parse_roles(roles)).sees_personal_data is sees


@pytest.mark.parametrize("number", [my_number(62149832025), my_number(1)])
def test_masking_shows_the_last_four_digits_only(number):
    masked = mask_number(number)
    assert masked == f"**** **** {number[-4:]}" and number[:8] not in masked
    person = mask_person({"my_number": number, "previous_my_numbers": [number], "name": "山田"})
    assert number not in str(person)


def test_the_audit_log_appends_pages_and_exports(engine, writer):
    audit = AuditLog(engine)
    for i in range(5):
        audit.record("sato" if i % 2 == 0 else "ito", "view", "shintai-techo", f"R-{i}",
                     f"looked at {my_number(i + 1)}")
    newest = audit.entries(limit=2)
    assert [e.record_id for e in newest] == ["R-4", "R-3"]
    assert [e.record_id for e in audit.entries(limit=10, after=newest[-1].id)] == ["R-2", "R-1", "R-0"]
    assert [e.record_id for e in audit.entries(actor="ito", newest_first=False)] == ["R-1", "R-3"]
    assert all("<12 digits>" in e.detail for e in audit.entries())  # a number never lands in the log
    out = io.StringIO()
    assert audit.export_csv(out) == 5
    lines = out.getvalue().splitlines()
    assert lines[0] == "id,at,actor,action,system,record_id,detail" and len(lines) == 6
    assert lines[1].split(",")[2:6] == ["sato", "view", "shintai-techo", "R-0"]


def test_the_audit_log_refuses_updates_and_deletes_in_the_database(engine, writer):
    AuditLog(engine).record("sato", "view", "s", "R-1", "")
    assert not hasattr(AuditLog, "delete") and not hasattr(AuditLog, "update")
    for statement in (sa.update(AuditEntry).values(actor="someone else"), sa.delete(AuditEntry)):
        with pytest.raises(sa.exc.DBAPIError, match="append-only"):
            with engine.begin() as conn:
                conn.execute(statement)
    assert [e.actor for e in AuditLog(engine).entries()] == ["sato"]


def test_the_last_active_admin_can_neither_lose_the_role_nor_be_deactivated(accounts):
    accounts.create_user("root", "password-root", "admin")
    accounts.create_user("sato", "password-sato", "reviewer")
    with pytest.raises(AccountError, match="last active admin"):
        accounts.set_roles("root", "reviewer")
    with pytest.raises(AccountError, match="last active admin"):
        accounts.set_active("root", False)
    assert accounts.get("root").can("admin") and accounts.get("root").active
    accounts.set_roles("sato", "admin,reviewer")
    accounts.set_active("root", False)  # another admin remains
    assert not accounts.get("root").active

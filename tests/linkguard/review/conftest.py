"""Fixtures for the review tests: a real sink database (SQLite and PostgreSQL), accounts and a :class:`Loop`."""

from __future__ import annotations

from typing import Any

import pytest

from linkguard.review.accounts import AccountStore, Role
from linkguard.review.service import ReviewService
from review_loop import Loop
from sinks import SinkWriter


@pytest.fixture
def service(engine, writer: SinkWriter, loop: Loop, accounts: AccountStore) -> ReviewService:
    return ReviewService(engine, loop, accounts=accounts)


@pytest.fixture(scope="session")
def _hasher():
    from argon2 import PasswordHasher

    return PasswordHasher(time_cost=1, memory_cost=8192)  # cheap for tests; production uses the defaults


@pytest.fixture
def accounts(engine, writer: SinkWriter, _hasher) -> AccountStore:
    return AccountStore(engine, hasher=_hasher)


@pytest.fixture
def users(accounts: AccountStore) -> dict[str, Any]:
    """sato (reviewer), ito (approver), kato (reviewer and approver), ops (operator), root (admin)."""
    made = {
        "sato": accounts.create_user("sato", "password-sato", [Role.reviewer], "佐藤"),
        "ito": accounts.create_user("ito", "password-ito", [Role.approver], "伊藤"),
        "kato": accounts.create_user("kato", "password-kato", [Role.reviewer, Role.approver], "加藤"),
        "ops": accounts.create_user("ops", "password-ops", [Role.operator]),
        "root": accounts.create_user("root", "password-root", [Role.admin]),
    }
    return made

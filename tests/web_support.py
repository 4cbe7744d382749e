"""Helpers for the web tests (tests/linkguard/web, tests/e2e): a log-in-aware TestClient, users, secrets."""

from __future__ import annotations

import re
from typing import Any

from fastapi.testclient import TestClient

SECRET = "test-secret-" + "x" * 40
PASSWORDS = {"sato": "password-sato-1", "ito": "password-ito-12", "kato": "password-kato-1",
             "ops": "password-ops-12", "root": "password-root-1"}
USERS = [("sato", ["reviewer"], "佐藤 一郎"), ("ito", ["approver"], "伊藤 二郎"),
         ("kato", ["reviewer", "approver"], "加藤 三郎"), ("ops", ["operator"], "運用 担当"),
         ("root", ["admin"], "管理 者")]


def create_users(store) -> None:
    """sato (reviewer), ito (approver), kato (both), ops (operator), root (admin)."""
    for name, roles, display in USERS:
        store.create_user(name, PASSWORDS[name], roles, display)


class Browser:
    """A TestClient that logs in like a person: reads the form's CSRF token, posts it back."""

    def __init__(self, app) -> None:
        self.client = TestClient(app, base_url="http://testserver", follow_redirects=False)

    def csrf(self, path: str) -> str:
        page = self.client.get(path)
        assert page.status_code == 200, (path, page.status_code)
        return csrf_of(page.text)

    def login(self, username: str, password: str | None = None):
        token = self.csrf("/login")
        return self.client.post("/login", data={"username": username, "password": password or PASSWORDS[username],
                                                "csrf_token": token})

    def post(self, path: str, data: dict[str, Any], *, token_from: str | None = None):
        token = self.csrf(token_from or path)
        return self.client.post(path, data={**data, "csrf_token": token})

    def get(self, path: str, **kw):
        return self.client.get(path, **kw)


def csrf_of(html: str) -> str:
    match = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert match, "no CSRF token in the page"
    return match.group(1)

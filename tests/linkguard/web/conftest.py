"""The web app on a real sink database (SQLite and PostgreSQL), decisions through the guard's rule.

The publisher is :class:`review_loop.Loop`: each decision is Avro-encoded, ruled
on by the guard's own ``streams.decisions.rule`` and written by the real sink
writer, so a page reloaded after a decision shows its effect. The browser
tests (tests/e2e) run the same screens on the real broker and workers.
"""

from __future__ import annotations

import re
from typing import Any, Iterator

import pytest
from fastapi.testclient import TestClient

from linkguard.review.accounts import AccountStore, Role
from linkguard.web.app import create_app
from linkguard.web.settings import WebSettings
from review_loop import Loop
from sinks import SinkWriter, make_engine
from streams.settings import KafkaSettings

SECRET = "test-secret-" + "x" * 40
PASSWORDS = {"sato": "password-sato-1", "ito": "password-ito-12", "kato": "password-kato-1",
             "ops": "password-ops-12", "root": "password-root-1"}


@pytest.fixture
def engine(database_url: str) -> Iterator[Any]:
    engine = make_engine(database_url)
    yield engine
    engine.dispose()


@pytest.fixture
def writer(engine) -> SinkWriter:
    w = SinkWriter(engine)
    w.create_schema()
    return w


@pytest.fixture
def loop(writer: SinkWriter) -> Loop:
    return Loop(writer)


@pytest.fixture(scope="session")
def _hasher():
    from argon2 import PasswordHasher

    return PasswordHasher(time_cost=1, memory_cost=8192)  # cheap for tests; production uses the defaults


@pytest.fixture
def accounts(engine, writer, _hasher) -> AccountStore:
    store = AccountStore(engine, hasher=_hasher)
    store.create_user("sato", PASSWORDS["sato"], [Role.reviewer], "佐藤 一郎")
    store.create_user("ito", PASSWORDS["ito"], [Role.approver], "伊藤 二郎")
    store.create_user("kato", PASSWORDS["kato"], [Role.reviewer, Role.approver], "加藤 三郎")
    store.create_user("ops", PASSWORDS["ops"], [Role.operator], "運用 担当")
    store.create_user("root", PASSWORDS["root"], [Role.admin], "管理 者")
    return store


@pytest.fixture
def app(engine, writer, loop, accounts):
    settings = WebSettings(web_secret=SECRET, web_https_only=False)
    return create_app(engine=engine, settings=settings, kafka=KafkaSettings(kafka_bootstrap=None), publisher=loop,
                      accounts=accounts, sample_in_background=False)


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


@pytest.fixture
def browser(app) -> Iterator[Browser]:
    b = Browser(app)
    with b.client:
        yield b


@pytest.fixture
def browser_factory(app):
    made = []

    def make() -> Browser:
        b = Browser(app)
        b.client.__enter__()
        made.append(b)
        return b

    yield make
    for b in made:
        b.client.__exit__(None, None, None)

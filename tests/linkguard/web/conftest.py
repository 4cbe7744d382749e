"""The web app on a real sink database (SQLite and PostgreSQL), decisions through the guard's rule.

The publisher is :class:`review_loop.Loop`: each decision is Avro-encoded, ruled
on by the guard's own ``streams.decisions.rule`` and written by the real sink
writer, so a page reloaded after a decision shows its effect. The browser
tests (tests/e2e) run the same screens on the real broker and workers.
"""

from __future__ import annotations

from typing import Iterator

import pytest

from linkguard.review.accounts import AccountStore
from linkguard.web.app import create_app
from linkguard.web.settings import WebSettings
from fixtures.review_loop import Loop
from streams.settings import KafkaSettings
from fixtures.web_support import SECRET, Browser, create_users



@pytest.fixture(scope="session")
def _hasher():
    from argon2 import PasswordHasher

    return PasswordHasher(time_cost=1, memory_cost=8192)  # cheap for tests; production uses the defaults


@pytest.fixture
def accounts(engine, writer, _hasher) -> AccountStore:
    store = AccountStore(engine, hasher=_hasher)
    create_users(store)
    return store


@pytest.fixture
def app(engine, writer, loop, accounts):
    settings = WebSettings(web_secret=SECRET, web_https_only=False)
    return create_app(engine=engine, settings=settings, kafka=KafkaSettings(kafka_bootstrap=None), publisher=loop,
                      accounts=accounts, sample_in_background=False)


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

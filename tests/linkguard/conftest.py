"""Fixtures shared by the review and web tests: a real sink database (SQLite and PostgreSQL)
and a :class:`review_loop.Loop` that rules on decisions with the guard's own rule."""

from __future__ import annotations

from typing import Any, Iterator

import pytest

from fixtures.review_loop import Loop
from sinks import SinkWriter, make_engine


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

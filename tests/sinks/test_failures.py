"""When the database refuses or goes away: nothing half-written, errors with context, retries."""

from __future__ import annotations

import dataclasses
import logging
import sqlite3
import threading
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.exc import IntegrityError, OperationalError

from sinks import RetryPolicy, SinkError, SinkMessage, SinkWriter, make_engine
from sinks.db import SQLITE_BEGIN_OPTION

from .conftest import DLQ, HELD, NUMBER, SYSTEM, VERIFIED, Messages, Proxy


def with_record(message: SinkMessage, **changes: Any) -> SinkMessage:
    """A verdict whose record was changed after decoding (values Avro would refuse)."""
    payload = {**message.payload, "record": {**message.payload["record"], **changes}}
    return dataclasses.replace(message, payload=payload)


def with_payload(message: SinkMessage, **changes: Any) -> SinkMessage:
    return dataclasses.replace(message, payload={**message.payload, **changes})


@pytest.fixture
def committed(writer: SinkWriter, make: Messages) -> None:
    """Some state already in the database, which a failed batch must leave exactly as it is."""
    writer.apply("sink", [make.passed("r1", 1), make.held("r2", 1), make.dead(1)])


@pytest.mark.parametrize("bad_at", ["copy", "dead_letter"])
def test_failed_batch_leaves_nothing(writer: SinkWriter, make: Messages, snapshot, committed,
                                     sleeps: list[float], bad_at: str, caplog) -> None:
    """A constraint violation late in the batch rolls back the rows before it and the positions."""
    before = snapshot()
    positions = writer.positions("sink", [VERIFIED, HELD, DLQ])
    batch = [make.passed("r1", 5), make.passed("r3", 5), make.held("r4", 5), make.passed("r2", 6)]
    if bad_at == "copy":  # the copies' executemany fails after writing good rows
        batch.append(with_record(make.passed("r5", 5), system=None))
    else:  # dead letters are written after the copies and holds
        batch.append(with_payload(make.dead(2), reason=None))

    with caplog.at_level(logging.DEBUG), pytest.raises(SinkError) as caught:
        writer.apply("sink", batch)

    assert snapshot() == before
    assert writer.positions("sink", [VERIFIED, HELD, DLQ]) == positions
    error = caught.value
    assert isinstance(error.__cause__, IntegrityError)
    assert error.table == ("intermediate_copies" if bad_at == "copy" else "dead_letters")
    assert (error.transient, error.attempts, sleeps) == (False, 1, [])  # a refusal is not retried
    assert NUMBER not in caplog.text


def test_error_names_table_and_positions_but_no_number(writer: SinkWriter, make: Messages, backend: str,
                                                       caplog) -> None:
    batch = [make.passed("r1", 1, offset=40), make.passed("r2", 2, offset=41),
             with_record(make.passed("r3", 3, offset=42), system=None), make.held("r4", 4, offset=7)]
    with caplog.at_level(logging.DEBUG), pytest.raises(SinkError) as caught:
        writer.apply("sink", batch)

    text = str(caught.value)
    assert "intermediate_copies" in text
    assert f"{HELD}[0]@7" in text and f"{VERIFIED}[0]@40..42" in text
    assert caught.value.positions == f"{HELD}[0]@7, {VERIFIED}[0]@40..42"
    assert "IntegrityError" in text or "NotNullViolation" in text
    assert NUMBER not in text and NUMBER not in repr(caught.value)
    assert NUMBER not in caplog.text
    if backend == "sqlite":  # hide_parameters keeps it out of the chained error too
        assert NUMBER not in str(caught.value.__cause__)
    # (PostgreSQL's own DETAIL line, "Failing row contains (…)", is in the chained error:
    #  log SinkError without its traceback)


def test_malformed_message_is_refused_before_the_database(writer: SinkWriter, make: Messages,
                                                         snapshot) -> None:
    before = snapshot()
    broken = make.passed("r1", 1)
    payload = dict(broken.payload)
    del payload["version"]
    with pytest.raises(SinkError, match=r"malformed verified message at linkage.verified\[0\]@0: "
                                        r"missing field 'version'"):
        writer.apply("sink", [dataclasses.replace(broken, payload=payload)])
    assert snapshot() == before


def test_unknown_kind_is_a_programming_error() -> None:
    with pytest.raises(ValueError, match="kind must be one of"):
        SinkMessage("t", 0, 0, "copy", {})  # type: ignore[arg-type]


def test_a_lost_commit_acknowledgement_is_retried_safely(writer: SinkWriter, make: Messages, sleeps,
                                                         snapshot, monkeypatch) -> None:
    """The connection dies after COMMIT reached the server: the retry finds the batch applied."""
    original = writer._apply_once
    calls = []

    def commit_then_lose_connection(attempt, consumer, prepared):
        result = original(attempt, consumer, prepared)
        calls.append(result)
        if len(calls) == 1:
            raise OperationalError("COMMIT", None, ConnectionResetError("server closed the connection"),
                                   connection_invalidated=True)
        return result

    monkeypatch.setattr(writer, "_apply_once", commit_then_lose_connection)
    batch = [make.passed("r1", 1), make.held("r2", 1), make.dead(1)]
    result = writer.apply("sink", batch)

    assert (result.attempts, result.skipped, sleeps) == (2, 3, [0.01])
    monkeypatch.undo()
    after = snapshot()
    writer.apply("sink", batch)
    assert snapshot() == after
    counts = writer.counts()
    assert (counts["copies"], counts["held_open"], counts["dead_letters"]) == (1, 1, 1)


def lock_writes(conn: Connection, backend: str) -> Connection:
    """Another session holding the write lock (SQLite) or a table lock (PostgreSQL)."""
    conn.execution_options(**{SQLITE_BEGIN_OPTION: "IMMEDIATE"})
    conn.begin()
    if backend == "postgresql":
        conn.exec_driver_sql("LOCK TABLE consumed_offsets IN ACCESS EXCLUSIVE MODE")
    return conn


def test_a_locked_database_is_waited_out(backend: str, engine_factory, make: Messages) -> None:
    """SQLite 'database is locked' and PostgreSQL lock timeouts are transient: back off, retry."""
    sleeps: list[float] = []
    if backend == "sqlite":
        engine = engine_factory(busy_timeout_ms=20)
    else:
        engine = engine_factory(pg_options="-clock_timeout=100")
    writer = SinkWriter(engine, retry=RetryPolicy(attempts=5, initial_delay=0.01), sleep=sleeps.append)
    writer.create_schema()

    blocker = lock_writes(engine_factory().connect(), backend)

    def sleep(delay: float) -> None:
        sleeps.append(delay)
        if len(sleeps) == 2:
            blocker.rollback()

    writer._sleep = sleep
    try:
        result = writer.apply("sink", [make.passed("r1", 1)])
    finally:
        blocker.close()
    assert (result.attempts, sleeps) == (3, [0.01, 0.02])
    assert writer.copy(SYSTEM, "r1").version == 1


def test_retries_give_up_with_a_transient_error(backend: str, engine_factory, make: Messages) -> None:
    engine = engine_factory(busy_timeout_ms=10) if backend == "sqlite" else engine_factory(
        pg_options="-clock_timeout=50")
    sleeps: list[float] = []
    writer = SinkWriter(engine, retry=RetryPolicy(attempts=3, initial_delay=0.01), sleep=sleeps.append)
    writer.create_schema()
    with lock_writes(engine_factory().connect(), backend):
        with pytest.raises(SinkError, match="after 3 attempts") as caught:
            writer.apply("sink", [make.passed("r1", 1)])
    assert (caught.value.transient, caught.value.attempts, sleeps) == (True, 3, [0.01, 0.02])
    assert isinstance(caught.value.__cause__, OperationalError)


def test_retry_stops_at_max_elapsed(writer: SinkWriter) -> None:
    policy = RetryPolicy(attempts=100, initial_delay=1, max_delay=8, max_elapsed=10)
    assert [policy.delay(n) for n in range(5)] == [1, 2, 4, 8, 8]
    with pytest.raises(ValueError):
        RetryPolicy(attempts=0)


postgresql_only = pytest.mark.parametrize("backend", ["postgresql"])


@pytest.fixture
def pg_proxy(backend: str, engine_factory) -> Iterator[Proxy]:
    import os

    url = make_url(os.environ["LINKGUARD_TEST_DATABASE_URL"])
    proxy = Proxy(url.host or "127.0.0.1", url.port or 5432)
    yield proxy
    proxy.close()


@postgresql_only
def test_survives_a_postgresql_outage(pg_proxy: Proxy, engine_factory, make: Messages) -> None:
    """The operator issue: PostgreSQL stops for a while; the sink waits and carries on, no loss."""
    engine = engine_factory(host="127.0.0.1", port=pg_proxy.port, connect_timeout_s=2)
    writer = SinkWriter(engine, retry=RetryPolicy(attempts=20, initial_delay=0.05, max_delay=0.4))
    writer.create_schema()
    writer.apply("sink", [make.passed("r1", 1)])

    pg_proxy.down()
    threading.Timer(1.5, pg_proxy.up).start()
    started = time.monotonic()
    result = writer.apply("sink", [make.passed("r2", 2), make.held("r3", 3), make.dead(1)])
    waited = time.monotonic() - started

    assert result.attempts > 2 and waited >= 1.4
    assert (result.copies, result.held, result.dead_letters) == (1, 1, 1)
    assert writer.positions("sink", [VERIFIED, HELD, DLQ]) == {(VERIFIED, 0): 2, (HELD, 0): 1, (DLQ, 0): 1}


@postgresql_only
def test_an_outage_longer_than_the_policy_fails_cleanly(pg_proxy: Proxy, engine_factory,
                                                       make: Messages) -> None:
    engine = engine_factory(host="127.0.0.1", port=pg_proxy.port, connect_timeout_s=2)
    writer = SinkWriter(engine, retry=RetryPolicy(attempts=3, initial_delay=0.01))
    writer.create_schema()
    pg_proxy.down()
    batch = [make.passed("r1", 1)]
    with pytest.raises(SinkError) as caught:
        writer.apply("sink", batch)
    assert caught.value.transient and caught.value.attempts == 3
    pg_proxy.up()
    assert writer.apply("sink", batch).copies == 1  # the consumer re-delivers; nothing was half-written
    assert writer.counts()["copies"] == 1


@postgresql_only
def test_connections_killed_by_a_server_restart_are_replaced(engine_factory, make: Messages) -> None:
    """pool_pre_ping: a pooled connection the server dropped is not handed to a transaction."""
    name = f"sinks-test-{uuid.uuid4().hex[:8]}"
    engine = engine_factory(connect_args={"application_name": name})
    writer = SinkWriter(engine, retry=RetryPolicy(attempts=1))
    writer.create_schema()
    writer.apply("sink", [make.passed("r1", 1)])
    with engine_factory().connect() as admin:
        killed = admin.exec_driver_sql(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE application_name = %(n)s",
            {"n": name}).scalar_one()
        admin.commit()
    assert killed >= 1
    assert writer.apply("sink", [make.passed("r2", 2)]).attempts == 1


def test_a_writer_warns_about_an_engine_that_shows_parameters(tmp_path, caplog) -> None:
    from sqlalchemy import create_engine

    with caplog.at_level(logging.WARNING):
        SinkWriter(create_engine(f"sqlite:///{tmp_path / 'x.sqlite'}"))
    assert "hide_parameters" in caplog.text


def test_sqlite_errors_that_are_not_locks_are_not_retried(tmp_path, make: Messages) -> None:
    """sqlite3 reports a missing table as OperationalError too: that is no outage."""
    sleeps: list[float] = []
    writer = SinkWriter(make_engine(f"sqlite:///{tmp_path / 'empty.sqlite'}"), sleep=sleeps.append)
    with pytest.raises(SinkError, match="no such table") as caught:
        writer.apply("sink", [make.passed("r1", 1)])
    assert (caught.value.transient, sleeps) == (False, [])
    assert sqlite3.sqlite_version_info >= (3, 24)  # upserts need it

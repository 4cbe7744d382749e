"""Fixtures for the sink tests: every test runs on a SQLite file and on PostgreSQL.

PostgreSQL comes from ``LINKGUARD_TEST_DATABASE_URL``; each test gets its own
schema (dropped afterwards), so runs and tests never see each other's rows.
Without the variable the PostgreSQL variant is skipped, or fails under
``LINKGUARD_REQUIRE_SERVICES=1``.

Verdicts and dead letters are built as the Avro schemas shape them and
round-tripped through :class:`schemas.Codec`, so the shapes stay honest.
"""

from __future__ import annotations

import datetime as dt
import os
import socket
import threading
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine, make_url

import schemas
from sinks import Base, RetryPolicy, SinkMessage, SinkWriter, make_engine
from fixtures.support import my_number as valid_number

REQUIRE_SERVICES = os.environ.get("LINKGUARD_REQUIRE_SERVICES") == "1"
VERIFIED, HELD, DLQ, RECORDS = "linkage.verified", "linkage.held", "linkage.dlq", "linkage.records"
SYSTEM = "shintai-techo"


#: the number every test record carries unless told otherwise; tests grep errors and logs for it
NUMBER = valid_number(62149832025)


def _unavailable(reason: str) -> None:
    if REQUIRE_SERVICES:
        pytest.fail(f"{reason} (LINKGUARD_REQUIRE_SERVICES=1 forbids skipping)")
    pytest.skip(reason)


class Messages:
    """Builds SinkMessages whose payloads went through Avro encode/decode.

    Offsets are handed out per (topic, partition) in order unless given.
    """

    def __init__(self, codec: schemas.Codec) -> None:
        self.codec = codec
        self._next: Counter[tuple[str, int]] = Counter()
        self.clock = dt.datetime(2026, 4, 1, 9, 0, tzinfo=dt.timezone.utc)

    def _offset(self, topic: str, partition: int, offset: int | None) -> int:
        if offset is None:
            offset = self._next[(topic, partition)]
        self._next[(topic, partition)] = max(self._next[(topic, partition)], offset + 1)
        return offset

    def _tick(self) -> dt.datetime:
        self.clock += dt.timedelta(seconds=1)
        return self.clock

    def record(self, record_id: str, *, system: str = SYSTEM, operation: str = "update",
               my_number: str = NUMBER, name: str = "山田 花子", payload: dict[str, str] | None = None,
               event_id: str | None = None) -> dict[str, Any]:
        return {
            "event_id": event_id or str(uuid.uuid4()), "system": system, "record_id": record_id,
            "operation": operation, "occurred_at": self._tick(), "my_number": my_number,
            "name": name, "name_kana": "ヤマダ ハナコ", "birth_date": "1980-04-01", "sex": "2",
            "address": "高知県高知市本町1丁目1-1", "atena_no": "000123", "number_source": "申請書",
            "entered_by": "staff-7", "batch_id": "b-1",
            "payload": {"手帳番号": "第123号", "等級": "2級"} if payload is None else payload,
            "updated_at": None,
        }

    def verdict(self, record_id: str, version: int, *, outcome: str = "PASS",
                reasons: list[dict[str, str]] | None = None, suggested_my_number: str = "",
                **record: Any) -> dict[str, Any]:
        event = self.record(record_id, **record)
        message = {
            "event_id": event["event_id"], "outcome": outcome, "reasons": reasons or [],
            "suggested_my_number": suggested_my_number, "checked_at": self._tick(),
            "version": version, "record": event,
        }
        return self.codec.decode("verdict", self.codec.encode("verdict", message))

    def message(self, kind: str, topic: str, payload: dict[str, Any], *, partition: int = 0,
                offset: int | None = None) -> SinkMessage:
        name = "dead_letter" if kind == "dead_letter" else "verdict"
        raw = self.codec.encode(name, payload)
        return SinkMessage(topic=topic, partition=partition, offset=self._offset(topic, partition, offset),
                           kind=kind, payload=payload, raw=raw)  # type: ignore[arg-type]

    def passed(self, record_id: str, version: int, *, partition: int = 0, offset: int | None = None,
               **kw: Any) -> SinkMessage:
        return self.message("verified", VERIFIED, self.verdict(record_id, version, **kw),
                            partition=partition, offset=offset)

    def held(self, record_id: str, version: int, *, partition: int = 0, offset: int | None = None,
             reasons: list[dict[str, str]] | None = None, **kw: Any) -> SinkMessage:
        reasons = reasons or [{"code": "IDENTITY_MISMATCH", "detail": "birth_date"}]
        return self.message("held", HELD, self.verdict(record_id, version, outcome="HOLD", reasons=reasons,
                                                       **kw), partition=partition, offset=offset)

    def dead(self, source_offset: int, *, source_partition: int = 0, reason: str = "BAD_DATE",
             error: str = "BAD_DATE(birth_date)", stage: str = "guard", record_id: str = "",
             value: bytes | None = b"\xc3\x01not-really-avro", key: bytes | None = b"k",
             partition: int = 0, offset: int | None = None) -> SinkMessage:
        letter = {
            "topic": RECORDS, "partition": source_partition, "offset": source_offset, "key": key,
            "value": value, "reason": reason, "error": error, "stage": stage,
            "system": SYSTEM if record_id else "", "record_id": record_id, "failed_at": self._tick(),
        }
        letter = self.codec.decode("dead_letter", self.codec.encode("dead_letter", letter))
        return self.message("dead_letter", DLQ, letter, partition=partition, offset=offset)


@pytest.fixture(scope="session")
def codec() -> schemas.Codec:
    return schemas.Codec()


@pytest.fixture
def make(codec: schemas.Codec) -> Messages:
    return Messages(codec)


@pytest.fixture(params=["sqlite", "postgresql"])
def backend(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest.fixture
def engine_factory(backend: str, tmp_path) -> Iterator[Callable[..., Engine]]:
    """Makes engines on this test's database (SQLite file, or PostgreSQL schema); disposes them after.

    ``host``/``port`` replace the server's (a proxy in front of PostgreSQL),
    ``pg_options`` adds PostgreSQL settings (``-clock_timeout=100``); other
    keywords go to :func:`sinks.make_engine`.
    """
    engines: list[Engine] = []
    schema = None
    if backend == "sqlite":
        base_url = f"sqlite:///{tmp_path / 'sink.sqlite'}"
    else:
        base_url = os.environ.get("LINKGUARD_TEST_DATABASE_URL", "")
        if not base_url:
            _unavailable("PostgreSQL: set LINKGUARD_TEST_DATABASE_URL, e.g. "
                         "postgresql+psycopg://postgres@127.0.0.1:5432/test")
        schema = f"sinks_{uuid.uuid4().hex[:12]}"
        admin = make_engine(base_url)
        try:
            with admin.begin() as conn:
                conn.exec_driver_sql(f'CREATE SCHEMA "{schema}"')
        except sa.exc.OperationalError as e:
            admin.dispose()
            _unavailable(f"PostgreSQL at {make_url(base_url).render_as_string()} is not reachable: "
                         f"{type(e.orig).__name__}")

    def factory(*, host: str | None = None, port: int | None = None, pg_options: str = "",
                **kw: Any) -> Engine:
        url = make_url(base_url)
        if host or port:
            url = url.set(host=host or url.host, port=port or url.port)
        if schema:
            kw.setdefault("connect_args", {})["options"] = f"-csearch_path={schema} {pg_options}".strip()
        engine = make_engine(url, **kw)
        engines.append(engine)
        return engine

    try:
        yield factory
    finally:
        for engine in engines:
            engine.dispose()
        if schema:
            with admin.begin() as conn:
                conn.exec_driver_sql(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
            admin.dispose()


@pytest.fixture
def sink_engine(engine_factory: Callable[..., Engine]) -> Engine:
    return engine_factory()


@pytest.fixture
def sleeps() -> list[float]:
    """The delays the writer asked to sleep for (tests never really wait)."""
    return []


@pytest.fixture
def writer(sink_engine: Engine, sleeps: list[float]) -> SinkWriter:
    w = SinkWriter(sink_engine, retry=RetryPolicy(attempts=4, initial_delay=0.01, max_delay=0.05),
                   sleep=sleeps.append)
    w.create_schema()
    return w


def table_rows(engine: Engine) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every sink table, in key order: the whole observable state."""
    out = {}
    with engine.connect() as conn:
        for table in Base.metadata.sorted_tables:
            key = list(table.primary_key.columns) if table.name != "dead_letters" else [
                table.c.source_topic, table.c.source_partition, table.c.source_offset, table.c.stage]
            rows = conn.execute(sa.select(table).order_by(*key)).all()
            out[table.name] = [tuple(row) for row in rows]
    return out


@pytest.fixture
def snapshot(sink_engine: Engine) -> Callable[[], dict[str, list[tuple[Any, ...]]]]:
    return lambda: table_rows(sink_engine)


class Proxy:
    """A TCP forwarder that can be cut: a database outage without stopping the database.

    While down, every open connection is reset and new ones are closed on
    arrival, which is what clients see while PostgreSQL restarts.
    """

    def __init__(self, host: str, port: int) -> None:
        self.target = (host, port)
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.listener.settimeout(0.05)
        self.port: int = self.listener.getsockname()[1]
        self._up = threading.Event()
        self._up.set()
        self._closed = threading.Event()
        self._lock = threading.Lock()
        self._sockets: set[socket.socket] = set()
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()

    def _accept(self) -> None:
        while not self._closed.is_set():
            try:
                client, _ = self.listener.accept()
            except (TimeoutError, socket.timeout):
                continue
            except OSError:
                return
            if not self._up.is_set():
                client.close()
                continue
            try:
                upstream = socket.create_connection(self.target, timeout=5)
            except OSError:
                client.close()
                continue
            upstream.settimeout(None)
            client.settimeout(None)
            with self._lock:
                self._sockets.update((client, upstream))
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    def _pipe(self, source: socket.socket, target: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                target.sendall(data)
        except OSError:
            pass
        finally:
            self._close(source, target)

    def _close(self, *sockets: socket.socket) -> None:
        with self._lock:
            for s in sockets:
                self._sockets.discard(s)
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
                s.close()

    def down(self) -> None:
        self._up.clear()
        with self._lock:
            open_sockets = list(self._sockets)
        self._close(*open_sockets)

    def up(self) -> None:
        self._up.set()

    def close(self) -> None:
        self._closed.set()
        self.down()
        self.listener.close()
        self._thread.join(timeout=2)

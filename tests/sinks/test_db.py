"""make_engine: the settings each database needs for the sink's write pattern."""

from __future__ import annotations

import sys

import pytest

from sinks import DriverMissing, SinkWriter, make_engine
from sinks.settings import DEFAULT_DATABASE_URL, DatabaseSettings


def test_sqlite_file_gets_wal_busy_timeout_and_its_folder(tmp_path) -> None:
    path = tmp_path / "var" / "deeper" / "sink.sqlite"
    engine = make_engine(f"sqlite:///{path}", busy_timeout_ms=1234)
    with engine.connect() as conn:
        pragmas = {name: conn.exec_driver_sql(f"PRAGMA {name}").scalar()
                   for name in ("journal_mode", "busy_timeout", "synchronous", "foreign_keys")}
    assert pragmas == {"journal_mode": "wal", "busy_timeout": 1234, "synchronous": 1, "foreign_keys": 1}
    assert path.exists()
    assert engine.hide_parameters


def test_sqlite_reads_are_inside_the_transaction(tmp_path) -> None:
    """The sqlite3 module would not BEGIN before a SELECT; the engine does."""
    engine = make_engine(f"sqlite:///{tmp_path / 'tx.sqlite'}")
    with engine.connect() as conn, conn.begin():
        conn.exec_driver_sql("SELECT 1").scalar()
        assert conn.connection.dbapi_connection.in_transaction


def test_bare_postgresql_url_uses_psycopg3() -> None:
    engine = make_engine("postgresql://u@db.invalid:5432/x")  # no connection is made
    assert engine.dialect.driver == "psycopg"
    assert engine.pool._pre_ping and engine.hide_parameters


def test_a_missing_driver_says_what_to_install(monkeypatch) -> None:
    monkeypatch.setitem(sys.modules, "psycopg", None)  # as if not installed
    with pytest.raises(DriverMissing, match=r"pip install psycopg\[binary\]"):
        make_engine("postgresql+psycopg://u@db.invalid/x")


def test_an_unknown_dialect_is_named() -> None:
    with pytest.raises(DriverMissing, match="no SQLAlchemy dialect for 'oracle\\+nonesuch'"):
        make_engine("oracle+nonesuch://u@h/x")


def test_settings_default_is_a_sqlite_file(monkeypatch) -> None:
    monkeypatch.delenv("LINKGUARD_DATABASE_URL", raising=False)
    assert DatabaseSettings().database_url == DEFAULT_DATABASE_URL
    monkeypatch.setenv("LINKGUARD_DATABASE_URL", "postgresql+psycopg://linkguard@db/linkguard")
    assert DatabaseSettings().database_url.startswith("postgresql+psycopg://")


def test_writer_refuses_other_databases() -> None:
    from types import SimpleNamespace

    mysql = SimpleNamespace(dialect=SimpleNamespace(name="mysql"), hide_parameters=True)
    with pytest.raises(ValueError, match="PostgreSQL and SQLite, not mysql"):
        SinkWriter(mysql)  # type: ignore[arg-type]


def test_create_schema_is_idempotent(writer: SinkWriter) -> None:
    writer.create_schema()
    writer.create_schema()
    assert writer.counts()["copies"] == 0


def test_a_sqlite_database_and_its_wal_are_readable_by_their_owner_only(tmp_path) -> None:
    import os
    import stat

    old_umask = os.umask(0o022)  # the usual default, which gave 0644 before
    try:
        path = tmp_path / "fresh" / "linkguard.sqlite"
        engine = make_engine(f"sqlite:///{path}")
        SinkWriter(engine).create_schema()
        with engine.begin() as conn:  # a write, so that the -wal file exists
            conn.exec_driver_sql("INSERT INTO consumed_offsets VALUES ('c', 't', 0, 1, '2026-01-01')")
        wal = path.with_name(path.name + "-wal")
        assert wal.exists()
        for file in (path, wal):
            assert stat.S_IMODE(file.stat().st_mode) == 0o600, file
        engine.dispose()
        older = tmp_path / "older.sqlite"
        older.touch(mode=0o644)
        make_engine(f"sqlite:///{older}").dispose()
        assert stat.S_IMODE(older.stat().st_mode) == 0o600
    finally:
        os.umask(old_umask)

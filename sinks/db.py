"""Engines for the sink database: SQLite for one command, PostgreSQL in production.

>>> engine = make_engine("sqlite://")
>>> engine.dialect.name, engine.hide_parameters
('sqlite', True)
>>> with engine.begin() as conn:
...     conn.exec_driver_sql("PRAGMA busy_timeout").scalar()
10000
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import URL, Connection, make_url
from sqlalchemy.exc import NoSuchModuleError

from guards.exceptions import LinkguardError

__all__ = ["make_engine", "SQLITE_BEGIN_OPTION", "DriverMissing", "SchemaOutdated"]

log = logging.getLogger(__name__)

#: execution option naming how a SQLite transaction begins (``DEFERRED`` or ``IMMEDIATE``)
SQLITE_BEGIN_OPTION = "linkguard_sqlite_begin"

#: what to install when a URL's DBAPI driver cannot be imported
_DRIVER_PACKAGES = {
    "psycopg": "psycopg[binary]",
    "psycopg2": "psycopg2-binary",
    "pg8000": "pg8000",
    "pysqlite": "the Python build's sqlite3 module",
}


class DriverMissing(LinkguardError, ImportError):
    """The database URL names a driver that is not installed."""


class SchemaOutdated(LinkguardError, RuntimeError):
    """The database lacks tables or columns this release needs, and this role may not add them
    (:mod:`sinks.schema`)."""


def make_engine(url: str | URL, *, pool_size: int = 5, busy_timeout_ms: int = 10_000,
                connect_timeout_s: int = 10, echo: bool = False, **kwargs: Any) -> Engine:
    """An engine set up for the sink's write pattern.

    * SQL parameters are never shown in errors or logs (``hide_parameters``):
      they hold My Numbers.
    * SQLite: WAL (readers do not block the writer), ``busy_timeout`` (a
      second process waits instead of failing), ``synchronous=NORMAL`` (a
      power cut may lose the last transactions, but rows and positions are
      lost together and are simply re-consumed), foreign keys on, and
      SQLAlchemy emitting ``BEGIN`` itself so that reads are inside the
      transaction too. The file's folder is created.
    * PostgreSQL: ``pool_pre_ping`` (a connection broken by a server restart is
      replaced before use), a connect timeout so an outage fails fast into the
      writer's retry. A bare ``postgresql://`` URL uses psycopg 3, the
      project's driver.
    """
    url = make_url(url)
    if url.drivername == "postgresql":
        url = url.set(drivername="postgresql+psycopg")
    backend = url.get_backend_name()
    options: dict[str, Any] = {
        "hide_parameters": True, "echo": echo,
        "json_serializer": lambda value: json.dumps(value, ensure_ascii=False),  # readable 漢字 in SQLite
    }
    if backend == "sqlite":
        _prepare_sqlite_path(url)
    elif backend == "postgresql":
        options.update(pool_pre_ping=True, pool_size=pool_size, max_overflow=pool_size)
        connect_args = dict(kwargs.pop("connect_args", {}))
        if url.get_driver_name() in ("psycopg", "psycopg2"):
            connect_args.setdefault("connect_timeout", connect_timeout_s)
            connect_args.setdefault("application_name", "linkguard-sink")
        options["connect_args"] = connect_args
    options.update(kwargs)
    try:
        engine = create_engine(url, **options)
    except NoSuchModuleError as e:
        raise DriverMissing(f"no SQLAlchemy dialect for {url.drivername!r}: use postgresql+psycopg:// "
                            f"or sqlite:///path") from e
    except ImportError as e:
        driver = url.get_driver_name()
        package = _DRIVER_PACKAGES.get(driver, driver)
        raise DriverMissing(f"the database driver {driver!r} for {backend} is not installed: "
                            f"pip install {package}") from e
    if backend == "sqlite":
        _configure_sqlite(engine, busy_timeout_ms)
    return engine


def _prepare_sqlite_path(url: URL) -> None:
    """Create the file's folder, and the file itself readable by its owner only (it holds every number).

    SQLite gives its ``-wal`` and ``-shm`` files the database file's mode, so
    they are 0600 too. A file made earlier with a wider mode is narrowed.
    """
    database = url.database or ""
    if not database or database == ":memory:" or database.startswith("file:"):
        return
    path = Path(database).expanduser()
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    except FileExistsError:
        pass
    for file in (path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
        try:
            if file.stat().st_mode & 0o077 and file.stat().st_uid == os.getuid():
                log.warning("%s was readable by others: narrowing it to 0600", file)
                file.chmod(0o600)
        except FileNotFoundError:
            pass


def _configure_sqlite(engine: Engine, busy_timeout_ms: int) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # take BEGIN away from the sqlite3 module (it skips it before SELECTs)
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute(f"PRAGMA busy_timeout = {int(busy_timeout_ms)}")
            cursor.execute("PRAGMA journal_mode = WAL")
            cursor.execute("PRAGMA synchronous = NORMAL")
            cursor.execute("PRAGMA foreign_keys = ON")
        finally:
            cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        mode = conn.get_execution_options().get(SQLITE_BEGIN_OPTION, "DEFERRED")
        if mode not in ("DEFERRED", "IMMEDIATE"):
            raise ValueError(f"{SQLITE_BEGIN_OPTION} must be DEFERRED or IMMEDIATE, not {mode!r}")
        conn.exec_driver_sql(f"BEGIN {mode}")

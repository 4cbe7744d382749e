"""Bring a sink database made by an earlier release up to this release's tables.

There is no migration tool: the tables only ever gain tables and columns
(nothing is renamed or dropped), so :func:`upgrade_schema` can do it at
start, wherever the schema is ensured (``linkguard db init``, the sink, the
web app):

* tables this release added are created (``create_all``);
* columns this release added to existing tables are added with
  ``ALTER TABLE … ADD COLUMN`` (SQLite and PostgreSQL). A column with a
  plain default (``number_source = ''``) gets it as the value of the rows
  already there; a column without one is added nullable, and its ``NULL``
  says the row predates it — the audit log's ``prev_hash``/``row_hash``,
  whose ``NULL`` marks a row written before the hash chain existed
  (:func:`sinks.audit.verify_chain` reports those rows as unverified);
* on SQLite, the audit log's append-only triggers an older release lacked.

It runs in one transaction under a lock (a PostgreSQL advisory lock, an
``IMMEDIATE`` SQLite transaction), so two processes starting together add
each column once. When the schema is current it changes nothing, so the
application's INSERT/SELECT-only role (:mod:`sinks.roles`) passes through;
when something is missing and the role may not add it, :class:`SchemaOutdated`
says to run ``linkguard db init`` as the owner.

What was added is written to the audit log (``schema_upgrade``); on a log
with rows from before the chain, that row is the one that starts the chain.
"""

from __future__ import annotations

import logging

from sqlalchemy import Column, Connection, Engine, Table, inspect, literal, text
from sqlalchemy.exc import DBAPIError

from sinks.audit import append_entry
from sinks.db import SQLITE_BEGIN_OPTION, SchemaOutdated
from sinks.models import Base, sqlite_append_only_statements

__all__ = ["upgrade_schema", "SchemaOutdated", "missing_schema"]

log = logging.getLogger(__name__)

#: the PostgreSQL advisory lock that serialises upgrades (any constant unique to this use)
_UPGRADE_LOCK = 0x4C47_5343_4845_4D  # "LGSCHEM"
#: PostgreSQL's insufficient_privilege
_NO_PRIVILEGE = "42501"


def _import_every_table() -> None:
    import sinks.hq  # noqa: F401  (its tables join Base.metadata on import)


def missing_schema(conn: Connection) -> tuple[list[str], list[tuple[Table, Column]]]:
    """The tables, and the columns of existing tables, this release has and the database lacks."""
    _import_every_table()
    inspector = inspect(conn)
    present = set(inspector.get_table_names())
    tables = [t.name for t in Base.metadata.sorted_tables if t.name not in present]
    columns: list[tuple[Table, Column]] = []
    for table in Base.metadata.sorted_tables:
        if table.name not in present:
            continue
        have = {c["name"] for c in inspector.get_columns(table.name)}
        columns.extend((table, column) for column in table.columns if column.name not in have)
    return tables, columns


def _add_column_ddl(conn: Connection, table: Table, column: Column) -> str:
    dialect = conn.dialect
    if column.primary_key:
        raise SchemaOutdated(f"the table {table.name} lacks its key column {column.name}: it cannot be added "
                             "in place; export the data and create the database again")
    quote = dialect.identifier_preparer
    ddl = (f"ALTER TABLE {quote.format_table(table)} ADD COLUMN {quote.format_column(column)} "
           f"{column.type.compile(dialect=dialect)}")
    default = column.default
    if default is not None and default.is_scalar and default.arg is not None:
        value = literal(default.arg, type_=column.type).compile(
            dialect=dialect, compile_kwargs={"literal_binds": True})
        ddl += f" DEFAULT {value}" + ("" if column.nullable else " NOT NULL")
    # without a plain default the column stays nullable: NULL marks the rows that predate it
    return ddl


def _sqlite_missing_triggers(conn: Connection) -> bool:
    names = set(conn.exec_driver_sql("SELECT name FROM sqlite_master WHERE type = 'trigger'").scalars())
    return not {"audit_log_no_update", "audit_log_no_delete", "audit_log_no_replace"} <= names


def upgrade_schema(engine: Engine) -> list[str]:
    """Create missing tables, add missing columns (and SQLite's audit triggers); return what was added.

    Raises :class:`SchemaOutdated` when something is missing and the connected
    role may not add it (run ``linkguard db init`` with the owner's URL).
    """
    with engine.connect() as conn:
        tables, columns = missing_schema(conn)
        triggers = engine.dialect.name == "sqlite" and _sqlite_missing_triggers(conn)
        conn.rollback()
        if not tables and not columns and not triggers:
            return []
        conn.execution_options(**{SQLITE_BEGIN_OPTION: "IMMEDIATE"})
        try:
            with conn.begin():
                if conn.dialect.name == "postgresql":
                    conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _UPGRADE_LOCK})
                tables, columns = missing_schema(conn)  # again, under the lock: another process may have
                if tables:
                    Base.metadata.create_all(conn)
                for table, column in columns:
                    conn.exec_driver_sql(_add_column_ddl(conn, table, column))
                if conn.dialect.name == "sqlite":
                    for statement in sqlite_append_only_statements():
                        conn.exec_driver_sql(statement)
        except DBAPIError as e:
            sqlstate = getattr(e.orig, "sqlstate", None)
            if sqlstate != _NO_PRIVILEGE:
                raise
            needed = [*tables, *(f"{t.name}.{c.name}" for t, c in columns)]
            role = _current_role(engine)
            raise SchemaOutdated(
                f"the database lacks what this release needs ({', '.join(needed)}) and the role {role!r} "
                "may not add it: run `linkguard db init` once with the owner's database URL "
                "(`--url`), then start the application again") from None
    added = [*(f"table {name}" for name in tables), *(f"column {t.name}.{c.name}" for t, c in columns)]
    if columns:  # an upgrade of existing tables (a new database is no event worth auditing)
        log.warning("sink database upgraded: added %s", ", ".join(added))
        append_entry(engine, "linkguard", "schema_upgrade", detail="added " + ", ".join(added))
    return added


def _current_role(engine: Engine) -> str:
    try:
        with engine.connect() as conn:
            return str(conn.execute(text("SELECT current_user")).scalar_one())
    except DBAPIError:
        return "?"

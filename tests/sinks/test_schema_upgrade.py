"""A database made by the previous release (0def2e7) is upgraded in place at start, on SQLite and PostgreSQL.

That release's tables lack the audit chain's ``prev_hash``/``row_hash``, the
copies' ``number_source`` and every table added since (sessions, tokens, the
headquarters'). ``create_all`` adds tables but never columns, so without the
upgrade every audit row and every copy written to such a database fails.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from fixtures import previous_release_models as previous
from fixtures.previous_release import PREVIOUS_AT as T0, previous_release_database
from fixtures.database_roles import pg_roles  # noqa: F401  (a fixture, used by name)
from sinks import RetryPolicy, SinkWriter
from sinks.audit import GENESIS, append_entry, verify_chain
from sinks.models import AuditEntry, IntermediateCopy
from sinks.roles import init_database
from sinks.schema import SchemaOutdated, upgrade_schema

from .conftest import SYSTEM, Messages

def _writer(engine: Engine) -> SinkWriter:
    return SinkWriter(engine, retry=RetryPolicy(attempts=1), sleep=lambda s: None)


def test_a_previous_release_database_is_upgraded_and_usable(engine_factory: Callable[..., Engine],
                                                            make: Messages) -> None:
    engine = engine_factory()
    previous_release_database(engine)

    writer = _writer(engine)
    writer.create_schema()  # where the sink, the web app and `db init` ensure the schema

    columns = {t: {c["name"] for c in sa.inspect(engine).get_columns(t)} for t in ("audit_log", "intermediate_copies")}
    assert {"prev_hash", "row_hash"} <= columns["audit_log"] and "number_source" in columns["intermediate_copies"]
    assert {"review_sessions", "review_api_tokens", "process_stops"} <= set(sa.inspect(engine).get_table_names())

    # copies: the old one reads back with the new column's default, new ones are written in full
    writer.apply("sink", [make.passed("NEW-COPY", 9)])
    old, new = writer.copy(SYSTEM, "OLD-COPY"), writer.copy(SYSTEM, "NEW-COPY")
    assert old is not None and old.number_source == "" and old.version == 7
    assert new is not None and new.number_source == "申請書" and not new.withdrawn

    # the audit log: the upgrade itself is the first chained row, sealing the three rows before it
    append_entry(engine, "ito", "view", SYSTEM, "NEW-1")
    append_entry(engine, "sato", "view", SYSTEM, "NEW-2")
    with engine.connect() as conn:
        rows = conn.execute(sa.select(AuditEntry).order_by(AuditEntry.id)).all()
    assert [r.id for r in rows] == [1, 2, 3, 4, 5, 6]
    assert [r.row_hash is None for r in rows] == [True, True, True, False, False, False]
    assert rows[3].action == "schema_upgrade" and "audit_log.row_hash" in rows[3].detail
    assert rows[3].prev_hash != GENESIS  # the seal of rows 1-3, not a fresh start that ignores them

    report = verify_chain(engine)
    assert report.intact and report.checked == 3 and report.head_id == 6
    assert (report.unchained, report.unchained_first, report.unchained_last) == (3, 1, 3)
    assert "3 rows (ids 1–3) were written before the hash chain existed and are NOT verified" in report.describe()

    # idempotent: a second start adds nothing and writes no audit row
    assert upgrade_schema(engine) == []
    assert verify_chain(engine).head_id == 6

    # a row from before the chain changed after the upgrade breaks the chain at its sealing row
    with engine.begin() as conn:
        if engine.dialect.name == "postgresql":
            conn.exec_driver_sql("ALTER TABLE audit_log DISABLE TRIGGER audit_log_append_only")
        else:
            conn.exec_driver_sql("DROP TRIGGER audit_log_no_update")
        conn.execute(sa.update(AuditEntry).where(AuditEntry.id == 2).values(actor="somebody else"))
    broken = verify_chain(engine)
    assert broken.broken_id == 4 and "does not chain" in broken.problem


def test_the_upgrade_adds_sqlites_replace_trigger(tmp_path) -> None:
    from sinks import make_engine

    engine = make_engine(f"sqlite:///{tmp_path / 'old.sqlite'}")
    try:
        previous_release_database(engine)
        _writer(engine).create_schema()
        with pytest.raises(sa.exc.DBAPIError, match="append-only"):
            with engine.begin() as conn:
                conn.exec_driver_sql(
                    "INSERT OR REPLACE INTO audit_log (id, at, actor, action, system, record_id, detail) "
                    "SELECT id, at, 'nobody', action, system, record_id, detail FROM audit_log WHERE id = 1")
    finally:
        engine.dispose()


def test_a_row_without_hashes_after_the_chain_began_is_a_break(engine_factory: Callable[..., Engine]) -> None:
    engine = engine_factory()
    previous_release_database(engine)
    _writer(engine).create_schema()  # row 4: schema_upgrade
    with engine.begin() as conn:  # written past the application, as the previous release would have
        conn.execute(sa.insert(AuditEntry).values(id=5, at=T0, actor="x", action="view", system="", record_id="",
                                                  detail="", prev_hash=None, row_hash=None))
    report = verify_chain(engine)
    assert report.broken_id == 5 and "no hash" in report.problem and report.unchained == 3


def test_the_application_role_is_told_to_run_db_init(pg_roles, make: Messages) -> None:
    connect, owner, app = pg_roles
    owner_engine = connect(owner)
    previous_release_database(owner_engine)
    with owner_engine.begin() as conn:  # the grants the previous release's `db init --app-role` gave
        conn.exec_driver_sql(f"GRANT USAGE ON SCHEMA public TO {app}")
        for table in previous.Base.metadata.sorted_tables:
            rights = "SELECT, INSERT" if table.name == "audit_log" else "SELECT, INSERT, UPDATE, DELETE"
            conn.exec_driver_sql(f'GRANT {rights} ON "{table.name}" TO {app}')
        conn.exec_driver_sql(f"GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO {app}")
    app_engine = connect(app)

    with pytest.raises(SchemaOutdated, match=r"run `linkguard db init` once with the owner's database URL") as e:
        _writer(app_engine).create_schema()
    assert "audit_log.prev_hash" in str(e.value) and app in str(e.value)
    with pytest.raises(SchemaOutdated, match="db init"):
        verify_chain(app_engine)

    init_database(owner_engine, app)  # the owner upgrades and grants the new tables
    _writer(app_engine).create_schema()  # now current: the application role changes nothing
    append_entry(app_engine, "ito", "view", SYSTEM, "NEW-1")
    _writer(app_engine).apply("sink", [make.passed("NEW-COPY", 9)])
    with app_engine.connect() as conn:
        assert conn.execute(sa.select(IntermediateCopy.number_source)
                            .where(IntermediateCopy.record_id == "NEW-COPY")).scalar_one() == "申請書"
        conn.execute(sa.select(sa.func.count()).select_from(sa.table("review_sessions"))).scalar_one()
    report = verify_chain(app_engine)
    assert report.intact and report.checked == 2 and report.unchained == 3

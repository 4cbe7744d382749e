"""The audit log is tamper-evident: a hash chain, replace-proof on SQLite, an INSERT/SELECT-only role on PostgreSQL."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable, Iterator

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine, make_url

from sinks import SinkWriter, make_engine
from sinks.audit import GENESIS, AuditFields, append_entry, row_digest, verify_chain
from sinks.models import AuditEntry
from sinks.roles import RoleError, audit_guard, init_database
from fixtures.database_roles import pg_roles  # noqa: F401  (a fixture, used by name)


def _fill(engine: Engine, count: int) -> None:
    for i in range(count):
        append_entry(engine, "sato" if i % 2 else "ito", "reveal", "shintai-techo", f"R-{i + 1}", "")


def _bypass_triggers(engine: Engine, conn: sa.Connection) -> None:
    """What a table owner can do: take the append-only triggers away."""
    if engine.dialect.name == "postgresql":
        conn.exec_driver_sql("ALTER TABLE audit_log DISABLE TRIGGER audit_log_append_only")
    else:
        for name in ("no_update", "no_delete", "no_replace"):
            conn.exec_driver_sql(f"DROP TRIGGER audit_log_{name}")


def test_rows_are_chained_from_genesis(writer: SinkWriter, sink_engine: Engine) -> None:
    _fill(sink_engine, 3)
    with sink_engine.connect() as conn:
        rows = conn.execute(sa.select(AuditEntry).order_by(AuditEntry.id)).all()
    assert [r.id for r in rows] == [1, 2, 3]
    assert rows[0].prev_hash == GENESIS
    assert [r.prev_hash for r in rows[1:]] == [r.row_hash for r in rows[:-1]]
    report = verify_chain(sink_engine)
    assert report.intact and report.checked == 3 and report.head_id == 3
    assert report.head_hash == rows[-1].row_hash and "intact: 3 rows" in report.describe()


def test_a_changed_row_is_named_by_the_verification(writer: SinkWriter, sink_engine: Engine) -> None:
    _fill(sink_engine, 5)
    with sink_engine.begin() as conn:
        _bypass_triggers(sink_engine, conn)
        conn.execute(sa.update(AuditEntry).where(AuditEntry.id == 3).values(actor="somebody else"))
    report = verify_chain(sink_engine)
    assert (report.broken_id, report.checked) == (3, 2)
    assert "row 3" in report.describe() and "changed" in report.problem


def test_a_deleted_or_resealed_row_breaks_the_chain(writer: SinkWriter, sink_engine: Engine) -> None:
    _fill(sink_engine, 5)
    with sink_engine.begin() as conn:
        _bypass_triggers(sink_engine, conn)
        conn.execute(sa.delete(AuditEntry).where(AuditEntry.id == 2))
    assert verify_chain(sink_engine).broken_id == 3  # "expected row 2 next"
    # a forger who also recomputes the changed row's own hash still breaks the link of the next row
    with sink_engine.begin() as conn:
        row = conn.execute(sa.select(AuditEntry).where(AuditEntry.id == 4)).one()
        forged = AuditFields(4, row.at, "forger", row.action, row.system, row.record_id, row.detail)
        conn.execute(sa.update(AuditEntry).where(AuditEntry.id == 4)
                     .values(actor="forger", row_hash=row_digest(row.prev_hash, forged)))
        conn.execute(sa.delete(AuditEntry).where(AuditEntry.id < 4))
        conn.execute(sa.update(AuditEntry).where(AuditEntry.id == 4).values(id=1, prev_hash=GENESIS))
    report = verify_chain(sink_engine)
    assert report.broken_id == 1 and "content" in report.problem


def test_concurrent_appends_form_one_chain(writer: SinkWriter, sink_engine: Engine) -> None:
    errors: list[BaseException] = []

    def work() -> None:
        try:
            _fill(sink_engine, 15)
        except BaseException as e:  # noqa: BLE001 - reported below
            errors.append(e)

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    report = verify_chain(sink_engine)
    assert report.intact and report.checked == 60


def test_sqlite_insert_or_replace_cannot_rewrite_a_row(tmp_path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'audit.sqlite'}")
    try:
        SinkWriter(engine).create_schema()
        _fill(engine, 2)
        with pytest.raises(sa.exc.DBAPIError, match="append-only"):
            with engine.begin() as conn:
                conn.exec_driver_sql(
                    "INSERT OR REPLACE INTO audit_log (id, at, actor, action, system, record_id, detail, "
                    "prev_hash, row_hash) SELECT id, at, 'nobody', action, system, record_id, detail, "
                    "prev_hash, row_hash FROM audit_log WHERE id = 1")
        with engine.connect() as conn:
            assert conn.execute(sa.select(AuditEntry.actor).order_by(AuditEntry.id)).scalars().all() == [
                "ito", "sato"]
        assert verify_chain(engine).intact
    finally:
        engine.dispose()


# -- PostgreSQL: the schema's owner and an application role ------------------------------------
def test_the_application_role_can_only_insert_and_select_the_audit_log(pg_roles) -> None:
    connect, owner, app = pg_roles
    owner_engine = connect(owner)
    assert audit_guard(owner_engine).can_rewrite  # the owner could: the application must not be it
    init_database(owner_engine, app)
    init_database(owner_engine, app)  # idempotent
    app_engine = connect(app)
    SinkWriter(app_engine).create_schema()  # finds every table: creates nothing, needs no DDL right
    _fill(app_engine, 3)
    assert verify_chain(app_engine).intact
    guard = audit_guard(app_engine)
    assert not guard.can_rewrite and "only add to and read" in guard.describe()
    for statement in ("UPDATE audit_log SET actor = 'x'", "DELETE FROM audit_log", "TRUNCATE audit_log",
                      "ALTER TABLE audit_log DISABLE TRIGGER audit_log_append_only",
                      "DROP TABLE audit_log"):
        with pytest.raises(sa.exc.ProgrammingError, match="permission denied|must be owner"):
            with app_engine.begin() as conn:
                conn.exec_driver_sql(statement)
    # everything else the application does still works: the sink writes and reads its tables
    with app_engine.begin() as conn:
        conn.exec_driver_sql("INSERT INTO consumed_offsets (consumer, topic, partition, next_offset, updated_at) "
                             "VALUES ('c', 't', 0, 1, now())")
        conn.exec_driver_sql("UPDATE consumed_offsets SET next_offset = 2")
        conn.exec_driver_sql("INSERT INTO dead_letters (source_topic, source_partition, source_offset, stage, "
                             "reason, error, system, record_id, failed_at) "
                             "VALUES ('t', 0, 1, 'guard', 'X', 'x', '', '', now())")
    assert verify_chain(app_engine).checked == 3


def test_db_init_refuses_an_application_role_that_could_rewrite_the_log(pg_roles) -> None:
    connect, owner, app = pg_roles
    owner_engine = connect(owner)
    with pytest.raises(RoleError, match="must not be the owner"):
        init_database(owner_engine, owner)
    with pytest.raises(RoleError, match="no PostgreSQL role"):
        init_database(owner_engine, "lg_nobody_" + uuid.uuid4().hex[:6])
    with pytest.raises(RoleError, match="plain PostgreSQL role name"):
        init_database(owner_engine, 'x"; DROP TABLE audit_log; --')

"""Tables of the sink database: intermediate-server copies, review store, dead letters, positions.

Every row that comes from a verdict carries the event's ``version`` (its
offset in its ``linkage.records`` partition), so that writes can be replayed
in any order and still end in the newest state. ``consumed_offsets`` is
written in the same transaction as the rows it accounts for.

Times are stored in UTC; :class:`UTCDateTime` hands them back timezone-aware
on every database (SQLite keeps no zone of its own).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import (
    event,
    BigInteger,
    Boolean,
    CheckConstraint,
    DateTime,
    Dialect,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import JSON

__all__ = [
    "Base",
    "IntermediateCopy",
    "HeldRecord",
    "DeadLetter",
    "ConsumedOffset",
    "UTCDateTime",
    "VIA",
    "HELD_STATUSES",
    "ReviewDecision",
    "PendingRelease",
    "AuditEntry",
    "Account",
    "ApiToken",
    "WebSession",
    "LoginFailure",
    "DECISION_ACTIONS",
    "DECISION_STATUSES",
    "sqlite_append_only_statements",
]

#: how a copy was verified: by the guard's rules, or by an approved review decision
VIA = ("guard", "review")
#: life of a held record; only ``open`` is in the reviewers' queue
HELD_STATUSES = ("open", "superseded", "released", "corrected", "returned")


class UTCDateTime(TypeDecorator[dt.datetime]):
    """A timestamp stored in UTC and always read back timezone-aware.

    PostgreSQL keeps ``timestamptz``; SQLite keeps text without a zone, so a
    naive value read back is UTC by construction. Naive values written are
    taken to be UTC already.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: dt.datetime | None, dialect: Dialect) -> dt.datetime | None:
        if value is None or value.tzinfo is None:
            return value
        return value.astimezone(dt.timezone.utc)

    def process_result_value(self, value: dt.datetime | None, dialect: Dialect) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=dt.timezone.utc)
        return value.astimezone(dt.timezone.utc)


#: JSON documents: JSONB on PostgreSQL (indexable, queryable), JSON text elsewhere
JSONDoc = JSON().with_variant(JSONB(), "postgresql")
#: surrogate keys: BIGINT on PostgreSQL, INTEGER (the rowid alias) on SQLite so it autoincrements
BigId = BigInteger().with_variant(Integer(), "sqlite")

NAMING = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    """Declarative base with deterministic constraint names (for migrations later)."""

    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map = {
        dt.datetime: UTCDateTime(),
        dict[str, Any]: JSONDoc,
        list[dict[str, str]]: JSONDoc,
        dict[str, str]: JSONDoc,
    }


class IntermediateCopy(Base):
    """副本: the copy of one business record registered to the intermediate server.

    One row per record; only a PASS verdict (or an approved review) writes it.
    A delete or a later retraction does not remove the row but marks it
    withdrawn, so the version stays and an older event can never bring the
    copy back.
    """

    __tablename__ = "intermediate_copies"

    system: Mapped[str] = mapped_column(String, primary_key=True)
    record_id: Mapped[str] = mapped_column(String, primary_key=True)
    my_number: Mapped[str] = mapped_column(String)
    name: Mapped[str] = mapped_column(Text, default="")
    birth_date: Mapped[str] = mapped_column(String, default="")
    sex: Mapped[str] = mapped_column(String, default="")
    address: Mapped[str] = mapped_column(Text, default="")
    atena_no: Mapped[str] = mapped_column(String, default="")
    payload: Mapped[dict[str, str]] = mapped_column(default=dict)
    event_id: Mapped[str] = mapped_column(String)
    version: Mapped[int] = mapped_column(BigInteger, doc="ordering of changes to one record")
    verified_at: Mapped[dt.datetime]
    via: Mapped[str] = mapped_column(String(8), default="guard")
    withdrawn_at: Mapped[dt.datetime | None]
    withdrawn_reason: Mapped[str | None] = mapped_column(String)
    #: 取得経路 as the record carried it: the headquarters compares it with the process's survey answer
    number_source: Mapped[str] = mapped_column(String, default="")

    __table_args__ = (
        CheckConstraint("via IN ('guard', 'review')", name="via"),
        # registry changes (death, number change) re-check the copies of one number
        Index(None, "my_number"),
    )

    @property
    def withdrawn(self) -> bool:
        return self.withdrawn_at is not None

    def __repr__(self) -> str:  # no My Number in reprs: they end up in logs
        state = f"withdrawn {self.withdrawn_reason}" if self.withdrawn else "live"
        return f"<IntermediateCopy {self.system}/{self.record_id} v{self.version} {state}>"


class HeldRecord(Base):
    """The review store: the latest HOLD of one record, with everything a reviewer needs."""

    __tablename__ = "held_records"

    system: Mapped[str] = mapped_column(String, primary_key=True)
    record_id: Mapped[str] = mapped_column(String, primary_key=True)
    event_id: Mapped[str] = mapped_column(String)
    version: Mapped[int] = mapped_column(BigInteger)
    reasons: Mapped[list[dict[str, str]]] = mapped_column(default=list, doc="[{code, detail}]")
    suggested_my_number: Mapped[str] = mapped_column(String, default="")
    record: Mapped[dict[str, Any]] = mapped_column(doc="the checked RecordChanged event, JSON-safe")
    held_at: Mapped[dt.datetime]
    status: Mapped[str] = mapped_column(String(16), default="open")
    updated_at: Mapped[dt.datetime]
    #: ";CODE;CODE;": the queue filters by one reason with LIKE on every database
    reason_key: Mapped[str] = mapped_column(String, default="")
    #: the registry entry of the record's number, as the guard compared it (verdict v2; None before)
    registry_person: Mapped[dict[str, Any] | None] = mapped_column(JSONDoc, default=None)
    #: the registry entry of the suggested number
    suggested_person: Mapped[dict[str, Any] | None] = mapped_column(JSONDoc, default=None)
    #: who works the record (set by an ASSIGN decision)
    assignee: Mapped[str | None] = mapped_column(String, default=None)
    #: the RecordChanged event an accepted CORRECT published; its PASS closes the hold as corrected
    correction_event_id: Mapped[str | None] = mapped_column(String, default=None)

    __table_args__ = (
        CheckConstraint(
            "status IN ('open', 'superseded', 'released', 'corrected', 'returned')", name="status"
        ),
        # the reviewers' queue, oldest or newest first, keyset-paged on (held_at, system, record_id)
        Index(None, "status", "held_at", "system", "record_id"),
        Index(None, "status", "system", "held_at", "record_id"),
        Index(None, "status", "assignee", "held_at"),
        Index(None, "system"),
    )

    @property
    def reason_codes(self) -> list[str]:
        return [r["code"] for r in self.reasons]

    def __repr__(self) -> str:
        return f"<HeldRecord {self.system}/{self.record_id} v{self.version} {self.status}>"


class DeadLetter(Base):
    """A message nobody could process, where it was, and why; kept for replay."""

    __tablename__ = "dead_letters"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    source_topic: Mapped[str] = mapped_column(String)
    source_partition: Mapped[int] = mapped_column(Integer)
    source_offset: Mapped[int] = mapped_column(BigInteger)
    stage: Mapped[str] = mapped_column(String, doc="guard, registry, sink …: who gave up")
    reason: Mapped[str] = mapped_column(String, doc="reason codes, ';'-joined")
    error: Mapped[str] = mapped_column(Text, doc="what was wrong; never holds a My Number")
    system: Mapped[str] = mapped_column(String, default="")
    record_id: Mapped[str] = mapped_column(String, default="")
    raw_key: Mapped[bytes | None] = mapped_column(LargeBinary)
    raw_value: Mapped[bytes | None] = mapped_column(LargeBinary)
    failed_at: Mapped[dt.datetime]
    replayed_at: Mapped[dt.datetime | None]

    __table_args__ = (
        # a redelivered dead letter is the same dead letter
        UniqueConstraint("source_topic", "source_partition", "source_offset", "stage"),
    )

    def __repr__(self) -> str:
        return (f"<DeadLetter {self.id} {self.source_topic}[{self.source_partition}]@{self.source_offset} "
                f"{self.stage} {self.reason}>")


class ConsumedOffset(Base):
    """Where a sink consumer resumes: written with the rows, so a crash neither loses nor repeats."""

    __tablename__ = "consumed_offsets"

    consumer: Mapped[str] = mapped_column(String, primary_key=True)
    topic: Mapped[str] = mapped_column(String, primary_key=True)
    partition: Mapped[int] = mapped_column(Integer, primary_key=True)
    next_offset: Mapped[int] = mapped_column(BigInteger, doc="the first offset not yet applied")
    updated_at: Mapped[dt.datetime]

    def __repr__(self) -> str:
        return f"<ConsumedOffset {self.consumer} {self.topic}[{self.partition}] next {self.next_offset}>"


#: what a reviewer can decide
DECISION_ACTIONS = ("REQUEST_RELEASE", "APPROVE_RELEASE", "CORRECT", "RETURN", "ASSIGN")
#: SUBMITTED until the guard ruled on it
DECISION_STATUSES = ("SUBMITTED", "ACCEPTED", "REJECTED")


class ReviewDecision(Base):
    """The decision history: every decision as submitted, then as the guard ruled on it."""

    __tablename__ = "review_decisions"

    decision_id: Mapped[str] = mapped_column(String, primary_key=True)
    system: Mapped[str] = mapped_column(String)
    record_id: Mapped[str] = mapped_column(String)
    action: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(12), default="SUBMITTED")
    version: Mapped[int] = mapped_column(BigInteger, doc="the held record's version decided on")
    event_id: Mapped[str] = mapped_column(String)
    user: Mapped[str] = mapped_column(String)
    comment: Mapped[str] = mapped_column(Text, default="")
    decided_at: Mapped[dt.datetime]
    corrected_event_id: Mapped[str] = mapped_column(String, default="")
    assignee: Mapped[str] = mapped_column(String, default="")
    requested_by: Mapped[str] = mapped_column(String, default="")
    rejection: Mapped[str] = mapped_column(Text, default="")
    ruled_at: Mapped[dt.datetime | None]

    __table_args__ = (
        CheckConstraint("status IN ('SUBMITTED', 'ACCEPTED', 'REJECTED')", name="status"),
        Index(None, "system", "record_id", "decided_at"),
    )

    def __repr__(self) -> str:
        return f"<ReviewDecision {self.action} {self.system}/{self.record_id} v{self.version} {self.status}>"


class PendingRelease(Base):
    """A release requested (and accepted by the guard) that waits for a second person's approval."""

    __tablename__ = "pending_releases"

    system: Mapped[str] = mapped_column(String, primary_key=True)
    record_id: Mapped[str] = mapped_column(String, primary_key=True)
    version: Mapped[int] = mapped_column(BigInteger)
    decision_id: Mapped[str] = mapped_column(String)
    requested_by: Mapped[str] = mapped_column(String)
    comment: Mapped[str] = mapped_column(Text, default="")
    requested_at: Mapped[dt.datetime]

    def __repr__(self) -> str:
        return f"<PendingRelease {self.system}/{self.record_id} v{self.version} by {self.requested_by}>"


class AuditEntry(Base):
    """The append-only audit log: who viewed, revealed or decided what, when.

    Nothing in the code updates or deletes a row; triggers refuse it too (and, on
    SQLite, an ``INSERT OR REPLACE`` over an existing row). Each row is sealed into
    a hash chain (:mod:`sinks.audit`), so a change made past the triggers shows.
    """

    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    at: Mapped[dt.datetime]
    actor: Mapped[str] = mapped_column(String)
    action: Mapped[str] = mapped_column(String(32))
    system: Mapped[str] = mapped_column(String, default="")
    record_id: Mapped[str] = mapped_column(String, default="")
    detail: Mapped[str] = mapped_column(Text, default="", doc="never holds a My Number")
    #: the previous row's ``row_hash`` (sinks.audit.GENESIS for the first row)
    prev_hash: Mapped[str] = mapped_column(String(64))
    #: SHA-256 over this row's fields and ``prev_hash`` (sinks.audit.row_digest)
    row_hash: Mapped[str] = mapped_column(String(64))

    __table_args__ = (Index(None, "actor", "id"),)

    def __repr__(self) -> str:
        return f"<AuditEntry {self.id} {self.actor} {self.action} {self.system}/{self.record_id}>"


class Account(Base):
    """A reviewer's account; the password only as an argon2 hash."""

    __tablename__ = "review_accounts"

    username: Mapped[str] = mapped_column(String, primary_key=True)
    display_name: Mapped[str] = mapped_column(String, default="")
    password_hash: Mapped[str] = mapped_column(String)
    roles: Mapped[str] = mapped_column(String, default="", doc="comma-separated Role values")
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[dt.datetime]

    def __repr__(self) -> str:
        return f"<Account {self.username} {self.roles}>"


class ApiToken(Base):
    """A per-user credential for the CLI and scripts, made by an admin; only its SHA-256 is kept.

    The token itself (``lgt_<token_id>_<secret>``) is shown once when made;
    ``token_id`` finds the row, the secret's hash proves it. A revoked token
    keeps its row (who made and revoked it, when) and never works again.
    """

    __tablename__ = "review_api_tokens"

    token_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    username: Mapped[str] = mapped_column(String)
    secret_hash: Mapped[str] = mapped_column(String(64))
    label: Mapped[str] = mapped_column(String, default="")
    created_by: Mapped[str] = mapped_column(String)
    created_at: Mapped[dt.datetime]
    revoked_at: Mapped[dt.datetime | None]
    revoked_by: Mapped[str | None] = mapped_column(String, default=None)
    last_used_at: Mapped[dt.datetime | None]

    __table_args__ = (Index(None, "username"),)

    def __repr__(self) -> str:  # never the hash
        state = "revoked" if self.revoked_at else "live"
        return f"<ApiToken {self.token_id} {self.username} {state}>"


class WebSession(Base):
    """A signed-in web session; the cookie holds a random id, the table its SHA-256.

    The row is the session: deleting it (log-out, deactivation, a role or
    password change) ends the session on the very next request, whatever the
    browser still holds.
    """

    __tablename__ = "review_sessions"

    session_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    username: Mapped[str] = mapped_column(String)
    created_at: Mapped[dt.datetime]
    expires_at: Mapped[dt.datetime]

    __table_args__ = (Index(None, "username"), Index(None, "expires_at"))

    def __repr__(self) -> str:
        return f"<WebSession {self.username} until {self.expires_at:%Y-%m-%d %H:%M}>"


class LoginFailure(Base):
    """Failed log-ins per user name in the current window: the lock-out, and the cap on audit rows.

    The row with the empty user name (no account has one) counts every failure, for the global cap.
    """

    __tablename__ = "review_login_failures"

    username: Mapped[str] = mapped_column(String, primary_key=True)
    window_start: Mapped[dt.datetime]
    failures: Mapped[int] = mapped_column(Integer, default=0)
    audited: Mapped[int] = mapped_column(Integer, default=0, doc="failures written to the audit log one by one")
    last_at: Mapped[dt.datetime]

    __table_args__ = (Index(None, "last_at"),)


_REFUSE_CHANGES = (
    """CREATE OR REPLACE FUNCTION linkguard_audit_append_only() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION USING MESSAGE = 'the audit log is append-only: ' || TG_OP || ' is refused';
END
$$ LANGUAGE plpgsql""",
    """CREATE TRIGGER audit_log_append_only BEFORE UPDATE OR DELETE OR TRUNCATE ON audit_log
    FOR EACH STATEMENT EXECUTE FUNCTION linkguard_audit_append_only()""",
)


def sqlite_append_only_statements() -> list[str]:
    """SQLite's triggers that keep the audit log append-only (idempotent: ``IF NOT EXISTS``)."""
    statements = [
        f"CREATE TRIGGER IF NOT EXISTS audit_log_no_{op.lower()} BEFORE {op} ON audit_log "
        f"BEGIN SELECT RAISE(ABORT, 'the audit log is append-only: {op} is refused'); END"
        for op in ("UPDATE", "DELETE")]
    # INSERT OR REPLACE deletes the clashing row without firing the DELETE trigger
    statements.append(
        "CREATE TRIGGER IF NOT EXISTS audit_log_no_replace BEFORE INSERT ON audit_log "
        "WHEN EXISTS (SELECT 1 FROM audit_log WHERE id = NEW.id) "
        "BEGIN SELECT RAISE(ABORT, 'the audit log is append-only: replacing a row is refused'); END")
    return statements


@event.listens_for(AuditEntry.__table__, "after_create")
def _append_only(target: Any, connection: Any, **kw: Any) -> None:
    if connection.dialect.name == "postgresql":
        for statement in _REFUSE_CHANGES:
            connection.exec_driver_sql(statement)
    elif connection.dialect.name == "sqlite":
        for statement in sqlite_append_only_statements():
            connection.exec_driver_sql(statement)

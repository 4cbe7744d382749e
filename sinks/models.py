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
    BigInteger,
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

    __table_args__ = (
        CheckConstraint(
            "status IN ('open', 'superseded', 'released', 'corrected', 'returned')", name="status"
        ),
        Index(None, "status", "held_at"),  # the reviewers' queue, oldest first
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

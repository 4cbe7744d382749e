"""Tables of the headquarters (総点検本部): inspection rounds, registered inspection reports,
process stops (連携停止, four-eyes), exposure cases and the notice letters generated for them.

Everything the headquarters board shows is counted from these and the sink's
own tables; nothing is typed in. No row holds a My Number except
:class:`ExposureCase`, which must say whose number the wrong copy carried
(it is the same data as the withdrawn copy it was taken from, and screens mask it).
"""

from __future__ import annotations

import datetime as dt
from typing import Any, Sequence

from sqlalchemy import (BigInteger, CheckConstraint, Connection, Date, Index, Integer, String, Text, UniqueConstraint,
                        select, tuple_)
from sqlalchemy.orm import Mapped, mapped_column

from sinks.models import BigId, Base, IntermediateCopy, JSONDoc

__all__ = [
    "InspectionRound",
    "InspectionReport",
    "ProcessStop",
    "ExposureCase",
    "NoticeLetter",
    "STOP_STATUSES",
    "EXPOSURE_CAUSES",
    "record_withdrawn_exposures",
    "record_corrected_exposures",
]

#: a stop's life: requested → stopped (approved) → resume_requested → resumed; or refused
STOP_STATUSES = ("requested", "stopped", "resume_requested", "resumed", "refused")
#: how a wrong copy left the intermediate server: retracted by the guard, withdrawn by a stop,
#: or overwritten by a corrected number
EXPOSURE_CAUSES = ("retracted", "stopped", "corrected")


class InspectionRound(Base):
    """One inspection round (e.g. 令和5年度 総点検) with the date everything is due."""

    __tablename__ = "inspection_rounds"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String, unique=True)
    starts_on: Mapped[dt.date] = mapped_column(Date)
    due_on: Mapped[dt.date] = mapped_column(Date)
    created_by: Mapped[str] = mapped_column(String)
    created_at: Mapped[dt.datetime]

    def __repr__(self) -> str:
        return f"<InspectionRound {self.id} {self.name} due {self.due_on}>"


class InspectionReport(Base):
    """An inspection registered for one process and implementing body in a round.

    A municipality's comes from the ``report.csv`` its own ``linkguard inspect``
    produced (uploaded, validated); the prefecture's own from its inspect runs.
    Registering it again replaces the counts (the newest upload wins).
    """

    __tablename__ = "inspection_reports"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    round_id: Mapped[int] = mapped_column(BigInteger)
    body: Mapped[str] = mapped_column(String, doc="implementing body: the prefecture or a municipality")
    system: Mapped[str] = mapped_column(String)
    checked: Mapped[int] = mapped_column(Integer, doc="点検対象")
    held: Mapped[int] = mapped_column(Integer, doc="うち紐付け誤りの疑い")
    invalid: Mapped[int] = mapped_column(Integer, default=0)
    by_reason: Mapped[dict[str, Any]] = mapped_column(JSONDoc, default=dict, doc="reason code → held records")
    by_source: Mapped[dict[str, Any]] = mapped_column(JSONDoc, default=dict,
                                                      doc="取得経路 → held records (the whole file's cause table)")
    source_file: Mapped[str] = mapped_column(String, default="")
    uploaded_by: Mapped[str] = mapped_column(String)
    uploaded_at: Mapped[dt.datetime]

    __table_args__ = (UniqueConstraint("round_id", "body", "system"),)

    def __repr__(self) -> str:
        return f"<InspectionReport round {self.round_id} {self.body} {self.system} {self.checked}/{self.held}>"


class ProcessStop(Base):
    """A stop of one process's linkage (連携停止): requested by one person, approved by another.

    Only an approved stop (and an approved resume) is published to the guard.
    """

    __tablename__ = "process_stops"

    stop_id: Mapped[str] = mapped_column(String, primary_key=True)
    system: Mapped[str] = mapped_column(String)
    status: Mapped[str] = mapped_column(String(16), default="requested")
    reason: Mapped[str] = mapped_column(Text, default="")
    requested_by: Mapped[str] = mapped_column(String)
    requested_at: Mapped[dt.datetime]
    approved_by: Mapped[str | None] = mapped_column(String, default=None)
    stopped_at: Mapped[dt.datetime | None] = mapped_column(default=None)
    resume_requested_by: Mapped[str | None] = mapped_column(String, default=None)
    resume_requested_at: Mapped[dt.datetime | None] = mapped_column(default=None)
    resume_reason: Mapped[str] = mapped_column(Text, default="")
    resume_approved_by: Mapped[str | None] = mapped_column(String, default=None)
    resumed_at: Mapped[dt.datetime | None] = mapped_column(default=None)

    __table_args__ = (
        CheckConstraint("status IN ('requested', 'stopped', 'resume_requested', 'resumed', 'refused')",
                        name="status"),
        Index(None, "system", "requested_at"),
    )

    def __repr__(self) -> str:
        return f"<ProcessStop {self.stop_id} {self.system} {self.status}>"


class ExposureCase(Base):
    """A wrong copy that was on the intermediate server: from when, until when, whose number, whose data.

    Written by the sink in the same transaction that withdraws (or overwrites)
    the copy, so the period is exact and survives later corrections of the record.
    """

    __tablename__ = "exposure_cases"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    system: Mapped[str] = mapped_column(String)
    record_id: Mapped[str] = mapped_column(String)
    version: Mapped[int] = mapped_column(BigInteger, doc="the version of the copy that was exposed")
    event_id: Mapped[str] = mapped_column(String)
    cause: Mapped[str] = mapped_column(String(16))
    my_number: Mapped[str] = mapped_column(String, doc="the number the copy carried: whose portal showed it")
    name: Mapped[str] = mapped_column(Text, default="", doc="the record's own subject (whose data it was)")
    birth_date: Mapped[str] = mapped_column(String, default="")
    address: Mapped[str] = mapped_column(Text, default="")
    atena_no: Mapped[str] = mapped_column(String, default="")
    payload_fields: Mapped[list[Any]] = mapped_column(JSONDoc, default=list, doc="field names, never values")
    via: Mapped[str] = mapped_column(String(8), default="guard")
    in_sink_from: Mapped[dt.datetime]
    in_sink_until: Mapped[dt.datetime]
    #: whether the copy was provided onward (情報提供); None where the deployment does not record it
    provided_onward: Mapped[bool | None] = mapped_column(default=None)
    found_at: Mapped[dt.datetime]

    __table_args__ = (
        UniqueConstraint("system", "record_id", "version"),
        CheckConstraint("cause IN ('retracted', 'stopped', 'corrected')", name="cause"),
        Index(None, "system", "in_sink_from"),
    )

    def __repr__(self) -> str:  # no My Number in reprs
        return f"<ExposureCase {self.id} {self.system}/{self.record_id} v{self.version} {self.cause}>"


class NoticeLetter(Base):
    """A notice letter (お知らせ) generated for one person of an exposure case, in an audited batch."""

    __tablename__ = "notice_letters"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    batch_id: Mapped[str] = mapped_column(String)
    case_id: Mapped[int] = mapped_column(BigInteger)
    recipient: Mapped[str] = mapped_column(String(16), doc="number_holder or data_subject")
    generated_by: Mapped[str] = mapped_column(String)
    generated_at: Mapped[dt.datetime]

    __table_args__ = (
        CheckConstraint("recipient IN ('number_holder', 'data_subject')", name="recipient"),
        Index(None, "case_id"),
    )


_COPIES = IntermediateCopy.__table__
_CASES = ExposureCase.__table__


def _case_rows(copies: Sequence[Any], cause: str, until: dt.datetime, now: dt.datetime) -> list[dict[str, Any]]:
    return [{"system": c.system, "record_id": c.record_id, "version": c.version, "event_id": c.event_id,
             "cause": cause, "my_number": c.my_number, "name": c.name, "birth_date": c.birth_date,
             "address": c.address, "atena_no": c.atena_no, "payload_fields": sorted(c.payload or {}),
             "via": c.via, "in_sink_from": c.verified_at, "in_sink_until": until, "provided_onward": None,
             "found_at": now} for c in copies]


def _insert_cases(conn: Connection, rows: list[dict[str, Any]]) -> int:
    if not rows:
        return 0
    from sqlalchemy.dialects import postgresql, sqlite

    insert = postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert
    statement = insert(_CASES).on_conflict_do_nothing(index_elements=["system", "record_id", "version"])
    return int(conn.execute(statement, rows).rowcount or 0)


def record_withdrawn_exposures(conn: Connection, keys: Sequence[tuple[str, str]], now: dt.datetime) -> int:
    """Exposure cases for the copies of ``keys`` withdrawn at ``now`` as retracted or stopped."""
    if not keys:
        return 0
    copies = conn.execute(select(_COPIES).where(
        tuple_(_COPIES.c.system, _COPIES.c.record_id).in_(list(keys)), _COPIES.c.withdrawn_at == now,
        _COPIES.c.withdrawn_reason.in_(("retracted", "stopped")))).all()
    return _insert_cases(conn, [row for c in copies for row in _case_rows([c], c.withdrawn_reason, now, now)])


def record_corrected_exposures(conn: Connection, upserts: Sequence[dict[str, Any]], now: dt.datetime, *,
                               live: Sequence[Any] | None = None) -> int:
    """Exposure cases for live copies about to be replaced by a newer copy with another number.

    A number that was already sent and is now corrected: the old copy was visible
    to the old number's holder until now. Call before the copies are written.
    ``live``: the live copies of the upserts' records, when the caller has read
    them already (the sink writer reads a whole batch's in one constant statement).
    """
    if not upserts:
        return 0
    new = {(r["system"], r["record_id"]): r for r in upserts}
    if live is None:
        live = conn.execute(select(_COPIES).where(
            tuple_(_COPIES.c.system, _COPIES.c.record_id).in_(list(new)), _COPIES.c.withdrawn_at.is_(None))).all()
    changed = [c for c in live if (c.system, c.record_id) in new
               and new[(c.system, c.record_id)]["version"] > c.version
               and new[(c.system, c.record_id)]["my_number"] != c.my_number]
    return _insert_cases(conn, _case_rows(changed, "corrected", now, now))


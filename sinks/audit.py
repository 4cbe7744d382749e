"""The audit log's hash chain: every row seals its content and the row before it.

An append-only table is only as append-only as its owner allows: the owner
of a PostgreSQL table can disable the trigger that refuses UPDATE, and on
SQLite ``INSERT OR REPLACE`` swaps a row without firing a DELETE trigger.
So each row also carries ``row_hash`` = SHA-256 over its own fields and the
``prev_hash`` of the row before it (:data:`GENESIS` for the first). Changing,
removing or inserting a row anywhere breaks the chain from that row on, and
:func:`verify_chain` names the first row that no longer fits.

Writers append under a lock (a PostgreSQL advisory lock, an ``IMMEDIATE``
SQLite transaction), so two processes never chain to the same row. Ids are
assigned here, one after the other, so a gap is visible too.

What the chain cannot show on its own: someone able to write the table who
recomputes every hash after the row they changed, or who removes the newest
rows. Against that, run the application with a role that can only INSERT and
SELECT the table (:mod:`sinks.roles`), and keep the head that
``linkguard audit verify`` prints somewhere else (a ticket, a signed mail):
a later head must still chain through it.

>>> row = AuditFields(1, dt.datetime(2026, 4, 1, 9, 0, tzinfo=dt.timezone.utc), "sato", "view",
...                   "shintai-techo", "R-1", "")
>>> first = row_digest(GENESIS, row)
>>> len(first), first == row_digest(GENESIS, row)
(64, True)
>>> first == row_digest(GENESIS, row._replace(actor="ito"))
False
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import typing
from dataclasses import dataclass
from typing import NamedTuple

from sqlalchemy import Connection, Engine, insert, select, text

from sinks.db import SQLITE_BEGIN_OPTION, SchemaOutdated
from sinks.models import AuditEntry

__all__ = ["GENESIS", "AuditFields", "ChainReport", "CachedChainCheck", "append_entry", "row_digest", "verify_chain"]

#: the ``prev_hash`` of the first row
GENESIS = "0" * 64
#: the PostgreSQL advisory lock that serialises appends (any constant unique to this table)
_APPEND_LOCK = 0x4C47_4155_4449_54  # "LGAUDIT"


class AuditFields(NamedTuple):
    """The fields of one audit row the hash seals."""

    id: int
    at: dt.datetime
    actor: str
    action: str
    system: str
    record_id: str
    detail: str


def _canonical_time(at: dt.datetime) -> str:
    """UTC to the microsecond: what both databases store and hand back."""
    if at.tzinfo is None:
        at = at.replace(tzinfo=dt.timezone.utc)
    return at.astimezone(dt.timezone.utc).isoformat(timespec="microseconds")


def row_digest(prev_hash: str, row: AuditFields) -> str:
    """SHA-256 (hex) of the row's fields and the previous row's hash, in a canonical JSON form."""
    document = [row.id, _canonical_time(row.at), row.actor, row.action, row.system, row.record_id,
                row.detail, prev_hash]
    encoded = json.dumps(document, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    return hashlib.sha256(encoded).hexdigest()


def append_entry(engine: Engine, actor: str, action: str, system: str = "", record_id: str = "",
                 detail: str = "", *, at: dt.datetime | None = None) -> int:
    """Append one row chained to the newest one; return its id. ``detail`` must be redacted already."""
    at = (at or dt.datetime.now(dt.timezone.utc)).astimezone(dt.timezone.utc)
    with engine.connect() as conn:
        conn.execution_options(**{SQLITE_BEGIN_OPTION: "IMMEDIATE"})
        with conn.begin():
            return _append(conn, AuditFields(0, at, actor, action, system, record_id, detail))


def _append(conn: Connection, fields: AuditFields) -> int:
    if conn.dialect.name == "postgresql":
        conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _APPEND_LOCK})
    last = conn.execute(select(AuditEntry.id, AuditEntry.row_hash)
                        .order_by(AuditEntry.id.desc()).limit(1)).first()
    if last is None:
        new_id, prev_hash = 1, GENESIS
    elif last.row_hash is None:  # the first row of the chain: it seals the rows written before it
        new_id, prev_hash = last.id + 1, _unchained_seal(conn)
    else:
        new_id, prev_hash = last.id + 1, last.row_hash
    fields = fields._replace(id=new_id)
    conn.execute(insert(AuditEntry).values(
        **fields._asdict(), prev_hash=prev_hash, row_hash=row_digest(prev_hash, fields)))
    return new_id


def _fields(row: typing.Any) -> AuditFields:
    return AuditFields(row.id, row.at, row.actor or "", row.action or "", row.system or "", row.record_id or "",
                       row.detail or "")


def _unchained_seal(conn: Connection, page_size: int = 2000) -> str:
    """The hash the rows written before the chain would have chained to (from GENESIS, oldest first)."""
    seal, last_id = GENESIS, None
    while True:
        query = select(AuditEntry).where(AuditEntry.row_hash.is_(None)).order_by(AuditEntry.id).limit(page_size)
        if last_id is not None:
            query = query.where(AuditEntry.id > last_id)
        rows = conn.execute(query).all()
        for row in rows:
            seal, last_id = row_digest(seal, _fields(row)), row.id
        if len(rows) < page_size:
            return seal


@dataclass(frozen=True, slots=True)
class ChainReport:
    """What :func:`verify_chain` found: intact up to ``checked`` rows, or the first broken row.

    ``unchained`` rows (ids ``unchained_first``..``unchained_last``) were written
    before this release added the chain (their hashes are NULL): they are not
    verified. The first chained row sealed them as they were when it was
    written, so a change to them after that breaks the chain at that row;
    what happened to them before, nothing can show.
    """

    checked: int
    head_id: int | None
    head_hash: str
    broken_id: int | None = None
    problem: str = ""
    unchained: int = 0
    unchained_first: int | None = None
    unchained_last: int | None = None

    @property
    def intact(self) -> bool:
        return self.broken_id is None

    def describe_unchained(self) -> str:
        """The sentence about the rows from before the chain ('' when there are none)."""
        if not self.unchained:
            return ""
        where = (f"{self.unchained} rows (ids {self.unchained_first}–{self.unchained_last}) were written before "
                 "the hash chain existed and are NOT verified")
        if self.checked:
            return where + f"; row {self.unchained_last + 1} sealed them as they were when it was written"
        return where + "; the next row written will seal them"

    def describe(self) -> str:
        if not self.intact:
            return f"audit chain BROKEN at row {self.broken_id}: {self.problem}"
        if self.head_id is None:
            if self.unchained:
                return f"audit chain: no chained rows yet; {self.describe_unchained()}"
            return "audit chain intact: the log is empty"
        text_ = f"audit chain intact: {self.checked} rows, head row {self.head_id} hash {self.head_hash}"
        return text_ + (f"; {self.describe_unchained()}" if self.unchained else "")


def verify_chain(engine: Engine, *, page_size: int = 2000) -> ChainReport:
    """Walk the log oldest first and check every row's hash and link; stop at the first broken one.

    Leading rows without hashes (written before the chain existed) are counted
    as unchained, never as verified; a row without hashes after the chain
    began is a break.
    """
    _require_chain_columns(engine)
    expected_prev, expected_id, checked = GENESIS, 1, 0
    last_id: int | None = None
    head_id: int | None = None
    unchained, unchained_first, unchained_last = 0, None, None
    chain_started = False

    def report(**broken: typing.Any) -> ChainReport:
        return ChainReport(checked, head_id, expected_prev if head_id is not None else "", **broken,
                           unchained=unchained, unchained_first=unchained_first, unchained_last=unchained_last)

    with engine.connect() as conn:
        while True:
            query = select(AuditEntry).order_by(AuditEntry.id).limit(page_size)
            if last_id is not None:
                query = query.where(AuditEntry.id > last_id)
            rows = conn.execute(query).all()
            for row in rows:
                fields = _fields(row)
                last_id = row.id
                if not chain_started and row.row_hash is None and row.prev_hash is None:
                    expected_prev = row_digest(expected_prev, fields)  # the seal the first chained row carries
                    unchained += 1
                    unchained_first = row.id if unchained_first is None else unchained_first
                    unchained_last, expected_id = row.id, row.id + 1
                    continue
                chain_started = True
                problem = ""
                if row.row_hash is None or row.prev_hash is None:
                    problem = "it carries no hash although the chain had begun: written past the application"
                elif row.id != expected_id:
                    problem = (f"expected row {expected_id} next, found row {row.id}: "
                               f"rows were removed")
                elif row.prev_hash != expected_prev:
                    problem = ("it does not chain to the row before it: that row was changed, "
                               "removed or replaced")
                elif row.row_hash != row_digest(row.prev_hash, fields):
                    problem = "its content does not match its hash: the row was changed after it was written"
                if problem:
                    return report(broken_id=row.id, problem=problem)
                expected_prev, expected_id, head_id = row.row_hash, row.id + 1, row.id
                checked += 1
            if len(rows) < page_size:
                return report()


def _require_chain_columns(engine: Engine) -> None:
    from sqlalchemy import inspect

    with engine.connect() as conn:
        inspector = inspect(conn)
        if not inspector.has_table(AuditEntry.__tablename__):
            return  # no audit table at all: the query itself says so
        have = {c["name"] for c in inspector.get_columns(AuditEntry.__tablename__)}
    if not {"prev_hash", "row_hash"} <= have:
        raise SchemaOutdated("the audit log has no hash chain yet (a database of an earlier release): "
                             "run `linkguard db init` with the owner's database URL first")


class CachedChainCheck:
    """:func:`verify_chain` at most once per ``ttl`` seconds (the admin page shows it on every view)."""

    def __init__(self, engine: Engine, *, ttl: float = 300.0, clock: "typing.Callable[[], float] | None" = None
                 ) -> None:
        import threading
        import time

        self.engine = engine
        self.ttl = ttl
        self._clock = clock or time.monotonic
        self._lock = threading.Lock()
        self._report: ChainReport | None = None
        self._at = 0.0

    def report(self) -> ChainReport:
        with self._lock:
            now = self._clock()
            if self._report is None or now - self._at >= self.ttl:
                self._report, self._at = verify_chain(self.engine), now
            return self._report

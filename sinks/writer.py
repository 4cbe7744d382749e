"""The sink writer: one consumed batch → rows and consumed position, in one transaction.

Processing upstream is at least once, and verdicts of one record can arrive
out of order (a corrected My Number moves a record to another guard
partition). So every write here is

* **idempotent** — a redelivered message changes nothing: messages below the
  stored position are skipped, and rows are keyed by record (copies, holds)
  or by source position (dead letters);
* **versioned** — a row is only replaced by a strictly newer ``version``
  (the event's offset in its ``linkage.records`` partition × 2**24 + the
  revision of its judgement, see ``streams.app.version_of``); an equal
  version is the same verdict, an older one is dropped; a HOLD of the same
  event with a higher version withdraws the copy as ``retracted`` (``stopped``
  when it holds the record because its process was stopped, 連携停止);
* **atomic with its position** — ``consumed_offsets`` moves in the same
  transaction, so a crash before commit re-delivers the whole batch and a
  crash after it re-delivers nothing.

Because of that, retrying a batch after a lost connection is always safe,
even when the commit itself may have gone through: :class:`RetryPolicy`
does exactly that.

A batch costs a handful of statements whatever its size: per table one
upsert of all its rows — on PostgreSQL ``INSERT … SELECT FROM unnest(…) ON
CONFLICT`` with one binary array per column (the text never changes, so it
is parsed once per connection), on SQLite one ``executemany`` — and one
set-based UPDATE each for superseded holds and retracted copies
(``python -m bench.sink`` measures it against the writer before).
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import time
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from operator import itemgetter
from typing import Any, Literal, TypeVar

from sqlalchemy import (JSON, Engine, String, Table, and_, bindparam, case, delete, exists, func, literal, select,
                        tuple_, update)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError, SQLAlchemyError, StatementError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError
from sqlalchemy.orm import Session

from guards.exceptions import LinkguardError
from guards import four_eyes
from guards.masking import redact  # re-exported: sinks.redact is guards.masking.redact
from sinks.db import SQLITE_BEGIN_OPTION
from sinks.hq import record_corrected_exposures, record_withdrawn_exposures
from sinks.models import (
    HELD_STATUSES,
    Base,
    ConsumedOffset,
    DeadLetter,
    HeldRecord,
    IntermediateCopy,
    PendingRelease,
    ReviewDecision,
)

__all__ = [
    "Kind",
    "SinkMessage",
    "ApplyResult",
    "RetryPolicy",
    "SinkError",
    "SinkWriter",
    "describe_positions",
    "redact",
    "db_error_text",
]

log = logging.getLogger(__name__)

#: ``decision``: a reviewer's decision as submitted (linkage.decisions); ``ruling``: the guard's
#: ruling on it (linkage.decided)
Kind = Literal["verified", "held", "dead_letter", "decision", "ruling"]
KINDS: tuple[str, ...] = ("verified", "held", "dead_letter", "decision", "ruling")
#: the outcome each verdict topic may carry; anything else is dead-lettered by the sink
_EXPECTED_OUTCOME = {"verified": "PASS", "held": "HOLD"}

T = TypeVar("T")
#: (system, record_id) pairs per statement that lists them: two bind parameters each, well under every limit
_KEYS_PER_STATEMENT = 5000

_COPIES: Table = IntermediateCopy.__table__  # type: ignore[assignment]
_HELD: Table = HeldRecord.__table__  # type: ignore[assignment]
_DEAD: Table = DeadLetter.__table__  # type: ignore[assignment]
_OFFSETS: Table = ConsumedOffset.__table__  # type: ignore[assignment]
_DECISIONS: Table = ReviewDecision.__table__  # type: ignore[assignment]
_PENDING: Table = PendingRelease.__table__  # type: ignore[assignment]

#: PostgreSQL, for the batch's transaction: plan every statement for the arrays it is given. psycopg
#: prepares the constant texts, and after five runs PostgreSQL would keep one generic plan per connection,
#: costed for the tables as they were then (empty, at a sink's start) and for a 10-element array: whole
#: tables went through for every batch (the supersede UPDATE compared every open hold with the batch's
#: keys; the retraction scanned ``intermediate_copies``), until an ANALYZE. That made the sink's backend
#: the bottleneck (105 CPU seconds in a 244k-record bench run, 2 s per batch at the end). Planning anew
#: costs about a millisecond per statement. ``LOCAL``: this transaction only, so other users of the
#: engine (and a transaction-pooling proxy) keep their settings.
_CUSTOM_PLANS = "SET LOCAL plan_cache_mode = force_custom_plan"


def _utcnow() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


@dataclass(frozen=True, slots=True)
class SinkMessage:
    """One consumed Kafka message, decoded, as the writer needs it.

    ``payload`` is the decoded Avro ``verdict`` (kinds ``verified`` and
    ``held``) or ``dead_letter`` (kind ``dead_letter``). ``raw`` is the
    message value as consumed; it is kept when the sink itself has to
    dead-letter the message.
    """

    topic: str
    partition: int
    offset: int
    kind: Kind
    payload: Mapping[str, Any]
    raw: bytes | None = None

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"kind must be one of {', '.join(KINDS)}, not {self.kind!r}")

    @property
    def position(self) -> str:
        return f"{self.topic}[{self.partition}]@{self.offset}"


@dataclass(frozen=True, slots=True)
class ApplyResult:
    """What one :meth:`SinkWriter.apply` did (row counts are rows actually changed)."""

    received: int = 0
    skipped: int = 0  # redelivered: at or below the stored position
    copies: int = 0  # intermediate-server copies inserted or replaced by a newer version
    withdrawn: int = 0  # copies withdrawn by a delete
    held: int = 0  # held records inserted or replaced by a newer version
    superseded: int = 0  # open held records closed by a newer PASS
    dead_letters: int = 0  # dead letters inserted (redeliveries excluded)
    rejected: int = 0  # verdicts on the wrong topic, dead-lettered at stage "sink"
    decisions: int = 0  # decision-history rows inserted or ruled
    closed: int = 0  # held records closed by an accepted decision (released, returned)
    positions: Mapping[tuple[str, int], int] = field(default_factory=dict)  # next offsets now stored
    attempts: int = 1

    @property
    def applied(self) -> int:
        return self.received - self.skipped


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """Exponential backoff for transient database failures (outage, restart, lock).

    The defaults wait 0.25, 0.5, 1, 2, 4, 8, 8, … seconds: about 56 s over 12
    attempts, bounded by ``max_elapsed``, so a 20 s PostgreSQL restart is
    ridden out. ``RetryPolicy(attempts=1)`` never retries.
    """

    attempts: int = 12
    initial_delay: float = 0.25
    multiplier: float = 2.0
    max_delay: float = 8.0
    max_elapsed: float = 90.0

    def __post_init__(self) -> None:
        if self.attempts < 1:
            raise ValueError("attempts must be at least 1")
        if self.initial_delay < 0 or self.max_delay < 0 or self.multiplier < 1:
            raise ValueError("delays must be non-negative and the multiplier at least 1")

    def delay(self, retry: int) -> float:
        """Seconds to wait before retry number ``retry`` (0-based).

        >>> [RetryPolicy().delay(n) for n in range(7)]
        [0.25, 0.5, 1.0, 2.0, 4.0, 8.0, 8.0]
        """
        return min(self.max_delay, self.initial_delay * self.multiplier ** retry)


class SinkError(LinkguardError, RuntimeError):
    """The sink could not write a batch; says where (table, topic/partition/offsets), never what.

    The database's own error is chained as ``__cause__``. ``transient`` tells
    whether retries were used up on an outage (worth waiting for) or the
    batch is refused by the database (needs a person).
    """

    def __init__(self, message: str, *, table: str | None = None, positions: str = "",
                 transient: bool = False, attempts: int = 1) -> None:
        super().__init__(message)
        self.table = table
        self.positions = positions
        self.transient = transient
        self.attempts = attempts


@dataclass(slots=True)
class _Attempt:
    """Which table an attempt is writing, for the error message."""

    number: int
    table: str | None = None


@dataclass(slots=True)
class _Prepared:
    """A message turned into the row it would write, before any database work."""

    message: SinkMessage
    target: Literal["copy", "withdraw", "held", "dead_letter", "decision", "ruling"]
    key: tuple[Any, ...]
    version: int
    row: dict[str, Any]


@dataclass(frozen=True, slots=True)
class _DriverStatement:
    """PostgreSQL SQL in psycopg's own paramstyle: arrays go as ``%(name)b``, binary (several times faster
    to send than text arrays, which psycopg escapes element by element); ``constants`` are its fixed values."""

    sql: str
    constants: Mapping[str, Any] = field(default_factory=dict)

    def run(self, conn: Connection, params: Mapping[str, Any]) -> int:
        """Execute it; the rows it inserted or updated (SQLAlchemy still wraps the driver's errors)."""
        return _count(conn.exec_driver_sql(self.sql, {**self.constants, **params}))

    def rows(self, conn: Connection, params: Mapping[str, Any]) -> list[Any]:
        """Execute a query; its rows (columns by name, as the driver reads them)."""
        return list(conn.exec_driver_sql(self.sql, {**self.constants, **params}).all())


@dataclass(frozen=True, slots=True)
class _UnnestUpsert:
    """A PostgreSQL upsert of a whole batch: one statement, one array parameter per column."""

    statement: _DriverStatement
    table: Table
    columns: tuple[str, ...]
    json_columns: frozenset[str]

    def arrays(self, rows: Sequence[Mapping[str, Any]]) -> dict[str, list[Any]]:
        """The rows as one list per column (JSON documents as text, ``None`` as JSON ``null`` as before)."""
        return {f"c_{name}": [json.dumps(row[name], ensure_ascii=False) for row in rows]
                if name in self.json_columns else [row[name] for row in rows]
                for name in self.columns}


def _unnest_upsert(table: Table, *, conflict: Sequence[str], update: Sequence[str] | None,
                   skip: Sequence[str] = ()) -> _UnnestUpsert:
    """``INSERT … SELECT FROM unnest(…) ON CONFLICT …`` for ``table``; ``update=None`` is ``DO NOTHING``,
    otherwise ``update`` is set from the newer row, only where its ``version`` is strictly newer."""
    dialect = postgresql.dialect()
    quote = dialect.identifier_preparer.quote
    name = dialect.identifier_preparer.format_table(table)
    columns = [c for c in table.c if c.name not in skip]
    listed = ", ".join(quote(c.name) for c in columns)
    arrays = ", ".join(f"CAST(%(c_{c.name})b AS {c.type.compile(dialect=dialect)}[])" for c in columns)
    sql = (f"INSERT INTO {name} ({listed}) SELECT {listed} FROM unnest({arrays}) AS batch ({listed}) "
           f"ON CONFLICT ({', '.join(quote(c) for c in conflict)}) ")
    if update is None:
        sql += "DO NOTHING"
    else:
        sql += ("DO UPDATE SET " + ", ".join(f"{quote(c)} = EXCLUDED.{quote(c)}" for c in update)
                + f" WHERE {name}.version < EXCLUDED.version")
    return _UnnestUpsert(_DriverStatement(sql), table, tuple(c.name for c in columns),
                         frozenset(c.name for c in columns if isinstance(c.type, JSON)))


@dataclass(frozen=True, slots=True)
class _ExecuteMany:
    """A SQLite upsert run as one ``executemany`` of driver-level rows.

    SQLAlchemy builds its parameters row by row (most of a batch's time); here
    each column's bind processor (JSON text, UTC timestamps: the very ones
    SQLAlchemy applies) runs once per value in a plain loop, and the driver
    gets tuples.
    """

    sql: str
    names: tuple[str, ...]
    processors: tuple[Callable[[Any], Any] | None, ...]

    @classmethod
    def of(cls, statement: Any, table: Table, dialect: Any, columns: Sequence[str]) -> "_ExecuteMany":
        compiled = statement.compile(dialect=dialect, column_keys=list(columns))
        names = tuple(compiled.positiontup or ())
        if set(names) != set(columns):
            raise ValueError(f"{table.name}: the statement binds {names}, not the columns {tuple(columns)}")
        processors = tuple(table.c[name].type.dialect_impl(dialect).bind_processor(dialect) for name in names)
        return cls(str(compiled), names, processors)

    def run(self, conn: Connection, rows: Sequence[Mapping[str, Any]]) -> int:
        # the row's values in the statement's order at C speed, then a plain loop per processed column
        if len(self.names) > 1:
            values = [list(row) for row in map(itemgetter(*self.names), rows)]
        else:  # itemgetter of one name gives the value, not a tuple
            values = [[row[name] for name in self.names] for row in rows]
        for index, process in enumerate(self.processors):
            if process is not None:
                for row in values:
                    row[index] = process(row[index])
        return _count(conn.exec_driver_sql(self.sql, list(map(tuple, values))))


def _with_binary_arrays(statement: Any, dialect: Any, arrays: Sequence[str]) -> _DriverStatement:
    """A Core statement as psycopg SQL whose ``arrays`` parameters are sent binary."""
    compiled = statement.compile(dialect=dialect)
    sql = str(compiled)
    for name in arrays:
        placeholder = f"%({name})s"
        if placeholder not in sql:
            raise ValueError(f"no parameter {name!r} in {sql}")
        sql = sql.replace(placeholder, f"%({name})b")
    constants = {k: v for k, v in compiled.params.items() if k not in arrays and v is not None}
    return _DriverStatement(sql, constants)


def _count(result: Any) -> int:
    """Rows an INSERT/UPDATE changed (summed over an executemany); never negative."""
    return max(int(result.rowcount or 0), 0)


def describe_positions(messages: Iterable[SinkMessage]) -> str:
    """``topic[partition]@first..last`` per partition, the context of an error.

    >>> describe_positions([SinkMessage('linkage.verified', 0, 5, 'verified', {}),
    ...                     SinkMessage('linkage.verified', 0, 9, 'verified', {}),
    ...                     SinkMessage('linkage.held', 2, 7, 'held', {})])
    'linkage.held[2]@7, linkage.verified[0]@5..9'
    """
    ranges: dict[tuple[str, int], tuple[int, int]] = {}
    for m in messages:
        low, high = ranges.get((m.topic, m.partition), (m.offset, m.offset))
        ranges[(m.topic, m.partition)] = (min(low, m.offset), max(high, m.offset))
    return ", ".join(
        f"{topic}[{partition}]@{low}" + (f"..{high}" if high != low else "")
        for (topic, partition), (low, high) in sorted(ranges.items())
    ) or "no messages"


_PLAIN = (str, int, float, bool, type(None))


def _jsonable(value: Any) -> Any:
    """The decoded Avro record as JSON: times as ISO 8601, bytes as hex.

    >>> _jsonable({'at': dt.datetime(2026, 4, 1, tzinfo=dt.timezone.utc), 'p': {'k': 'v'}, 'b': b'\\x01'})
    {'at': '2026-04-01T00:00:00+00:00', 'p': {'k': 'v'}, 'b': '01'}
    """
    if type(value) in _PLAIN:
        return value
    if isinstance(value, Mapping):
        return {str(k): v if type(v) in _PLAIN else _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, (dt.datetime, dt.date, dt.time)):
        return value.isoformat()
    if isinstance(value, (bytes, bytearray, memoryview)):
        return bytes(value).hex()
    return value


def _approved(verdict: Mapping[str, Any]) -> bool:
    """Whether a PASS via review names its approving decision and two different people.

    >>> _approved({'via': 'review', 'decision_id': 'd', 'requested_by': 'sato', 'approved_by': 'ito'})
    True
    >>> _approved({'via': 'review', 'decision_id': 'd', 'requested_by': 'sato', 'approved_by': 'sato'})
    False
    """
    return bool(verdict.get("decision_id")) and four_eyes.approved(verdict.get("requested_by"), verdict.get("approved_by"))


def db_error_text(error: BaseException) -> str:
    """The driver's error class, SQLSTATE and first line only: PostgreSQL's DETAIL line quotes row values."""
    if isinstance(error, DBAPIError):
        orig = error.orig
        lines = str(orig).strip().splitlines()
        sqlstate = getattr(orig, "sqlstate", None) or getattr(orig, "pgcode", None)
        state = f" [{sqlstate}]" if sqlstate else ""
        return f"{type(orig).__name__}{state}: {redact(lines[0]) if lines else ''}"
    if isinstance(error, StatementError):  # e.g. a value that cannot be bound: its text quotes the values
        orig = getattr(error, "orig", None)
        return type(error).__name__ + (f" ({type(orig).__name__})" if orig is not None else "")
    lines = str(error).strip().splitlines()
    return f"{type(error).__name__}: {redact(lines[0]) if lines else ''}"


class SinkWriter:
    """Writes verdicts and dead letters to the sink database; see the module docstring.

    One writer per process is enough; it is thread-safe as far as the engine
    is. ``sleep`` and ``clock`` are there so tests can drive the retries.
    """

    def __init__(self, engine: Engine, *, retry: RetryPolicy | None = None,
                 sleep: Callable[[float], None] = time.sleep,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.engine = engine
        self.retry = retry or RetryPolicy()
        self._sleep = sleep
        self._clock = clock
        self._dialect = engine.dialect.name
        if self._dialect not in ("postgresql", "sqlite"):
            raise ValueError(f"the sink supports PostgreSQL and SQLite, not {self._dialect}")
        if not engine.hide_parameters:
            log.warning("the sink engine shows SQL parameters in errors and logs, and they hold "
                        "My Numbers: create it with sinks.make_engine (hide_parameters=True)")
        self._statements = self._build_statements()
        self._unnest = self._build_unnest_upserts() if self._dialect == "postgresql" else {}
        self._many = {name: _ExecuteMany.of(self._statements[name], upsert.table, engine.dialect, upsert.columns)
                      for name, upsert in self._build_unnest_upserts().items()} if self._dialect == "sqlite" else {}
        self._keyed = {name: _with_binary_arrays(self._statements[name], engine.dialect, ("systems", "record_ids"))
                       for name in ("supersede", "retract", "live")} if self._dialect == "postgresql" else {}

    # -- schema ---------------------------------------------------------------------
    def create_schema(self) -> None:
        """Create the tables that do not exist yet and add the columns an earlier release lacked (idempotent).

        Raises :class:`sinks.schema.SchemaOutdated` when something is missing and this role may not add it.
        """
        from sinks.schema import upgrade_schema

        self._retrying("create the schema", lambda attempt: upgrade_schema(self.engine), "")
        if self._dialect == "postgresql":
            from sinks.roles import audit_guard

            guard = audit_guard(self.engine)
            if guard.can_rewrite:  # tolerated (tests, demos), but never what production should run as
                log.warning("%s", guard.describe())

    def reset_schema(self) -> None:
        """Drop and create every sink table: for demos and tests, never in production."""
        Base.metadata.drop_all(self.engine)
        Base.metadata.create_all(self.engine)

    # -- positions ------------------------------------------------------------------
    def positions(self, consumer: str, topics: Iterable[str]) -> dict[tuple[str, int], int]:
        """``(topic, partition) → next offset`` stored for ``consumer``: where to seek after a restart."""
        names = sorted(set(topics))
        if not names:
            return {}

        def read(attempt: _Attempt) -> dict[tuple[str, int], int]:
            attempt.table = "consumed_offsets"
            with self.engine.connect() as conn:
                return self._stored_positions(conn, consumer, names)

        return self._retrying(f"read positions of {consumer!r}", read, ", ".join(names))

    def _stored_positions(self, conn: Connection, consumer: str,
                          topics: Sequence[str]) -> dict[tuple[str, int], int]:
        rows = conn.execute(
            select(_OFFSETS.c.topic, _OFFSETS.c.partition, _OFFSETS.c.next_offset)
            .where(_OFFSETS.c.consumer == consumer, _OFFSETS.c.topic.in_(topics))
        )
        return {(topic, partition): next_offset for topic, partition, next_offset in rows}

    # -- the write ------------------------------------------------------------------
    def apply(self, consumer: str, messages: Sequence[SinkMessage]) -> ApplyResult:
        """Write one consumed batch and advance ``consumer``'s positions, all in one transaction.

        Raises :class:`SinkError` (database error chained) when the batch cannot
        be written; nothing of it is then stored, positions included.
        """
        messages = list(messages)
        if not messages:
            return ApplyResult()
        where = describe_positions(messages)
        prepared = [self._prepare(m) for m in messages]
        return self._retrying(
            f"apply for consumer {consumer!r}",
            lambda attempt: self._apply_once(attempt, consumer, prepared), where,
        )

    def _apply_once(self, attempt: _Attempt, consumer: str, prepared: list[_Prepared]) -> ApplyResult:
        now = _utcnow()
        topics = sorted({p.message.topic for p in prepared})
        with self.engine.connect() as conn:
            conn.execution_options(**{SQLITE_BEGIN_OPTION: "IMMEDIATE"})
            with conn.begin():
                if self._dialect == "postgresql":
                    conn.exec_driver_sql(_CUSTOM_PLANS)
                attempt.table = "consumed_offsets"
                stored = self._stored_positions(conn, consumer, topics)
                fresh = [p for p in prepared
                         if p.message.offset >= stored.get((p.message.topic, p.message.partition), 0)]
                counts = self._write(conn, attempt, fresh, now)

                attempt.table = "consumed_offsets"
                advanced: dict[tuple[str, int], int] = {}
                for p in fresh:
                    tp = (p.message.topic, p.message.partition)
                    advanced[tp] = max(advanced.get(tp, 0), p.message.offset + 1)
                if advanced:
                    conn.execute(self._statements["offsets"], [
                        {"consumer": consumer, "topic": topic, "partition": partition,
                         "next_offset": next_offset, "updated_at": now}
                        for (topic, partition), next_offset in sorted(advanced.items())
                    ])
        positions = dict(stored)
        for tp, next_offset in advanced.items():
            positions[tp] = max(positions.get(tp, 0), next_offset)
        in_batch = {(p.message.topic, p.message.partition) for p in prepared}
        return ApplyResult(received=len(prepared), skipped=len(prepared) - len(fresh),
                           positions={tp: n for tp, n in positions.items() if tp in in_batch},
                           attempts=attempt.number, **counts)

    def _write(self, conn: Connection, attempt: _Attempt, fresh: list[_Prepared],
               now: dt.datetime) -> dict[str, int]:
        """Rows of the fresh messages: per record only the newest version in the batch is sent."""
        newest: dict[tuple[str, tuple[Any, ...]], _Prepared] = {}
        letters: dict[tuple[Any, ...], _Prepared] = {}
        for p in fresh:
            if p.target == "dead_letter":
                letters.setdefault(p.key, p)
                continue
            if p.target in ("decision", "ruling"):
                continue
            table = "held" if p.target == "held" else "copy"
            current = newest.get((table, p.key))
            if current is None or p.version > current.version:
                newest[(table, p.key)] = p
        # key order: concurrent writers (a zombie consumer after a rebalance) lock rows in the
        # same order, so they queue instead of deadlocking
        ordered = [newest[k] for k in sorted(newest)]
        upserts = [p.row for p in ordered if p.target == "copy"]
        withdrawals = [p.row for p in ordered if p.target == "withdraw"]
        holds = [{**p.row, "updated_at": now} for p in ordered if p.target == "held"]
        touched = sorted({key for _table, key in newest})
        counts = dict(copies=0, withdrawn=0, held=0, superseded=0, dead_letters=0, decisions=0, closed=0,
                      rejected=sum(1 for p in letters.values() if p.row["stage"] == "sink"
                                   and p.row["reason"] in ("OUTCOME_MISMATCH", "UNAPPROVED_RELEASE")))

        attempt.table = "exposure_cases"
        # a sent number replaced by another one
        record_corrected_exposures(conn, upserts, now, live=self._live_copies(
            conn, [(row["system"], row["record_id"]) for row in upserts]))
        attempt.table = "intermediate_copies"
        counts["copies"] = self._upsert(conn, "copy", upserts)
        counts["withdrawn"] = self._upsert(conn, "withdraw", withdrawals)
        attempt.table = "held_records"
        counts["held"] = self._upsert(conn, "held", holds)
        # a newer copy closes an open hold, whichever of the two arrived first
        counts["superseded"] = self._by_keys(conn, "supersede", touched, now)
        # a newer judgement of the same event that holds it withdraws the copy (連携停止)
        retracted = self._by_keys(conn, "retract", touched, now)
        counts["withdrawn"] += retracted
        if retracted:  # the wrong copies' time on the intermediate server, for the investigation
            for start in range(0, len(touched), _KEYS_PER_STATEMENT):
                record_withdrawn_exposures(conn, touched[start:start + _KEYS_PER_STATEMENT], now)
        attempt.table = "dead_letters"
        counts["dead_letters"] = self._upsert(conn, "dead_letter", [letters[k].row for k in sorted(letters)])
        # decisions after the verdicts of the batch, in the order they were consumed: a ruling
        # only touches the held record of the very version it was made on
        attempt.table = "review_decisions"
        for p in fresh:
            if p.target == "decision":
                counts["decisions"] += self._changed(conn, "decision", [p.row])
            elif p.target == "ruling":
                decided, closed = self._apply_ruling(conn, p.row, now)
                counts["decisions"] += decided
                counts["closed"] += closed
        return counts

    def _apply_ruling(self, conn: Connection, row: dict[str, Any], now: dt.datetime) -> tuple[int, int]:
        """Record the guard's ruling and, if accepted, its effect on the review store.

        Idempotent: the history row is keyed by decision and ruled once (a second
        ruling of the same decision, even a contradicting one, changes nothing);
        the effect is applied only with that first ruling, and every status
        change names the version it was made on and the status it leaves.
        """
        decided = self._changed(conn, "ruling", [row])
        if row["status"] != "ACCEPTED" or not decided:
            return decided, 0  # rejected, or ruled before: its effect is applied once, with the ruling
        action, key, version = row["action"], (row["system"], row["record_id"]), row["version"]
        this = and_(_HELD.c.system == key[0], _HELD.c.record_id == key[1])
        open_version = and_(this, _HELD.c.version == version, _HELD.c.status == "open")
        drop_pending = (delete(_PENDING).where(_PENDING.c.system == key[0], _PENDING.c.record_id == key[1],
                                               _PENDING.c.version <= version))
        closed = 0
        if action == "REQUEST_RELEASE":
            conn.execute(self._statements["pending"], [{
                "system": key[0], "record_id": key[1], "version": version, "decision_id": row["decision_id"],
                "requested_by": row["user"], "comment": row["comment"], "requested_at": row["decided_at"]}])
        elif action in ("APPROVE_RELEASE", "RETURN"):
            status = "released" if action == "APPROVE_RELEASE" else "returned"
            closed = conn.execute(update(_HELD).where(open_version)
                                  .values(status=status, updated_at=now)).rowcount or 0
            conn.execute(drop_pending)
        elif action == "CORRECT":
            corrected = row["corrected_event_id"]
            conn.execute(update(_HELD).where(open_version)
                         .values(correction_event_id=corrected, updated_at=now))
            conn.execute(drop_pending)
            # the corrected event may have passed and reached the copies before this ruling did
            passed = exists().where(_COPIES.c.system == key[0], _COPIES.c.record_id == key[1],
                                    _COPIES.c.event_id == corrected)
            closed = conn.execute(update(_HELD).where(this, _HELD.c.version <= version,
                                                      _HELD.c.status.in_(("open", "superseded")), passed)
                                  .values(status="corrected", updated_at=now)).rowcount or 0
        elif action == "ASSIGN":
            conn.execute(update(_HELD).where(this).values(assignee=row["assignee"] or None, updated_at=now))
        return decided, max(int(closed), 0)

    def _changed(self, conn: Connection, statement: str, rows: list[dict[str, Any]]) -> int:
        """Run an upsert (a decision's, one row); RETURNING yields exactly the rows inserted or replaced."""
        if not rows:
            return 0
        return len(conn.execute(self._statements[statement], rows).all())

    def _upsert(self, conn: Connection, statement: str, rows: list[dict[str, Any]]) -> int:
        """Upsert a batch's rows in one round trip; the number of rows inserted or replaced.

        PostgreSQL: one ``INSERT … SELECT FROM unnest(arrays) … ON CONFLICT``
        with one array parameter per column, so the statement's text is the
        same for every batch (parsed and planned once per connection). SQLite:
        one ``executemany``. Either way the row count is what the upsert
        changed (a row its ``WHERE`` kept, or ``DO NOTHING`` skipped, is not
        counted). The rows are de-duplicated per key beforehand, which a
        multi-row upsert requires.
        """
        if not rows:
            return 0
        if self._dialect == "postgresql":
            upsert = self._unnest[statement]
            return upsert.statement.run(conn, upsert.arrays(rows))
        return self._many[statement].run(conn, rows)

    def _live_copies(self, conn: Connection, keys: list[tuple[str, str]]) -> list[Any]:
        """The copies of ``keys`` not withdrawn, in one statement whose text never changes."""
        if not keys:
            return []
        if self._dialect == "postgresql":
            return self._keyed["live"].rows(conn, {
                "systems": [system for system, _ in keys], "record_ids": [record_id for _, record_id in keys]})
        return list(conn.execute(self._statements["live"], {"keys": json.dumps(keys, ensure_ascii=False)}).all())

    def _by_keys(self, conn: Connection, statement: str, keys: list[tuple[str, str]], now: dt.datetime) -> int:
        """Run a set-based UPDATE over the records ``keys``, as one statement whose text never changes."""
        if not keys:
            return 0
        if self._dialect == "postgresql":
            return self._keyed[statement].run(conn, {
                "systems": [system for system, _ in keys], "record_ids": [record_id for _, record_id in keys],
                "now": now})
        return _count(conn.execute(self._statements[statement],
                                   {"keys": json.dumps(keys, ensure_ascii=False), "now": now}))

    def _build_statements(self) -> dict[str, Any]:
        insert = postgresql.insert if self._dialect == "postgresql" else sqlite.insert
        statements: dict[str, Any] = {}

        copy = insert(_COPIES)
        keys = ("system", "record_id")
        statements["copy"] = copy.on_conflict_do_update(
            index_elements=list(keys),
            set_={c.name: copy.excluded[c.name] for c in _COPIES.c if c.name not in keys},
            where=_COPIES.c.version < copy.excluded.version,
        )
        withdraw = insert(_COPIES)
        statements["withdraw"] = withdraw.on_conflict_do_update(
            index_elements=list(keys),  # keep what was registered; record that and when it went
            set_={name: withdraw.excluded[name] for name in
                  ("event_id", "version", "verified_at", "via", "withdrawn_at", "withdrawn_reason")},
            where=_COPIES.c.version < withdraw.excluded.version,
        )
        held = insert(_HELD)
        statements["held"] = held.on_conflict_do_update(
            index_elements=list(keys),  # the assignee stays with the record across its holds
            set_={c.name: held.excluded[c.name] for c in _HELD.c if c.name not in (*keys, "assignee")},
            where=_HELD.c.version < held.excluded.version,
        )
        if self._dialect == "postgresql":  # the batch's keys as two arrays: the same text for every batch
            batch_keys = func.unnest(bindparam("systems", type_=postgresql.ARRAY(String)),
                                     bindparam("record_ids", type_=postgresql.ARRAY(String))
                                     ).table_valued("system", "record_id").render_derived()

            def among_keys(table: Table) -> Any:
                return tuple_(table.c.system, table.c.record_id).in_(
                    select(batch_keys.c.system, batch_keys.c.record_id))
        else:  # the batch's keys as one JSON array of [system, record_id] pairs: the same text for every batch
            pairs = func.json_each(bindparam("keys")).table_valued("value")

            def among_keys(table: Table) -> Any:
                return tuple_(table.c.system, table.c.record_id).in_(
                    select(func.json_extract(pairs.c.value, "$[0]"), func.json_extract(pairs.c.value, "$[1]")))
        statements["live"] = select(_COPIES).where(among_keys(_COPIES), _COPIES.c.withdrawn_at.is_(None))
        newer_copy = exists().where(
            _COPIES.c.system == _HELD.c.system, _COPIES.c.record_id == _HELD.c.record_id,
            _COPIES.c.version > _HELD.c.version,
        )
        statements["supersede"] = (
            update(_HELD)
            .where(among_keys(_HELD), _HELD.c.status == "open", newer_copy)
            .values(status=case((_HELD.c.correction_event_id == select(_COPIES.c.event_id).where(
                _COPIES.c.system == _HELD.c.system, _COPIES.c.record_id == _HELD.c.record_id,
            ).scalar_subquery(), "corrected"), else_="superseded"), updated_at=bindparam("now"))
        )
        statements["decision"] = insert(_DECISIONS).on_conflict_do_nothing(
            index_elements=["decision_id"]).returning(_DECISIONS.c.decision_id)
        ruling = insert(_DECISIONS)
        statements["ruling"] = ruling.on_conflict_do_update(
            index_elements=["decision_id"],  # a ruling replaces SUBMITTED, never another ruling
            set_={name: ruling.excluded[name] for name in ("status", "rejection", "requested_by", "ruled_at")},
            where=_DECISIONS.c.status == "SUBMITTED",
        ).returning(_DECISIONS.c.decision_id)
        pending = insert(_PENDING)
        statements["pending"] = pending.on_conflict_do_update(
            index_elements=["system", "record_id"],
            set_={c.name: pending.excluded[c.name] for c in _PENDING.c if c.name not in keys},
            where=_PENDING.c.version < pending.excluded.version,
        )
        newer_hold = exists().where(
            _HELD.c.system == _COPIES.c.system, _HELD.c.record_id == _COPIES.c.record_id,
            _HELD.c.event_id == _COPIES.c.event_id, _HELD.c.version > _COPIES.c.version,
        )
        # held because the whole process's linkage was stopped (連携停止): withdrawn as 'stopped'
        stop_hold = newer_hold.where(_HELD.c.reason_key.like("%;LINKAGE_STOPPED;%"))
        statements["retract"] = (
            update(_COPIES)
            .where(among_keys(_COPIES), _COPIES.c.withdrawn_at.is_(None), newer_hold)
            .values(withdrawn_at=bindparam("now"),
                    withdrawn_reason=case((stop_hold, "stopped"), else_="retracted"))
        )
        statements["dead_letter"] = insert(_DEAD).on_conflict_do_nothing(
            index_elements=["source_topic", "source_partition", "source_offset", "stage"],
        )
        offsets = insert(_OFFSETS)
        statements["offsets"] = offsets.on_conflict_do_update(
            index_elements=["consumer", "topic", "partition"],
            set_={"next_offset": offsets.excluded.next_offset, "updated_at": offsets.excluded.updated_at},
            where=_OFFSETS.c.next_offset < offsets.excluded.next_offset,  # never backwards
        )
        return statements

    @staticmethod
    def _build_unnest_upserts() -> dict[str, _UnnestUpsert]:
        """PostgreSQL: the batch upserts, as the Core statements in :meth:`_build_statements` define them."""
        keys = ("system", "record_id")
        return {
            "copy": _unnest_upsert(_COPIES, conflict=keys, update=[c.name for c in _COPIES.c if c.name not in keys]),
            "withdraw": _unnest_upsert(_COPIES, conflict=keys, update=(  # keep what was registered
                "event_id", "version", "verified_at", "via", "withdrawn_at", "withdrawn_reason")),
            "held": _unnest_upsert(_HELD, conflict=keys, skip=("assignee",),  # it stays across holds
                                   update=[c.name for c in _HELD.c if c.name not in (*keys, "assignee")]),
            "dead_letter": _unnest_upsert(_DEAD, skip=("id",), update=None,
                                          conflict=("source_topic", "source_partition", "source_offset", "stage")),
        }

    # -- turning messages into rows ---------------------------------------------------
    def _prepare(self, message: SinkMessage) -> _Prepared:
        try:
            if message.kind == "dead_letter":
                return self._prepare_dead_letter(message)
            if message.kind in ("decision", "ruling"):
                return self._prepare_decision(message)
            outcome = str(message.payload["outcome"])
            if outcome != _EXPECTED_OUTCOME[message.kind]:
                return self._reject(message, outcome)
            if message.kind == "verified":
                if (message.payload.get("via") or "guard") == "review" and not _approved(message.payload):
                    return self._reject(message, "PASS", reason="UNAPPROVED_RELEASE",
                                        error="a PASS via review without two different people (requested_by, "
                                              "approved_by) and the approving decision; the guard's four-eyes "
                                              "check did not make it")
                return self._prepare_copy(message)
            return self._prepare_held(message)
        except (KeyError, TypeError, ValueError, AttributeError) as e:
            what = f"missing field {e.args[0]!r}" if isinstance(e, KeyError) else type(e).__name__
            raise SinkError(f"malformed {message.kind} message at {message.position}: {what}",
                            positions=message.position) from e

    @staticmethod
    def _record_key(record: Mapping[str, Any]) -> tuple[str, str]:
        return (str(record["system"]), str(record["record_id"]))

    def _prepare_copy(self, message: SinkMessage) -> _Prepared:
        verdict = message.payload
        record = verdict["record"]
        version = int(verdict["version"])
        row: dict[str, Any] = {
            "system": record["system"], "record_id": record["record_id"],
            "my_number": record.get("my_number") or "", "name": record.get("name") or "",
            "birth_date": record.get("birth_date") or "", "sex": record.get("sex") or "",
            "address": record.get("address") or "", "atena_no": record.get("atena_no") or "",
            "number_source": record.get("number_source") or "",
            "payload": dict(record.get("payload") or {}),
            "event_id": verdict["event_id"], "version": version, "verified_at": verdict["checked_at"],
            # an approved review decision will say so once the verdict schema carries it
            "via": verdict.get("via") or "guard",
            "withdrawn_at": None, "withdrawn_reason": None,
        }
        if record.get("operation") == "delete":
            row.update(withdrawn_at=verdict["checked_at"], withdrawn_reason="deleted")
            return _Prepared(message, "withdraw", self._record_key(record), version, row)
        return _Prepared(message, "copy", self._record_key(record), version, row)

    def _prepare_held(self, message: SinkMessage) -> _Prepared:
        verdict = message.payload
        record = verdict["record"]
        version = int(verdict["version"])
        row = {
            "system": record["system"], "record_id": record["record_id"],
            "event_id": verdict["event_id"], "version": version,
            "reasons": [{"code": str(r["code"]), "detail": str(r.get("detail") or "")}
                        for r in verdict.get("reasons") or ()],
            "suggested_my_number": verdict.get("suggested_my_number") or "",
            "record": _jsonable(record), "held_at": verdict["checked_at"], "status": "open",
            # verdict v2: the registry persons the guard compared (None from v1 verdicts)
            "registry_person": _jsonable(verdict.get("registry_person")),
            "suggested_person": _jsonable(verdict.get("suggested_person")),
            "correction_event_id": None,  # a newer hold re-opens the item, whatever was pending
        }
        row["reason_key"] = "".join(f";{r['code']}" for r in row["reasons"]) + ";" if row["reasons"] else ""
        return _Prepared(message, "held", self._record_key(record), version, row)

    def _prepare_dead_letter(self, message: SinkMessage) -> _Prepared:
        letter = message.payload
        row = {
            "source_topic": letter["topic"], "source_partition": letter["partition"],
            "source_offset": letter["offset"], "stage": letter.get("stage") or "guard",
            "reason": letter["reason"], "error": redact(str(letter["error"])),
            "system": letter.get("system") or "", "record_id": letter.get("record_id") or "",
            "raw_key": letter.get("key"), "raw_value": letter.get("value"),
            "failed_at": letter["failed_at"], "replayed_at": None,
        }
        key = (row["source_topic"], row["source_partition"], row["source_offset"], row["stage"])
        return _Prepared(message, "dead_letter", key, int(row["source_offset"]), row)

    def _prepare_decision(self, message: SinkMessage) -> _Prepared:
        d = message.payload
        status = str(d.get("status") or "SUBMITTED")
        if (message.kind == "decision") != (status == "SUBMITTED"):
            raise ValueError(f"a {status} decision on the {message.kind} topic")
        row = {
            "decision_id": str(d["decision_id"]), "system": str(d["system"]), "record_id": str(d["record_id"]),
            "action": str(d["action"]), "status": status, "version": int(d["version"]),
            "event_id": str(d["event_id"]), "user": str(d["user"]), "comment": redact(str(d.get("comment") or "")),
            "decided_at": d["decided_at"], "corrected_event_id": str(d.get("corrected_event_id") or ""),
            "assignee": str(d.get("assignee") or ""), "requested_by": str(d.get("requested_by") or ""),
            "rejection": redact(str(d.get("rejection") or "")),
            "ruled_at": None if status == "SUBMITTED" else _utcnow(),
        }
        return _Prepared(message, message.kind, (row["decision_id"],), row["version"], row)  # type: ignore[arg-type]

    def _reject(self, message: SinkMessage, outcome: str, *, reason: str = "OUTCOME_MISMATCH",
                error: str | None = None) -> _Prepared:
        """A verdict on the wrong topic (or an unapproved release) must not reach the copies; dead-lettered."""
        record = message.payload.get("record") or {}
        row = {
            "source_topic": message.topic, "source_partition": message.partition,
            "source_offset": message.offset, "stage": "sink", "reason": reason,
            "error": error or f"a {outcome} verdict on the {message.kind} topic; only PASS may become an "
                     f"intermediate-server copy and only HOLD a held record",
            "system": str(record.get("system") or ""), "record_id": str(record.get("record_id") or ""),
            "raw_key": None, "raw_value": message.raw, "failed_at": _utcnow(), "replayed_at": None,
        }
        log.warning("sink refused a %s verdict at %s (%s)", outcome, message.position, reason)
        key = (message.topic, message.partition, message.offset, "sink")
        return _Prepared(message, "dead_letter", key, message.offset, row)

    # -- retries --------------------------------------------------------------------
    def _transient(self, error: BaseException) -> bool:
        """Worth retrying: the server went away, a connection broke, or SQLite is locked."""
        if isinstance(error, PoolTimeoutError):
            return True
        if not isinstance(error, DBAPIError):
            return False
        if error.connection_invalidated:
            return True
        if self._dialect == "sqlite":  # sqlite3 also reports syntax errors and missing tables as OperationalError
            text = str(getattr(error, "orig", error)).lower()
            return isinstance(error, OperationalError) and ("locked" in text or "busy" in text)
        return isinstance(error, (OperationalError, InterfaceError))

    def _retrying(self, what: str, fn: Callable[[_Attempt], T], where: str) -> T:
        started = self._clock()
        number = 0
        while True:
            number += 1
            attempt = _Attempt(number)
            try:
                return fn(attempt)
            except SQLAlchemyError as e:
                transient = self._transient(e)
                delay = self.retry.delay(number - 1)
                elapsed = self._clock() - started
                if transient and number < self.retry.attempts and elapsed + delay <= self.retry.max_elapsed:
                    log.warning("sink database unavailable (%s) during %s at %s; retry %d/%d in %.2fs",
                                db_error_text(e), what, where or "-", number, self.retry.attempts - 1, delay)
                    self._sleep(delay)
                    continue
                tried = f" after {number} attempts over {elapsed:.1f}s" if number > 1 else ""
                table = f" writing {attempt.table}" if attempt.table else ""
                raise SinkError(
                    f"sink could not {what}{table} at {where or '-'}{tried}: {db_error_text(e)}",
                    table=attempt.table, positions=where, transient=transient, attempts=number,
                ) from e

    # -- reading, for the other layers and tests ---------------------------------------
    def counts(self) -> dict[str, int]:
        """Rows per state: ``copies`` (live), ``withdrawn``, ``held_<status>``, ``dead_letters``."""
        withdrawn = _COPIES.c.withdrawn_at.is_not(None)
        with self.engine.connect() as conn:
            copies: dict[bool, int] = {
                bool(is_withdrawn): n
                for is_withdrawn, n in conn.execute(select(withdrawn, func.count()).group_by(withdrawn))}
            held: dict[str, int] = {
                status: n
                for status, n in conn.execute(select(_HELD.c.status, func.count()).group_by(_HELD.c.status))}
            dead = conn.execute(select(func.count()).select_from(_DEAD)).scalar_one()
        result = {"copies": copies.get(False, 0), "withdrawn": copies.get(True, 0)}
        result.update({f"held_{status}": held.get(status, 0) for status in HELD_STATUSES})
        result["dead_letters"] = dead
        return result

    def verdict_count(self) -> int:
        """Rows in the three stores together: the events processed when each record changes once."""
        with self.engine.connect() as conn:
            return sum(conn.execute(select(func.count()).select_from(t)).scalar_one()
                       for t in (_COPIES, _HELD, _DEAD))

    def copy(self, system: str, record_id: str) -> IntermediateCopy | None:
        """The intermediate-server copy of one record (withdrawn ones included)."""
        with Session(self.engine, expire_on_commit=False) as session:
            return session.get(IntermediateCopy, (system, record_id))

    def held(self, system: str, record_id: str) -> HeldRecord | None:
        """The review-store entry of one record, whatever its status."""
        with Session(self.engine, expire_on_commit=False) as session:
            return session.get(HeldRecord, (system, record_id))

    def dead_letters(self, limit: int = 100) -> list[DeadLetter]:
        """Dead letters in arrival order, oldest first."""
        with Session(self.engine, expire_on_commit=False) as session:
            return list(session.scalars(select(DeadLetter).order_by(DeadLetter.id).limit(limit)))

    def held_by_reason(self) -> dict[str, int]:
        """Open held records per reason code (a record with two codes counts for both)."""
        tally: Counter[str] = Counter()
        with self.engine.connect() as conn:
            for reasons in conn.execute(select(_HELD.c.reasons).where(_HELD.c.status == "open")).scalars():
                tally.update({r["code"] for r in reasons or ()})
        return dict(tally)

    def dead_letters_by_reason(self) -> dict[str, int]:
        """Dead letters per reason (as recorded: ';'-joined codes)."""
        with self.engine.connect() as conn:
            return dict(conn.execute(
                select(_DEAD.c.reason, func.count()).group_by(_DEAD.c.reason)).all())


    # -- the dead-letter queue, for ``linkguard dlq`` --------------------------------
    def dead_letter(self, letter_id: int) -> DeadLetter | None:
        """One dead letter by id, raw key and value included (callers must not print the value)."""
        with Session(self.engine, expire_on_commit=False) as session:
            return session.get(DeadLetter, letter_id)

    def find_dead_letters(self, *, reason: str | None = None, stage: str | None = None,
                          replayed: bool | None = None, limit: int | None = 100,
                          newest_first: bool = True) -> list[DeadLetter]:
        """Dead letters filtered by one reason code, stage and replay state; newest first by default.

        ``reason`` matches one code of the ';'-joined list (``BAD_DATE`` finds
        ``BAD_DATE;BAD_SEX``), exactly, never as a pattern.
        """
        query = select(DeadLetter)
        if reason:
            joined = literal(";") + _DEAD.c.reason + literal(";")
            query = query.where(joined.contains(f";{reason};", autoescape=True))
        if stage:
            query = query.where(_DEAD.c.stage == stage)
        if replayed is not None:
            query = query.where(_DEAD.c.replayed_at.is_not(None) if replayed else _DEAD.c.replayed_at.is_(None))
        query = query.order_by(_DEAD.c.id.desc() if newest_first else _DEAD.c.id)
        if limit is not None:
            query = query.limit(limit)
        with Session(self.engine, expire_on_commit=False) as session:
            return list(session.scalars(query))

    def mark_replayed(self, letter_id: int, *, at: dt.datetime | None = None, force: bool = False) -> bool:
        """Set ``replayed_at``; only if not replayed yet, unless ``force``. Whether a row changed.

        The check and the update are one statement, so two operators replaying
        the same dead letter at once cannot both succeed.
        """
        statement = update(_DEAD).where(_DEAD.c.id == letter_id).values(replayed_at=at or _utcnow())
        if not force:
            statement = statement.where(_DEAD.c.replayed_at.is_(None))
        with self.engine.begin() as conn:
            return conn.execute(statement).rowcount == 1

    def unmark_replayed(self, letter_id: int, *, previous: dt.datetime | None = None) -> None:
        """Put ``replayed_at`` back to ``previous`` (None: never replayed), after a replay that failed."""
        with self.engine.begin() as conn:
            conn.execute(update(_DEAD).where(_DEAD.c.id == letter_id).values(replayed_at=previous))

"""The review service: the held-record queue, the case view, and decisions published as events.

Reading is from the review store the sink worker keeps (``held_records``,
``pending_releases``, ``review_decisions``, ``intermediate_copies``), so the
screen shows what the sink holds. Deciding never writes the store: each
decision is checked here (role, comment, state, four-eyes) and published to
``linkage.decisions``; the guard rules on it again and the sink applies the
ruling. A decision therefore shows as done once the sink has applied it.

Every My Number leaving this module is masked, except from :meth:`reveal`,
which is audited like every view and decision (:class:`AuditLog`).
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import uuid
from dataclasses import dataclass
from typing import IO, Any, Literal, Protocol

from sqlalchemy import Engine, and_, func, select, tuple_
from sqlalchemy.orm import Session

from guards.exceptions import LinkguardError
from guards import four_eyes
from guards.masking import mask_number, mask_person, redact
from linkguard.review.accounts import AccountStore, Role, User
from sinks.audit import append_entry
from sinks.models import AuditEntry, HeldRecord, IntermediateCopy, PendingRelease, ReviewDecision
from streams.csvio import csv_writer

__all__ = [
    "ReviewService", "DecisionPublisher", "KafkaDecisionPublisher", "AuditLog", "AuditRecord",
    "QueuePage", "QueueItem", "ReviewCase", "FieldRow", "ReasonView", "BatchPeer", "HistoryEntry",
    "PendingView", "Decision",
    "ReviewError", "CommentRequired", "FourEyesViolation", "NotOpen", "NotFound", "Forbidden", "BadNumber",
    "encode_cursor", "decode_cursor", "compare_fields",
]


# -- errors -------------------------------------------------------------------------
class ReviewError(LinkguardError):
    """A decision or view refused; the message says why and never holds a My Number."""


class CommentRequired(ReviewError):
    pass


class FourEyesViolation(ReviewError):
    pass


class NotOpen(ReviewError):
    pass


class NotFound(ReviewError):
    pass


class Forbidden(ReviewError):
    pass


class BadNumber(ReviewError):
    pass


# -- views ------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class QueueItem:
    system: str
    record_id: str
    name: str
    masked_number: str
    reason_codes: list[str]
    held_at: dt.datetime
    status: str
    assignee: str | None
    pending_release: str | None  # who requested a release of this version, or None
    version: int = 0
    correction_pending: bool = False


@dataclass(frozen=True, slots=True)
class QueuePage:
    items: list[QueueItem]
    next_cursor: str | None
    total: int


@dataclass(frozen=True, slots=True)
class FieldRow:
    name: str
    label_ja: str
    label_en: str
    record_value: str
    registry_value: str | None
    suggested_value: str | None
    record_normalised: str
    registry_normalised: str | None
    differs: bool
    suggested_normalised: str | None = None
    suggested_differs: bool = False
    #: how the field matched the registry person (guards.check.explain): exact, normalised, variant …
    match: str = ""
    match_label_ja: str = ""
    match_label_en: str = ""
    match_detail: str = ""
    #: the normalised values cut into (text, differs) runs, where characters differ (highlighted)
    record_marks: tuple[tuple[str, bool], ...] = ()
    registry_marks: tuple[tuple[str, bool], ...] = ()


@dataclass(frozen=True, slots=True)
class ReasonView:
    code: str
    label_ja: str
    label_en: str
    detail: str


@dataclass(frozen=True, slots=True)
class BatchPeer:
    system: str
    record_id: str
    name: str
    masked_number: str
    state: str  # "held:open", "held:released", …, "copy", "copy:withdrawn" or "unknown"


@dataclass(frozen=True, slots=True)
class HistoryEntry:
    at: dt.datetime
    kind: str  # "hold", "copy", "decision"
    summary: str
    user: str = ""
    status: str = ""
    comment: str = ""


@dataclass(frozen=True, slots=True)
class PendingView:
    requested_by: str
    requested_at: dt.datetime
    comment: str
    version: int
    decision_id: str


@dataclass(frozen=True, slots=True)
class ReviewCase:
    system: str
    record_id: str
    event_id: str
    version: int
    status: str
    held_at: dt.datetime
    name: str
    masked_number: str
    masked_suggested: str | None
    record: dict[str, Any]  # the held event, its My Number masked
    registry_person: dict[str, Any] | None  # masked
    suggested_person: dict[str, Any] | None  # masked
    fields: list[FieldRow]
    reasons: list[ReasonView]
    batch_peers: list[BatchPeer]
    history: list[HistoryEntry]
    pending_release: PendingView | None
    assignee: str | None
    correction_pending: bool
    #: decisions submitted but not yet ruled on by the guard and applied by the sink (actions)
    in_flight: tuple[str, ...] = ()

    @property
    def has_suggestion(self) -> bool:
        return self.masked_suggested is not None


@dataclass(frozen=True, slots=True)
class Decision:
    decision_id: str
    action: str
    system: str
    record_id: str
    version: int
    user: str
    comment: str
    decided_at: dt.datetime
    status: str = "SUBMITTED"
    corrected_event_id: str = ""
    assignee: str = ""


@dataclass(frozen=True, slots=True)
class AuditRecord:
    id: int
    at: dt.datetime
    actor: str
    action: str
    system: str
    record_id: str
    detail: str


# -- publishing -------------------------------------------------------------------
class DecisionPublisher(Protocol):
    """Sends decisions to ``linkage.decisions`` and corrected records to ``linkage.records``."""

    def publish_decision(self, decision: dict[str, Any]) -> None: ...

    def publish_record(self, event: dict[str, Any]) -> None: ...


class KafkaDecisionPublisher:
    """The real publisher: Avro single-object messages keyed by system + record_id, acks=all, flushed."""

    def __init__(self, settings: Any) -> None:
        import schemas
        from streams.publish import Publisher

        self.settings = settings
        self.codec = schemas.Codec()
        self._publisher = Publisher(settings)
        from streams import topics

        self._topics = topics.names(settings)
        self._key = topics.record_key

    def publish_decision(self, decision: dict[str, Any]) -> None:
        self._send(self._topics.decisions, decision["system"], decision["record_id"],
                   self.codec.encode("decision", decision))

    def publish_record(self, event: dict[str, Any]) -> None:
        self._send(self._topics.records, event["system"], event["record_id"],
                   self.codec.encode("record_changed", event))

    def _send(self, topic: str, system: str, record_id: str, value: bytes) -> None:
        self._publisher.send_raw(topic, self._key(system, record_id), value)
        self._publisher.flush(timeout=60)

    def close(self) -> None:
        self._publisher.close()


# -- audit ------------------------------------------------------------------------
class AuditLog:
    """The append-only audit log: :meth:`record` adds, nothing changes or removes."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def record(self, actor: str, action: str, system: str = "", record_id: str = "",
               detail: str = "") -> None:
        append_entry(self.engine, actor, action, system, record_id, redact(detail))

    def entries(self, limit: int = 100, after: int | None = None, actor: str | None = None, *,
                newest_first: bool = True, action: str | None = None) -> list[AuditRecord]:
        """A page of entries; ``after`` is the last id of the previous page."""
        query = select(AuditEntry)
        if actor:
            query = query.where(AuditEntry.actor == actor)
        if action:
            query = query.where(AuditEntry.action == action)
        if after is not None:
            query = query.where(AuditEntry.id < after if newest_first else AuditEntry.id > after)
        query = query.order_by(AuditEntry.id.desc() if newest_first else AuditEntry.id).limit(limit)
        with Session(self.engine) as session:
            return [_audit(row) for row in session.scalars(query)]

    def export_csv(self, stream: IO[str], *, actor: str | None = None) -> int:
        """Write every entry (oldest first) as CSV with a header; return the rows written."""
        writer = csv_writer(stream)
        writer.writerow(["id", "at", "actor", "action", "system", "record_id", "detail"])
        count = 0
        after: int | None = None
        while True:
            page = self.entries(1000, after, actor, newest_first=False)
            for e in page:
                writer.writerow([e.id, e.at.isoformat(), e.actor, e.action, e.system, e.record_id, e.detail])
            count += len(page)
            if len(page) < 1000:
                return count
            after = page[-1].id


def _audit(row: AuditEntry) -> AuditRecord:
    return AuditRecord(row.id, row.at, row.actor, row.action, row.system, row.record_id, row.detail)


# -- cursors ----------------------------------------------------------------------
def encode_cursor(held_at: dt.datetime, system: str, record_id: str) -> str:
    """An opaque keyset cursor (URL-safe; it holds no personal data).

    >>> c = encode_cursor(dt.datetime(2026, 4, 1, tzinfo=dt.timezone.utc), 'shintai-techo', 'R-1')
    >>> decode_cursor(c)[1:]
    ('shintai-techo', 'R-1')
    """
    raw = json.dumps([held_at.astimezone(dt.timezone.utc).isoformat(), system, record_id])
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[dt.datetime, str, str]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        held_at, system, record_id = json.loads(raw)
        return dt.datetime.fromisoformat(held_at), str(system), str(record_id)
    except (ValueError, TypeError) as e:
        raise ReviewError("the page cursor is not valid; start again from the first page") from e


# -- field comparison ---------------------------------------------------------------
_FIELDS = (
    ("name", "氏名", "Name"),
    ("name_kana", "氏名カナ", "Name (kana)"),
    ("birth_date", "生年月日", "Date of birth"),
    ("sex", "性別", "Sex"),
    ("address", "住所", "Address"),
)
_SEX = {1: "男", 2: "女"}


def _normalised(field_name: str, value: Any) -> str:
    """The compared form of one field (what the guard's rules look at)."""
    from guards import japanese, normalize
    from guards.exceptions import GuardError

    if value is None or value == "":
        return ""
    text = str(value)
    try:
        if field_name == "name":  # variants left as written: the screen highlights them
            return japanese.name_text(text)
        if field_name == "name_kana":
            return japanese.kana_key(text)
        if field_name == "address":
            return japanese.address_key(text)
        if field_name == "birth_date":
            return normalize.parse_date(text).isoformat()
        if field_name == "sex":
            code = int(value) if isinstance(value, int) else normalize.parse_sex(text)
            return f"{code} ({_SEX.get(code, '?')})"
    except (GuardError, ValueError):
        return "?"
    return text


def _differs(field_name: str, a: Any, b: Any) -> bool:
    from guards import japanese

    if field_name == "name":
        return japanese.compare_names(japanese.name_key(str(a or "")), japanese.name_key(str(b or ""))) is None
    na, nb = _normalised(field_name, a), _normalised(field_name, b)
    if field_name == "address":
        return not japanese.addresses_match(na, nb)
    if field_name == "name_kana" and (not na or not nb):
        return False  # a missing reading is not a difference
    return na != nb


def compare_fields(record: dict[str, Any], registry: dict[str, Any] | None,
                   suggested: dict[str, Any] | None) -> list[FieldRow]:
    """Field by field: the record, the registry person of its number, the suggested number's person.

    >>> rows = compare_fields({'name': '齋藤 花子', 'birth_date': '昭和55年4月1日', 'sex': '女'},
    ...                       {'name': '斎藤 花子', 'birth_date': '1980-04-01', 'sex': 2}, None)
    >>> [(r.name, r.differs) for r in rows][:4]
    [('name', False), ('name_kana', False), ('birth_date', False), ('sex', False)]
    >>> rows[2].record_normalised
    '1980-04-01'
    """
    rows = []
    explained = _explanation(record, registry)
    for name, ja, en in _FIELDS:
        value = record.get(name)
        reg = registry.get(name) if registry is not None else None
        sug = suggested.get(name) if suggested is not None else None
        how = explained.get(name)
        record_normalised = _normalised(name, value)
        registry_normalised = None if registry is None else _normalised(name, reg)
        marks: tuple[tuple[tuple[str, bool], ...], tuple[tuple[str, bool], ...]] = ((), ())
        if how is not None and how.match.value in _HIGHLIGHTED and registry_normalised:
            marks = character_runs(record_normalised, registry_normalised)
        rows.append(FieldRow(
            match="" if how is None else how.match.value,
            match_label_ja="" if how is None else how.match.label_ja,
            match_label_en="" if how is None else how.match.label_en,
            match_detail="" if how is None else how.detail,
            record_marks=marks[0], registry_marks=marks[1],
            name=name, label_ja=ja, label_en=en, record_value="" if value is None else str(value),
            registry_value=None if registry is None else ("" if reg is None else str(reg)),
            suggested_value=None if suggested is None else ("" if sug is None else str(sug)),
            record_normalised=record_normalised,
            registry_normalised=registry_normalised,
            differs=registry is not None and _differs(name, value, reg),
            suggested_normalised=None if suggested is None else _normalised(name, sug),
            suggested_differs=suggested is not None and _differs(name, value, sug),
        ))
    return rows


#: the matches whose differing characters the screen highlights (not a former name or alias:
#: those are compared with another name than the one shown)
_HIGHLIGHTED = frozenset({"variant", "placeholder", "mismatch"})


def _explanation(record: dict[str, Any], registry: dict[str, Any] | None) -> dict[str, Any]:
    """:func:`guards.check.explain` of the held event against the (masked) registry person, by field."""
    from guards import Record, Resident
    from guards.check import explain

    if registry is None:
        return {}
    birth = registry.get("birth_date")
    if isinstance(birth, str):
        try:
            birth = dt.date.fromisoformat(birth[:10])
        except ValueError:
            return {}
    if not isinstance(birth, dt.date):
        return {}
    try:
        person = Resident(
            my_number=str(registry.get("my_number") or ""), name=str(registry.get("name") or ""),
            birth_date=birth, sex=int(registry.get("sex") or 0), address=str(registry.get("address") or ""),
            name_kana=str(registry.get("name_kana") or ""), alias_name=str(registry.get("alias_name") or ""),
            previous_names=tuple(registry.get("previous_names") or ()),
            previous_addresses=tuple(registry.get("previous_addresses") or ()))
        held = Record(system=str(record.get("system") or ""), record_id=str(record.get("record_id") or ""),
                      my_number="000000000000",  # the explanation never looks at the number (often masked here)
                      **{f: str(record.get(f) or "") for f in ("name", "birth_date", "sex", "address", "name_kana")})
    except (TypeError, ValueError):
        return {}
    return {e.field: e for e in explain(held, person)}


def character_runs(a: str, b: str) -> tuple[tuple[tuple[str, bool], ...], tuple[tuple[str, bool], ...]]:
    """Both strings cut into runs of characters the other has (``False``) and does not (``True``).

    >>> character_runs('斎藤 花子', '齋藤 花子')
    ((('斎', True), ('藤 花子', False)), (('齋', True), ('藤 花子', False)))
    >>> character_runs('1980-04-01', '1980-04-02')[1]
    (('1980-04-0', False), ('2', True))
    """
    import difflib

    left: list[tuple[str, bool]] = []
    right: list[tuple[str, bool]] = []
    for op, i1, i2, j1, j2 in difflib.SequenceMatcher(None, a, b, autojunk=False).get_opcodes():
        if i2 > i1:
            left.append((a[i1:i2], op != "equal"))
        if j2 > j1:
            right.append((b[j1:j2], op != "equal"))
    return tuple(left), tuple(right)


def _reason_view(code: str, detail: str) -> ReasonView:
    from guards import Reason

    try:
        reason = Reason(code)
        return ReasonView(code, reason.label_ja, reason.label_en, detail)
    except ValueError:
        return ReasonView(code, code, code, detail)


def _masked_record(record: dict[str, Any]) -> dict[str, Any]:
    return {**record, "my_number": mask_number(record.get("my_number"))}


def _event_from_json(record: dict[str, Any]) -> dict[str, Any]:
    """The held RecordChanged event, from its JSON form in the store back to Avro's types."""
    event = dict(record)
    occurred = event.get("occurred_at")
    if isinstance(occurred, str):
        event["occurred_at"] = dt.datetime.fromisoformat(occurred)
    event["payload"] = {str(k): str(v) for k, v in (event.get("payload") or {}).items()}
    return event


# -- the service ------------------------------------------------------------------
Order = Literal["oldest", "newest"]


class ReviewService:
    """Queue, case view, reveal and decisions; see the module docstring."""

    def __init__(self, engine: Engine, publisher: DecisionPublisher | None = None, *,
                 audit: AuditLog | None = None, accounts: AccountStore | None = None) -> None:
        self.engine = engine
        self.publisher = publisher
        self.audit = audit or AuditLog(engine)
        self.accounts = accounts or AccountStore(engine)

    # -- the queue ------------------------------------------------------------------
    @staticmethod
    def _filters(status: str | None, system: str | None, reason: str | None,
                 older_than: dt.timedelta | None, assignee: str | None) -> list[Any]:
        conditions: list[Any] = []
        if status:
            conditions.append(HeldRecord.status == status)
        if system:
            conditions.append(HeldRecord.system == system)
        if reason:
            conditions.append(HeldRecord.reason_key.contains(f";{reason};", autoescape=True))
        if older_than is not None:
            conditions.append(HeldRecord.held_at <= dt.datetime.now(dt.timezone.utc) - older_than)
        if assignee:
            conditions.append(HeldRecord.assignee == assignee)
        return conditions

    def queue(self, *, status: str | None = "open", system: str | None = None, reason: str | None = None,
              older_than: dt.timedelta | None = None, assignee: str | None = None,
              order: Order = "oldest", after: str | None = None, limit: int = 50) -> QueuePage:
        """One page of held records, keyset-paged on (held_at, system, record_id): two queries a page."""
        if order not in ("oldest", "newest"):
            raise ReviewError("order must be 'oldest' or 'newest'")
        limit = max(1, min(int(limit), 500))
        conditions = self._filters(status, system, reason, older_than, assignee)
        key = tuple_(HeldRecord.held_at, HeldRecord.system, HeldRecord.record_id)
        page_conditions = list(conditions)
        if after:
            position = tuple_(*(v for v in decode_cursor(after)))
            page_conditions.append(key > position if order == "oldest" else key < position)
        ordering = ((HeldRecord.held_at, HeldRecord.system, HeldRecord.record_id) if order == "oldest" else
                    (HeldRecord.held_at.desc(), HeldRecord.system.desc(), HeldRecord.record_id.desc()))
        query = (
            select(HeldRecord.system, HeldRecord.record_id, HeldRecord.record, HeldRecord.reasons,
                   HeldRecord.held_at, HeldRecord.status, HeldRecord.assignee, HeldRecord.version,
                   HeldRecord.correction_event_id, PendingRelease.requested_by)
            .outerjoin(PendingRelease, and_(PendingRelease.system == HeldRecord.system,
                                            PendingRelease.record_id == HeldRecord.record_id,
                                            PendingRelease.version == HeldRecord.version))
            .where(*page_conditions).order_by(*ordering).limit(limit + 1)
        )
        with self.engine.connect() as conn:
            rows = conn.execute(query).all()
            total = conn.execute(select(func.count()).select_from(HeldRecord).where(*conditions)).scalar_one()
        items = [
            QueueItem(system=r.system, record_id=r.record_id, name=str((r.record or {}).get("name") or ""),
                      masked_number=mask_number((r.record or {}).get("my_number")),
                      reason_codes=[x["code"] for x in r.reasons or ()], held_at=r.held_at, status=r.status,
                      assignee=r.assignee, pending_release=r.requested_by, version=r.version,
                      correction_pending=bool(r.correction_event_id) and r.status == "open")
            for r in rows[:limit]
        ]
        more = len(rows) > limit
        last = items[-1] if items else None
        cursor = encode_cursor(last.held_at, last.system, last.record_id) if more and last else None
        return QueuePage(items, cursor, total)

    def reason_counts(self, status: str | None = "open", system: str | None = None) -> dict[str, int]:
        """Held records per reason code (a record with two codes counts for both)."""
        conditions = self._filters(status, system, None, None, None)
        counts: dict[str, int] = {}
        with self.engine.connect() as conn:
            for key, n in conn.execute(select(HeldRecord.reason_key, func.count())
                                       .where(*conditions).group_by(HeldRecord.reason_key)):
                for code in filter(None, (key or "").split(";")):
                    counts[code] = counts.get(code, 0) + n
        return dict(sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])))

    def systems(self) -> list[str]:
        with self.engine.connect() as conn:
            return list(conn.execute(select(HeldRecord.system).distinct().order_by(HeldRecord.system)).scalars())

    def status_counts(self, system: str | None = None) -> dict[str, int]:
        """Held records per status (for dashboards: no personal data)."""
        query = select(HeldRecord.status, func.count()).group_by(HeldRecord.status)
        if system:
            query = query.where(HeldRecord.system == system)
        with self.engine.connect() as conn:
            return dict(conn.execute(query).all())

    # -- the case -------------------------------------------------------------------
    @staticmethod
    def _require(user: User, *roles: Role, doing: str) -> None:
        if not user.active:
            raise Forbidden(f"user {user.username} is deactivated; an admin can reactivate the account")
        if not any(user.can(r) for r in roles):
            raise Forbidden(f"{doing} needs the role {' or '.join(r.value for r in roles)}; "
                            f"{user.username} has {', '.join(sorted(r.value for r in user.roles)) or 'none'}")

    def _held(self, session: Session, system: str, record_id: str) -> HeldRecord:
        held = session.get(HeldRecord, (system, record_id))
        if held is None:
            raise NotFound(f"no held record {system}/{record_id}; see `linkguard review list`")
        return held

    def case(self, system: str, record_id: str, *, viewer: User) -> ReviewCase:
        """Everything a reviewer needs for one held record, numbers masked; audited as a view."""
        self._require(viewer, Role.reviewer, Role.approver, doing="viewing a record")
        with Session(self.engine) as session:
            held = self._held(session, system, record_id)
            record = dict(held.record or {})
            pending = self._pending(session, held)
            peers = self._batch_peers(session, held)
            history = self._history(session, held)
        self.audit.record(viewer.username, "view", system, record_id, f"version {held.version}")
        registry, suggested = held.registry_person, held.suggested_person
        return ReviewCase(
            system=held.system, record_id=held.record_id, event_id=held.event_id, version=held.version,
            status=held.status, held_at=held.held_at, name=str(record.get("name") or ""),
            masked_number=mask_number(record.get("my_number")),
            masked_suggested=mask_number(held.suggested_my_number) if held.suggested_my_number else None,
            record=_masked_record(record), registry_person=mask_person(registry),
            suggested_person=mask_person(suggested), fields=compare_fields(record, registry, suggested),
            reasons=[_reason_view(r["code"], r.get("detail") or "") for r in held.reasons or ()],
            batch_peers=peers, history=history, pending_release=pending, assignee=held.assignee,
            correction_pending=bool(held.correction_event_id) and held.status == "open",
            in_flight=tuple(h.summary.split(" ")[0] for h in history
                            if h.kind == "decision" and h.status == "SUBMITTED"),
        )

    @staticmethod
    def _pending(session: Session, held: HeldRecord) -> PendingView | None:
        row = session.get(PendingRelease, (held.system, held.record_id))
        if row is None or row.version != held.version:
            return None
        return PendingView(row.requested_by, row.requested_at, row.comment, row.version, row.decision_id)

    @staticmethod
    def _batch_peers(session: Session, held: HeldRecord) -> list[BatchPeer]:
        """The other records a BATCH_SWAP names, from the held and copy stores of the same system."""
        ids: list[str] = []
        for r in held.reasons or ():
            if r["code"] == "BATCH_SWAP":
                ids += [x.strip() for x in str(r.get("detail") or "").split(",") if x.strip()]
        peers = []
        for rid in dict.fromkeys(ids):
            other = session.get(HeldRecord, (held.system, rid))
            if other is not None:
                rec = other.record or {}
                peers.append(BatchPeer(held.system, rid, str(rec.get("name") or ""),
                                       mask_number(rec.get("my_number")), f"held:{other.status}"))
                continue
            copy = session.get(IntermediateCopy, (held.system, rid))
            if copy is not None:
                peers.append(BatchPeer(held.system, rid, copy.name, mask_number(copy.my_number),
                                       "copy:withdrawn" if copy.withdrawn else "copy"))
            else:
                peers.append(BatchPeer(held.system, rid, "", "****", "unknown"))
        return peers

    @staticmethod
    def _history(session: Session, held: HeldRecord) -> list[HistoryEntry]:
        entries = [HistoryEntry(held.held_at, "hold",
                                f"HOLD v{held.version}: " + ", ".join(r["code"] for r in held.reasons or ()))]
        copy = session.get(IntermediateCopy, (held.system, held.record_id))
        if copy is not None:
            state = " (withdrawn)" if copy.withdrawn else ""
            entries.append(HistoryEntry(copy.verified_at, "copy",
                                        f"PASS v{copy.version} via {copy.via}{state}"))
        decisions = session.scalars(select(ReviewDecision).where(
            ReviewDecision.system == held.system, ReviewDecision.record_id == held.record_id))
        for d in decisions:
            summary = f"{d.action} v{d.version}" + (f": {d.rejection}" if d.rejection else "")
            entries.append(HistoryEntry(d.decided_at, "decision", summary, d.user, d.status, d.comment))
        return sorted(entries, key=lambda e: e.at)

    def decisions(self, system: str, record_id: str) -> list[ReviewDecision]:
        """The decision history of one record, oldest first (rows; comments hold no numbers)."""
        with Session(self.engine, expire_on_commit=False) as session:
            return list(session.scalars(select(ReviewDecision).where(
                ReviewDecision.system == system, ReviewDecision.record_id == record_id)
                .order_by(ReviewDecision.decided_at)))

    def reveal(self, system: str, record_id: str, which: Literal["record", "suggested"] = "record", *,
               viewer: User) -> str:
        """The full number (the record's or the suggested one); audited as a reveal."""
        self._require(viewer, Role.reviewer, Role.approver, doing="revealing a number")
        if which not in ("record", "suggested"):
            raise ReviewError("which must be 'record' or 'suggested'")
        with Session(self.engine) as session:
            held = self._held(session, system, record_id)
            number = (str((held.record or {}).get("my_number") or "") if which == "record"
                      else held.suggested_my_number or "")
        if not number:
            raise NotFound(f"{system}/{record_id} has no {which} number")
        self.audit.record(viewer.username, "reveal", system, record_id, f"{which} number")
        return number

    # -- decisions ------------------------------------------------------------------
    def _decidable(self, session: Session, system: str, record_id: str) -> HeldRecord:
        held = self._held(session, system, record_id)
        if held.status != "open":
            raise NotOpen(f"{system}/{record_id} is {held.status}, no longer open for decisions")
        if held.correction_event_id:
            raise NotOpen(f"a correction of {system}/{record_id} is being checked by the guard; "
                          f"wait for its verdict")
        return held

    @staticmethod
    def _comment(comment: str) -> str:
        text = (comment or "").strip()
        if not text:
            raise CommentRequired("every decision needs a comment saying why")
        return redact(text)

    def _publish(self, user: User, held: HeldRecord, action: str, comment: str, *,
                 record: dict[str, Any] | None = None, corrected_event_id: str = "",
                 assignee: str = "") -> Decision:
        from streams.events import decision_message

        if self.publisher is None:
            raise ReviewError("this review service has no publisher; decisions need a Kafka connection "
                              "(set LINKGUARD_KAFKA_BOOTSTRAP)")
        message = decision_message(action=action, system=held.system, record_id=held.record_id,
                                   version=held.version, event_id=held.event_id, user=user.username,
                                   comment=comment, record=record, corrected_event_id=corrected_event_id,
                                   assignee=assignee)
        self.publisher.publish_decision(message)
        self.audit.record(user.username, f"decide:{action}", held.system, held.record_id,
                          f"decision {message['decision_id']} on version {held.version}: {comment}")
        return Decision(message["decision_id"], action, held.system, held.record_id, held.version,
                        user.username, comment, message["decided_at"], "SUBMITTED", corrected_event_id,
                        assignee)

    def request_release(self, system: str, record_id: str, *, user: User, comment: str) -> Decision:
        """Ask for a release: the record goes to the sink once a different approver approves it."""
        self._require(user, Role.reviewer, doing="requesting a release")
        comment = self._comment(comment)
        with Session(self.engine) as session:
            held = self._decidable(session, system, record_id)
            self._not_stopped(session, system)
            pending = self._pending(session, held)
            if pending is not None:
                raise NotOpen(f"a release of {system}/{record_id} is already requested by "
                              f"{pending.requested_by}; it now needs an approver's decision")
            record = _event_from_json(held.record)
            return self._publish(user, held, "REQUEST_RELEASE", comment, record=record)

    def approve_release(self, system: str, record_id: str, *, user: User, comment: str) -> Decision:
        """Approve another person's release request (four-eyes: never one's own)."""
        self._require(user, Role.approver, doing="approving a release")
        comment = self._comment(comment)
        with Session(self.engine) as session:
            held = self._decidable(session, system, record_id)
            self._not_stopped(session, system)
            pending = self._pending(session, held)
            if pending is None:
                raise NotOpen(f"no release of {system}/{record_id} is requested (or the request has not "
                              f"reached the review store yet); a reviewer must request it first")
            refused = four_eyes.refusal(pending.requested_by, user.username)
            if refused:
                self.audit.record(user.username, "refused:APPROVE_RELEASE", system, record_id,
                                  "four-eyes: the requester tried to approve")
                raise FourEyesViolation(refused)
            return self._publish(user, held, "APPROVE_RELEASE", comment)

    @staticmethod
    def _not_stopped(session: Session, system: str) -> None:
        """No release while the headquarters has the process's linkage stopped (連携停止)."""
        from sinks.hq import ProcessStop

        stop = session.scalars(select(ProcessStop).where(ProcessStop.system == system)
                               .order_by(ProcessStop.requested_at.desc())).first()
        if stop is not None and stop.status in ("stopped", "resume_requested"):
            raise NotOpen(f"the linkage of {system} is stopped by the headquarters (連携停止); "
                          f"nothing of it is released until the stop is resumed")

    def correct(self, system: str, record_id: str, *, user: User, comment: str, my_number: str) -> Decision:
        """Publish the record again with the right number; the guard checks it like any other event."""
        from guards.number import compact, number_problem
        from streams.events import utcnow

        self._require(user, Role.reviewer, doing="correcting a record")
        comment = self._comment(comment)
        number = compact(my_number or "")
        problem = number_problem(number) if number else "empty"
        if problem is not None:
            raise BadNumber("the corrected number is not a valid My Number (12 digits with a right check "
                            "digit); check it against the application")
        with Session(self.engine) as session:
            held = self._decidable(session, system, record_id)
            event = _event_from_json(held.record)
            event.update(event_id=str(uuid.uuid4()), operation="update", occurred_at=utcnow(),
                         my_number=number, entered_by=user.username, number_source="職員入力")
            if self.publisher is None:
                raise ReviewError("this review service has no publisher; decisions need a Kafka connection")
            self.publisher.publish_record(event)
            return self._publish(user, held, "CORRECT", comment, corrected_event_id=event["event_id"])

    def accept_suggestion(self, system: str, record_id: str, *, user: User, comment: str) -> Decision:
        """:meth:`correct` to the number the guard suggested (the reviewer never has to see it)."""
        with Session(self.engine) as session:
            suggested = self._held(session, system, record_id).suggested_my_number
        if not suggested:
            raise NotFound(f"the guard suggested no number for {system}/{record_id}; enter the right one")
        return self.correct(system, record_id, user=user, comment=comment, my_number=suggested)

    def return_to_system(self, system: str, record_id: str, *, user: User, comment: str) -> Decision:
        """Send the record back to its business system (``linkage.returned``)."""
        self._require(user, Role.reviewer, doing="returning a record")
        comment = self._comment(comment)
        with Session(self.engine) as session:
            held = self._decidable(session, system, record_id)
            return self._publish(user, held, "RETURN", comment, record=_event_from_json(held.record))

    def assign(self, system: str, record_id: str, *, user: User, assignee: str | None,
               comment: str = "") -> Decision:
        """Say who works the record (None or "" clears it)."""
        self._require(user, Role.reviewer, Role.approver, doing="assigning a record")
        name = (assignee or "").strip()
        if name:
            target = self.accounts.get(name)
            if target is None or not target.sees_personal_data:
                raise ReviewError(f"cannot assign to {name!r}: no active reviewer or approver of that name")
        with Session(self.engine) as session:
            held = self._held(session, system, record_id)
            if held.status != "open":
                raise NotOpen(f"{system}/{record_id} is {held.status}, no longer open")
            return self._publish(user, held, "ASSIGN", redact(comment.strip()) or f"assigned to {name or 'nobody'}",
                                 assignee=name)


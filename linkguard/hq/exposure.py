"""The exposure investigation (情報漏洩の有無): which wrong copy was visible to whom, since when.

Each :class:`sinks.hq.ExposureCase` was written by the sink at the moment a
wrong copy left the intermediate server (retracted by the guard, withdrawn
by a stop, or its number corrected). This module puts a case beside the
people concerned:

* the **number holder** — the person whose number the copy carried, who
  could see the data on マイナポータル: the registry entry of that number,
  as the guard compared it when it held the record again
  (``held_records.registry_person``), or from a registry extract;
* the **data subject** — the person the record is about: the registry entry
  the guard suggested for the record, else the record's own name and address
  as the business system holds them.

A case lists the payload's field names (which items could have been seen),
never their values. Numbers are masked on every list; nothing here reveals them.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from dataclasses import dataclass
from typing import Any, Mapping, Sequence

from sqlalchemy import Engine, func, select, tuple_
from sqlalchemy.orm import Session

from guards import Reason, Severity
from guards.number import compact
from linkguard.catalogue import Catalogue, Process, load_catalogue
from guards.masking import mask_number
from sinks.hq import ExposureCase, NoticeLetter
from sinks.models import HeldRecord

__all__ = ["Person", "Exposure", "CAUSE_LABELS", "list_exposures", "totals_by_process", "duration_text"]

CAUSE_LABELS = {
    "retracted": "再判定により取り下げ",
    "stopped": "連携停止により取り下げ",
    "corrected": "番号の訂正により置き換え",
}
REVIEW_LABELS = {
    "open": "審査中", "superseded": "新しい判定で解消", "released": "審査で連携を承認",
    "corrected": "訂正済み（紐付け誤り確定）", "returned": "業務システムへ差戻し（紐付け誤り確定）",
}


@dataclass(frozen=True, slots=True)
class Person:
    """Whom a letter goes to: name and address, and where they come from."""

    name: str
    address: str
    birth_date: str = ""
    source: str = "registry"  # registry: 住民基本台帳; record: the business system's record

    @property
    def known(self) -> bool:
        return bool(self.name)


UNKNOWN_PERSON = Person("", "", "", "unknown")


@dataclass(frozen=True, slots=True)
class Exposure:
    """One case as the headquarters sees it (numbers masked)."""

    case_id: int
    process: Process
    record_id: str
    cause: str
    since: dt.datetime
    until: dt.datetime
    masked_number: str  # the number the copy carried, masked
    number_holder: Person
    data_subject: Person
    payload_fields: tuple[str, ...]
    via: str
    provided_onward: bool | None
    review_status: str  # the held record's status: open, corrected, returned …
    letters: int

    @property
    def cause_label(self) -> str:
        return CAUSE_LABELS.get(self.cause, self.cause)

    @property
    def review_label(self) -> str:
        return REVIEW_LABELS.get(self.review_status, "—")

    @property
    def confirmed(self) -> bool:
        """A reviewer confirmed the link was wrong (corrected it, or returned it to its system)."""
        return self.review_status in ("corrected", "returned") or self.cause == "corrected"

    @property
    def onward_label(self) -> str:
        return {None: "記録なし", True: "提供あり", False: "提供なし"}[self.provided_onward]

    @property
    def duration(self) -> str:
        return duration_text(self.since, self.until)


def duration_text(since: dt.datetime, until: dt.datetime) -> str:
    """How long a copy was on the intermediate server, in words.

    >>> t = dt.datetime(2026, 7, 1, 9, tzinfo=dt.timezone.utc)
    >>> duration_text(t, t + dt.timedelta(days=30, hours=2)), duration_text(t, t + dt.timedelta(minutes=5))
    ('30日2時間', '5分')
    """
    seconds = max(int((until - since).total_seconds()), 0)
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes = rest // 60
    parts = [f"{days}日" if days else "", f"{hours}時間" if hours else "", f"{minutes}分" if minutes and not days else ""]
    return "".join(parts) or "1分未満"


def _person(snapshot: Mapping[str, Any] | None) -> Person | None:
    if not snapshot or not snapshot.get("name"):
        return None
    return Person(str(snapshot.get("name") or ""), str(snapshot.get("address") or ""),
                  str(snapshot.get("birth_date") or ""), "registry")


def list_exposures(engine: Engine, catalogue: Catalogue | None = None, *, system: str | None = None,
                   case_ids: Sequence[int] | None = None, registry: Mapping[str, Any] | None = None) -> list[Exposure]:
    """The cases, oldest first, with the people concerned.

    ``registry`` (number → :class:`guards.Resident`, e.g. from a registry
    extract) is asked first for the number holder and the suggested subject.
    """
    catalogue = catalogue if catalogue is not None else load_catalogue()
    with Session(engine) as session:
        query = select(ExposureCase).order_by(ExposureCase.in_sink_from, ExposureCase.id)
        if system:
            query = query.where(ExposureCase.system == system)
        if case_ids is not None:
            query = query.where(ExposureCase.id.in_(list(case_ids)))
        cases = list(session.scalars(query))
        keys = sorted({(c.system, c.record_id) for c in cases})
        held: dict[tuple[str, str], HeldRecord] = {}
        for start in range(0, len(keys), 500):
            for h in session.scalars(select(HeldRecord).where(
                    tuple_(HeldRecord.system, HeldRecord.record_id).in_(keys[start:start + 500]))):
                held[(h.system, h.record_id)] = h
        letters = Counter(dict(session.execute(
            select(NoticeLetter.case_id, func.count()).group_by(NoticeLetter.case_id)).all()))
    result = []
    for case in cases:
        hold = held.get((case.system, case.record_id))
        if case.cause == "stopped" and not _suspected(hold):
            continue  # a right link withdrawn only because its process stopped: nobody saw another's data
        result.append(Exposure(
            case_id=case.id, process=catalogue.get(case.system), record_id=case.record_id, cause=case.cause,
            since=case.in_sink_from, until=case.in_sink_until, masked_number=mask_number(case.my_number),
            number_holder=_number_holder(case, hold, registry), data_subject=_data_subject(case, hold, registry),
            payload_fields=tuple(case.payload_fields or ()), via=case.via, provided_onward=case.provided_onward,
            review_status=hold.status if hold is not None else "", letters=letters[case.id]))
    return result


def _suspected(hold: HeldRecord | None) -> bool:
    """Whether the record held after its copy was withdrawn is a (suspected or confirmed) wrong link.

    A copy withdrawn by a stop is a case only then: held for a reason of its own, or
    confirmed wrong by a reviewer (corrected, returned).
    """
    if hold is None:
        return False
    if hold.status in ("corrected", "returned"):
        return True
    return any(code != "LINKAGE_STOPPED" and code in Reason.__members__
               and Reason[code].severity is Severity.HOLD for code in hold.reason_codes)


def _resident_person(resident: Any) -> Person:
    birth = getattr(resident, "birth_date", "")
    return Person(resident.name, resident.address, birth.isoformat() if hasattr(birth, "isoformat") else str(birth))


def _number_holder(case: ExposureCase, hold: HeldRecord | None, registry: Mapping[str, Any] | None) -> Person:
    number = compact(case.my_number)
    if registry is not None and registry.get(number) is not None:
        return _resident_person(registry[number])
    snapshot = hold.registry_person if hold is not None else None
    if snapshot and compact(str(snapshot.get("my_number") or "")) == number:
        return _person(snapshot) or UNKNOWN_PERSON
    return UNKNOWN_PERSON


def _data_subject(case: ExposureCase, hold: HeldRecord | None, registry: Mapping[str, Any] | None) -> Person:
    if hold is not None and hold.suggested_my_number:
        suggested = compact(hold.suggested_my_number)
        if registry is not None and registry.get(suggested) is not None:
            return _resident_person(registry[suggested])
        person = _person(hold.suggested_person)
        if person is not None:
            return person
    return Person(case.name, case.address, case.birth_date, "record")


def totals_by_process(engine: Engine, catalogue: Catalogue | None = None) -> dict[str, dict[str, int]]:
    """Per process: cases, and of those, cases with letters generated (for the board)."""
    totals: dict[str, dict[str, int]] = {}
    for case in list_exposures(engine, catalogue):
        entry = totals.setdefault(case.process.code, {"cases": 0, "lettered": 0})
        entry["cases"] += 1
        entry["lettered"] += case.letters > 0
    return totals


def record_onward(engine: Engine, case_id: int, provided: bool, user: str, note: str = "") -> None:
    """Record whether a case's copy was provided onward (情報提供), from the deployment's provision records.

    Audited; ``note`` says where it was looked up (never a number: it is redacted).
    """
    from guards.masking import redact
    from sinks.audit import append_entry

    with Session(engine) as session, session.begin():
        case = session.get(ExposureCase, case_id)
        if case is None:
            raise ValueError(f"no exposure case {case_id}")
        case.provided_onward = provided
        system, record_id = case.system, case.record_id
    append_entry(engine, user, "exposure_onward", system, record_id,
                 f"case {case_id}: {'provided onward' if provided else 'not provided'}; {redact(note)}"[:2000])

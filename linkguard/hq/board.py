"""The headquarters board (総点検本部): progress per process × implementing body, counted from the stores.

Rows are the catalogue's processes, grouped by department (担当課) and
マイナポータル category; columns are the implementing bodies (実施主体): those the
catalogue names and those that uploaded a report. Each cell counts, for one
process and body:

* **inspected** (点検対象) and **held** (うち紐付け誤りの疑い): from the registered
  inspection report of the round if there is one (a municipality's upload, the
  prefecture's own ``linkguard inspect`` run), else — for the guard's own body,
  the first the catalogue names — from the guard's stores (copies, held
  records, dead letters);
* **confirmed** wrong linkages (a reviewer corrected or returned the record)
  and **corrected** ones; the **stop** state (連携停止 / 再開); **exposure**
  cases and how many have letters; whether the round's report is **registered**
  — all from the stores, for the guard's own body;
* a **status**: not started / in progress / done / overdue against the round's
  due date (:func:`cell_status`).

Nothing is typed in, and no number appears anywhere on the board.
"""

from __future__ import annotations

import datetime as dt
import enum
from collections import Counter, defaultdict
from dataclasses import dataclass, field


from sqlalchemy import Engine, func, select, union
from sqlalchemy.orm import Session

from linkguard.catalogue import Catalogue, Category, Process, load_catalogue
from linkguard.hq.exposure import totals_by_process
from linkguard.hq.stops import stopped_systems
from linkguard.hq.survey import Classification, SourceCheck, check_sources, classify
from sinks.hq import InspectionReport, InspectionRound, ProcessStop
from sinks.models import DeadLetter, HeldRecord, IntermediateCopy

__all__ = ["Status", "Cell", "Row", "Group", "Board", "build_board", "cell_status", "latest_round"]


class Status(str, enum.Enum):
    NOT_STARTED = "未着手"
    IN_PROGRESS = "実施中"
    DONE = "完了"
    OVERDUE = "期限超過"

    @property
    def css(self) -> str:
        return self.name.lower().replace("_", "-")


def cell_status(*, started: bool, done: bool, due_on: dt.date | None, today: dt.date) -> Status:
    """A cell's status: done wins; otherwise overdue once the due date has passed.

    >>> d = dt.date(2023, 11, 30)
    >>> cell_status(started=False, done=False, due_on=d, today=dt.date(2023, 10, 1)).name
    'NOT_STARTED'
    >>> cell_status(started=True, done=False, due_on=d, today=dt.date(2023, 12, 1)).name
    'OVERDUE'
    >>> cell_status(started=True, done=True, due_on=d, today=dt.date(2023, 12, 1)).name
    'DONE'
    >>> cell_status(started=True, done=False, due_on=None, today=dt.date(2023, 12, 1)).name
    'IN_PROGRESS'
    """
    if done:
        return Status.DONE
    if due_on is not None and today > due_on:
        return Status.OVERDUE
    return Status.IN_PROGRESS if started else Status.NOT_STARTED


@dataclass
class Cell:
    """One process at one implementing body."""

    system: str
    body: str
    from_stores: bool  # the guard's own body: counts from its stores
    inspected: int = 0
    held: int = 0
    open_holds: int = 0
    confirmed: int = 0  # wrong linkages confirmed by reviewers (corrected or returned)
    corrected: int = 0
    stop: str = ""  # '' | requested | stopped | resume_requested | resumed
    exposures: int = 0
    lettered: int = 0
    reported: bool = False
    reported_at: dt.datetime | None = None
    status: Status = Status.NOT_STARTED

    @property
    def stop_label(self) -> str:
        return {"": "", "requested": "停止申請中", "stopped": "連携停止中", "resume_requested": "再開申請中",
                "resumed": "再開済み", "refused": ""}[self.stop]


@dataclass
class Row:
    process: Process
    classification: Classification
    sources: SourceCheck
    cells: dict[str, Cell]


@dataclass
class Group:
    department: str
    category: Category | None
    rows: list[Row]


@dataclass
class Board:
    round: InspectionRound | None
    bodies: list[str]
    groups: list[Group]
    today: dt.date
    totals: Counter = field(default_factory=Counter)  # status name → cells
    stopped: set[str] = field(default_factory=set)

    @property
    def rows(self) -> list[Row]:
        return [row for group in self.groups for row in group.rows]


def _latest_round(session: Session) -> InspectionRound | None:
    """The round due last (the newest of those due the same day)."""
    return session.scalars(select(InspectionRound).order_by(InspectionRound.due_on.desc(),
                                                            InspectionRound.id.desc())).first()


def latest_round(engine: Engine) -> InspectionRound | None:
    with Session(engine) as session:
        found = _latest_round(session)
        if found is not None:
            session.expunge(found)
        return found


def _store_counts(session: Session) -> dict[str, Counter]:
    counts: dict[str, Counter] = defaultdict(Counter)
    records = union(select(IntermediateCopy.system, IntermediateCopy.record_id),
                    select(HeldRecord.system, HeldRecord.record_id),
                    select(DeadLetter.system, DeadLetter.record_id).where(DeadLetter.record_id != "")).subquery()
    for system, n in session.execute(select(records.c.system, func.count()).group_by(records.c.system)):
        counts[system]["inspected"] = n
    for system, status, n in session.execute(select(HeldRecord.system, HeldRecord.status, func.count())
                                             .group_by(HeldRecord.system, HeldRecord.status)):
        counts[system]["held"] += n
        counts[system][f"held_{status}"] += n
    return counts


def _number_sources(session: Session) -> dict[str, Counter]:
    """Per process, how the records say their numbers were obtained (copies and held records)."""
    sources: dict[str, Counter] = defaultdict(Counter)
    for system, source, n in session.execute(
            select(IntermediateCopy.system, IntermediateCopy.number_source, func.count())
            .group_by(IntermediateCopy.system, IntermediateCopy.number_source)):
        sources[system][source or ""] += n
    held_only = select(HeldRecord.system, HeldRecord.record).where(
        ~select(IntermediateCopy.record_id).where(IntermediateCopy.system == HeldRecord.system,
                                                  IntermediateCopy.record_id == HeldRecord.record_id).exists())
    for system, record in session.execute(held_only):
        sources[system][str((record or {}).get("number_source") or "")] += 1
    return sources


def build_board(engine: Engine, catalogue: Catalogue | None = None, *, round_id: int | None = None,
                today: dt.date | None = None) -> Board:
    """Count everything the board shows from the stores."""
    catalogue = catalogue if catalogue is not None else load_catalogue()
    today = today or dt.date.today()
    with Session(engine) as session:
        rnd = session.get(InspectionRound, round_id) if round_id is not None else None
        if rnd is None and round_id is None:
            rnd = _latest_round(session)
        if rnd is not None:
            session.expunge(rnd)
        reports = list(session.scalars(select(InspectionReport).where(InspectionReport.round_id == rnd.id))) \
            if rnd is not None else []
        store = _store_counts(session)
        sources = _number_sources(session)
        stops = list(session.scalars(select(ProcessStop).order_by(ProcessStop.requested_at)))
    exposures = totals_by_process(engine, catalogue)
    latest_stop = {s.system: s.status for s in stops}
    by_cell = {(r.system, r.body): r for r in reports}
    bodies: list[str] = []
    for body in [b for p in catalogue for b in p.bodies] + sorted({r.body for r in reports}):
        if body not in bodies:
            bodies.append(body)
    if not bodies:
        bodies = ["（実施主体未登録）"]
    due = rnd.due_on if rnd is not None else None
    totals: Counter = Counter()
    groups: dict[tuple[str, int], Group] = {}
    for process in catalogue:
        home = process.bodies[0] if process.bodies else bodies[0]
        cells: dict[str, Cell] = {}
        for body in bodies:
            report = by_cell.get((process.code, body))
            own = body == home
            if report is None and not own and body not in process.bodies:
                continue  # this body does not implement the process
            cell = Cell(process.code, body, own)
            counted = store.get(process.code, Counter()) if own else Counter()
            if report is not None:
                cell.inspected, cell.held = report.checked, report.held
                cell.reported, cell.reported_at = True, report.uploaded_at
            else:
                cell.inspected, cell.held = counted["inspected"], counted["held"]
            if own:
                cell.open_holds = counted["held_open"]
                cell.corrected = counted["held_corrected"]
                cell.confirmed = counted["held_corrected"] + counted["held_returned"]
                cell.stop = latest_stop.get(process.code, "")
                cell.exposures = exposures.get(process.code, {}).get("cases", 0)
                cell.lettered = exposures.get(process.code, {}).get("lettered", 0)
            started = bool(cell.inspected or cell.held or cell.reported or cell.stop)
            done = cell.reported and cell.open_holds == 0 and cell.stop not in ("requested", "stopped",
                                                                                 "resume_requested") \
                and cell.lettered >= cell.exposures
            cell.status = cell_status(started=started, done=done, due_on=due, today=today)
            totals[cell.status.name] += 1
            cells[body] = cell
        row = Row(process, classify(process.method, reliably=process.reliably),
                  check_sources(process.method, sources.get(process.code, {})), cells)
        key = (process.department, process.category.number if process.category else 0)
        group = groups.get(key)
        if group is None:
            group = groups[key] = Group(process.department, process.category, [])
        group.rows.append(row)
    ordered = sorted(groups.values(), key=lambda g: (min(r.process.number or 0 for r in g.rows)))
    return Board(rnd, bodies, ordered, today, totals, stopped_systems(stops))


def create_round(engine: Engine, name: str, starts_on: dt.date, due_on: dt.date, user: str) -> InspectionRound:
    """A new inspection round (audited)."""
    from guards.masking import redact
    from sinks.audit import append_entry

    if due_on < starts_on:
        raise ValueError(f"the due date {due_on} is before the start {starts_on}")
    with Session(engine, expire_on_commit=False) as session, session.begin():
        rnd = InspectionRound(name=redact(name).strip(), starts_on=starts_on, due_on=due_on, created_by=user,
                              created_at=dt.datetime.now(dt.timezone.utc))
        session.add(rnd)
    append_entry(engine, user, "round_create", "", "", f"round {rnd.id} {rnd.name}: due {due_on.isoformat()}")
    return rnd


def rounds(engine: Engine) -> list[InspectionRound]:
    with Session(engine, expire_on_commit=False) as session:
        return list(session.scalars(select(InspectionRound).order_by(InspectionRound.due_on.desc())))



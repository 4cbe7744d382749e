"""Stopping a process's linkage (連携停止) and resuming it: four-eyes, audited, then published.

One person requests, another approves; only the approval publishes the new
state to ``linkage.control``, where the guard picks it up
(:mod:`streams.stops`): every record of the process is held with
``LINKAGE_STOPPED``, its copies on the intermediate server are withdrawn as
``stopped``; a resume judges the held records again. Each step writes the
audit log. The database row changes only if the publish succeeded (it runs
inside the transaction), so the board never shows a stop the guard was not told of.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Callable, Sequence

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from guards.exceptions import LinkguardError
from guards import four_eyes
from guards.masking import redact
from linkguard.catalogue import Catalogue, load_catalogue, normalize_code
from sinks.audit import append_entry
from sinks.hq import ProcessStop
from streams.stops import control_message

__all__ = ["StopError", "StopService", "HQ_ROLES"]

#: who may request or approve a stop: the headquarters and admins
HQ_ROLES = frozenset({"headquarters", "admin"})


class StopError(LinkguardError, ValueError):
    """A stop or resume that cannot be done; the message says why (never a number)."""


Publish = Callable[[dict], None]


def _now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


def _roles(user: object) -> set[str]:
    return {getattr(r, "value", str(r)) for r in getattr(user, "roles", ())}


class StopService:
    """Requests, approvals and refusals of stops and resumes."""

    def __init__(self, engine: Engine, publish: Publish, catalogue: Catalogue | None = None) -> None:
        self.engine = engine
        self.publish = publish
        self.catalogue = catalogue if catalogue is not None else load_catalogue()

    def _require(self, user: object) -> str:
        name = getattr(user, "username", None)
        if not name or not (_roles(user) & HQ_ROLES) or not getattr(user, "active", True):
            raise StopError("only an active headquarters or admin user may stop or resume a process")
        return name

    def list(self, system: str | None = None) -> list[ProcessStop]:
        with Session(self.engine) as session:
            query = select(ProcessStop).order_by(ProcessStop.requested_at.desc())
            if system:
                query = query.where(ProcessStop.system == normalize_code(system))
            return list(session.scalars(query))

    def current(self) -> dict[str, ProcessStop]:
        """The latest stop of each process that has one."""
        latest: dict[str, ProcessStop] = {}
        for stop in reversed(self.list()):
            latest[stop.system] = stop
        return latest

    def request_stop(self, system: str, user: object, reason: str) -> ProcessStop:
        name = self._require(user)
        code = normalize_code(system)
        if code not in self.catalogue:
            raise StopError(f"process {redact(code)!r} is not in the process catalogue")  # as typed
        reason = redact(reason)  # free text: a number typed into it never reaches the table, topic or log
        if not reason.strip():
            raise StopError("a stop needs a reason (why the linkage must stop)")
        with Session(self.engine, expire_on_commit=False) as session, session.begin():
            active = session.scalars(select(ProcessStop).where(
                ProcessStop.system == code,
                ProcessStop.status.in_(("requested", "stopped", "resume_requested")))).first()
            if active is not None:
                raise StopError(f"process {code} already has a stop in state {active.status} ({active.stop_id})")
            stop = ProcessStop(stop_id=uuid.uuid4().hex, system=code, status="requested", reason=reason.strip(),
                               requested_by=name, requested_at=_now())
            session.add(stop)
        append_entry(self.engine, name, "stop_request", code, "", f"stop {stop.stop_id}: {reason.strip()}")
        return self._get(stop.stop_id)

    def approve_stop(self, stop_id: str, user: object) -> ProcessStop:
        name = self._require(user)
        with Session(self.engine, expire_on_commit=False) as session, session.begin():
            stop = self._locked(session, stop_id, "requested")
            refused = four_eyes.refusal(stop.requested_by, name, what="stop")
            if refused:
                raise StopError(refused)
            stop.status, stop.approved_by, stop.stopped_at = "stopped", name, _now()
            self.publish(control_message(stop.system, stopped=True, stop_id=stop.stop_id, changed_at=stop.stopped_at,
                                         requested_by=stop.requested_by, approved_by=name, reason=stop.reason))
        append_entry(self.engine, name, "stop_approve", stop.system, "", f"stop {stop_id} approved: linkage stopped")
        return self._get(stop_id)

    def request_resume(self, stop_id: str, user: object, reason: str) -> ProcessStop:
        name = self._require(user)
        reason = redact(reason)
        if not reason.strip():
            raise StopError("a resume needs a reason (what was inspected and corrected)")
        with Session(self.engine, expire_on_commit=False) as session, session.begin():
            stop = self._locked(session, stop_id, "stopped")
            stop.status, stop.resume_requested_by, stop.resume_requested_at = "resume_requested", name, _now()
            stop.resume_reason = reason.strip()
        append_entry(self.engine, name, "resume_request", stop.system, "", f"stop {stop_id}: {reason.strip()}")
        return self._get(stop_id)

    def approve_resume(self, stop_id: str, user: object) -> ProcessStop:
        name = self._require(user)
        with Session(self.engine, expire_on_commit=False) as session, session.begin():
            stop = self._locked(session, stop_id, "resume_requested")
            refused = four_eyes.refusal(stop.resume_requested_by, name, what="resume")
            if refused:
                raise StopError(refused)
            stop.status, stop.resume_approved_by, stop.resumed_at = "resumed", name, _now()
            self.publish(control_message(stop.system, stopped=False, stop_id=stop.stop_id,
                                         changed_at=stop.resumed_at, requested_by=stop.resume_requested_by or "",
                                         approved_by=name, reason=stop.resume_reason))
        append_entry(self.engine, name, "resume_approve", stop.system, "", f"stop {stop_id}: linkage resumed")
        return self._get(stop_id)

    def refuse(self, stop_id: str, user: object) -> ProcessStop:
        """Refuse an open request: a stop request ends, a resume request leaves the process stopped."""
        name = self._require(user)
        with Session(self.engine, expire_on_commit=False) as session, session.begin():
            stop = self._locked(session, stop_id, "requested", "resume_requested")
            if stop.status == "requested":
                stop.status = "refused"
            else:
                stop.status, stop.resume_requested_by, stop.resume_requested_at = "stopped", None, None
        append_entry(self.engine, name, "stop_refuse", stop.system, "", f"stop {stop_id}: request refused")
        return self._get(stop_id)

    def _locked(self, session: Session, stop_id: str, *states: str) -> ProcessStop:
        stop = session.scalars(select(ProcessStop).where(ProcessStop.stop_id == stop_id)
                               .with_for_update()).first()
        if stop is None:
            raise StopError(f"no stop {redact(stop_id)!r}")  # as typed
        if stop.status not in states:
            raise StopError(f"stop {stop_id} is {stop.status}, not {' or '.join(states)}")
        return stop

    def _get(self, stop_id: str) -> ProcessStop:
        with Session(self.engine) as session:
            stop = session.get(ProcessStop, stop_id)
            assert stop is not None
            session.expunge(stop)
            return stop


def kafka_publisher(settings: object) -> Publish:
    """Publish states to the guard's ``linkage.control`` topic (waits for the broker's acknowledgement)."""
    from streams.stops import publish_process_state

    return lambda message: publish_process_state(settings, message)


def stopped_systems(stops: Sequence[ProcessStop]) -> set[str]:
    """The processes whose linkage is stopped now (a resume requested is still stopped)."""
    latest: dict[str, ProcessStop] = {}
    for stop in sorted(stops, key=lambda s: s.requested_at):
        latest[stop.system] = stop
    return {s for s, stop in latest.items() if stop.status in ("stopped", "resume_requested")}

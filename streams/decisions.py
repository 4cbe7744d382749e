"""Reviewers' decisions in the guard: four-eyes enforced again where the copy is made.

The review service checks the four-eyes rule before it publishes, but the
service is not where a copy comes from: the guard is. So the guard rules on
every decision it consumes from ``linkage.decisions`` with :func:`rule`, a
pure function over the decision and the open release request of its record
(kept in the Faust table ``release_requests``, keyed like the decisions by
``system`` + ``record_id``, so each worker holds its partitions' requests):

* ``REQUEST_RELEASE`` opens a request (the held event travels with it);
* ``APPROVE_RELEASE`` is accepted only when a request is open, for the same
  version, by a *different* user; then the held event goes, as a PASS
  ``via='review'`` naming both people, to the number stage, which alone knows
  whether the record's process is stopped (連携停止): it publishes the PASS to
  ``linkage.verified`` and the ruling, or, while the process is stopped,
  rejects the approval (:func:`guards.four_eyes.refusal`) and sends nothing on
  — whether or not the decision came through the review service;
* ``RETURN`` is accepted and the decision goes to ``linkage.returned`` for
  the business system; ``CORRECT`` and ``ASSIGN`` are accepted as they are
  (a correction is a new RecordChanged event the guard checks like any other).

Every ruling (ACCEPTED or REJECTED, with the reason) goes to
``linkage.decided``, where the sink records it. A rejected approval reaches
nothing else. :class:`DecisionStage` is the agent's work without Faust, so the
in-memory driver (:mod:`streams.testing`) runs it too.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from collections.abc import MutableMapping
from typing import TYPE_CHECKING, Any, Literal

import faust

import schemas
from guards import four_eyes
from streams import topics
from streams.events import event_to_record, released_verdict
from streams.stages.base import REVISIONS, Message, Outputs, StageConfig, dead_letter
from streams.stages.messages import Released

if TYPE_CHECKING:
    from streams.app import GuardApp

log = logging.getLogger(__name__)

__all__ = ["Ruling", "rule", "DecisionStage", "DecisionAgent"]

Keep = Literal["keep", "open", "close"]


@dataclass(frozen=True, slots=True)
class Ruling:
    """What the guard does with one decision.

    ``request`` says what happens to the record's open release request:
    ``open`` (this decision becomes it), ``close`` (it is removed) or ``keep``.
    """

    decision: dict[str, Any]  # the decision as ruled: status ACCEPTED or REJECTED
    request: Keep = "keep"
    release: dict[str, Any] | None = None  # the PASS verdict (via review) of an accepted approval
    returned: bool = False

    @property
    def accepted(self) -> bool:
        return self.decision["status"] == "ACCEPTED"


def _ruled(decision: dict[str, Any], status: str, rejection: str = "", **changes: Any) -> dict[str, Any]:
    return {**decision, "status": status, "rejection": rejection, **changes}


def rule(decision: dict[str, Any], request: dict[str, Any] | None) -> Ruling:
    """Rule on one submitted decision, given the record's open release request (or None).

    >>> req = {'decision_id': 'd1', 'action': 'REQUEST_RELEASE', 'user': 'sato', 'version': 7,
    ...        'record': {'event_id': 'e'}}
    >>> rule({**req, 'decision_id': 'd2', 'action': 'APPROVE_RELEASE'}, req).decision['rejection']
    'four-eyes: sato requested this release and cannot approve it too; another approver must'
    >>> rule({**req, 'decision_id': 'd2', 'action': 'APPROVE_RELEASE', 'user': 'ito'}, req).release['via']
    'review'
    """
    action = decision["action"]
    version = int(decision["version"])
    if action == "REQUEST_RELEASE":
        if decision.get("record") is None:
            return Ruling(_ruled(decision, "REJECTED", "a release request must carry the held event"))
        if request is not None and int(request["version"]) >= version:
            return Ruling(_ruled(decision, "REJECTED",
                                 f"a release of version {request['version']} is already requested "
                                 f"by {request['user']}"))
        return Ruling(_ruled(decision, "ACCEPTED"), request="open")
    if action == "APPROVE_RELEASE":
        if request is None:
            return Ruling(_ruled(decision, "REJECTED", "no release request is open for this record"))
        requested = int(request["version"])
        requested_by = str(request["user"])
        if requested != version:
            return Ruling(_ruled(decision, "REJECTED",
                                 f"the open request is for version {requested}, not {version}",
                                 requested_by=requested_by))
        refused = four_eyes.refusal(requested_by, decision["user"])
        if refused:
            return Ruling(_ruled(decision, "REJECTED", refused, requested_by=requested_by))
        return Ruling(_ruled(decision, "ACCEPTED", requested_by=requested_by), request="close",
                      release=released_verdict(request, decision))
    closes = "close" if request is not None and int(request["version"]) <= version else "keep"
    if action == "RETURN":
        return Ruling(_ruled(decision, "ACCEPTED"), request=closes, returned=True)
    if action == "CORRECT":
        return Ruling(_ruled(decision, "ACCEPTED"), request=closes)
    if action == "ASSIGN":
        return Ruling(_ruled(decision, "ACCEPTED"))
    return Ruling(_ruled(decision, "REJECTED", f"unknown action {action}"))


def release_note(release: dict[str, Any], key: bytes, verdict: bytes = b"", ruling: bytes = b"") -> Released:
    """The item that takes a release to the number stage (``number`` empty: linked to no number).

    >>> event = {'system': 's', 'record_id': '1', 'operation': 'update', 'my_number': '1234 5678 9018'}
    >>> note = release_note({'version': 5 * REVISIONS + 32, 'record': event}, b'k')
    >>> note.offset, note.number, note.system
    (5, '123456789018', 's')
    >>> release_note({'version': REVISIONS, 'record': {**event, 'my_number': '12345'}}, b'k').number
    ''
    """
    from guards.context import link_key

    number = link_key(event_to_record(release["record"]))  # the number stage files it under this
    return Released(number or "", key, int(release["version"]) // REVISIONS, str(release["record"]["system"]),
                    verdict, ruling)


class DecisionStage:
    """Rules on each decision; an approved release goes on to the number stage (see the module docstring)."""

    def __init__(self, config: StageConfig, codec: schemas.Codec) -> None:
        self.config = config
        self.codec = codec

    def handle(self, batch: list[Message], requests: MutableMapping[bytes, bytes]) -> Outputs:
        """Rule on a batch of ``linkage.decisions`` messages; ``requests`` is the open release requests table."""
        names, codec, out = self.config.names, self.codec, Outputs()
        for message in batch:
            try:
                decision = codec.decode("decision", message.value)
            except schemas.DecodeError as e:
                dead_letter(codec, out, self.config, topic=message.topic, partition=message.partition,
                            offset=message.offset, key=message.key, value=message.value, reason="UNDECODABLE",
                            error=str(e), stage="review", dlq_key=message.key)
                continue
            if decision["status"] != "SUBMITTED":  # rulings are not re-ruled
                continue
            key = topics.record_key(decision["system"], decision["record_id"])
            raw = requests.get(key)
            request = codec.decode("decision", raw) if raw is not None else None
            ruling = rule(decision, request)
            if ruling.request == "open":
                requests[key] = message.value
            elif ruling.request == "close" and raw is not None:
                del requests[key]
            ruled = codec.encode("decision", ruling.decision)
            if ruling.release is not None:
                # the number stage sends the PASS and the ruling on, or rejects a release of a stopped process
                note = release_note(ruling.release, key, codec.encode("verdict", ruling.release), ruled)
                out.forward(names.by_number, self.config.partition_of(note.number or key), note)
                continue
            if ruling.returned:
                out.add(names.returned, key, ruled)
            out.add(names.decided, key, ruled)
            if not ruling.accepted:
                log.warning("decision %s (%s) on %s/%s rejected: %s", decision["decision_id"],
                            decision["action"], decision["system"], decision["record_id"],
                            ruling.decision["rejection"])
        return out


class DecisionAgent:
    """The ``decisions`` agent and the ``release_requests`` table of a :class:`GuardApp`."""

    def __init__(self, guard: "GuardApp") -> None:
        self.guard = guard
        app = guard.app
        names = guard.topics
        self.topic = app.topic(names.decisions, key_type=bytes, value_type=bytes,
                               partitions=guard.partitions)
        self.requests = app.Table("release_requests", key_type=bytes, value_type=bytes,
                                  partitions=guard.partitions)
        self.stage = DecisionStage(guard.config, guard.codec)
        app.agent(self.topic, name="decisions")(self._decide)

    async def _decide(self, stream: faust.StreamT) -> None:
        async for event in stream.events():
            m = event.message
            await self.guard.send(self.stage.handle([Message(m.topic, m.partition, m.offset, m.key, m.value)],
                                                    self.requests))

"""The sink's review store: decisions and the guard's rulings, idempotent and versioned, never a copy by themselves."""

from __future__ import annotations

from typing import Any

import pytest

from sinks import SinkMessage
from streams.decisions import rule
from streams.events import decision_message, released_verdict

from .conftest import HELD, NUMBER, SYSTEM, VERIFIED

DECISIONS, DECIDED = "linkage.decisions", "linkage.decided"


class Decisions:
    def __init__(self, make) -> None:
        self.make = make
        self.codec = make.codec

    def submitted(self, action: str, user: str, version: int, *, record: dict | None = None,
                  **kw: Any) -> dict[str, Any]:
        message = decision_message(action=action, system=SYSTEM, record_id="R-1", version=version,
                                   event_id="e", user=user, comment="理由", record=record, **kw)
        return self.codec.decode("decision", self.codec.encode("decision", message))

    def message(self, kind: str, payload: dict[str, Any], offset: int | None = None) -> SinkMessage:
        topic = DECISIONS if kind == "decision" else DECIDED
        raw = self.codec.encode("decision", payload)
        return SinkMessage(topic, 0, self.make._offset(topic, 0, offset), kind,  # type: ignore[arg-type]
                           self.codec.decode("decision", raw), raw)

    def release(self, verdict: dict[str, Any], offset: int | None = None) -> SinkMessage:
        return self.make.message("verified", VERIFIED, self.codec.decode("verdict", self.codec.encode(
            "verdict", verdict)), offset=offset)


@pytest.fixture
def d(make) -> Decisions:
    return Decisions(make)


def _held_record(make, version: int) -> tuple[SinkMessage, dict[str, Any]]:
    message = make.held("R-1", version)
    return message, dict(message.payload["record"])


def test_a_release_is_pending_then_released_and_redelivery_changes_nothing(writer, make, d, snapshot):
    hold, event = _held_record(make, 5)
    request = d.submitted("REQUEST_RELEASE", "sato", 5, record=event)
    opened = rule(request, None)
    approval = d.submitted("APPROVE_RELEASE", "ito", 5)
    approved = rule(approval, request)
    batch = [hold, d.message("decision", request), d.message("ruling", opened.decision),
             d.message("decision", approval), d.release(approved.release), d.message("ruling", approved.decision)]
    result = writer.apply("sink", batch)
    assert (result.decisions, result.closed, result.copies) == (4, 1, 1)
    assert writer.held(SYSTEM, "R-1").status == "released"
    copy = writer.copy(SYSTEM, "R-1")
    assert copy.via == "review" and copy.my_number == NUMBER and copy.version == 5
    state = snapshot()
    assert state["pending_releases"] == []
    assert sorted((r[3], r[4]) for r in state["review_decisions"]) == [("APPROVE_RELEASE", "ACCEPTED"),
                                                                       ("REQUEST_RELEASE", "ACCEPTED")]
    assert writer.apply("sink", batch).skipped == len(batch)  # the same positions again
    # the guard ruled twice (redelivered to it): the same rulings at new offsets
    again = [d.message("ruling", opened.decision), d.message("ruling", approved.decision),
             d.release(approved.release)]
    writer.apply("sink", again)
    assert snapshot()["review_decisions"] == state["review_decisions"]
    assert snapshot()["held_records"] == state["held_records"]
    assert snapshot()["intermediate_copies"] == state["intermediate_copies"]


def test_a_ruling_is_final_and_a_late_submission_does_not_undo_it(writer, make, d, snapshot):
    writer.apply("sink", [make.held("R-1", 5)])
    approval = d.submitted("APPROVE_RELEASE", "sato", 5)
    rejected = rule(approval, None).decision
    writer.apply("sink", [d.message("ruling", rejected)])
    writer.apply("sink", [d.message("decision", approval),
                          d.message("ruling", {**rejected, "status": "ACCEPTED", "rejection": ""})])
    [row] = snapshot()["review_decisions"]
    assert row[4] == "REJECTED" and "no release request" in row[13]
    assert writer.held(SYSTEM, "R-1").status == "open"


def test_a_ruling_on_an_older_version_does_not_close_a_newer_hold(writer, make, d):
    old, event = _held_record(make, 5)
    writer.apply("sink", [old, make.held("R-1", 9)])
    request = d.submitted("REQUEST_RELEASE", "sato", 5, record=event)
    writer.apply("sink", [d.message("ruling", rule(request, None).decision)])
    returned = rule(d.submitted("RETURN", "sato", 5, record=event), None).decision
    writer.apply("sink", [d.message("ruling", returned)])
    held = writer.held(SYSTEM, "R-1")
    assert held.status == "open" and held.version == 9


def test_only_a_guard_pass_or_an_approved_release_writes_a_copy(writer, make, d, snapshot):
    """The sink invariant: nothing else — no decision, no ruling, no forged release — makes a copy."""
    hold, event = _held_record(make, 5)
    request = d.submitted("REQUEST_RELEASE", "kato", 5, record=event)
    self_approval = d.submitted("APPROVE_RELEASE", "kato", 5)
    forged_self = released_verdict(request, self_approval)  # what the guard refuses to make
    unnamed = {**released_verdict(request, d.submitted("APPROVE_RELEASE", "ito", 5)), "decision_id": ""}
    everything_but = [hold] + [d.message("decision", d.submitted(a, "sato", 5, record=event))
                               for a in ("REQUEST_RELEASE", "APPROVE_RELEASE", "CORRECT", "RETURN", "ASSIGN")]
    everything_but += [d.message("ruling", rule(request, None).decision),
                       d.message("ruling", rule(self_approval, request).decision),
                       d.release(forged_self), d.release(unnamed),
                       make.message("held", HELD, make.verdict("R-2", 1, outcome="PASS")),  # PASS on the held topic
                       make.message("verified", VERIFIED, make.verdict("R-3", 1, outcome="HOLD"))]
    result = writer.apply("sink", everything_but)
    assert result.copies == 0 and snapshot()["intermediate_copies"] == []
    assert result.rejected == 4  # two forged releases, two verdicts on the wrong topic
    reasons = sorted(letter.reason for letter in writer.dead_letters())
    assert reasons == ["OUTCOME_MISMATCH", "OUTCOME_MISMATCH", "UNAPPROVED_RELEASE", "UNAPPROVED_RELEASE"]
    # and the two ways that do write one
    approval = d.submitted("APPROVE_RELEASE", "ito", 5)
    writer.apply("sink", [d.release(rule(approval, request).release), make.passed("R-4", 1)])
    copies = {(row[1], row[12]) for row in snapshot()["intermediate_copies"]}
    assert copies == {("R-1", "review"), ("R-4", "guard")}


def test_a_correction_closes_the_hold_as_corrected_whichever_arrives_first(writer, make, d):
    for record_id, pass_first in (("R-1", False), ("R-2", True)):
        hold = make.held(record_id, 5)
        writer.apply("sink", [hold])
        corrected = make.verdict(record_id, 9)  # the corrected event's PASS (a newer version)
        submitted = decision_message(action="CORRECT", system=SYSTEM, record_id=record_id, version=5,
                                     event_id=hold.payload["event_id"], user="sato", comment="訂正",
                                     corrected_event_id=corrected["event_id"])
        ruling = d.message("ruling", rule(d.codec.decode("decision", d.codec.encode("decision", submitted)),
                                          None).decision)
        copy = make.message("verified", VERIFIED, corrected)
        writer.apply("sink", [copy, ruling] if pass_first else [ruling, copy])
        assert writer.held(SYSTEM, record_id).status == "corrected", record_id
    # a newer PASS that is not the correction still supersedes
    writer.apply("sink", [make.held("R-3", 5), make.passed("R-3", 9)])
    assert writer.held(SYSTEM, "R-3").status == "superseded"

"""The review service on a real sink database (SQLite and PostgreSQL): queue, case, reveal, every decision.

Decisions go through the guard's rule and the real sink writer (see :class:`conftest.Loop`).
"""

from __future__ import annotations

import datetime as dt

import pytest
import sqlalchemy as sa

from linkguard.review.service import (
    BadNumber, CommentRequired, Forbidden, FourEyesViolation, NotFound, NotOpen, ReviewError,
)
from sinks.models import AuditEntry, HeldRecord, IntermediateCopy, PendingRelease, ReviewDecision
from fixtures.support import my_number

from fixtures.review_loop import NUMBER, SUGGESTED, SYSTEM, Loop


def _held(writer, record_id: str) -> HeldRecord:
    held = writer.held(SYSTEM, record_id)
    assert held is not None
    return held


def _decisions(engine, record_id: str) -> list[tuple[str, str, str]]:
    with engine.connect() as conn:
        return [tuple(r) for r in conn.execute(
            sa.select(ReviewDecision.action, ReviewDecision.status, ReviewDecision.user)
            .where(ReviewDecision.record_id == record_id).order_by(ReviewDecision.decided_at))]


# -- the queue -----------------------------------------------------------------------
def test_queue_filters_orders_and_pages_without_gaps_or_repeats(service, loop, writer):
    for i in range(7):
        loop.hold(f"R-{i}", system=("shintai-techo", "jido-fuyo")[i % 2],
                  reasons=[{"code": ("DECEASED", "IDENTITY_MISMATCH")[i % 2 == 0], "detail": ""}])
    seen, cursor = [], None
    while True:
        page = service.queue(limit=3, after=cursor)
        assert page.total == 7
        seen += [i.record_id for i in page.items]
        cursor = page.next_cursor
        if cursor is None:
            break
    assert seen == [f"R-{i}" for i in range(7)]  # oldest first, every record once
    newest = service.queue(order="newest", limit=2)
    assert [i.record_id for i in newest.items] == ["R-6", "R-5"]
    assert [i.record_id for i in service.queue(order="newest", limit=10, after=newest.next_cursor).items] == \
        ["R-4", "R-3", "R-2", "R-1", "R-0"]
    assert {i.record_id for i in service.queue(system="jido-fuyo").items} == {"R-1", "R-3", "R-5"}
    deceased = service.queue(reason="DECEASED")
    assert deceased.total == 3 and all(i.reason_codes == ["DECEASED"] for i in deceased.items)
    assert service.queue(reason="DECEASE").total == 0  # one code exactly, never a prefix
    assert service.reason_counts() == {"IDENTITY_MISMATCH": 4, "DECEASED": 3}
    assert service.reason_counts(system="jido-fuyo") == {"DECEASED": 3}
    assert service.systems() == ["jido-fuyo", "shintai-techo"]
    # held_at comes from the verdicts (2026-04-01), long ago now
    assert service.queue(older_than=dt.timedelta(days=1)).total == 7
    assert service.queue(older_than=dt.timedelta(days=365 * 100)).total == 0


def test_queue_items_carry_the_name_and_only_a_masked_number(service, loop):
    loop.hold("R-1", name="山田 花子")
    [item] = service.queue().items
    assert item.name == "山田 花子" and item.masked_number == "**** **** " + NUMBER[-4:]
    assert NUMBER not in repr(item)
    assert item.reason_codes == ["IDENTITY_MISMATCH"] and item.status == "open" and item.pending_release is None


def test_a_bad_cursor_says_to_start_again(service):
    with pytest.raises(ReviewError, match="first page"):
        service.queue(after="not-a-cursor")


# -- the case ------------------------------------------------------------------------
def test_the_case_shows_record_registry_and_suggested_person_field_by_field_masked(service, loop, users):
    loop.hold("R-1")
    case = service.case(SYSTEM, "R-1", viewer=users["sato"])
    assert case.masked_number == "**** **** " + NUMBER[-4:]
    assert case.masked_suggested == "**** **** " + SUGGESTED[-4:]
    assert case.registry_person["name"] == "鈴木 次郎" and case.suggested_person["name"] == "山田 花子"
    assert NUMBER not in repr(case) and SUGGESTED not in repr(case)
    rows = {f.name: f for f in case.fields}
    assert rows["name"].differs and not rows["name"].suggested_differs
    assert rows["birth_date"].record_normalised == "1980-04-01" and rows["birth_date"].differs
    assert rows["birth_date"].registry_normalised == "1990-05-05"
    assert rows["sex"].record_normalised == "2 (女)" and not rows["sex"].differs
    assert rows["address"].record_normalised == rows["address"].registry_normalised == "高知市本町1-1-1" and not rows["address"].differs
    assert case.reasons[0].code == "IDENTITY_MISMATCH" and case.reasons[0].label_ja and case.reasons[0].label_en
    assert [h.kind for h in case.history] == ["hold"]


def test_variant_characters_do_not_count_as_a_difference():
    from linkguard.review.service import compare_fields

    [name] = [f for f in compare_fields({"name": "齋藤 花子"}, {"name": "斎藤 花子"}, {"name": "斉藤 花子"})
              if f.name == "name"]
    assert not name.differs
    # the compared forms keep the variant as written, so the screen can mark it; the explanation names it
    assert (name.record_normalised, name.registry_normalised) == ("齋藤 花子", "斎藤 花子")
    assert (name.match, name.match_detail) == ("", "")  # no explanation without a birth date to build a person
    assert name.suggested_differs  # 斉藤 is another family name with the same reading


def test_the_explanation_names_the_variant_and_marks_it():
    from linkguard.review.service import compare_fields

    registry = {"name": "斎藤 花子", "birth_date": "1980-04-01", "sex": 2, "address": "高知市本町一丁目1番1号"}
    rows = {f.name: f for f in compare_fields(
        {"name": "齋藤 花子", "birth_date": "昭和55年4月1日", "sex": "女", "address": "高知市本町1-1-1"}, registry, None)}
    assert (rows["name"].match, rows["name"].match_detail) == ("variant", "齋→斎")
    assert rows["name"].record_marks == (("齋", True), ("藤 花子", False))
    assert [rows[f].match for f in ("birth_date", "sex", "address")] == ["normalised"] * 3
    assert rows["address"].record_marks == ()  # equal once normalised: nothing to mark


def test_batch_swap_names_the_other_record_of_the_same_system(service, loop, users):
    loop.passed(loop.event("R-2", name="鈴木 次郎"))
    loop.hold("R-1", reasons=[{"code": "BATCH_SWAP", "detail": "R-2,R-3"}])
    loop.hold("R-3", name="田中 三郎")
    loop.hold("R-2", system="jido-fuyo")  # another system's R-2 is not the peer
    peers = service.case(SYSTEM, "R-1", viewer=users["sato"]).batch_peers
    assert [(p.record_id, p.name, p.state) for p in peers] == [("R-2", "鈴木 次郎", "copy"),
                                                               ("R-3", "田中 三郎", "held:open")]
    assert all(p.masked_number.startswith("**** ****") for p in peers)


def test_an_operator_or_admin_cannot_see_personal_data(service, loop, users):
    loop.hold("R-1")
    for name in ("ops", "root"):
        with pytest.raises(Forbidden, match="role reviewer or approver"):
            service.case(SYSTEM, "R-1", viewer=users[name])
        with pytest.raises(Forbidden):
            service.reveal(SYSTEM, "R-1", viewer=users[name])


def test_views_and_reveals_are_audited(service, loop, users):
    loop.hold("R-1")
    service.case(SYSTEM, "R-1", viewer=users["sato"])
    assert service.reveal(SYSTEM, "R-1", "record", viewer=users["sato"]) == NUMBER
    assert service.reveal(SYSTEM, "R-1", "suggested", viewer=users["ito"]) == SUGGESTED
    entries = service.audit.entries(newest_first=False)
    assert [(e.actor, e.action, e.record_id, e.detail) for e in entries] == [
        ("sato", "view", "R-1", "version 101"), ("sato", "reveal", "R-1", "record number"),
        ("ito", "reveal", "R-1", "suggested number")]
    assert all(NUMBER not in e.detail and SUGGESTED not in e.detail for e in entries)


def test_missing_records_are_not_found(service, users):
    with pytest.raises(NotFound, match="linkguard review list"):
        service.case(SYSTEM, "nope", viewer=users["sato"])


# -- release, four eyes ------------------------------------------------------------------
def test_a_release_needs_a_second_person_and_then_reaches_the_sink_via_review(service, loop, writer, engine,
                                                                             users):
    loop.hold("R-1")
    assert writer.copy(SYSTEM, "R-1") is None
    requested = service.request_release(SYSTEM, "R-1", user=users["sato"], comment="本人確認済み")
    assert requested.action == "REQUEST_RELEASE" and requested.status == "SUBMITTED"
    [item] = service.queue().items
    assert item.pending_release == "sato"
    assert writer.copy(SYSTEM, "R-1") is None  # one person is not enough
    service.approve_release(SYSTEM, "R-1", user=users["ito"], comment="確認しました")
    copy = writer.copy(SYSTEM, "R-1")
    assert copy is not None and copy.via == "review" and copy.my_number == NUMBER and copy.version == 101
    assert _held(writer, "R-1").status == "released"
    assert service.queue().total == 0
    with engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(PendingRelease)).scalar_one() == 0
    assert _decisions(engine, "R-1") == [("REQUEST_RELEASE", "ACCEPTED", "sato"),
                                         ("APPROVE_RELEASE", "ACCEPTED", "ito")]
    history = service.case(SYSTEM, "R-1", viewer=users["kato"]).history
    assert [h.kind for h in history] == ["hold", "decision", "decision", "copy"]


def test_the_same_user_cannot_request_and_approve_in_the_service(service, loop, writer, users):
    loop.hold("R-1")
    service.request_release(SYSTEM, "R-1", user=users["kato"], comment="問題なし")
    with pytest.raises(FourEyesViolation, match="kato requested this release"):
        service.approve_release(SYSTEM, "R-1", user=users["kato"], comment="自分で承認")
    assert writer.copy(SYSTEM, "R-1") is None and _held(writer, "R-1").status == "open"
    assert [e.action for e in service.audit.entries(newest_first=False)] == [
        "decide:REQUEST_RELEASE", "refused:APPROVE_RELEASE"]


def test_the_guard_rejects_a_same_user_approval_that_bypassed_the_service(service, loop, writer, engine, users):
    from streams.events import decision_message

    loop.hold("R-1")
    service.request_release(SYSTEM, "R-1", user=users["kato"], comment="問題なし")
    held = _held(writer, "R-1")
    forged = decision_message(action="APPROVE_RELEASE", system=SYSTEM, record_id="R-1", version=held.version,
                              event_id=held.event_id, user="kato", comment="bypass")
    loop.publish_decision(forged)
    assert loop.rulings[-1]["status"] == "REJECTED" and "four-eyes" in loop.rulings[-1]["rejection"]
    assert writer.copy(SYSTEM, "R-1") is None and _held(writer, "R-1").status == "open"
    assert ("APPROVE_RELEASE", "REJECTED", "kato") in _decisions(engine, "R-1")
    # an approval without a request, or for an older version, is rejected too
    loop.hold("R-2")
    held2 = _held(writer, "R-2")
    loop.publish_decision(decision_message(action="APPROVE_RELEASE", system=SYSTEM, record_id="R-2",
                                           version=held2.version, event_id=held2.event_id, user="ito",
                                           comment="no request"))
    assert loop.rulings[-1]["status"] == "REJECTED" and "no release request" in loop.rulings[-1]["rejection"]
    loop.publish_decision(decision_message(action="APPROVE_RELEASE", system=SYSTEM, record_id="R-1",
                                           version=held.version - 1, event_id=held.event_id, user="ito",
                                           comment="old version"))
    assert "not " + str(held.version - 1) in loop.rulings[-1]["rejection"]
    assert writer.copy(SYSTEM, "R-2") is None and writer.copy(SYSTEM, "R-1") is None


def test_approve_without_a_request_and_a_second_request_are_refused(service, loop, users):
    loop.hold("R-1")
    with pytest.raises(NotOpen, match="request it first"):
        service.approve_release(SYSTEM, "R-1", user=users["ito"], comment="早すぎ")
    service.request_release(SYSTEM, "R-1", user=users["sato"], comment="一回目")
    with pytest.raises(NotOpen, match="already requested by sato"):
        service.request_release(SYSTEM, "R-1", user=users["kato"], comment="二回目")


def test_a_newer_hold_voids_the_pending_request(service, loop, writer, users):
    loop.hold("R-1")
    service.request_release(SYSTEM, "R-1", user=users["sato"], comment="問題なし")
    loop.hold("R-1")  # the business system changed the record meanwhile
    assert service.queue().items[0].pending_release is None
    with pytest.raises(NotOpen):
        service.approve_release(SYSTEM, "R-1", user=users["ito"], comment="古い依頼")


# -- roles and comments ----------------------------------------------------------------
@pytest.mark.parametrize("action,who", [
    ("request_release", "ito"), ("request_release", "ops"), ("request_release", "root"),
    ("approve_release", "sato"), ("approve_release", "ops"),
    ("return_to_system", "ito"), ("return_to_system", "ops"), ("correct", "ops"), ("correct", "ito"),
])
def test_each_decision_needs_its_role(service, loop, users, action, who):
    loop.hold("R-1")
    kw = {"my_number": SUGGESTED} if action == "correct" else {}
    with pytest.raises(Forbidden, match=f"{who} has"):
        getattr(service, action)(SYSTEM, "R-1", user=users[who], comment="理由", **kw)
    assert loop.rulings == []


@pytest.mark.parametrize("action", ["request_release", "return_to_system", "correct"])
def test_every_decision_needs_a_comment(service, loop, users, action):
    loop.hold("R-1")
    kw = {"my_number": SUGGESTED} if action == "correct" else {}
    with pytest.raises(CommentRequired):
        getattr(service, action)(SYSTEM, "R-1", user=users["sato"], comment="  ", **kw)
    assert loop.rulings == [] and loop.records == []


def test_a_deactivated_user_can_do_nothing(service, loop, accounts, users):
    loop.hold("R-1")
    user = accounts.set_active("sato", False)
    with pytest.raises(Forbidden, match="deactivated"):
        service.request_release(SYSTEM, "R-1", user=user, comment="x")


def test_a_comment_never_carries_a_number_onwards(service, loop, engine, users):
    loop.hold("R-1")
    service.request_release(SYSTEM, "R-1", user=users["sato"], comment=f"番号 {NUMBER} は本人のもの")
    with engine.connect() as conn:
        comments = list(conn.execute(sa.select(ReviewDecision.comment)).scalars())
        details = list(conn.execute(sa.select(AuditEntry.detail)).scalars())
    assert comments and all(NUMBER not in c and "<12 digits>" in c for c in comments)
    assert all(NUMBER not in d for d in details)



def _typed(number: str) -> list[str]:
    """The ways a person types a number into a comment (issue 12 item 4)."""
    groups4 = (number[:4], number[4:8], number[8:])
    groups3 = (number[:3], number[3:6], number[6:9], number[9:])
    full_width = number.translate(str.maketrans("0123456789", "０１２３４５６７８９"))
    return ["  ".join(groups4), " - ".join(groups4), ".".join(groups4), "/".join(groups4), "_".join(groups4),
            ",".join(groups4), " ".join(groups3), "-".join(groups3), "－".join((full_width[:4], full_width[4:8], full_width[8:])),
            "\u3000".join(groups4), " / ".join(groups4), f"{full_width[:4]} {number[4:8]}-{number[8:]}"]


@pytest.mark.parametrize("form", range(12))
def test_a_number_typed_with_any_separators_is_redacted_before_it_is_stored(service, loop, engine, users, form):
    typed = _typed(NUMBER)[form]
    loop.hold("R-1")
    service.request_release(SYSTEM, "R-1", user=users["sato"], comment=f"番号 {typed} は本人のもの")
    with engine.connect() as conn:
        comments = list(conn.execute(sa.select(ReviewDecision.comment)).scalars())
        details = list(conn.execute(sa.select(AuditEntry.detail)).scalars())
    assert comments == ["番号 <12 digits> は本人のもの"]
    assert any("番号" in d for d in details)
    assert all("番号 <12 digits> は本人のもの" in d for d in details if "番号" in d), details

# -- correct ---------------------------------------------------------------------------
def test_correct_publishes_a_new_event_and_its_pass_closes_the_hold_as_corrected(service, loop, writer, users):
    held = loop.hold("R-1")
    decision = service.accept_suggestion(SYSTEM, "R-1", user=users["sato"], comment="申請書の番号を確認")
    [event] = loop.records
    assert event["my_number"] == SUGGESTED and event["record_id"] == "R-1" and event["system"] == SYSTEM
    assert event["event_id"] != held["event_id"] and event["event_id"] == decision.corrected_event_id
    assert event["name"] == held["record"]["name"] and event["entered_by"] == "sato"
    assert writer.copy(SYSTEM, "R-1") is None  # nothing bypasses the guard
    item = service.queue().items[0]
    assert item.correction_pending and item.status == "open"
    with pytest.raises(NotOpen, match="being checked"):
        service.request_release(SYSTEM, "R-1", user=users["sato"], comment="待てない")
    loop.passed(event)  # the guard's verdict on the corrected event
    assert _held(writer, "R-1").status == "corrected"
    copy = writer.copy(SYSTEM, "R-1")
    assert copy.my_number == SUGGESTED and copy.via == "guard"


def test_a_corrected_event_that_is_held_again_reopens_the_item_with_its_new_reasons(service, loop, writer,
                                                                                    users):
    loop.hold("R-1")
    service.correct(SYSTEM, "R-1", user=users["sato"], comment="入力し直し", my_number=my_number(55555555555))
    [event] = loop.records
    verdict = loop.verdict(event, "HOLD", loop.next_version(), reasons=[{"code": "NOT_IN_REGISTRY", "detail": ""}])
    loop.apply("held", "linkage.held", "verdict", verdict)
    held = _held(writer, "R-1")
    assert held.status == "open" and held.reason_codes == ["NOT_IN_REGISTRY"] and not held.correction_event_id
    assert writer.copy(SYSTEM, "R-1") is None


def test_a_pass_that_arrives_before_the_correction_ruling_still_counts_as_corrected(service, loop, writer,
                                                                                   users):
    loop.hold("R-1")
    service.correct(SYSTEM, "R-1", user=users["sato"], comment="先に通過", my_number=SUGGESTED)
    # replay the same flow in the other order on a second record: PASS first, ruling second
    loop.hold("R-2")
    held = _held(writer, "R-2")
    from streams.events import decision_message

    event = {**loop.event("R-2", number=SUGGESTED)}
    loop.passed(event)
    assert _held(writer, "R-2").status == "superseded"
    loop.rule(loop.codec.decode("decision", loop.codec.encode("decision", decision_message(
        action="CORRECT", system=SYSTEM, record_id="R-2", version=held.version, event_id=held.event_id,
        user="sato", comment="順序違い", corrected_event_id=event["event_id"]))))
    assert _held(writer, "R-2").status == "corrected"


@pytest.mark.parametrize("bad", ["", "123", "62149832025A", NUMBER[:-1] + str((int(NUMBER[-1]) + 1) % 10)])
def test_correct_refuses_a_number_that_is_not_one_without_showing_it(service, loop, users, bad):
    loop.hold("R-1")
    with pytest.raises(BadNumber) as caught:
        service.correct(SYSTEM, "R-1", user=users["sato"], comment="x", my_number=bad)
    assert (not bad) or bad not in str(caught.value)
    assert loop.records == []


# -- return and assign ---------------------------------------------------------------------
def test_return_sends_the_record_back_and_closes_the_hold(service, loop, writer, users):
    loop.hold("R-1")
    service.return_to_system(SYSTEM, "R-1", user=users["sato"], comment="申請者に再確認")
    [returned] = loop.returned
    assert returned["action"] == "RETURN" and returned["status"] == "ACCEPTED"
    assert returned["record"]["record_id"] == "R-1" and returned["comment"] == "申請者に再確認"
    assert _held(writer, "R-1").status == "returned" and writer.copy(SYSTEM, "R-1") is None
    with pytest.raises(NotOpen, match="returned"):
        service.request_release(SYSTEM, "R-1", user=users["sato"], comment="もう一度")


def test_assign_sets_the_assignee_which_stays_across_a_newer_hold(service, loop, users):
    loop.hold("R-1")
    loop.hold("R-2")
    service.assign(SYSTEM, "R-1", user=users["sato"], assignee="kato")
    assert [i.record_id for i in service.queue(assignee="kato").items] == ["R-1"]
    loop.hold("R-1")
    assert service.queue(assignee="kato").items[0].assignee == "kato"
    with pytest.raises(ReviewError, match="cannot assign"):
        service.assign(SYSTEM, "R-2", user=users["sato"], assignee="ops")


def test_no_decision_writes_the_store_itself(engine, writer, users, accounts):
    """Without a sink applying the rulings, nothing changes: the screen shows the stream's state."""
    from linkguard.review.service import ReviewService

    published = []

    class Recorder:
        def publish_decision(self, decision):
            published.append(decision)

        def publish_record(self, event):
            published.append(event)

    Loop(writer).hold("R-1")
    before = (_held(writer, "R-1").status, writer.copy(SYSTEM, "R-1"))
    ReviewService(engine, Recorder(), accounts=accounts).request_release(SYSTEM, "R-1", user=users["sato"],
                                                                         comment="x")
    assert len(published) == 1 and published[0]["status"] == "SUBMITTED"
    assert (_held(writer, "R-1").status, writer.copy(SYSTEM, "R-1")) == before
    with engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(ReviewDecision)).scalar_one() == 0
        assert conn.execute(sa.select(sa.func.count()).select_from(IntermediateCopy)).scalar_one() == 0


def test_a_submitted_decision_shows_as_in_flight_until_the_guard_rules(service, loop, writer, users):
    loop.hold("R-1")
    held = _held(writer, "R-1")
    from streams.events import decision_message

    submitted = decision_message(action="RETURN", system=SYSTEM, record_id="R-1", version=held.version,
                                 event_id=held.event_id, user="sato", comment="再確認")
    loop.apply("decision", "linkage.decisions", "decision", submitted)  # the sink saw it; the guard not yet
    case = service.case(SYSTEM, "R-1", viewer=users["kato"])
    assert case.in_flight == ("RETURN",) and case.status == "open"
    loop.rule(loop.codec.decode("decision", loop.codec.encode("decision", submitted)))
    case = service.case(SYSTEM, "R-1", viewer=users["kato"])
    assert case.in_flight == () and case.status == "returned"

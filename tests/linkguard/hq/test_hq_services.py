"""The headquarters' services on a real sink database (SQLite and PostgreSQL), without a broker.

The records reach the stores through the real SinkWriter (``review_loop.Loop``);
decisions go through the guard's own rule. The stream side of a stop is tested
on the real broker in tests/integration/test_process_stop.py and test_hq_exposure.py.
"""

from __future__ import annotations

import datetime as dt
from types import SimpleNamespace

import pytest
import sqlalchemy as sa
from sqlalchemy.orm import Session

from guards import Finding, Outcome, Reason, Record, Verdict
from linkguard.catalogue import load_catalogue
from linkguard.hq.board import Status, build_board, create_round
from linkguard.hq.exports import cause_table, process_table, render_export, to_csv
from linkguard.hq.exposure import list_exposures
from linkguard.hq.letters import generate_batch
from linkguard.hq.stops import StopError, StopService
from linkguard.hq.uploads import UploadError, parse_report, register_report
from linkguard.ops.report import build_report, write_report_csv
from linkguard.review.accounts import AccountStore
from linkguard.review.service import ReviewService
from sinks.hq import NoticeLetter
from sinks.models import AuditEntry
from fixtures.review_loop import NUMBER

SYSTEM = "shintai-techo"


def hq_user(name: str, *roles: str) -> SimpleNamespace:
    return SimpleNamespace(username=name, roles=frozenset(roles or ("headquarters",)), active=True)


def audit_actions(engine) -> list[str]:
    with Session(engine) as session:
        return list(session.scalars(sa.select(AuditEntry.action).order_by(AuditEntry.id)))


# ------------------------------------------------------------------ the board, from the stores

def test_the_board_counts_from_the_stores_and_marks_overdue(engine, loop):
    for i, source in enumerate(("申請書", "住基連携", "住基連携")):
        event = loop.event(f"P{i}")
        event["number_source"] = source
        loop.passed(event)
    loop.hold("H1")
    loop.hold("H2")
    accounts = AccountStore(engine)
    sato = accounts.create_user("sato", "password-sato", ["reviewer"])
    ReviewService(engine, loop, accounts=accounts).return_to_system(SYSTEM, "H2", user=sato, comment="誤り")

    board = build_board(engine, today=dt.date(2023, 10, 1))
    cell = next(r for r in board.rows if r.process.code == SYSTEM).cells["高知県"]
    assert (cell.inspected, cell.held, cell.open_holds, cell.confirmed) == (5, 2, 1, 1)
    assert cell.status is Status.IN_PROGRESS  # no round yet: no due date
    row = next(r for r in board.rows if r.process.code == SYSTEM)
    # the survey says ④ (from the application form); the records say 住基連携 for two
    assert row.classification.full_inspection and row.sources.flagged and row.sources.contradicting == 2
    untouched = next(r for r in board.rows if r.process.code == "shoman").cells["高知県"]
    assert untouched.status is Status.NOT_STARTED and untouched.inspected == 0

    create_round(engine, "令和5年度 総点検", dt.date(2023, 6, 1), dt.date(2023, 11, 30), "hq1")
    late = build_board(engine, today=dt.date(2023, 12, 1))
    assert next(r for r in late.rows if r.process.code == SYSTEM).cells["高知県"].status is Status.OVERDUE
    assert late.totals["OVERDUE"] >= 1 and "round_create" in audit_actions(engine)

    table = process_table(late)
    assert table.rows[-1][0] == "計" and table.rows[-1][3] == sum(r[3] for r in table.rows[:-1]) == 5
    assert table.rows[-1][4] == 1
    causes = cause_table(engine)
    assert dict((r[0], r[1]) for r in causes.rows)["申請書の誤り"] == 1
    data = to_csv(table, causes)
    assert data.startswith("\ufeff".encode()) and "項番,事務,担当課,点検対象,うち紐付け誤り".encode() in data
    html = render_export(late, table, causes, title="点検結果")
    assert "@page" in html and "A4" in html and NUMBER not in html and NUMBER not in data.decode("utf-8-sig")


# ------------------------------------------------------------------ municipal uploads

def municipal_report(tmp_path, rows) -> bytes:
    report = build_report(rows, load_catalogue(), generated_at=dt.datetime(2023, 9, 1, tzinfo=dt.timezone.utc))
    path = tmp_path / "report.csv"
    write_report_csv(report, path)
    return path.read_bytes()


def sample_rows() -> list[tuple[Record, Verdict]]:
    def record(rid: str, source: str = "申請書") -> Record:
        return Record("shogaiji-fukushi", rid, "", "山田 花子", "1980-04-01", "2", number_source=source)

    return [(record("1"), Verdict(Outcome.PASS)), (record("2", "職員入力"),
                                                   Verdict.of([Finding(Reason.IDENTITY_MISMATCH)]))]


def test_a_municipal_report_is_registered_and_shows_as_its_column(engine, writer, tmp_path):
    data = municipal_report(tmp_path, sample_rows())
    parsed = parse_report(data, "kochi-shi/report.csv")
    assert [(p.system, p.checked, p.held) for p in parsed.processes] == [("shogaiji-fukushi", 2, 1)]
    rnd = create_round(engine, "R5", dt.date(2023, 6, 1), dt.date(2023, 11, 30), "hq1")
    register_report(engine, rnd.id, "高知市", parsed, file="report.csv", user="hq1")
    board = build_board(engine, today=dt.date(2023, 10, 1))
    cell = next(r for r in board.rows if r.process.code == "shogaiji-fukushi").cells["高知市"]
    assert (cell.inspected, cell.held, cell.reported, cell.status) == (2, 1, True, Status.DONE)
    assert "report_upload" in audit_actions(engine)


@pytest.mark.parametrize("change,field", [
    (lambda t: t.replace("shogaiji-fukushi", "no-such-process"), "事務コード"),
    (lambda t: t.replace("\n計,,,,2,1", "\n計,,,,3,1"), "点検対象"),
    (lambda t: t.replace(",2,1,", ",2,x,", 1), "うち紐付け誤りの疑い"),
    (lambda t: t.replace("項番", "番号", 1), "項番"),
])
def test_a_bad_upload_is_refused_with_file_line_and_field(tmp_path, change, field):
    text = municipal_report(tmp_path, sample_rows()).decode("utf-8-sig")
    with pytest.raises(UploadError) as caught:
        parse_report(change(text).encode("utf-8-sig"), "kochi-shi/report.csv")
    assert caught.value.field == field and caught.value.line >= 1
    assert str(caught.value).startswith(f"kochi-shi/report.csv line {caught.value.line}, field {field}: ")


def test_an_undecodable_upload_names_its_line(tmp_path):
    with pytest.raises(UploadError, match=r"x.csv line 2, field \(encoding\)"):
        parse_report("項番\n".encode() + b"\xff\xfe\n", "x.csv")


# ------------------------------------------------------------------ stops: four-eyes, audited

def test_a_stop_needs_two_people_and_is_published_only_when_approved(engine, writer):
    published: list[dict] = []
    service = StopService(engine, published.append)
    stop = service.request_stop(SYSTEM, hq_user("hq1"), "紐付け誤りが見つかったため")
    assert stop.status == "requested" and published == []
    with pytest.raises(StopError, match="four-eyes"):
        service.approve_stop(stop.stop_id, hq_user("hq1"))
    with pytest.raises(StopError, match="only an active headquarters"):
        service.approve_stop(stop.stop_id, hq_user("rev", "reviewer"))
    with pytest.raises(StopError, match="already has a stop"):
        service.request_stop(SYSTEM, hq_user("hq2"), "二重")
    stopped = service.approve_stop(stop.stop_id, hq_user("hq2"))
    assert stopped.status == "stopped" and stopped.approved_by == "hq2"
    assert [(m["system"], m["stopped"], m["approved_by"]) for m in published] == [(SYSTEM, True, "hq2")]
    service.request_resume(stop.stop_id, hq_user("hq2"), "訂正が完了したため")
    with pytest.raises(StopError, match="four-eyes"):
        service.approve_resume(stop.stop_id, hq_user("hq2"))
    assert service.approve_resume(stop.stop_id, hq_user("hq1")).status == "resumed"
    assert [m["stopped"] for m in published] == [True, False]
    assert audit_actions(engine)[-4:] == ["stop_request", "stop_approve", "resume_request", "resume_approve"]


def test_a_failed_publish_leaves_the_process_running(engine, writer):
    def broker_down(message: dict) -> None:
        raise ConnectionError("broker unreachable")

    service = StopService(engine, broker_down)
    stop = service.request_stop(SYSTEM, hq_user("hq1"), "調査のため")
    with pytest.raises(ConnectionError):
        service.approve_stop(stop.stop_id, hq_user("hq2"))
    assert service.list(SYSTEM)[0].status == "requested"


# ------------------------------------------------------------------ exposure and letters

def test_a_retracted_copy_is_a_case_and_its_letters_mask_the_number(engine, loop):
    event = loop.event("W1", name="高橋 一郎")
    passed = loop.passed(event, 7 * 1024)
    # held again later (same event, a newer judgement): the copy is withdrawn and the case recorded
    person = loop.person(NUMBER, "鈴木 次郎", dt.date(1990, 5, 5))
    loop.apply("held", "linkage.held", "verdict", loop.verdict(
        event, "HOLD", 7 * 1024 + 32, reasons=[{"code": "IDENTITY_MISMATCH", "detail": "name"}],
        registry_person=person))
    [case] = list_exposures(engine)
    assert case.cause == "retracted" and case.since == passed["checked_at"] and case.until > case.since
    assert case.masked_number == "**** **** " + NUMBER[-4:]
    assert case.number_holder.name == "鈴木 次郎" and case.data_subject.name == "高橋 一郎"
    assert case.payload_fields == ("手帳番号",)

    batch, html, unaddressed = generate_batch(engine, [case], "hq1", issued_on=dt.date(2026, 12, 7))
    assert unaddressed == []
    assert html.count('class="letter"') == 2 and "鈴木 次郎　様" in html and "高橋 一郎　様" in html
    assert "**** **** " + NUMBER[-4:] in html and NUMBER not in html
    assert "令和8年12月7日" in html and "手帳番号" in html and "第123号" not in html  # item names, never values
    with Session(engine) as session:
        assert session.scalar(sa.select(sa.func.count()).select_from(NoticeLetter)) == 2
    assert audit_actions(engine)[-1] == "notice_letters"
    assert list_exposures(engine)[0].letters == 2


def test_a_copy_withdrawn_by_a_stop_is_a_case_only_when_the_link_itself_is_suspect(engine, loop):
    stop = [{"code": "LINKAGE_STOPPED", "detail": ""}]
    right, wrong = loop.event("RIGHT"), loop.event("WRONG", name="高橋 一郎")
    loop.passed(right, 3 * 1024)
    loop.passed(wrong, 4 * 1024)
    loop.apply("held", "linkage.held", "verdict", loop.verdict(right, "HOLD", 3 * 1024 + 32, reasons=stop))
    loop.apply("held", "linkage.held", "verdict", loop.verdict(
        wrong, "HOLD", 4 * 1024 + 32, reasons=[{"code": "IDENTITY_MISMATCH", "detail": "name"}, *stop]))
    assert [(c.record_id, c.cause) for c in list_exposures(engine)] == [("WRONG", "stopped")]
    board = build_board(engine)
    assert next(r for r in board.rows if r.process.code == SYSTEM).cells["高知県"].exposures == 1


def test_no_release_while_the_process_is_stopped(engine, loop):
    from linkguard.review.service import NotOpen

    loop.hold("H-1")
    accounts = AccountStore(engine)
    sato = accounts.create_user("sato", "password-sato", ["reviewer"])
    review = ReviewService(engine, loop, accounts=accounts)
    stops = StopService(engine, lambda message: None)
    stop = stops.request_stop(SYSTEM, hq_user("hq1"), "調査")
    review.request_release(SYSTEM, "H-1", user=sato, comment="確認済み")  # a stop only requested: still allowed
    stops.approve_stop(stop.stop_id, hq_user("hq2"))
    ito = accounts.create_user("ito", "password-ito1", ["approver"])
    with pytest.raises(NotOpen, match="連携停止"):
        review.approve_release(SYSTEM, "H-1", user=ito, comment="承認")


def test_free_text_never_keeps_a_number(engine, writer):
    published: list[dict] = []
    stop = StopService(engine, published.append).request_stop(SYSTEM, hq_user("hq1"), f"{NUMBER} の誤りのため")
    assert NUMBER not in stop.reason and stop.reason.endswith("の誤りのため")
    with pytest.raises(UploadError) as caught:
        parse_report(f"項番,事務コード,事務,担当課,点検対象,うち紐付け誤りの疑い,うち不備（送信せず）\n1,{NUMBER},x,y,1,0,0\n"
                     .encode(), "m.csv")
    assert NUMBER not in str(caught.value) and caught.value.field == "事務コード"

"""The headquarters' pages: who reaches them, what they show, and that no number is revealed there."""

from __future__ import annotations

import datetime as dt

import pytest

from guards import Finding, Reason, Record, Verdict
from linkguard.catalogue import load_catalogue
from linkguard.hq.stops import StopService
from linkguard.ops.report import build_report, write_report_csv
from linkguard.web.app import create_app
from linkguard.web.settings import WebSettings
from fixtures.review_loop import NUMBER, SUGGESTED
from fixtures.web_support import SECRET, Browser
from streams.settings import KafkaSettings

PAGES = ["/hq", "/hq/exposure", "/hq/upload", "/hq/export", "/hq/export.csv", "/hq/print/letters.css"]


@pytest.fixture
def published() -> list[dict]:
    return []


@pytest.fixture
def hq_app(engine, writer, loop, accounts, published):
    accounts.create_user("honbu", "password-honbu-1", ["headquarters"], "本部 一郎")
    accounts.create_user("honbu2", "password-honbu-2", ["headquarters"], "本部 二郎")
    settings = WebSettings(web_secret=SECRET, web_https_only=False)
    return create_app(engine=engine, settings=settings, kafka=KafkaSettings(kafka_bootstrap=None), publisher=loop,
                      accounts=accounts, sample_in_background=False, hq_publish=published.append)


def signed_in(app, user: str, password: str | None = None) -> Browser:
    b = Browser(app)
    b.client.__enter__()
    b.login(user, password)
    return b


@pytest.mark.parametrize("user", ["sato", "ito", "ops", "root"])
def test_reviewers_operators_and_admins_cannot_reach_the_headquarters_pages(hq_app, user):
    b = signed_in(hq_app, user)
    for path in PAGES:
        assert b.get(path).status_code == 403, (user, path)
    stops = b.get("/hq/stops").status_code
    assert stops == (200 if user == "root" else 403)  # an admin may stop a process (four-eyes)


def test_signed_out_visitors_are_sent_to_log_in(hq_app):
    b = Browser(hq_app)
    with b.client:
        for path in PAGES:
            assert b.get(path).status_code in (303, 307), path


def test_a_headquarters_user_sees_the_board_and_cannot_reveal_a_number(hq_app, loop):
    loop.hold("R-1")
    b = signed_in(hq_app, "honbu", "password-honbu-1")
    assert b.get("/").headers["location"] == "/hq"
    board = b.get("/hq")
    assert board.status_code == 200 and "身体障害者手帳" in board.text and "総点検本部" in board.text
    assert NUMBER not in board.text and SUGGESTED not in board.text
    english = b.get("/hq?lang=en").text
    assert "Headquarters: inspection progress" in english and "Not started" in english
    assert b.get("/queue").status_code == 403  # no queue, so no record pages and no reveal
    token = b.csrf("/hq")
    assert b.client.post("/records/anything/reveal", data={"csrf_token": token, "which": "record"}).status_code == 403
    export = b.get("/hq/export.csv")
    assert export.content.startswith(b"\xef\xbb\xbf") and "計".encode() in export.content
    page = b.get("/hq/export")
    assert '<link rel="stylesheet" href="/hq/print/export.css">' in page.text and "<style" not in page.text


def test_an_upload_is_validated_and_a_bad_one_refused_with_file_line_and_field(hq_app, tmp_path):
    b = signed_in(hq_app, "honbu", "password-honbu-1")
    assert b.post("/hq/rounds", {"name": "R5", "starts_on": "2023-06-01", "due_on": "2023-11-30"},
                  token_from="/hq").status_code == 303
    report = build_report([(Record("keika-fukushi", "1", "", "山田 花子", "1980-04-01", "2"),
                            Verdict.of([Finding(Reason.DECEASED)]))], load_catalogue())
    write_report_csv(report, tmp_path / "report.csv")
    good = (tmp_path / "report.csv").read_bytes()
    token = b.csrf("/hq/upload")
    bad = b.client.post("/hq/upload", data={"csrf_token": token, "body": "高知市"},
                        files={"report": ("kochi.csv", good.replace(b"keika-fukushi", b"zz"), "text/csv")})
    assert bad.status_code == 400 and "kochi.csv line 2, field 事務コード" in bad.text
    ok = b.client.post("/hq/upload", data={"csrf_token": token, "body": "高知市"},
                       files={"report": ("kochi.csv", good, "text/csv")})
    assert ok.status_code == 200 and "高知市 の点検結果（1事務）を登録しました" in ok.text
    assert "高知市" in b.get("/hq").text


def test_a_stop_needs_a_second_person_through_the_pages(hq_app, published):
    first = signed_in(hq_app, "honbu", "password-honbu-1")
    assert first.post("/hq/stops", {"action": "request", "system": "shintai-techo", "reason": "誤り"}).status_code == 303
    stop_id = StopService(hq_app.state.hq.engine, published.append).list()[0].stop_id
    refused = first.post("/hq/stops", {"action": "approve", "stop_id": stop_id})
    assert refused.status_code == 400 and "four-eyes" in refused.text and published == []
    second = signed_in(hq_app, "honbu2", "password-honbu-2")
    assert second.post("/hq/stops", {"action": "approve", "stop_id": stop_id}).status_code == 303
    assert [(m["system"], m["stopped"]) for m in published] == [("shintai-techo", True)]
    assert "連携停止中" in second.get("/hq").text


def test_the_exposure_page_and_letters_show_the_number_masked(hq_app, loop):
    event = loop.event("W-1", name="高橋 一郎")
    loop.passed(event, 9 * 1024)
    loop.apply("held", "linkage.held", "verdict", loop.verdict(
        event, "HOLD", 9 * 1024 + 32, reasons=[{"code": "IDENTITY_MISMATCH", "detail": "name"}],
        registry_person=loop.person(NUMBER, "鈴木 次郎", dt.date(1990, 5, 5))))
    b = signed_in(hq_app, "honbu", "password-honbu-1")
    page = b.get("/hq/exposure")
    assert page.status_code == 200 and "**** **** " + NUMBER[-4:] in page.text and NUMBER not in page.text
    assert "鈴木 次郎" in page.text and "高橋 一郎" in page.text and "手帳番号" in page.text
    letters = b.post("/hq/letters", {"case": "1", "recipient": "number_holder"}, token_from="/hq/exposure")
    assert letters.status_code == 200 and "鈴木 次郎　様" in letters.text and "高橋 一郎　様" not in letters.text
    assert "**** **** " + NUMBER[-4:] in letters.text and NUMBER not in letters.text
    assert "1" in b.get("/hq/exposure").text

"""``linkguard hq …`` and ``linkguard exposure`` on a real database (SQLite and PostgreSQL)."""

from __future__ import annotations

import datetime as dt
import json

from typer.testing import CliRunner

from guards import Finding, Outcome, Reason, Record, Verdict
from linkguard.catalogue import load_catalogue
from linkguard.cli.root import app
from linkguard.ops.report import build_report, write_report_csv
from linkguard.review.accounts import AccountStore
from fixtures.review_loop import NUMBER

runner = CliRunner()


def run(env: dict[str, str], *args: str):
    """Run the CLI; with ``--user NAME`` NAME's password is typed at the prompt (issue 12: no name alone)."""
    password = f"password-{args[args.index('--user') + 1]}\n" if "--user" in args else None
    return runner.invoke(app, list(args), env=env, input=password)


def setup(database_url, engine) -> dict[str, str]:
    accounts = AccountStore(engine)
    accounts.create_user("hq1", "password-hq1", ["headquarters"])
    accounts.create_user("hq2", "password-hq2", ["headquarters"])
    accounts.create_user("sato", "password-sato", ["reviewer"])
    return {"LINKGUARD_DATABASE_URL": database_url, "LINKGUARD_REVIEW_USER": "", "LINKGUARD_KAFKA_BOOTSTRAP": ""}


def test_round_upload_board_export_and_a_refused_upload(database_url, engine, writer, loop, tmp_path):
    env = setup(database_url, engine)
    loop.passed(loop.event("P-1"))
    assert run(env, "hq", "round", "add", "令和5年度", "--start", "2023-06-01", "--due", "2023-11-30",
               "--user", "sato").exit_code == 1  # a reviewer is not the headquarters
    added = run(env, "hq", "round", "add", "令和5年度", "--start", "2023-06-01", "--due", "2023-11-30", "--user", "hq1")
    assert added.exit_code == 0, added.output
    report = build_report([(Record("keika-fukushi", "1", "", "山田 花子", "1980-04-01", "2"),
                            Verdict.of([Finding(Reason.DECEASED)]))], load_catalogue())
    write_report_csv(report, tmp_path / "report.csv")
    uploaded = run(env, "hq", "upload", str(tmp_path / "report.csv"), "--body", "高知市", "--user", "hq1")
    assert uploaded.exit_code == 0, uploaded.output
    bad = tmp_path / "bad.csv"
    bad.write_bytes((tmp_path / "report.csv").read_bytes().replace(b"keika-fukushi", b"nope"))
    refused = run(env, "hq", "upload", str(bad), "--body", "高知市", "--user", "hq1")
    assert refused.exit_code == 1 and "line 2, field 事務コード" in " ".join(refused.output.split())

    board = json.loads(run(env, "hq", "board", "--json", "--today", "2023-12-01").stdout)
    cells = {p["code"]: p["cells"] for p in board["processes"]}
    assert cells["keika-fukushi"]["高知市"]["held"] == 1 and cells["keika-fukushi"]["高知市"]["status"] == "DONE"
    assert cells["shintai-techo"]["高知県"]["inspected"] == 1
    assert cells["shintai-techo"]["高知県"]["status"] == "OVERDUE"
    assert run(env, "hq", "survey").exit_code == 0

    exported = run(env, "hq", "export", "--out", str(tmp_path / "out"), "--user", "hq1")
    assert exported.exit_code == 0, exported.output
    data = (tmp_path / "out" / "hq-processes.csv").read_bytes()
    assert data.startswith(b"\xef\xbb\xbf") and "計,,,2,0".encode() in data
    assert NUMBER not in (tmp_path / "out" / "hq-report.html").read_text()


def test_stop_request_four_eyes_and_exposure_letters(database_url, engine, writer, loop, tmp_path):
    env = setup(database_url, engine)
    requested = run(env, "hq", "stop", "request", "shintai-techo", "--reason", "誤り多数", "--user", "hq1")
    assert requested.exit_code == 0, requested.output
    stop_id = requested.stdout.split()[0]
    refused = run(env, "hq", "stop", "refuse", stop_id, "--user", "sato")
    assert refused.exit_code == 1 and "needs the role" in refused.output

    event = loop.event("W-1", name="高橋 一郎")
    loop.passed(event, 5 * 1024)
    loop.apply("held", "linkage.held", "verdict", loop.verdict(
        event, "HOLD", 5 * 1024 + 32, reasons=[{"code": "IDENTITY_MISMATCH", "detail": "name"}],
        registry_person=loop.person(NUMBER, "鈴木 次郎", dt.date(1990, 5, 5))))
    listed = run(env, "exposure", "--json")
    assert listed.exit_code == 0, listed.output
    [case] = json.loads(listed.stdout)
    assert case["number"] == "**** **** " + NUMBER[-4:] and case["number_holder"] == "鈴木 次郎"
    assert NUMBER not in listed.stdout
    assert run(env, "hq", "onward", str(case["case"]), "--provided", "--note", "情報提供等記録",
               "--user", "hq1").exit_code == 0
    assert json.loads(run(env, "exposure", "--json").stdout)[0]["provided_onward"] is True
    written = run(env, "hq", "letters", "--out", str(tmp_path / "letters.html"), "--user", "hq1")
    assert written.exit_code == 0, written.output
    html = (tmp_path / "letters.html").read_text()
    assert "鈴木 次郎　様" in html and NUMBER not in html and "**** **** " + NUMBER[-4:] in html

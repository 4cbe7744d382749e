"""The headquarters' screens in headless Chromium on the whole running system (broker, guard, sink, web).

A wrong link released by two reviewers is retracted when the number's holder
turns up; the headquarters opens an inspection round, sees the board, stops a
process with two people (the guard withdraws its copies), finds the case on
the exposure page and prints its notice letters, number masked.
Screenshots go to the test's folder, and to ``LINKGUARD_SCREENSHOT_DIR``
when set (the README's come from there).
"""

from __future__ import annotations

import os
import re
import shutil

import pytest
import sqlalchemy as sa

from fixtures.support import birth, my_number
from guards import Finding, Outcome, Reason, Record, Resident, Verdict
from linkguard.catalogue import load_catalogue
from linkguard.ops.report import build_report, write_report_csv
from linkguard.review.accounts import AccountStore
from linkguard.review.service import KafkaDecisionPublisher, ReviewService
from linkguard.synthetic.demo import registry_consumed
from sinks.models import HeldRecord, IntermediateCopy, PendingRelease
from streams.publish import Publisher
from streams.topics import names

pytestmark = pytest.mark.integration


def people() -> list[Resident]:
    return [Resident(my_number(i), f"山田 太郎{i}", birth(1950 + i), 1, f"高知市丸ノ内{i}-2-20") for i in range(1, 9)]


def one(stack, model, system: str, record_id: str):
    engine = stack.engine()
    try:
        with engine.connect() as conn:
            return conn.execute(sa.select(model).filter_by(system=system, record_id=record_id)).first()
    finally:
        engine.dispose()


def login(page, stack, username: str, password: str) -> None:
    page.goto(stack.url + "login")
    page.get_by_label("利用者ID").fill(username)
    page.get_by_label("パスワード").fill(password)
    page.get_by_role("button", name="ログイン", exact=True).click()
    page.wait_for_url(re.compile(r".*/hq$"))


def keep(path, name: str) -> None:
    target = os.environ.get("LINKGUARD_SCREENSHOT_DIR")
    if target:
        shutil.copy(path, os.path.join(target, name))


def test_board_stop_exposure_and_a_letter_in_chromium(stack, chromium, tmp_path):
    residents = people()
    taro = residents[2]
    settings = stack.settings
    with Publisher(settings) as publisher:
        result = publisher.publish_residents(residents)
    ends = {tp: end for tp, end in result.next_offsets.items() if tp[0] == names(settings).residents}
    stack.wait_until(lambda: registry_consumed(settings, ends) >= sum(ends.values()), "the guard to load the registry")
    good = [Record(system, f"{system[:2].upper()}-{i}", r.my_number, r.name, r.birth_date.isoformat(), "1", r.address,
                   number_source=source)
            for system, source, start in (("shintai-techo", "申請書", 4), ("jido-fuyo", "住基連携", 5),
                                          ("keika-fukushi", "住基連携", 6), ("seikatsu-hogo", "J-LIS照会", 7))
            for i, r in enumerate(residents[start:start + 2])]
    wrong = Record("jido-fuyo", "RELEASE", taro.my_number, "高橋 一郎", "1990-01-01", "1", taro.address,
                   number_source="職員入力", payload={"証書番号": "第77号", "支給額": "43160"})
    with Publisher(settings) as publisher:
        publisher.publish_records([*good, wrong])
    stack.wait_until(lambda: one(stack, HeldRecord, "jido-fuyo", "RELEASE") is not None, "the held record")

    engine = stack.engine()
    accounts = AccountStore(engine)
    accounts.create_user("honbu", "password-honbu-1", ["headquarters"], "本部 一郎")
    accounts.create_user("honbu2", "password-honbu-2", ["headquarters"], "本部 二郎")
    decisions = KafkaDecisionPublisher(settings)
    review = ReviewService(engine, decisions, accounts=accounts)
    try:
        review.request_release("jido-fuyo", "RELEASE", user=accounts.get("sato"), comment="同一人物と確認")
        stack.wait_until(lambda: one(stack, PendingRelease, "jido-fuyo", "RELEASE") is not None, "the request")
        review.approve_release("jido-fuyo", "RELEASE", user=accounts.get("ito"), comment="承認")
        stack.wait_until(lambda: one(stack, IntermediateCopy, "jido-fuyo", "RELEASE") is not None, "the released copy")
        with Publisher(settings) as publisher:  # the number's own holder turns up: the release is retracted
            publisher.publish_records([Record("shintai-techo", "TARO", taro.my_number, taro.name,
                                              taro.birth_date.isoformat(), "1", taro.address)])
        stack.wait_until(lambda: one(stack, IntermediateCopy, "jido-fuyo", "RELEASE").withdrawn_at is not None,
                         "the retraction")
    finally:
        decisions.close()
        engine.dispose()

    context = chromium.new_context(viewport={"width": 1440, "height": 1000}, locale="ja-JP")
    page = context.new_page()
    login(page, stack, "honbu", "password-honbu-1")
    page.get_by_label("名称").fill("令和8年度 総点検")
    page.get_by_label("開始日").fill("2026-06-01")
    page.get_by_label("期限").fill("2027-03-31")
    page.get_by_role("button", name="点検回を登録").click()
    page.wait_for_url(re.compile(r".*/hq\?round=\d+$"))
    assert "令和8年度 総点検" in page.content()
    board = page.locator("#hq-board")
    assert board.locator("th[scope=row]", has_text="身体障害者手帳").count() == 1
    # 児童扶養手当 answered ④ (from the application form), yet two records say 住基連携: flagged
    assert board.locator("tr", has_text="児童扶養手当").locator(".hq-flag").inner_text() == "記録と不一致 2件"
    assert taro.my_number not in page.content()

    # -- a municipality's report.csv, uploaded and validated -------------------------------------------
    municipal = [(Record(code, str(i), "", "山田 花子", "1980-04-01", "2", number_source="申請書"),
                  Verdict.of([Finding(Reason.IDENTITY_MISMATCH)]) if i == 0 else Verdict(Outcome.PASS))
                 for code in ("tokubetsu-shogai", "shogaiji-fukushi", "keika-fukushi") for i in range(40)]
    write_report_csv(build_report(municipal, load_catalogue()), tmp_path / "report.csv")
    page.goto(stack.url + "hq/upload")
    page.get_by_label("実施主体").fill("高知市")
    page.get_by_label("report.csv").set_input_files(tmp_path / "report.csv")
    page.get_by_role("button", name="検証して登録").click()
    page.locator("#upload-done").wait_for()

    # -- a stop, requested by one and approved by another: the guard withdraws the process's copies ----
    page.goto(stack.url + "hq/stops")
    page.get_by_label("事務").select_option("keika-fukushi")
    page.get_by_label("理由").fill("紐付け誤りの調査のため")
    page.get_by_role("button", name="連携停止を申請").click()
    page.get_by_role("button", name="承認").click()
    assert "four-eyes" in page.locator("#stop-error").inner_text()
    second = context.browser.new_context(viewport={"width": 1280, "height": 900}, locale="ja-JP").new_page()
    login(second, stack, "honbu2", "password-honbu-2")
    second.goto(stack.url + "hq/stops")
    second.get_by_role("button", name="承認").click()
    second.get_by_text("連携停止中").first.wait_for()
    stack.wait_until(lambda: all(one(stack, IntermediateCopy, "keika-fukushi", f"KE-{i}").withdrawn_reason == "stopped"
                                 for i in range(2)), "the stopped process's copies withdrawn")

    page.goto(stack.url + "hq")
    assert page.locator(".hq-stop-stopped").count() >= 1
    page.screenshot(path=tmp_path / "hq-board.png", full_page=True)
    keep(tmp_path / "hq-board.png", "hq-board.png")

    # -- the exposure page and the letters ----------------------------------------------------------
    page.goto(stack.url + "hq/exposure")
    table = page.locator("#exposure-table")
    assert table.get_by_text("高橋 一郎").count() == 1 and table.get_by_text(taro.name).count() == 1
    assert "**** **** " + taro.my_number[-4:] in page.content() and taro.my_number not in page.content()
    page.screenshot(path=tmp_path / "hq-exposure.png", full_page=True)
    keep(tmp_path / "hq-exposure.png", "hq-exposure.png")
    row = table.locator("tr", has_text="高橋 一郎")
    row.locator("input[type=checkbox]").check()
    with context.expect_page() as opened:
        page.get_by_role("button", name=re.compile("通知文を作成")).click()
    letter = opened.value
    letter.wait_for_load_state()
    letter.set_viewport_size({"width": 900, "height": 1273})
    assert letter.locator("section.letter").count() == 2
    assert f"{taro.name}　様" in letter.content() and taro.my_number not in letter.content()
    assert "**** **** " + taro.my_number[-4:] in letter.content()
    letter.locator("section.letter").first.screenshot(path=tmp_path / "hq-letter.png")
    keep(tmp_path / "hq-letter.png", "hq-letter.png")
    pdf = letter.pdf(path=str(tmp_path / "letters.pdf"), format="A4", print_background=True)
    assert pdf[:4] == b"%PDF"
    context.close()

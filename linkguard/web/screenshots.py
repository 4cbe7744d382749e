"""Screenshots of the screens for the README, taken in Debian's headless Chromium.

Run it against a running demo (``make serve`` prints the passwords)::

    python -m linkguard.web.screenshots --url http://127.0.0.1:8000/ \\
        --reviewer reviewer:PASSWORD --operator operator:PASSWORD --out docs/screenshots

It opens the queue, the held record that shows most (a suggested person,
differing fields) and the operator dashboard, and saves ``queue.png``, ``record.png`` and
``dashboard.png``. Viewing the record is audited like any other view.
"""

from __future__ import annotations

import argparse
from pathlib import Path

CHROMIUM = "/usr/bin/chromium"
LAUNCH_ARGS = ["--no-sandbox", "--disable-gpu"]

__all__ = ["launch", "login", "take", "CHROMIUM", "LAUNCH_ARGS"]


def launch(playwright):
    """Debian's Chromium; Playwright never downloads a browser here."""
    if not Path(CHROMIUM).exists():
        raise RuntimeError(f"{CHROMIUM} is missing: install it with `apt-get install -y chromium` (make browser)")
    return playwright.chromium.launch(executable_path=CHROMIUM, args=LAUNCH_ARGS)


def login(page, base: str, username: str, password: str) -> None:
    page.goto(base + "login")
    page.get_by_label("利用者ID").fill(username)
    page.get_by_label("パスワード").fill(password)
    page.get_by_role("button", name="ログイン", exact=True).click()
    page.wait_for_load_state()


def take(url: str, reviewer: tuple[str, str], operator: tuple[str, str] | None, out: Path) -> list[Path]:
    from playwright.sync_api import sync_playwright

    base = url.rstrip("/") + "/"
    out.mkdir(parents=True, exist_ok=True)
    saved = []
    with sync_playwright() as p:
        browser = launch(p)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 860}, device_scale_factor=1)
            login(page, base, *reviewer)
            page.goto(base + "queue")
            page.screenshot(path=out / "queue.png")
            saved.append(out / "queue.png")
            best, best_score = 0, -1
            for i in range(page.locator("a.row-link").count()):  # the most telling record: a suggestion, differences
                page.goto(base + "queue")
                page.locator("a.row-link").nth(i).click()
                page.wait_for_load_state()
                score = 10 * page.locator("th.suggested-col").count() + page.locator("#compare tr.differs").count()
                if score > best_score:
                    best, best_score = i, score
            page.goto(base + "queue")
            if page.locator("a.row-link").count():
                page.locator("a.row-link").nth(best).click()
                page.wait_for_load_state()
            page.screenshot(path=out / "record.png", full_page=True)
            saved.append(out / "record.png")
            if operator:
                page = browser.new_page(viewport={"width": 1280, "height": 860})
                login(page, base, *operator)
                page.goto(base + "dashboard")
                page.screenshot(path=out / "dashboard.png", full_page=True)
                saved.append(out / "dashboard.png")
        finally:
            browser.close()
    return saved


def _account(text: str) -> tuple[str, str]:
    user, _, password = text.partition(":")
    if not password:
        raise argparse.ArgumentTypeError("give USER:PASSWORD")
    return user, password


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--url", default="http://127.0.0.1:8000/")
    parser.add_argument("--reviewer", type=_account, required=True, help="USER:PASSWORD of a reviewer")
    parser.add_argument("--operator", type=_account, help="USER:PASSWORD of an operator (dashboard)")
    parser.add_argument("--out", type=Path, default=Path("docs/screenshots"))
    args = parser.parse_args()
    for path in take(args.url, args.reviewer, args.operator, args.out):
        print(path)


if __name__ == "__main__":
    main()

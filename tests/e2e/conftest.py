"""Browser tests: Debian's headless Chromium driven by Playwright against the whole running system.

The real local broker, a Faust guard worker, the sink writer and ``linkguard
web`` run as subprocesses (as ``linkguard demo --serve`` runs them), each test
with its own topics, consumer groups and database. Playwright never downloads
a browser: it launches ``/usr/bin/chromium`` (``make browser`` installs it).
"""

from __future__ import annotations

import secrets
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator

import pytest
import sqlalchemy as sa

from fixtures.support import KafkaBackend, unavailable

CHROMIUM = "/usr/bin/chromium"

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def chromium():
    """Chromium through Playwright; missing → skip (fail under LINKGUARD_REQUIRE_SERVICES=1).

    Module-scoped: Playwright's sync API keeps an event loop of its own, closed
    before the tests of other modules (some run asyncio) start.
    """
    if not Path(CHROMIUM).exists():
        unavailable(f"Chromium is not installed at {CHROMIUM}: run `make browser` (apt-get install -y chromium)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError as e:
        unavailable(f"playwright is not installed ({e}): run `make install`")
    from linkguard.web.screenshots import launch

    with sync_playwright() as p:
        browser = launch(p)
        try:
            yield browser
        finally:
            browser.close()


@dataclass
class Stack:
    """Broker topics, guard worker, sink and web app of one test; ``url`` is the web screen."""

    url: str
    database_url: str
    settings: object
    pipeline: object
    passwords: dict[str, str]

    def engine(self) -> sa.Engine:
        from sinks import make_engine

        return make_engine(self.database_url)

    def wait_until(self, condition: Callable[[], bool], what: str, timeout: float = 240) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                if condition():
                    return
            except sa.exc.DBAPIError:
                pass  # a table not created yet
            self.pipeline.check_alive()
            time.sleep(0.3)
        logs = "\n".join(f"--- {n}\n{(self.pipeline.log_dir / f'{n}.log').read_text(errors='replace')[-3000:]}"
                         for n in self.pipeline.processes)
        raise AssertionError(f"timed out waiting for {what}\n{logs}")


@pytest.fixture
def stack(local_broker: KafkaBackend, chromium, tmp_path) -> Iterator[Stack]:
    import os

    from linkguard.synthetic.demo import Pipeline, free_port, wait_http
    from linkguard.review.accounts import AccountStore
    from sinks import SinkWriter, make_engine
    from streams.settings import KafkaSettings
    from streams.topics import ensure_topics

    run = uuid.uuid4().hex[:8]
    settings = KafkaSettings(kafka_bootstrap=local_broker.bootstrap, local_mode=True, topic_prefix=f"e{run}.",
                             app_id=f"lg-e{run}", topic_partitions=2)
    ensure_topics(settings)
    database_url = f"sqlite:///{tmp_path / 'sink.sqlite'}"
    engine = make_engine(database_url)
    SinkWriter(engine).create_schema()
    passwords = {name: secrets.token_urlsafe(12) for name in ("sato", "ito", "ops")}
    accounts = AccountStore(engine)
    accounts.create_user("sato", passwords["sato"], ["reviewer"], "佐藤 一郎")
    accounts.create_user("ito", passwords["ito"], ["approver"], "伊藤 二郎")
    accounts.create_user("ops", passwords["ops"], ["operator"], "運用 担当")
    engine.dispose()
    port = free_port()
    env = {**os.environ, "LINKGUARD_KAFKA_BOOTSTRAP": settings.kafka_bootstrap, "LINKGUARD_LOCAL_MODE": "1",
           "LINKGUARD_TOPIC_PREFIX": settings.topic_prefix, "LINKGUARD_APP_ID": settings.app_id,
           "LINKGUARD_TOPIC_PARTITIONS": str(settings.topic_partitions), "LINKGUARD_DATABASE_URL": database_url,
           "LINKGUARD_WEB_SECRET": secrets.token_urlsafe(48), "LINKGUARD_WEB_HTTPS_ONLY": "0",
           "LINKGUARD_WEB_PORT": str(port), "LINKGUARD_WEB_SAMPLE_SECONDS": "2"}
    pipeline = Pipeline(env, tmp_path / "logs")
    try:
        pipeline.start("worker", "worker")
        pipeline.start("sink", "sink")
        pipeline.start("web", "web")
        url = f"http://127.0.0.1:{port}/"
        wait_http(url + "healthz", check=pipeline.check_alive)
        yield Stack(url, database_url, settings, pipeline, passwords)
    finally:
        pipeline.stop()

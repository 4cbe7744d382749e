"""The audit page on a database upgraded from the previous release: rows from before the chain are not verified."""

from __future__ import annotations

import pytest

from sinks import SinkWriter
from fixtures.previous_release import previous_release_database


@pytest.fixture
def writer(engine) -> SinkWriter:
    """The sink writer on a database the previous release made (three audit rows without hashes)."""
    previous_release_database(engine)
    w = SinkWriter(engine)
    w.create_schema()
    return w


def test_the_audit_page_says_which_rows_predate_the_hash_chain(browser, app, engine):
    from sinks.audit import CachedChainCheck

    app.state.services.audit_chain = CachedChainCheck(engine, ttl=0)
    browser.login("root")
    page = browser.get("/admin/audit").text
    assert "正常" in page  # the chain from the upgrade on holds
    assert 'id="audit-unchained"' in page
    assert "#1〜#3 の3件はハッシュ連鎖の導入前に記録されたもので、検証されていません" in page

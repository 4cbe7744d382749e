"""The queue stays a fixed number of queries, on indexes, with 100,000 held records on PostgreSQL.

No timings (the machine is shared): the number of statements a page costs,
that a deep page costs the same as the first, and PostgreSQL's plan for the
page query (an index scan, never a sort of the whole table).
"""

from __future__ import annotations

import datetime as dt

import pytest
import sqlalchemy as sa

from linkguard.review.service import ReviewService
from sinks import SinkWriter, make_engine
from sinks.models import HeldRecord
from fixtures.support import fresh_postgres_database, my_number, postgres_url

pytestmark = pytest.mark.slow
ROWS = 100_000
REASONS = ("IDENTITY_MISMATCH", "DECEASED", "NOT_IN_REGISTRY", "BATCH_SWAP")
SYSTEMS = ("shintai-techo", "jiritsu-shien", "jido-fuyo")


@pytest.fixture(scope="module")
def big_store():
    for url in fresh_postgres_database(postgres_url()):
        engine = make_engine(url)
        SinkWriter(engine).create_schema()
        start = dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc)
        rows = []
        for i in range(ROWS):
            reason = REASONS[i % len(REASONS)]
            rows.append({
                "system": SYSTEMS[i % 3], "record_id": f"R-{i:06d}", "event_id": f"e-{i}", "version": i,
                "reasons": [{"code": reason, "detail": ""}], "reason_key": f";{reason};",
                "suggested_my_number": "", "held_at": start + dt.timedelta(seconds=i // 2),  # ties on held_at
                "record": {"name": f"山田 {i}", "my_number": my_number(i + 1)},
                "status": "open" if i % 10 else "released", "updated_at": start,
                "assignee": "kato" if i % 7 == 0 else None,
            })
        with engine.begin() as conn:
            for chunk in range(0, ROWS, 10_000):
                conn.execute(sa.insert(HeldRecord), rows[chunk:chunk + 10_000])
            conn.exec_driver_sql("ANALYZE held_records")
        yield engine
        engine.dispose()


class Statements:
    def __init__(self, engine) -> None:
        self.count = 0
        sa.event.listen(engine, "before_cursor_execute", self._seen)
        self.engine = engine

    def _seen(self, *args) -> None:
        self.count += 1

    def close(self) -> None:
        sa.event.remove(self.engine, "before_cursor_execute", self._seen)


def test_every_page_costs_two_statements_however_deep(big_store):
    service = ReviewService(big_store)
    statements = Statements(big_store)
    try:
        first = service.queue(limit=50)
        assert statements.count == 2 and first.total == ROWS * 9 // 10
        cursor, seen = first.next_cursor, [i.record_id for i in first.items]
        for _ in range(3):
            page = service.queue(limit=50, after=cursor)
            seen += [i.record_id for i in page.items]
            cursor = page.next_cursor
        assert statements.count == 8
        assert len(seen) == len(set(seen)) == 200
        # oldest first; ties on held_at broken by system, then record_id
        expected = sorted((i // 2, SYSTEMS[i % 3], f"R-{i:06d}") for i in range(400) if i % 10)[:200]
        assert seen == [record_id for _, _, record_id in expected]
        # a page near the end, by a cursor, is still two statements
        statements.count = 0
        last = service.queue(limit=50, order="newest")
        deep = service.queue(limit=50, order="newest", after=last.next_cursor)
        assert statements.count == 4 and deep.items[0].held_at <= last.items[-1].held_at
        statements.count = 0
        assert service.queue(reason="DECEASED", system="jiritsu-shien", limit=20).items
        assert service.queue(assignee="kato", limit=20).items
        assert statements.count == 4
    finally:
        statements.close()


def test_the_page_query_uses_an_index_not_a_sort_of_the_table(big_store):
    service = ReviewService(big_store)
    captured: list[tuple[str, object]] = []

    def capture(conn, cursor, statement, parameters, context, executemany):
        if "LIMIT" in statement:
            captured.append((statement, parameters))

    sa.event.listen(big_store, "before_cursor_execute", capture)
    try:
        page = service.queue(limit=50)
        service.queue(limit=50, after=page.next_cursor)
        service.queue(limit=50, system="jido-fuyo")
    finally:
        sa.event.remove(big_store, "before_cursor_execute", capture)
    assert len(captured) == 3
    with big_store.connect() as conn:
        for statement, parameters in captured:
            plan = "\n".join(r[0] for r in conn.exec_driver_sql("EXPLAIN " + statement, parameters))
            assert "Index" in plan and "ix_held_records_status" in plan, plan
            assert "Seq Scan on held_records" not in plan, plan


def test_reason_counts_cover_every_open_record(big_store):
    counts = ReviewService(big_store).reason_counts()
    assert sum(counts.values()) == ROWS * 9 // 10 and set(counts) == set(REASONS)

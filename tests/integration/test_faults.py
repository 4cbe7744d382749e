"""Faults: kill -9 a guard worker or the sink writer, lose the database, lose one of two workers.

Each test compares the stores with what was published, never with what the
system reports about itself: every record has exactly one final verdict, the
sink holds every PASS exactly once and no HOLD, each malformed event one dead
letter (``assert_stores`` of the pipeline test, over 50,000 records here).
"""

from __future__ import annotations

import threading
import time
from typing import Iterator

import pytest
import sqlalchemy as sa

from bench import pgtemp
from bench.pgtemp import PrivatePostgres
from guards import Record

from integration.test_pipeline import assert_stores, build_records, build_registry, publish_records, \
    registry_digest
from fixtures.losses import wait_for_verdicts
from fixtures.support import unavailable

pytestmark = [pytest.mark.integration, pytest.mark.slow]

POSTGRES = pytest.mark.parametrize("pipeline_database", ["postgresql"], indirect=True)
# processes the bulk records are spread over (the base cases use the first three of the catalogue's)
BULK_SYSTEMS = ("ryoiku-techo", "seikatsu-hogo", "tokubetsu-jido", "shoman", "boshi-fushi")


def corpus(records: int, residents: int) -> tuple[list, list[tuple[Record, str, str]]]:
    """A registry and ``records`` cases: the pipeline test's known errors, then valid records of the
    same people in other processes (one person, several systems, always the same identity)."""
    registry = build_registry(residents)
    cases = build_records(registry)
    people = registry[10:]  # the first ten carry the known errors; keep their numbers out of the bulk
    for i in range(records - len(cases)):
        r = people[i % len(people)]
        system = BULK_SYSTEMS[(i // len(people)) % len(BULK_SYSTEMS)]
        cases.append((Record(system, f"BULK-{i}", r.my_number, r.name, r.birth_date.isoformat(), str(r.sex),
                             r.address), "PASS", ""))
    assert len(cases) == records
    return registry, cases


def settle_and_assert(h, cases, expected: int) -> None:
    time.sleep(2)  # nothing further may arrive: no duplicate, no late extra verdict
    assert h.verdict_rows() == expected
    assert_stores(h, cases)


def table_difference(got: dict[str, str], want: dict[str, str]) -> str:
    """Keys (hashes, never numbers) missing, extra and with another value."""
    missing = sorted(set(want) - set(got))
    extra = sorted(set(got) - set(want))
    changed = sorted(k for k in set(got) & set(want) if got[k] != want[k])
    return (f"table has {len(got):,} entries, {len(want):,} wanted: {len(missing):,} missing, "
            f"{len(extra):,} extra, {len(changed):,} with another value")


def assert_recovered_tables(h, name: str, registry, cases) -> None:
    """The worker's tables, recovered from their changelogs, equal what was written to them."""
    import hashlib

    want = registry_digest(registry)
    h.wait_until(lambda: h.tables(name).get("registry") == want,
                 f"{name}'s registry table to equal what was published", timeout=60)
    linked = {hashlib.sha256(c[0].my_number.encode()).hexdigest() for c in cases
              if c[1] in ("PASS", "HOLD") and c[0].my_number.isdigit() and len(c[0].my_number) == 12
              and c[2] != "CHECK_DIGIT"}
    assert set(h.tables(name).get("links", {})) == linked


# -------------------------------------------------------------------- 1. a guard worker killed


@POSTGRES
def test_guard_worker_killed_in_the_middle_of_50000_records(harness):
    registry, cases = corpus(50_000, 10_000)
    harness.start("sink", "sink")
    harness.start("worker", "worker")
    harness.load_registry(registry)
    expected = publish_records(harness, cases)
    harness.wait_until(lambda: harness.verdict_rows() >= 10_000, "the first 10,000 verdicts", timeout=240)
    harness.kill("worker")
    before = harness.verdict_rows()
    assert before < expected - 10_000, "the worker was nearly done before the kill; the test proves little"
    harness.start("worker2", "worker")
    wait_for_verdicts(harness, cases, expected, f"{expected} verdicts after the restart")
    settle_and_assert(harness, cases, expected)
    assert_recovered_tables(harness, "worker2", registry, cases)


@POSTGRES
def test_guard_worker_killed_while_loading_the_registry(harness):
    """The registry is a compacted topic (gaps are real there, so Faust's own commit rule stays):
    killed mid-load and restarted, the worker's registry table still equals what was published,
    and records are judged against all of it."""
    from streams.publish import Publisher

    registry = build_registry(60_000)
    cases = build_records(registry[:3_000])  # its numbers are the first 3,000 of the registry
    want = registry_digest(registry)
    harness.start("sink", "sink")
    harness.start("worker", "worker")
    harness.wait_until(lambda: "registry" in harness.tables("worker"), "the worker to start", timeout=120)
    with Publisher(harness.settings) as publisher:
        publisher.publish_residents(registry)
    harness.wait_until(lambda: len(harness.tables("worker")["registry"]) >= 5_000, "the load to be under way",
                       timeout=120)
    harness.kill("worker")
    loaded = len(harness.tables("worker")["registry"])
    assert loaded < len(want), "the registry was loaded before the kill; the test proves nothing"
    harness.start("worker2", "worker")
    try:
        harness.wait_until(lambda: harness.tables("worker2").get("registry") == want,
                           f"worker2's registry table to equal what was published (the kill came at {loaded:,})",
                           timeout=300)
    except AssertionError as e:
        raise AssertionError(f"{e}\n{table_difference(harness.tables('worker2').get('registry') or {}, want)}") \
            from None
    expected = publish_records(harness, cases)
    wait_for_verdicts(harness, cases, expected, f"{expected} verdicts against the recovered registry")
    settle_and_assert(harness, cases, expected)


# -------------------------------------------------------------------- 2. the sink killed while applying


def writing_transactions(conn: sa.Connection) -> int:
    """Other sessions of this database inside a transaction that has written (it has a transaction id)."""
    return conn.execute(sa.text(
        "SELECT COUNT(*) FROM pg_stat_activity WHERE datname = current_database() "
        "AND pid <> pg_backend_pid() AND backend_xid IS NOT NULL")).scalar_one()


@POSTGRES
def test_sink_killed_while_applying_a_batch(harness):
    registry, cases = corpus(50_000, 10_000)
    harness.start("worker", "worker")
    harness.start("sink", "sink")
    harness.load_registry(registry)
    expected = publish_records(harness, cases)
    harness.wait_until(lambda: harness.verdict_rows() >= 5_000, "the first 5,000 verdicts", timeout=240)
    engine = harness.engine()
    caught = False
    try:
        with engine.connect() as conn:
            deadline = time.monotonic() + 120
            while time.monotonic() < deadline and not caught:
                conn.rollback()  # a fresh snapshot of pg_stat_activity each time
                if writing_transactions(conn):
                    harness.kill("sink")  # kill -9 while its batch transaction has written rows
                    caught = True
                    break
                time.sleep(0.005)
            harness.wait_until(lambda: (conn.rollback(), writing_transactions(conn))[1] == 0,
                               "PostgreSQL to roll back the killed sink's transaction", timeout=60)
    finally:
        engine.dispose()
    assert caught, "never caught the sink inside a batch transaction"
    before = harness.verdict_rows()
    assert before < expected, "the sink had finished before the kill; the test proves nothing"
    harness.start("sink2", "sink")
    wait_for_verdicts(harness, cases, expected, f"{expected} verdicts after the restart")
    settle_and_assert(harness, cases, expected)


# -------------------------------------------------------------------- 3. the database away for 20 s


@pytest.fixture
def private_postgres() -> Iterator[PrivatePostgres]:
    """A PostgreSQL of this test alone (bench/pgtemp.py): stopping it disturbs nobody else's tests."""
    try:
        with pgtemp.private_postgres() as pg:
            yield pg
    except pgtemp.PostgresUnavailable as e:
        unavailable(f"a private PostgreSQL for the outage test: {e}")


def sink_lag(harness) -> int:
    """Records on the verdict topics the sink group has not committed past (end offsets read right
    on the local broker too)."""
    from streams.lag import LagReader

    group = f"{harness.settings.app_id}-sink"
    with LagReader(harness.settings) as reader:
        snap = reader.snapshot([group])
    committed = snap.committed.get(group, {})
    return sum(max(0, end - (committed.get(tp) or 0)) for tp, end in snap.end.items())


def publish_steadily(harness, cases, rate: float, done: threading.Event, errors: list) -> None:
    """Publish the cases at about ``rate`` records/s (then the malformed events): records flow
    while the database is away."""
    from streams.publish import Publisher

    try:
        with Publisher(harness.settings) as publisher:
            start = time.monotonic()
            step = 100
            for i in range(0, len(cases), step):
                publisher.publish_records([c[0] for c in cases[i:i + step]])
                ahead = start + (i + step) / rate - time.monotonic()
                if ahead > 0:
                    time.sleep(ahead)
    except Exception as e:  # reported by the test thread
        errors.append(e)
    finally:
        done.set()


@pytest.mark.parametrize("pipeline_database", ["sqlite"], indirect=True)  # replaced by the private one
def test_database_away_for_20_seconds_while_records_flow(harness, private_postgres):
    harness.database_url = private_postgres.url
    registry, cases = corpus(24_000, 6_000)
    harness.start("worker", "worker")
    harness.start("sink", "sink")
    harness.load_registry(registry)
    done, errors = threading.Event(), []
    publisher = threading.Thread(target=publish_steadily, args=(harness, cases, 400.0, done, errors), daemon=True)
    publisher.start()
    harness.wait_until(lambda: harness.verdict_rows() >= 2_000, "the first 2,000 rows before the outage")

    private_postgres.stop_immediately()
    lag = [sink_lag(harness)]
    away_until = time.monotonic() + 20
    while time.monotonic() < away_until:
        time.sleep(1)
        harness.check_alive()  # the sink must ride the outage out, not crash
        lag.append(sink_lag(harness))
    assert not done.is_set(), "records stopped flowing before the database came back"
    private_postgres.start()

    publisher.join(120)
    assert not errors, errors
    expected = len(cases)
    wait_for_verdicts(harness, cases, expected, f"{expected} rows after the outage", timeout=300)
    harness.wait_until(lambda: sink_lag(harness) == 0, "the sink's lag to drain", timeout=60)
    assert lag[-1] > lag[0] + 1_000, f"lag did not grow while the database was away: {lag}"
    time.sleep(2)
    assert harness.verdict_rows() == expected
    check_stores_without_malformed(harness, cases)
    sink_log = harness.log("sink")
    assert "retry" in sink_log, "the sink never retried: was the database really away?"


def check_stores_without_malformed(h, cases) -> None:
    """assert_stores for a run that published no malformed events."""
    copies = {(r.system, r.record_id) for r in h.rows("SELECT system, record_id FROM intermediate_copies")}
    held = {(r.system, r.record_id) for r in h.rows("SELECT system, record_id FROM held_records")}
    dead = [(r.system, r.record_id) for r in h.rows("SELECT system, record_id FROM dead_letters")]
    want = {outcome: {(c[0].system, c[0].record_id) for c in cases if c[1] == outcome}
            for outcome in ("PASS", "HOLD", "INVALID")}
    assert copies == want["PASS"]
    assert held == want["HOLD"]
    assert sorted(dead) == sorted(want["INVALID"])


# -------------------------------------------------------------------- 4. one of two workers killed


@POSTGRES
def test_one_of_two_workers_killed_its_partitions_move_to_the_other(harness):
    registry, cases = corpus(30_000, 6_000)
    want = registry_digest(registry)
    harness.start("worker-a", "worker")
    harness.start("worker-b", "worker")
    harness.start("sink", "sink")
    harness.load_registry(registry)

    def split() -> bool:
        a, b = (harness.tables(n).get("registry") or {} for n in ("worker-a", "worker-b"))
        return bool(a) and bool(b) and {**a, **b} == want

    harness.wait_until(split, "both workers to hold a share of the registry", timeout=120)
    expected = publish_records(harness, cases)
    harness.wait_until(lambda: harness.verdict_rows() >= 3_000, "the first 3,000 verdicts", timeout=240)
    a_before = set(harness.tables("worker-a").get("links", {}))
    b_before = set(harness.tables("worker-b").get("links", {}))
    harness.kill("worker-b")
    assert harness.verdict_rows() < expected, "both workers finished before the kill; the test proves nothing"
    # numbers are partitioned: worker-a can only come to hold these by taking over worker-b's partitions
    only_b = b_before - a_before
    assert only_b, "worker-b had checked nothing of its own before the kill"
    wait_for_verdicts(harness, cases, expected, f"{expected} verdicts with one worker")
    settle_and_assert(harness, cases, expected)
    # worker-a took over worker-b's partitions: it holds every table entry, recovered from the changelogs
    assert_recovered_tables(harness, "worker-a", registry, cases)
    assert only_b <= set(harness.tables("worker-a")["links"])

"""Prometheus metrics, scraped over HTTP from the real exporter and the real sink worker.

The database holds rows written by :class:`sinks.SinkWriter` from Avro-round-tripped
verdicts and dead letters with known counts; the local broker holds a known
number of produced and committed records. Every figure scraped is checked
against those counts, and no scrape may show a My Number or a name.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import os
import re
import socket
import subprocess
import sys
import time
import urllib.request
import uuid

import pytest
from kafka import KafkaConsumer, KafkaProducer, OffsetAndMetadata, TopicPartition
from prometheus_client.parser import text_string_to_metric_families

import schemas
from linkguard.ops.metrics import DatabaseCollector, build_registry, make_metrics_app, metric_names
from sinks import SinkMessage, SinkWriter, make_engine
from streams import topics
from streams.children import spawn
from streams.settings import KafkaSettings
from streams.topics import ensure_topics
from fixtures.support import my_number

codec = schemas.Codec()
NOW = dt.datetime.now(dt.timezone.utc)
NUMBERS = [my_number(62149832000 + i) for i in range(20)]
NAMES = ["山田 花子", "齋藤 一郎", "佐藤 美咲"]
BAD_NUMBER = my_number(98765432101)  # lands in a dead letter's reason and system: must never be shown


def event(system: str, record_id: str, i: int, *, operation: str = "update",
          occurred_at: dt.datetime | None = None) -> dict:
    return {
        "event_id": str(uuid.uuid4()), "system": system, "record_id": record_id, "operation": operation,
        "occurred_at": occurred_at or NOW - dt.timedelta(seconds=30), "my_number": NUMBERS[i],
        "name": NAMES[i % len(NAMES)], "name_kana": "ヤマダ ハナコ", "birth_date": "1980-04-01", "sex": "2",
        "address": "高知県高知市本町1丁目1-1", "atena_no": f"A{i:05d}", "number_source": "申請書",
        "entered_by": "staff-7", "batch_id": "b-1", "payload": {"手帳番号": f"第{i}号"}, "updated_at": None,
    }


def verdict(outcome: str, record: dict, version: int, reasons: tuple[str, ...] = (),
            checked_at: dt.datetime | None = None) -> dict:
    message = {"event_id": record["event_id"], "outcome": outcome,
               "reasons": [{"code": c, "detail": ""} for c in reasons], "suggested_my_number": "",
               "checked_at": checked_at or NOW, "version": version, "record": record}
    return codec.decode("verdict", codec.encode("verdict", message))


def letter(offset: int, reason: str, *, stage: str = "guard", system: str = "", record_id: str = "") -> dict:
    message = {"topic": "linkage.records", "partition": 0, "offset": offset, "key": None, "value": b"\x00",
               "reason": reason, "error": "bad", "stage": stage, "system": system, "record_id": record_id,
               "failed_at": NOW}
    return codec.decode("dead_letter", codec.encode("dead_letter", message))


def known_rows(writer: SinkWriter) -> None:
    """Writes the rows whose counts every test below checks.

    shintai-techo: 5 PASS (ST-5 then deleted: 4 live, 1 withdrawn), 2 INVALID (BAD_DATE).
    jido-fuyo: 3 HOLD (JF-1 IDENTITY_MISMATCH, JF-2 IDENTITY_MISMATCH, JF-3 CHECK_DIGIT+ADDRESS_MISMATCH),
    then JF-1 passes (its hold superseded) and JF-4 passes: 2 PASS, 2 open holds.
    Dead letters: 2 BAD_DATE (guard), 1 UNDECODABLE (guard, no system), 1 malformed row whose
    reason and system hold a number and a name (shown as ``other``).
    """
    offsets = {"v": 0, "h": 0, "d": 0}

    def msg(kind: str, payload: dict) -> SinkMessage:
        topic, key = {"verified": ("linkage.verified", "v"), "held": ("linkage.held", "h"),
                      "dead_letter": ("linkage.dlq", "d")}[kind]
        offsets[key] += 1
        return SinkMessage(topic=topic, partition=0, offset=offsets[key], kind=kind, payload=payload)

    now = dt.datetime.now(dt.timezone.utc)  # not NOW: the suite may reach this test long after import
    hour_ago = now - dt.timedelta(hours=1)
    batch = [msg("verified", verdict("PASS", event("shintai-techo", f"ST-{i}", i), 10 + i)) for i in range(1, 6)]
    batch += [msg("held", verdict("HOLD", event("jido-fuyo", "JF-1", 6), 1, ("IDENTITY_MISMATCH",), hour_ago)),
              msg("held", verdict("HOLD", event("jido-fuyo", "JF-2", 7), 2, ("IDENTITY_MISMATCH",), hour_ago)),
              msg("held", verdict("HOLD", event("jido-fuyo", "JF-3", 8), 3, ("CHECK_DIGIT", "ADDRESS_MISMATCH"),
                                  now - dt.timedelta(minutes=5)))]
    batch += [msg("dead_letter", letter(100, "BAD_DATE", system="shintai-techo", record_id="ST-8")),
              msg("dead_letter", letter(101, "BAD_DATE", system="shintai-techo", record_id="ST-9")),
              msg("dead_letter", letter(102, "UNDECODABLE")),
              msg("dead_letter", letter(103, f"{BAD_NUMBER} {NAMES[0]}", system=NAMES[1]))]
    writer.apply("sink", batch)
    writer.apply("sink", [
        msg("verified", verdict("PASS", event("shintai-techo", "ST-5", 5, operation="delete"), 50)),
        msg("verified", verdict("PASS", event("jido-fuyo", "JF-1", 6), 5)),
        msg("verified", verdict("PASS", event("jido-fuyo", "JF-4", 9), 6)),
    ])


EXPECTED = {
    ("linkguard_records_checked_total", (("system", "shintai-techo"), ("verdict", "PASS"))): 5,
    ("linkguard_records_checked_total", (("system", "shintai-techo"), ("verdict", "INVALID"))): 2,
    ("linkguard_records_checked_total", (("system", "jido-fuyo"), ("verdict", "PASS"))): 2,
    ("linkguard_records_checked_total", (("system", "jido-fuyo"), ("verdict", "HOLD"))): 3,
    ("linkguard_records_checked_total", (("system", "other"), ("verdict", "INVALID"))): 1,
    ("linkguard_held_total", (("reason", "IDENTITY_MISMATCH"),)): 2,
    ("linkguard_held_total", (("reason", "CHECK_DIGIT"),)): 1,
    ("linkguard_held_total", (("reason", "ADDRESS_MISMATCH"),)): 1,
    ("linkguard_review_queue_depth", (("system", "jido-fuyo"),)): 2,
    ("linkguard_dead_letters_total", (("reason", "BAD_DATE"), ("stage", "guard"))): 2,
    ("linkguard_dead_letters_total", (("reason", "UNDECODABLE"), ("stage", "guard"))): 1,
    ("linkguard_dead_letters_total", (("reason", "other"), ("stage", "guard"))): 1,
    ("linkguard_dead_letters_waiting", (("reason", "BAD_DATE"), ("stage", "guard"))): 2,
    ("linkguard_intermediate_copies", (("state", "live"), ("system", "shintai-techo"))): 4,
    ("linkguard_intermediate_copies", (("state", "withdrawn"), ("system", "shintai-techo"))): 1,
    ("linkguard_intermediate_copies", (("state", "live"), ("system", "jido-fuyo"))): 2,
    ("linkguard_database_up", ()): 1,
}


def samples(text: str) -> dict[tuple[str, tuple], float]:
    """Every sample of an exposition, keyed by name and sorted labels."""
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def assert_no_personal_data(text: str) -> None:
    for value in NUMBERS + [BAD_NUMBER] + NAMES + [n.replace(" ", "") for n in NAMES]:
        assert value not in text, "personal data in the metrics"
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            for value in s.labels.values():
                assert not re.search(r"\d{12}", re.sub(r"\D", "", value)), f"a 12-digit number in {s.name}"
                assert re.fullmatch(r"[\w.;:+\-]*", value, re.ASCII), f"label value {value!r} in {s.name}"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def scrape(port: int, path: str = "/metrics") -> str:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=10) as answer:
        assert answer.status == 200
        return answer.read().decode()


def scrape_until(port: int, ready, what: str, process: subprocess.Popen | None = None,
                 timeout: float = 120) -> dict:
    """Scrape until ``ready(samples)``; the last scrape's samples."""
    deadline = time.monotonic() + timeout
    last: dict = {}
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise AssertionError(f"{what}: the process exited with {process.returncode}:\n"
                                 f"{process.stdout.read().decode(errors='replace')[-3000:]}")
        try:
            last = samples(scrape(port))
            if ready(last):
                return last
        except OSError:
            pass  # not listening yet
        time.sleep(0.3)
    raise AssertionError(f"timed out waiting for {what}; last scrape: "
                         f"{ {k: v for k, v in last.items() if k[0].startswith('linkguard')} }")


@pytest.fixture
def writer(database_url):
    engine = make_engine(database_url)
    w = SinkWriter(engine)
    w.create_schema()
    yield w
    engine.dispose()


# ---------------------------------------------------------------- the database collector


def test_database_totals_are_the_known_counts(writer):
    known_rows(writer)
    registry, _ = build_registry(engine=writer.engine, process=False)
    from prometheus_client import generate_latest

    text = generate_latest(registry).decode()
    got = samples(text)
    for key, value in EXPECTED.items():
        assert got.get(key) == value, key
    assert ("linkguard_review_queue_depth", (("system", "shintai-techo"),)) not in got
    age = got[("linkguard_review_queue_oldest_age_seconds", (("system", "jido-fuyo"),))]
    assert 3600 <= age < 3600 + 600  # the hour-old JF-2, not the superseded JF-1 or the newer JF-3
    assert_no_personal_data(text)
    # the same figures the writer's own queries give
    assert sum(writer.held_by_reason().values()) == 1 + 1 + 1  # open only: JF-2, JF-3 (two codes)
    assert writer.counts()["copies"] == 6 and writer.counts()["held_open"] == 2


def test_a_database_that_is_away_answers_up_0_instead_of_failing_the_scrape(tmp_path):
    from prometheus_client import generate_latest

    engine = make_engine(f"sqlite:///{tmp_path / 'missing' / 'no-tables.sqlite'}")
    registry, _ = build_registry(engine=engine, process=False)
    got = samples(generate_latest(registry).decode())
    assert got[("linkguard_database_up", ())] == 0
    assert not any(name == "linkguard_records_checked_total" for name, _ in got)


def test_metric_names_come_from_the_collectors():
    registry, _ = build_registry(engine=make_engine("sqlite://"), lag=None, sink=True, process=False)
    names = metric_names(registry)
    assert {"linkguard_records_checked_total", "linkguard_held_total", "linkguard_dead_letters_total",
            "linkguard_review_queue_depth", "linkguard_end_to_end_latency_seconds_bucket",
            "linkguard_sink_write_seconds_count"} <= names
    assert "linkguard_records_checked" not in names  # a counter is exported with _total only


def test_make_metrics_app_serves_the_registry_over_asgi(writer):
    known_rows(writer)
    app = make_metrics_app(engine=writer.engine)
    sent: list[dict] = []

    async def call() -> None:
        async def receive() -> dict:
            return {"type": "http.request", "body": b"", "more_body": False}

        async def send(message: dict) -> None:
            sent.append(message)

        await app({"type": "http", "method": "GET", "path": "/", "query_string": b"", "headers": [],
                   "asgi": {"version": "3.0"}, "http_version": "1.1"}, receive, send)

    asyncio.run(call())
    assert sent[0]["status"] == 200
    text = b"".join(m.get("body", b"") for m in sent[1:]).decode()
    got = samples(text)
    assert got[("linkguard_review_queue_depth", (("system", "jido-fuyo"),))] == 2
    assert_no_personal_data(text)


# ---------------------------------------------------------------- over HTTP, real broker


def produce(bootstrap: str, topic: str, partition: int, batches: list[int]) -> None:
    """Each entry is sent as one multi-record batch (the local broker's end-offset quirk)."""
    producer = KafkaProducer(bootstrap_servers=bootstrap, linger_ms=500, batch_size=1 << 20)
    try:
        for size in batches:
            for i in range(size):
                producer.send(topic, value=f"v{i}".encode(), partition=partition)
            producer.flush()
    finally:
        producer.close()


def commit(bootstrap: str, group: str, offsets: dict[tuple[str, int], int]) -> None:
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, group_id=group, enable_auto_commit=False)
    try:
        consumer.assign([TopicPartition(t, p) for t, p in offsets])
        consumer.commit({TopicPartition(t, p): OffsetAndMetadata(o, "", -1) for (t, p), o in offsets.items()})
    finally:
        consumer.close()


def run_env(settings: KafkaSettings, database_url: str, **extra: str) -> dict[str, str]:
    return {**os.environ, "LINKGUARD_KAFKA_BOOTSTRAP": settings.kafka_bootstrap, "LINKGUARD_LOCAL_MODE": "1",
            "LINKGUARD_TOPIC_PREFIX": settings.topic_prefix, "LINKGUARD_APP_ID": settings.app_id,
            "LINKGUARD_TOPIC_PARTITIONS": str(settings.topic_partitions),
            "LINKGUARD_DATABASE_URL": database_url, **extra}


@pytest.fixture
def kafka(local_broker) -> KafkaSettings:
    run = uuid.uuid4().hex[:8]
    settings = KafkaSettings(kafka_bootstrap=local_broker.bootstrap, local_mode=True, topic_prefix=f"m{run}.",
                             app_id=f"m{run}", topic_partitions=2)
    ensure_topics(settings)
    return settings


@pytest.fixture
def started():
    processes: list[subprocess.Popen] = []

    def start(*args: str, env: dict[str, str]) -> subprocess.Popen:
        process = spawn([sys.executable, "-m", "linkguard", *args], env=env, stdout=subprocess.PIPE,
                        stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        processes.append(process)
        return process

    yield start
    for process in processes:
        process.terminate()
        try:
            process.wait(20)
        except subprocess.TimeoutExpired:
            process.kill()


@pytest.mark.integration
def test_exporter_over_http_lag_and_totals(kafka, writer, database_url, started):
    known_rows(writer)
    topic = topics.names(kafka).verified
    sink_group = f"{kafka.app_id}-sink"
    produce(kafka.kafka_bootstrap, topic, 0, [10, 10, 10])  # 30 records; the newest batch holds 10
    produce(kafka.kafka_bootstrap, topic, 1, [8])
    commit(kafka.kafka_bootstrap, sink_group, {(topic, 0): 12, (topic, 1): 8})

    port = free_port()
    exporter = started("metrics", "--port", str(port), "--addr", "127.0.0.1",
                       env=run_env(kafka, database_url, LINKGUARD_METRICS_LAG_INTERVAL="0.5"))
    p0 = (("group", sink_group), ("partition", "0"), ("topic", topic))
    p1 = (("group", sink_group), ("partition", "1"), ("topic", topic))
    got = scrape_until(port, lambda s: ("linkguard_consumergroup_lag", p0) in s
                       and s.get(("linkguard_consumergroup_status", (("group", sink_group), ("status", "STALL"))))
                       == 1, "lag of the sink group", exporter)
    assert got[("linkguard_consumergroup_lag", p0)] == 30 - 12
    assert got[("linkguard_consumergroup_lag", p1)] == 0
    assert got[("linkguard_consumergroup_offset", p0)] == 12
    assert got[("linkguard_partition_latest_offset", (("partition", "0"), ("topic", topic)))] == 30
    assert got[("linkguard_consumergroup_max_lag", (("group", sink_group),))] == 18
    assert 0 < got[("linkguard_consumergroup_lag_seconds", p0)] < 600  # produced moments ago
    assert got[("linkguard_consumergroup_lag_seconds", p1)] == 0
    assert got[("linkguard_lag_poll_success", ())] == 1
    assert not any(k[0] == "linkguard_consumergroup_lag" and ("group", kafka.app_id) in k[1] for k in got)
    for key, value in EXPECTED.items():
        assert got.get(key) == value, key
    assert ("process_resident_memory_bytes", ()) in got
    assert_no_personal_data(scrape(port))


@pytest.mark.integration
def test_sink_worker_serves_its_latency_histograms(kafka, database_url, started):
    """``linkguard sink`` with LINKGUARD_METRICS_PORT: every written verdict is one end-to-end observation."""
    names = topics.names(kafka)
    port = free_port()
    sink = started("sink", env=run_env(kafka, database_url, LINKGUARD_METRICS_PORT=str(port)))
    producer = KafkaProducer(bootstrap_servers=kafka.kafka_bootstrap, linger_ms=20)
    occurred = dt.datetime.now(dt.timezone.utc) - dt.timedelta(seconds=45)
    try:
        for i in range(12):
            record = event("shintai-techo", f"ST-{i}", i, occurred_at=occurred)
            outcome, topic = ("HOLD", names.held) if i % 4 == 0 else ("PASS", names.verified)
            value = codec.encode("verdict", verdict(outcome, record, i, ("IDENTITY_MISMATCH",) if outcome == "HOLD"
                                                    else ()))
            producer.send(topic, key=topics.record_key("shintai-techo", f"ST-{i}"), value=value)
        producer.send(names.dlq, value=b"not avro at all")
        producer.flush()
    finally:
        producer.close()

    def written(s: dict) -> bool:
        return (s.get(("linkguard_sink_messages_total", (("kind", "verified"),))) == 9
                and s.get(("linkguard_sink_messages_total", (("kind", "held"),))) == 3
                and s.get(("linkguard_sink_messages_total", (("kind", "dead_letter"),))) == 1)

    got = scrape_until(port, written, "the sink to write 13 messages", sink, timeout=180)
    assert got[("linkguard_end_to_end_latency_seconds_count", (("kind", "verified"),))] == 9
    assert got[("linkguard_end_to_end_latency_seconds_count", (("kind", "held"),))] == 3
    # every event occurred 45 s before it was published: none can be in the buckets below 30 s
    assert got[("linkguard_end_to_end_latency_seconds_bucket", (("kind", "verified"), ("le", "30.0")))] == 0
    assert got[("linkguard_end_to_end_latency_seconds_bucket", (("kind", "verified"), ("le", "+Inf")))] == 9
    assert got[("linkguard_end_to_end_latency_seconds_sum", (("kind", "verified"),))] >= 9 * 45
    assert got[("linkguard_sink_write_seconds_count", ())] >= 1
    engine = make_engine(database_url)
    try:
        counts = SinkWriter(engine).counts()
    finally:
        engine.dispose()
    assert (counts["copies"], counts["held_open"], counts["dead_letters"]) == (9, 3, 1)
    assert_no_personal_data(scrape(port))


def test_metrics_command_help_and_refusal_without_a_cluster(monkeypatch):
    from typer.testing import CliRunner

    from linkguard.cli.root import app

    runner = CliRunner()
    result = runner.invoke(app, ["metrics", "--help"])
    assert result.exit_code == 0 and "--port" in result.output
    monkeypatch.delenv("LINKGUARD_KAFKA_BOOTSTRAP", raising=False)
    result = runner.invoke(app, ["metrics", "--port", str(free_port())])
    assert result.exit_code == 2
    assert "LINKGUARD_KAFKA_BOOTSTRAP" in result.output and "--no-lag" in result.output


def test_a_system_code_carrying_a_number_is_other_on_the_dashboard(writer, monkeypatch):
    """Issue 12 item 9: `x` + a number became {system="x********1235"}: labels take catalogue codes only."""
    from prometheus_client import generate_latest

    hidden = "x" + NUMBERS[0]
    writer.apply("sink", [
        SinkMessage(topic="linkage.dlq", partition=0, offset=1, kind="dead_letter",
                    payload=letter(200, "UNKNOWN_SYSTEM", system=hidden, record_id="R-1")),
        SinkMessage(topic="linkage.dlq", partition=0, offset=2, kind="dead_letter",
                    payload=letter(201, "X" + NUMBERS[1], system="shintai-techo", record_id="R-2")),
    ])
    monkeypatch.delenv("LINKGUARD_METRICS_ADDR", raising=False)
    registry, _ = build_registry(engine=writer.engine, process=False)
    text = generate_latest(registry).decode()
    got = samples(text)
    assert got[("linkguard_records_checked_total", (("system", "other"), ("verdict", "INVALID")))] == 1
    assert got[("linkguard_records_checked_total", (("system", "shintai-techo"), ("verdict", "INVALID")))] == 1
    assert got[("linkguard_dead_letters_total", (("reason", "other"), ("stage", "guard")))] == 1
    assert all(not re.search(r"\d", value) for (_, labels) in got for _, value in labels
               if _ in ("system", "reason")), "no digits in a system or reason label"
    assert NUMBERS[0][-4:] not in "".join(v for (_, labels) in got for k, v in labels if k == "system")


def test_the_exporter_binds_loopback_unless_told_otherwise(monkeypatch):
    import inspect

    from linkguard.ops.metrics import MetricsSettings, serve

    monkeypatch.delenv("LINKGUARD_METRICS_ADDR", raising=False)
    assert MetricsSettings().metrics_addr == "127.0.0.1"
    assert inspect.signature(serve).parameters["addr"].default == "127.0.0.1"

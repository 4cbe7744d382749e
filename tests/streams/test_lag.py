"""Consumer lag: Burrow's rules on synthetic windows, and the figures on the real local broker."""

from __future__ import annotations

import json
import time
import uuid

import pytest
from kafka import KafkaConsumer, KafkaProducer, OffsetAndMetadata, TopicPartition
from typer.testing import CliRunner

from streams.lag import (LagMonitor, LagReader, Sample, Snapshot, Status, commit_rate, deployment_groups,
                         evaluate, read_lag)
from streams.settings import KafkaSettings
from streams.topics import ensure_topics, names


def window(*rows: tuple[float, int, int]) -> list[Sample]:
    return [Sample(t, c, e) for t, c, e in rows]


# ---------------------------------------------------------------- Burrow's rules, pure


class TestEvaluate:
    def test_ok_when_caught_up(self):
        assert evaluate(window((0, 100, 100), (10, 150, 150), (20, 200, 200))) is Status.OK

    def test_ok_when_lag_was_zero_anywhere_in_the_window(self):
        # rule 1 comes first: even a stalled-looking tail is OK if the window saw lag 0
        assert evaluate(window((0, 100, 100), (10, 100, 120), (20, 100, 130))) is Status.OK

    def test_ok_when_moving_and_lag_decreasing(self):
        assert evaluate(window((0, 100, 500), (10, 300, 550), (20, 500, 600))) is Status.OK

    def test_ok_when_lag_decreased_at_least_once(self):
        assert evaluate(window((0, 100, 500), (10, 300, 600), (20, 450, 700))) is Status.OK

    def test_warn_when_moving_but_lag_not_decreasing(self):
        assert evaluate(window((0, 100, 500), (10, 200, 600), (20, 300, 750))) is Status.WARN

    def test_warn_when_lag_is_flat_while_offsets_move(self):
        assert evaluate(window((0, 100, 150), (10, 200, 250), (20, 300, 350))) is Status.WARN

    def test_stall_when_offsets_do_not_move_with_lag(self):
        assert evaluate(window((0, 100, 150), (10, 100, 150), (20, 100, 170))) is Status.STALL

    def test_stall_when_a_live_consumer_owns_the_partition(self):
        assert evaluate(window((0, 100, 150), (10, 100, 150)), owned=True) is Status.STALL

    def test_stop_when_nobody_owns_the_partition_and_nothing_was_committed_in_the_window(self):
        assert evaluate(window((0, 100, 150), (10, 100, 150), (20, 100, 150)), owned=False) is Status.STOP

    def test_stop_when_silence_is_longer_than_the_commits_before_it(self):
        # commits moved for 10 s, then nothing for 20 s: now - last (20) > last - first (10)
        samples = window((0, 100, 400), (5, 150, 400), (10, 200, 400), (20, 200, 400), (30, 200, 400))
        assert evaluate(samples, owned=False) is Status.STOP

    def test_not_stopped_while_the_silence_is_shorter_than_the_activity(self):
        samples = window((0, 100, 400), (10, 150, 400), (20, 200, 400), (25, 200, 400))
        assert evaluate(samples, owned=False) is Status.OK  # lag decreased: an orderly, recent consumer
        assert evaluate(samples, owned=False, now=45) is Status.STOP  # ...until the silence outlasts it

    def test_rewind_when_committed_goes_backwards(self):
        assert evaluate(window((0, 100, 150), (10, 120, 160), (20, 40, 170))) is Status.REWIND

    def test_rewind_is_worse_than_stop(self):
        assert evaluate(window((0, 100, 150), (10, 40, 150)), owned=False) is Status.REWIND

    def test_rewind_hidden_when_lag_was_zero_in_the_window(self):  # Burrow's order: rule 1 first
        assert evaluate(window((0, 150, 150), (10, 40, 150))) is Status.OK

    def test_a_single_sample_cannot_show_a_trend(self):
        assert evaluate(window((0, 100, 150))) is Status.OK
        assert evaluate(window((0, 100, 150)), owned=False) is Status.OK
        assert evaluate([]) is Status.OK

    def test_lag_is_never_negative(self):
        # a committed offset above a (wrongly reported) end offset is lag 0, not -5
        assert Sample(0, 105, 100).lag == 0
        assert evaluate(window((0, 105, 100), (10, 105, 100))) is Status.OK

    def test_commit_rate(self):
        assert commit_rate(window((0, 100, 500), (2, 200, 500), (4, 300, 500))) == 50.0
        assert commit_rate(window((0, 100, 500))) is None
        assert commit_rate(window((0, 100, 500), (2, 50, 500))) is None  # rewind: no rate

    def test_severity_order_follows_burrow(self):
        assert [s.severity for s in (Status.OK, Status.WARN, Status.STOP, Status.STALL, Status.REWIND)] == \
            [0, 1, 2, 3, 4]


# ---------------------------------------------------------------- the sliding window, with a fake reader


class FakeReader:
    end_offsets_method = "fake"

    def __init__(self, snapshots, owners=None, oldest=None):
        self.snapshots = list(snapshots)
        self._owners = owners or {}
        self._oldest = oldest or {}
        self.asked_oldest = []

    def snapshot(self, groups):
        return self.snapshots.pop(0)

    def owners(self, groups):
        return {g: self._owners.get(g) for g in groups}

    def oldest_timestamps(self, positions):
        self.asked_oldest.append(dict(positions))
        return {tp: self._oldest[tp] for tp in positions if tp in self._oldest}


def snap(t, committed, end, group="g"):
    return Snapshot(time=t, found={group: True}, committed={group: dict(committed)}, end=dict(end))


def test_monitor_keeps_a_sliding_window_and_evaluates_it():
    tp = ("t", 0)
    reader = FakeReader([snap(0, {tp: 10}, {tp: 50}), snap(30, {tp: 10}, {tp: 50}),
                         snap(61, {tp: 20}, {tp: 60}), snap(70, {tp: 30}, {tp: 80})])
    monitor = LagMonitor(reader, ["g"], window=35)
    for _ in range(4):
        monitor.sample()
    report = monitor.report(timestamps=False)
    p = report.group("g").partitions[0]
    # samples at 0 and 30 left the window; 61 and 70 remain: moving, lag 40 -> 50, so WARN
    assert (p.committed, p.end, p.lag, p.samples, p.status) == (30, 80, 50, 2, Status.WARN)
    assert p.rate == pytest.approx(10 / 9)
    assert report.window_seconds == 9


def test_monitor_partition_without_a_commit_counts_from_the_log_start():
    tp0, tp1 = ("t", 0), ("t", 1)
    s = Snapshot(time=0, found={"g": True}, committed={"g": {tp0: 5, tp1: None}}, end={tp0: 5, tp1: 9},
                 start={tp1: 2})
    monitor = LagMonitor(FakeReader([s]), ["g"])
    monitor.sample()
    p0, p1 = monitor.report(timestamps=False).group("g").partitions
    assert (p0.lag, p0.lag_seconds) == (0, 0.0)
    assert (p1.committed, p1.end, p1.lag) == (None, 9, 7)


def test_monitor_lag_seconds_from_the_oldest_unconsumed_message_and_ownership():
    tp = ("t", 0)
    now = time.time()
    reader = FakeReader([snap(now - 2, {tp: 10}, {tp: 50}), snap(now, {tp: 10}, {tp: 50})],
                        owners={"g": set()}, oldest={tp: now - 42})
    monitor = LagMonitor(reader, ["g"])
    monitor.sample()
    monitor.sample()
    p = monitor.report().group("g").partitions[0]
    assert reader.asked_oldest == [{tp: 10}]  # the message at the committed offset
    assert 41 < p.lag_seconds < 60
    assert (p.owned, p.status) == (False, Status.STOP)


# ---------------------------------------------------------------- the real local broker


@pytest.fixture
def settings(local_broker):
    run = uuid.uuid4().hex[:8]
    s = KafkaSettings(kafka_bootstrap=local_broker.bootstrap, local_mode=True, topic_prefix=f"lag{run}.",
                      app_id=f"lag{run}", topic_partitions=2)
    ensure_topics(s)
    return s


SECRET = b"content-that-must-not-leak-"


def produce_batches(settings, topic, partition, batches):
    """Each entry of ``batches`` is sent as one multi-record batch (long linger, one flush)."""
    producer = KafkaProducer(bootstrap_servers=settings.kafka_bootstrap, linger_ms=500, batch_size=1 << 20)
    try:
        n = 0
        for size in batches:
            for _ in range(size):
                producer.send(topic, value=SECRET + str(n).encode(), partition=partition)
                n += 1
            producer.flush()
    finally:
        producer.close()


def commit(settings, group, offsets):
    """Consume exactly up to ``offsets`` (per partition) in ``group`` and commit there."""
    consumer = KafkaConsumer(bootstrap_servers=settings.kafka_bootstrap, group_id=group,
                             enable_auto_commit=False, auto_offset_reset="earliest")
    try:
        tps = [TopicPartition(t, p) for t, p in offsets]
        consumer.assign(tps)
        for tp in tps:
            consumer.seek_to_beginning(tp)
        seen = {tp: 0 for tp in tps}
        deadline = time.monotonic() + 20
        while any(seen[tp] < offsets[(tp.topic, tp.partition)] for tp in tps):
            assert time.monotonic() < deadline, f"consumed only {seen}"
            for tp, records in consumer.poll(timeout_ms=200).items():
                want = offsets[(tp.topic, tp.partition)]
                seen[tp] = max([seen[tp]] + [r.offset + 1 for r in records if r.offset < want])
                if seen[tp] >= want:
                    consumer.pause(tp)
        consumer.commit({tp: OffsetAndMetadata(offsets[(tp.topic, tp.partition)], "", -1) for tp in tps})
    finally:
        consumer.close()


def raw_end(settings, topic, partition):
    tp = TopicPartition(topic, partition)
    consumer = KafkaConsumer(bootstrap_servers=settings.kafka_bootstrap)
    try:
        return consumer.end_offsets([tp])[tp]
    finally:
        consumer.close()


@pytest.mark.integration
def test_committed_end_and_lag_are_exact_on_the_local_broker(settings):
    topic = names(settings).verified
    sink_group = deployment_groups(settings)[1]
    produce_batches(settings, topic, 0, [20, 20, 20])  # 60 records, newest batch holds 20
    produce_batches(settings, topic, 1, [15])
    commit(settings, sink_group, {(topic, 0): 35, (topic, 1): 15})

    reported = raw_end(settings, topic, 0)
    if reported != 60:
        print(f"local broker quirk seen: ListOffsets(latest) said {reported} for 60 records")

    report = read_lag(settings, samples=3, interval=0.3)
    sink = report.group(sink_group)
    assert sink.found
    by_partition = {(p.topic, p.partition): p for p in sink.partitions}
    p0, p1 = by_partition[(topic, 0)], by_partition[(topic, 1)]
    assert (p0.committed, p0.end, p0.lag) == (35, 60, 25)
    assert (p1.committed, p1.end, p1.lag) == (15, 15, 0)
    assert sink.lag == 25
    assert 0 <= p0.lag_seconds < 120  # the record at offset 35 was produced moments ago
    assert p1.lag_seconds == 0.0 and p1.status is Status.OK
    # nothing moves and the local broker cannot say who owns the partition: STALL
    assert (p0.owned, p0.status, p0.samples) == (None, Status.STALL, 3)
    assert sink.status is Status.STALL

    guard = report.group(settings.app_id)
    assert not guard.found and guard.partitions == ()


@pytest.mark.integration
def test_the_window_sees_progress_falling_behind_and_rewinds(settings):
    topic = names(settings).held
    group = f"{settings.app_id}-x"
    tp = (topic, 0)
    produce_batches(settings, topic, 0, [30, 30])
    commit(settings, group, {tp: 10})
    with LagReader(settings) as reader:
        monitor = LagMonitor(reader, [group], window=600)

        def status_after(*steps):
            for step in steps:
                step()
                monitor.sample()
            return monitor.report(ownership=False).group(group).partitions[0]

        p = status_after(lambda: None, lambda: commit(settings, group, {tp: 30}),
                         lambda: commit(settings, group, {tp: 50}))
        assert (p.committed, p.end, p.lag, p.status) == (50, 60, 10, Status.OK)
        assert p.rate > 0

        monitor = LagMonitor(reader, [group], window=600)
        def moved_5_while_20_arrived():
            produce_batches(settings, topic, 0, [20])
            commit(settings, group, {tp: 55})

        p = status_after(lambda: None, moved_5_while_20_arrived)
        assert (p.committed, p.end, p.lag, p.status) == (55, 80, 25, Status.WARN)

        p = status_after(lambda: commit(settings, group, {tp: 12}))
        assert (p.committed, p.lag, p.status) == (12, 68, Status.REWIND)


@pytest.mark.integration
def test_lag_command_json(settings, monkeypatch):
    from linkguard.cli.root import app

    topic = names(settings).dlq
    produce_batches(settings, topic, 0, [12, 12])
    commit(settings, f"{settings.app_id}-sink", {(topic, 0): 7})
    monkeypatch.setenv("LINKGUARD_KAFKA_BOOTSTRAP", settings.kafka_bootstrap)
    monkeypatch.setenv("LINKGUARD_LOCAL_MODE", "1")
    monkeypatch.setenv("LINKGUARD_APP_ID", settings.app_id)
    monkeypatch.setenv("LINKGUARD_TOPIC_PREFIX", settings.topic_prefix)

    result = CliRunner().invoke(app, ["lag", "--json", "--samples", "2", "--interval", "0.2"])
    assert result.exit_code == 1, result.output  # a stalled partition is not OK
    assert SECRET.decode() not in result.output
    data = json.loads(result.output)
    groups = {g["group"]: g for g in data["groups"]}
    assert set(groups) == {settings.app_id, f"{settings.app_id}-sink"}
    assert groups[settings.app_id]["found"] is False
    sink = groups[f"{settings.app_id}-sink"]
    assert (sink["status"], sink["lag"]) == ("STALL", 17)
    [p] = [p for p in sink["partitions"] if p["partition"] == 0]
    assert (p["topic"], p["committed"], p["end"], p["lag"], p["status"]) == (topic, 7, 24, 17, "STALL")
    assert p["lag_seconds"] >= 0 and p["samples"] == 2
    assert data["end_offsets"].startswith("fetch high watermark")

    monkeypatch.setenv("COLUMNS", "120")
    result = CliRunner().invoke(app, ["lag", "--group", f"{settings.app_id}-sink", "--samples", "2",
                                      "--interval", "0.1"])
    assert result.exit_code == 1, result.output
    assert topic in result.output and "17" in result.output


def test_lag_command_without_a_cluster(monkeypatch):
    from linkguard.cli.root import app

    monkeypatch.delenv("LINKGUARD_KAFKA_BOOTSTRAP", raising=False)
    result = CliRunner().invoke(app, ["lag", "--json"])
    assert result.exit_code == 2
    assert "LINKGUARD_KAFKA_BOOTSTRAP" in result.output


def test_ownership_from_describe_groups_and_unknown_where_the_broker_cannot_say():
    from kafka.protocol.consumer.metadata import ConsumerProtocolAssignment as Assignment

    from streams.lag import _assigned

    decoded = Assignment.decode(Assignment(
        assigned_partitions=[Assignment.TopicPartition(topic="t", partitions=[0, 2])], user_data=None,
        version=0).encode())
    assert _assigned(decoded) == [("t", [0, 2])]
    assert _assigned(decoded.to_dict()) == [("t", [0, 2])]

    class Admin:
        def __init__(self, answer):
            self.answer = answer

        def describe_groups(self, groups):
            if isinstance(self.answer, Exception):
                raise self.answer
            return self.answer

    reader = LagReader.__new__(LagReader)
    reader.admin = Admin({"g": {"error": None, "members": [{"member_assignment": decoded}]},
                          "empty": {"error": None, "members": []}})
    assert reader.owners(["g", "empty"]) == {"g": {("t", 0), ("t", 2)}, "empty": set()}
    reader.admin = Admin(ValueError("15 is not a valid ACLOperation"))  # what the local broker causes
    assert reader.owners(["g"]) == {"g": None}

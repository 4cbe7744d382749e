"""Consumer-group lag: committed and end offsets, lag in records and seconds, Burrow's status.

Three layers, each usable alone:

- :func:`evaluate` — Burrow's rules over a window of :class:`Sample` s, a pure
  function (no Kafka, no clock unless you pass ``now``).
- :class:`LagReader` — talks to Kafka with kafka-python's admin client: the
  groups of this deployment, their committed offsets, the end offsets (right on
  the local broker too), ownership of partitions where the broker can say, and
  the timestamp of the first unconsumed message.
- :class:`LagMonitor` — a sliding window of snapshots per partition, evaluated
  into a :class:`LagReport`; :func:`read_lag` takes a few samples over a short
  window for a single run.

**Order of reads.** Committed offsets are read before end offsets, so a
consumer committing between the two reads can never make lag negative on a
correct broker; lag is clamped at 0 anyway.

**End offsets.** ListOffsets(latest). On the local broker (``local_mode``) that
answer is the first offset of the newest batch + 1 when the batch holds
several records, so it is corrected from a fetch's high watermark by
:func:`streams.faust_fixes.tansu.true_end_offsets`. On Apache Kafka the answer is used as is.

**Lag in seconds** is the age of the oldest unconsumed message: now minus the
timestamp of the message at the committed offset (its CreateTime, or
LogAppendTime on topics configured so), read with one small fetch per lagging
partition. It is exact for "how long has the oldest waiting record waited",
does not need a history, and does not depend on the consumer's speed; it
assumes producer clocks are roughly right (it is clamped at 0). The
consumption ``rate`` over the window (records committed per second) is reported
beside it for anyone who wants the "time to drain" estimate, ``lag / rate``.

**Status, Burrow's rules on polled samples.** Burrow evaluates the offsets a
group *commits*, each with its commit time. Kafka does not tell a poller when
an offset was committed, only what it is, so here each sample of the window
stands for one commit, and the time of a commit is the first sample that saw
the offset. The rules, in Burrow's order (first match wins):

1. ``OK`` if the current lag is 0, or the lag was 0 in any sample of the window.
2. ``REWIND`` if the committed offset went backwards between two samples.
3. ``STOP`` if no live consumer owns the partition (known only where the
   broker describes groups: Apache Kafka; not the local broker) and the time
   since the last commit is longer than the span of commits before it
   (Burrow's rule: ``now - last > last - first``). With no commit in the whole
   window that always holds: no one is there to commit.
4. ``STALL`` if the committed offset is the same in every sample (at least two)
   while there is lag: a consumer holds the partition, or ownership is
   unknown, and does not move it (a poison message, a hung worker, a sink
   retrying a database that is away).
5. ``WARN`` if the lag never decreased between two consecutive samples (at
   least two): the consumer moves but does not keep up.

A single run (:func:`read_lag`) takes ``samples`` snapshots ``interval`` seconds
apart, so its window is ``(samples - 1) * interval`` seconds; sample for
longer than the consumers' commit interval (Faust: 2.8 s) or a healthy but
busy partition may look stalled. ``linkguard lag --watch`` keeps a sliding
window (default 60 s) and re-evaluates on every refresh.
"""

from __future__ import annotations

import enum
import logging
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Iterable, Mapping, Sequence

from kafka.admin import KafkaAdminClient

from streams.settings import KafkaSettings

log = logging.getLogger(__name__)

__all__ = [
    "committed_offsets", "Status", "Sample", "evaluate", "commit_rate", "PartitionLag", "GroupLag",
    "LagReport", "Snapshot", "LagReader", "LagMonitor", "read_lag", "deployment_groups",
]

TP = tuple[str, int]


def committed_offsets(settings: KafkaSettings, group: str) -> dict[tuple[str, int], int]:
    """Next offset to consume per (topic, partition) that ``group`` has committed."""
    admin = KafkaAdminClient(**settings.kafka_python_config())
    try:
        offsets = admin.list_group_offsets(group).get(group, {})
    finally:
        admin.close()
    return {(tp.topic, tp.partition): meta.offset for tp, meta in offsets.items() if meta.offset >= 0}


def topic_end_offsets(settings: KafkaSettings, topic_names: Iterable[str]) -> dict[tuple[str, int], int]:
    """Next offset to be written per (topic, partition) of ``topic_names`` (the local broker's
    answer corrected by :func:`streams.faust_fixes.tansu.true_end_offsets`)."""
    from kafka import KafkaConsumer, TopicPartition

    from streams.faust_fixes.tansu import true_end_offsets

    consumer = KafkaConsumer(**settings.kafka_python_config(), group_id=None)
    try:
        tps = [TopicPartition(t, p) for t in topic_names for p in sorted(consumer.partitions_for_topic(t) or ())]
        ends = {(tp.topic, tp.partition): end for tp, end in consumer.end_offsets(tps).items()}
    finally:
        consumer.close()
    return true_end_offsets(settings, ends) if settings.local_mode else ends


def uncommitted(settings: KafkaSettings, group: str, topic_names: Iterable[str]) -> int:
    """Messages of ``topic_names`` that ``group`` has not committed past yet."""
    committed = committed_offsets(settings, group)
    return sum(max(0, end - committed.get(tp, 0)) for tp, end in topic_end_offsets(settings, topic_names).items())


def deployment_groups(settings: KafkaSettings) -> list[str]:
    """The consumer groups of this deployment: the guard's and the sink's."""
    return [settings.app_id, f"{settings.app_id}-sink"]


# ---------------------------------------------------------------- pure evaluation


class Status(str, enum.Enum):
    """Burrow's partition statuses, in Burrow's order of severity."""

    OK = "OK"
    WARN = "WARN"
    STOP = "STOP"
    STALL = "STALL"
    REWIND = "REWIND"

    @property
    def severity(self) -> int:
        return list(Status).index(self)


@dataclass(frozen=True)
class Sample:
    """One look at a partition: when (seconds), the committed offset, the end offset."""

    time: float
    committed: int
    end: int

    @property
    def lag(self) -> int:
        """Records not yet consumed; never negative."""
        return max(0, self.end - self.committed)


def evaluate(samples: Sequence[Sample], *, now: float | None = None, owned: bool | None = None) -> Status:
    """Burrow's status of one partition over a window of samples (oldest first).

    ``owned``: whether a live group member holds the partition (None: unknown).
    ``now`` defaults to the time of the newest sample.

    >>> s = lambda t, c, e: Sample(t, c, e)
    >>> evaluate([s(0, 10, 20), s(5, 20, 20)]).value            # caught up
    'OK'
    >>> evaluate([s(0, 10, 30), s(5, 15, 40), s(10, 20, 50)]).value  # moving, falling behind
    'WARN'
    >>> evaluate([s(0, 10, 30), s(5, 10, 30)]).value             # not moving, with lag
    'STALL'
    >>> evaluate([s(0, 10, 30), s(5, 10, 30)], owned=False).value  # and nobody to move it
    'STOP'
    >>> evaluate([s(0, 10, 30), s(5, 4, 30)]).value              # went backwards
    'REWIND'
    """
    if not samples:
        return Status.OK
    if samples[-1].lag == 0 or any(x.lag == 0 for x in samples):
        return Status.OK
    pairs = list(zip(samples, samples[1:]))
    if any(b.committed < a.committed for a, b in pairs):
        return Status.REWIND
    if owned is False:
        now = samples[-1].time if now is None else now
        first = samples[0].time
        last = next(x.time for x in samples if x.committed == samples[-1].committed)
        if now - last > last - first:
            return Status.STOP
    if pairs and all(b.committed == a.committed for a, b in pairs):
        return Status.STALL
    if pairs and all(b.lag >= a.lag for a, b in pairs):
        return Status.WARN
    return Status.OK


def commit_rate(samples: Sequence[Sample]) -> float | None:
    """Records committed per second over the window (None: no span, or a rewind).

    >>> commit_rate([Sample(0, 100, 500), Sample(4, 300, 600)])
    50.0
    """
    if len(samples) < 2 or samples[-1].time <= samples[0].time:
        return None
    if any(b.committed < a.committed for a, b in zip(samples, samples[1:])):
        return None
    return (samples[-1].committed - samples[0].committed) / (samples[-1].time - samples[0].time)


# ---------------------------------------------------------------- results


@dataclass(frozen=True)
class PartitionLag:
    topic: str
    partition: int
    committed: int | None  # None: the group has no committed offset for this partition
    end: int
    lag: int
    lag_seconds: float | None  # None: the oldest unconsumed message could not be read
    rate: float | None
    status: Status
    owned: bool | None
    samples: int

    def to_dict(self) -> dict:
        return {"topic": self.topic, "partition": self.partition, "committed": self.committed,
                "end": self.end, "lag": self.lag,
                "lag_seconds": None if self.lag_seconds is None else round(self.lag_seconds, 3),
                "rate": None if self.rate is None else round(self.rate, 3),
                "status": self.status.value, "owned": self.owned, "samples": self.samples}


@dataclass(frozen=True)
class GroupLag:
    group: str
    found: bool  # the cluster knows the group (list_groups) or it has committed offsets
    partitions: tuple[PartitionLag, ...]

    @property
    def lag(self) -> int:
        return sum(p.lag for p in self.partitions)

    @property
    def status(self) -> Status:
        return max((p.status for p in self.partitions), key=lambda s: s.severity, default=Status.OK)

    @property
    def lag_seconds(self) -> float | None:
        values = [p.lag_seconds for p in self.partitions if p.lag_seconds is not None]
        return max(values) if values else None

    def to_dict(self) -> dict:
        return {"group": self.group, "found": self.found, "status": self.status.value, "lag": self.lag,
                "lag_seconds": None if self.lag_seconds is None else round(self.lag_seconds, 3),
                "partitions": [p.to_dict() for p in self.partitions]}


@dataclass(frozen=True)
class LagReport:
    time: float  # epoch seconds of the newest sample
    window_seconds: float
    end_offsets: str  # how end offsets were read
    groups: tuple[GroupLag, ...]

    def group(self, name: str) -> GroupLag:
        return next(g for g in self.groups if g.group == name)

    def to_dict(self) -> dict:
        import datetime as dt

        return {"time": dt.datetime.fromtimestamp(self.time, dt.timezone.utc).isoformat(timespec="seconds"),
                "window_seconds": round(self.window_seconds, 3), "end_offsets": self.end_offsets,
                "groups": [g.to_dict() for g in self.groups]}


# ---------------------------------------------------------------- Kafka


@dataclass
class Snapshot:
    """Committed and end offsets of some groups, read at one moment."""

    time: float
    found: dict[str, bool]
    committed: dict[str, dict[TP, int | None]]  # group -> partition -> committed (None: none yet)
    end: dict[TP, int]
    start: dict[TP, int] = field(default_factory=dict)  # log start, for partitions without a commit


class LagReader:
    """Reads offsets with one kafka-python admin client; close it (or use ``with``)."""

    def __init__(self, settings: KafkaSettings, *, timestamp_timeout: float = 5.0) -> None:
        self.settings = settings
        self.timestamp_timeout = timestamp_timeout
        self.admin = KafkaAdminClient(**settings.kafka_python_config())

    def __enter__(self) -> "LagReader":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        self.admin.close()

    @property
    def end_offsets_method(self) -> str:
        return ("fetch high watermark (local broker: ListOffsets(latest) is wrong after multi-record batches)"
                if self.settings.local_mode else "ListOffsets(latest)")

    def snapshot(self, groups: Sequence[str]) -> Snapshot:
        """Committed offsets of ``groups`` (first), then end offsets of every partition of their topics."""
        from kafka import TopicPartition

        known = {g["group_id"] if isinstance(g, dict) else g[0] for g in self.admin.list_groups()}
        committed: dict[str, dict[TP, int | None]] = {}
        found: dict[str, bool] = {}
        for group in groups:
            offsets = self.admin.list_group_offsets(group).get(group, {})
            committed[group] = {(tp.topic, tp.partition): meta.offset
                                for tp, meta in offsets.items() if meta.offset >= 0}
            found[group] = group in known or bool(committed[group])
        now = time.time()
        topics = sorted({t for offsets in committed.values() for t, _ in offsets})
        partitions = self._partitions(topics)
        for group, offsets in committed.items():  # a partition of a consumed topic with no commit yet
            consumed = {t for t, _ in offsets}
            for tp in partitions:
                if tp[0] in consumed:
                    offsets.setdefault(tp, None)
        end: dict[TP, int] = {}
        start: dict[TP, int] = {}
        if partitions:
            tps = [TopicPartition(t, p) for t, p in partitions]
            end = self._list_offsets(tps, latest=True)
            if self.settings.local_mode:
                from streams.faust_fixes.tansu import true_end_offsets

                end = true_end_offsets(self.settings, end)
            if any(None in (o.values()) for o in committed.values()):
                start = self._list_offsets(tps, latest=False)
        return Snapshot(now, found, committed, end, start)

    def _partitions(self, topics: Sequence[str]) -> list[TP]:
        if not topics:
            return []
        result = []
        for topic in self.admin.describe_topics(list(topics)):
            for p in topic.get("partitions", []):
                result.append((topic["name"], p["partition_index"]))
        return sorted(result)

    def _list_offsets(self, tps, *, latest: bool) -> dict[TP, int]:
        from kafka.admin import OffsetSpec

        spec = OffsetSpec.LATEST if latest else OffsetSpec.EARLIEST
        answer = self.admin.list_partition_offsets({tp: spec for tp in tps})
        return {(tp.topic, tp.partition): meta.offset for tp, meta in answer.items()}

    def owners(self, groups: Sequence[str]) -> dict[str, set[TP] | None]:
        """Partitions held by a live member of each group; None where the broker cannot say.

        DescribeGroups answers on Apache Kafka; the local broker's answer cannot
        be parsed by kafka-python, so ownership is unknown there.
        """
        result: dict[str, set[TP] | None] = {g: None for g in groups}
        try:
            described = self.admin.describe_groups(list(groups))
        except Exception as e:  # noqa: BLE001 - ownership is optional information
            log.debug("describe_groups failed: %s", e)
            return result
        for group in groups:
            try:
                info = described[group]
                if info.get("error"):
                    continue
                owned: set[TP] = set()
                for member in info.get("members", []):
                    assignment = member.get("member_assignment")
                    for topic, partitions in _assigned(assignment):
                        owned.update((topic, p) for p in partitions)
                result[group] = owned
            except Exception as e:  # noqa: BLE001
                log.debug("could not read the assignment of %s: %s", group, e)
        return result

    def oldest_timestamps(self, positions: Mapping[TP, int]) -> dict[TP, float]:
        """Epoch seconds of the message at each position (the first unconsumed one)."""
        from kafka import KafkaConsumer, TopicPartition

        if not positions:
            return {}
        consumer = KafkaConsumer(**self.settings.kafka_python_config(), group_id=None,
                                 enable_auto_commit=False, auto_offset_reset="earliest",
                                 fetch_max_wait_ms=100, max_partition_fetch_bytes=256 * 1024)
        found: dict[TP, float] = {}
        try:
            consumer.assign([TopicPartition(t, p) for t, p in positions])
            for (t, p), offset in positions.items():
                consumer.seek(TopicPartition(t, p), offset)
            deadline = time.monotonic() + self.timestamp_timeout
            while len(found) < len(positions) and time.monotonic() < deadline:
                for tp, records in consumer.poll(timeout_ms=200).items():
                    key = (tp.topic, tp.partition)
                    if key in found or not records:
                        continue
                    consumer.pause(tp)  # one message per partition is all we need
                    if records[0].timestamp is not None and records[0].timestamp >= 0:
                        found[key] = records[0].timestamp / 1000
        finally:
            consumer.close()
        return found


def _assigned(assignment) -> Iterable[tuple[str, Sequence[int]]]:
    """(topic, partitions) pairs of a decoded ConsumerProtocolAssignment (object or dict)."""
    if not assignment:
        return []
    if isinstance(assignment, dict):
        items = assignment.get("assigned_partitions") or assignment.get("partitions") or []
    else:
        items = getattr(assignment, "assigned_partitions", None) or getattr(assignment, "assignment", None) or []
    result = []
    for item in items:
        if isinstance(item, dict):
            result.append((item["topic"], item["partitions"]))
        elif hasattr(item, "topic"):
            result.append((item.topic, item.partitions))
        else:
            result.append((item[0], item[1]))
    return result


class LagMonitor:
    """A sliding window of samples per (group, topic, partition), evaluated on demand."""

    def __init__(self, reader: LagReader, groups: Sequence[str], *, window: float = 60.0) -> None:
        self.reader = reader
        self.groups = list(groups)
        self.window = window
        self._samples: dict[tuple[str, str, int], deque[Sample]] = {}
        self._found: dict[str, bool] = {}
        self._last: Snapshot | None = None

    def sample(self) -> Snapshot:
        snap = self.reader.snapshot(self.groups)
        self.add(snap)
        return snap

    def add(self, snap: Snapshot) -> None:
        self._found = snap.found
        self._last = snap
        for group, offsets in snap.committed.items():
            for tp, committed in offsets.items():
                if tp not in snap.end:
                    continue
                position = committed if committed is not None else snap.start.get(tp, 0)
                window = self._samples.setdefault((group, *tp), deque())
                window.append(Sample(snap.time, position, max(snap.end[tp], position)))
                while len(window) > 1 and window[0].time < snap.time - self.window:
                    window.popleft()

    def report(self, *, timestamps: bool = True, ownership: bool = True) -> LagReport:
        snap = self._last
        if snap is None:
            raise RuntimeError("no sample taken yet")
        owners = self.reader.owners(self.groups) if ownership else {g: None for g in self.groups}
        groups = []
        for group in self.groups:
            lagging = {(t, p): w[-1].committed for (g, t, p), w in self._samples.items()
                       if g == group and w[-1].lag > 0 and (t, p) in snap.committed.get(group, {})}
            oldest = self.reader.oldest_timestamps(lagging) if timestamps else {}
            read_at = time.time()
            partitions = []
            for tp, committed in sorted(snap.committed.get(group, {}).items()):
                window = self._samples.get((group, *tp))
                if not window:
                    continue
                owned_set = owners.get(group)
                owned = None if owned_set is None else tp in owned_set
                latest = window[-1]
                lag_seconds = None
                if latest.lag == 0:
                    lag_seconds = 0.0
                elif tp in oldest:
                    lag_seconds = max(0.0, read_at - oldest[tp])
                partitions.append(PartitionLag(
                    topic=tp[0], partition=tp[1], committed=committed, end=latest.end, lag=latest.lag,
                    lag_seconds=lag_seconds, rate=commit_rate(list(window)),
                    status=evaluate(list(window), now=snap.time, owned=owned), owned=owned,
                    samples=len(window)))
            groups.append(GroupLag(group, self._found.get(group, False), tuple(partitions)))
        spans = [w[-1].time - w[0].time for w in self._samples.values()]
        return LagReport(snap.time, max(spans, default=0.0), self.reader.end_offsets_method, tuple(groups))


def read_lag(settings: KafkaSettings, groups: Sequence[str] | None = None, *, samples: int = 3,
             interval: float = 2.0, timestamps: bool = True) -> LagReport:
    """A single run: ``samples`` snapshots ``interval`` seconds apart, evaluated as one window."""
    groups = list(groups) if groups else deployment_groups(settings)
    with LagReader(settings) as reader:
        monitor = LagMonitor(reader, groups, window=max(1, samples) * interval + 60)
        for i in range(max(1, samples)):
            if i:
                time.sleep(interval)
            monitor.sample()
        return monitor.report(timestamps=timestamps)

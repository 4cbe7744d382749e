"""Prometheus metrics: consumer lag, the guard's totals, the review queue, dead letters, sink latency.

Three sources, each a collector on a :class:`prometheus_client.CollectorRegistry`:

- :class:`LagCollector` — consumer-group lag in the kafka-lag-exporter/KMinion
  style (``linkguard_consumergroup_lag{group,topic,partition}``, ``…_lag_seconds``,
  committed and latest offsets, Burrow's status), read with :mod:`streams.lag`
  by a background thread every ``interval`` seconds into a sliding window; a
  scrape only formats the newest report, so it is cheap and never blocks on Kafka.
- :class:`DatabaseCollector` — totals that must survive restarts and be exact,
  read from the sink database at scrape time with a few aggregate queries:
  records checked per system and verdict, held records per reason, the review
  queue (depth, age of the oldest open hold), dead letters per reason and stage.
- :class:`SinkMetrics` — in-process histograms of the sink worker: seconds to
  write one consumed batch, and end-to-end latency (the event's ``occurred_at``
  → its sink row committed).

Exposed three ways: ``linkguard metrics --port`` (lag + database, one exporter
per deployment), the sink worker's own ``/metrics`` on ``LINKGUARD_METRICS_PORT``
(its histograms, per replica), and :func:`make_metrics_app` (ASGI, for the web app).

**No personal data in labels.** Label values are system codes, reason codes,
stages, consumer groups, topics and partitions only; every value taken from
the database goes through :func:`label` first, which lets through only codes
of the process catalogue and known reason codes and replaces anything else
with ``other``, so a malformed row can never put a number or a name on a
dashboard. The servers bind 127.0.0.1 unless ``LINKGUARD_METRICS_ADDR`` says
otherwise (the compose file sets 0.0.0.0 inside its network).
"""

from __future__ import annotations

import datetime as dt
import logging
import re
import signal
import threading
import time
from collections import Counter
from collections.abc import Collection, Iterable, Iterator, Sequence
from typing import Any

from prometheus_client import CollectorRegistry, Counter as PromCounter, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.platform_collector import PlatformCollector
from prometheus_client.process_collector import ProcessCollector
from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict
from sqlalchemy import Engine, func, select

from guards.model import Reason
from sinks.models import DeadLetter, HeldRecord, IntermediateCopy

log = logging.getLogger(__name__)

__all__ = [
    "MetricsSettings", "label", "catalogue_codes", "KNOWN_REASONS", "LagCollector", "DatabaseCollector", "SinkMetrics", "build_registry",
    "make_metrics_app", "serve", "metric_names", "DEFAULT_PORT",
]

DEFAULT_PORT = 9464  # OpenTelemetry's Prometheus exporter port: free in every usual layout
#: end-to-end latency buckets: a healthy pipeline is seconds; a backlog or an outage is minutes to hours
LATENCY_BUCKETS = (0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800, 3600, 4 * 3600)
#: one batch write: milliseconds normally, up to the retry policy's 90 s during a database outage
WRITE_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 90)


class MetricsSettings(BaseSettings):
    """Where metrics are served and how often lag is read (environment prefix ``LINKGUARD_``)."""

    model_config = SettingsConfigDict(env_prefix="LINKGUARD_", extra="ignore")

    metrics_port: int | None = Field(
        None, ge=1, le=65535,
        description="the sink worker serves /metrics on this port when set; default port of `linkguard metrics`")
    metrics_addr: str = Field("127.0.0.1", description="address the /metrics servers bind to (0.0.0.0 for "
                                                       "a Prometheus on another host or container)")
    metrics_lag_interval: float = Field(15.0, gt=0, description="seconds between two lag samples of the exporter")
    metrics_lag_window: float = Field(300.0, gt=0, description="Burrow's sliding window of the exporter, seconds")


# ---------------------------------------------------------------- label hygiene

#: reason codes a dead letter or a hold may carry: the guard's, and the sink's own refusals
KNOWN_REASONS = frozenset({r.value for r in Reason} | {"OUTCOME_MISMATCH", "UNAPPROVED_RELEASE", "SINK_REFUSED"})
_STAGE_SHAPE = re.compile(r"[a-z][a-z_]{0,31}")  # no digits: a stage can never carry a number


def catalogue_codes() -> frozenset[str]:
    """The process codes of the deployment's catalogue: the only system label values."""
    from linkguard.catalogue import load_catalogue

    return frozenset(process.code for process in load_catalogue())


def label(kind: str, value: str | None, systems: Collection[str] | None = None) -> str:
    """A label value from the database, or ``other`` unless it is a known code.

    A system label is a code of the process catalogue (``systems``; the
    deployment's catalogue when not given), a reason label one or more known
    reason codes: an event whose system code carries a number becomes an
    UNKNOWN_SYSTEM dead letter, and its code must never reach a dashboard.

    >>> label("system", "shintai-techo", {"shintai-techo"}), label("reason", "BAD_DATE;BAD_SEX")
    ('shintai-techo', 'BAD_DATE;BAD_SEX')
    >>> label("system", "x621498320257", {"shintai-techo"}), label("system", "zz-new", {"shintai-techo"})
    ('other', 'other')
    >>> label("system", "山田 花子", set()), label("reason", "X621498320257"), label("stage", "sink1")
    ('other', 'other', 'other')
    """
    value = value or ""
    if kind == "system":
        return value if value in (catalogue_codes() if systems is None else systems) else "other"
    if kind == "reason":
        parts = value.split(";")
        return value if len(parts) <= 8 and all(p in KNOWN_REASONS for p in parts) else "other"
    return value if _STAGE_SHAPE.fullmatch(value) else "other"


# ---------------------------------------------------------------- lag


class LagCollector:
    """Consumer lag of this deployment's groups, sampled by a background thread.

    :meth:`poll` takes one sample (committed offsets, end offsets right on the
    local broker too, the oldest unconsumed timestamps) into a
    :class:`streams.lag.LagMonitor` window; :meth:`start` polls every
    ``interval`` seconds until :meth:`stop`. A failed poll (broker away) keeps
    the window, reports ``linkguard_lag_poll_success 0`` and reconnects next time.
    """

    def __init__(self, settings: Any, groups: Sequence[str] | None = None, *, interval: float = 15.0,
                 window: float = 300.0) -> None:
        from streams.lag import deployment_groups

        self.settings = settings
        self.groups = list(groups) if groups else deployment_groups(settings)
        self.interval = interval
        self.window = window
        self._monitor: Any = None
        self._report: Any = None
        self._success = False
        self._polled_at = 0.0
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def poll(self) -> bool:
        """One sample and report; whether it succeeded. Never raises (a scrape must answer)."""
        from streams.lag import LagMonitor, LagReader

        try:
            if self._monitor is None:
                self._monitor = LagMonitor(LagReader(self.settings), self.groups, window=self.window)
            self._monitor.sample()
            report = self._monitor.report()
        except Exception as e:  # noqa: BLE001 - Kafka away, or a metadata error: report it, try again
            log.warning("could not read consumer lag: %s: %s", type(e).__name__, e)
            self._reconnect()
            with self._lock:
                self._success = False
            return False
        with self._lock:
            self._report, self._success, self._polled_at = report, True, time.time()
        return True

    def _reconnect(self) -> None:
        from streams.lag import LagReader

        if self._monitor is None:
            return
        try:
            self._monitor.reader.close()
        except Exception:  # noqa: BLE001 - it is being replaced anyway
            pass
        try:
            self._monitor.reader = LagReader(self.settings)  # keep the window, replace the connection
        except Exception as e:  # noqa: BLE001
            log.debug("lag reader not reconnected yet: %s", type(e).__name__)
            self._monitor = None

    def start(self) -> "LagCollector":
        def run() -> None:
            while not self._stop.is_set():
                self.poll()
                self._stop.wait(self.interval)

        self._thread = threading.Thread(target=run, name="lag-poller", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread:
            self._thread.join(timeout=self.interval + 30)
        if self._monitor is not None:
            self._monitor.reader.close()

    def describe(self) -> Iterable[Metric]:
        return list(self._families(None))

    def collect(self) -> Iterable[Metric]:
        with self._lock:
            report, success, polled_at = self._report, self._success, self._polled_at
        return list(self._families(report, success, polled_at))

    def _families(self, report: Any, success: bool = False, polled_at: float = 0.0) -> Iterator[Metric]:
        from streams.lag import Status

        gpt = ["group", "topic", "partition"]
        lag = GaugeMetricFamily("linkguard_consumergroup_lag",
                                "Records not yet consumed by the group (end offset - committed offset)", labels=gpt)
        lag_seconds = GaugeMetricFamily(
            "linkguard_consumergroup_lag_seconds",
            "Age of the oldest record the group has not consumed yet (0 when caught up)", labels=gpt)
        committed = GaugeMetricFamily("linkguard_consumergroup_offset",
                                      "Offset the group has committed (next record to consume)", labels=gpt)
        latest = GaugeMetricFamily("linkguard_partition_latest_offset",
                                   "End offset of the partition (next offset to be written)",
                                   labels=["topic", "partition"])
        max_lag = GaugeMetricFamily("linkguard_consumergroup_max_lag", "Largest partition lag of the group",
                                    labels=["group"])
        max_lag_seconds = GaugeMetricFamily("linkguard_consumergroup_max_lag_seconds",
                                            "Largest partition lag of the group, in seconds", labels=["group"])
        status = GaugeMetricFamily(
            "linkguard_consumergroup_status",
            "Burrow's status of the group over the exporter's window (1 for the current status)",
            labels=["group", "status"])
        partition_status = GaugeMetricFamily(
            "linkguard_consumergroup_partition_status",
            "Burrow's status per partition: 0 OK, 1 WARN, 2 STOP, 3 STALL, 4 REWIND", labels=gpt)
        up = GaugeMetricFamily("linkguard_lag_poll_success", "1 when the last lag poll reached the cluster")
        polled = GaugeMetricFamily("linkguard_lag_poll_timestamp_seconds",
                                   "When lag was last read successfully (epoch seconds)")
        if report is not None:
            seen_end: set[tuple[str, int]] = set()
            for group in report.groups:
                for p in group.partitions:
                    values = [group.group, p.topic, str(p.partition)]
                    lag.add_metric(values, p.lag)
                    if p.lag_seconds is not None:
                        lag_seconds.add_metric(values, p.lag_seconds)
                    if p.committed is not None:
                        committed.add_metric(values, p.committed)
                    partition_status.add_metric(values, p.status.severity)
                    if (p.topic, p.partition) not in seen_end:
                        seen_end.add((p.topic, p.partition))
                        latest.add_metric([p.topic, str(p.partition)], p.end)
                if group.found:
                    max_lag.add_metric([group.group], max((p.lag for p in group.partitions), default=0))
                    if group.lag_seconds is not None or not group.partitions:
                        max_lag_seconds.add_metric([group.group], group.lag_seconds or 0.0)
                    for s in Status:
                        status.add_metric([group.group, s.value], 1.0 if group.status is s else 0.0)
        up.add_metric([], 1.0 if success else 0.0)
        if polled_at:
            polled.add_metric([], polled_at)
        yield from (lag, lag_seconds, committed, latest, max_lag, max_lag_seconds, status, partition_status,
                    up, polled)


# ---------------------------------------------------------------- database


_COPIES = IntermediateCopy.__table__
_HELD = HeldRecord.__table__
_DEAD = DeadLetter.__table__


class DatabaseCollector:
    """Totals from the sink database, read at scrape time (exact, and they survive restarts).

    - ``linkguard_records_checked_total{system,verdict}``: PASS = records with an
      intermediate-server copy (live or withdrawn), HOLD = records in the review
      store (whatever their review status), INVALID = events dead-lettered by the
      guard as unusable. The sink keeps one row per record, so PASS and HOLD count
      records, not redeliveries; a record held and later released counts in both.
    - ``linkguard_held_total{reason}``: held records per reason code (a record
      with two codes counts for both), open or resolved.
    - ``linkguard_review_queue_depth{system}`` and
      ``linkguard_review_queue_oldest_age_seconds{system}``: the open holds.
    - ``linkguard_dead_letters_total{reason,stage}`` and
      ``linkguard_dead_letters_waiting{reason,stage}`` (not replayed yet).
    - ``linkguard_intermediate_copies{system,state}``: live and withdrawn copies.

    Each is one GROUP BY over an indexed table; the held records' reason lists
    are tallied here, as :meth:`sinks.SinkWriter.held_by_reason` does, because
    SQLite and PostgreSQL store JSON differently. A failed query answers
    ``linkguard_database_up 0`` instead of failing the scrape.
    """

    def __init__(self, engine: Engine, *, clock: Any = None, systems: Collection[str] | None = None) -> None:
        self.engine = engine
        self._clock = clock or (lambda: dt.datetime.now(dt.timezone.utc))
        #: the process catalogue's codes: the only system label values (anything else is ``other``)
        self.systems = frozenset(catalogue_codes() if systems is None else systems)

    def describe(self) -> Iterable[Metric]:
        return list(self._families(None))

    def collect(self) -> Iterable[Metric]:
        started = time.perf_counter()
        try:
            data = self.read()
        except Exception as e:  # noqa: BLE001 - the database is away: say so, do not fail the scrape
            from sinks import db_error_text  # its text never carries row values

            log.warning("metrics could not read the sink database: %s", db_error_text(e))
            data = None
        families = list(self._families(data))
        duration = GaugeMetricFamily("linkguard_database_collect_seconds",
                                     "Seconds the database queries of this scrape took")
        duration.add_metric([], time.perf_counter() - started)
        return families + [duration]

    def read(self) -> dict[str, Any]:
        """The aggregates, as plain dicts keyed by label tuples."""
        now = self._clock()
        checked: Counter[tuple[str, str]] = Counter()
        copies: Counter[tuple[str, str]] = Counter()
        held: Counter[str] = Counter()
        depth: Counter[str] = Counter()
        oldest: dict[str, float] = {}
        dead: Counter[tuple[str, str]] = Counter()
        waiting: Counter[tuple[str, str]] = Counter()
        withdrawn = _COPIES.c.withdrawn_at.is_not(None)
        with self.engine.connect() as conn:
            for system, is_withdrawn, n in conn.execute(
                    select(_COPIES.c.system, withdrawn, func.count()).group_by(_COPIES.c.system, withdrawn)):
                system = label("system", system, self.systems)
                checked[(system, "PASS")] += n
                copies[(system, "withdrawn" if is_withdrawn else "live")] += n
            for system, n in conn.execute(select(_HELD.c.system, func.count()).group_by(_HELD.c.system)):
                checked[(label("system", system, self.systems), "HOLD")] += n
            for system, n in conn.execute(
                    select(_DEAD.c.system, func.count())
                    .where(_DEAD.c.stage == "guard", _DEAD.c.system != "").group_by(_DEAD.c.system)):
                checked[(label("system", system, self.systems), "INVALID")] += n
            for reasons in conn.execute(select(_HELD.c.reasons)).scalars():
                held.update({label("reason", r.get("code")) for r in reasons or ()})
            for system, n, first in conn.execute(
                    select(_HELD.c.system, func.count(), func.min(_HELD.c.held_at))
                    .where(_HELD.c.status == "open").group_by(_HELD.c.system)):
                system = label("system", system, self.systems)
                depth[system] += n
                if first is not None:
                    age = max(0.0, (now - first).total_seconds())
                    oldest[system] = max(oldest.get(system, 0.0), age)
            not_replayed = _DEAD.c.replayed_at.is_(None)
            for reason, stage, is_waiting, n in conn.execute(
                    select(_DEAD.c.reason, _DEAD.c.stage, not_replayed, func.count())
                    .group_by(_DEAD.c.reason, _DEAD.c.stage, not_replayed)):
                key = (label("reason", reason), label("stage", stage))
                dead[key] += n
                if is_waiting:
                    waiting[key] += n
        return {"checked": checked, "copies": copies, "held": held, "depth": depth, "oldest": oldest,
                "dead": dead, "waiting": waiting}

    def _families(self, data: dict[str, Any] | None) -> Iterator[Metric]:
        up = GaugeMetricFamily("linkguard_database_up", "1 when the sink database answered this scrape")
        up.add_metric([], 0.0 if data is None else 1.0)
        checked = CounterMetricFamily(
            "linkguard_records_checked",
            "Records with a verdict, per system and verdict (PASS: copies, HOLD: review store, "
            "INVALID: dead-lettered by the guard)", labels=["system", "verdict"])
        held = CounterMetricFamily("linkguard_held", "Held records per reason code, open or resolved",
                                   labels=["reason"])
        depth = GaugeMetricFamily("linkguard_review_queue_depth", "Open holds waiting for a reviewer",
                                  labels=["system"])
        oldest = GaugeMetricFamily("linkguard_review_queue_oldest_age_seconds",
                                   "Age of the oldest open hold", labels=["system"])
        dead = CounterMetricFamily("linkguard_dead_letters", "Dead letters per reason and stage",
                                   labels=["reason", "stage"])
        waiting = GaugeMetricFamily("linkguard_dead_letters_waiting", "Dead letters not replayed yet",
                                    labels=["reason", "stage"])
        copies = GaugeMetricFamily("linkguard_intermediate_copies",
                                   "Intermediate-server copies per system, live or withdrawn",
                                   labels=["system", "state"])
        if data is not None:
            for (system, verdict), n in sorted(data["checked"].items()):
                checked.add_metric([system, verdict], n)
            for reason, n in sorted(data["held"].items()):
                held.add_metric([reason], n)
            for system, n in sorted(data["depth"].items()):
                depth.add_metric([system], n)
            for system, age in sorted(data["oldest"].items()):
                oldest.add_metric([system], age)
            for (reason, stage), n in sorted(data["dead"].items()):
                dead.add_metric([reason, stage], n)
            for (reason, stage), n in sorted(data["waiting"].items()):
                waiting.add_metric([reason, stage], n)
            for (system, state), n in sorted(data["copies"].items()):
                copies.add_metric([system, state], n)
        yield from (up, checked, held, depth, oldest, dead, waiting, copies)


# ---------------------------------------------------------------- the sink worker's own


class SinkMetrics:
    """The sink worker's in-process metrics (one set per replica; Prometheus sums them)."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.write_seconds = Histogram(
            "linkguard_sink_write_seconds",
            "Seconds to write one consumed batch to the database (retries and bisection included)",
            buckets=WRITE_BUCKETS, registry=registry)
        self.messages = PromCounter("linkguard_sink_messages", "Messages written by this sink worker",
                                    ["kind"], registry=registry)
        self.end_to_end = Histogram(
            "linkguard_end_to_end_latency_seconds",
            "Event occurred_at → its verdict's sink row committed, per verdict topic kind",
            ["kind"], buckets=LATENCY_BUCKETS, registry=registry)
        for kind in ("verified", "held", "dead_letter"):  # every series exists from the start
            self.messages.labels(kind)
        for kind in ("verified", "held"):
            self.end_to_end.labels(kind)

    def written(self, messages: Sequence[Any], seconds: float, *, now: dt.datetime | None = None) -> None:
        """Record one batch committed ``seconds`` after its write began."""
        now = now or dt.datetime.now(dt.timezone.utc)
        self.write_seconds.observe(seconds)
        kinds: Counter[str] = Counter()
        for message in messages:
            kinds[message.kind] += 1
            if message.kind in ("verified", "held"):
                occurred = _occurred_at(message.payload)
                if occurred is not None:
                    self.end_to_end.labels(message.kind).observe(max(0.0, (now - occurred).total_seconds()))
        for kind, n in kinds.items():
            self.messages.labels(kind).inc(n)


def _occurred_at(verdict: Any) -> dt.datetime | None:
    """The checked event's ``occurred_at`` (Avro timestamp-micros: a datetime, or micros if undecoded).

    >>> _occurred_at({"record": {"occurred_at": 1_000_000}})
    datetime.datetime(1970, 1, 1, 0, 0, 1, tzinfo=datetime.timezone.utc)
    >>> _occurred_at({"record": {}}) is None
    True
    """
    value = (verdict.get("record") or {}).get("occurred_at")
    if isinstance(value, dt.datetime):
        return value if value.tzinfo else value.replace(tzinfo=dt.timezone.utc)
    if isinstance(value, int):
        return dt.datetime.fromtimestamp(value / 1_000_000, dt.timezone.utc)
    return None


# ---------------------------------------------------------------- registries and servers


def build_registry(*, engine: Engine | None = None, lag: LagCollector | None = None,
                   sink: bool = False, process: bool = True) -> tuple[CollectorRegistry, SinkMetrics | None]:
    """A registry with the chosen collectors (and the process's CPU/RSS, for sizing)."""
    registry = CollectorRegistry()
    if process:
        ProcessCollector(registry=registry)
        PlatformCollector(registry=registry)
    if engine is not None:
        registry.register(DatabaseCollector(engine))
    if lag is not None:
        registry.register(lag)
    return registry, SinkMetrics(registry) if sink else None


def make_metrics_app(registry: CollectorRegistry | None = None, *, engine: Engine | None = None,
                     lag: LagCollector | None = None) -> Any:
    """An ASGI app serving ``registry`` (default: the database collector on ``engine``), to mount at /metrics."""
    from prometheus_client import make_asgi_app

    if registry is None:
        registry, _ = build_registry(engine=engine, lag=lag)
    return make_asgi_app(registry=registry)


def serve(registry: CollectorRegistry, port: int, addr: str = "127.0.0.1") -> Any:
    """Serve ``registry`` on http://addr:port/metrics in a daemon thread; returns the server."""
    from prometheus_client import start_http_server

    try:
        server, _thread = start_http_server(port, addr=addr, registry=registry)
    except OSError as e:
        raise RuntimeError(f"cannot serve metrics on {addr}:{port}: {e.strerror or e}; "
                           f"choose another port with --port or LINKGUARD_METRICS_PORT") from e
    return server


def run_exporter(port: int, addr: str, *, engine: Engine | None, kafka: Any | None,
                 groups: Sequence[str] | None = None, interval: float = 15.0, window: float = 300.0,
                 on_ready: Any = None) -> None:
    """``linkguard metrics``: serve lag and database metrics until SIGTERM/SIGINT."""
    lag = LagCollector(kafka, groups, interval=interval, window=window).start() if kafka is not None else None
    registry, _ = build_registry(engine=engine, lag=lag)
    server = serve(registry, port, addr)
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    if on_ready:
        on_ready(server.server_address)
    try:
        stop.wait()
    finally:
        server.shutdown()
        if lag is not None:
            lag.stop()


def metric_names(registry: CollectorRegistry) -> set[str]:
    """Every sample name ``registry`` can export (``…_total``, ``…_bucket`` etc. included), from ``describe``.

    >>> registry, _ = build_registry(sink=True, process=False)
    >>> sorted(n for n in metric_names(registry) if n.startswith("linkguard_sink_write"))[:3]
    ['linkguard_sink_write_seconds', 'linkguard_sink_write_seconds_bucket', 'linkguard_sink_write_seconds_count']
    """
    suffixes = {"counter": ("_total", "_created"), "histogram": ("", "_bucket", "_sum", "_count", "_created"),
                "summary": ("", "_sum", "_count", "_created"), "gauge": ("",), "info": ("_info",),
                "stateset": ("",), "unknown": ("",)}
    names: set[str] = set()
    for collector in list(registry._collector_to_names):  # noqa: SLF001 - the registry lists no collectors
        describe = getattr(collector, "describe", None)
        families = describe() if describe else collector.collect()
        for family in families:
            names.update(family.name + s for s in suffixes.get(family.type, ("",)))
    return names

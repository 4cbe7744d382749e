"""``make bench-rate``: a steady 1,000 records/s for 60 s through the broker, the guard and the sink.

Reports the end-to-end latency of every record (its publish time, which is
also its ``occurred_at``, to the commit of its row in the sink database) and
the lag curve of the guard's and the sink's consumer groups, sampled once a
second with :mod:`streams.lag`. A benchmark, not a test: figures vary with
the machine's load.

Latency is measured from the database, not from the system's counters: the
rows' commit times come from PostgreSQL's ``track_commit_timestamp``
(``pg_xact_commit_timestamp(xmin)``), so the benchmark runs a private
PostgreSQL with that setting (bench/pgtemp.py), or the server named by
``LINKGUARD_DATABASE_URL`` if it has the setting on. Publish times are
recorded here, per event id, when each record is handed to the producer.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import random
import statistics
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import sqlalchemy as sa
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

import schemas
from bench.throughput import VAR, env_for, settings_for, wait
from linkguard.synthetic.demo import Pipeline, registry_consumed
from linkguard.synthetic.sample import Population, make_records, make_registry
from sinks import SinkWriter, make_engine
from streams import topics
from streams.broker import LocalBroker
from streams.events import record_to_event
from streams.lag import LagReader
from streams.publish import Publisher
from streams.settings import KafkaSettings

console = Console()
SPARK = "▁▂▃▄▅▆▇█"


def sparkline(values: list[int]) -> str:
    """One block character per value, scaled to the largest.

    >>> sparkline([0, 5, 10])
    '▁▅█'
    >>> sparkline([0, 0])
    '▁▁'
    """
    top = max(values, default=0)
    if top <= 0:
        return SPARK[0] * len(values)
    return "".join(SPARK[min(len(SPARK) - 1, round(v / top * (len(SPARK) - 1)))] for v in values)


def percentile(sorted_values: list[float], q: float) -> float:
    """Nearest-rank percentile of sorted values.

    >>> percentile([1.0, 2.0, 3.0, 4.0], 50), percentile([1.0, 2.0, 3.0, 4.0], 99)
    (2.0, 4.0)
    """
    if not sorted_values:
        return float("nan")
    rank = max(1, -(-len(sorted_values) * q // 100))  # ceil without floats
    return sorted_values[int(rank) - 1]


@dataclass
class LagCurve:
    """Total lag of each group, sampled about once a second in a background thread."""

    settings: KafkaSettings
    groups: list[str]
    samples: list[tuple[float, dict[str, int]]] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)

    def run(self, start: float) -> None:
        with LagReader(self.settings) as reader:
            while not self._stop.is_set():
                began = time.monotonic()
                try:
                    snap = reader.snapshot(self.groups)
                except Exception as e:  # noqa: BLE001 - a missed sample is a gap, not a failure
                    console.print(f"[yellow]lag sample failed: {type(e).__name__}[/]")
                else:
                    lags = {}
                    for group in self.groups:
                        committed = snap.committed.get(group, {})
                        lags[group] = sum(max(0, snap.end[tp] - (committed.get(tp) or 0))
                                          for tp in committed if tp in snap.end)
                    self.samples.append((began - start, lags))
                self._stop.wait(max(0.0, 1.0 - (time.monotonic() - began)))

    def stop(self) -> None:
        self._stop.set()


def commit_timestamps_on(url: str) -> bool:
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            return conn.execute(sa.text("SHOW track_commit_timestamp")).scalar_one() == "on"
    except sa.exc.SQLAlchemyError:
        return False
    finally:
        engine.dispose()


def row_commit_times(url: str) -> dict[str, float]:
    """event id → epoch seconds at which its copy or held row was committed."""
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            rows = conn.execute(sa.text(
                "SELECT event_id, extract(epoch FROM pg_xact_commit_timestamp(xmin)) FROM intermediate_copies "
                "UNION ALL "
                "SELECT event_id, extract(epoch FROM pg_xact_commit_timestamp(xmin)) FROM held_records"))
            return {event_id: float(at) for event_id, at in rows if at is not None}
    finally:
        engine.dispose()


def read_topic(settings: KafkaSettings, topic: str, handle) -> None:
    """Call ``handle(message)`` for every message of ``topic`` now on the broker, from the first."""
    from kafka import KafkaConsumer, TopicPartition

    from streams.lag import topic_end_offsets

    ends = {TopicPartition(t, p): end for (t, p), end in topic_end_offsets(settings, [topic]).items()}
    consumer = KafkaConsumer(**settings.kafka_python_config(), group_id=None, enable_auto_commit=False,
                             fetch_max_wait_ms=100, max_partition_fetch_bytes=8 << 20)
    try:
        consumer.assign(list(ends))
        consumer.seek_to_beginning(*ends)
        deadline = time.monotonic() + 120
        while any(consumer.position(tp) < end for tp, end in ends.items()) and time.monotonic() < deadline:
            for batch in consumer.poll(timeout_ms=500, max_records=20_000).values():
                for message in batch:
                    handle(message)
    finally:
        consumer.close()


def hop_times(settings: KafkaSettings) -> dict[str, dict[str, float]]:
    """Per event id, when each hop sent it on, from the Kafka messages' own timestamps (producer clocks, one machine).

    ``forwarded``: the repartition stage's envelope to ``records-by-number``
    carrying it; ``judged``: its last verdict (``verified`` or ``held``), the one
    whose row the sink kept; ``rejudged``: those of ``judged`` with more than one
    verdict (judged again when a later record changed their context: their row's
    commit time is the last judgement's). Read after the run, so the reading costs
    the run nothing.
    """
    from streams.stages.messages import RecordIn, decode_envelope

    names = topics.names(settings)
    codec = schemas.Codec()
    event_at: dict[tuple[int, int], str] = {}

    def record(message) -> None:
        with contextlib.suppress(schemas.DecodeError):
            event_at[(message.partition, message.offset)] = codec.decode("record_changed", message.value)["event_id"]

    forwarded: dict[str, float] = {}

    def envelope(message) -> None:
        for item in decode_envelope(message.value):
            if isinstance(item, RecordIn):
                event_id = event_at.get((item.partition, item.offset))
                if event_id is not None:
                    forwarded.setdefault(event_id, message.timestamp / 1000)

    judged: dict[str, float] = {}
    verdicts: dict[str, int] = {}

    def verdict(message) -> None:
        event_id = codec.decode("verdict", message.value)["event_id"]
        judged[event_id] = max(judged.get(event_id, 0.0), message.timestamp / 1000)
        verdicts[event_id] = verdicts.get(event_id, 0) + 1

    read_topic(settings, names.records, record)
    try:
        read_topic(settings, names.by_number, envelope)
    except Exception as e:  # noqa: BLE001 - the envelope layout is the stages'; a change only loses this hop
        console.print(f"[yellow]by-number envelopes not read ({type(e).__name__}): that hop is not split[/]")
        forwarded.clear()
    for topic in (names.verified, names.held):
        read_topic(settings, topic, verdict)
    return {"forwarded": forwarded, "judged": judged,
            "rejudged": {e: at for e, at in judged.items() if verdicts[e] > 1}}


def hop_latencies(sent: dict[str, float], hops: dict[str, dict[str, float]],
                  committed: dict[str, float]) -> dict[str, dict[str, float]]:
    """p50/p90/p99 of each hop, over the events timed at both of its ends (percentiles do not add up).

    >>> hop_latencies({"e": 0.0}, {"forwarded": {"e": 0.5}, "judged": {"e": 0.75}}, {"e": 1.0})["verdict → row"]
    {'p50': 0.25, 'p90': 0.25, 'p99': 0.25, 'max': 0.25, 'events': 1}
    """
    ends = [("publish", sent), ("repartitioned", hops["forwarded"]), ("verdict", hops["judged"]),
            ("row", committed)]
    result = {}
    for (start_name, starts), (end_name, finishes) in zip(ends, ends[1:]):
        spans = sorted(finishes[e] - at for e, at in starts.items() if e in finishes)
        result[f"{start_name} → {end_name}"] = {"p50": percentile(spans, 50), "p90": percentile(spans, 90),
                                               "p99": percentile(spans, 99), "max": spans[-1] if spans else 0.0,
                                               "events": len(spans)}
    return result


def publish_steadily(publisher: Publisher, topic: str, records, rate: float, progress: Progress) -> dict[str, float]:
    """Send ``rate`` records a second, in 10 ms slices; return event id → publish time (epoch s)."""
    codec = schemas.Codec()
    sent: dict[str, float] = {}
    task = progress.add_task(f"publishing at {rate:,.0f}/s", total=len(records))
    start = time.monotonic()
    slice_s = 0.01
    i = 0
    while i < len(records):
        due = min(len(records), int((time.monotonic() - start) * rate) + 1)
        while i < due:
            record = records[i]
            now = time.time()
            event = record_to_event(record, occurred_at=_utc(now))
            publisher.send_raw(topic, topics.record_key(record.system, record.record_id),
                               codec.encode("record_changed", event))
            sent[event["event_id"]] = now
            i += 1
        progress.update(task, completed=i)
        time.sleep(slice_s)
    publisher.flush()
    return sent


def _utc(epoch: float):
    import datetime as dt

    return dt.datetime.fromtimestamp(epoch, dt.timezone.utc)


def run(args, database_url: str) -> dict:
    rng = random.Random(11)
    total = int(args.rate * args.seconds)
    console.print(f"generating {args.residents:,} residents and {total:,} records …")
    residents = make_registry(args.residents, rng)
    population = Population(residents)
    records = [r for r, _ in make_records(population, "shintai-techo", total, rng)]

    bootstrap = os.environ.get("LINKGUARD_KAFKA_BOOTSTRAP")
    broker = None if bootstrap else LocalBroker(log_dir=VAR / "logs").start()
    settings = settings_for(bootstrap or broker.bootstrap, broker is not None, args.partitions)
    topics.ensure_topics(settings)
    writer = SinkWriter(make_engine(database_url))
    writer.reset_schema()
    procs = Pipeline(env_for(settings, database_url), VAR / "logs")
    groups = [settings.app_id, f"{settings.app_id}-sink"]
    curve = LagCurve(settings, groups)
    try:
        for n in range(args.workers):
            procs.start(f"rate-guard-{n}", "worker")
        procs.start("rate-sink", "sink")
        progress = Progress(TextColumn("{task.description:<32}"), BarColumn(), MofNCompleteColumn(),
                            TimeElapsedColumn(), console=console)
        with progress, Publisher(settings) as publisher:
            task = progress.add_task("registry published and loaded", total=1)
            result = publisher.publish_residents(residents)
            ends = {tp: e for tp, e in result.next_offsets.items() if tp[0] == topics.names(settings).residents}
            wait(lambda: registry_consumed(settings, ends), sum(ends.values()), "registry", procs.check_alive)
            progress.update(task, completed=1)
            start = time.monotonic()
            sampler = threading.Thread(target=curve.run, args=(start,), daemon=True)
            sampler.start()
            sent = publish_steadily(publisher, topics.names(settings).records, records, args.rate, progress)
            published_in = time.monotonic() - start
            task = progress.add_task("verdicts in the database", total=total)

            def stored() -> int:
                n = writer.verdict_count()
                progress.update(task, completed=min(n, total))
                return n

            wait(stored, total, "verdicts", procs.check_alive, every=1.0)
            drained = time.monotonic() - start
            # a few more samples, so the curve shows the lag back at zero
            wait(lambda: int(all(v == 0 for v in curve.samples[-1][1].values())) if curve.samples else 0, 1,
                 "lag to drain", procs.check_alive, timeout=60, every=1.0)
        curve.stop()
        sampler.join(5)
        committed = row_commit_times(database_url)
        counts = writer.counts()
        timed = hop_times(settings)
        hops = hop_latencies(sent, timed, committed)
        rejudged = timed["rejudged"]
    finally:
        curve.stop()
        procs.stop()
        writer.engine.dispose()
        if broker:
            broker.stop()
    latencies = sorted(committed[e] - t for e, t in sent.items() if e in committed)
    once = sorted(committed[e] - t for e, t in sent.items() if e in committed and e not in rejudged)
    return {
        "rate": args.rate, "seconds": args.seconds, "records": total, "workers": args.workers,
        "partitions": args.partitions, "residents": args.residents, "cpus": os.cpu_count(),
        "published_in": published_in, "achieved_rate": total / published_in, "drained_after": drained,
        "measured": len(latencies), "counts": counts,
        "latency": {"p50": percentile(latencies, 50), "p90": percentile(latencies, 90),
                    "p99": percentile(latencies, 99), "max": latencies[-1] if latencies else float("nan"),
                    "mean": statistics.fmean(latencies) if latencies else float("nan")},
        "hops": hops,
        # judged again later (a later record of their number or batch): their row was committed again then
        "rejudged": len(rejudged),
        "latency_judged_once": {"p50": percentile(once, 50), "p99": percentile(once, 99),
                                "max": once[-1] if once else float("nan"), "records": len(once)},
        "lag": [{"t": round(t, 1), **lags} for t, lags in curve.samples],
        "groups": groups,
    }


def report(f: dict) -> None:
    lat = f["latency"]
    table = Table(title=f"steady rate — {f['records']:,} records at {f['rate']:,.0f}/s, {f['workers']} guard "
                        f"workers, {f['partitions']} partitions, {f['cpus']} cores")
    table.add_column("figure")
    table.add_column("value", justify="right")
    table.add_row("publish rate achieved", f"{f['achieved_rate']:,.0f} records/s over {f['published_in']:.1f} s")
    table.add_row("last row in the sink after the first publish", f"{f['drained_after']:.1f} s")
    table.add_row("records whose row was timed (copies + held)", f"{f['measured']:,}")
    for name in ("p50", "p90", "p99", "max", "mean"):
        table.add_row(f"end-to-end latency {name} (publish → row committed)", f"{lat[name] * 1000:,.0f} ms")
    once = f["latency_judged_once"]
    table.add_row(f"  the {once['records']:,} records judged once: p50 / p99 / max",
                  " / ".join(f"{once[q] * 1000:,.0f}" for q in ("p50", "p99", "max")) + " ms")
    table.add_row("  records judged again later (their row was committed again then)", f"{f['rejudged']:,}")
    console.print(table)
    hops = Table(title="where the time goes: each hop, from the messages' timestamps (percentiles do not add up)")
    for column in ("hop", "p50", "p90", "p99", "max", "events"):
        hops.add_column(column, justify="right")
    for name, h in f["hops"].items():
        hops.add_row(name, *(f"{h[q] * 1000:,.0f} ms" for q in ("p50", "p90", "p99", "max")), f"{h['events']:,}")
    console.print(hops)
    guard, sink = f["groups"]
    curve = Table(title="lag (records not yet committed by each group), one sample a second")
    for column in ("t (s)", "guard", "sink"):
        curve.add_column(column, justify="right")
    samples = f["lag"]
    step = max(1, len(samples) // 20)  # a small table; the sparklines show every sample
    for s in samples[::step]:
        curve.add_row(f"{s['t']:.0f}", f"{s[guard]:,}", f"{s[sink]:,}")
    console.print(curve)
    console.print(f"guard lag {sparkline([s[guard] for s in samples])}  max {max((s[guard] for s in samples), default=0):,}")
    console.print(f"sink  lag {sparkline([s[sink] for s in samples])}  max {max((s[sink] for s in samples), default=0):,}")
    console.print(f"sink: {f['counts']}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rate", type=float, default=1000.0, help="records per second")
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--residents", type=int, default=50_000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--partitions", type=int, default=4)
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args()
    VAR.mkdir(parents=True, exist_ok=True)
    url = os.environ.get("LINKGUARD_DATABASE_URL", "")
    with contextlib.ExitStack() as stack:
        if not (url.startswith("postgresql") and commit_timestamps_on(url)):
            from bench.pgtemp import private_postgres

            console.print("starting a private PostgreSQL with track_commit_timestamp=on …")
            url = stack.enter_context(private_postgres("track_commit_timestamp=on")).url
        figures = run(args, url)
    report(figures)
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2, default=str))


if __name__ == "__main__":
    main()

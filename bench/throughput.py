"""``make bench``: end-to-end guard throughput against a raw Faust forwarder, and worker memory.

One run, on the local broker (or LINKGUARD_KAFKA_BOOTSTRAP), in this order:

1. raw: a Faust agent that only consumes and re-produces the same records
   (bench/passthrough.py), with as many workers as the guard;
2. guard: a registry of ``--residents`` loaded, then ``--records`` records
   published and carried through the guard workers and the sink writer into
   the database; throughput is records / (last sink row − first publish);
3. memory: each guard worker's peak RSS holding a ``--big-registry`` registry,
   with 1, 2 and 4 workers (``--memory-workers``): the registry is partitioned
   (by number, and by birth date + sex for the identity look-up), so each
   worker holds only its share.

Prints publish rate, guard and raw throughput, their ratio, the time one
prefecture's 2024 self-inspection (244,246 records) takes (measured, first
publish → its 244,246th sink row, when ``--records`` is at least that:
``--records 244246 --phases guard``; else extrapolated from the rate), the Kafka
messages per input record (every topic and changelog the records phase
wrote), CPU seconds per 1,000 records for each process, and RSS.
Machines here are noisy: compare the ratio, which both sides of one run share.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import time
import uuid
from pathlib import Path

from kafka import KafkaConsumer
from rich.console import Console
from rich.table import Table

import schemas
from linkguard.synthetic.demo import Pipeline, registry_consumed
from linkguard.synthetic.sample import Population, make_records, make_registry
from sinks import SinkWriter, make_engine
from sinks.worker import SINK_CONSUMER, sink_topics
from streams import topics
from streams.broker import LocalBroker
from streams.events import record_to_event
from streams.publish import Publisher
from streams.settings import KafkaSettings

PREFECTURE_2024 = 244_246
#: application_name of the bench's own database connection (its row counting is not the sink's work)
BENCH_APP = "linkguard-bench"
console = Console()
VAR = Path("var/bench")


def cpu_seconds(pid: int | None) -> float:
    """User + system CPU time a process has used so far."""
    if not pid:
        return float("nan")
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return float("nan")
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class PostgresBackends:
    """CPU seconds of the PostgreSQL backends serving one database, when the server runs on this machine.

    The server shares the cores with everything else, so its work for the sink is part of the cost
    per record. Its backends are found in ``pg_stat_activity`` (the database's, minus the bench's own
    connection, ``application_name`` :data:`BENCH_APP`) and their CPU read from ``/proc``; a
    backend first seen after :meth:`start` counts from zero (it is a new process). Call :meth:`seen`
    now and then, so that a backend that exits before :meth:`seconds` still counts.
    ``available`` is False for SQLite and for a server whose processes ``/proc`` does not show
    (another host, a container): then nothing is reported.
    """

    def __init__(self, engine) -> None:
        self.engine = engine
        self.available = engine.dialect.name == "postgresql" and self._local()
        self._start: dict[int, float] = {}
        self._last: dict[int, float] = {}

    def _local(self) -> bool:
        """Whether this connection's own backend is a process here."""
        with self.engine.connect() as conn:
            pid = conn.exec_driver_sql("SELECT pg_backend_pid()").scalar_one()
        try:
            return Path(f"/proc/{pid}/comm").read_text().strip() == "postgres"
        except OSError:
            return False

    def _cpu(self) -> dict[int, float]:
        if not self.available:
            return {}
        from sqlalchemy import text

        with self.engine.connect() as conn:
            pids = conn.execute(text(
                "SELECT pid FROM pg_stat_activity WHERE datname = current_database() "
                "AND backend_type = 'client backend' AND application_name <> :bench"), {"bench": BENCH_APP}).scalars()
            cpu = {pid: cpu_seconds(pid) for pid in pids}
        return {pid: v for pid, v in cpu.items() if v == v}  # nan: it exited since the query

    def start(self) -> None:
        self._start = self._cpu()

    def seen(self) -> None:
        self._last.update(self._cpu())

    def seconds(self) -> float:
        self.seen()
        return sum(cpu - self._start.get(pid, 0.0) for pid, cpu in self._last.items())


def own_cpu_seconds() -> float:
    import resource

    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def message_counts(settings: KafkaSettings) -> dict[str, int]:
    """Messages in every topic of the run: its own (by prefix) and the guard's changelogs (by app id)."""
    from kafka import TopicPartition

    from streams.faust_fixes.tansu import true_end_offsets

    consumer = KafkaConsumer(**settings.kafka_python_config(), group_id=None)
    try:
        names = [t for t in consumer.topics() if t.startswith(settings.topic_prefix)
                 or t.startswith(settings.app_id + "-")]
        tps = [TopicPartition(t, p) for t in names for p in sorted(consumer.partitions_for_topic(t) or ())]
        ends = {(tp.topic, tp.partition): v for tp, v in consumer.end_offsets(tps).items()}
        begins = {(tp.topic, tp.partition): v for tp, v in consumer.beginning_offsets(tps).items()}
    finally:
        consumer.close()
    if settings.local_mode:
        ends = true_end_offsets(settings, ends)
    counts: dict[str, int] = {}
    for (topic, partition), end in ends.items():
        name = topic.removeprefix(settings.topic_prefix)
        if topic.startswith(settings.app_id + "-"):
            name = "changelog:" + topic.removeprefix(settings.app_id + "-").removesuffix("-changelog")
        counts[name] = counts.get(name, 0) + end - begins.get((topic, partition), 0)
    return counts


def drained(settings: KafkaSettings) -> int:
    """How many input messages of the guard's own topics its group has not committed yet."""
    from streams.lag import uncommitted

    names = topics.names(settings)
    return uncommitted(settings, settings.app_id,
                       (names.records, names.residents, names.by_number, names.by_identity, names.by_batch))


def wait_drained(settings: KafkaSettings, what: str, alive, timeout: float = 1800) -> None:
    """Until the guard group has committed everything of its input topics (the identity stage too)."""
    start = time.monotonic()
    while drained(settings) > 0:
        alive()
        if time.monotonic() - start > timeout:
            raise TimeoutError(f"{what}: not drained after {timeout:.0f} s")
        time.sleep(0.5)


def peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def wait(condition, total: int, what: str, alive, timeout: float = 1800, every: float = 0.2) -> float:
    """Poll until ``condition()`` reaches ``total``; return the time it did (±every)."""
    start = time.monotonic()
    while (done := condition()) < total:
        alive()
        if time.monotonic() - start > timeout:
            raise TimeoutError(f"{what}: {done} of {total} after {timeout:.0f} s")
        time.sleep(every)
    return time.monotonic()


def settings_for(bootstrap: str, local: bool, partitions: int) -> KafkaSettings:
    run = uuid.uuid4().hex[:6]
    return KafkaSettings(kafka_bootstrap=bootstrap, local_mode=local, topic_prefix=f"b{run}.",
                         app_id=f"bench-{run}", topic_partitions=partitions)


def env_for(settings: KafkaSettings, database_url: str = "") -> dict[str, str]:
    return {**os.environ, "LINKGUARD_KAFKA_BOOTSTRAP": settings.kafka_bootstrap,
            "LINKGUARD_LOCAL_MODE": "1" if settings.local_mode else "0",
            "LINKGUARD_TOPIC_PREFIX": settings.topic_prefix, "LINKGUARD_APP_ID": settings.app_id,
            "LINKGUARD_TOPIC_PARTITIONS": str(settings.topic_partitions),
            "LINKGUARD_DATABASE_URL": database_url}


def run_raw(bootstrap: str, local: bool, args, payloads: list[bytes]) -> dict:
    settings = settings_for(bootstrap, local, args.partitions)
    in_topic, out_topic = settings.topic_prefix + "raw-in", settings.topic_prefix + "raw-out"
    from kafka.admin import KafkaAdminClient, NewTopic

    admin = KafkaAdminClient(**settings.kafka_python_config())
    admin.create_topics([NewTopic(t, args.partitions, 1) for t in (in_topic, out_topic)])
    admin.close()
    env = {**env_for(settings), "BENCH_IN": in_topic, "BENCH_OUT": out_topic}
    procs = Pipeline(env, VAR / "logs")
    consumer = KafkaConsumer(out_topic, **settings.kafka_python_config(), group_id=None,
                             auto_offset_reset="earliest", fetch_max_bytes=64 << 20)
    try:
        for n in range(args.workers):
            procs.start(f"raw-{n}", module="bench.passthrough")
        time.sleep(8)  # let the group form before the clock starts, as for the guard
        with Publisher(settings) as publisher:
            first = time.monotonic()
            for i, payload in enumerate(payloads):
                publisher.send_raw(in_topic, str(i).encode(), payload)
            publisher.flush()
        seen = 0
        while seen < len(payloads):
            procs.check_alive()
            seen += sum(len(b) for b in consumer.poll(500, max_records=50_000).values())
        last = time.monotonic()
        return {"rate": len(payloads) / (last - first), "seconds": last - first}
    finally:
        consumer.close()
        procs.stop()


def run_guard(bootstrap: str, local: bool, args, residents, records, broker_pid: int | None = None) -> dict:
    settings = settings_for(bootstrap, local, args.partitions)
    topics.ensure_topics(settings)
    database_url = os.environ.get("LINKGUARD_DATABASE_URL") or f"sqlite:///{VAR}/sink-{settings.app_id}.sqlite"
    writer = SinkWriter(make_engine(database_url, **(
        {"connect_args": {"application_name": BENCH_APP}} if database_url.startswith("postgresql") else {})))
    server = PostgresBackends(writer.engine)
    writer.reset_schema()
    procs = Pipeline(env_for(settings, database_url), VAR / "logs")
    try:
        workers = [procs.start(f"guard-{n}", "worker") for n in range(args.workers)]
        sink = procs.start("sink", "sink")
        with Publisher(settings) as publisher:
            t0 = time.monotonic()
            result = publisher.publish_residents(residents)
            ends = {tp: e for tp, e in result.next_offsets.items() if tp[0] == topics.names(settings).residents}
            wait(lambda: registry_consumed(settings, ends), sum(ends.values()), "registry", procs.check_alive)
            wait_drained(settings, "registry into the identity buckets", procs.check_alive)
            loaded = time.monotonic()
            before = message_counts(settings)
            processes = {**{f"worker {n}": w.pid for n, w in enumerate(workers)}, "sink": sink.pid,
                         "broker": broker_pid}
            cpu_before = {name: cpu_seconds(pid) for name, pid in processes.items()}
            server.start()
            publisher_before = own_cpu_seconds()
            first = time.monotonic()
            publisher.publish_records(records)
            published = time.monotonic()
            publisher_cpu = own_cpu_seconds() - publisher_before
        # counting rows scans the tables, so rows are counted only once the sink has consumed enough
        # messages (each row comes from at least one message, so the rows cannot be there before; the
        # run's topics are new, so positions count messages); until then the 0.1 s poll reads only the
        # sink's stored positions. Note too when the guard itself has read everything (its last verdict
        # is out), and when one prefecture's worth of rows is in (a run of at least that many measures it)
        guard_done: list[float] = []
        prefecture_done: list[float] = []
        consumed = sink_topics(settings)
        enough = min(len(records), PREFECTURE_2024)

        next_drained_check = [0.0]

        def sink_rows() -> int:
            # the guard's drained() opens a Kafka client and the server's CPU reads /proc: once a second;
            # the stored positions are one small query, so the end is seen within 0.1 s (the raw
            # forwarder's end is seen at once, and a run is only ~10 s: a 1 s poll cost the guard ~5 %)
            now = time.monotonic()
            if now >= next_drained_check[0]:
                next_drained_check[0] = now + 1.0
                if not guard_done and drained(settings) == 0:
                    guard_done.append(time.monotonic())
                server.seen()
            if sum(writer.positions(SINK_CONSUMER, consumed).values()) < enough:
                return 0
            rows = writer.verdict_count()
            if not prefecture_done and rows >= PREFECTURE_2024:
                prefecture_done.append(time.monotonic())
            return rows

        last = wait(sink_rows, len(records), "verdicts", procs.check_alive, every=0.1)
        if not guard_done:
            guard_done.append(last)
        cpu = {name: cpu_seconds(pid) - cpu_before[name] for name, pid in processes.items()}
        cpu["publisher"] = publisher_cpu
        if server.available:
            cpu["PostgreSQL server (the sink database's backends)"] = server.seconds()
        wait_drained(settings, "the guard's internal topics", procs.check_alive, timeout=120)
        after = message_counts(settings)
        written = {k: after.get(k, 0) - before.get(k, 0) for k in after if after.get(k, 0) != before.get(k, 0)}
        rate = len(records) / (last - first)
        measured = prefecture_done[0] - first if prefecture_done else None
        return {
            "registry_seconds": loaded - t0,
            "publish_rate": len(records) / (published - first),
            "rate": rate,
            "seconds": last - first,
            # measured when the run had that many records (first publish -> that many rows), else extrapolated
            "seconds_244k": measured if measured is not None else PREFECTURE_2024 / rate,
            "seconds_244k_measured": measured is not None,
            "guard_seconds": guard_done[0] - first,  # first publish → the guard group has read everything
            "rss_mb": [peak_rss_mb(w.pid) for w in workers],
            "messages": written,
            "messages_per_record": sum(written.values()) / len(records),
            "cpu_seconds_per_1000": {name: 1000 * v / len(records) for name, v in cpu.items()},
            "counts": writer.counts(),
        }
    finally:
        procs.stop()
        writer.engine.dispose()


def run_memory(bootstrap: str, local: bool, args, residents, workers: int) -> dict:
    settings = settings_for(bootstrap, local, args.partitions)
    topics.ensure_topics(settings)
    procs = Pipeline(env_for(settings), VAR / "logs")
    try:
        started = [procs.start(f"memory-worker-{n}", "worker") for n in range(workers)]
        time.sleep(8)  # the group forms first, so each worker loads only its partitions
        with Publisher(settings) as publisher:
            t0 = time.monotonic()
            result = publisher.publish_residents(residents)
            ends = {tp: e for tp, e in result.next_offsets.items() if tp[0] == topics.names(settings).residents}
            published = time.monotonic()
        wait(lambda: registry_consumed(settings, ends), sum(ends.values()), "big registry", procs.check_alive)
        wait_drained(settings, "big registry into the identity buckets", procs.check_alive)
        loaded = time.monotonic()
        rss = [peak_rss_mb(w.pid) for w in started]
        return {"residents": len(residents), "workers": workers, "rss_mb": rss, "rss_mb_max": max(rss),
                "publish_seconds": published - t0, "load_seconds": loaded - published}
    finally:
        procs.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--records", type=int, default=200_000)
    parser.add_argument("--residents", type=int, default=100_000)
    parser.add_argument("--big-registry", type=int, default=1_000_000, help="0 skips the memory phase")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--partitions", type=int, default=4)
    parser.add_argument("--memory-workers", default="1,2,4", help="worker counts of the memory phase")
    parser.add_argument("--phases", default="raw,guard,memory", help="which phases to run (comma-separated)")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args()
    VAR.mkdir(parents=True, exist_ok=True)

    rng = random.Random(7)
    console.print(f"generating {args.residents:,} residents and {args.records:,} records …")
    residents = make_registry(args.residents, rng)
    population = Population(residents)
    records = [r for r, _ in make_records(population, "shintai-techo", args.records, rng)]

    bootstrap = os.environ.get("LINKGUARD_KAFKA_BOOTSTRAP")
    figures: dict = {"records": args.records, "residents": args.residents, "workers": args.workers,
                     "partitions": args.partitions, "cpus": os.cpu_count()}
    wanted = set(args.phases.split(","))
    memory_workers = ([int(n) for n in args.memory_workers.split(",") if n]
                      if args.big_registry and "memory" in wanted else [])
    big = make_registry(args.big_registry, random.Random(8)) if memory_workers else []
    phases = [p for p in ("raw", "guard") if p in wanted] + [f"memory-{n}" for n in memory_workers
                                                            if "memory" in wanted]
    for phase in phases:
        broker = None if bootstrap else LocalBroker(log_dir=VAR / "logs").start()
        address = bootstrap or broker.bootstrap
        try:
            console.print(f"[bold]{phase}[/] …")
            if phase == "raw":
                encode = schemas.Codec().encoder("record_changed")
                payloads = [encode(record_to_event(r)) for r in records]
                figures["raw"] = run_raw(address, broker is not None, args, payloads)
                del payloads
            elif phase == "guard":
                figures["guard"] = run_guard(address, broker is not None, args, residents, records,
                                             broker.pid if broker else None)
            else:
                n = int(phase.split("-")[1])
                memory = figures.setdefault("memory", {"residents": len(big), "runs": {}})
                memory["runs"][str(n)] = run_memory(address, broker is not None, args, big, n)
                memory["rss_mb_by_workers"] = {k: v["rss_mb_max"] for k, v in memory["runs"].items()}
        finally:
            if broker:
                broker.stop()
    report(figures)
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2, default=str))


def report(f: dict) -> None:
    """The figures of the phases that ran (a ratio only when both raw and guard did)."""
    guard, raw = f.get("guard"), f.get("raw")
    table = Table(title=f"linkage guard throughput — {f['records']:,} records, {f['residents']:,} residents, "
                        f"{f['workers']} workers, {f['partitions']} partitions, {f['cpus']} cores")
    table.add_column("figure")
    table.add_column("value", justify="right")
    if guard:
        table.add_row("publish rate (kafka-python, acks=all)", f"{guard['publish_rate']:,.0f} records/s")
        table.add_row("registry published and loaded", f"{guard['registry_seconds']:.1f} s")
        table.add_row("guard end to end (first publish → last sink row)", f"{guard['rate']:,.0f} records/s")
        table.add_row("  of which the guard (first publish → its last input read)",
                      f"{guard['guard_seconds']:.1f} s of {guard['seconds']:.1f} s")
    if raw:
        table.add_row("raw Faust forwarder, same records and workers", f"{raw['rate']:,.0f} records/s")
    if guard and raw:
        table.add_row("ratio guard / raw (target ≥ 0.5)", f"{guard['rate'] / raw['rate']:.2f}")
    if guard:
        how = "measured" if guard.get("seconds_244k_measured") else "extrapolated from the rate"
        table.add_row(f"time to verify {PREFECTURE_2024:,} records (target < 60 s), {how}",
                      f"{guard['seconds_244k']:.0f} s")
        table.add_row("Kafka messages per input record (target ≤ 4)", f"{guard['messages_per_record']:.2f}")
        for name, seconds in guard["cpu_seconds_per_1000"].items():
            table.add_row(f"  CPU s per 1,000 records: {name}", f"{seconds:.2f}")
        table.add_row("guard worker peak RSS, each", ", ".join(f"{m:,.0f} MB" for m in guard["rss_mb"]))
    if "memory" in f:
        m = f["memory"]
        for workers, run in m["runs"].items():
            table.add_row(f"peak RSS with {m['residents']:,} residents, {workers} worker(s), each",
                          ", ".join(f"{v:,.0f} MB" for v in run["rss_mb"]) + f" (loaded in {run['load_seconds']:.0f} s)")
        by = m["rss_mb_by_workers"]
        if "1" in by and "4" in by:
            table.add_row("4 workers ÷ 1 worker, largest RSS (target ≤ 0.4)", f"{by['4'] / by['1']:.2f}")
    console.print(table)
    if guard:
        console.print(f"messages written by the records phase: {guard['messages']}")
        console.print(f"sink: {guard['counts']}")


if __name__ == "__main__":
    main()

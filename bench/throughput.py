"""``make bench``: end-to-end guard throughput against a raw Faust forwarder, and worker memory.

One run, on the local broker (or LINKGUARD_KAFKA_BOOTSTRAP), in this order:

1. raw: a Faust agent that only consumes and re-produces the same records
   (bench/passthrough.py), with as many workers as the guard;
2. guard: a registry of ``--residents`` loaded, then ``--records`` records
   published and carried through the guard workers and the sink writer into
   the database; throughput is records / (last sink row − first publish);
3. memory: one guard worker's peak RSS holding a ``--big-registry`` registry.

Prints publish rate, guard and raw throughput, their ratio, the time one
prefecture's 2024 self-inspection (244,246 records) would take, and RSS.
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
from streams import topics
from streams.broker import LocalBroker
from streams.events import record_to_event
from streams.publish import Publisher
from streams.settings import KafkaSettings

PREFECTURE_2024 = 244_246
console = Console()
VAR = Path("var/bench")


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


def run_guard(bootstrap: str, local: bool, args, residents, records) -> dict:
    settings = settings_for(bootstrap, local, args.partitions)
    topics.ensure_topics(settings)
    database_url = os.environ.get("LINKGUARD_DATABASE_URL") or f"sqlite:///{VAR}/sink-{settings.app_id}.sqlite"
    writer = SinkWriter(make_engine(database_url))
    writer.reset_schema()
    procs = Pipeline(env_for(settings, database_url), VAR / "logs")
    try:
        workers = [procs.start(f"guard-{n}", "worker") for n in range(args.workers)]
        procs.start("sink", "sink")
        with Publisher(settings) as publisher:
            t0 = time.monotonic()
            result = publisher.publish_residents(residents)
            ends = {tp: e for tp, e in result.next_offsets.items() if tp[0] == topics.names(settings).residents}
            loaded = wait(lambda: registry_consumed(settings, ends), sum(ends.values()), "registry", procs.check_alive)
            first = time.monotonic()
            publisher.publish_records(records)
            published = time.monotonic()
        # counting rows scans the tables: poll once a second so the clock does not steal the CPU
        last = wait(writer.verdict_count, len(records), "verdicts", procs.check_alive, every=1.0)
        return {
            "registry_seconds": loaded - t0,
            "publish_rate": len(records) / (published - first),
            "rate": len(records) / (last - first),
            "seconds": last - first,
            "rss_mb": [peak_rss_mb(w.pid) for w in workers],
            "counts": writer.counts(),
        }
    finally:
        procs.stop()
        writer.engine.dispose()


def run_memory(bootstrap: str, local: bool, args, residents) -> dict:
    settings = settings_for(bootstrap, local, args.partitions)
    topics.ensure_topics(settings)
    procs = Pipeline(env_for(settings), VAR / "logs")
    try:
        worker = procs.start("memory-worker", "worker")
        with Publisher(settings) as publisher:
            t0 = time.monotonic()
            result = publisher.publish_residents(residents)
            ends = {tp: e for tp, e in result.next_offsets.items() if tp[0] == topics.names(settings).residents}
            published = time.monotonic()
        loaded = wait(lambda: registry_consumed(settings, ends), sum(ends.values()), "big registry", procs.check_alive)
        return {"residents": len(residents), "rss_mb": peak_rss_mb(worker.pid),
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
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args()
    VAR.mkdir(parents=True, exist_ok=True)

    rng = random.Random(7)
    console.print(f"generating {args.residents:,} residents and {args.records:,} records …")
    residents = make_registry(args.residents, rng)
    population = Population(residents)
    records = [r for r, _ in make_records(population, "shintai-techo", args.records, rng)]
    codec = schemas.Codec()
    payloads = [codec.encode("record_changed", record_to_event(r)) for r in records]

    bootstrap = os.environ.get("LINKGUARD_KAFKA_BOOTSTRAP")
    figures: dict = {"records": args.records, "residents": args.residents, "workers": args.workers,
                     "partitions": args.partitions, "cpus": os.cpu_count()}
    for phase in ("raw", "guard", "memory"):
        if phase == "memory" and not args.big_registry:
            continue
        broker = None if bootstrap else LocalBroker(log_dir=VAR / "logs").start()
        address = bootstrap or broker.bootstrap
        try:
            console.print(f"[bold]{phase}[/] …")
            if phase == "raw":
                figures["raw"] = run_raw(address, broker is not None, args, payloads)
            elif phase == "guard":
                figures["guard"] = run_guard(address, broker is not None, args, residents, records)
            else:
                big = make_registry(args.big_registry, random.Random(8))
                figures["memory"] = run_memory(address, broker is not None, args, big)
                del big
        finally:
            if broker:
                broker.stop()
    report(figures)
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2, default=str))


def report(f: dict) -> None:
    guard, raw = f["guard"], f["raw"]
    table = Table(title=f"linkage guard throughput — {f['records']:,} records, {f['residents']:,} residents, "
                        f"{f['workers']} workers, {f['partitions']} partitions, {f['cpus']} cores")
    table.add_column("figure")
    table.add_column("value", justify="right")
    table.add_row("publish rate (kafka-python, acks=all)", f"{guard['publish_rate']:,.0f} records/s")
    table.add_row("registry published and loaded", f"{guard['registry_seconds']:.1f} s")
    table.add_row("guard end to end (first publish → last sink row)", f"{guard['rate']:,.0f} records/s")
    table.add_row("raw Faust forwarder, same records and workers", f"{raw['rate']:,.0f} records/s")
    table.add_row("ratio guard / raw (target ≥ 0.5)", f"{guard['rate'] / raw['rate']:.2f}")
    table.add_row(f"time to verify {PREFECTURE_2024:,} records (target < 120 s)",
                  f"{PREFECTURE_2024 / guard['rate']:.0f} s")
    table.add_row("guard worker peak RSS, each", ", ".join(f"{m:,.0f} MB" for m in guard["rss_mb"]))
    if "memory" in f:
        m = f["memory"]
        table.add_row(f"one worker's peak RSS with {m['residents']:,} residents (target < 2 GB)",
                      f"{m['rss_mb']:,.0f} MB")
        table.add_row("  its registry load time", f"{m['load_seconds']:.0f} s")
    console.print(table)
    console.print(f"sink: {guard['counts']}")


if __name__ == "__main__":
    main()

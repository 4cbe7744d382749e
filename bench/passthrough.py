"""Baseline: a Faust agent that only consumes records and re-produces them, nothing else.

Written the way Faust is fast for a plain forwarder (``take_events`` batches,
one producer ``send`` per record), so the guard/raw ratio is honest.
Run: ``python -m bench.passthrough`` with LINKGUARD_KAFKA_BOOTSTRAP set.
"""

from __future__ import annotations

import os

import faust

from streams.settings import KafkaSettings

IN_TOPIC = os.environ.get("BENCH_IN", "bench.raw-in")
OUT_TOPIC = os.environ.get("BENCH_OUT", "bench.raw-out")


def main() -> None:
    from streams.app import run_worker

    settings = KafkaSettings()
    # The guard's Faust configuration, without its agents and tables.
    app = faust.App(f"{settings.app_id}-raw", broker=[f"kafka://{settings.require_bootstrap()}"],
                    store="memory://", topic_partitions=settings.topic_partitions, key_serializer="raw",
                    value_serializer="raw", web_enabled=False, consumer_auto_offset_reset="earliest",
                    producer_acks=-1, producer_linger_ms=5, producer_max_batch_size=256 * 1024,
                    stream_buffer_maxsize=8192, broker_commit_every=5000, broker_commit_interval=1.0,
                    broker_session_timeout=6 if settings.local_mode else 60,
                    broker_heartbeat_interval=1 if settings.local_mode else 3)
    source = app.topic(IN_TOPIC, key_type=bytes, value_type=bytes)

    @app.agent(source, name="forward")
    async def forward(stream):
        producer = app.producer
        async for events in stream.take_events(1000, within=0.05):
            for event in events:
                await producer.send(OUT_TOPIC, event.message.key, event.message.value, None, None, None)

    run_worker(app)


if __name__ == "__main__":
    main()

"""The Faust guard app: repartition by My Number, check, route.

Two agents, so that Faust's per-message cost is paid per batch, not per record:

1. ``repartition`` reads ``linkage.records`` in batches (``take_events``),
   decodes each event, and sends one :file:`record_batch` message per target
   partition of ``linkage.records-by-number`` (partition = Kafka's murmur2 of
   the number, the same rule kafka-python used to publish the registry).
2. ``guard`` reads those batches. Partition ``p`` of the batches, of
   ``registry.residents`` and of the tables are co-partitioned, so every
   record meets its registry entry and the other links of its number in this
   worker. It calls :func:`guards.check` and routes PASS to
   ``linkage.verified``, HOLD to ``linkage.held``, INVALID to ``linkage.dlq``.

``registry_loader`` keeps the ``registry`` table (number → Resident bytes,
former numbers included) from the compacted ``registry.residents`` topic.

Processing is at least once: Faust flushes the producer before committing
consumed offsets, and the sink's writes are idempotent and versioned.
Nothing raised by a record stops the worker: it is dead-lettered with its
reason and position.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections import defaultdict
from collections.abc import Collection
from pathlib import Path
from typing import Any

import faust

import schemas
from guards import Outcome, Resident, check
from guards.number import compact, number_problem
from streams import topics
from streams.envelope import identity_problem, too_large
from streams.events import dead_letter_message, event_to_record, message_to_resident, verdict_message
from streams.settings import KafkaSettings

log = logging.getLogger(__name__)

__all__ = ["GuardApp", "create_app", "run_worker", "table_digest"]


class RegistryView:
    """The guard's read-only view of the registry table (decoded on demand)."""

    def __init__(self, table: faust.Table, codec: schemas.Codec) -> None:
        self._table = table
        self._codec = codec

    def get(self, my_number: str, /) -> Resident | None:
        raw = self._table.get(my_number.encode())
        if raw is None:
            return None
        return message_to_resident(self._codec.decode("resident", raw))


class GuardApp:
    """Builds the Faust app, its topics, tables and agents from settings."""

    def __init__(self, settings: KafkaSettings, *, store: str = "memory://",
                 batch_size: int = 1000, batch_within: float = 0.05, web_port: int | None = None,
                 known_systems: Collection[str] | None = None) -> None:
        self.settings = settings
        # process codes of the catalogue; an event of another is dead-lettered (streams/envelope.py)
        self.known_systems = frozenset(known_systems) if known_systems is not None else None
        self.codec = schemas.Codec()
        self.batch_size = batch_size
        self.batch_within = batch_within
        partitions = settings.topic_partitions
        self.partitions = partitions
        conf: dict[str, Any] = dict(
            broker=[f"kafka://{h}" for h in settings.require_bootstrap().split(",")],
            store=store,
            topic_partitions=partitions,
            topic_replication_factor=settings.topic_replication,
            key_serializer="raw",
            value_serializer="raw",
            web_enabled=False,
            consumer_auto_offset_reset="earliest",
            producer_acks=-1,
            producer_linger_ms=5,
            producer_max_batch_size=256 * 1024,
            producer_max_request_size=8 * 1024 * 1024,
            consumer_max_fetch_size=8 * 1024 * 1024,
            stream_buffer_maxsize=8192,
            broker_commit_every=5000,
            broker_commit_interval=1.0,
            table_standby_replicas=0,
            broker_client_id=settings.kafka_client_id,
        )
        if web_port:
            conf["web_port"] = web_port
        if settings.local_mode:
            # The local broker answers a group join after half the session timeout.
            conf.update(broker_session_timeout=6, broker_heartbeat_interval=1,
                        broker_rebalance_timeout=20)
        credentials = _credentials(settings)
        if credentials is not None:
            conf["broker_credentials"] = credentials
        self.app = faust.App(settings.app_id, **conf)
        app = self.app

        def topic(name: str, **kw: Any) -> faust.TopicT:
            return app.topic(name, key_type=bytes, value_type=bytes, partitions=partitions, **kw)

        self.topics = names = topics.names(settings)
        self.outcome_topic = {Outcome.PASS: names.verified, Outcome.HOLD: names.held, Outcome.INVALID: names.dlq}
        self.records_topic = topic(names.records)
        self.residents_topic = topic(names.residents, compacting=True)
        self.by_number_topic = topic(names.by_number, internal=True)

        self.registry = app.Table("registry", key_type=bytes, value_type=bytes, partitions=partitions)
        self.links = app.Table("links", key_type=bytes, value_type=bytes, partitions=partitions)
        self.registry_view = RegistryView(self.registry, self.codec)
        self._partition_counts: dict[str, int] = {}

        app.agent(self.records_topic, name="repartition")(self._repartition)
        app.agent(self.by_number_topic, name="guard")(self._guard)
        app.agent(self.residents_topic, name="registry_loader")(self._load_registry)

        if settings.table_dump_path:
            app.timer(1.0)(self._dump_tables)

        if settings.local_mode:
            from streams.quirks import patch_highwaters

            patch_highwaters(settings)

    async def _dump_tables(self) -> None:
        """Write hashes of every table entry (never the numbers) for restart checks."""
        dump = {"registry": table_digest(self.registry), "links": table_digest(self.links)}
        path = Path(self.settings.table_dump_path)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(dump, sort_keys=True))
        tmp.replace(path)

    # -- stage 1 ------------------------------------------------------------------
    async def _repartition(self, stream: faust.StreamT) -> None:
        async for events in stream.take_events(self.batch_size, within=self.batch_within):
            by_partition: dict[int, list[dict[str, Any]]] = defaultdict(list)
            outbox = Outbox()
            for event in events:
                message = event.message
                try:
                    decoded = self.codec.decode("record_changed", message.value)
                except schemas.DecodeError as e:
                    decoded, problem = None, ("UNDECODABLE", str(e))
                else:
                    problem = identity_problem(decoded, self.known_systems)
                oversize = too_large(len(message.value or b""), self.settings.max_record_bytes)
                if oversize is not None:  # its bytes would not fit the batch or the dead-letter topic
                    problem = ("TOO_LARGE", oversize)
                if problem is not None:
                    identity = {"system": str(decoded.get("system") or ""),
                                "record_id": str(decoded.get("record_id") or "")} if decoded else {}
                    outbox.add(self.topics.dlq, message.key, self._dead_letter_bytes(
                        message.topic, message.partition, message.offset, message.key,
                        None if oversize else message.value, *problem, **identity))
                    continue
                number = compact(decoded.get("my_number", ""))
                route_key = number.encode() if number else (message.key or b"")
                by_partition[topics.partition_for(route_key, self.partitions)].append(
                    {"partition": message.partition, "offset": message.offset,
                     "key": message.key, "value": message.value})
            for partition, items in by_partition.items():
                outbox.add(self.topics.by_number, None, self.codec.encode("record_batch", {"items": items}),
                           partition=partition)
            await outbox.send(self.app.producer, self._partitions_of)

    # -- stage 2 ------------------------------------------------------------------
    async def _guard(self, stream: faust.StreamT) -> None:
        async for event in stream.events():
            outbox = Outbox()
            message = event.message
            try:
                batch = self.codec.decode("record_batch", message.value)
            except schemas.DecodeError as e:
                outbox.add(self.topics.dlq, None, self._dead_letter_bytes(
                    message.topic, message.partition, message.offset, None, message.value, "UNDECODABLE", str(e)))
            else:
                changelog = self.links.changelog_topic.get_topic_name()
                for item in batch["items"]:
                    link = self._check_one(item, outbox)
                    if link is not None:
                        key, value = link
                        outbox.add(changelog, key, value, partition=message.partition)
            await outbox.send(self.app.producer, self._partitions_of)

    def _check_one(self, item: dict[str, Any], outbox: "Outbox") -> tuple[bytes, bytes] | None:
        """Check one record and put its verdict (or dead letter) in the outbox. Never raises.

        Returns the links-table entry it changed, for the caller's changelog batch.
        """
        position = (self.topics.records, item["partition"], item["offset"], item["key"], item["value"])
        try:
            decoded = self.codec.decode("record_changed", item["value"])
            record = event_to_record(decoded)
            verdict = check(record, self.registry_view)
        except Exception as e:  # never stop the worker on one record
            log.warning("record at %s[%d]@%d could not be checked: %s", *position[:3], type(e).__name__)
            outbox.add(self.topics.dlq, item["key"], self._dead_letter_bytes(
                *position, "UNDECODABLE", f"{type(e).__name__}: cannot be checked"))
            return None
        key = topics.record_key(record.system, record.record_id)
        if verdict.outcome is Outcome.INVALID:
            outbox.add(self.topics.dlq, key, self._dead_letter_bytes(
                *position, verdict.reason_codes, "; ".join(str(f) for f in verdict.findings),
                system=record.system, record_id=record.record_id))
            return None
        message = verdict_message(decoded, verdict, version=item["offset"])
        outbox.add(self.outcome_topic[verdict.outcome], key, self.codec.encode("verdict", message))
        number = compact(record.my_number)
        if record.operation != "delete" and number_problem(number) is None:
            return self._remember_link(number, record, verdict.outcome)
        return None

    async def _partitions_of(self, topic: str) -> int:
        count = self._partition_counts.get(topic)
        if count is None:
            producer = self.app.producer._ensure_producer()
            count = self._partition_counts[topic] = len(await producer.partitions_for(topic))
        return count

    def _remember_link(self, number: str, record, outcome: Outcome) -> tuple[bytes, bytes] | None:
        """Record which records in which systems carry this number; return the changed entry.

        The store is written here and the changelog by the caller, batched like
        the registry's (Faust's ``table[key] = value`` would send one message each).
        """
        key = number.encode()
        store = self.links.data
        raw = store.get(key)
        links = json.loads(raw) if raw else {}
        link_id = f"{record.system}/{record.record_id}"
        entry = {"atena_no": record.atena_no, "outcome": outcome.value}
        if links.get(link_id) == entry:
            return None
        links[link_id] = entry
        value = json.dumps(links, ensure_ascii=False, sort_keys=True).encode()
        store[key] = value
        return key, value

    # -- registry -------------------------------------------------------------------
    async def _load_registry(self, stream: faust.StreamT) -> None:
        """Keep the registry table, in batches: a registry load is a million messages.

        The store is written directly and the changelog in one Kafka batch per
        partition (the same partition as the source message, which is where
        Faust's own ``table[key] = value`` would have put it).
        """
        changelog = self.registry.changelog_topic.get_topic_name()
        store = self.registry.data
        async for events in stream.take_events(self.batch_size, within=self.batch_within):
            outbox = Outbox()
            for event in events:
                message = event.message
                if message.key is None:
                    outbox.add(self.topics.dlq, None, self._dead_letter_bytes(
                        message.topic, message.partition, message.offset, None, message.value,
                        "UNDECODABLE", "registry entry without a key", stage="registry"))
                    continue
                if message.value is not None:
                    try:
                        self.codec.decode("resident", message.value)
                    except schemas.DecodeError as e:
                        outbox.add(self.topics.dlq, message.key, self._dead_letter_bytes(
                            message.topic, message.partition, message.offset, message.key, message.value,
                            "UNDECODABLE", str(e), stage="registry"))
                        continue
                    store[message.key] = message.value
                else:  # tombstone: the number left the registry
                    store.pop(message.key, None)
                outbox.add(changelog, message.key, message.value, partition=message.partition)
            await outbox.send(self.app.producer, self._partitions_of)

    def _dead_letter_bytes(self, topic: str, partition: int, offset: int, key: bytes | None,
                           value: bytes | None, reason: str, error: str, *, stage: str = "guard",
                           system: str = "", record_id: str = "") -> bytes:
        return self.codec.encode("dead_letter", dead_letter_message(
            topic=topic, partition=partition, offset=offset, key=key, value=value, reason=reason,
            error=error, stage=stage, system=system, record_id=record_id))


class Outbox:
    """Messages produced while handling one batch, sent as one Kafka batch per partition.

    aiokafka's ``send_batch`` skips the per-message future and bookkeeping of
    ``send``; Faust still flushes the producer before it commits the consumed
    offsets, so a verdict is on the broker before its input counts as done.
    """

    def __init__(self) -> None:
        self._messages: dict[str, list[tuple[bytes | None, bytes | None, int | None]]] = defaultdict(list)

    def add(self, topic: str, key: bytes | None, value: bytes | None, partition: int | None = None) -> None:
        """Queue a message; without a partition, Kafka's rule for its key decides."""
        self._messages[topic].append((key, value, partition))

    async def send(self, producer: Any, partitions_of: Any) -> None:
        aio = producer._ensure_producer()
        for topic, messages in self._messages.items():
            count = await partitions_of(topic)
            by_partition: dict[int, list[tuple[bytes | None, bytes | None]]] = defaultdict(list)
            for key, value, partition in messages:
                if partition is None:
                    partition = topics.partition_for(key, count) if key else 0
                by_partition[partition].append((key, value))
            for partition, items in by_partition.items():
                batch = aio.create_batch()
                for key, value in items:
                    if batch.append(key=key, value=value, timestamp=None) is None:
                        await aio.send_batch(batch, topic, partition=partition)
                        batch = aio.create_batch()
                        batch.append(key=key, value=value, timestamp=None)
                await aio.send_batch(batch, topic, partition=partition)


def _credentials(settings: KafkaSettings) -> Any:
    """Faust broker credentials for TLS and SASL/SCRAM, or None for PLAINTEXT."""
    protocol = settings.kafka_security_protocol
    if protocol == "PLAINTEXT":
        return None
    ssl_context = None
    if protocol in ("SSL", "SASL_SSL"):
        import ssl

        ssl_context = ssl.create_default_context(cafile=settings.kafka_ssl_cafile)
        if settings.kafka_ssl_certfile:
            ssl_context.load_cert_chain(settings.kafka_ssl_certfile, settings.kafka_ssl_keyfile)
    if protocol == "SSL":
        return faust.SSLCredentials(ssl_context)
    password = settings.kafka_sasl_password.get_secret_value() if settings.kafka_sasl_password else ""
    return faust.SASLCredentials(
        username=settings.kafka_sasl_username or "", password=password,
        mechanism=settings.kafka_sasl_mechanism or "PLAIN", ssl_context=ssl_context,
    )


def create_app(settings: KafkaSettings | None = None, **kwargs: Any) -> GuardApp:
    return GuardApp(settings or KafkaSettings(), **kwargs)


def run_worker(app: faust.App, *, loglevel: str = "warning") -> None:
    """Run the Faust worker in this process until it is stopped (SIGTERM/SIGINT)."""
    from faust.worker import Worker

    level = logging.getLevelName(loglevel.upper())

    class _Worker(Worker):
        def on_setup_root_logger(self, logger: logging.Logger, _level: int) -> None:
            super().on_setup_root_logger(logger, _level)
            # mode leaves the root logger at DEBUG whatever level it is given, and
            # aiokafka then builds a debug record for every message it sends.
            logger.setLevel(level)

    worker = _Worker(app, loglevel=level, quiet=True, redirect_stdouts=False)
    worker.execute_from_commandline()


def table_digest(table: faust.Table) -> dict[str, str]:
    """SHA-256 of key → SHA-256 of value for every entry (a dump never shows a number)."""
    return {hashlib.sha256(bytes(k)).hexdigest(): hashlib.sha256(bytes(v)).hexdigest()
            for k, v in table.items()}



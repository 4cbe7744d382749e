"""The Faust guard app: wiring only. The stages are pure modules under ``streams/stages/``.

::

    linkage.records ──repartition──► records-by-number ──by_number──► PASS ─► linkage.verified
       (by record)    (filed)        (by My Number)     (registry,   HOLD ─► records-by-identity
                          │                              links)                  │
                          └── Member/Remove ─► records-by-batch ◄── Candidate ── identity ─► HOLD ─► linkage.held
                                               (by input batch)   (swap)       (identities,
                                                batch ─► HOLD with BATCH_SWAP    waiting)
    registry.residents ──registry_loader──► registry table; ResidentIn ─► records-by-identity; Recheck ─► by number
    linkage.control ──process_control──► ProcessControl ─► every records-by-number partition (連携停止)
    linkage.decisions ──decisions──► a four-eyes release ─► linkage.verified (streams/decisions.py)

Each agent reads a chunk (``take_events``) or one internal envelope, calls
its stage's pure ``handle(items, state)``, then writes: the changed table
entries to the store and to the changelog (in the partition Faust's own
``table[key] = value`` would use), and the stage's outputs, as one Kafka
batch per partition (:class:`Outbox`). Only then is the input acknowledged:
Faust flushes the producer before it commits, so processing is at least
once; every stage is idempotent and every verdict versioned
(:func:`streams.stages.base.version_of`), so the sink ends with the newest
judgement of the newest event. Once the stream has drained, every verdict
equals what ``linkguard inspect`` gives (tests run a shuffled corpus both
ways, through this app on a broker and through :mod:`streams.testing`).

The work-arounds for Faust's record losses live in :mod:`streams.faust_fixes`,
installed once here.
"""

from __future__ import annotations

import asyncio
import gc
import hashlib
import json
import logging
from collections import defaultdict
from collections.abc import Collection
from pathlib import Path
from typing import Any, Callable

import faust
import msgspec

import schemas
from streams import faust_fixes, topics
from streams.faust_fixes import acked_only_when_done
from streams.faust_fixes.monitor import QuietMonitor
from streams.settings import KafkaSettings
from streams.stages.base import (REVISIONS, Message, Outputs, RawTable, RegistryView, StageConfig, TableState,
                                 dead_letter, version_of)
from streams.stages.by_batch import BatchStageState, ByBatch
from streams.stages.by_number import ByNumber, NumberState
from streams.stages.chunked import ChunkedStore
from streams.stages.control import ControlRouter
from streams.stages.identity import BucketIndex, IdentityStage, IdentityState
from streams.stages.messages import BatchState, Filed, LinkSet, ProcessState, Waiting, decode_envelope
from streams.stages.registry import RegistryLoader, RegistryState
from streams.stages.repartition import Repartition, RepartitionState

log = logging.getLogger(__name__)

__all__ = ["GuardApp", "Outbox", "create_app", "run_worker", "table_digest", "version_of", "REVISIONS"]

#: the tables a worker's dump shows (hashes only), for the restart tests
DUMPED = ("registry", "links", "filed", "process_stops", "identities", "waiting", "batches")
#: the tables written to their changelog as chunks (streams/stages/chunked.py): one message per partition
#: and input chunk instead of one per changed entry
CHUNKED = ("filed", "links", "waiting", "batches")


class GuardApp:
    """Builds the Faust app, its topics, tables and agents from settings."""

    def __init__(self, settings: KafkaSettings, *, store: str = "memory://",
                 batch_size: int = 1000, batch_within: float = 0.1, web_port: int | None = None,
                 known_systems: Collection[str] | None = None) -> None:
        self.settings = settings
        self.codec = schemas.Codec()
        self.batch_size = batch_size
        # a source chunk waits up to this long to fill: fuller chunks mean fewer internal envelopes and
        # one batch-table write per input batch, for a fraction of a second of latency
        self.batch_within = batch_within
        self.partitions = partitions = settings.topic_partitions
        self.app = app = faust.App(settings.app_id, **_faust_conf(settings, store, web_port))
        self.topics = names = topics.names(settings)
        # process codes of the catalogue; an event of another is dead-lettered (streams/envelope.py)
        self.config = StageConfig(names, partitions, frozenset(known_systems) if known_systems is not None else None,
                                  settings.max_record_bytes)

        def topic(name: str, **kw: Any) -> faust.TopicT:
            return app.topic(name, key_type=bytes, value_type=bytes, partitions=partitions, **kw)

        def table(name: str) -> faust.Table:
            return app.Table(name, key_type=bytes, value_type=bytes, partitions=partitions)

        self.records_topic = topic(names.records)
        self.residents_topic = topic(names.residents, compacting=True)
        self.control_topic = topic(names.control, compacting=True)
        self.by_number_topic = topic(names.by_number, internal=True)
        self.by_identity_topic = topic(names.by_identity, internal=True)
        self.by_batch_topic = topic(names.by_batch, internal=True)

        #: record key → the number and batch it was last filed under (repartition); written as one
        #: chunk per partition and input chunk, not one changelog message per record
        self.filed = table("filed")
        #: number → the resident's Avro bytes, under every current and former number (registry loader)
        self.registry = table("registry")
        #: number → the records carrying it (by number); chunked like ``filed``
        self.links = table("links")
        #: partition U+001F process code → the process's linkage state (by number)
        self.process_stops = table("process_stops")
        #: bucket U+001F number → the resident's Avro bytes: the registry by birth date + sex (identity)
        self.identities = table("identities")
        #: bucket → the held records waiting for its look-up (identity)
        self.waiting = table("waiting")
        #: batch → its members and swap candidates (by batch)
        self.batches = table("batches")

        #: the tables whose changes go to their changelog as chunks (streams/stages/chunked.py)
        self.chunked = {name: ChunkedStore(getattr(self, name).data) for name in CHUNKED}
        for name, store in self.chunked.items():
            getattr(self, name).on_recover(self._invalidator(store))
        self.registry_view = RegistryView(self.registry.data, self.codec)
        self.bucket_index = BucketIndex(self.identities.data)
        self.identities.on_recover(self._identities_recovered)
        self.repartition = Repartition(self.config, self.codec)
        self.registry_loader = RegistryLoader(self.config, self.codec)
        self.control = ControlRouter(self.config, self.codec)
        self.by_number = ByNumber(self.config, self.codec)
        self.identity = IdentityStage(self.config, self.codec)
        self.by_batch = ByBatch(self.config, self.codec)
        self._partition_counts: dict[str, int] = {}
        self._dumped_sizes: tuple[int, ...] = ()
        self._dump_ticks = 0

        app.agent(self.records_topic, name="repartition")(self._repartition)
        app.agent(self.residents_topic, name="registry_loader")(self._load_registry)
        app.agent(self.control_topic, name="process_control")(self._process_control)
        app.agent(self.by_number_topic, name="guard")(self._guard)
        app.agent(self.by_identity_topic, name="identity")(self._identity)
        app.agent(self.by_batch_topic, name="batch")(self._batch)
        from streams.decisions import DecisionAgent  # reviewers' decisions, four-eyes checked again
        self.decisions = DecisionAgent(self)

        if settings.table_dump_path:
            app.timer(1.0)(self._dump_tables)
        # Faust's and the local broker's record losses (streams/faust_fixes): the guard's own topics have
        # no gaps, so a record dropped or jumped over in a rebalance is read again and no commit passes a
        # record not yet checked
        faust_fixes.install(app, contiguous=[names.records, names.by_number, names.by_identity, names.by_batch,
                                             names.decisions],
                            compacted=[names.residents], local_broker=settings if settings.local_mode else None,
                            fetch_max_wait_ms=settings.consumer_fetch_max_wait_ms)

    # -- the agents: read, call the stage, write ---------------------------------------------
    async def _repartition(self, stream: faust.StreamT) -> None:
        async for events in stream.take_events(self.batch_size, within=self.batch_within):
            with acked_only_when_done(stream):
                state = RepartitionState(TableState(self.chunked["filed"], Filed))
                out = self.repartition.handle(_messages(events), state)
                await self.send(out, (self.filed, state.filed))

    async def _load_registry(self, stream: faust.StreamT) -> None:
        """Keep the registry table, in batches: a registry load is a million messages."""
        async for events in stream.take_events(self.batch_size, within=self.batch_within):
            with acked_only_when_done(stream):
                registry = RawTable(self.registry.data)
                out = self.registry_loader.handle(_messages(events),
                                                  RegistryState(registry, self.chunked["links"]))
                await self.send(out, (self.registry, registry))

    async def _process_control(self, stream: faust.StreamT) -> None:
        async for event in stream.events():
            await self.send(self.control.handle(_messages([event])))

    async def _guard(self, stream: faust.StreamT) -> None:
        def handle(items: list, partition: int) -> tuple[Outputs, list]:
            state = NumberState(TableState(self.chunked["links"], LinkSet), self.registry_view,
                                TableState(self.process_stops.data, ProcessState), partition)
            return self.by_number.handle(items, state), [(self.links, state.links),
                                                         (self.process_stops, state.stops)]

        await self._each_envelope(stream, "guard", handle)

    async def _identity(self, stream: faust.StreamT) -> None:
        def handle(items: list, partition: int) -> tuple[Outputs, list]:
            identities = RawTable(self.identities.data)
            state = IdentityState(identities, self.bucket_index, TableState(self.chunked["waiting"], Waiting),
                                  self.registry_view)
            return self.identity.handle(items, state), [(self.identities, identities), (self.waiting, state.waiting)]

        await self._each_envelope(stream, "identity", handle)

    async def _batch(self, stream: faust.StreamT) -> None:
        def handle(items: list, partition: int) -> tuple[Outputs, list]:
            state = BatchStageState(TableState(self.chunked["batches"], BatchState))
            return self.by_batch.handle(items, state), [(self.batches, state.batches)]

        await self._each_envelope(stream, "batch", handle)

    async def _each_envelope(self, stream: faust.StreamT, stage: str,
                             handle: Callable[[list, int], tuple[Outputs, list]]) -> None:
        """Decode each internal envelope, ``handle`` its items, send, and only then acknowledge it."""
        stream = stream.noack()
        async for event in stream.events():
            message = event.message
            try:
                items = decode_envelope(message.value)
            except (msgspec.DecodeError, msgspec.ValidationError, TypeError) as e:
                out = Outputs()
                dead_letter(self.codec, out, self.config, topic=message.topic, partition=message.partition,
                            offset=message.offset, key=None, value=message.value, reason="UNDECODABLE",
                            error=f"not an internal envelope: {e}", stage=stage)
                await self.send(out)
            else:
                out, tables = handle(items, message.partition)
                await self.send(out, *tables, partition=message.partition)
            await stream.ack(event)

    async def send(self, out: Outputs, *tables: tuple[faust.Table, Any], partition: int | None = None) -> None:
        """The tables' changed entries (store, then changelog) and the stage's outputs, in Kafka batches."""
        outbox = Outbox()
        for table, state in tables:
            changelog = table.changelog_topic.get_topic_name()
            changes = state.flush()
            chunked = self.chunked.get(table.name)
            if chunked is not None:
                changes = chunked.seal(changes, partition)
            for key, value, at in changes:
                outbox.add(changelog, key, value, partition=at if at is not None else partition)
        for topic, key, value, at in out.all():
            outbox.add(topic, key, value, partition=at)
        await outbox.send(self.app.producer, self._partitions_of)

    async def _partitions_of(self, topic: str) -> int:
        count = self._partition_counts.get(topic)
        if count is None:
            producer = self.app.producer._ensure_producer()
            count = self._partition_counts[topic] = len(await producer.partitions_for(topic))
        return count

    async def _identities_recovered(self) -> None:
        self.bucket_index.invalidate()  # filled from the changelog behind the index's back

    @staticmethod
    def _invalidator(store: ChunkedStore) -> Callable[[], Any]:
        async def recovered() -> None:
            store.invalidate()  # its chunks were filled from the changelog behind the index's back

        return recovered

    async def _dump_tables(self) -> None:
        """Write hashes of every table entry (never the numbers) for restart checks.

        Hashing every entry takes the event loop for a while: skipped while no table grew
        or shrank, except every tenth second (an entry may change in place).
        """
        sizes = tuple(len(self._dumped(name)) for name in DUMPED)
        self._dump_ticks += 1
        if sizes == self._dumped_sizes and self._dump_ticks % 10:
            return
        self._dumped_sizes = sizes
        dump = {name: table_digest(self._dumped(name)) for name in DUMPED}
        path = Path(self.settings.table_dump_path)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(dump, sort_keys=True))
        tmp.replace(path)

    def _dumped(self, name: str) -> Any:
        """A table's entries as the stages see them (a chunked table's index, not its chunks)."""
        return self.chunked[name] if name in self.chunked else getattr(self, name).data

    def dead_letter_bytes(self, topic: str, partition: int, offset: int, key: bytes | None, value: bytes | None,
                          reason: str, error: str, *, stage: str = "guard") -> bytes:
        out = Outputs()
        dead_letter(self.codec, out, self.config, topic=topic, partition=partition, offset=offset, key=key,
                    value=value, reason=reason, error=error, stage=stage)
        return out.messages[0][2]


def _messages(events: list[Any]) -> list[Message]:
    return [Message(e.message.topic, e.message.partition, e.message.offset, e.message.key, e.message.value)
            for e in events]


class Outbox:
    """Messages produced while handling one input, sent as one Kafka batch per partition.

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
        """Append every message to the producer's batch of its partition.

        aiokafka's ``send_batch`` waits until the partition's previous batch has gone
        to the broker (a round trip per partition per input, which left the workers
        idle half the time); ``send`` appends to the open batch and only waits when
        that batch is full. Faust flushes the producer before it commits, so the
        messages are on the broker before their input counts as done.
        """
        aio = producer._ensure_producer()
        for topic, messages in self._messages.items():
            count = await partitions_of(topic)
            for key, value, partition in messages:
                if partition is None:
                    partition = topics.partition_for(key, count) if key else 0
                await aio.send(topic, value=value, key=key, partition=partition)


def _faust_conf(settings: KafkaSettings, store: str, web_port: int | None) -> dict[str, Any]:
    conf: dict[str, Any] = dict(
        broker=[f"kafka://{h}" for h in settings.require_bootstrap().split(",")],
        store=store,
        topic_partitions=settings.topic_partitions,
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
        Monitor=QuietMonitor,  # no per-message statistics: nothing reads them (web view off)
    )
    if web_port:
        conf["web_port"] = web_port
    if settings.local_mode:
        # The local broker answers a group join after half the session timeout.
        conf.update(broker_session_timeout=6, broker_heartbeat_interval=1, broker_rebalance_timeout=20)
    credentials = _credentials(settings)
    if credentials is not None:
        conf["broker_credentials"] = credentials
    return conf


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


#: young objects between two passes of the cyclic garbage collector (Python's default: 700)
GC_YOUNG = 50_000


def _quiet_collector() -> None:
    """Fewer passes of the cyclic garbage collector over a heap that is mostly long-lived.

    A worker holds its tables, caches and Faust's own objects for its whole life,
    and nearly all it allocates per record is freed by reference counting. With
    Python's defaults the collector walked that heap again and again (about a tenth
    of the stage time in the in-memory driver); what is alive at start is frozen out
    of its passes, and it runs after 50,000 new objects instead of 700.
    """
    gc.collect()
    gc.freeze()
    gc.set_threshold(GC_YOUNG, 20, 20)


def run_worker(app: faust.App, *, loglevel: str = "warning") -> None:
    """Run the Faust worker in this process until it is stopped (SIGTERM/SIGINT)."""
    from faust.worker import Worker

    _quiet_collector()

    level = logging.getLevelName(loglevel.upper())

    class _Worker(Worker):
        def on_setup_root_logger(self, logger: logging.Logger, _level: int) -> None:
            super().on_setup_root_logger(logger, _level)
            # mode leaves the root logger at DEBUG whatever level it is given, and
            # aiokafka then builds a debug record for every message it sends.
            logger.setLevel(level)

    worker = _Worker(app, loglevel=level, quiet=True, redirect_stdouts=False)
    worker.execute_from_commandline()


def table_digest(table: Any) -> dict[str, str]:
    """SHA-256 of key → SHA-256 of value for every entry (a dump never shows a number)."""
    return {hashlib.sha256(bytes(k)).hexdigest(): hashlib.sha256(bytes(v)).hexdigest()
            for k, v in table.items()}

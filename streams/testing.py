"""An in-memory topology driver: every stage of the guard on in-process partitions, no broker.

Like Kafka Streams' ``TopologyTestDriver``: topics are lists of messages per
partition, with the partitioning rule of the real topics (Kafka's murmur2 of
the key, :func:`streams.topics.partition_for`); each stage runs per partition
over the same pure ``handle`` the Faust agents call, with its tables as
dicts and every state change counted as the changelog message it would be.
Messages are consumed in an order a seeded random generator picks among the
partitions that have input (stages and partitions race as they do on a
broker), in chunks like ``take_events``.

>>> from guards import Record, Resident
>>> import datetime as dt
>>> driver = TopologyDriver(partitions=3)
>>> hanako = Resident('621498320257', '山田 花子', dt.date(1980, 4, 1), 2, '高知市本町1-1')
>>> driver.publish_residents([hanako])
>>> driver.publish_records([Record('shoman', 'S-1', hanako.my_number, '山田花子', '1980-04-01', '2')])
>>> driver.run()
>>> driver.final()[('shoman', 'S-1')]
('PASS', '', '')
"""

from __future__ import annotations

import random
from collections import Counter, defaultdict
from typing import Any, Iterable

import schemas
from guards import Record, Resident, registry_keys
from streams import topics
from streams.events import record_to_event, resident_to_message
from streams.stages.base import Message, RawTable, RegistryView, StageConfig, TableState
from streams.stages.by_batch import BatchStageState, ByBatch
from streams.stages.by_number import ByNumber, NumberState
from streams.stages.chunked import ChunkedStore
from streams.stages.identity import BucketIndex, IdentityStage, IdentityState
from streams.decisions import DecisionStage
from streams.stages.control import ControlRouter
from streams.stages.messages import BatchState, Filed, LinkSet, ProcessState, Waiting, decode_envelope
from streams.stages.registry import RegistryLoader, RegistryState
from streams.stages.repartition import Repartition, RepartitionState

__all__ = ["TopologyDriver"]


class TopologyDriver:
    """The guard's stages over in-memory topics. :meth:`publish_records`, :meth:`run`, :meth:`final`."""

    TABLES = ("filed", "registry", "links", "process_stops", "identities", "waiting", "batches", "release_requests")
    #: tables written to their changelog as chunks (streams/stages/chunked.py): ``stores`` holds their chunks
    CHUNKED = ("filed", "links", "waiting", "batches")

    def __init__(self, partitions: int = 3, *, known_systems: Iterable[str] | None = None, chunk: int = 200,
                 seed: int | None = 0, names: topics.TopicNames | None = None) -> None:
        self.names = names or topics.TopicNames()
        self.config = StageConfig(self.names, partitions,
                                  frozenset(known_systems) if known_systems is not None else None)
        self.partitions = partitions
        self.codec = schemas.Codec()
        self.chunk = chunk
        self.rng = random.Random(seed) if seed is not None else None
        self.log: dict[str, list[list[Message]]] = defaultdict(lambda: [[] for _ in range(partitions)])
        self.read: dict[tuple[str, int], int] = defaultdict(int)  # next offset each stage reads
        self.stores: dict[str, list[dict[bytes, bytes]]] = {t: [{} for _ in range(partitions)] for t in self.TABLES}
        self.changelog = Counter()  # table → changelog messages written
        self.stages = {
            self.names.records: Repartition(self.config, self.codec),
            self.names.residents: RegistryLoader(self.config, self.codec),
            self.names.by_number: ByNumber(self.config, self.codec),
            self.names.by_identity: IdentityStage(self.config, self.codec),
            self.names.by_batch: ByBatch(self.config, self.codec),
            self.names.control: ControlRouter(self.config, self.codec),
            self.names.decisions: DecisionStage(self.config, self.codec),
        }
        self.chunked = {name: [ChunkedStore(chunks) for chunks in self.stores[name]]  # as the app keeps them
                        for name in self.CHUNKED}
        self._views = [RegistryView(self.stores["registry"][p], self.codec) for p in range(partitions)]
        self._indexes = [BucketIndex(self.stores["identities"][p]) for p in range(partitions)]

    # -- input ------------------------------------------------------------------------------
    def send(self, topic: str, key: bytes | None, value: bytes | None, partition: int | None = None) -> None:
        if partition is None:
            partition = topics.partition_for(key, self.partitions) if key else 0
        log = self.log[topic][partition]
        log.append(Message(topic, partition, len(log), key, value))

    def publish_records(self, records: Iterable[Record]) -> None:
        for record in records:
            self.send(self.names.records, topics.record_key(record.system, record.record_id),
                      self.codec.encode("record_changed", record_to_event(record)))

    def publish_residents(self, residents: Iterable[Resident]) -> None:
        for resident in residents:
            value = self.codec.encode("resident", resident_to_message(resident))
            for key in registry_keys(resident):
                self.send(self.names.residents, key.encode(), value)

    def control_process(self, system: str, *, stopped: bool) -> None:
        """The headquarters stops (or resumes) the linkage of a process (連携停止)."""
        import datetime as dt

        from streams.stops import control_message

        message = control_message(system, stopped=stopped, stop_id=f"stop-{len(self.messages(self.names.control))}",
                                  changed_at=dt.datetime.now(dt.timezone.utc))
        self.send(self.names.control, system.encode(), self.codec.encode("process_control", message))

    def decide(self, decision: dict) -> None:
        """Publish a reviewer's decision (``streams.events.decision_message``) as any client could."""
        self.send(self.names.decisions, topics.record_key(decision["system"], decision["record_id"]),
                  self.codec.encode("decision", decision))

    def remove_resident(self, resident: Resident) -> None:
        """A tombstone for each of the resident's numbers: they left the registry."""
        for key in registry_keys(resident):
            self.send(self.names.residents, key.encode(), None)

    # -- running ----------------------------------------------------------------------------
    def pending(self) -> list[tuple[str, int]]:
        return [(topic, p) for topic in self.stages for p in range(self.partitions)
                if self.read[(topic, p)] < len(self.log[topic][p])]

    def step(self) -> bool:
        """Consume one chunk (a source topic) or one envelope (an internal one); False when idle."""
        pending = self.pending()
        if not pending:
            return False
        topic, partition = self.rng.choice(pending) if self.rng is not None else pending[0]
        log, start = self.log[topic][partition], self.read[(topic, partition)]
        if topic in (self.names.records, self.names.residents, self.names.control, self.names.decisions):
            size = self.rng.randint(1, self.chunk) if self.rng is not None else self.chunk
            batch = log[start:start + size]
            self.read[(topic, partition)] = start + len(batch)
            self._run_source(topic, partition, batch)
        else:
            self.read[(topic, partition)] = start + 1
            self._run_internal(topic, partition, log[start])
        return True

    def run(self, max_steps: int = 10_000_000) -> None:
        """Run until every stage has read everything."""
        for _ in range(max_steps):
            if not self.step():
                return
        raise RuntimeError("the topology did not settle")

    def _run_source(self, topic: str, partition: int, batch: list[Message]) -> None:
        if topic == self.names.control:
            out = self.stages[topic].handle(batch)
        elif topic == self.names.decisions:
            out = self.stages[topic].handle(batch, self.stores["release_requests"][partition])
        elif topic == self.names.records:
            state = RepartitionState(TableState(self.chunked["filed"][partition], Filed))
            out = self.stages[topic].handle(batch, state)
            self._flush("filed", state.filed, partition)
        else:
            registry = RawTable(self.stores["registry"][partition])
            state = RegistryState(registry, self.chunked["links"][partition])
            out = self.stages[topic].handle(batch, state)
            self._flush("registry", registry)
        self._send(out)

    def _run_internal(self, topic: str, partition: int, message: Message) -> None:
        items = decode_envelope(message.value)
        if topic == self.names.by_number:
            state = NumberState(TableState(self.chunked["links"][partition], LinkSet), self._views[partition],
                                TableState(self.stores["process_stops"][partition], ProcessState), partition)
            out = self.stages[topic].handle(items, state)
            self._flush("links", state.links, partition)
            self._flush("process_stops", state.stops)
        elif topic == self.names.by_identity:
            identities = RawTable(self.stores["identities"][partition])
            state = IdentityState(identities, self._indexes[partition],
                                  TableState(self.chunked["waiting"][partition], Waiting), self._views[partition])
            out = self.stages[topic].handle(items, state)
            self._flush("identities", identities)
            self._flush("waiting", state.waiting, partition)
        else:
            state = BatchStageState(TableState(self.chunked["batches"][partition], BatchState))
            out = self.stages[topic].handle(items, state)
            self._flush("batches", state.batches, partition)
        self._send(out)

    def _flush(self, table: str, state: Any, partition: int | None = None) -> None:
        changes = state.flush()
        if table in self.CHUNKED:
            changes = self.chunked[table][partition].seal(changes, partition)
        self.changelog[table] += len(changes)

    def table(self, name: str) -> dict[bytes, bytes]:
        """A table's entries over every partition, as the stages see them."""
        stores = self.chunked.get(name) or self.stores[name]
        return {k: v for store in stores for k, v in store.items()}

    def _send(self, out: Any) -> None:
        for topic, key, value, partition in out.all():
            self.send(topic, key, value, partition)

    def recover(self) -> None:
        """A restart of every worker: the indexes over the tables are built again from the stores
        (as after a changelog recovery), so nothing only in memory survives."""
        self.chunked = {name: [ChunkedStore(chunks) for chunks in self.stores[name]] for name in self.CHUNKED}
        self._views = [RegistryView(self.stores["registry"][p], self.codec) for p in range(self.partitions)]
        self._indexes = [BucketIndex(self.stores["identities"][p]) for p in range(self.partitions)]

    # -- what came out ----------------------------------------------------------------------
    def messages(self, topic: str) -> list[Message]:
        return [m for part in self.log[topic] for m in part]

    def message_counts(self) -> dict[str, int]:
        """Messages written per topic, and per table changelog (``changelog:<table>``)."""
        counts = {topic: sum(len(p) for p in parts) for topic, parts in self.log.items()}
        counts.update({f"changelog:{t}": n for t, n in self.changelog.items()})
        return counts

    def final(self) -> dict[tuple[str, str], tuple[str, str, str]]:
        """(system, record_id) → (outcome, reason codes, suggestion), as the sink ends up holding it.

        The newest version of each record's verdicts wins (the sink's rule); a record with no
        verdict but a dead letter is INVALID with the dead letter's reason.
        """
        newest: dict[tuple[str, str], tuple[int, str, str, str]] = {}
        for topic in (self.names.verified, self.names.held):
            for m in self.messages(topic):
                v = self.codec.decode("verdict", m.value)
                key = (v["record"]["system"], v["record"]["record_id"])
                codes = ";".join(dict.fromkeys(r["code"] for r in v["reasons"]))
                row = (int(v["version"]), v["outcome"], codes if v["outcome"] == "HOLD" else "",
                       v["suggested_my_number"] if v["outcome"] == "HOLD" else "")
                if key not in newest or row[0] > newest[key][0]:
                    newest[key] = row
        state = {key: row[1:] for key, row in newest.items()}
        for m in self.messages(self.names.dlq):
            d = self.codec.decode("dead_letter", m.value)
            if d["system"]:
                state.setdefault((d["system"], d["record_id"]), ("INVALID", d["reason"], ""))
        return state

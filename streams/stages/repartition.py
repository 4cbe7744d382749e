"""Stage 1, by record: check the envelope, route each event to its number's partition.

Reads ``linkage.records`` (keyed by system + record id). An event that cannot
be read, is too large, has no identity or names an unknown process is
dead-lettered here. Every other event goes, in one envelope per target
partition, to ``linkage.records-by-number`` (partition = Kafka's murmur2 of
the number, the rule the registry was published with). The ``filed`` table
remembers the number and batch each record was last filed under, so a record
that moves (a corrected number, another batch) leaves nothing behind: the old
number is told to :class:`~streams.stages.messages.Unlink` it, the old batch
to :class:`~streams.stages.messages.Remove` it. Every record of a batch is
announced to its batch here (:class:`~streams.stages.messages.Member`), in
input order: a batch's records arrive together, so its table entry is
written once per chunk, not once per record.
"""

from __future__ import annotations

from dataclasses import dataclass

import schemas
from guards.context import link_key
from guards.number import compact
from streams.envelope import identity_problem, too_large
from streams.events import event_to_record
from streams.stages.base import Message, Outputs, StageConfig, TableState, dead_letter
from streams.stages.messages import Filed, Member, RecordIn, Remove, Unlink
from streams.stages.peers import batch_name, fields_of, link_id

__all__ = ["RepartitionState", "Repartition"]


@dataclass
class RepartitionState:
    filed: TableState[Filed]


class Repartition:
    def __init__(self, config: StageConfig, codec: schemas.Codec) -> None:
        self.config = config
        self.codec = codec

    def handle(self, batch: list[Message], state: RepartitionState) -> Outputs:
        config, names = self.config, self.config.names
        out = Outputs()
        batch_partitions: dict[str, int] = {}  # a batch's records arrive together: its partition computed once
        for message in batch:
            try:
                decoded = self.codec.decode("record_changed", message.value)
            except schemas.DecodeError as e:
                decoded, problem = None, ("UNDECODABLE", str(e))
            else:
                problem = identity_problem(decoded, config.known_systems)
            oversize = too_large(len(message.value or b""), config.max_record_bytes)
            if oversize is not None:  # its bytes would not fit an envelope or the dead-letter topic
                problem = ("TOO_LARGE", oversize)
            if problem is not None:
                identity = {"system": str(decoded.get("system") or ""),
                            "record_id": str(decoded.get("record_id") or "")} if decoded else {}
                dead_letter(self.codec, out, config, topic=message.topic, partition=message.partition,
                            offset=message.offset, key=message.key, value=None if oversize else message.value,
                            reason=problem[0], error=problem[1], dlq_key=message.key, **identity)
                continue
            number = compact(decoded.get("my_number", ""))
            route = number.encode() if number else (message.key or b"")
            out.forward(names.by_number, config.partition_of(route),
                        RecordIn(message.partition, message.offset, message.key, message.value or b"", decoded))
            if message.key is None:
                continue
            lid = link_id(message.key)
            try:
                record = event_to_record(decoded)
                now = Filed(link_key(record) or "", batch_name(record))
            except Exception:  # unreadable fields: the number stage dead-letters the event itself
                record, now = None, Filed()
            if now.batch:  # every record of a batch may be the partner of another's swap
                at = batch_partitions.get(now.batch)
                if at is None:
                    at = batch_partitions[now.batch] = config.partition_of(now.batch)
                out.forward(names.by_batch, at,
                            Member(now.batch, lid, message.offset, fields_of(record))
                            if record.operation != "delete" else Remove(now.batch, lid, message.offset))
            before = state.filed.get(message.key) or Filed()
            if before == now:
                continue
            if before.number and before.number != now.number:
                out.forward(names.by_number, config.partition_of(before.number),
                            Unlink(before.number, message.key, message.offset))
            if before.batch and before.batch != now.batch:
                out.forward(names.by_batch, config.partition_of(before.batch),
                            Remove(before.batch, lid, message.offset))
            state.filed.put(message.key, now if (now.number or now.batch) else None, message.partition)
        return out

"""The registry loader: ``registry.residents`` into the number stage's table and the identity buckets.

``registry.residents`` is compacted and keyed by every current and former
number (the publisher's rule, :func:`guards.registry_keys`), so partition
``p`` of it is the registry share of the number stage's partition ``p``.
Each entry is kept as its Avro bytes in the ``registry`` table and sent to
its identity bucket's partition (:class:`~messages.ResidentIn`; a tombstone,
or a changed birth date or sex, takes it out of its old bucket). When a
number that records carry changes, its records are judged again
(:class:`~messages.Recheck`): a PASS that is no longer one is retracted.
"""

from __future__ import annotations

from collections.abc import Container
from dataclasses import dataclass

import schemas
from guards import Resident
from streams.events import message_to_resident
from streams.stages.base import Message, Outputs, RawTable, StageConfig, bucket_key, dead_letter
from streams.stages.messages import Recheck, ResidentIn

__all__ = ["RegistryState", "RegistryLoader"]


@dataclass
class RegistryState:
    registry: RawTable
    linked: Container[bytes]  # numbers that records carry (the number stage's links)


class RegistryLoader:
    def __init__(self, config: StageConfig, codec: schemas.Codec) -> None:
        self.config = config
        self.codec = codec

    def handle(self, batch: list[Message], state: RegistryState) -> Outputs:
        names, out = self.config.names, Outputs()
        for message in batch:
            if message.key is None:
                dead_letter(self.codec, out, self.config, topic=message.topic, partition=message.partition,
                            offset=message.offset, key=None, value=message.value, reason="UNDECODABLE",
                            error="registry entry without a key", stage="registry")
                continue
            bucket = ""
            if message.value is not None:
                try:
                    resident = message_to_resident(self.codec.decode("resident", message.value))
                except Exception as e:  # schemas.DecodeError, or fields the guard cannot read
                    dead_letter(self.codec, out, self.config, topic=message.topic, partition=message.partition,
                                offset=message.offset, key=message.key, value=message.value,
                                reason="UNDECODABLE", error=str(e), stage="registry", dlq_key=message.key)
                    continue
                bucket = _bucket(resident)
            old = state.registry.get(message.key)
            if old is not None and old != message.value:
                old_bucket = _bucket(message_to_resident(self.codec.decode("resident", old)))
                if old_bucket != bucket:
                    out.forward(names.by_identity, self.config.partition_of(old_bucket),
                                ResidentIn(old_bucket, message.key.decode(), None))
            state.registry.put(message.key, message.value, message.partition)
            if bucket:
                out.forward(names.by_identity, self.config.partition_of(bucket),
                            ResidentIn(bucket, message.key.decode(), message.value))
            if message.key in state.linked:  # records carry this number: judge them again (retraction)
                out.forward(names.by_number, message.partition, Recheck(message.key.decode()))
        return out


def _bucket(resident: Resident) -> str:
    return bucket_key(resident.birth_date, resident.sex)

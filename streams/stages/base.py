"""What every stage shares: its configuration, typed table state, its outputs, versions.

A stage is a class with ``handle(items, state) -> Outputs``: it reads and
changes its :class:`TableState` (decoded once, cached for the call, written
back by the caller) and returns the messages to send. It never touches Kafka,
Faust or a clock: the Faust agents (``streams/app.py``) and the in-memory
driver (``streams/testing.py``) do the reading and writing around it.
"""

from __future__ import annotations

import functools
import hashlib
from collections import defaultdict
from collections.abc import Collection, MutableMapping
from dataclasses import dataclass, field
from typing import Any, Generic, Iterator, TypeVar

import msgspec

import schemas
from guards import Resident, Verdict
from streams import topics
from streams.events import dead_letter_message, message_to_resident
from streams.stages import messages

__all__ = ["StageConfig", "Outputs", "TableState", "RawTable", "RegistryView", "version_of", "digest_of",
           "REVISIONS", "bucket_key", "Message", "dead_letter"]

T = TypeVar("T", bound=msgspec.Struct)

#: a verdict's version: its event's offset in linkage.records, times this, plus its revision
#: (2**24: offsets up to 2**39 per partition still fit a signed 64-bit Avro long / BIGINT)
REVISIONS = 1 << 24
#: the revision is the number stage's (× 2**14: 1,024 of them), the identity stage's (× 2**5: 512
#: per number revision) and the batch stage's (32 per identity revision). Every stop/resume (連携停止)
#: costs two number revisions of each record of the process; with 16 (the earlier 2**10 layout) the
#: 8th pair gave a HOLD and a PASS the same version and the sink kept whichever came first.
_NUMBER_STEP, _IDENTITY_STEP = 1 << 14, 1 << 5
#: Upgrading from the 2**10 layout: a re-judgement of an event always outranks what the sink holds
#: of it, but an *older* event replayed across the upgrade would outrank a newer one judged before it
#: until that one is replayed too (same partition, later offset): deploy with the guard's lag at 0.


def version_of(offset: int, revision: int = 0, identity_revision: int = 0, sub_revision: int = 0) -> int:
    """The version a verdict carries: newer events first, then newer judgements of one event.

    The sink keeps, per record, the verdict with the highest version. A record judged again
    gets the next revision of the stage that judged it: the number stage's counts most
    (its judgement supersedes what the later stages completed), then the identity look-up's,
    then the batch's.

    >>> version_of(7), version_of(7, 1) > version_of(7, 0, 511, 31), version_of(8) > version_of(7, 1023)
    (117440512, True, True)

    Each part is clamped to its width, beyond which newer judgements would share a
    version (a newer event always has a higher one):

    >>> version_of(7, 1023) == version_of(7, 5000), version_of(7, 1, 600) < version_of(7, 2)
    (True, True)
    """
    return (offset * REVISIONS + min(revision, REVISIONS // _NUMBER_STEP - 1) * _NUMBER_STEP
            + min(identity_revision, _NUMBER_STEP // _IDENTITY_STEP - 1) * _IDENTITY_STEP
            + min(sub_revision, _IDENTITY_STEP - 1))


def digest_of(verdict: Verdict) -> str:
    """A short fingerprint of a verdict: outcome, findings with details, suggestion.

    >>> from guards import Outcome
    >>> digest_of(Verdict(Outcome.PASS)) == _digest_of_text('PASS\x1f')
    True
    """
    if not verdict.findings and not verdict.suggested_my_number:  # a plain PASS, most of them
        return _digest_of_text(verdict.outcome.value + "\x1f")
    return _digest_of_text("\x1f".join([verdict.outcome.value,
                                        *(f"{f.reason.value}\x1e{f.detail}" for f in verdict.findings),
                                        verdict.suggested_my_number]))


@functools.lru_cache(maxsize=1024)
def _digest_of_text(text: str) -> str:
    return hashlib.blake2b(text.encode(), digest_size=8).hexdigest()


def bucket_key(birth_date: Any, sex: int) -> str:
    """The identity look-up's blocking key: birth date and sex.

    >>> import datetime as dt
    >>> bucket_key(dt.date(1980, 4, 1), 2)
    '19800401-2'
    """
    return f"{birth_date:%Y%m%d}-{sex}"


@dataclass(frozen=True)
class StageConfig:
    """What the stages need to know of the deployment."""

    names: topics.TopicNames = field(default_factory=topics.TopicNames)
    partitions: int = 1
    known_systems: frozenset[str] | None = None
    max_record_bytes: int = 1_048_576

    def partition_of(self, key: str | bytes) -> int:
        return topics.partition_for(key.encode() if isinstance(key, str) else key, self.partitions)


class Outputs:
    """Messages a stage produces for one call; internal items grouped per target partition."""

    def __init__(self) -> None:
        self.messages: list[tuple[str, bytes | None, bytes | None, int | None]] = []
        self.internal: dict[str, dict[int, list[Any]]] = defaultdict(lambda: defaultdict(list))

    def add(self, topic: str, key: bytes | None, value: bytes | None, partition: int | None = None) -> None:
        """A message; without a partition Kafka's rule for its key decides."""
        self.messages.append((topic, key, value, partition))

    def forward(self, topic: str, partition: int, item: Any) -> None:
        """An item for an internal topic, sent with the others for that partition in one envelope."""
        self.internal[topic][partition].append(item)

    def all(self) -> Iterator[tuple[str, bytes | None, bytes | None, int | None]]:
        """Every message to send: the plain ones, then one envelope per internal partition
        (split in two until each fits :data:`ENVELOPE_BYTES`)."""
        yield from self.messages
        for topic, by_partition in self.internal.items():
            for partition, items in sorted(by_partition.items()):
                for value in _envelopes(items):
                    yield topic, None, value, partition


#: an internal envelope stays under Kafka's default message.max.bytes (1 MB)
ENVELOPE_BYTES = 900_000


def _envelopes(items: list[Any]) -> Iterator[bytes]:
    """The items as envelopes under :data:`ENVELOPE_BYTES` (one item alone may exceed it), in order.

    >>> from streams.stages.messages import Recheck
    >>> len(list(_envelopes([Recheck('1' * 400_000), Recheck('2' * 400_000), Recheck('3' * 400_000)])))
    2
    """
    value = messages.encode_envelope(items)
    if len(value) <= ENVELOPE_BYTES or len(items) == 1:
        yield value
        return
    half = len(items) // 2
    yield from _envelopes(items[:half])
    yield from _envelopes(items[half:])


class TableState(Generic[T]):
    """One table of one partition, typed: entries decoded once, changes written back at the end.

    ``store`` is the partition's bytes store (a Faust table's ``data``, or a dict in
    the in-memory driver). :meth:`flush` writes the changed entries to it and returns
    them for the changelog.

    >>> from streams.stages.messages import Filed
    >>> store = {}
    >>> filed = TableState(store, Filed)
    >>> filed.put(b'k', Filed('621498320257', ''))
    >>> [k for k, _, _ in filed.flush()], filed.get(b'k').number
    ([b'k'], '621498320257')
    >>> filed.put(b'k', Filed('621498320257', '')); filed.flush()  # the same value: nothing to write
    []
    """

    def __init__(self, store: MutableMapping[bytes, bytes], kind: type[T]) -> None:
        self.store = store
        self._decoder = messages.decoder(kind)
        self._cache: dict[bytes, T | None] = {}
        self._dirty: dict[bytes, int | None] = {}

    def get(self, key: bytes) -> T | None:
        if key in self._cache:
            return self._cache[key]
        raw = self.store.get(key)
        value = self._decoder.decode(raw) if raw is not None else None
        self._cache[key] = value
        return value

    def put(self, key: bytes, value: T | None, partition: int | None = None) -> None:
        """Set (or with None remove) an entry; a value got from :meth:`get` and changed in place too.

        ``partition``: where its changelog message goes (None: the partition being handled).
        """
        self._cache[key] = value
        self._dirty[key] = partition

    def flush(self) -> list[tuple[bytes, bytes | None, int | None]]:
        """Write the changed entries to the store; return them (key, bytes or None, partition)."""
        changes = []
        for key in sorted(self._dirty):
            value = self._cache[key]
            raw = messages.encode(value) if value is not None else None
            if self.store.get(key) == raw:
                continue
            if raw is None:
                self.store.pop(key, None)
            else:
                self.store[key] = raw
            changes.append((key, raw, self._dirty[key]))
        self._dirty.clear()
        self._cache.clear()
        return changes


class RawTable:
    """A table whose values are kept as the bytes they came in (the registry: Avro residents)."""

    def __init__(self, store: MutableMapping[bytes, bytes]) -> None:
        self.store = store
        self._changes: list[tuple[bytes, bytes | None, int | None]] = []

    def get(self, key: bytes) -> bytes | None:
        return self.store.get(key)

    def put(self, key: bytes, value: bytes | None, partition: int | None = None) -> None:
        if value is None:
            self.store.pop(key, None)
        else:
            self.store[key] = value
        self._changes.append((key, value, partition))

    def flush(self) -> list[tuple[bytes, bytes | None, int | None]]:
        changes, self._changes = self._changes, []
        return changes


class RegistryView:
    """Residents by number from a registry table (Avro bytes), decoded on demand and cached.

    Satisfies :class:`guards.check.RegistryView`.
    """

    def __init__(self, store: Any, codec: schemas.Codec) -> None:
        self.store = store
        self.codec = codec
        self._decoded: dict[bytes, tuple[bytes, Resident]] = {}  # the same bytes decode to the same resident

    def get(self, my_number: str, /) -> Resident | None:
        key = my_number.encode()
        raw = self.store.get(key)
        return self.decode(key, raw) if raw is not None else None

    def decode(self, key: bytes, raw: bytes) -> Resident:
        cached = self._decoded.get(key)
        if cached is not None and cached[0] == raw:
            return cached[1]
        resident = message_to_resident(self.codec.decode("resident", raw))
        if len(self._decoded) > 20_000:  # a working set, not a copy of the registry
            self._decoded.clear()
        self._decoded[key] = (raw, resident)
        return resident


def dead_letter(codec: schemas.Codec, outputs: Outputs, config: StageConfig, *, topic: str, partition: int,
                offset: int, key: bytes | None, value: bytes | None, reason: str, error: str,
                stage: str = "guard", system: str = "", record_id: str = "", dlq_key: bytes | None = None) -> None:
    """Dead-letter a message with its reason and source position."""
    outputs.add(config.names.dlq, dlq_key, codec.encode("dead_letter", dead_letter_message(
        topic=topic, partition=partition, offset=offset, key=key, value=value, reason=reason, error=error,
        stage=stage, system=system, record_id=record_id)))


class Message(msgspec.Struct, frozen=True):
    """A consumed Kafka message, as stages see it."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None

"""Stage 3, by identity bucket: the 4-item look-up for held records, over this partition's residents.

The registry is keyed here by a blocking key, birth date + sex
(:func:`~streams.stages.base.bucket_key`): the registry loader sends every
entry to its bucket's partition (:class:`~messages.ResidentIn`), and the
``identities`` table keeps them (key ``bucket`` U+001F ``number``). Every
look-up the rules make for one record — the suggestion (:func:`guards.context.suggest_number`),
``FAMILY_NUMBER`` and the same-name-stranger test of ``SHARED_NUMBER`` — reads
the residents born on the subject's birth date, of its sex: one bucket, so one
partition answers it and each worker holds only its share of the registry.

Only held records come here (:class:`~messages.Lookup`, with the context the
number stage gave them). Each waits in its bucket (``waiting`` table) until
it is no longer held (:class:`~messages.Unhold`); when a resident of the
bucket is added, changes or leaves, the records waiting there are judged again.
A swap candidate's verdict goes on to its batch (:class:`~messages.Candidate`);
every other verdict is emitted here.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import MutableMapping
from dataclasses import dataclass
from typing import Sequence

import schemas
from guards import Outcome, Resident, Verdict
from guards.context import Context, check_in_context
from guards.number import compact
from guards.stops import hold_if_stopped
from streams.events import event_to_record, message_to_resident, resident_to_message, verdict_message
from streams.stages.base import (Outputs, RawTable, RegistryView, StageConfig, TableState, bucket_key, digest_of,
                                 version_of)
from streams.stages.messages import Candidate, Dropped, HeldEntry, Lookup, ResidentIn, Unhold, VerdictState, Waiting
from streams.stages.peers import peer_of

log = logging.getLogger(__name__)

__all__ = ["IdentityState", "IdentityStage", "BucketIndex"]

SEP = b"\x1f"


class BucketIndex:
    """The keys of the ``identities`` store by bucket (rebuilt from the store after a recovery)."""

    def __init__(self, store: MutableMapping[bytes, bytes]) -> None:
        self.store = store
        self._keys: dict[bytes, set[bytes]] | None = None

    def invalidate(self) -> None:
        """The store was filled behind our back (a changelog recovery): index it again when asked."""
        self._keys = None

    def _index(self) -> dict[bytes, set[bytes]]:
        if self._keys is None:
            keys: dict[bytes, set[bytes]] = {}
            for key in list(self.store.keys()):
                keys.setdefault(bytes(key).partition(SEP)[0], set()).add(bytes(key))
            self._keys = keys
        return self._keys

    def put(self, key: bytes) -> None:
        self._index().setdefault(key.partition(SEP)[0], set()).add(key)

    def discard(self, key: bytes) -> None:
        keys = self._index().get(key.partition(SEP)[0])
        if keys is not None:
            keys.discard(key)

    def keys(self, bucket: str) -> Sequence[bytes]:
        return sorted(self._index().get(bucket.encode(), ()))


@dataclass
class IdentityState:
    identities: RawTable  # bucket U+001F number → the resident's Avro bytes
    index: BucketIndex
    waiting: TableState[Waiting]
    residents: RegistryView  # decodes (and caches) resident bytes


class _Bucket:
    """One bucket's residents, decoded once per call (an :class:`guards.context.IdentityLookup`)."""

    def __init__(self, state: IdentityState, bucket: str) -> None:
        self.bucket = bucket
        self.residents: list[tuple[str, Resident]] = []
        for key in state.index.keys(bucket):
            raw = state.identities.get(key)
            if raw is not None:
                self.residents.append((key.partition(SEP)[2].decode(), state.residents.decode(key, raw)))

    def born(self, birth_date: dt.date, sex: int, /) -> Sequence[Resident]:
        if bucket_key(birth_date, sex) != self.bucket:  # pragma: no cover - the rules ask the subject's bucket
            return ()
        return tuple(r for _, r in self.residents)

    def filed_under(self, number: str) -> Resident | None:
        return next((r for n, r in self.residents if n == number), None)


class _OnePerson:
    """The registry as the rules see it here: the number's own entry (forwarded with the record)."""

    def __init__(self, number: str, person: Resident | None) -> None:
        self.number, self.person = number, person

    def get(self, my_number: str, /) -> Resident | None:
        return self.person if my_number == self.number else None


class IdentityStage:
    def __init__(self, config: StageConfig, codec: schemas.Codec) -> None:
        self.config = config
        self.codec = codec
        self._peers: dict = {}
        self._decoded: dict[bytes, Resident] = {}  # the number's person, by its bytes

    def handle(self, items: list, state: IdentityState) -> Outputs:
        out = Outputs()
        buckets: dict[str, _Bucket] = {}
        changed: list[str] = []  # buckets whose residents changed, in order

        def bucket_of(name: str) -> _Bucket:
            if name not in buckets:
                buckets[name] = _Bucket(state, name)
            return buckets[name]

        for item in items:
            try:
                if isinstance(item, Lookup):
                    self._lookup(item, state, bucket_of(item.bucket), out)
                elif isinstance(item, Unhold):
                    waiting = state.waiting.get(item.bucket.encode())
                    entry = waiting.entries.get(item.link_id) if waiting is not None else None
                    if entry is not None and (entry.lookup.offset, entry.lookup.revision) < (item.offset, item.revision):
                        del waiting.entries[item.link_id]
                        if entry.lookup.swap:  # its batch lets go of the candidate too
                            out.forward(self.config.names.by_batch, self.config.partition_of(entry.lookup.batch),
                                        Dropped(entry.lookup.batch, item.link_id, item.offset, item.revision))
                        state.waiting.put(item.bucket.encode(), waiting if waiting.entries else None)
                elif isinstance(item, ResidentIn):
                    key = item.bucket.encode() + SEP + item.number.encode()
                    if state.identities.get(key) == item.value:
                        continue  # delivered again: nothing changed
                    state.identities.put(key, item.value)
                    if item.value is None:
                        state.index.discard(key)
                    else:
                        state.index.put(key)
                    buckets.pop(item.bucket, None)
                    if item.bucket not in changed:
                        changed.append(item.bucket)
            except Exception as e:  # never stop the worker on one item
                log.warning("identity stage could not handle an item: %s: %s", type(item).__name__, type(e).__name__)
        for name in changed:  # the bucket's residents changed: its held records are judged again
            waiting = state.waiting.get(name.encode())
            if waiting is None:
                continue
            bucket = bucket_of(name)
            for entry in waiting.entries.values():
                self._judge(entry, bucket, out, fresh=False, retract=False)
            state.waiting.put(name.encode(), waiting)
        return out

    def _lookup(self, item: Lookup, state: IdentityState, bucket: _Bucket, out: Outputs) -> None:
        waiting = state.waiting.get(item.bucket.encode()) or Waiting()
        known = waiting.entries.get(item.link_id)
        position = (item.offset, item.revision)
        if known is not None and (known.lookup.offset, known.lookup.revision) > position:
            # an older judgement, delivered late: judged as it was, the newer one stands
            self._judge(HeldEntry(item), bucket, out, fresh=item.fresh, retract=item.retract, delivered=True)
            return
        same = known is not None and (known.lookup.offset, known.lookup.revision) == position
        entry = HeldEntry(item, known.identity_revision, known.digest) if same else HeldEntry(item)
        waiting.entries[item.link_id] = entry
        state.waiting.put(item.bucket.encode(), waiting)
        self._judge(entry, bucket, out, fresh=item.fresh, retract=item.retract, delivered=True)

    def _judge(self, entry: HeldEntry, bucket: _Bucket, out: Outputs, *, fresh: bool, retract: bool,
               delivered: bool = False) -> None:
        """The held record with the look-up: emitted (or sent to its batch) when new or changed.

        A swap candidate ``delivered`` from its number again always goes on to its batch: its
        number's registry person may have changed, which the batch rule reads.
        """
        lookup = entry.lookup
        decoded = self.codec.decode("record_changed", lookup.event)
        record = event_to_record(decoded)
        person = self._resident(lookup.person)
        number = compact(record.my_number)
        peers = tuple(p for label, fields in lookup.links if (p := peer_of(label, fields, self._peers)) is not None)
        verdict = check_in_context(record, _OnePerson(number, person), Context(links=peers, identities=bucket),
                                   verdict=lookup.basic.verdict())
        verdict = hold_if_stopped(verdict, stopped=lookup.stopped)
        digest = digest_of(verdict)
        digest_changed = digest != entry.digest
        if digest_changed:
            if entry.digest:
                entry.identity_revision += 1
            entry.digest = digest
        elif not fresh and not (delivered and lookup.swap):
            return
        suggested = compact(verdict.suggested_my_number)
        suggested_person = None
        if suggested and suggested != number:
            suggested_person = person if person is not None and person.my_number == suggested \
                else bucket.filed_under(suggested)
        names = self.config.names
        if lookup.swap:
            raw_suggested = None
            if suggested_person is not None:
                raw_suggested = self.codec.encode("resident", resident_to_message(suggested_person))
            out.forward(names.by_batch, self.config.partition_of(lookup.batch), Candidate(
                lookup.batch, lookup.link_id, lookup.key, lookup.partition, lookup.offset, lookup.revision,
                entry.identity_revision, lookup.event, VerdictState.of(verdict), lookup.person or b"",
                raw_suggested, retract, fresh or digest_changed))
            return
        emit(self.codec, out, names, decoded, verdict, lookup.key,
             version_of(lookup.offset, lookup.revision, entry.identity_revision),
             registry_person=person, suggested_person=suggested_person, retract=retract)

    def _resident(self, raw: bytes | None) -> Resident | None:
        if not raw:
            return None
        resident = self._decoded.get(raw)
        if resident is None:
            if len(self._decoded) > 20_000:
                self._decoded.clear()
            resident = self._decoded[raw] = message_to_resident(self.codec.decode("resident", raw))
        return resident


def emit(codec: schemas.Codec, out: Outputs, names, decoded: dict, verdict: Verdict, key: bytes, version: int, *,
         registry_person: Resident | None, suggested_person: Resident | None, retract: bool) -> None:
    """Send a HOLD verdict with the registry persons a reviewer compares it with."""
    topic = names.held if verdict.outcome is Outcome.HOLD else names.verified
    value = codec.encode("verdict", verdict_message(decoded, verdict, version=version,
                                                    registry_person=registry_person if verdict.outcome is Outcome.HOLD
                                                    else None,
                                                    suggested_person=suggested_person
                                                    if verdict.outcome is Outcome.HOLD else None))
    out.add(topic, key, value)
    if retract and verdict.outcome is Outcome.HOLD:
        out.add(names.retracted, key, value)

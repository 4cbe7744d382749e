"""Stage 2, by number: each record with its registry entry and the other records of its number.

Partition ``p`` of ``linkage.records-by-number``, of ``registry.residents``
and of the ``registry`` and ``links`` tables are co-partitioned, so every
record meets its registry entry and every other record carrying its number.
The record is judged with :func:`guards.context.check_in_context` *without*
the 4-item look-up (no other partition's residents are needed for that):

- a PASS (the common case) is final here and emitted;
- a HOLD goes on to the identity stage as a :class:`~messages.Lookup` (its
  bucket holds the residents the suggestion, ``FAMILY_NUMBER`` and the
  same-name-stranger test need); the look-up never changes an outcome, only
  findings and the suggestion, so deciding PASS/HOLD here is exact.

A new record may change the verdict of the others of its number
(``SHARED_NUMBER`` works both ways): they are judged again. A registry change
(:class:`~messages.Recheck`) judges all of them again; a PASS that becomes a
HOLD is *retracted* downstream. A process stopped by the headquarters
(:class:`~messages.ProcessControl`, 連携停止) has every record held with
``LINKAGE_STOPPED`` (:func:`guards.stops.hold_if_stopped`); a change of its
state judges its records in this partition again.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import schemas
from guards import Outcome, Record, Verdict, check
from guards.check import Subject, matches_person, parse_subject
from guards.context import Context, Peer, atena, check_in_context, link_key
from guards import four_eyes
from guards.stops import hold_if_stopped
from streams import topics
from streams.events import event_to_record, verdict_message
from streams.stages.base import (Outputs, RegistryView, StageConfig, TableState, bucket_key, dead_letter,
                                 digest_of, version_of)
from streams.stages.messages import (LinkEntry, LinkSet, Lookup, PeerFields, ProcessControl, ProcessState, RecordIn,
                                     Recheck, Released, Unhold, Unlink, VerdictState)
from streams.stages.peers import batch_name, fields_of, link_id

log = logging.getLogger(__name__)

__all__ = ["NumberState", "ByNumber", "state_key"]


@dataclass
class NumberState:
    links: TableState[LinkSet]
    registry: RegistryView
    stops: TableState[ProcessState]  # each process's linkage state (連携停止) in this partition
    partition: int  # of linkage.records-by-number being handled


def state_key(partition: int, system: str) -> bytes:
    """The ``process_stops`` key of one process's state in one partition.

    >>> state_key(3, 'shintai-techo')
    b'3\\x1fshintai-techo'
    """
    return f"{partition}\x1f{system}".encode()


class _Call:
    """One call's view of the links: each number's set decoded once, marked for writing when changed."""

    def __init__(self, state: NumberState, out: Outputs) -> None:
        self.state = state
        self.out = out
        self.sets: dict[str, LinkSet] = {}

    def links(self, number: str) -> LinkSet:
        links = self.sets.get(number)
        if links is None:
            links = self.state.links.get(number.encode()) or LinkSet()
            self.sets[number] = links
        return links

    def changed(self, number: str) -> None:
        links = self.sets[number]
        self.state.links.put(number.encode(), links if links.entries else None)


class ByNumber:
    def __init__(self, config: StageConfig, codec: schemas.Codec) -> None:
        self.config = config
        self.codec = codec
        self._peers: dict[bytes, tuple[Peer, PeerFields] | None] = {}  # parsed link peers by their event

    def handle(self, items: list, state: NumberState) -> Outputs:
        call = _Call(state, Outputs())
        for item in items:
            if isinstance(item, RecordIn):
                self._check_one(item, call)
            elif isinstance(item, Unlink):
                self._unlink(item, call)
            elif isinstance(item, Recheck):
                self._recheck(item.number, call)
            elif isinstance(item, Released):
                self._note_release(item, call)
            elif isinstance(item, ProcessControl):
                self._control(item, call)
        return call.out

    # -- a record delivered -------------------------------------------------------------
    def _check_one(self, item: RecordIn, call: _Call) -> None:
        """Judge one delivered record and every record of its number it may change. Never raises."""
        names, out = self.config.names, call.out
        position = dict(topic=names.records, partition=item.partition, offset=item.offset, key=item.key,
                        value=item.event)
        try:
            decoded = item.fields if item.fields is not None else self.codec.decode("record_changed", item.event)
            record = event_to_record(decoded)
            basic = check(record, call.state.registry)
        except Exception as e:  # never stop the worker on one record
            log.warning("record at %s[%d]@%d could not be checked: %s", names.records, item.partition,
                        item.offset, type(e).__name__)
            dead_letter(self.codec, out, self.config, **position, reason="UNDECODABLE",
                        error=f"{type(e).__name__}: cannot be checked", dlq_key=item.key)
            return
        key = topics.record_key(record.system, record.record_id)
        batch = batch_name(record)
        lid = link_id(key)
        if basic.outcome is Outcome.INVALID:
            dead_letter(self.codec, out, self.config, **position, reason=basic.reason_codes,
                        error="; ".join(str(f) for f in basic.findings), system=record.system,
                        record_id=record.record_id, dlq_key=key)
            return
        if record.operation == "delete":
            self._emit(LinkEntry(item.event, item.partition, item.offset), decoded, basic, key, out)
            return
        number = link_key(record)
        if number is None:  # a wrong check digit: held, linked to nothing
            self._judge(record, basic, LinkEntry(item.event, item.partition, item.offset), {}, batch, key, call,
                        fresh=True, decoded=decoded)
            return
        links = call.links(number)
        known = links.entries.get(lid)
        if known is not None and known.offset > item.offset:
            # an older event of the record, redelivered: judged as it was, the newer one stands
            self._judge(record, basic, LinkEntry(item.event, item.partition, item.offset), {}, batch, key, call,
                        fresh=True, decoded=decoded)
            return
        entry = LinkEntry(item.event, item.partition, item.offset, batch=batch, atena=atena(record.atena_no))
        if known is not None:
            entry.bucket = known.bucket  # where an earlier hold of it waits (let go below if it moves)
            if known.offset == item.offset:  # the same event again
                entry.revision, entry.digest, entry.outcome = known.revision, known.digest, known.outcome
                entry.released = known.released
        links.entries[lid] = entry
        self._judge(record, basic, entry, links.entries, batch, key, call, fresh=True, decoded=decoded)
        call.changed(number)
        if _one_person(links.entries) and (known is None or known.atena == entry.atena):
            return  # one addressee number on all of them: the newcomer changes nobody's verdict
        for other in list(links.entries):
            if other != lid:
                self._rejudge(number, other, call)

    def _judge(self, record: Record, basic: Verdict, entry: LinkEntry, entries: dict[str, LinkEntry],
               batch: str, key: bytes, call: _Call, *, fresh: bool, decoded: dict | None = None) -> None:
        """The record in the context of its number: a PASS emitted, a HOLD sent to its identity bucket."""
        names, out = self.config.names, call.out
        peers = self._link_peers(entries) if len(entries) > 1 and not _one_person(entries) else ()
        verdict = check_in_context(record, call.state.registry, Context(links=tuple(p for p, _ in peers)),
                                   verdict=basic)
        stopped = self._stopped(record.system, call)
        verdict = hold_if_stopped(verdict, stopped=stopped)
        changed, retract = _revise(entry, verdict)
        lid = link_id(key)
        swap = False
        if verdict.outcome is Outcome.HOLD:
            subject = parse_subject(record)
            assert isinstance(subject, Subject)  # a HOLD has a usable subject
            bucket = bucket_key(subject.birth_date, subject.sex)
            if entry.bucket and entry.bucket != bucket:
                out.forward(names.by_identity, self.config.partition_of(entry.bucket),
                            Unhold(entry.bucket, lid, entry.offset, entry.revision))
            entry.bucket = bucket
            number = link_key(record)
            person = call.state.registry.store.get(number.encode()) if number else None
            swap = bool(batch) and person is not None and not matches_person(
                subject, call.state.registry.decode(number.encode(), person))
            out.forward(names.by_identity, self.config.partition_of(bucket), Lookup(
                bucket, key, lid, entry.partition, entry.offset, entry.revision, entry.event,
                VerdictState.of(basic), person, [(p.label, f) for p, f in peers], batch, swap, retract,
                changed or fresh, stopped))
        else:
            if entry.bucket:  # no longer held: nothing waits for the look-up any more
                out.forward(names.by_identity, self.config.partition_of(entry.bucket),
                            Unhold(entry.bucket, lid, entry.offset, entry.revision))
                entry.bucket = ""
            if changed or fresh:
                self._emit(entry, decoded if decoded is not None else self.codec.decode("record_changed", entry.event),
                           verdict, key, out, retract=retract)

    def _rejudge(self, number: str, lid: str, call: _Call) -> None:
        """Judge again a record already linked to ``number`` (another record or the registry changed)."""
        links = call.links(number)
        entry = links.entries[lid]
        try:
            record = event_to_record(self.codec.decode("record_changed", entry.event))
            basic = check(record, call.state.registry)
        except Exception as e:  # pragma: no cover - it was checked once already
            log.warning("a linked record could not be re-checked: %s", type(e).__name__)
            return
        if basic.outcome is Outcome.INVALID:  # pragma: no cover - the record itself did not change
            return
        key = topics.record_key(record.system, record.record_id)
        self._judge(record, basic, entry, links.entries, entry.batch, key, call, fresh=False)
        call.changed(number)

    def _link_peers(self, entries: dict[str, LinkEntry]) -> list[tuple[Peer, PeerFields]]:
        peers = []
        for entry in entries.values():
            cached = self._peers.get(entry.event)
            if cached is None and entry.event not in self._peers:
                record = event_to_record(self.codec.decode("record_changed", entry.event))
                peer = Peer.of(record)
                cached = (peer, fields_of(record)) if peer is not None else None
                if len(self._peers) > 50_000:
                    self._peers.clear()
                self._peers[entry.event] = cached
            if cached is not None:
                peers.append(cached)
        return peers

    # -- other items ----------------------------------------------------------------------
    def _unlink(self, item: Unlink, call: _Call) -> None:
        """The record moved to another number (or was deleted): forget it here, re-judge the rest."""
        links = call.links(item.number)
        lid = link_id(item.key)
        entry = links.entries.get(lid)
        if entry is None or entry.offset >= item.offset:
            return
        del links.entries[lid]
        if entry.bucket:
            call.out.forward(self.config.names.by_identity, self.config.partition_of(entry.bucket),
                             Unhold(entry.bucket, lid, item.offset, 0))
        call.changed(item.number)
        for other in list(links.entries):
            self._rejudge(item.number, other, call)

    def _note_release(self, item: Released, call: _Call) -> None:
        """Reviewers released the held event: if it is held again later, its copy is retracted.

        A release still to be sent on (``item.verdict``) goes out here, where the process's
        state is known: while it is stopped (連携停止) the approval is rejected and nothing is sent.
        """
        if item.verdict and not self._send_release(item, call):
            return
        if not item.number:
            return
        links = call.links(item.number)
        entry = links.entries.get(link_id(item.key))
        if entry is None or entry.offset != item.offset or entry.released:
            return  # a newer event of the record stands (its own judgement decides), or noted already
        entry.released = True
        call.changed(item.number)

    def _send_release(self, item: Released, call: _Call) -> bool:
        """Send a release and its ruling on, or reject it when its process is stopped; True: sent."""
        names = self.config.names
        verdict = self.codec.decode("verdict", item.verdict)
        refused = four_eyes.refusal(verdict.get("requested_by"), verdict.get("approved_by"),
                                    process_stopped=self._stopped(item.system, call))
        if refused is None:
            call.out.add(names.verified, item.key, item.verdict)
            call.out.add(names.decided, item.key, item.ruling)
            return True
        ruling = {**self.codec.decode("decision", item.ruling), "status": "REJECTED", "rejection": refused}
        call.out.add(names.decided, item.key, self.codec.encode("decision", ruling))
        log.warning("release of %s/%s rejected: %s", item.system, verdict["record"]["record_id"], refused)
        return False

    def _stopped(self, system: str, call: _Call) -> bool:
        state = call.state.stops.get(state_key(call.state.partition, system))
        return state is not None and state.stopped

    def _control(self, item: ProcessControl, call: _Call) -> None:
        """Keep a process's new state for this partition; on a change, judge its records again.

        Stopped, every record of it is held with ``LINKAGE_STOPPED`` (a PASS is retracted);
        resumed, each is judged with the current rules and what passes is sent on again.
        """
        key = state_key(call.state.partition, item.system)
        before = call.state.stops.get(key) or ProcessState()
        if before.offset >= item.offset:
            return  # this state or a newer one is already kept (a redelivery)
        call.state.stops.put(key, ProcessState(item.stopped, item.offset, item.stop_id))
        if item.stopped == before.stopped:
            return
        prefix = f"{item.system}/"
        marker = prefix.encode()
        numbers = {bytes(k).decode() for k, v in list(call.state.links.store.items()) if marker in bytes(v)}
        numbers.update(n for n, links in call.sets.items() if any(i.startswith(prefix) for i in links.entries))
        count = 0
        for number in sorted(numbers):
            for lid in [i for i in call.links(number).entries if i.startswith(prefix)]:
                self._rejudge(number, lid, call)
                count += 1
        log.warning("process %s %s: %d linked records judged again in partition %d", item.system,
                    "stopped" if item.stopped else "resumed", count, call.state.partition)

    def _recheck(self, number: str, call: _Call) -> None:
        """The number's registry entry changed: judge every record linked to it again (retraction)."""
        for lid in list(call.links(number).entries):
            self._rejudge(number, lid, call)

    def _emit(self, entry: LinkEntry, decoded: dict, verdict: Verdict, key: bytes, out: Outputs, *,
              retract: bool = False) -> None:
        """Send a PASS (or a deletion's) verdict at the entry's current revision."""
        names = self.config.names
        value = self.codec.encode_verdict(verdict_message(decoded, verdict, version=version_of(
            entry.offset, entry.revision)), entry.event)  # ``decoded`` is the event: its bytes are copied
        out.add(names.held if verdict.outcome is Outcome.HOLD else names.verified, key, value)
        if retract:  # pragma: no cover - only a HOLD retracts, and the identity stage emits those
            out.add(names.retracted, key, value)


def _one_person(entries: dict[str, LinkEntry]) -> bool:
    """Every record of the number carries one and the same (normalised) addressee number."""
    values = {entry.atena for entry in entries.values()}
    return len(values) == 1 and "" not in values


def _revise(entry: LinkEntry, verdict: Verdict) -> tuple[bool, bool]:
    """Note a new judgement in the record's entry: (changed, a PASS of this event became a HOLD).

    A changed verdict of an event already judged gets the next revision.
    """
    digest = digest_of(verdict)
    if entry.digest == digest:
        return False, False
    retract = False
    if entry.digest:
        entry.revision += 1
        # a PASS, or a hold that reviewers released, held now: its copy is withdrawn downstream
        retract = (entry.outcome == Outcome.PASS.value or entry.released) and verdict.outcome is Outcome.HOLD
        entry.released = False
    entry.digest, entry.outcome = digest, verdict.outcome.value
    return True, retract

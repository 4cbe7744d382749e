"""Stage 4, by input batch (system + ``batch_id``): ``BATCH_SWAP``, which needs the whole sitting.

The batch stage learns of every record of a batch (:class:`~messages.Member`,
from the repartition stage: any record may be the partner of a swap) and of its
*swap candidates* (:class:`~messages.Candidate`, from the identity stage):
held records that are not their number's registry person, the only ones
``BATCH_SWAP`` can apply to. It completes a candidate's verdict with
:func:`guards.context.with_batch` and emits it; when a later record of the
batch arrives (the other half of a swap), earlier candidates are judged again.

One table entry per batch (:class:`~messages.BatchState`): members and
candidates together, written once per batch and input chunk.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import schemas
from guards import Resident
from guards.check import Subject, parse_subject
from guards.context import with_batch
from streams.events import event_to_record, message_to_resident
from streams.stages.base import Outputs, StageConfig, TableState, dead_letter, digest_of, version_of
from streams.stages.identity import emit
from streams.stages.messages import BatchMember, BatchState, Candidate, Dropped, Member, Remove, SwapState
from streams.stages.peers import peer_of

log = logging.getLogger(__name__)

__all__ = ["BatchStageState", "ByBatch"]


@dataclass
class BatchStageState:
    batches: TableState[BatchState]


class ByBatch:
    def __init__(self, config: StageConfig, codec: schemas.Codec) -> None:
        self.config = config
        self.codec = codec
        self._peers: dict = {}
        self._residents: dict[bytes, Resident] = {}

    def handle(self, items: list, state: BatchStageState) -> Outputs:
        out = Outputs()
        for item in items:
            try:
                batch = state.batches.get(item.batch.encode()) or BatchState()
                if isinstance(item, Member):
                    self._member(item, batch, out)
                elif isinstance(item, Remove):
                    self._remove(item, batch, out)
                elif isinstance(item, Candidate):
                    self._candidate(item, batch, out)
                elif isinstance(item, Dropped):
                    known = batch.candidates.get(item.link_id)
                    if known is not None and (known.candidate.offset, known.candidate.revision) < (item.offset,
                                                                                                  item.revision):
                        del batch.candidates[item.link_id]
                state.batches.put(item.batch.encode(), batch if (batch.members or batch.candidates) else None)
            except Exception as e:  # never stop the worker on one record
                log.warning("batch stage could not handle a record: %s", type(e).__name__)
                if isinstance(item, Candidate):
                    dead_letter(self.codec, out, self.config, topic=self.config.names.records,
                                partition=item.partition, offset=item.offset, key=None, value=item.event,
                                reason="UNDECODABLE", error=f"{type(e).__name__}: cannot be checked in its batch",
                                stage="batch")
        return out

    def _member(self, item: Member, batch: BatchState, out: Outputs) -> None:
        before = batch.members.get(item.link_id)
        if before is not None and before.offset > item.offset:
            return  # an older event; the newer one stands
        member = BatchMember(item.offset, item.fields)
        if member == before:
            return
        batch.members[item.link_id] = member
        known = batch.candidates.get(item.link_id)
        if known is not None and known.candidate.offset < item.offset:
            del batch.candidates[item.link_id]  # a newer event of the record: its number judges it anew
        if not any(other != item.link_id for other in batch.candidates):
            return  # no swap candidate to judge again (the common case: the member is parsed only when asked)
        born = {self._born(item.link_id, member)}
        if before is not None:
            born.add(self._born(item.link_id, before))
        self._rejudge(batch, born, item.link_id, out)

    def _remove(self, item: Remove, batch: BatchState, out: Outputs) -> None:
        before = batch.members.get(item.link_id)
        if before is None or before.offset >= item.offset:
            return  # not here, or back in this batch with a newer event
        del batch.members[item.link_id]
        known = batch.candidates.get(item.link_id)
        if known is not None and known.candidate.offset < item.offset:
            del batch.candidates[item.link_id]
        if batch.candidates:
            self._rejudge(batch, {self._born(item.link_id, before)}, item.link_id, out)

    def _candidate(self, item: Candidate, batch: BatchState, out: Outputs) -> None:
        member = batch.members.get(item.link_id)
        if member is not None and member.offset > item.offset:
            return  # a newer event of the record stands
        known = batch.candidates.get(item.link_id)
        at = (item.offset, item.revision, item.identity_revision)
        if known is not None:
            was = (known.candidate.offset, known.candidate.revision, known.candidate.identity_revision)
            if was > at:
                return
        same = known is not None and was == at
        swap = SwapState(item, known.sub_revision, known.digest) if same else SwapState(item)
        batch.candidates[item.link_id] = swap
        self._emit(item.link_id, swap, batch, out, fresh=item.fresh or not same, retract=item.retract)

    def _born(self, link: str, member: BatchMember) -> tuple | None:
        peer = peer_of(link, member.fields, self._peers)
        return (peer.subject.birth_date, peer.subject.sex) if peer is not None else None

    def _rejudge(self, batch: BatchState, born: set, changed: str, out: Outputs) -> None:
        """Judge again the swap candidates whose number's person was born as ``born``."""
        for other, swap in batch.candidates.items():
            if other == changed:
                continue
            person = self._resident(swap.candidate.person)
            if (person.birth_date, person.sex) in born:
                self._emit(other, swap, batch, out, fresh=False, retract=False)

    def _emit(self, link: str, swap: SwapState, batch: BatchState, out: Outputs, *, fresh: bool,
              retract: bool) -> None:
        """The candidate's verdict with its batch; sent when delivered or changed (a sub-revision)."""
        c = swap.candidate
        decoded = self.codec.decode("record_changed", c.event)
        record = event_to_record(decoded)
        own = parse_subject(record)
        person = self._resident(c.person)
        base = c.verdict.verdict()
        born = (person.birth_date, person.sex)
        peers = []
        for other, member in batch.members.items():
            if other == link:
                continue
            peer = peer_of(other, member.fields, self._peers)
            if peer is not None and (peer.subject.birth_date, peer.subject.sex) == born:
                peers.append(peer)
        verdict = with_batch(base, record, own, person, peers) if isinstance(own, Subject) else base
        digest = digest_of(verdict)
        if digest != swap.digest:
            if swap.digest:
                swap.sub_revision += 1
            swap.digest = digest
        elif not fresh:
            return
        emit(self.codec, out, self.config.names, decoded, verdict, c.key,
             version_of(c.offset, c.revision, c.identity_revision, swap.sub_revision),
             registry_person=person, suggested_person=self._resident(c.suggested_person) if c.suggested_person
             else None, retract=retract)

    def _resident(self, raw: bytes) -> Resident:
        resident = self._residents.get(raw)
        if resident is None:
            if len(self._residents) > 20_000:
                self._residents.clear()
            resident = self._residents[raw] = message_to_resident(self.codec.decode("resident", raw))
        return resident

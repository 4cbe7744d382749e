"""Faust (faust-streaming 0.15.3) losing records across a rebalance or a failed commit: the fixes.

The kill -9 tests in tests/integration found records that were never checked
although every offset was committed. Traced offset by offset (which message was
delivered, acknowledged, committed, in which consumer generation), the losses
have these causes in Faust, none specific to one broker:

1. **Commits across a hole** (faust-streaming #606, "Wrong offset commit in
   case of gaps"). ``Consumer._new_offset`` commits the first run of
   acknowledged offsets if it starts *at most one past* the committed offset
   (``min(acked) - committed > 1`` is its only test, and it is skipped when
   the committed offset is 0 or unknown). The committed offset is the next one
   to read, so with 10 committed and 11, 12 acknowledged it commits 13: record
   10 is lost. Here a commit needs the committed offset itself.
2. **Messages dropped in a rebalance, never read again.** A message fetched
   before a rebalance finishes is dropped by the stream (its generation or the
   flow changed) without an acknowledgement; Faust's ``perform_seek`` then seeks
   only partitions that have a committed offset, so on a partition never
   committed yet the fetcher simply goes on past the dropped message. Here a
   partition without a committed offset is sought to its first offset, and a
   watchdog (:func:`reread_stalled`) seeks back to the committed offset when
   the message due there was delivered and dropped.
3. **Fetches ahead of the position just sought** (a fetch issued before the
   rebalance): Faust takes the jump for a gap in the log (as a compacted or
   transactional topic would have) and counts the skipped offsets as done
   (faust-streaming #216, #606). Here a jump is dropped and the partition
   sought back, so the skipped records are read.
4. **A failed commit counted as done** (faust-streaming #316, fixed upstream
   after 0.15.3 by pull request #692). ``Consumer._commit_offsets`` updates
   ``_committed_offset`` whether or not the commit went through (aiokafka's
   "already rebalanced" answer returns False without crashing), and the
   acknowledgements it covered are already forgotten: Faust then believes the
   records are committed, and the broker does not. Here a failed commit leaves
   the committed offset as it was and seeks the partition back to it, so the
   records after it are read (and acknowledged, and committed) again.

The guard's own topics are neither compacted nor transactional, so on them an
offset is never legitimately missing; the strict rules apply only to them. On a
compacted topic (the registry) offsets can be missing, so Faust's rule stays,
but a commit never passes a message that was delivered and not acknowledged
(dropped, or still being checked: a stale fetch after a seek makes Faust count
such offsets as a gap), and the watchdog reads a dropped one again. Every
stage is idempotent, so reading a record twice is harmless; reading it never
is not. A jump is accepted only over records the log no longer has (deleted by
retention before they were read), with a warning.

Faust's classes are patched once per process (:func:`patch_consumer_class`);
what the patches remember lives in one :class:`ConsumerGuard` per consumer
(``consumer._linkguard_guard``), made from the topics
:func:`streams.faust_fixes.install` registered on the consumer's app. A
consumer of an app without them behaves exactly as Faust's own.
"""

from __future__ import annotations

import logging
import time
import weakref
from collections.abc import AsyncIterator, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

log = logging.getLogger(__name__)

__all__ = ["GuardedTopics", "ConsumerGuard", "guard_of", "patch_consumer_class", "committable_offset",
           "dropped_offsets", "is_stalled", "reread_stalled", "QUIET_SECONDS"]

#: a partition with records due but nothing delivered for this long is sought back (the fetch skipped them)
QUIET_SECONDS = 20.0


@dataclass
class GuardedTopics:
    """Which of an app's topics the fixes apply to (registered on the app by ``install``)."""

    #: topics whose offsets have no legitimate gaps (the guard's own)
    contiguous: set[str] = field(default_factory=set)
    #: topics with legitimate gaps (compacted) whose dropped messages are still read again
    compacted: set[str] = field(default_factory=set)


@dataclass
class ConsumerGuard:
    """What the fixes remember about one consumer's partitions (one per Faust consumer)."""

    topics: GuardedTopics
    #: partitions whose read offset was just set by a seek
    sought: set[Any] = field(default_factory=set)
    #: a jump accepted as real (retention): nothing below it is due any more
    floor: dict[Any, int] = field(default_factory=dict)
    #: messages handed to the streams, held weakly: a dead reference is a message no stream holds
    delivered: dict[Any, dict[int, "weakref.ref[Any]"]] = field(default_factory=dict)
    #: the highest offset delivered since the last seek
    highest: dict[Any, int] = field(default_factory=dict)
    last_delivery: dict[Any, float] = field(default_factory=dict)
    #: a partition that looked stalled at this due offset on the last check
    suspect: dict[Any, int] = field(default_factory=dict)
    #: the offset a commit under way will set: Faust forgets the acknowledgements below it before the
    #: commit returns, so without this their (gone) messages would look dropped in the meantime
    committing: dict[Any, int] = field(default_factory=dict)

    def is_contiguous(self, tp: Any) -> bool:
        return tp.topic in self.topics.contiguous

    def is_compacted(self, tp: Any) -> bool:
        return tp.topic in self.topics.compacted

    def on_seek(self, tp: Any, offset: int | None) -> None:
        """The partition reads from ``offset`` again: what was delivered from there on will come again.

        On a compacted topic the deliveries are kept until they are acknowledged or
        delivered again: Faust's gap rule could otherwise commit past them meanwhile.
        """
        if self.is_compacted(tp):  # no expected offset there (gaps are real): nothing else to reset
            self.last_delivery[tp] = time.monotonic()
            return
        self.sought.add(tp)
        delivered = self.delivered.get(tp)
        if delivered:
            if offset is None:
                delivered.clear()
            else:  # below it, a dropped message must still be found
                for again in [o for o in delivered if o >= offset]:
                    del delivered[again]
        if offset is None:
            self.highest.pop(tp, None)
        else:
            self.highest[tp] = offset - 1
        self.last_delivery[tp] = time.monotonic()

    def track_delivery(self, tp: Any, message: Any) -> None:
        """A message is handed to a stream: remember it (weakly) until its offset is committed."""
        delivered = self.delivered.setdefault(tp, {})
        known = delivered.get(message.offset)
        if known is None or known() is None:  # a stale copy fetched again must not hide one being checked
            delivered[message.offset] = weakref.ref(message)
        if message.offset > self.highest.get(tp, -1):
            self.highest[tp] = message.offset
        self.last_delivery[tp] = time.monotonic()

    def due(self, consumer: Any, tp: Any) -> int | None:
        """The next offset to check: the committed one, or past records retention deleted unread."""
        due = consumer._committed_offset.get(tp)
        return max(due, self.floor[tp]) if due is not None and tp in self.floor else due

    def start_commit(self, tp: Any, new: int | None) -> int | None:
        if new is not None and new > self.committing.get(tp, -1):
            self.committing[tp] = new
        return new

    def done_below(self, tp: Any, due: int | None) -> int | None:
        """The offset below which every record is checked: committed, or being committed."""
        committing = self.committing.get(tp)
        if committing is None:
            return due
        return committing if due is None else max(due, committing)

    def forget_committed(self, tp: Any, due: int | None) -> dict[int, "weakref.ref[Any]"]:
        """The partition's delivered messages still to be acknowledged (committed ones are let go)."""
        delivered = self.delivered.get(tp, {})
        if due is not None and delivered and min(delivered) < due:
            for offset in [offset for offset in delivered if offset < due]:
                del delivered[offset]
        return delivered


def guard_of(consumer: Any) -> ConsumerGuard | None:
    """The consumer's :class:`ConsumerGuard`, made on first use; None if its app installed no fixes."""
    guard = consumer.__dict__.get("_linkguard_guard")
    if guard is None:
        topics = getattr(consumer.app, "_linkguard_topics", None)
        if topics is None:
            return None
        guard = consumer._linkguard_guard = ConsumerGuard(topics)
    return guard


def committable_offset(acked: Sequence[int], due: int | None) -> int | None:
    """The offset to commit: one past the run of acknowledged offsets that starts at ``due``.

    ``due`` is the committed offset (the next one to read); ``None`` when it is
    not known yet, and then nothing can safely be committed.

    >>> committable_offset([10, 11, 12, 14], 10)
    13
    >>> committable_offset([11, 12], 10) is None   # 10 not done: Faust would commit 13
    True
    >>> committable_offset([0, 1, 2], 0)           # 0 is a real offset, not "nothing"
    3
    >>> committable_offset([3, 4], None) is None
    True
    >>> committable_offset([7, 8, 9], 8)           # 7 was committed already
    10
    """
    if due is None:
        return None
    run_end = due
    for offset in sorted(acked):
        if offset < run_end:
            continue
        if offset != run_end:
            break
        run_end += 1
    return run_end if run_end > due else None


def dropped_offsets(delivered: dict[int, Any], due: int | None, acked: Iterable[int]) -> list[int]:
    """Offsets at or after ``due`` whose message was delivered, is gone, and was never acknowledged.

    ``delivered`` maps offsets to weak references; a dead one is a message no
    stream holds any more. Acknowledged, it was checked; otherwise it was
    dropped on its way (a rebalance cleared the queue) and must be read again.

    >>> class Message: pass
    >>> alive = Message()
    >>> refs = {4: weakref.ref(Message()), 5: weakref.ref(alive), 6: weakref.ref(Message()), 7: weakref.ref(Message())}
    >>> dropped_offsets(refs, due=4, acked={6})   # 5 is still being checked
    [4, 7]
    >>> dropped_offsets(refs, due=5, acked={6})   # 4 is committed already
    [7]
    """
    if due is None:
        return []
    done = set(acked)
    return sorted(offset for offset, ref in delivered.items()
                  if offset >= due and offset not in done and ref() is None)


def is_stalled(due: int | None, acked: bool, in_flight: bool, highest_delivered: int | None,
               end: int | None, quiet_for: float) -> bool:
    """Whether the record due next on a partition was lost between the fetcher and the stream.

    It is lost when it is neither acknowledged nor in flight (delivered and still
    held by a stream), yet the fetcher delivered it or went past it, or records
    are waiting and nothing has come for :data:`QUIET_SECONDS`.

    >>> is_stalled(10, acked=False, in_flight=False, highest_delivered=12, end=20, quiet_for=0.5)
    True
    >>> is_stalled(10, acked=False, in_flight=True, highest_delivered=12, end=20, quiet_for=0.5)
    False
    >>> is_stalled(10, acked=True, in_flight=False, highest_delivered=12, end=20, quiet_for=0.5)
    False
    >>> is_stalled(10, acked=False, in_flight=False, highest_delivered=9, end=10, quiet_for=99)  # nothing due
    False
    >>> is_stalled(10, acked=False, in_flight=False, highest_delivered=9, end=15, quiet_for=99)
    True
    >>> is_stalled(10, acked=False, in_flight=False, highest_delivered=9, end=15, quiet_for=1)
    False
    """
    if due is None or acked or in_flight:
        return False
    if highest_delivered is not None and highest_delivered >= due:
        return True
    return end is not None and end > due and quiet_for >= QUIET_SECONDS


_PATCHED = "_linkguard_patched"


def patch_consumer_class() -> None:
    """Patch Faust's consumer classes, once per process (idempotent).

    Every patched method asks :func:`guard_of` for the consumer's guard and
    behaves exactly as Faust's own when there is none.
    """
    from faust.transport.consumer import Consumer, ThreadDelegateConsumer

    if getattr(Consumer.getmany, _PATCHED, False):
        return
    original_getmany, original_new_offset = Consumer.getmany, Consumer._new_offset
    original_seek, original_perform_seek = Consumer.seek, Consumer.perform_seek
    original_seek_wait, original_add_gap = ThreadDelegateConsumer.seek_wait, Consumer._add_gap

    # Faust's read offset means "next to read" right after a seek, "last read" after a record:
    # remember which, or a jump of exactly one record after a seek would go unnoticed
    async def seek(self: Any, partition: Any, offset: int) -> None:
        await original_seek(self, partition, offset)
        guard = guard_of(self)
        if guard is not None and (guard.is_contiguous(partition) or guard.is_compacted(partition)):
            guard.on_seek(partition, offset)

    async def perform_seek(self: Any) -> None:
        await original_perform_seek(self)
        guard = guard_of(self)
        if guard is None:
            return
        guard.committing.clear()  # a rebalance: what was not committed is read again from the broker's offset
        # a partition never committed is not sought by Faust: the fetcher would go on past any
        # message dropped in the rebalance. Start it at its first offset, and make that the one due.
        unknown = [tp for tp in self.assignment()
                   if guard.is_contiguous(tp) and self._committed_offset.get(tp) is None]
        firsts = await self.earliest_offsets(*unknown) if unknown else {}
        for tp, first in firsts.items():
            first = max(first or 0, guard.floor.get(tp, 0))
            await original_seek(self, tp, first)
            self._committed_offset[tp] = first
        for tp in self._read_offset:
            if guard.is_contiguous(tp) or guard.is_compacted(tp):
                guard.on_seek(tp, self._committed_offset.get(tp))

    async def seek_wait(self: Any, partitions: Any) -> None:
        await original_seek_wait(self, partitions)
        guard = guard_of(self)
        if guard is None:
            return
        for tp, offset in dict(partitions).items():
            if guard.is_contiguous(tp) or guard.is_compacted(tp):
                guard.on_seek(tp, offset)

    def _new_offset(self: Any, tp: Any) -> int | None:
        guard = guard_of(self)
        if guard is None:
            return original_new_offset(self, tp)
        if guard.is_compacted(tp):
            committed = self._committed_offset.get(tp)
            done = guard.done_below(tp, committed)
            index = self._acked_index[tp]
            # delivered and not acknowledged: dropped, or still being checked
            pending = sorted(o for o in guard.forget_committed(tp, done) if o >= (done or 0) and o not in index)
            if not pending:
                return guard.start_commit(tp, original_new_offset(self, tp))
            acked, gap = self._acked[tp], self._gap[tp]
            before = (list(acked), set(index), gap.copy())  # Faust's rule consumes what it commits
            new = original_new_offset(self, tp)
            if new is not None and pending[0] < new:
                # Faust's gaps may cover it (a stale fetch after a seek): never commit past it, and
                # keep what lies beyond for the next commit
                new = pending[0] if committed is None or pending[0] > committed else None
                limit = new if new is not None else (committed or 0)
                acked[:] = [o for o in before[0] if o >= limit]
                index.clear()
                index.update(o for o in before[1] if o >= limit)
                gap.clear()
                gap.update(before[2])
                gap.chop(0, limit)
            return guard.start_commit(tp, new)
        if not guard.is_contiguous(tp):
            return original_new_offset(self, tp)
        acked = self._acked[tp]
        due = guard.due(self, tp)
        new = committable_offset(acked, due)
        done = [offset for offset in acked if offset < (new if new is not None else (due or 0))]
        if done:  # drop what is committed (or was before): the list holds only what is still ahead
            self._acked_index[tp].difference_update(done)
            limit = max(done)
            acked[:] = [offset for offset in acked if offset > limit]
        return guard.start_commit(tp, new)

    async def _add_gap(self: Any, tp: Any, offset_from: int, offset_to: int) -> None:
        guard = guard_of(self)
        if guard is None or not guard.is_contiguous(tp):  # on the guard's topics a jump is read again
            await original_add_gap(self, tp, offset_from, offset_to)

    async def getmany(self: Any, timeout: float) -> AsyncIterator[Any]:
        guard = guard_of(self)
        if guard is None:
            async for tp, message in original_getmany(self, timeout):
                yield tp, message
            return
        sought: set[Any] = set()  # partitions sent back: the rest of this fetch for them is stale too
        async for tp, message in original_getmany(self, timeout):
            if tp in sought:
                continue
            if guard.is_compacted(tp):
                guard.track_delivery(tp, message)
            elif guard.is_contiguous(tp):
                read = self._read_offset.get(tp)
                if read is None:  # nothing read since the partition was assigned or sought
                    expected = self._committed_offset.get(tp)
                else:
                    expected = read if tp in guard.sought else read + 1
                guard.sought.discard(tp)
                if expected is not None and message.offset > expected:
                    first = (await self.earliest_offsets(tp)).get(tp) or 0
                    if first > expected:  # deleted by retention before it was read: nothing to re-read
                        log.warning("%s[%d]: offsets %d..%d were deleted from the log before they were read",
                                    tp.topic, tp.partition, expected, first - 1)
                        guard.floor[tp] = first
                    if message.offset > max(first, expected):
                        log.warning("%s[%d]: offset %d came where %d was due; reading the skipped records again",
                                    tp.topic, tp.partition, message.offset, max(first, expected))
                        await self.seek(tp, max(first, expected))
                        sought.add(tp)
                        continue
                guard.track_delivery(tp, message)
            yield tp, message

    async def _commit_offsets(self: Any, offsets: Mapping[Any, int], start_new_transaction: bool = True) -> bool:
        # faust-streaming #316: Faust 0.15.3's own version records the offsets as committed whether or
        # not the commit went through. This is it with the bookkeeping under ``did_commit`` (as upstream
        # pull request #692 has it), and a failed commit sends its partitions back to the committed
        # offset: the acknowledgements it covered are gone, so those records must be read again.
        assignment = self.assignment()
        committable = {tp: offset for tp, offset in offsets.items() if tp in assignment}
        revoked = {tp: offset for tp, offset in offsets.items() if tp not in assignment}
        if revoked:
            self.log.info("Discarded commit for revoked partitions that will be eventually processed again: %r",
                          revoked)
        if not committable:
            return False
        if self.in_transaction:
            did_commit = await self.transactions.commit(committable, start_new_transaction=start_new_transaction)
        else:
            await self.app.producer.flush()
            did_commit = await self._commit(committable)
        if did_commit:
            self.app.tables.on_commit(committable)
            self._committed_offset.update(committable)
            self.app.monitor.on_tp_commit(committable)
            return True
        await _after_failed_commit(self, committable)
        return False

    for function in (getmany, seek, perform_seek, seek_wait, _new_offset, _add_gap, _commit_offsets):
        setattr(function, _PATCHED, True)
    Consumer.getmany = getmany  # type: ignore[method-assign]
    Consumer.seek, Consumer.perform_seek = seek, perform_seek  # type: ignore[method-assign]
    Consumer._new_offset, Consumer._add_gap = _new_offset, _add_gap  # type: ignore[method-assign]
    Consumer._commit_offsets = _commit_offsets  # type: ignore[method-assign]
    ThreadDelegateConsumer.seek_wait = seek_wait  # type: ignore[method-assign]


async def _after_failed_commit(consumer: Any, offsets: Mapping[Any, int]) -> None:
    """A commit did not go through: read again, from the committed offset, every partition it covered."""
    guard = guard_of(consumer)
    try:
        assignment = consumer.assignment()
    except Exception:  # stopping
        return
    for tp, offset in offsets.items():
        if guard is not None and guard.committing.get(tp) == offset:
            del guard.committing[tp]  # it never happened: those records are not done
        committed = consumer._committed_offset.get(tp)
        if committed is None or tp not in assignment:  # a new assignment seeks to the broker's offset
            continue
        log.warning("%s[%d]: the commit of offset %d failed; reading again from %d",
                    tp.topic, tp.partition, offset, committed)
        try:
            await consumer.seek(tp, committed)
        except Exception as e:  # a rebalance under way: its assignment seeks to the committed offset
            log.warning("%s[%d]: could not seek back after the failed commit (%s)", tp.topic, tp.partition, e)


async def reread_stalled(consumer: Any) -> list[tuple[Any, int]]:
    """Seek back every guarded partition whose due record was lost on its way to the stream.

    Run periodically (a timer ``install`` adds). A message delivered and gone
    without an acknowledgement was dropped: read again from it at once. On the
    guard's own topics a partition that looks stalled otherwise (records due,
    none delivered) must look so on two checks in a row at the same offset, so
    a record merely waiting in a queue is not read twice for nothing. Returns
    the partitions sought and where to.
    """
    guard = guard_of(consumer)
    if guard is None:
        return []
    try:
        assignment = consumer.assignment()
    except Exception:  # not assigned yet, or stopping
        return []
    now = time.monotonic()
    sought = []
    for tp in assignment:
        if not guard.is_contiguous(tp) and not guard.is_compacted(tp):
            continue
        due = guard.done_below(tp, guard.due(consumer, tp))  # a commit under way: its records are checked
        delivered = guard.forget_committed(tp, due)
        acked = consumer._acked_index.get(tp, set())
        dropped = dropped_offsets(delivered, due if due is not None else 0, acked)
        if dropped:
            target, why = dropped[0], "was dropped before it was checked"
        elif guard.is_contiguous(tp):
            ref = delivered.get(due) if due is not None else None
            stalled = is_stalled(due, due is not None and due in acked, ref is not None and ref() is not None,
                                 guard.highest.get(tp), consumer.highwater(tp),
                                 now - guard.last_delivery.get(tp, now))
            if not stalled:
                guard.suspect.pop(tp, None)
                continue
            if guard.suspect.get(tp) != due:
                guard.suspect[tp] = due
                continue
            target, why = due, "was due and never came"
        else:
            continue
        guard.suspect.pop(tp, None)
        log.warning("%s[%d]: the record at offset %d %s; reading it again", tp.topic, tp.partition, target, why)
        await consumer.seek(tp, target)
        sought.append((tp, target))
    return sought

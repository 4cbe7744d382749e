"""Guards against Faust (faust-streaming 0.15) losing records across a rebalance, on any broker.

The kill -9 tests in tests/integration found records that were never checked
although every offset was committed. Traced offset by offset (which message
was delivered, acknowledged, committed, in which consumer generation), the
losses have three causes in Faust, none specific to one broker:

1. **Commits across a hole.** ``Consumer._new_offset`` commits the first run
   of acknowledged offsets if it starts *at most one past* the committed
   offset (``min(acked) - committed > 1`` is its only test, and it is skipped
   when the committed offset is 0 or unknown). The committed offset is the
   next one to read, so with 10 committed and 11, 12 acknowledged it commits
   13: record 10 is lost. Here a commit needs the committed offset itself.
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
   (faust-streaming issues #216, #606). Here a jump is dropped and the
   partition sought back, so the skipped records are read.

The guard's own topics are neither compacted nor transactional, so on them an
offset is never legitimately missing; the strict rules apply only to them. On a
compacted topic (the registry) offsets can be missing, so Faust's rule stays,
but a commit never passes a message that was delivered and not acknowledged
(dropped, or still being checked: a stale fetch after a seek makes Faust count
such offsets as a gap), and the watchdog reads a dropped one again. Every
stage is idempotent, so reading a record twice is harmless; reading it never
is not. A jump is accepted only over records the log no longer has (deleted by
retention before they were read), with a warning.
"""

from __future__ import annotations

import logging
import time
import weakref
from collections.abc import AsyncIterator, Iterable, Sequence
from typing import Any

log = logging.getLogger(__name__)

__all__ = ["guard_against_skipped_offsets", "committable_offset", "dropped_offsets", "is_stalled",
           "reread_stalled", "require_compiled_streams", "FaustModeError"]

#: topics whose offsets have no legitimate gaps
_CONTIGUOUS: set[str] = set()
#: topics with legitimate gaps (compacted) whose dropped messages are still read again
_WATCHED: set[str] = set()
_SOUGHT: set[Any] = set()  # partitions whose read offset was just set by a seek
_FLOOR: dict[Any, int] = {}  # a jump accepted as real (retention): nothing below it is due any more
_DELIVERED: dict[Any, dict[int, "weakref.ref[Any]"]] = {}  # messages handed to the streams, held weakly
_HIGHEST: dict[Any, int] = {}  # the highest offset delivered since the last seek
_LAST_DELIVERY: dict[Any, float] = {}
_SUSPECT: dict[Any, int] = {}  # a partition that looked stalled at this due offset on the last check
#: the offset a commit under way will set: Faust forgets the acknowledgements below it before the
#: commit returns, so without this their (gone) messages would look dropped in the meantime
_COMMITTING: dict[Any, int] = {}
#: a partition with records due but nothing delivered for this long is sought back (the fetch skipped them)
QUIET_SECONDS = 20.0


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


class FaustModeError(RuntimeError):
    """Faust runs in a mode in which the guard cannot promise that no record is lost."""


def require_compiled_streams() -> None:
    """Refuse Faust's pure-Python stream iterator: it acknowledges the messages it drops.

    When a rebalance leaves a message in a stream's queue, both of Faust's
    iterators skip it; the compiled one (``faust._cython``) leaves it
    unacknowledged, so it is read again, but the pure-Python one acknowledges
    it, and Faust then commits past a record nobody checked. The wheels of
    faust-streaming ship the compiled one; ``NO_CYTHON`` turns it off.
    """
    import faust.streams

    if getattr(faust.streams, "_CStreamIterator", None) is None:
        why = "NO_CYTHON is set" if faust.streams.NO_CYTHON else "faust._cython.streams cannot be imported"
        raise FaustModeError(
            f"Faust's compiled stream iterator is not in use ({why}): in pure-Python mode Faust "
            "acknowledges messages it drops in a rebalance, which loses records. Unset NO_CYTHON, or "
            "reinstall faust-streaming from its wheel: pip install --force-reinstall faust-streaming")


def guard_against_skipped_offsets(topics: Iterable[str], *, compacted: Iterable[str] = ()) -> None:
    """Make Faust's consumer read again, rather than skip or commit over, records of ``topics``.

    ``compacted`` topics may have gaps: Faust's rules stay, except that a
    message delivered and dropped is never committed over and is read again.
    """
    from faust.transport.consumer import Consumer, ThreadDelegateConsumer

    _CONTIGUOUS.update(topics)
    _WATCHED.update(compacted)
    if getattr(Consumer.getmany, "_linkguard_patched", False):
        return
    original_getmany, original_new_offset = Consumer.getmany, Consumer._new_offset
    original_seek, original_perform_seek = Consumer.seek, Consumer.perform_seek
    original_seek_wait, original_add_gap = ThreadDelegateConsumer.seek_wait, Consumer._add_gap

    # Faust's read offset means "next to read" right after a seek, "last read" after a record:
    # remember which, or a jump of exactly one record after a seek would go unnoticed
    async def seek(self: Any, partition: Any, offset: int) -> None:
        await original_seek(self, partition, offset)
        _sought(partition, offset)

    async def perform_seek(self: Any) -> None:
        await original_perform_seek(self)
        _COMMITTING.clear()  # a rebalance: what was not committed is read again from the broker's offset
        # a partition never committed is not sought by Faust: the fetcher would go on past any
        # message dropped in the rebalance. Start it at its first offset, and make that the one due.
        unknown = [tp for tp in self.assignment()
                   if tp.topic in _CONTIGUOUS and self._committed_offset.get(tp) is None]
        firsts = await self.earliest_offsets(*unknown) if unknown else {}
        for tp, first in firsts.items():
            first = max(first or 0, _FLOOR.get(tp, 0))
            await original_seek(self, tp, first)
            self._committed_offset[tp] = first
        for tp in self._read_offset:
            if tp.topic in _CONTIGUOUS or tp.topic in _WATCHED:
                _sought(tp, self._committed_offset.get(tp))

    async def seek_wait(self: Any, partitions: Any) -> None:
        await original_seek_wait(self, partitions)
        for tp, offset in dict(partitions).items():
            _sought(tp, offset)

    def _new_offset(self: Any, tp: Any) -> int | None:
        if tp.topic in _WATCHED:
            committed = self._committed_offset.get(tp)
            done = _done_below(tp, committed)
            index = self._acked_index[tp]
            # delivered and not acknowledged: dropped, or still being checked
            pending = sorted(o for o in _forget_committed(tp, done) if o >= (done or 0) and o not in index)
            if not pending:
                return _committing(tp, original_new_offset(self, tp))
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
            return _committing(tp, new)
        if tp.topic not in _CONTIGUOUS:
            return original_new_offset(self, tp)
        acked = self._acked[tp]
        due = _due(self, tp)
        new = committable_offset(acked, due)
        done = [offset for offset in acked if offset < (new if new is not None else (due or 0))]
        if done:  # drop what is committed (or was before): the list holds only what is still ahead
            self._acked_index[tp].difference_update(done)
            limit = max(done)
            acked[:] = [offset for offset in acked if offset > limit]
        return _committing(tp, new)

    async def _add_gap(self: Any, tp: Any, offset_from: int, offset_to: int) -> None:
        if tp.topic not in _CONTIGUOUS:  # on the guard's topics a jump is read again, never a gap
            await original_add_gap(self, tp, offset_from, offset_to)

    async def getmany(self: Any, timeout: float) -> AsyncIterator[Any]:
        sought: set[Any] = set()  # partitions sent back: the rest of this fetch for them is stale too
        async for tp, message in original_getmany(self, timeout):
            if tp in sought:
                continue
            if tp.topic in _WATCHED:
                _track_delivery(tp, message)
            elif tp.topic in _CONTIGUOUS:
                read = self._read_offset.get(tp)
                if read is None:  # nothing read since the partition was assigned or sought
                    expected = self._committed_offset.get(tp)
                else:
                    expected = read if tp in _SOUGHT else read + 1
                _SOUGHT.discard(tp)
                if expected is not None and message.offset > expected:
                    first = (await self.earliest_offsets(tp)).get(tp) or 0
                    if first > expected:  # deleted by retention before it was read: nothing to re-read
                        log.warning("%s[%d]: offsets %d..%d were deleted from the log before they were read",
                                    tp.topic, tp.partition, expected, first - 1)
                        _FLOOR[tp] = first
                    if message.offset > max(first, expected):
                        log.warning("%s[%d]: offset %d came where %d was due; reading the skipped records again",
                                    tp.topic, tp.partition, message.offset, max(first, expected))
                        await self.seek(tp, max(first, expected))
                        sought.add(tp)
                        continue
                _track_delivery(tp, message)
            yield tp, message

    getmany._linkguard_patched = True  # type: ignore[attr-defined]
    Consumer.getmany = getmany  # type: ignore[method-assign]
    Consumer.seek, Consumer.perform_seek = seek, perform_seek  # type: ignore[method-assign]
    Consumer._new_offset, Consumer._add_gap = _new_offset, _add_gap  # type: ignore[method-assign]
    ThreadDelegateConsumer.seek_wait = seek_wait  # type: ignore[method-assign]


def _sought(tp: Any, offset: int | None) -> None:
    """The partition reads from ``offset`` again: what was delivered from there on will come again.

    On a compacted topic the deliveries are kept until they are acknowledged or
    delivered again: Faust's gap rule could otherwise commit past them meanwhile.
    """
    if tp.topic in _WATCHED:  # no expected offset there (gaps are real): nothing else to reset
        _LAST_DELIVERY[tp] = time.monotonic()
        return
    _SOUGHT.add(tp)
    delivered = _DELIVERED.get(tp)
    if delivered:
        if offset is None:
            delivered.clear()
        else:  # below it, a dropped message must still be found
            for again in [o for o in delivered if o >= offset]:
                del delivered[again]
    if offset is None:
        _HIGHEST.pop(tp, None)
    else:
        _HIGHEST[tp] = offset - 1
    _LAST_DELIVERY[tp] = time.monotonic()


def _track_delivery(tp: Any, message: Any) -> None:
    delivered = _DELIVERED.get(tp)
    if delivered is None:
        delivered = _DELIVERED[tp] = {}
    known = delivered.get(message.offset)
    if known is None or known() is None:  # a stale copy fetched again must not hide one being checked
        delivered[message.offset] = weakref.ref(message)
    if message.offset > _HIGHEST.get(tp, -1):
        _HIGHEST[tp] = message.offset
    _LAST_DELIVERY[tp] = time.monotonic()


def _due(consumer: Any, tp: Any) -> int | None:
    """The next offset to check: the committed one, or past records retention deleted unread."""
    due = consumer._committed_offset.get(tp)
    return max(due, _FLOOR[tp]) if due is not None and tp in _FLOOR else due


def _committing(tp: Any, new: int | None) -> int | None:
    if new is not None and new > _COMMITTING.get(tp, -1):
        _COMMITTING[tp] = new
    return new


def _done_below(tp: Any, due: int | None) -> int | None:
    """The offset below which every record is checked: committed, or being committed."""
    committing = _COMMITTING.get(tp)
    if committing is None:
        return due
    return committing if due is None else max(due, committing)


def _forget_committed(tp: Any, due: int | None) -> dict[int, "weakref.ref[Any]"]:
    """The partition's delivered messages still to be acknowledged (committed ones are let go)."""
    delivered = _DELIVERED.get(tp, {})
    if due is not None and delivered and min(delivered) < due:
        for offset in [offset for offset in delivered if offset < due]:
            del delivered[offset]
    return delivered


async def reread_stalled(consumer: Any) -> list[tuple[Any, int]]:
    """Seek back every guarded partition whose due record was lost on its way to the stream.

    Run periodically (the app's timer). A message delivered and gone without an
    acknowledgement was dropped: read again from it at once. On the guard's own
    topics a partition that looks stalled otherwise (records due, none
    delivered) must look so on two checks in a row at the same offset, so a
    record merely waiting in a queue is not read twice for nothing. Returns the
    partitions sought and where to.
    """
    try:
        assignment = consumer.assignment()
    except Exception:  # not assigned yet, or stopping
        return []
    now = time.monotonic()
    sought = []
    for tp in assignment:
        if tp.topic not in _CONTIGUOUS and tp.topic not in _WATCHED:
            continue
        due = _done_below(tp, _due(consumer, tp))  # a commit under way: its records are checked
        delivered = _forget_committed(tp, due)
        acked = consumer._acked_index.get(tp, set())
        dropped = dropped_offsets(delivered, due if due is not None else 0, acked)
        if dropped:
            target, why = dropped[0], "was dropped before it was checked"
        elif tp.topic in _CONTIGUOUS:
            ref = delivered.get(due) if due is not None else None
            stalled = is_stalled(due, due is not None and due in acked, ref is not None and ref() is not None,
                                 _HIGHEST.get(tp), consumer.highwater(tp), now - _LAST_DELIVERY.get(tp, now))
            if not stalled:
                _SUSPECT.pop(tp, None)
                continue
            if _SUSPECT.get(tp) != due:
                _SUSPECT[tp] = due
                continue
            target, why = due, "was due and never came"
        else:
            continue
        _SUSPECT.pop(tp, None)
        log.warning("%s[%d]: the record at offset %d %s; reading it again", tp.topic, tp.partition, target, why)
        await consumer.seek(tp, target)
        sought.append((tp, target))
    return sought

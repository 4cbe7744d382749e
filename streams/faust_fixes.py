"""A guard against Faust (faust-streaming 0.15) skipping records across a rebalance, on any broker.

What happens without it (caught by the kill -9 tests in tests/integration):
after a rebalance in which a worker keeps a partition, Faust's consumer can
hand the stream a record *ahead* of the position it just sought to — a fetch
issued before the rebalance, or aiokafka's own fetch position, which the
rebalance did not reset. Faust takes the jump for a gap in the log (as a
compacted or transactional topic would have), counts the skipped offsets as
done and commits past them: records that were never checked, lost
(upstream: faust-streaming issues #216 and #606). Or it later drops the
re-read records as older than its read offset and never commits that
partition again.

The guard's own topics are neither compacted nor transactional, so on them
a jump ahead is never real: the fix drops the record and seeks back to the
next offset Faust expects, so the skipped records are read (at least once;
every stage is idempotent). A jump that persists after a few seeks (records
deleted by retention, say) is accepted with a warning rather than looped on.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Iterable
from typing import Any

log = logging.getLogger(__name__)

__all__ = ["guard_against_skipped_offsets"]

#: topics whose offsets have no legitimate gaps, and how often one jump was sought back
_CONTIGUOUS: set[str] = set()
_SEEKS: dict[tuple[Any, int], int] = {}
_SOUGHT: set[Any] = set()  # partitions whose read offset was just set by a seek
MAX_SEEKS = 3


def guard_against_skipped_offsets(topics: Iterable[str]) -> None:
    """Make Faust's consumer read again, rather than skip, records jumped over on ``topics``."""
    from faust.transport.consumer import Consumer

    _CONTIGUOUS.update(topics)
    original = Consumer.getmany
    if getattr(original, "_linkguard_patched", False):
        return
    # Faust's read offset means "next to read" right after a seek, "last read" after a record:
    # remember which, or a jump of exactly one record after a seek would go unnoticed
    original_seek, original_perform_seek = Consumer.seek, Consumer.perform_seek

    async def seek(self: Any, partition: Any, offset: int) -> None:
        await original_seek(self, partition, offset)
        _SOUGHT.add(partition)

    async def perform_seek(self: Any) -> None:
        await original_perform_seek(self)
        _SOUGHT.update(self._read_offset)

    Consumer.seek, Consumer.perform_seek = seek, perform_seek  # type: ignore[method-assign]

    from faust.transport.consumer import ThreadDelegateConsumer

    original_seek_wait = ThreadDelegateConsumer.seek_wait

    async def seek_wait(self: Any, partitions: Any) -> None:
        await original_seek_wait(self, partitions)
        _SOUGHT.update(partitions)

    ThreadDelegateConsumer.seek_wait = seek_wait  # type: ignore[method-assign]

    async def getmany(self: Any, timeout: float) -> AsyncIterator[Any]:
        sought: set[Any] = set()  # partitions sent back: the rest of this fetch for them is stale too
        async for tp, message in original(self, timeout):
            if tp in sought:
                continue
            if tp.topic in _CONTIGUOUS:
                read = self._read_offset.get(tp)
                if read is None:  # a partition kept through a rebalance: nothing read since
                    expected = self._committed_offset.get(tp)
                else:
                    expected = read if tp in _SOUGHT else read + 1
                _SOUGHT.discard(tp)
                if expected is not None and message.offset > expected:
                    attempt = _SEEKS.get((tp, expected), 0)
                    if attempt < MAX_SEEKS:
                        _SEEKS[(tp, expected)] = attempt + 1
                        log.warning("%s[%d]: offset %d came where %d was due; reading the skipped records again",
                                    tp.topic, tp.partition, message.offset, expected)
                        await self.seek(tp, expected)
                        sought.add(tp)
                        continue
                    log.warning("%s[%d]: offsets %d..%d are missing from the log; going on",
                                tp.topic, tp.partition, expected, message.offset - 1)
            yield tp, message

    getmany._linkguard_patched = True  # type: ignore[attr-defined]
    Consumer.getmany = getmany  # type: ignore[method-assign]

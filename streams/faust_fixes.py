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
MAX_SEEKS = 3


def guard_against_skipped_offsets(topics: Iterable[str]) -> None:
    """Make Faust's consumer read again, rather than skip, records jumped over on ``topics``."""
    from faust.transport.consumer import Consumer

    _CONTIGUOUS.update(topics)
    original = Consumer.getmany
    if getattr(original, "_linkguard_patched", False):
        return

    async def getmany(self: Any, timeout: float) -> AsyncIterator[Any]:
        sought: set[Any] = set()  # partitions sent back: the rest of this fetch for them is stale too
        async for tp, message in original(self, timeout):
            if tp in sought:
                continue
            if tp.topic in _CONTIGUOUS:
                expected = self._read_offset.get(tp)
                # after a seek Faust's read offset is the next offset; after a record, that record's
                if expected is not None and message.offset > expected + 1:
                    attempt = _SEEKS.get((tp, expected), 0)
                    if attempt < MAX_SEEKS:
                        _SEEKS[(tp, expected)] = attempt + 1
                        log.warning("%s[%d]: offset %d came after %d; reading the skipped records again",
                                    tp.topic, tp.partition, message.offset, expected)
                        await self.seek(tp, expected)
                        sought.add(tp)
                        continue
                    log.warning("%s[%d]: offsets %d..%d are missing from the log; going on",
                                tp.topic, tp.partition, expected + 1, message.offset - 1)
            yield tp, message

    getmany._linkguard_patched = True  # type: ignore[attr-defined]
    Consumer.getmany = getmany  # type: ignore[method-assign]

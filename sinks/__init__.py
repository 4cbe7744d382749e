"""Sinks: where verdicts end up — intermediate-server copies, the review store, dead letters.

The sink contract
=================

A sink consumes ``linkage.verified``, ``linkage.held`` and ``linkage.dlq``
(and, for the review store, ``linkage.decisions`` and ``linkage.decided``) at least once, possibly out of order across partitions, and must still end
in exactly the state of the newest verdict per record. Every sink must
guarantee:

1. **Only PASS reaches the copies.** An intermediate-server copy is written
   only from a PASS verdict on ``linkage.verified``: the guard's own, or one
   the guard made from a release approved by a second person (``via='review'``,
   naming the approving decision, ``requested_by`` and a different
   ``approved_by``). A verdict on the wrong topic (``OUTCOME_MISMATCH``) or a
   PASS via review without two different people (``UNAPPROVED_RELEASE``) is
   dead-lettered at stage ``sink``, never written. Decisions themselves never
   write a copy.
2. **Idempotent.** Applying a message twice changes nothing: rows are keyed
   by record (``system``, ``record_id``) or, for dead letters, by source
   position and stage.
3. **Versioned.** Each verdict carries ``version`` (its event's offset in the
   record's ``linkage.records`` partition). A row is replaced only by a
   strictly newer version; an equal version is the same event; an older
   one never overwrites, withdraws or reopens anything. A delete marks the
   copy withdrawn (keeping its version, so an older create cannot revive it).
   A newer PASS closes an open hold as ``superseded``. The version is the
   event's offset × 2**24 plus the revision of its judgement: the guard
   judges a record again when its context changes (the other half of a
   batch swap arrives, another record takes its number, the registry
   changes), and a HOLD that replaces the PASS of the *same event* withdraws
   the copy (``withdrawn_reason='retracted'``, 連携停止).
4. **Position committed with the rows.** The consumed position
   (``consumed_offsets``: consumer, topic, partition → next offset) is written
   in the same transaction as the rows, never moves backwards, and is where
   the consumer seeks after a restart. A crash therefore loses nothing and
   duplicates nothing, and a retry after a lost connection is always safe.
5. **The review store follows the stream.** A decision as submitted
   (``linkage.decisions``) is a ``review_decisions`` row with status
   ``SUBMITTED``; the guard's ruling (``linkage.decided``) sets ``ACCEPTED`` or
   ``REJECTED`` (with why) once and never goes back. Only an accepted ruling
   changes anything else, and only the held record of the version it was
   made on: a release request becomes the record's ``pending_releases`` row;
   an approval closes the hold as ``released`` (its copy comes on
   ``linkage.verified``); a return closes it as ``returned``; a correction
   notes the corrected event, whose PASS closes the hold as ``corrected``
   (whichever arrives first) and whose HOLD, a newer version, re-opens the
   item with its new reasons. Rulings are applied in the order consumed,
   after the verdicts of the same batch.
6. **No My Number in errors or logs.** Errors name the table and the
   topic/partition/offsets, not the values.

:class:`SinkWriter` implements the contract on PostgreSQL and SQLite.
"""

from sinks.db import DriverMissing, make_engine
from sinks.models import (
    Base,
    ConsumedOffset,
    DeadLetter,
    HeldRecord,
    IntermediateCopy,
    PendingRelease,
    ReviewDecision,
    AuditEntry,
    Account,
)
from sinks.writer import (
    ApplyResult,
    Kind,
    RetryPolicy,
    SinkError,
    SinkMessage,
    SinkWriter,
    db_error_text,
    describe_positions,
    redact,
)

__all__ = [
    "ApplyResult",
    "Base",
    "ConsumedOffset",
    "DeadLetter",
    "DriverMissing",
    "HeldRecord",
    "IntermediateCopy",
    "PendingRelease",
    "ReviewDecision",
    "AuditEntry",
    "Account",
    "Kind",
    "RetryPolicy",
    "SinkError",
    "SinkMessage",
    "SinkWriter",
    "db_error_text",
    "describe_positions",
    "make_engine",
    "redact",
]

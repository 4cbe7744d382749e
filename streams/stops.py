"""The process-level stop (連携停止) in the guard: hold every record of a stopped process.

The headquarters publishes the state of a process to the compacted topic
``linkage.control`` (keyed by process code) once a second person approved
the change. The ``process_control`` agent (:mod:`streams.stages.control`)
hands each state to *every* partition of ``linkage.records-by-number``
(records of one process carry numbers of every partition), as a
:class:`streams.stages.messages.ProcessControl` item. The number stage
(:mod:`streams.stages.by_number`) then

* keeps the state in the ``process_stops`` table, one entry per partition
  and process (``<partition>`` U+001F ``<code>``), written to the changelog
  of that partition, so a worker restarted while a process is stopped
  recovers it before it judges anything;
* applies :func:`guards.stops.hold_if_stopped` to every verdict of the process;
* judges again, when the state changes, every record of the process linked
  in that partition: a PASS becomes a HOLD with ``LINKAGE_STOPPED`` (the
  guard's usual retraction: ``linkage.retracted`` and the sink withdraws the
  copy, ``withdrawn_reason='stopped'``); at resume, the held records are
  judged with the current rules and what passes is sent on again.

The whole change to the stages is one call in the number stage's judgement
(carried to the identity look-up with the held record) and one item kind.
This module keeps what publishers need: :func:`control_message`,
:func:`publish_process_state`.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import schemas
from streams import topics
from streams.stages.by_number import state_key

__all__ = ["control_message", "publish_process_state", "state_key"]


def control_message(system: str, *, stopped: bool, stop_id: str, changed_at: dt.datetime,
                    requested_by: str = "", approved_by: str = "", reason: str = "") -> dict[str, Any]:
    """A ``process_control`` message (the schema's fields, nothing else).

    >>> import datetime as dt
    >>> m = control_message('shintai-techo', stopped=True, stop_id='s1',
    ...                     changed_at=dt.datetime(2026, 7, 31, tzinfo=dt.timezone.utc))
    >>> schemas.Codec().decode('process_control', schemas.Codec().encode('process_control', m))['stopped']
    True
    """
    return {"system": system, "stopped": stopped, "stop_id": stop_id, "changed_at": changed_at,
            "requested_by": requested_by, "approved_by": approved_by, "reason": reason}


def publish_process_state(settings: Any, message: dict[str, Any]) -> None:
    """Publish one process's state to ``linkage.control`` (keyed by its code) and wait for the broker."""
    from streams.publish import Publisher

    with Publisher(settings) as publisher:
        publisher.send_raw(topics.names(settings).control, message["system"].encode(),
                           schemas.Codec().encode("process_control", message))
        publisher.flush()

"""The process-level stop (連携停止) in the guard: hold every record of a stopped process.

The headquarters publishes the state of a process to the compacted topic
``linkage.control`` (keyed by process code) once a second person approved
the change. The ``process_control`` agent hands each state to *every*
partition of ``linkage.records-by-number`` (records of one process carry
numbers of every partition), as a ``record_batch`` item of kind
``process_control`` (``key`` = process code, ``value`` = the control
message). The number stage then

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

The whole change to the stages is :meth:`ProcessStops.verdict` (one call in
the number stage's judgement) and :meth:`ProcessStops.note` (one item kind).
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from typing import TYPE_CHECKING, Any

import faust

import schemas
from guards import Verdict
from guards.stops import hold_if_stopped
from streams import topics

if TYPE_CHECKING:
    from streams.app import GuardApp, _Work

log = logging.getLogger(__name__)

__all__ = ["ProcessStops", "state_key", "KIND"]

#: the record_batch item kind that carries a process's state to the number stage
KIND = "process_control"


def state_key(partition: int, system: str) -> bytes:
    """The ``process_stops`` key of one process's state in one partition.

    >>> state_key(3, 'shintai-techo')
    b'3\\x1fshintai-techo'
    """
    return f"{partition}\x1f{system}".encode()


class ProcessStops:
    """The ``process_control`` agent and the ``process_stops`` table of a :class:`GuardApp`."""

    def __init__(self, guard: "GuardApp") -> None:
        self.guard = guard
        app = guard.app
        self.topic = app.topic(guard.topics.control, key_type=bytes, value_type=bytes,
                               partitions=guard.partitions, compacting=True)
        self.table = app.Table("process_stops", key_type=bytes, value_type=bytes, partitions=guard.partitions)
        self._parsed: dict[bytes, tuple[bytes, bool]] = {}
        app.agent(self.topic, name="process_control")(self._control)

    # -- the control agent: one state, to every partition of the number stage ----------------
    async def _control(self, stream: faust.StreamT) -> None:
        from streams.app import Outbox

        guard = self.guard
        names = guard.topics
        async for event in stream.events():
            message = event.message
            outbox = Outbox()
            try:
                control = guard.codec.decode("process_control", message.value)
            except schemas.DecodeError as e:
                if message.value is None:  # a tombstone: the state is kept until a resume says otherwise
                    continue
                outbox.add(names.dlq, message.key, guard._dead_letter_bytes(
                    message.topic, message.partition, message.offset, message.key, message.value,
                    "UNDECODABLE", str(e), stage="control"))
            else:
                item = {"partition": message.partition, "offset": message.offset,
                        "key": control["system"].encode(), "value": message.value, "kind": KIND, "number": ""}
                batch = guard.codec.encode("record_batch", {"items": [item]})
                for partition in range(guard.partitions):
                    outbox.add(names.by_number, None, batch, partition=partition)
                log.warning("process %s: linkage %s", control["system"],
                            "stopped" if control["stopped"] else "resumed")
            await outbox.send(guard.app.producer, guard._partitions_of)

    # -- the number stage ---------------------------------------------------------------------
    def stopped(self, system: str, partition: int) -> bool:
        key = state_key(partition, system)
        raw = self.table.data.get(key)
        if raw is None:
            return False
        cached = self._parsed.get(key)
        if cached is None or cached[0] != raw:
            cached = self._parsed[key] = (raw, bool(json.loads(raw)["stopped"]))
        return cached[1]

    def verdict(self, verdict: Verdict, system: str, partition: int) -> Verdict:
        """The verdict of a record of ``system`` judged in ``partition``, held if the process is stopped."""
        return hold_if_stopped(verdict, stopped=self.stopped(system, partition))

    def note(self, item: dict[str, Any], work: "_Work", partition: int) -> None:
        """Keep a process's new state for this partition; on a change, judge its records again."""
        guard = self.guard
        control = guard.codec.decode("process_control", item["value"])
        system = control["system"]
        key = state_key(partition, system)
        store = self.table.data
        raw = store.get(key)
        before = json.loads(raw) if raw is not None else {"stopped": False, "offset": -1}
        if before["offset"] >= item["offset"]:
            return  # this state or a newer one is already kept (a redelivery)
        state = {"stopped": bool(control["stopped"]), "offset": item["offset"], "stop_id": control["stop_id"]}
        value = json.dumps(state, sort_keys=True).encode()
        store[key] = value
        work.outbox.add(self.table.changelog_topic.get_topic_name(), key, value, partition=partition)
        if state["stopped"] != before["stopped"]:
            self._judge_process_again(system, work, partition)

    def _judge_process_again(self, system: str, work: "_Work", partition: int) -> None:
        """Every record of ``system`` linked to a number of this partition, judged again."""
        guard = self.guard
        prefix = f"{system}/"
        links = guard.links.data
        numbers = [bytes(k).decode() for k, v in list(links.items())
                   if prefix.encode() in bytes(v)
                   and topics.partition_for(bytes(k), guard.partitions) == partition]
        count = 0
        for number in numbers:
            entries = work.entries(links, number)
            for link_id in [i for i in entries if i.startswith(prefix)]:
                guard._rejudge(number, link_id, entries, work)
                count += 1
        log.warning("process %s: %d linked records judged again in partition %d", system, count, partition)


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

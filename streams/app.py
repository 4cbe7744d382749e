"""The Faust guard app: repartition by My Number, judge in context, route.

Three stages, so that Faust's per-message cost is paid per batch, not per record:

1. ``repartition`` reads ``linkage.records`` in batches (``take_events``),
   decodes each event, and sends one :file:`record_batch` message per target
   partition of ``linkage.records-by-number`` (partition = Kafka's murmur2 of
   the number, the same rule kafka-python used to publish the registry). Its
   ``filed`` table remembers the number and input batch each record was last
   filed under, so a record that moves (a corrected number) leaves nothing
   behind: the old number is told to ``unlink`` it, the old batch to drop it.
2. ``guard`` reads those batches. Partition ``p`` of the batches, of
   ``registry.residents`` and of the ``registry`` and ``links`` tables are
   co-partitioned, so every record meets its registry entry and every other
   record of its number (``links``: the event, position and last verdict of
   each) in this worker. It runs :func:`guards.context.check_in_context` with
   those links and the whole registry's identity look-up
   (:class:`streams.follower.RegistryFollower`, one per worker), and judges
   again the other records of the number (``SHARED_NUMBER`` works both ways).
   When a number's registry entry changes, ``registry_loader`` asks for a
   ``recheck`` of its records: a PASS that becomes a HOLD is *retracted*.
3. ``batch`` is keyed by input batch (system + ``batch_id``). It learns of
   every record of a batch (a record may be the partner of a swap) and
   emits the verdict of *swap candidates* — held records that are not their
   number's registry person, the only ones ``BATCH_SWAP`` can apply to —
   through :func:`guards.context.with_batch`; when a later record of the
   batch arrives, earlier candidates are judged again.

A verdict's ``version`` is its event's offset × 1024 plus a revision: a record
judged again with a different result is sent again with a higher version,
so the sink always ends with the newest judgement of the newest event; a HOLD
replacing a PASS of the same event also goes to ``linkage.retracted`` and the
sink withdraws the copy. Once the stream has drained, every verdict equals
what ``linkguard inspect`` gives for the same records and registry (a test
runs a shuffled corpus both ways).

Processing is at least once: Faust flushes the producer before committing
consumed offsets, events are acknowledged only after their verdicts are sent
(:func:`streams.faust_fixes.acked_only_when_done`, ``noack`` streams), and the sink's writes are
idempotent and versioned. Nothing raised by a record stops the worker: it is
dead-lettered with its reason and position.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import logging
from collections import defaultdict
from collections.abc import Collection
from pathlib import Path
from typing import Any, Callable

import faust

import schemas
from guards import Finding, Outcome, Reason, Record, Resident, Verdict, check
from guards.check import Subject, matches_person, parse_subject
from guards.context import (Context, Peer, atena, batch_key, check_in_context, link_key, peer_subject,
                            with_batch)
from guards.number import compact
from streams import faust_fixes, topics
from streams.envelope import identity_problem, too_large
from streams.faust_fixes import acked_only_when_done
from streams.events import (dead_letter_message, event_to_record, hold_persons, message_to_resident,
                            verdict_message)
from streams.follower import RegistryFollower
from streams.settings import KafkaSettings

log = logging.getLogger(__name__)

__all__ = ["GuardApp", "create_app", "run_worker", "table_digest"]


class RegistryView:
    """The guard's read-only view of the registry table (decoded on demand)."""

    def __init__(self, table: faust.Table, codec: schemas.Codec) -> None:
        self._table = table
        self._codec = codec
        self._decoded: dict[str, tuple[bytes, Resident]] = {}  # the same bytes decode to the same resident

    def get(self, my_number: str, /) -> Resident | None:
        raw = self._table.get(my_number.encode())
        if raw is None:
            return None
        cached = self._decoded.get(my_number)
        if cached is not None and cached[0] == raw:
            return cached[1]
        resident = message_to_resident(self._codec.decode("resident", raw))
        if len(self._decoded) > 100_000:
            self._decoded.clear()
        self._decoded[my_number] = (raw, resident)
        return resident


class PersonView:
    """Any resident by number, for the persons a HOLD shows a reviewer.

    The number's own entry is in this worker's registry table; a suggested
    number may be in another partition, so the whole registry's index is asked.
    """

    def __init__(self, registry: RegistryView, follower: RegistryFollower) -> None:
        self._registry = registry
        self._follower = follower

    def get(self, my_number: str, /) -> Resident | None:
        return self._registry.get(my_number) or self._follower.index.get(my_number)


class GuardApp:
    """Builds the Faust app, its topics, tables and agents from settings."""

    def __init__(self, settings: KafkaSettings, *, store: str = "memory://",
                 batch_size: int = 1000, batch_within: float = 0.05, web_port: int | None = None,
                 known_systems: Collection[str] | None = None) -> None:
        self.settings = settings
        # process codes of the catalogue; an event of another is dead-lettered (streams/envelope.py)
        self.known_systems = frozenset(known_systems) if known_systems is not None else None
        self.codec = schemas.Codec()
        self.batch_size = batch_size
        self.batch_within = batch_within
        partitions = settings.topic_partitions
        self.partitions = partitions
        conf: dict[str, Any] = dict(
            broker=[f"kafka://{h}" for h in settings.require_bootstrap().split(",")],
            store=store,
            topic_partitions=partitions,
            topic_replication_factor=settings.topic_replication,
            key_serializer="raw",
            value_serializer="raw",
            web_enabled=False,
            consumer_auto_offset_reset="earliest",
            producer_acks=-1,
            producer_linger_ms=5,
            producer_max_batch_size=256 * 1024,
            producer_max_request_size=8 * 1024 * 1024,
            consumer_max_fetch_size=8 * 1024 * 1024,
            stream_buffer_maxsize=8192,
            broker_commit_every=5000,
            broker_commit_interval=1.0,
            table_standby_replicas=0,
            broker_client_id=settings.kafka_client_id,
        )
        if web_port:
            conf["web_port"] = web_port
        if settings.local_mode:
            # The local broker answers a group join after half the session timeout.
            conf.update(broker_session_timeout=6, broker_heartbeat_interval=1,
                        broker_rebalance_timeout=20)
        credentials = _credentials(settings)
        if credentials is not None:
            conf["broker_credentials"] = credentials
        self.app = faust.App(settings.app_id, **conf)
        app = self.app

        def topic(name: str, **kw: Any) -> faust.TopicT:
            return app.topic(name, key_type=bytes, value_type=bytes, partitions=partitions, **kw)

        self.topics = names = topics.names(settings)
        self.outcome_topic = {Outcome.PASS: names.verified, Outcome.HOLD: names.held, Outcome.INVALID: names.dlq}
        self.records_topic = topic(names.records)
        self.residents_topic = topic(names.residents, compacting=True)
        self.by_number_topic = topic(names.by_number, internal=True)
        self.by_batch_topic = topic(names.by_batch, internal=True)

        def table(name: str) -> faust.Table:
            return app.Table(name, key_type=bytes, value_type=bytes, partitions=partitions)

        self.registry = table("registry")
        #: number → {system/record_id: link entry}: the records carrying each number (stage 2)
        self.links = table("links")
        #: record key → [number, batch] it was last filed under (stage 1), to undo a move
        self.filed = table("filed")
        #: batch → {system/record_id: [offset, birth, sex, person birth, person sex]} (stage 3)
        self.batch_members = table("batch_members")
        #: batch + U+001E + system/record_id → the member's identity fields, as a peer (stage 3)
        self.batch_peers = table("batch_peers")
        #: batch + U+001E + system/record_id → a swap candidate's event and verdict (stage 3)
        self.batch_entries = table("batch_entries")
        self.registry_view = RegistryView(self.registry, self.codec)
        self.follower = RegistryFollower(settings, self.codec)
        self.persons = PersonView(self.registry_view, self.follower)
        self._follower_started = False
        self._peers_cache: dict[str, Peer | None] = {}  # parsed link peers by their event
        self._partition_counts: dict[str, int] = {}

        app.agent(self.records_topic, name="repartition")(self._repartition)
        app.agent(self.by_number_topic, name="guard")(self._guard)
        app.agent(self.by_batch_topic, name="batch")(self._batch)
        app.agent(self.residents_topic, name="registry_loader")(self._load_registry)
        from streams.decisions import DecisionAgent  # reviewers' decisions, four-eyes checked again
        self.decisions = DecisionAgent(self)
        from streams.stops import ProcessStops  # 連携停止: a stopped process's records are held
        self.stops = ProcessStops(self)

        if settings.table_dump_path:
            app.timer(1.0)(self._dump_tables)

        app.on_before_shutdown.connect(self._stop_follower)
        # Faust's and the local broker's record losses (streams/faust_fixes): the guard's own topics have
        # no gaps, so a record dropped or jumped over in a rebalance is read again and no commit passes a
        # record not yet checked
        faust_fixes.install(app, contiguous=[names.records, names.by_number, names.by_batch, names.decisions],
                            compacted=[names.residents], local_broker=settings if settings.local_mode else None)

    async def _dump_tables(self) -> None:
        """Write hashes of every table entry (never the numbers) for restart checks."""
        dump = {name: table_digest(getattr(self, name))
                for name in ("registry", "links", "filed", "batch_members", "batch_peers", "batch_entries")}
        path = Path(self.settings.table_dump_path)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(dump, sort_keys=True))
        tmp.replace(path)

    async def _stop_follower(self, sender: Any = None, **kwargs: Any) -> None:
        """Close the registry follower's consumer before the process exits (not mid-poll)."""
        await asyncio.to_thread(self.follower.stop)

    # -- stage 1 ------------------------------------------------------------------
    async def _repartition(self, stream: faust.StreamT) -> None:
        async for events in stream.take_events(self.batch_size, within=self.batch_within):
            with acked_only_when_done(stream):
                await self._repartition_batch(events)

    async def _repartition_batch(self, events: list[Any]) -> None:
        filed_store = self.filed.data
        filed_changelog = self.filed.changelog_topic.get_topic_name()
        by_partition: dict[int, list[dict[str, Any]]] = defaultdict(list)
        removals: dict[int, list[dict[str, Any]]] = defaultdict(list)
        outbox = Outbox()
        for event in events:
            message = event.message
            try:
                decoded = self.codec.decode("record_changed", message.value)
            except schemas.DecodeError as e:
                decoded, problem = None, ("UNDECODABLE", str(e))
            else:
                problem = identity_problem(decoded, self.known_systems)
            oversize = too_large(len(message.value or b""), self.settings.max_record_bytes)
            if oversize is not None:  # its bytes would not fit the batch or the dead-letter topic
                problem = ("TOO_LARGE", oversize)
            if problem is not None:
                identity = {"system": str(decoded.get("system") or ""),
                            "record_id": str(decoded.get("record_id") or "")} if decoded else {}
                outbox.add(self.topics.dlq, message.key, self._dead_letter_bytes(
                    message.topic, message.partition, message.offset, message.key,
                    None if oversize else message.value, *problem, **identity))
                continue
            number = compact(decoded.get("my_number", ""))
            route_key = number.encode() if number else (message.key or b"")
            item = {"partition": message.partition, "offset": message.offset,
                    "key": message.key, "value": message.value, "kind": "record", "number": ""}
            by_partition[topics.partition_for(route_key, self.partitions)].append(item)
            if message.key is None:
                continue
            # where the record is filed now; a move leaves nothing behind at the old number or batch
            try:
                record = event_to_record(decoded)
                now = [link_key(record) or "", _batch_name(record)]
            except Exception:  # unreadable fields: the guard dead-letters the event itself
                now = ["", ""]
            raw = filed_store.get(message.key)
            before = json.loads(raw) if raw else ["", ""]
            if before == now:
                continue
            if before[0] and before[0] != now[0]:
                by_partition[topics.partition_for(before[0].encode(), self.partitions)].append(
                    {**item, "value": b"", "kind": "unlink", "number": before[0]})
            if before[1] and before[1] != now[1]:
                removals[topics.partition_for(before[1].encode(), self.partitions)].append(
                    _removal_item(before[1], _link_id(message.key), message.partition, message.offset))
            value = json.dumps(now, ensure_ascii=False).encode() if any(now) else None
            if value is None:
                filed_store.pop(message.key, None)
            else:
                filed_store[message.key] = value
            outbox.add(filed_changelog, message.key, value, partition=message.partition)
        for partition, items in by_partition.items():
            outbox.add(self.topics.by_number, None, self.codec.encode("record_batch", {"items": items}),
                       partition=partition)
        for partition, members in removals.items():
            outbox.add(self.topics.by_batch, None, self.codec.encode("batch_check", {"items": members}),
                       partition=partition)
        await outbox.send(self.app.producer, self._partitions_of)

    async def _wait_for_registry(self) -> None:
        """Start following the whole registry, and judge nothing until it is read up to now."""
        if not self._follower_started:
            self._follower_started = True
            self.follower.start()
        while not await asyncio.to_thread(self.follower.wait_caught_up, 30):
            log.warning("still reading the registry for the identity look-up (%d residents so far)",
                        len(self.follower.index))

    # -- stage 2: by number -----------------------------------------------------------
    async def _guard(self, stream: faust.StreamT) -> None:
        await self._each_message(stream, "record_batch", "guard", self._guard_items)

    async def _each_message(self, stream: faust.StreamT, schema: str, stage: str,
                            handle: Callable[[list[dict[str, Any]], "Outbox", int], None]) -> None:
        """Decode each internal message, ``handle`` its items, send, and only then acknowledge it."""
        await self._wait_for_registry()
        stream = stream.noack()
        async for event in stream.events():
            outbox = Outbox()
            message = event.message
            try:
                batch = self.codec.decode(schema, message.value)
            except schemas.DecodeError as e:
                outbox.add(self.topics.dlq, None, self._dead_letter_bytes(
                    message.topic, message.partition, message.offset, None, message.value, "UNDECODABLE",
                    str(e), stage=stage))
            else:
                handle(batch["items"], outbox, message.partition)
            await outbox.send(self.app.producer, self._partitions_of)
            await stream.ack(event)

    def _guard_items(self, items: list[dict[str, Any]], outbox: "Outbox", partition: int) -> None:
        work = _Work(outbox, partition)
        for item in items:
            kind = item.get("kind", "record")
            if kind == "record":
                self._check_one(item, work)
            elif kind == "unlink":
                self._unlink(item, work)
            elif kind == "recheck":
                self._recheck_number(item["number"], work)
            elif kind == "released":
                self._note_release(item, work)
            elif kind == "process_control":
                self.stops.note(item, work, partition)
        self._flush_links(work, partition)
        for target, members in work.forward.items():
            outbox.add(self.topics.by_batch, None, self.codec.encode("batch_check", {"items": members}),
                       partition=target)

    def _check_one(self, item: dict[str, Any], work: "_Work") -> None:
        """Judge one delivered record and every record of its number it may change. Never raises."""
        outbox = work.outbox
        position = (self.topics.records, item["partition"], item["offset"], item["key"], item["value"])
        try:
            decoded = self.codec.decode("record_changed", item["value"])
            record = event_to_record(decoded)
            basic = check(record, self.registry_view)
        except Exception as e:  # never stop the worker on one record
            log.warning("record at %s[%d]@%d could not be checked: %s", *position[:3], type(e).__name__)
            outbox.add(self.topics.dlq, item["key"], self._dead_letter_bytes(
                *position, "UNDECODABLE", f"{type(e).__name__}: cannot be checked"))
            return
        key = topics.record_key(record.system, record.record_id)
        batch = _batch_name(record)
        if basic.outcome is Outcome.INVALID:
            outbox.add(self.topics.dlq, key, self._dead_letter_bytes(
                *position, basic.reason_codes, "; ".join(str(f) for f in basic.findings),
                system=record.system, record_id=record.record_id))
            if batch:  # a row whose only fault is its number is still a peer of its batch
                target = work.forward[topics.partition_for(batch.encode(), self.partitions)]
                if all(f.reason in _NUMBER_ONLY for f in basic.findings) and peer_subject(record):
                    target.append(_member_item(batch, _link_id(key), record, _Entry.fresh(item), fresh=True))
                else:
                    target.append(_removal_item(batch, _link_id(key), item["partition"], item["offset"]))
            return
        if record.operation == "delete":
            self._emit(_Entry.fresh(item), decoded, basic, key, outbox)
            return
        number = link_key(record)
        if number is None:  # a wrong check digit: held, linked to nothing
            entry = _Entry.fresh(item)
            self._judge(record, decoded, basic, entry, {}, batch, key, work, fresh=True)
            return
        entries = work.entries(self.links.data, number)
        link_id = _link_id(key)
        known = entries.get(link_id)
        if known is not None and known["f"] > item["offset"]:
            # an older event of the record, redelivered: judged as it was, the newer one stands
            self._judge(record, decoded, basic, _Entry.fresh(item), {}, batch, key, work, fresh=True)
            return
        entry = _Entry.fresh(item, known, batch=batch, atena_no=atena(record.atena_no))
        entries[link_id] = entry
        work.dirty_links.add(number)
        self._judge(record, decoded, basic, entry, entries, batch, key, work, fresh=True)
        if _one_person(entries) and (known is None or known.get("a") == entry["a"]):
            return  # one addressee number on all of them: the newcomer changes nobody's verdict
        for other in list(entries):
            if other != link_id:
                self._rejudge(number, other, entries, work)

    def _judge(self, record: Record, decoded: dict[str, Any], basic: Verdict, entry: dict[str, Any],
               entries: dict[str, dict[str, Any]], batch: str, key: bytes, work: "_Work", *,
               fresh: bool) -> None:
        """The record in the context of its number; emitted here, or by its batch's stage.

        Only a held record that is not its number's registry person can gain ``BATCH_SWAP``
        (a *swap candidate*): the batch stage emits those. Every other verdict is final here;
        the batch stage still learns of the record, which may be another record's swap partner.
        """
        # records that all carry one addressee number are one person: no context to add (as check_all)
        peers = self._link_peers(entries) if len(entries) > 1 and not _one_person(entries) else ()
        verdict = check_in_context(record, self.registry_view, Context(links=peers, identities=self.follower.index),
                                   verdict=basic)
        verdict = self.stops.verdict(verdict, record.system, work.partition)
        changed, retract = _revise(entry, verdict)
        if not batch:
            if changed or fresh:
                self._emit(entry, decoded, verdict, key, work.outbox, retract=retract)
            return
        person = None
        if verdict.outcome is Outcome.HOLD:
            number = link_key(record)
            raw = self.registry.data.get(number.encode()) if number else None
            if raw is not None:
                resident = message_to_resident(self.codec.decode("resident", raw))
                subject = parse_subject(record)
                if isinstance(subject, Subject) and not matches_person(subject, resident):
                    person = raw
        if person is None and (changed or fresh):
            self._emit(entry, decoded, verdict, key, work.outbox, retract=retract)
        work.forward[topics.partition_for(batch.encode(), self.partitions)].append(_member_item(
            batch, _link_id(key), record, entry, fresh=fresh,
            candidate=(base64.b64decode(entry["e"]), _verdict_json(verdict), person, retract)
            if person is not None else None))

    def _rejudge(self, number: str, link_id: str, entries: dict[str, dict[str, Any]], work: "_Work") -> None:
        """Judge again a record already linked to ``number`` (another record or the registry changed)."""
        entry = entries[link_id]
        try:
            decoded = self.codec.decode("record_changed", base64.b64decode(entry["e"]))
            record = event_to_record(decoded)
            basic = check(record, self.registry_view)
        except Exception as e:  # pragma: no cover - it was checked once already
            log.warning("a linked record could not be re-checked: %s", type(e).__name__)
            return
        if basic.outcome is Outcome.INVALID:  # pragma: no cover - the record itself did not change
            return
        key = topics.record_key(record.system, record.record_id)
        self._judge(record, decoded, basic, entry, entries, entry.get("b", ""), key, work, fresh=False)
        work.dirty_links.add(number)

    def _link_peers(self, entries: dict[str, dict[str, Any]]) -> tuple[Peer, ...]:
        peers = []
        for entry in entries.values():
            peer = self._peers_cache.get(entry["e"])
            if peer is None:
                peer = Peer.of(event_to_record(self.codec.decode("record_changed", base64.b64decode(entry["e"]))))
                if len(self._peers_cache) > 50_000:
                    self._peers_cache.clear()
                self._peers_cache[entry["e"]] = peer
            if peer:
                peers.append(peer)
        return tuple(peers)

    def _unlink(self, item: dict[str, Any], work: "_Work") -> None:
        """The record moved to another number (or was deleted): forget it here, re-judge the rest."""
        number = item["number"]
        entries = work.entries(self.links.data, number)
        link_id = _link_id(item["key"] or b"")
        entry = entries.get(link_id)
        if entry is None or entry["f"] >= item["offset"]:
            return
        del entries[link_id]
        work.dirty_links.add(number)
        for other in list(entries):
            self._rejudge(number, other, entries, work)

    def _note_release(self, item: dict[str, Any], work: "_Work") -> None:
        """Reviewers released the held event: if it is held again later, its copy is retracted."""
        entries = work.entries(self.links.data, item["number"])
        entry = entries.get(_link_id(item["key"] or b""))
        if entry is None or entry["f"] != item["offset"] or entry.get("rel"):
            return  # a newer event of the record stands (its own judgement decides), or noted already
        entry["rel"] = 1
        work.dirty_links.add(item["number"])

    def _recheck_number(self, number: str, work: "_Work") -> None:
        """The number's registry entry changed: judge every record linked to it again (retraction)."""
        entries = work.entries(self.links.data, number)
        for link_id in list(entries):
            self._rejudge(number, link_id, entries, work)

    def _flush_links(self, work: "_Work", partition: int) -> None:
        """Write the changed link lists to the store, and their changelog as one batch."""
        changelog = self.links.changelog_topic.get_topic_name()
        store = self.links.data
        for number in sorted(work.dirty_links):
            entries = work.cache[number]
            key = number.encode()
            if entries:
                value = json.dumps(entries, ensure_ascii=False, sort_keys=True, separators=(",", ":")).encode()
                if store.get(key) == value:
                    continue
                store[key] = value
            else:
                if store.get(key) is None:
                    continue
                store.pop(key, None)
                value = None
            work.outbox.add(changelog, key, value, partition=partition)

    def _emit(self, entry: dict[str, Any], decoded: dict[str, Any], verdict: Verdict, key: bytes,
              outbox: "Outbox", *, retract: bool = False, sub_revision: int = 0) -> None:
        """Send the record's verdict at the entry's current revision.

        A HOLD that replaces a PASS of the same event also goes to ``linkage.retracted``: the
        sink withdraws the copy it had registered (連携停止) and downstream is told.
        """
        if verdict.outcome is Outcome.INVALID:  # pragma: no cover - INVALID never gets this far
            return
        revision = min(entry.get("r", 0), REVISIONS // SUB_REVISIONS - 1) * SUB_REVISIONS \
            + min(sub_revision, SUB_REVISIONS - 1)
        persons = hold_persons(event_to_record(decoded), verdict, self.persons) \
            if verdict.outcome is Outcome.HOLD else {}
        value = self.codec.encode("verdict", verdict_message(decoded, verdict, version=version_of(entry["f"], revision),
                                                             **persons))
        outbox.add(self.outcome_topic[verdict.outcome], key, value)
        if retract:
            outbox.add(self.topics.retracted, key, value)

    # -- stage 3: by input batch ----------------------------------------------------------
    async def _batch(self, stream: faust.StreamT) -> None:
        """Adds BATCH_SWAP, which needs the other records of the input sitting, and emits the verdict.

        A later record of the batch can change an earlier record's verdict (the second half of
        a swap): the earlier one is judged again and its verdict sent again, as a new revision.
        """
        await self._each_message(stream, "batch_check", "batch", self._batch_items)

    def _batch_items(self, items: list[dict[str, Any]], outbox: "Outbox", partition: int) -> None:
        work = _BatchWork(outbox)
        for item in items:
            try:
                if item["kind"] == "member":
                    self._batch_member(item, work)
                else:
                    self._batch_remove(item, work)
            except Exception as e:  # never stop the worker on one record
                log.warning("batch stage could not handle a record: %s", type(e).__name__)
                if item.get("value"):
                    outbox.add(self.topics.dlq, None, self._dead_letter_bytes(
                        self.topics.records, item["partition"], item["offset"], None, item["value"],
                        "UNDECODABLE", f"{type(e).__name__}: cannot be checked in its batch", stage="batch"))
        self._flush_batches(work, partition)

    def _batch_member(self, item: dict[str, Any], work: "_BatchWork") -> None:
        name, link_id = item["batch"], item["link_id"]
        members = work.members_of(self.batch_members.data, name)
        entry_key = _entry_key(name, link_id)
        before = members.get(link_id)
        if before is not None and before[0] > item["offset"]:
            return  # an older event; the newer one stands
        fields = json.loads(item["fields"])
        person = message_to_resident(self.codec.decode("resident", item["person"])) if item["person"] else None
        member = [item["offset"], fields["bb"], fields["bs"],
                  person.birth_date.isoformat() if person else None, person.sex if person else None]
        if member != before:
            members[link_id] = member
            work.dirty_members.add(name)
        work.peers[entry_key] = fields
        if person is None:
            work.entries[entry_key] = None  # no longer a swap candidate (if it was one)
        else:
            known = work.entry(self.batch_entries.data, entry_key)
            same = known is not None and known["f"] == item["offset"] and known["r"] == item["revision"]
            entry = {"e": base64.b64encode(item["value"]).decode(), "p": item["partition"], "f": item["offset"],
                     "r": item["revision"], "v": item["verdict"],
                     "person": base64.b64encode(item["person"]).decode(),
                     "s": known["s"] if same else 0, "d": known["d"] if same else ""}
            work.entries[entry_key] = entry
            self._batch_emit(name, link_id, entry, members, work, fresh=item["fresh"] or not same,
                             retract=item["retract"])
        born = {(member[1], member[2])}
        if before is not None:
            born.add((before[1], before[2]))
        self._rejudge_batch(name, members, born, link_id, work)

    def _batch_remove(self, item: dict[str, Any], work: "_BatchWork") -> None:
        name, link_id = item["batch"], item["link_id"]
        members = work.members_of(self.batch_members.data, name)
        before = members.get(link_id)
        if before is None or before[0] >= item["offset"]:
            return  # not here, or back in this batch with a newer event
        del members[link_id]
        work.entries[_entry_key(name, link_id)] = None
        work.peers[_entry_key(name, link_id)] = None
        work.dirty_members.add(name)
        self._rejudge_batch(name, members, {(before[1], before[2])}, link_id, work)

    def _rejudge_batch(self, name: str, members: dict[str, dict[str, Any]], born: set, changed: str,
                       work: "_BatchWork") -> None:
        """Judge again the swap candidates of the batch whose number's person was born as ``born``."""
        for other, member in members.items():
            if other == changed or member[3] is None or (member[3], member[4]) not in born:
                continue
            entry = work.entry(self.batch_entries.data, _entry_key(name, other))
            if entry is not None:
                self._batch_emit(name, other, entry, members, work, fresh=False, retract=False)

    def _batch_emit(self, name: str, link_id: str, entry: dict[str, Any], members: dict[str, dict[str, Any]],
                    work: "_BatchWork", *, fresh: bool, retract: bool) -> None:
        """The candidate's verdict with its batch; sent when delivered or changed (a sub-revision)."""
        decoded = self.codec.decode("record_changed", base64.b64decode(entry["e"]))
        record = event_to_record(decoded)
        own = parse_subject(record)
        person = message_to_resident(self.codec.decode("resident", base64.b64decode(entry["person"])))
        base = _verdict_from_json(entry["v"])
        born = (person.birth_date.isoformat(), person.sex)
        peers = []
        for other, member in members.items():
            if other != link_id and (member[1], member[2]) == born:
                fields = work.peer(self.batch_peers.data, _entry_key(name, other))
                peer = Peer.of(_member_record(other, fields)) if fields else None
                if peer is not None:
                    peers.append(peer)
        verdict = with_batch(base, record, own, person, peers) if isinstance(own, Subject) else base
        digest = _digest(verdict)
        if digest != entry["d"]:
            if entry["d"]:
                entry["s"] += 1
            entry["d"] = digest
        elif not fresh:
            return
        self._emit(entry, decoded, verdict, topics.record_key(record.system, record.record_id), work.outbox,
                   retract=retract, sub_revision=entry["s"])

    def _flush_batches(self, work: "_BatchWork", partition: int) -> None:
        outbox = work.outbox
        for store, changelog, values in (
                (self.batch_members.data, self.batch_members.changelog_topic.get_topic_name(),
                 {name.encode(): work.members[name] for name in work.dirty_members}),
                (self.batch_peers.data, self.batch_peers.changelog_topic.get_topic_name(),
                 {key.encode(): value for key, value in work.peers.items()}),
                (self.batch_entries.data, self.batch_entries.changelog_topic.get_topic_name(),
                 {key.encode(): value for key, value in work.entries.items()})):
            for key in sorted(values):
                data = values[key]
                value = json.dumps(data, ensure_ascii=False, sort_keys=True, separators=(",", ":")).encode() \
                    if data else None
                if store.get(key) == value:
                    continue
                if value is None:
                    store.pop(key, None)
                else:
                    store[key] = value
                outbox.add(changelog, key, value, partition=partition)

    async def _partitions_of(self, topic: str) -> int:
        count = self._partition_counts.get(topic)
        if count is None:
            producer = self.app.producer._ensure_producer()
            count = self._partition_counts[topic] = len(await producer.partitions_for(topic))
        return count

    # -- registry -------------------------------------------------------------------
    async def _load_registry(self, stream: faust.StreamT) -> None:
        """Keep the registry table, in batches: a registry load is a million messages.

        The store is written directly and the changelog in one Kafka batch per
        partition (the same partition as the source message, which is where
        Faust's own ``table[key] = value`` would have put it).
        """
        async for events in stream.take_events(self.batch_size, within=self.batch_within):
            with acked_only_when_done(stream):
                await self._registry_batch(events)

    async def _registry_batch(self, events: list[Any]) -> None:
        changelog = self.registry.changelog_topic.get_topic_name()
        store = self.registry.data
        links = self.links.data
        outbox = Outbox()
        rechecks: dict[int, list[dict[str, Any]]] = defaultdict(list)
        for event in events:
            message = event.message
            if message.key is None:
                outbox.add(self.topics.dlq, None, self._dead_letter_bytes(
                    message.topic, message.partition, message.offset, None, message.value,
                    "UNDECODABLE", "registry entry without a key", stage="registry"))
                continue
            if message.value is not None:
                try:
                    self.codec.decode("resident", message.value)
                except schemas.DecodeError as e:
                    outbox.add(self.topics.dlq, message.key, self._dead_letter_bytes(
                        message.topic, message.partition, message.offset, message.key, message.value,
                        "UNDECODABLE", str(e), stage="registry"))
                    continue
                store[message.key] = message.value
            else:  # tombstone: the number left the registry
                store.pop(message.key, None)
            outbox.add(changelog, message.key, message.value, partition=message.partition)
            if message.key in links:  # records carry this number: judge them again (retraction)
                rechecks[message.partition].append(
                    {"partition": message.partition, "offset": message.offset, "key": None, "value": b"",
                     "kind": "recheck", "number": message.key.decode()})
        for partition, items in rechecks.items():
            outbox.add(self.topics.by_number, None, self.codec.encode("record_batch", {"items": items}),
                       partition=partition)
        await outbox.send(self.app.producer, self._partitions_of)

    def _dead_letter_bytes(self, topic: str, partition: int, offset: int, key: bytes | None,
                           value: bytes | None, reason: str, error: str, *, stage: str = "guard",
                           system: str = "", record_id: str = "") -> bytes:
        return self.codec.encode("dead_letter", dead_letter_message(
            topic=topic, partition=partition, offset=offset, key=key, value=value, reason=reason,
            error=error, stage=stage, system=system, record_id=record_id))


#: a verdict's version: its event's offset in linkage.records, times this, plus its revision
REVISIONS = 1024
#: a revision is the number stage's (× this) plus the batch stage's, which only swap candidates have
SUB_REVISIONS = 32
_NUMBER_ONLY = frozenset({Reason.NOT_LINKED, Reason.NUMBER_FORMAT})


def version_of(offset: int, revision: int = 0) -> int:
    """The version a verdict carries: newer events first, then newer judgements of one event.

    The sink keeps, per record, the verdict with the highest version; a record judged again
    (the other half of a swap arrived, the registry changed) gets the next revision.

    >>> version_of(7), version_of(7, 1) > version_of(7), version_of(8) > version_of(7, 5000)
    (7168, True, True)
    """
    return offset * REVISIONS + min(revision, REVISIONS - 1)


def _one_person(entries: dict[str, dict[str, Any]]) -> bool:
    """Every record of the number carries one and the same (normalised) addressee number."""
    values = {entry.get("a", "") for entry in entries.values()}
    return len(values) == 1 and "" not in values


def _revise(entry: dict[str, Any], verdict: Verdict) -> tuple[bool, bool]:
    """Note a new judgement in the record's entry: (changed, a PASS of this event became a HOLD).

    A changed verdict of an event already judged gets the next revision.
    """
    digest = _digest(verdict)
    if entry.get("d") == digest:
        return False, False
    retract = False
    if entry.get("d"):
        entry["r"] = entry.get("r", 0) + 1
        # a PASS, or a hold that reviewers released, held now: its copy is withdrawn downstream
        retract = (entry.get("o") == Outcome.PASS.value or bool(entry.pop("rel", 0))) \
            and verdict.outcome is Outcome.HOLD
    entry["d"], entry["o"] = digest, verdict.outcome.value
    return True, retract


_MEMBER_FIELDS = {"m": "my_number", "n": "name", "k": "name_kana", "b": "birth_date", "s": "sex",
                  "a": "address", "t": "atena_no"}


def _member_item(batch: str, link_id: str, record: Record, entry: dict[str, Any], *, fresh: bool,
                 candidate: tuple[bytes, str, bytes, bool] | None = None) -> dict[str, Any]:
    """What the batch stage learns of a record: who it is about, and, for a swap candidate, its verdict."""
    subject = peer_subject(record)
    fields: dict[str, Any] = {short: getattr(record, name) or "" for short, name in _MEMBER_FIELDS.items()}
    fields["bb"] = subject.birth_date.isoformat() if subject else ""
    fields["bs"] = subject.sex if subject else 0
    value, verdict, person, retract = candidate or (None, "", None, False)
    return {"kind": "member", "batch": batch, "link_id": link_id, "partition": entry["p"], "offset": entry["f"],
            "value": value, "verdict": verdict, "person": person, "fresh": fresh,
            "revision": entry.get("r", 0), "retract": retract,
            "fields": json.dumps(fields, ensure_ascii=False, separators=(",", ":"))}


def _removal_item(batch: str, link_id: str, partition: int, offset: int) -> dict[str, Any]:
    return {"kind": "remove", "batch": batch, "link_id": link_id, "partition": partition, "offset": offset,
            "value": None, "verdict": "", "person": None, "fresh": False, "revision": 0, "retract": False,
            "fields": "{}"}


def _member_record(link_id: str, fields: dict[str, Any]) -> Record:
    system, _, record_id = link_id.partition("/")
    return Record(system, record_id, **{name: fields.get(short, "") for short, name in _MEMBER_FIELDS.items()})


def _batch_name(record: Record) -> str:
    key = batch_key(record)
    return f"{key[0]}\x1f{key[1]}" if key else ""


def _link_id(key: bytes) -> str:
    """``system/record_id`` of a published record key (``system`` U+001F ``record_id``)."""
    return key.decode("utf-8", "replace").replace("\x1f", "/", 1)


def _entry_key(batch: str, link_id: str) -> str:
    return f"{batch}\x1e{link_id}"


def _digest(verdict: Verdict) -> str:
    text = json.dumps([verdict.outcome.value, [[f.reason.value, f.detail] for f in verdict.findings],
                       verdict.suggested_my_number], ensure_ascii=False)
    return hashlib.blake2b(text.encode(), digest_size=8).hexdigest()


def _verdict_json(verdict: Verdict) -> str:
    return json.dumps({"o": verdict.outcome.value, "f": [[f.reason.value, f.detail] for f in verdict.findings],
                       "s": verdict.suggested_my_number}, ensure_ascii=False)


def _verdict_from_json(text: str) -> Verdict:
    data = json.loads(text)
    return Verdict(Outcome(data["o"]), tuple(Finding(Reason(c), d) for c, d in data["f"]), data["s"])


class _Entry:
    """A record as a stage remembers it (JSON-safe): its event, position and last verdict sent."""

    @staticmethod
    def fresh(item: dict[str, Any], known: dict[str, Any] | None = None, *, batch: str = "",
              atena_no: str = "") -> dict[str, Any]:
        entry = {"e": base64.b64encode(item["value"]).decode(), "p": item["partition"], "f": item["offset"],
                 "r": 0, "d": "", "o": "", "b": batch, "a": atena_no}
        if known is not None and known.get("f") == item["offset"]:  # the same event again
            entry.update(r=known.get("r", 0), d=known.get("d", ""), o=known.get("o", ""))
            if known.get("rel"):
                entry["rel"] = known["rel"]
        return entry


class _Work:
    """What handling one message of the number stage changes; written out once at its end."""

    def __init__(self, outbox: "Outbox", partition: int) -> None:
        self.outbox = outbox
        self.partition = partition  # of linkage.records-by-number
        self.forward: dict[int, list[dict[str, Any]]] = defaultdict(list)
        self.cache: dict[str, dict[str, dict[str, Any]]] = {}
        self.dirty_links: set[str] = set()

    def entries(self, store: Any, number: str) -> dict[str, dict[str, Any]]:
        entries = self.cache.get(number)
        if entries is None:
            raw = store.get(number.encode())
            entries = self.cache[number] = json.loads(raw) if raw else {}
        return entries


class _BatchWork:
    """What handling one message of the batch stage changes; written out once at its end."""

    def __init__(self, outbox: "Outbox") -> None:
        self.outbox = outbox
        self.members: dict[str, dict[str, list]] = {}
        self.dirty_members: set[str] = set()
        self.entries: dict[str, dict[str, Any] | None] = {}
        self.peers: dict[str, dict[str, Any] | None] = {}

    def peer(self, store: Any, key: str) -> dict[str, Any] | None:
        if key not in self.peers:
            raw = store.get(key.encode())
            if raw is None:
                return None
            self.peers[key] = json.loads(raw)
        return self.peers[key]

    def members_of(self, store: Any, name: str) -> dict[str, list]:
        members = self.members.get(name)
        if members is None:
            raw = store.get(name.encode())
            members = self.members[name] = json.loads(raw) if raw else {}
        return members

    def entry(self, store: Any, key: str) -> dict[str, Any] | None:
        if key not in self.entries:
            raw = store.get(key.encode())
            if raw is None:
                return None
            self.entries[key] = json.loads(raw)
        return self.entries[key]


class Outbox:
    """Messages produced while handling one batch, sent as one Kafka batch per partition.

    aiokafka's ``send_batch`` skips the per-message future and bookkeeping of
    ``send``; Faust still flushes the producer before it commits the consumed
    offsets, so a verdict is on the broker before its input counts as done.
    """

    def __init__(self) -> None:
        self._messages: dict[str, list[tuple[bytes | None, bytes | None, int | None]]] = defaultdict(list)

    def add(self, topic: str, key: bytes | None, value: bytes | None, partition: int | None = None) -> None:
        """Queue a message; without a partition, Kafka's rule for its key decides."""
        self._messages[topic].append((key, value, partition))

    async def send(self, producer: Any, partitions_of: Any) -> None:
        aio = producer._ensure_producer()
        for topic, messages in self._messages.items():
            count = await partitions_of(topic)
            by_partition: dict[int, list[tuple[bytes | None, bytes | None]]] = defaultdict(list)
            for key, value, partition in messages:
                if partition is None:
                    partition = topics.partition_for(key, count) if key else 0
                by_partition[partition].append((key, value))
            for partition, items in by_partition.items():
                batch = aio.create_batch()
                for key, value in items:
                    if batch.append(key=key, value=value, timestamp=None) is None:
                        await aio.send_batch(batch, topic, partition=partition)
                        batch = aio.create_batch()
                        batch.append(key=key, value=value, timestamp=None)
                await aio.send_batch(batch, topic, partition=partition)


def _credentials(settings: KafkaSettings) -> Any:
    """Faust broker credentials for TLS and SASL/SCRAM, or None for PLAINTEXT."""
    protocol = settings.kafka_security_protocol
    if protocol == "PLAINTEXT":
        return None
    ssl_context = None
    if protocol in ("SSL", "SASL_SSL"):
        import ssl

        ssl_context = ssl.create_default_context(cafile=settings.kafka_ssl_cafile)
        if settings.kafka_ssl_certfile:
            ssl_context.load_cert_chain(settings.kafka_ssl_certfile, settings.kafka_ssl_keyfile)
    if protocol == "SSL":
        return faust.SSLCredentials(ssl_context)
    password = settings.kafka_sasl_password.get_secret_value() if settings.kafka_sasl_password else ""
    return faust.SASLCredentials(
        username=settings.kafka_sasl_username or "", password=password,
        mechanism=settings.kafka_sasl_mechanism or "PLAIN", ssl_context=ssl_context,
    )


def create_app(settings: KafkaSettings | None = None, **kwargs: Any) -> GuardApp:
    return GuardApp(settings or KafkaSettings(), **kwargs)


def run_worker(app: faust.App, *, loglevel: str = "warning") -> None:
    """Run the Faust worker in this process until it is stopped (SIGTERM/SIGINT)."""
    from faust.worker import Worker

    level = logging.getLevelName(loglevel.upper())

    class _Worker(Worker):
        def on_setup_root_logger(self, logger: logging.Logger, _level: int) -> None:
            super().on_setup_root_logger(logger, _level)
            # mode leaves the root logger at DEBUG whatever level it is given, and
            # aiokafka then builds a debug record for every message it sends.
            logger.setLevel(level)

    worker = _Worker(app, loglevel=level, quiet=True, redirect_stdouts=False)
    worker.execute_from_commandline()


def table_digest(table: faust.Table) -> dict[str, str]:
    """SHA-256 of key → SHA-256 of value for every entry (a dump never shows a number)."""
    return {hashlib.sha256(bytes(k)).hexdigest(): hashlib.sha256(bytes(v)).hexdigest()
            for k, v in table.items()}



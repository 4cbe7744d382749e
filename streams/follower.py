"""Every resident of the registry, in every guard worker, for the 4-item look-up.

The guard's ``registry`` table is partitioned by My Number with the records,
which is all :func:`guards.check` needs. The look-up a municipality makes by
name, birth date and sex (suggestions, family numbers) needs the residents
of *every* number, so each worker follows the whole ``registry.residents``
topic into a :class:`LiveIdentityIndex`, in a background thread.

A Faust ``GlobalTable`` would do the same, but its recovery stops short on
the local broker (see ``streams/faust_fixes/tansu.py``) and it would keep the raw
bytes; this keeps only the decoded residents, indexed by birth date and sex.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
import time
from typing import Sequence

from kafka import KafkaConsumer, TopicPartition

import schemas
from guards import Resident
from streams.events import message_to_resident
from streams.settings import KafkaSettings
from streams.topics import names

log = logging.getLogger(__name__)

__all__ = ["LiveIdentityIndex", "RegistryFollower"]


class LiveIdentityIndex:
    """Residents by birth date and sex, kept by registry key so an entry can change or go.

    Satisfies :class:`guards.context.IdentityLookup`. Written by one thread,
    read by another: every change replaces whole values, which is atomic
    under the GIL, and a reader copies a bucket before looking at it.

    >>> index = LiveIdentityIndex()
    >>> a = Resident('621498320257', '山田 花子', dt.date(1980, 4, 1), 2, '高知市')
    >>> index.put(b'621498320257', a); len(index.born(dt.date(1980, 4, 1), 2))
    1
    >>> index.put(b'621498320257', a); len(index)  # the same key again replaces it
    1
    >>> index.discard(b'621498320257'); len(index)
    0
    """

    __slots__ = ("_buckets", "_where")

    def __init__(self) -> None:
        self._buckets: dict[tuple[dt.date, int], dict[bytes, Resident]] = {}
        self._where: dict[bytes, tuple[dt.date, int]] = {}

    def put(self, key: bytes, resident: Resident | None) -> None:
        if not isinstance(resident, Resident):
            raise TypeError("resident required")
        self.discard(key)
        bucket_key = (resident.birth_date, resident.sex)
        bucket = dict(self._buckets.get(bucket_key, {}))
        bucket[key] = resident
        self._buckets[bucket_key] = bucket
        self._where[key] = bucket_key

    def discard(self, key: bytes) -> None:
        bucket_key = self._where.pop(key, None)
        if bucket_key is None:
            return
        bucket = {k: v for k, v in self._buckets.get(bucket_key, {}).items() if k != key}
        if bucket:
            self._buckets[bucket_key] = bucket
        else:
            self._buckets.pop(bucket_key, None)

    def get(self, my_number: str, /) -> Resident | None:
        """The resident filed under a number (current or former), from any partition.

        >>> index = LiveIdentityIndex()
        >>> index.put(b'621498320257', Resident('621498320257', '山田 花子', dt.date(1980, 4, 1), 2, '高知市'))
        >>> index.get('621498320257').name, index.get('123456789018')
        ('山田 花子', None)
        """
        key = my_number.encode()
        bucket_key = self._where.get(key)
        return self._buckets.get(bucket_key, {}).get(key) if bucket_key is not None else None

    def born(self, birth_date: dt.date, sex: int, /) -> Sequence[Resident]:
        return tuple(self._buckets.get((birth_date, sex), {}).values())

    def __len__(self) -> int:
        return len(self._where)


class RegistryFollower:
    """Reads all of ``registry.residents`` into a :class:`LiveIdentityIndex`, then keeps following it.

    :meth:`wait_caught_up` blocks until the index holds everything that was
    on the topic when the follower started, so a worker does not judge
    records against half a registry.
    """

    def __init__(self, settings: KafkaSettings, codec: schemas.Codec | None = None) -> None:
        self.settings = settings
        self.codec = codec or schemas.Codec()
        self.index = LiveIdentityIndex()
        self.topic = names(settings).residents
        self._caught_up = threading.Event()
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self.failures = 0

    def start(self) -> "RegistryFollower":
        self._thread = threading.Thread(target=self._run, name="registry-follower", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()
        if self._thread is not None:
            self._thread.join(10)

    def wait_caught_up(self, timeout: float | None = None) -> bool:
        return self._caught_up.wait(timeout)

    @property
    def caught_up(self) -> bool:
        return self._caught_up.is_set()

    def _consumer(self) -> tuple[KafkaConsumer, dict[TopicPartition, int]]:
        from streams.faust_fixes.tansu import true_end_offsets

        config = self.settings.kafka_python_config()
        consumer = KafkaConsumer(**config, group_id=None, enable_auto_commit=False,
                                 auto_offset_reset="earliest", max_partition_fetch_bytes=8 * 1024 * 1024)
        deadline = time.monotonic() + 60
        partitions = consumer.partitions_for_topic(self.topic)
        while not partitions and time.monotonic() < deadline and not self._stopping.is_set():
            time.sleep(0.5)
            partitions = consumer.partitions_for_topic(self.topic)
        tps = [TopicPartition(self.topic, p) for p in sorted(partitions or ())]
        consumer.assign(tps)
        consumer.seek_to_beginning(*tps)
        ends = consumer.end_offsets(tps) if tps else {}
        if self.settings.local_mode and ends:
            fixed = true_end_offsets(self.settings, {(tp.topic, tp.partition): v for tp, v in ends.items()})
            ends = {tp: fixed[(tp.topic, tp.partition)] for tp in ends}
        return consumer, ends

    def _run(self) -> None:
        while not self._stopping.is_set():
            try:
                consumer, ends = self._consumer()
            except Exception as e:  # the broker may not be up yet
                log.warning("registry follower cannot start (%s); retrying", type(e).__name__)
                time.sleep(1)
                continue
            try:
                self._follow(consumer, ends)
                return
            except Exception as e:
                self.failures += 1
                log.warning("registry follower failed (%s); starting over", type(e).__name__)
                time.sleep(1)
            finally:
                consumer.close()

    def _follow(self, consumer: KafkaConsumer, ends: dict[TopicPartition, int]) -> None:
        pending = {tp: end for tp, end in ends.items() if end > 0}
        if not pending:
            self._caught_up.set()
        while not self._stopping.is_set():
            batches = consumer.poll(timeout_ms=200, max_records=5000)
            for tp, messages in batches.items():
                for message in messages:
                    self._apply(message.key, message.value)
                if tp in pending and messages and messages[-1].offset + 1 >= pending[tp]:
                    del pending[tp]
            if pending:
                for tp in list(pending):  # a partition may end in a gap (aborted or compacted)
                    if consumer.position(tp) >= pending[tp]:
                        del pending[tp]
            if not pending and not self._caught_up.is_set():
                log.info("registry follower caught up: %d residents", len(self.index))
                self._caught_up.set()

    def _apply(self, key: bytes | None, value: bytes | None) -> None:
        if key is None:
            return
        if value is None:
            self.index.discard(key)
            return
        try:
            resident = message_to_resident(self.codec.decode("resident", value))
        except Exception:  # the guard's registry loader dead-letters it; here it is just left out
            self.index.discard(key)
            return
        self.index.put(key, resident)

"""A table written as chunks: one changelog message per partition and call, not one per key.

Faust writes a changelog message for every key a stage changes; the
repartition stage changes the ``filed`` entry of nearly every record, so
that was one Kafka message per input record (a quarter of all the guard
wrote). A :class:`ChunkedStore` keeps the same key → value mapping for the
stage, but the changes of one call go to the changelog as **one chunk per
partition** (:class:`Chunk`, msgpack: the changed keys with their new value
or ``None`` for a removal), under a key that orders the chunks of a partition
(:func:`chunk_key`: partition and a sequence number).

The Faust table holds the chunks (a changelog recovery fills it); the store
indexes them: every key points at the newest chunk that mentions it. A chunk
no key points at any more is deleted (a tombstone in the same changelog
batch, after the chunk that replaces it), so the table stays about as large
as the live entries. Entries written by an earlier release, one per key,
count as older than every chunk and are deleted once replaced.

>>> chunks = {}
>>> store = ChunkedStore(chunks)
>>> store[b'a'], store[b'b'] = b'1', b'2'
>>> [(k, p) for k, _, p in store.seal([(b'a', b'1', 0), (b'b', b'2', 0)])]
[(b'\\x00chunk\\x1f0\\x1f0', 0)]
>>> store[b'a'] = b'3'
>>> del store[b'b']
>>> [(k, v is None) for k, v, _ in store.seal([(b'a', b'3', 0), (b'b', None, 0)])]  # the first chunk is dead
[(b'\\x00chunk\\x1f0\\x1f1', False), (b'\\x00chunk\\x1f0\\x1f0', True)]
>>> again = ChunkedStore(chunks)  # after a restart: the same mapping from the chunks
>>> dict(again.items())
{b'a': b'3'}
"""

from __future__ import annotations

from collections.abc import Iterator, MutableMapping

import msgspec

__all__ = ["Chunk", "ChunkedStore", "chunk_key", "CHUNK_PREFIX"]

#: every chunk key starts with this (no record key, number or bucket does)
CHUNK_PREFIX = b"\x00chunk\x1f"


class Chunk(msgspec.Struct, array_like=True):
    """The entries one call changed in one partition: key → new value, ``None`` when removed."""

    entries: dict[bytes, bytes | None]


_encoder = msgspec.msgpack.Encoder()
_decoder = msgspec.msgpack.Decoder(Chunk)


def chunk_key(partition: int, sequence: int) -> bytes:
    """The table key of a partition's ``sequence``-th chunk.

    >>> chunk_key(3, 12), _position(chunk_key(3, 12))
    (b'\\x00chunk\\x1f3\\x1f12', (3, 12))
    """
    return CHUNK_PREFIX + b"%d\x1f%d" % (partition, sequence)


def _position(key: bytes) -> tuple[int, int] | None:
    """(partition, sequence) of a chunk key; None for an entry written one per key (an earlier release)."""
    if not key.startswith(CHUNK_PREFIX):
        return None
    partition, _, sequence = key[len(CHUNK_PREFIX):].partition(b"\x1f")
    return int(partition), int(sequence)


class ChunkedStore(MutableMapping[bytes, bytes]):
    """Key → value over a table of chunks (``chunks``: the Faust table's data, or a dict).

    Reads and writes act on the index at once; :meth:`seal` turns the changes a
    :class:`~streams.stages.base.TableState` flushed into the changelog messages
    (the new chunks, then tombstones of dead ones) and puts them in ``chunks``.
    After a changelog recovery refilled ``chunks``, call :meth:`invalidate`.
    """

    def __init__(self, chunks: MutableMapping[bytes, bytes]) -> None:
        self.chunks = chunks
        self._built = False
        self._values: dict[bytes, bytes] = {}
        self._where: dict[bytes, bytes] = {}  # key → the chunk holding its newest entry (a removal too)
        self._live: dict[bytes, int] = {}  # chunk → how many keys it holds the newest entry of
        self._next: dict[int, int] = {}  # partition → its next chunk's sequence
        self._dead: list[bytes] = []  # dead chunks found when indexing, deleted with the next chunk

    def invalidate(self) -> None:
        """``chunks`` was filled behind our back (a changelog recovery): index it again when next used."""
        self._built = False

    def _index(self) -> dict[bytes, bytes]:
        if not self._built:
            self._values, self._where, self._live, self._next, self._dead = {}, {}, {}, {}, []
            ordered = sorted(((_position(k) or (-1, -1), k) for k in list(self.chunks.keys())))
            for position, key in ordered:
                raw = self.chunks.get(key)
                if raw is None:
                    continue
                if position == (-1, -1):  # one entry per key, as an earlier release wrote it
                    self._note(key, key, raw)
                    continue
                self._next[position[0]] = max(self._next.get(position[0], 0), position[1] + 1)
                for entry, value in _decoder.decode(raw).entries.items():
                    died = self._note(key, entry, value)
                    if died is not None and _position(died) is not None:
                        self._dead.append(died)  # its tombstone was lost: written with the next chunk
            self._built = True
        return self._values

    def _note(self, chunk: bytes, key: bytes, value: bytes | None) -> bytes | None:
        """The newest entry of ``key`` is now in ``chunk``; returns a chunk that died of it."""
        if value is None:
            self._values.pop(key, None)
        else:
            self._values[key] = value
        before = self._where.get(key)
        self._where[key] = chunk
        self._live[chunk] = self._live.get(chunk, 0) + 1
        if before is not None:
            self._live[before] -= 1
            if not self._live[before]:
                del self._live[before]
                return before
        return None

    # -- the mapping -------------------------------------------------------------------------
    def __getitem__(self, key: bytes) -> bytes:
        return self._index()[key]

    def get(self, key: bytes, default: bytes | None = None) -> bytes | None:  # type: ignore[override]
        return self._index().get(key, default)

    def __contains__(self, key: object) -> bool:
        return key in self._index()

    def __iter__(self) -> Iterator[bytes]:
        return iter(list(self._index()))

    def __len__(self) -> int:
        return len(self._index())

    def __setitem__(self, key: bytes, value: bytes) -> None:
        self._index()[key] = value

    def __delitem__(self, key: bytes) -> None:
        del self._index()[key]

    # -- the changelog -----------------------------------------------------------------------
    def seal(self, changes: list[tuple[bytes, bytes | None, int | None]],
             partition: int | None = None) -> list[tuple[bytes, bytes | None, int]]:
        """The changelog messages for ``changes`` (key, new value or None, partition or None: ``partition``).

        One chunk per partition, then a tombstone for each chunk that no longer holds
        any key's newest entry; ``chunks`` is updated the same way.
        """
        self._index()
        by_partition: dict[int, dict[bytes, bytes | None]] = {}
        for key, value, at in changes:
            at = at if at is not None else partition
            if at is None:
                raise ValueError("a chunked table's change needs a partition")
            by_partition.setdefault(at, {})[key] = value
        messages: list[tuple[bytes, bytes | None, int]] = []
        dead: list[tuple[bytes, int]] = [(key, _position(key)[0]) for key in self._dead  # type: ignore[index]
                                         if key in self.chunks and key not in self._live]
        self._dead = []
        for at, entries in sorted(by_partition.items()):
            sequence = self._next.get(at, 0)
            self._next[at] = sequence + 1
            key = chunk_key(at, sequence)
            raw = _encoder.encode(Chunk(entries))
            self.chunks[key] = raw
            messages.append((key, raw, at))
            for entry, value in entries.items():
                died = self._note(key, entry, value)
                if died is not None:  # an earlier release's entry lives in the partition of its key's change
                    dead.append((died, _position(died)[0] if died != entry else at))  # type: ignore[index]
        for key, at in dead:
            self.chunks.pop(key, None)
            messages.append((key, None, at))
        return messages

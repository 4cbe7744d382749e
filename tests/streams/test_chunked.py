"""A chunked table (streams/stages/chunked.py): the same mapping after any restart, and no dead chunk kept."""

from __future__ import annotations

import random

import msgspec
import pytest

from streams.stages.chunked import CHUNK_PREFIX, Chunk, ChunkedStore


def _apply(store: ChunkedStore, changes: dict[int, dict[bytes, bytes | None]]) -> list:
    """Change the store as TableState.flush does, then seal: the changelog messages."""
    flushed = []
    for partition, entries in changes.items():
        for key, value in entries.items():
            if value is None:
                store.pop(key, None)
            else:
                store[key] = value
            flushed.append((key, value, partition))
    return store.seal(flushed)


@pytest.mark.parametrize("seed", range(5))
def test_a_rebuilt_store_holds_what_was_written_and_dead_chunks_are_deleted(seed):
    rng = random.Random(seed)
    chunks: dict[bytes, bytes] = {}
    changelog: dict[bytes, bytes] = {}  # what a recovery reads back (compacted: the last value per key)
    store = ChunkedStore(chunks)
    expected: dict[bytes, bytes] = {}
    keys = [b"k%d" % i for i in range(60)]
    for step in range(300):
        changes: dict[int, dict[bytes, bytes | None]] = {}
        for key in rng.sample(keys, rng.randint(1, 12)):
            value = None if rng.random() < 0.15 else b"v%d" % step * rng.choice([1, 100])  # views from 256 B
            changes.setdefault(int(key[1:]) % 3, {})[key] = value
            if value is None:
                expected.pop(key, None)
            else:
                expected[key] = value
        for key, value, partition in _apply(store, changes):
            assert key.startswith(CHUNK_PREFIX)
            if value is None:
                changelog.pop(key, None)
            else:
                changelog[key] = value
        assert dict(store.items()) == expected
        # no chunk holds fewer than half live entries: they hold at most twice the keys' newest entries
        held = sum(len(msgspec.msgpack.decode(raw, type=Chunk).entries) for raw in chunks.values())
        assert held <= 2 * len(store._where), (held, len(store._where))
        if rng.random() < 0.1:  # a restart: the index is rebuilt from what the changelog holds
            chunks = dict(changelog)
            store = ChunkedStore(chunks)
            assert dict(store.items()) == expected
    assert len(changelog) <= len(keys)  # every chunk kept holds the newest entry of some key
    assert chunks == changelog


def test_a_replayed_input_after_a_crash_writes_newer_chunks():
    """Chunks are ordered by sequence: a replay's chunk outranks the first run's, whatever its input."""
    chunks: dict[bytes, bytes] = {}
    first = ChunkedStore(chunks)
    _apply(first, {0: {b"a": b"moved", b"b": b"1"}})
    replay = ChunkedStore(dict(chunks))  # restarted before the input was committed
    _apply(replay, {0: {b"a": b"moved"}})
    _apply(replay, {0: {b"a": b"again"}})
    assert dict(ChunkedStore(dict(replay.chunks)).items()) == {b"a": b"again", b"b": b"1"}


def test_entries_of_an_earlier_release_are_read_and_deleted_once_replaced():
    chunks = {b"old-1": b"x", b"old-2": b"y"}  # one changelog entry per key, as before chunks
    store = ChunkedStore(chunks)
    assert dict(store.items()) == {b"old-1": b"x", b"old-2": b"y"}
    messages = _apply(store, {2: {b"old-1": b"z"}})
    assert [(k, v, p) for k, v, p in messages if v is None] == [(b"old-1", None, 2)]
    assert dict(ChunkedStore(dict(chunks)).items()) == {b"old-1": b"z", b"old-2": b"y"}
    assert msgspec.msgpack.decode(messages[0][1], type=Chunk).entries == {b"old-1": b"z"}

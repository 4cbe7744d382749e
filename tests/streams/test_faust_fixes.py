"""The guards against Faust losing records across a rebalance, on Faust's real consumer class.

The consumer is built by a Faust app and never started: these tests drive the
bookkeeping a rebalance leaves behind (acknowledged offsets, the committed
offset, messages dropped between the fetcher and the stream) and check what
would be committed or read again. The kill -9 tests in tests/integration run
the whole thing on a real broker.
"""

from __future__ import annotations

import asyncio
import gc
import random
import time

import faust
import pytest
from faust.types import TP

from streams import faust_fixes
from streams.faust_fixes import committable_offset, guard_of, reread_stalled

GUARDED = "fix-test.linkage.records-by-number"
OTHER = "fix-test.registry.residents"  # compacted: gaps are real


def guarded_app(name: str = "fix-test") -> faust.App:
    app = faust.App(name, broker="kafka://127.0.0.1:1", store="memory://")
    faust_fixes.install(app, contiguous=[GUARDED], compacted=[OTHER])
    return app


@pytest.fixture
def consumer():
    app = guarded_app()
    yield app.consumer
    if not app.loop.is_closed():
        app.loop.close()


def track(consumer, tp: TP, message) -> None:
    guard_of(consumer).track_delivery(tp, message)


def acknowledge(consumer, tp: TP, *offsets: int) -> None:
    consumer._acked[tp].extend(offsets)
    consumer._acked_index[tp].update(offsets)


def test_a_commit_never_passes_a_record_not_acknowledged(consumer):
    tp = TP(GUARDED, 0)
    consumer._committed_offset[tp] = 10
    acknowledge(consumer, tp, 11, 12)  # record 10 was dropped in a rebalance
    assert consumer._new_offset(tp) is None
    acknowledge(consumer, tp, 10)  # read again and checked
    assert consumer._new_offset(tp) == 13
    assert consumer._acked[tp] == [] and not consumer._acked_index[tp]


def test_faust_alone_commits_over_the_hole(consumer):
    """Faust's own rule (faust-streaming #606), kept for topics not guarded: it is what lost records on ours."""
    tp = TP("fix-test.unguarded", 0)
    consumer._committed_offset[tp] = 10
    acknowledge(consumer, tp, 11, 12)
    assert consumer._new_offset(tp) == 13


def test_an_app_that_installed_nothing_keeps_faust_rules():
    app = faust.App("fix-test-plain", broker="kafka://127.0.0.1:1", store="memory://")
    tp = TP(GUARDED, 0)
    app.consumer._committed_offset[tp] = 10
    acknowledge(app.consumer, tp, 11, 12)
    assert guard_of(app.consumer) is None
    assert app.consumer._new_offset(tp) == 13
    app.loop.close()


def test_offset_zero_is_a_record_and_an_unknown_start_commits_nothing(consumer):
    tp = TP(GUARDED, 1)
    acknowledge(consumer, tp, 3, 4)
    assert consumer._new_offset(tp) is None  # not known where the partition starts
    consumer._committed_offset[tp] = 0
    assert consumer._new_offset(tp) is None  # 0, 1, 2 not done
    acknowledge(consumer, tp, 0, 1, 2)
    assert consumer._new_offset(tp) == 5


def test_acknowledgements_below_the_commit_are_dropped(consumer):
    tp = TP(GUARDED, 2)
    consumer._committed_offset[tp] = 8
    acknowledge(consumer, tp, 5, 6, 8, 9)  # 5, 6: late acknowledgements of committed records
    assert consumer._new_offset(tp) == 10
    assert consumer._acked[tp] == []


def test_committable_offset_only_ever_covers_acknowledged_offsets():
    rng = random.Random(7)
    for _ in range(2_000):
        due = rng.randrange(0, 20)
        acked = rng.sample(range(0, 40), rng.randrange(0, 30))
        new = committable_offset(acked, due)
        if new is None:
            assert due not in acked
        else:
            assert new > due and set(range(due, new)) <= set(acked) and new not in acked


class Delivered:
    """Stands for a Faust message: alive while a stream holds it."""

    def __init__(self, offset: int) -> None:
        self.offset = offset


def stalled_consumer(consumer, monkeypatch, tp: TP, end: int) -> list:
    sought = []

    async def seek(partition, offset):
        sought.append((partition, offset))

    monkeypatch.setattr(consumer, "assignment", lambda: {tp})
    monkeypatch.setattr(consumer, "highwater", lambda partition: end)
    monkeypatch.setattr(consumer, "seek", seek)
    return sought


def test_a_record_dropped_before_its_stream_is_read_again(consumer, monkeypatch):
    tp = TP(GUARDED, 3)
    sought = stalled_consumer(consumer, monkeypatch, tp, end=20)
    consumer._committed_offset[tp] = 10
    held = [Delivered(offset) for offset in (10, 11, 12)]
    for message in held:
        track(consumer, tp, message)
    acknowledge(consumer, tp, 11, 12)
    assert asyncio.run(reread_stalled(consumer)) == []  # 10 is still with the stream
    del held[0]  # the rebalance cleared the stream's queue: 10 is gone, never acknowledged
    gc.collect()
    assert asyncio.run(reread_stalled(consumer)) == [(tp, 10)]
    assert sought == [(tp, 10)]


def test_a_record_due_that_never_comes_is_sought_after_two_quiet_checks(consumer, monkeypatch):
    tp = TP(GUARDED, 5)
    sought = stalled_consumer(consumer, monkeypatch, tp, end=15)
    consumer._committed_offset[tp] = 10  # 10..14 are on the broker; the fetcher went past them
    guard_of(consumer).highest[tp] = 9
    guard_of(consumer).last_delivery[tp] = time.monotonic() - faust_fixes.QUIET_SECONDS - 1
    assert asyncio.run(reread_stalled(consumer)) == []  # once may be a slow fetch
    assert asyncio.run(reread_stalled(consumer)) == [(tp, 10)]
    assert sought == [(tp, 10)]


def test_on_a_compacted_topic_no_commit_passes_a_dropped_message(consumer, monkeypatch):
    tp = TP(OTHER, 1)
    sought = stalled_consumer(consumer, monkeypatch, tp, end=30)
    consumer._committed_offset[tp] = 14
    held = {offset: Delivered(offset) for offset in (14, 15, 16)}
    for message in held.values():
        track(consumer, tp, message)
    del held[14]  # dropped in a rebalance
    gc.collect()
    acknowledge(consumer, tp, 15, 16)
    assert consumer._new_offset(tp) is None  # Faust alone would commit 17, past the dropped 14
    assert asyncio.run(reread_stalled(consumer)) == [(tp, 14)]
    assert sought == [(tp, 14)]


def test_on_a_compacted_topic_a_real_gap_is_still_committed_over(consumer):
    tp = TP(OTHER, 2)
    consumer._committed_offset[tp] = 10
    held = [Delivered(offset) for offset in (10, 11, 14)]  # 12, 13 compacted away: never delivered
    for message in held:
        track(consumer, tp, message)
    acknowledge(consumer, tp, 10, 11, 14)
    consumer._gap[tp].addi(12, 14)  # what Faust records when the fetcher jumps 11 → 14
    assert consumer._new_offset(tp) == 15


def test_a_partition_keeping_up_is_left_alone(consumer, monkeypatch):
    tp = TP(GUARDED, 4)
    sought = stalled_consumer(consumer, monkeypatch, tp, end=13)
    consumer._committed_offset[tp] = 13  # everything read and committed
    for offset in (10, 11, 12):
        track(consumer, tp, Delivered(offset))
    for _ in range(3):
        assert asyncio.run(reread_stalled(consumer)) == []
    assert sought == []


def test_records_whose_commit_is_under_way_are_not_taken_for_dropped(consumer, monkeypatch):
    """Faust forgets the acknowledgements of a commit before the broker answers: meanwhile their
    messages are gone and unacknowledged, and must not be read again (found under load)."""
    tp = TP(GUARDED, 6)
    sought = stalled_consumer(consumer, monkeypatch, tp, end=20)
    consumer._committed_offset[tp] = 10
    held = [Delivered(offset) for offset in (10, 11, 12, 13)]
    for message in held:
        track(consumer, tp, message)
    acknowledge(consumer, tp, 10, 11, 12)
    assert consumer._new_offset(tp) == 13  # the commit starts: 10..12 leave the acknowledged list
    del held[:3]  # checked and acknowledged: nothing holds them any more
    gc.collect()
    assert consumer._committed_offset[tp] == 10  # the broker has not answered yet
    for _ in range(3):
        assert asyncio.run(reread_stalled(consumer)) == []
    assert sought == []


def test_the_pure_python_stream_iterator_is_refused(monkeypatch):
    """It acknowledges the messages it drops in a rebalance: a worker must not start with it."""
    import faust.streams

    faust_fixes.require_compiled_streams()  # the installed wheel has the compiled one
    monkeypatch.setattr(faust.streams, "_CStreamIterator", None)
    monkeypatch.setattr(faust.streams, "NO_CYTHON", True)
    with pytest.raises(faust_fixes.FaustModeError, match="Unset NO_CYTHON"):
        faust_fixes.require_compiled_streams()


def test_a_worker_with_no_cython_stops_with_how_to_fix_it():
    import os
    import subprocess
    import sys

    env = {**os.environ, "NO_CYTHON": "1", "LINKGUARD_KAFKA_BOOTSTRAP": "127.0.0.1:1", "COLUMNS": "200"}
    done = subprocess.run([sys.executable, "-m", "linkguard", "worker"], env=env, capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 1
    assert "Unset NO_CYTHON" in done.stdout + done.stderr


def test_on_a_compacted_topic_no_commit_passes_a_message_still_being_checked(consumer):
    """A stale fetch after a seek makes Faust record a gap over offsets it delivered: they are
    not done until acknowledged (the registry-load kill test lost an entry this way)."""
    tp = TP(OTHER, 3)
    consumer._committed_offset[tp] = 10
    held = [Delivered(offset) for offset in (10, 11, 12, 13)]
    for message in held:
        track(consumer, tp, message)
    acknowledge(consumer, tp, 10, 11, 14)
    consumer._gap[tp].addi(12, 14)  # Faust's gap over 12, 13: delivered, still being checked
    assert consumer._new_offset(tp) == 12  # Faust alone would commit 15
    consumer._committed_offset[tp] = 12  # the commit went through
    acknowledge(consumer, tp, 12, 13)
    for _ in range(5):  # the following commits (Faust may need more than one over its own gap)
        new = consumer._new_offset(tp)
        if new is not None:
            consumer._committed_offset[tp] = new
    assert consumer._committed_offset[tp] == 15


def failing_commits(consumer, monkeypatch, tp: TP) -> tuple[list, list]:
    """The broker refuses commits (aiokafka's "already rebalanced": False, no crash) until told otherwise."""
    answers, sought = [False], []

    async def commit(offsets):
        return answers[-1]

    async def seek(partition, offset):
        sought.append((partition, offset))

    async def flush():
        return None

    monkeypatch.setattr(consumer, "_commit", commit)
    monkeypatch.setattr(consumer, "seek", seek)
    monkeypatch.setattr(consumer, "assignment", lambda: {tp})
    monkeypatch.setattr(consumer.app.producer, "flush", flush)
    return answers, sought


def test_a_failed_commit_advances_nothing_and_its_records_are_read_again(consumer, monkeypatch):
    """faust-streaming #316: Faust 0.15.3 records a commit as done even when it failed."""
    tp = TP(GUARDED, 7)
    answers, sought = failing_commits(consumer, monkeypatch, tp)
    consumer._committed_offset[tp] = 10
    held = [Delivered(offset) for offset in (10, 11, 12)]
    for message in held:
        track(consumer, tp, message)
    acknowledge(consumer, tp, 10, 11, 12)
    assert asyncio.run(consumer.commit()) is False
    assert consumer._committed_offset[tp] == 10  # Faust alone would believe 13
    assert sought == [(tp, 10)]  # 10, 11, 12 are read again ...
    assert guard_of(consumer).done_below(tp, 10) == 10  # ... and not taken for done meanwhile
    acknowledge(consumer, tp, 10, 11, 12)  # read again and checked
    answers.append(True)
    assert asyncio.run(consumer.commit()) is True
    assert consumer._committed_offset[tp] == 13


def test_a_failed_commit_keeps_what_faust_believes_on_any_topic(monkeypatch):
    """The #316 fix is Faust's own bookkeeping: it holds on topics the app did not register too."""
    app = guarded_app("fix-test-316")
    tp = TP("fix-test.unguarded", 3)
    answers, sought = failing_commits(app.consumer, monkeypatch, tp)
    app.consumer._committed_offset[tp] = 4
    acknowledge(app.consumer, tp, 4, 5)
    assert asyncio.run(app.consumer.commit()) is False
    assert app.consumer._committed_offset[tp] == 4
    assert sought == [(tp, 4)]
    app.loop.close()


def test_each_consumer_keeps_its_own_state(consumer):
    other = guarded_app("fix-test-other")
    tp = TP(GUARDED, 0)
    message = Delivered(3)
    track(consumer, tp, message)
    assert guard_of(consumer) is not guard_of(other.consumer)
    assert guard_of(consumer).highest == {tp: 3} and guard_of(other.consumer).highest == {}
    other.loop.close()


def test_install_twice_adds_topics_and_one_watchdog():
    app = faust.App("fix-test-twice", broker="kafka://127.0.0.1:1", store="memory://")
    before = len(app._app_tasks)
    faust_fixes.install(app, contiguous=[GUARDED])
    faust_fixes.install(app, contiguous=["fix-test.more"])
    assert len(app._app_tasks) == before + 1  # one watchdog timer
    assert guard_of(app.consumer).topics.contiguous == {GUARDED, "fix-test.more"}
    app.loop.close()


def test_a_faust_release_other_than_the_pinned_one_is_refused(monkeypatch):
    from importlib import metadata

    monkeypatch.setattr(metadata, "version", lambda name: "0.16.0")
    app = faust.App("fix-test-version", broker="kafka://127.0.0.1:1", store="memory://")
    with pytest.raises(faust_fixes.FaustModeError, match=r"pip install 'faust-streaming==0\.15\.3'"):
        faust_fixes.install(app, contiguous=[GUARDED])
    assert not hasattr(app, "_linkguard_topics")


def test_the_pin_in_pyproject_is_the_supported_release():
    import pathlib
    import tomllib

    project = tomllib.loads((pathlib.Path(__file__).parents[2] / "pyproject.toml").read_text())
    assert f"faust-streaming=={faust_fixes.SUPPORTED_FAUST}" in project["project"]["dependencies"]


def test_the_worker_consumer_fetches_with_the_configured_wait_not_faust_hard_coded_one():
    """Faust builds its worker consumer with fetch_max_wait_ms=1500 whatever the settings say."""
    from streams.faust_fixes.fetch_wait import FAUST_FETCH_MAX_WAIT_MS
    from streams.settings import KafkaSettings

    configured = faust.App("fix-test-wait", broker="kafka://127.0.0.1:1", store="memory://")
    faust_fixes.install(configured, contiguous=[GUARDED],
                        fetch_max_wait_ms=KafkaSettings(kafka_bootstrap="x:1").consumer_fetch_max_wait_ms)
    untouched = faust.App("fix-test-no-wait", broker="kafka://127.0.0.1:1", store="memory://")
    faust_fixes.install(untouched, contiguous=[GUARDED])

    async def fetch_waits() -> list[int]:
        waits = []
        for app in (configured, untouched):
            built = app.consumer._thread._create_worker_consumer(app.transport)
            waits.append(built._fetch_max_wait_ms)
            await built.stop()
        return waits

    assert asyncio.run(fetch_waits()) == [100, FAUST_FETCH_MAX_WAIT_MS]
    for app in (configured, untouched):
        app.loop.close()


@pytest.fixture
def fetcher_consumer():
    """A consumer on an event loop of its own (the loop the fetcher's awaits run in)."""
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    app = faust.App("fix-test-delivery", broker="kafka://127.0.0.1:1", store="memory://", loop=loop)
    faust_fixes.install(app, contiguous=[GUARDED])
    yield app.consumer
    loop.close()
    asyncio.set_event_loop(None)


async def _put(queue: asyncio.Queue, item: int) -> None:
    await queue.put(item)


def test_a_message_handed_over_without_waiting_needs_no_task(fetcher_consumer):
    """The fetcher's per-message wait_first: a hand-over that does not wait is done at once, with no
    turn of the event loop (Faust's own wait_first runs it in a task among four)."""
    consumer = fetcher_consumer
    queue: asyncio.Queue = asyncio.Queue(maxsize=1)
    loop_turns: list[int] = []

    async def fetch_one() -> tuple[int, list[int]]:
        consumer.loop.call_soon(loop_turns.append, 1)
        await consumer.wait_first(_put(queue, 1), consumer.suspend_flow.wait())
        return queue.qsize(), list(loop_turns)

    assert consumer.loop.run_until_complete(fetch_one()) == (1, [])


def test_a_hand_over_that_waits_still_lets_a_suspended_flow_free_the_fetcher(fetcher_consumer):
    """Faust's rule kept: a full stream queue blocks the fetcher only until a rebalance suspends the flow;
    with room, the waiting message is put."""
    consumer = fetcher_consumer
    queue: asyncio.Queue = asyncio.Queue(maxsize=1)
    queue.put_nowait(0)

    async def suspended_while_full() -> tuple[bool, int]:
        fetcher = asyncio.ensure_future(consumer.wait_first(_put(queue, 1), consumer.suspend_flow.wait()))
        await asyncio.sleep(0.01)
        blocked = not fetcher.done()
        consumer.suspend_flow.set()
        await asyncio.wait_for(fetcher, 1)
        consumer.suspend_flow.clear()
        return blocked, queue.qsize()

    assert consumer.loop.run_until_complete(suspended_while_full()) == (True, 1)

    async def room_made() -> list[int]:
        fetcher = asyncio.ensure_future(consumer.wait_first(_put(queue, 2), consumer.suspend_flow.wait()))
        await asyncio.sleep(0.01)
        assert not fetcher.done()
        queue.get_nowait()
        await asyncio.wait_for(fetcher, 1)
        return [queue.get_nowait() for _ in range(queue.qsize())]

    assert consumer.loop.run_until_complete(room_made()) == [2]


def test_a_hand_over_that_fails_fails_the_fetcher(fetcher_consumer):
    consumer = fetcher_consumer

    async def broken() -> None:
        raise ValueError("undecodable")

    with pytest.raises(ValueError):
        consumer.loop.run_until_complete(consumer.wait_first(broken(), consumer.suspend_flow.wait()))


def test_the_guard_app_keeps_no_per_message_statistics_but_tracks_commits():
    from faust.types.tuples import Message

    from streams.app import create_app
    from streams.faust_fixes.monitor import QuietMonitor
    from streams.settings import KafkaSettings

    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    try:
        guard = create_app(KafkaSettings(kafka_bootstrap="127.0.0.1:1"))
        monitor = guard.app.monitor
        assert isinstance(monitor, QuietMonitor)
        tp = TP("fix-test.linkage.records", 0)
        monitor.on_message_in(tp, 7, Message(tp.topic, 0, 7, 0.0, None, None, b"k", b"v", None))
        assert monitor.messages_received_total == 0
        monitor.on_tp_commit({tp: 8})
        assert monitor.tp_committed_offsets[tp] == 8
    finally:
        loop.close()
        asyncio.set_event_loop(None)

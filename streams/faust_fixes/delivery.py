"""The fetcher's hand-over of each message without four tasks per message (faust-streaming 0.15.3).

``Consumer._drain_messages`` hands every fetched message to its streams with
``await self.wait_first(callback(message), self.suspend_flow.wait())``: the
fetcher must not stay blocked in a full stream queue when a rebalance suspends
the flow. ``Service.wait_first`` makes four tasks for that (the callback, the
flow event, the service's stopped and crashed events), waits, and cancels
three of them: per message, the largest single cost of a guard worker after
its own stages (about a tenth of its CPU in a py-spy profile).

Nearly always the callback (decode, put into a queue with room) finishes
without waiting at all. The patch runs its first step right away; when it
finishes there, nothing could have been waited for and nothing differs from
Faust's path (whose tasks also run that first step before any suspension is
noticed). When it does wait (a full queue, a paused flow), the rest of it goes
through Faust's own ``wait_first`` with the flow event, exactly as before.
Every other ``wait_first`` of the consumer is Faust's.
"""

from __future__ import annotations

import asyncio
import types
from collections.abc import Coroutine, Generator
from typing import Any

__all__ = ["patch_delivery", "deliver_first_step"]

_PATCHED = "_linkguard_patched"
#: the code of ``asyncio.Event.wait``: Faust's fetcher passes ``self.suspend_flow.wait()`` second
_EVENT_WAIT = asyncio.Event.wait.__code__


def patch_delivery() -> None:
    """Patch ``Consumer.wait_first`` for the fetcher's per-message call (once per process, idempotent)."""
    from faust.transport.consumer import Consumer

    original = Consumer.wait_first
    if getattr(original, _PATCHED, False):
        return

    async def wait_first(self: Any, *coros: Any, timeout: Any = None) -> Any:
        if timeout is None and len(coros) == 2 and getattr(coros[1], "cr_code", None) is _EVENT_WAIT \
                and asyncio.iscoroutine(coros[0]):
            rest = deliver_first_step(coros[0], coros[1])
            if rest is None:
                return None  # the fetcher does not read what wait_first returns
            return await original(self, rest, coros[1])
        return await original(self, *coros, timeout=timeout)

    setattr(wait_first, _PATCHED, True)
    Consumer.wait_first = wait_first  # type: ignore[method-assign]


def deliver_first_step(delivery: Coroutine, suspended: Coroutine) -> Coroutine | None:
    """Run ``delivery`` up to its first wait; None if it finished (``suspended`` is then closed
    unstarted), else a coroutine that goes on from there. An error of the first step is raised.

    >>> async def put(queue): await queue.put(1)
    >>> async def main():
    ...     queue = asyncio.Queue(maxsize=1)
    ...     flow = asyncio.Event()
    ...     done = deliver_first_step(put(queue), flow.wait())  # room in the queue: no wait
    ...     waiting = flow.wait()
    ...     rest = deliver_first_step(put(queue), waiting)  # full: it waits for room
    ...     waiting.close()
    ...     task = asyncio.ensure_future(rest)
    ...     await asyncio.sleep(0)
    ...     first = task.done()
    ...     queue.get_nowait()
    ...     await task
    ...     return done, first, queue.qsize()
    >>> asyncio.run(main())
    (None, False, 1)
    """
    try:
        step = delivery.send(None)
    except StopIteration:
        suspended.close()
        return None
    except BaseException:
        suspended.close()
        raise
    return _go_on(delivery, step)


async def _go_on(delivery: Coroutine, step: Any) -> Any:
    return await _resumed(delivery, step)


@types.coroutine
def _resumed(delivery: Coroutine, step: Any) -> Generator[Any, Any, Any]:
    """Yield what ``delivery`` yielded to the task now running it, and pass every send or throw
    on to it (what ``await`` would have done had it started in that task)."""
    while True:
        try:
            sent = yield step
        except GeneratorExit:
            delivery.close()
            raise
        except BaseException as exc:
            try:
                step = delivery.throw(exc)
            except StopIteration as stop:
                return stop.value
        else:
            try:
                step = delivery.send(sent)
            except StopIteration as stop:
                return stop.value

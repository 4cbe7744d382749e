"""Every work-around for Faust and the local broker, in one place, installed once per app.

The guard relies on Faust internals that lose records in a rebalance, after a
failed commit, or on the local broker. The fixes patch those internals, so they
hold for exactly one Faust release, :data:`SUPPORTED_FAUST` (pinned in
pyproject.toml); a worker refuses any other, and Faust's pure-Python mode.

- :mod:`streams.faust_fixes.offsets`: commits across a hole and jumps taken
  for gaps (faust-streaming #606, #216), messages dropped in a rebalance and
  never read again (a watchdog), a failed commit counted as done
  (faust-streaming #316);
- :func:`acked_only_when_done`: ``take_events`` acknowledges a batch whose
  handling was interrupted;
- :func:`require_compiled_streams`: the pure-Python stream iterator
  (``NO_CYTHON``) acknowledges the messages it drops;
- :mod:`streams.faust_fixes.tansu`: the local broker's wrong end offsets;
- :mod:`streams.faust_fixes.fetch_wait`: Faust's hard-coded 1.5 s fetch wait,
  which the local broker spends in full at every hop (latency), made a setting;
- :mod:`streams.faust_fixes.delivery`: the fetcher's four tasks per message
  (CPU), skipped when handing the message over does not wait;
- :class:`streams.faust_fixes.monitor.QuietMonitor`: Faust's monitor without
  its four calls per consumed message (CPU), set as the app's ``Monitor``.

Call :func:`install` once when the app is built (calling it again is
harmless); everything the fixes remember is held per consumer
(:class:`streams.faust_fixes.offsets.ConsumerGuard`), none of it in module
globals.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from importlib import metadata
from typing import TYPE_CHECKING, Any

from guards.exceptions import LinkguardError
from streams.faust_fixes.offsets import (QUIET_SECONDS, ConsumerGuard, GuardedTopics, committable_offset,
                                         guard_of, reread_stalled)

if TYPE_CHECKING:
    import faust

    from streams.settings import KafkaSettings

__all__ = ["install", "SUPPORTED_FAUST", "FaustModeError", "require_supported_faust", "require_compiled_streams",
           "acked_only_when_done", "reread_stalled", "guard_of", "ConsumerGuard", "committable_offset",
           "QUIET_SECONDS", "STALL_CHECK_SECONDS"]

#: the faust-streaming release whose internals the fixes patch (pyproject.toml pins it)
SUPPORTED_FAUST = "0.15.3"
#: how often each worker looks for a record dropped on its way to a stream
STALL_CHECK_SECONDS = 5.0


class FaustModeError(LinkguardError, RuntimeError):
    """Faust is of a release, or runs in a mode, in which the guard cannot promise that no record is lost."""


def require_supported_faust(installed: str | None = None) -> None:
    """Refuse any faust-streaming release but :data:`SUPPORTED_FAUST`, saying what to do.

    >>> require_supported_faust("0.15.3")
    >>> require_supported_faust("0.16.0")
    Traceback (most recent call last):
    ...
    streams.faust_fixes.FaustModeError: faust-streaming 0.16.0 is installed, but the guard's work-arounds for Faust's lost records (streams/faust_fixes) patch the internals of faust-streaming 0.15.3 exactly. Install that release: pip install 'faust-streaming==0.15.3' (or `make install`); to move to another, check each work-around against its source and raise SUPPORTED_FAUST.
    """
    if installed is None:
        try:
            installed = metadata.version("faust-streaming")
        except metadata.PackageNotFoundError:
            installed = "(not installed)"
    if installed != SUPPORTED_FAUST:
        raise FaustModeError(
            f"faust-streaming {installed} is installed, but the guard's work-arounds for Faust's lost records "
            f"(streams/faust_fixes) patch the internals of faust-streaming {SUPPORTED_FAUST} exactly. Install "
            f"that release: pip install 'faust-streaming=={SUPPORTED_FAUST}' (or `make install`); to move to "
            "another, check each work-around against its source and raise SUPPORTED_FAUST.")


def require_compiled_streams() -> None:
    """Refuse Faust's pure-Python stream iterator: it acknowledges the messages it drops.

    When a rebalance leaves a message in a stream's queue, both of Faust's
    iterators skip it; the compiled one (``faust._cython``) leaves it
    unacknowledged, so it is read again, but the pure-Python one acknowledges
    it, and Faust then commits past a record nobody checked. The wheels of
    faust-streaming ship the compiled one; ``NO_CYTHON`` turns it off.
    """
    import faust.streams

    if getattr(faust.streams, "_CStreamIterator", None) is None:
        why = "NO_CYTHON is set" if faust.streams.NO_CYTHON else "faust._cython.streams cannot be imported"
        raise FaustModeError(
            f"Faust's compiled stream iterator is not in use ({why}): in pure-Python mode Faust "
            "acknowledges messages it drops in a rebalance, which loses records. Unset NO_CYTHON, or "
            "reinstall faust-streaming from its wheel: pip install --force-reinstall faust-streaming")


def install(app: "faust.App", *, contiguous: Iterable[str], compacted: Iterable[str] = (),
            local_broker: "KafkaSettings | None" = None, stall_check_seconds: float = STALL_CHECK_SECONDS,
            fetch_max_wait_ms: int | None = None) -> None:
    """Install every fix for ``app``; idempotent (a second call only adds topics).

    ``contiguous``: the app's own topics, which have no legitimate offset gaps
    (nothing is committed past a record not acknowledged, a jump is read
    again); ``compacted``: topics with real gaps, where only a message
    delivered and dropped is read again. ``local_broker``: the settings of the
    embedded local broker, whose end offsets are taken from a fetch instead.
    ``fetch_max_wait_ms``: how long the broker may hold the worker's fetch
    (``KafkaSettings.consumer_fetch_max_wait_ms``); None keeps Faust's 1.5 s.
    Raises :class:`FaustModeError` (with what to do) on an unsupported Faust.
    """
    require_supported_faust()
    require_compiled_streams()
    from streams.faust_fixes.delivery import patch_delivery
    from streams.faust_fixes.fetch_wait import patch_fetch_wait
    from streams.faust_fixes.offsets import patch_consumer_class
    from streams.faust_fixes.tansu import patch_highwaters

    patch_consumer_class()
    patch_highwaters()
    patch_fetch_wait()
    patch_delivery()
    if fetch_max_wait_ms is not None:
        app._linkguard_fetch_max_wait_ms = fetch_max_wait_ms  # type: ignore[attr-defined]
    topics: GuardedTopics | None = getattr(app, "_linkguard_topics", None)
    first = topics is None
    if topics is None:
        topics = app._linkguard_topics = GuardedTopics()  # type: ignore[attr-defined]
    topics.contiguous.update(contiguous)
    topics.compacted.update(compacted)
    if local_broker is not None:
        app._linkguard_local_broker = local_broker  # type: ignore[attr-defined]
    if first:
        async def reread_dropped_records() -> None:
            await reread_stalled(app.consumer)

        app.timer(stall_check_seconds)(reread_dropped_records)


@contextmanager
def acked_only_when_done(stream: "faust.StreamT") -> Iterator[None]:
    """Leave a ``take_events`` batch unacknowledged if its handling is interrupted.

    Faust's ``take_events`` acknowledges the events of a batch in a ``finally``
    block, so a batch whose handling was cancelled half-way (a worker stopping,
    its verdicts not yet sent) would be committed as done. When the body does
    not finish, this makes those acknowledgements no-ops: the events are
    delivered again after the restart (at least once).
    """
    try:
        yield
    except BaseException:
        stream.ack = _keep_unacknowledged  # type: ignore[method-assign]
        raise


async def _keep_unacknowledged(event: Any) -> bool:
    return False

"""Child processes that never outlive the process that started them.

A launcher (``linkguard broker``, the demo, the benchmarks, the test
session) that is stopped with SIGTERM, or killed with ``kill -9``, used to
leave its Tansu broker and workers running, holding ports and memory. Every
child started through :func:`spawn`:

* runs in its own process group, so :func:`stop` ends it *and* anything it
  started, and a Ctrl-C meant for the launcher does not hit it half-way
  through the launcher's own orderly stop;
* asks the kernel (Linux ``prctl(PR_SET_PDEATHSIG)``) to send it a signal the
  moment its launcher dies, however it dies — the only thing that still
  works after a ``kill -9`` of the parent. If the launcher died between the
  fork and that request, the child ends itself at once;
* is stopped by an ``atexit`` hook if the launcher exits normally without
  stopping it.

:func:`stop_on_termination` makes SIGTERM and SIGHUP raise ``SystemExit`` in
the launcher, so its ``with`` blocks and ``finally`` clauses run and stop the
children in order, as Ctrl-C does.

The parent-death signal belongs to the *thread* that started the child:
start children from a thread that lives as long as they should (the main
thread, in every launcher here).
"""

from __future__ import annotations

import atexit
import ctypes
import ctypes.util
import os
import signal
import subprocess
import sys
import threading
import weakref
from collections.abc import Callable, Sequence
from typing import Any

__all__ = ["spawn", "stop", "stop_on_termination", "PDEATHSIG_SUPPORTED"]

_PR_SET_PDEATHSIG = 1
_libc: Any = None
if sys.platform.startswith("linux"):
    try:  # loaded before any fork: the child only calls into it
        _libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
    except OSError:
        _libc = None
#: whether a kill -9 of the launcher takes its children too
PDEATHSIG_SUPPORTED = _libc is not None

_live: "weakref.WeakSet[subprocess.Popen[Any]]" = weakref.WeakSet()
_live_lock = threading.Lock()


def _die_with(parent_pid: int, death_signal: int) -> Callable[[], None]:
    def in_child() -> None:  # runs between fork and exec: nothing here may allocate or lock
        if _libc is not None:
            _libc.prctl(_PR_SET_PDEATHSIG, death_signal, 0, 0, 0)
        if os.getppid() != parent_pid:  # the launcher died before the request: follow it now
            os.kill(os.getpid(), death_signal)
    return in_child


def spawn(args: Sequence[str], *, death_signal: int = signal.SIGTERM, **popen: Any) -> subprocess.Popen[Any]:
    """:class:`subprocess.Popen` of ``args`` in a process group of its own, ended with its launcher."""
    if "preexec_fn" in popen or "start_new_session" in popen or "process_group" in popen:
        raise TypeError("spawn sets the process group and the parent-death signal itself")
    process = subprocess.Popen(list(args), process_group=0,
                               preexec_fn=_die_with(os.getpid(), death_signal), **popen)
    with _live_lock:
        _live.add(process)
    return process


def stop(process: subprocess.Popen[Any], timeout: float = 10.0) -> int | None:
    """SIGTERM the child's process group, SIGKILL it after ``timeout`` s; return the exit code.

    The group is signalled only while its leader is alive (not yet reaped), so
    a process id the system has since handed to someone else is never hit.
    """
    if process.poll() is None:
        _signal_group(process, signal.SIGTERM)
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            _signal_group(process, signal.SIGKILL)
            process.wait(10)
    with _live_lock:
        _live.discard(process)
    return process.returncode


def _signal_group(process: subprocess.Popen[Any], sig: int) -> None:
    try:
        os.killpg(process.pid, sig)
    except (ProcessLookupError, PermissionError):
        pass


@atexit.register
def _stop_all() -> None:
    with _live_lock:
        remaining = list(_live)
    for process in remaining:
        stop(process, timeout=5)


def stop_on_termination(signals: Sequence[int] = (signal.SIGTERM, signal.SIGHUP)) -> None:
    """In the main thread: make these signals raise ``SystemExit(128 + signal)`` so clean-up runs."""
    def leave(signum: int, _frame: Any) -> None:
        raise SystemExit(128 + signum)

    if threading.current_thread() is not threading.main_thread():
        return  # only the main thread may set handlers; a launcher run from a thread keeps the defaults
    for sig in signals:
        signal.signal(sig, leave)

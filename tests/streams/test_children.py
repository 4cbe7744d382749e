"""Launchers end their children on any exit: SIGTERM, kill -9, or a normal stop (issue 12, item 15)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from streams.children import PDEATHSIG_SUPPORTED, spawn, stop

pytestmark = pytest.mark.skipif(not PDEATHSIG_SUPPORTED, reason="PR_SET_PDEATHSIG is Linux only")


def _alive(pid: int) -> bool:
    """Running, as opposed to gone or a zombie waiting to be reaped by whoever adopted it."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] not in ("Z", "X")


def _children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except (FileNotFoundError, ProcessLookupError):
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                found.append(int(entry.name))
    return found


def _wait(condition, what: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} within {timeout:.0f} s")
        time.sleep(0.1)


def _launcher(code: str) -> tuple[subprocess.Popen[str], int]:
    """A Python launcher that starts a child and prints the child's pid; plain Popen, like a shell."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    process = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True, env=env)
    line = process.stdout.readline()
    assert line.strip().isdigit(), f"the launcher printed {line!r}"
    return process, int(line)


def test_kill_9_of_a_broker_launcher_takes_the_broker_with_it() -> None:
    launcher, broker_pid = _launcher(
        "import time\nfrom streams.broker import LocalBroker\n"
        "b = LocalBroker().start()\nprint(b.pid, flush=True)\ntime.sleep(600)\n")
    try:
        assert _alive(broker_pid)
        launcher.send_signal(signal.SIGKILL)
        launcher.wait(10)
        _wait(lambda: not _alive(broker_pid), "the Tansu child must end with its killed launcher")
    finally:
        if _alive(broker_pid):
            os.kill(broker_pid, signal.SIGKILL)


def test_sigterm_of_linkguard_broker_stops_its_tansu_child() -> None:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    launcher = subprocess.Popen([sys.executable, "-m", "linkguard", "broker"], stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, text=True, env=env)
    children: list[int] = []
    try:
        assert "local broker on" in launcher.stdout.readline()
        children = _children(launcher.pid)
        assert len(children) == 1
        launcher.send_signal(signal.SIGTERM)  # `kill PID`
        launcher.wait(20)
        _wait(lambda: not _alive(children[0]), "the Tansu child must end when its launcher is stopped")
    finally:
        if launcher.poll() is None:
            launcher.kill()
            launcher.wait(10)
        for pid in children:
            if _alive(pid):
                os.kill(pid, signal.SIGKILL)


def test_stop_ends_the_whole_process_group_of_a_child() -> None:
    shell = spawn(["sh", "-c", "sleep 600 & echo $!; wait"], stdout=subprocess.PIPE, text=True)
    grandchild = int(shell.stdout.readline())
    assert _alive(grandchild) and os.getpgid(grandchild) == shell.pid
    stop(shell, timeout=10)
    _wait(lambda: not _alive(grandchild), "the child's own children must end with it")


def test_spawn_refuses_its_own_settings_being_overridden() -> None:
    with pytest.raises(TypeError, match="process group"):
        spawn(["true"], start_new_session=True)


def test_kill_9_of_the_demo_takes_its_broker_and_workers(tmp_path) -> None:
    """The demo's launcher (Pipeline) starts workers through spawn: a kill -9 of the demo ends them too."""
    launcher, worker_pid = _launcher(
        "import sys, time\nfrom pathlib import Path\nfrom linkguard.synthetic.demo import Pipeline\n"
        f"p = Pipeline(env={{}}, log_dir=Path({str(tmp_path)!r}))\n"
        "child = p.start('sleeper', '-n', '1', '-r', '1', 'import time; time.sleep(600)', module='timeit')\n"
        "print(child.pid, flush=True)\ntime.sleep(600)\n")
    try:
        time.sleep(1)  # the worker is running, not just started
        assert _alive(worker_pid), (tmp_path / "sleeper.log").read_text()
        launcher.send_signal(signal.SIGKILL)
        launcher.wait(10)
        _wait(lambda: not _alive(worker_pid), "the demo's worker must end with the killed demo")
    finally:
        if _alive(worker_pid):
            os.kill(worker_pid, signal.SIGKILL)

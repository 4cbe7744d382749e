"""``linkguard demo``: the whole pipeline on one machine, then a summary.

Broker (local Tansu unless LINKGUARD_KAFKA_BOOTSTRAP is set) → synthetic
registry and records with injected errors → publish → N Faust guard workers
and one sink writer (subprocesses) → wait until every record has a verdict in
the database → summary table. ``--serve`` keeps everything running and adds the
reviewers' web screen (``linkguard web``, a subprocess like the others) on
localhost, with one demo account per role whose passwords are printed.
"""

from __future__ import annotations

import os
import secrets
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from guards import Reason, Severity
from sinks import SinkWriter, make_engine
from sinks.settings import DEFAULT_DATABASE_URL, DatabaseSettings
from streams import topics
from streams.broker import LocalBroker
from streams.children import spawn, stop_on_termination
from streams.lag import committed_offsets, uncommitted
from streams.publish import Publisher
from streams.settings import KafkaSettings

__all__ = ["run_demo", "Pipeline", "DEMO_USERS", "create_demo_users", "free_port", "wait_http"]

VAR = Path("var")
# Bytes that are not Avro: shows the dead-letter path working on a live stream.
JUNK_EVENTS = (b"not an avro message", b"\xc3\x01" + b"\x00" * 8 + b"unknown schema")
#: the demo's accounts: user name, roles, display name (two reviewers/approvers make four-eyes possible)
DEMO_USERS = (
    ("reviewer", ("reviewer",), "審査 花子"),
    ("approver", ("approver",), "承認 太郎"),
    ("operator", ("operator",), "運用 次郎"),
    ("admin", ("admin",), "管理 三郎"),
)


def create_demo_users(engine) -> dict[str, str]:
    """One account per role with a fresh random password each run; returns user → password."""
    from linkguard.review.accounts import AccountStore

    store = AccountStore(engine)
    passwords = {}
    for username, roles, display in DEMO_USERS:
        passwords[username] = secrets.token_urlsafe(12)
        store.create_user(username, passwords[username], roles, display)
    return passwords


def free_port(preferred: int = 0, host: str = "127.0.0.1") -> int:
    """``preferred`` if it is free, else any free port."""
    for port in ((preferred, 0) if preferred else (0,)):
        with socket.socket() as s:
            try:
                s.bind((host, port))
            except OSError:
                continue
            return s.getsockname()[1]
    raise RuntimeError("no free TCP port on " + host)


def wait_http(url: str, *, timeout: float = 120, check: Callable[[], None] = lambda: None) -> None:
    """Poll ``url`` until it answers 200 (the web process has started)."""
    import urllib.error
    import urllib.request

    deadline = time.monotonic() + timeout
    while True:
        try:
            with urllib.request.urlopen(url, timeout=5) as response:
                if response.status == 200:
                    return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        check()
        if time.monotonic() > deadline:
            raise TimeoutError(f"{url} did not answer within {timeout:.0f} s")
        time.sleep(0.3)


@dataclass
class Pipeline:
    """Guard workers and the sink writer as subprocesses sharing one environment."""

    env: dict[str, str]
    log_dir: Path
    processes: dict[str, subprocess.Popen] = field(default_factory=dict)

    def start(self, name: str, *args: str, module: str = "linkguard") -> subprocess.Popen:
        """Run ``python -m <module> <args>`` with its output in ``<log_dir>/<name>.log``."""
        self.log_dir.mkdir(parents=True, exist_ok=True)
        log = open(self.log_dir / f"{name}.log", "ab")
        # own process group, ended by the kernel if the demo dies (streams.children)
        process = spawn([sys.executable, "-m", module, *args], env=self.env,
                        stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        log.close()
        self.processes[name] = process
        return process

    def check_alive(self) -> None:
        for name, process in self.processes.items():
            if process.poll() is not None:
                raise RuntimeError(f"{name} exited with code {process.returncode}; see {self.log_dir / name}.log")

    def stop(self, timeout: float = 20) -> None:
        for process in self.processes.values():
            if process.poll() is None:
                process.terminate()
        for process in self.processes.values():
            try:
                process.wait(timeout)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(5)


def wait_for(condition: Callable[[], int], total: int, description: str, progress: Progress,
             check: Callable[[], None], timeout: float = 1800) -> float:
    """Advance a progress bar until ``condition()`` reaches ``total``; return seconds waited."""
    task = progress.add_task(description, total=total)
    start = time.monotonic()
    while True:
        done = condition()
        progress.update(task, completed=min(done, total))
        if done >= total:
            return time.monotonic() - start
        check()
        if time.monotonic() - start > timeout:
            raise TimeoutError(f"{description}: {done:,} of {total:,} after {timeout:.0f} s")
        time.sleep(0.25)


def registry_consumed(settings: KafkaSettings, expected: dict[tuple[str, int], int]) -> int:
    """How many registry messages the guard group has committed past."""
    committed = committed_offsets(settings, settings.app_id)
    return sum(min(committed.get(tp, 0), end) for tp, end in expected.items())


def identity_backlog(settings: KafkaSettings) -> int:
    """Messages of the identity look-up's topic the guard group has not committed past yet.

    The registry loader re-keys every resident onto that topic; until the identity
    stage has read them, a record is judged without its 4-item look-up and judged
    again (a new verdict version) when they arrive. Wait for 0 after loading a registry
    when a later step depends on the first verdict staying the current one.
    """
    return uncommitted(settings, settings.app_id, (topics.names(settings).by_identity,))


def run_demo(*, residents: int, records_per_system: int, workers: int, serve: bool,
             console: Console) -> dict:
    from linkguard.synthetic.sample import generate
    from streams.csvio import read_records, read_registry

    stop_on_termination()  # `kill PID` runs the clean-up below, like Ctrl-C
    settings = KafkaSettings()
    broker = None
    if not settings.kafka_bootstrap:
        broker = LocalBroker(log_dir=VAR / "demo" / "logs").start()
        settings = settings.model_copy(update={"kafka_bootstrap": broker.bootstrap, "local_mode": True})
    database_url = DatabaseSettings().database_url
    if database_url == DEFAULT_DATABASE_URL:
        VAR.mkdir(exist_ok=True)
        Path(database_url.removeprefix("sqlite:///")).unlink(missing_ok=True)
    writer = SinkWriter(make_engine(database_url))
    writer.reset_schema()
    topics.ensure_topics(settings)

    data_dir = VAR / "demo" / "data"
    files = generate(data_dir, residents=residents, records_per_system=records_per_system)
    registry_rows = list(read_registry(files.registry))
    record_rows = [r for path in files.records.values() for r in read_records(path)]

    env = {**os.environ, "LINKGUARD_KAFKA_BOOTSTRAP": settings.kafka_bootstrap,
           "LINKGUARD_LOCAL_MODE": "1" if settings.local_mode else "0",
           "LINKGUARD_DATABASE_URL": database_url}
    pipeline = Pipeline(env, VAR / "demo" / "logs")
    started = time.monotonic()
    try:
        for n in range(workers):
            pipeline.start(f"worker-{n + 1}", "worker")
        pipeline.start("sink", "sink")
        progress = Progress(TextColumn("{task.description:<28}"), BarColumn(), MofNCompleteColumn(),
                            TimeElapsedColumn(), console=console)
        with progress, Publisher(settings) as publisher:
            task = progress.add_task("publishing registry", total=len(registry_rows))
            result = publisher.publish_residents(registry_rows, on_sent=lambda n: progress.advance(task, n))
            registry_ends = {tp: end for tp, end in result.next_offsets.items() if tp[0] == topics.names(settings).residents}
            wait_for(lambda: registry_consumed(settings, registry_ends), sum(registry_ends.values()),
                     "guard loading registry", progress, pipeline.check_alive)
            task = progress.add_task("publishing records", total=len(record_rows))
            publish_start = time.monotonic()
            publisher.publish_records(record_rows, on_sent=lambda n: progress.advance(task, n))
            for junk in JUNK_EVENTS:
                publisher.send_raw(topics.names(settings).records, b"demo-junk", junk)
            publisher.flush()
            expected = len(record_rows) + len(JUNK_EVENTS)
            wait_for(lambda: writer.verdict_count(), expected, "verdicts in the database", progress,
                     pipeline.check_alive)
            elapsed = time.monotonic() - publish_start
        summary = _summary(writer, published=expected, elapsed=elapsed)
        _print_summary(console, summary, settings, database_url, data_dir, pipeline.log_dir)
        if serve:
            _serve_web(pipeline, writer, console)
            console.print("[bold]serving[/]: broker, guard workers, sink and web screen keep running; Ctrl-C stops.")
            try:
                while True:
                    pipeline.check_alive()
                    time.sleep(1)
            except KeyboardInterrupt:
                pass
        summary["total_seconds"] = time.monotonic() - started
        return summary
    finally:
        pipeline.stop()
        if broker:
            broker.stop()


def _serve_web(pipeline: Pipeline, writer: SinkWriter, console: Console) -> str:
    """Start ``linkguard web`` on localhost with demo accounts; print where and how to log in."""
    from linkguard.web.settings import WebSettings

    passwords = create_demo_users(writer.engine)
    port = free_port(WebSettings().web_port)
    pipeline.env.update(LINKGUARD_WEB_SECRET=secrets.token_urlsafe(48), LINKGUARD_WEB_HTTPS_ONLY="0",
                        LINKGUARD_WEB_HOST="127.0.0.1", LINKGUARD_WEB_PORT=str(port))
    pipeline.start("web", "web")
    url = f"http://127.0.0.1:{port}/"
    wait_http(url + "healthz", check=pipeline.check_alive)
    table = Table(title=f"reviewers' web screen: {url}", show_header=True)
    for column in ("user", "password", "role", "name"):
        table.add_column(column)
    for username, roles, display in DEMO_USERS:
        table.add_row(username, passwords[username], ", ".join(roles), display)
    console.print(table)
    console.print("Log in as [bold]reviewer[/] to work the held queue; a release needs [bold]approver[/] "
                  "too (four eyes). The passwords are new on every run.")
    return url


def _summary(writer: SinkWriter, *, published: int, elapsed: float) -> dict:
    counts = writer.counts()
    return {"published": published, "elapsed": elapsed, **counts,
            "held_by_reason": writer.held_by_reason(), "dead_by_reason": writer.dead_letters_by_reason()}


def _print_summary(console: Console, s: dict, settings: KafkaSettings, database_url: str, data_dir: Path,
                   log_dir: Path) -> None:
    table = Table(title="linkage guard demo", show_header=True)
    table.add_column("")
    table.add_column("records", justify="right")
    table.add_row("published", f"{s['published']:,}")
    table.add_row("passed → intermediate-server sink", f"{s['copies']:,}")
    table.add_row("held for review", f"{s['held_open']:,}")
    for reason, n in sorted(s["held_by_reason"].items(), key=lambda kv: -kv[1]):
        if Reason(reason).severity is Severity.HOLD:  # informational codes ride along on held records
            table.add_row(f"  held: {reason} ({Reason(reason).label_en})", f"{n:,}")
    table.add_row("dead-lettered (invalid or undecodable)", f"{s['dead_letters']:,}")
    for reason, n in sorted(s["dead_by_reason"].items(), key=lambda kv: -kv[1]):
        table.add_row(f"  dead letter: {reason}", f"{n:,}")
    table.add_row("sink rows (copies + held + dead letters)",
                  f"{s['copies'] + s['held_open'] + s['dead_letters']:,}")
    table.add_row("seconds from first publish to last verdict", f"{s['elapsed']:.1f}")
    console.print(table)
    console.print(f"data: database {database_url}\n      sample files {data_dir}/\n"
                  f"      broker {settings.kafka_bootstrap}{' (local, memory only)' if settings.local_mode else ''}\n"
                  f"      logs {log_dir}/")

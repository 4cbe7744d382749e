"""A throw-away PostgreSQL instance from Debian's binaries, for fault tests and benchmarks.

Stopping the machine's shared PostgreSQL would break everybody else's tests;
this one belongs to its caller alone: its own data directory, a free
loopback port, a socket in its own directory, trust authentication.
initdb refuses to run as root, so as root every tool runs as ``postgres``
through ``runuser``.
"""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import tempfile
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

from guards.exceptions import LinkguardError
from streams.broker import free_port

__all__ = ["PostgresUnavailable", "PrivatePostgres", "private_postgres"]


class PostgresUnavailable(LinkguardError, RuntimeError):
    """No PostgreSQL server binaries here, or no way to run them as a non-root user."""


def _bindir() -> Path:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(Path(p).parts[-3]))
    if not found:
        raise PostgresUnavailable("no /usr/lib/postgresql/*/bin/initdb: apt-get install postgresql")
    if os.geteuid() == 0 and not shutil.which("runuser"):
        raise PostgresUnavailable("running as root, and initdb refuses root: runuser (util-linux) is needed")
    return Path(found[-1]).parent


@dataclass
class PrivatePostgres:
    bindir: Path
    base: Path
    port: int
    settings: tuple[str, ...] = ()  # extra -c name=value server settings

    @property
    def data(self) -> Path:
        return self.base / "data"

    @property
    def url(self) -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/postgres"

    def run(self, tool: str, *args: str) -> None:
        command = [str(self.bindir / tool), *args]
        if os.geteuid() == 0:
            command = ["runuser", "-u", "postgres", "--", *command]
        result = subprocess.run(command, capture_output=True, text=True, timeout=120)
        if result.returncode != 0:
            log = self.base / "postgres.log"
            tail = log.read_text(errors="replace")[-2000:] if log.exists() else ""
            raise RuntimeError(f"{tool} failed with code {result.returncode}: {result.stderr[-2000:]}\n{tail}")

    def start(self) -> None:
        options = " ".join([f"-p {self.port}", f"-k {self.base}", "-c listen_addresses=127.0.0.1",
                            "-c fsync=off", *(f"-c {s}" for s in self.settings)])
        self.run("pg_ctl", "-D", str(self.data), "-l", str(self.base / "postgres.log"), "-w", "-t", "60",
                 "-o", options, "start")

    def stop_immediately(self) -> None:
        """Like a crash of the server: no checkpoint, every connection cut."""
        self.run("pg_ctl", "-D", str(self.data), "-m", "immediate", "-w", "stop")


@contextmanager
def private_postgres(*settings: str) -> Iterator[PrivatePostgres]:
    """Create, start, and finally stop and delete a private PostgreSQL (``settings``: ``name=value``)."""
    bindir = _bindir()
    base = Path(tempfile.mkdtemp(prefix="linkguard-pg-"))
    base.chmod(0o755)
    if os.geteuid() == 0:
        shutil.chown(base, "postgres", "postgres")
    pg = PrivatePostgres(bindir, base, free_port(), tuple(settings))
    try:
        pg.run("initdb", "-D", str(pg.data), "-A", "trust", "-U", "postgres", "-E", "UTF8", "--locale=C",
               "--no-sync")
        pg.start()
        yield pg
    finally:
        try:
            pg.stop_immediately()
        except RuntimeError:  # stopped already
            pass
        shutil.rmtree(base, ignore_errors=True)

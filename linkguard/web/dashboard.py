"""The operator dashboard's figures: sampled by the app into a ring buffer in memory.

A :class:`Sampler` reads, every ``LINKGUARD_WEB_SAMPLE_SECONDS`` and on demand:
consumer lag per group (:class:`streams.lag.LagReader`, right on the local
broker too), the rows in the sink's three stores (their growth is the
throughput), the open review queue and the dead letters. Nothing it keeps
names a person: only group names, counts and times. The buffer lives in the
process, so a restart starts the charts afresh (Prometheus keeps the long
history, issue 5).

>>> lag_per_group({"g": {("t", 0): 5, ("t", 1): None}}, end={("t", 0): 9, ("t", 1): 4}, start={("t", 1): 1})
{'g': 7}
>>> rates([Point(0, None, 100, 0, 0), Point(10, None, 150, 0, 0), Point(20, None, 140, 0, 0)])
[(10, 5.0), (20, 0.0)]
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from dataclasses import dataclass
from typing import Mapping

from sqlalchemy import Engine

from sinks import SinkWriter
from streams.settings import KafkaSettings

log = logging.getLogger(__name__)

__all__ = ["Point", "Sampler", "lag_per_group", "rates"]

TP = tuple[str, int]


@dataclass(frozen=True)
class Point:
    """One sample. ``lag`` is None when Kafka could not be read (``error`` says why)."""

    time: float
    lag: dict[str, int] | None
    verdicts: int  # rows in copies + held + dead letters: grows by one per processed record
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


def rates(points: list[Point]) -> list[tuple[float, float]]:
    """Verdicts per second between consecutive samples (0 when the stores shrank, e.g. a demo reset)."""
    out = []
    for before, after in zip(points, points[1:]):
        seconds = after.time - before.time
        if seconds > 0:
            out.append((after.time, max(0, after.verdicts - before.verdicts) / seconds))
    return out


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
        lag, error = self._lag()
        counts = self.writer.counts()
        point = Point(time.time(), lag, self.writer.verdict_count(), counts.get("held_open", 0),
                      counts.get("dead_letters", 0), error)
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

    def _lag(self) -> tuple[dict[str, int] | None, str]:
        if self.kafka is None or not self.kafka.kafka_bootstrap:
            return None, "LINKGUARD_KAFKA_BOOTSTRAP is not set"
        from streams.lag import LagReader, deployment_groups

        groups = self.groups or deployment_groups(self.kafka)
        try:
            if self._reader is None:
                self._reader = LagReader(self.kafka)
            snap = self._reader.snapshot(groups)
        except Exception as e:  # Kafka away: the chart shows a gap and the reason, the app keeps going
            log.warning("dashboard: could not read consumer lag: %s", e)
            self.close()
            return None, type(e).__name__ + (f": {e}" if str(e) else "")
        return lag_per_group(snap.committed, end=snap.end, start=snap.start), ""

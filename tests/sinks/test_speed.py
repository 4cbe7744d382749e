"""Batch write speed: a 1000-message apply must be set-based, not row by row.

Run with ``-s`` to see the rates::

    LINKGUARD_TEST_DATABASE_URL=postgresql+psycopg://postgres@127.0.0.1:5432/test \\
        .venv/bin/python -m pytest -q -s tests/sinks/test_speed.py
"""

from __future__ import annotations

import time

from sinks import SinkWriter

from .conftest import Messages


def test_a_thousand_row_apply(writer: SinkWriter, make: Messages, backend: str) -> None:
    n = 1000
    inserts = [make.passed(f"r{i}", 1) for i in range(n)]
    updates = [make.passed(f"r{i}", 2) for i in range(n)]
    mixed = ([make.passed(f"r{i}", 3) for i in range(0, n, 2)] + [make.held(f"h{i}", 3) for i in range(n // 4)]
             + [make.dead(i) for i in range(n // 4)])
    rates = {}
    for label, batch in (("insert", inserts), ("update", updates), ("mixed", mixed)):
        started = time.perf_counter()
        result = writer.apply("sink", batch)
        elapsed = time.perf_counter() - started
        assert result.skipped == 0
        rates[label] = len(batch) / elapsed
    print(f"\n[{backend}] 1000-message apply: " + ", ".join(f"{k} {v:,.0f} rows/s" for k, v in rates.items()))
    counts = writer.counts()
    assert (counts["copies"], counts["held_open"], counts["dead_letters"]) == (n, n // 4, n // 4)
    # generous floors: row-by-row round trips with a commit each would be far below them
    assert min(rates.values()) > 500

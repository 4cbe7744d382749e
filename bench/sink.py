"""Sink writer speed: rows/s of :meth:`sinks.SinkWriter.apply`, today's writer against a baseline, in one run.

The baseline is ``sinks/writer.py`` as it was at ``--baseline`` (default: the
writer before batched upserts, which sent multi-row ``VALUES`` pages through
SQLAlchemy), loaded from git next to today's. Both write the same messages —
verdicts round-tripped through Avro as the sink worker decodes them, in
batches of the sink worker's ``max_records`` — into a fresh database each
(a SQLite file; a new schema in ``--postgresql``), alternating which goes
first, ``--runs`` times; the medians and their ratio are printed, and the two
final states of the contract's tables must be equal row for row (the same
contract, only faster). Today's writer also does what was added since (exposure
cases for retracted copies): that work is in its figure, not the baseline's.

The stream: ``--records`` records, each judged once (88 % PASS, 10 % HOLD,
2 % dead letters), then judged again with a newer version: a tenth of the
holds pass (closing the hold as superseded), a twentieth of the copies are
held again for the same event (withdrawing the copy as retracted), the rest
are newer PASSes replacing their copies. Kafka and Avro decoding are left
out: this measures the database writes the sink worker makes per batch.

    python -m bench.sink --records 20000 \\
        --postgresql postgresql+psycopg://postgres@127.0.0.1:5432/lg_me

Machines here are shared and noisy: compare the same-run ratio.
"""

from __future__ import annotations

import argparse
import datetime as dt
import importlib.util
import json
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import ModuleType
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine, make_url

import schemas
from sinks import Base, SinkMessage, make_engine
from sinks import writer as current_writer

#: the last commit whose sinks/writer.py sent multi-row VALUES pages (before batched upserts)
BASELINE = "89f8ded3eeb129e6ff00e994e41e9c83d17fac76"
VERIFIED, HELD, DLQ, RECORDS = "linkage.verified", "linkage.held", "linkage.dlq", "linkage.records"
SYSTEM = "shintai-techo"
#: the tables of the sink contract (sinks/__init__.py); later additions (exposure cases) are the newer writer's
CONTRACT_TABLES = ("intermediate_copies", "held_records", "dead_letters", "consumed_offsets", "review_decisions",
                   "pending_releases")
#: columns the writer may set from its own clock (a retraction's time; ``updated_at`` is left out)
WRITER_CLOCK = ("withdrawn_at", "ruled_at")
NUMBER = "621498320257"  # a made-up, well-formed My Number; every record carries it


def load_writer(revision: str) -> ModuleType:
    """``sinks/writer.py`` as it was at ``revision``, importable beside today's."""
    root = Path(__file__).resolve().parents[1]
    source = subprocess.run(["git", "-C", str(root), "show", f"{revision}:sinks/writer.py"],
                            check=True, capture_output=True, text=True).stdout
    path = Path(tempfile.mkdtemp(prefix="sink-baseline-")) / "writer.py"
    path.write_text(source)
    spec = importlib.util.spec_from_file_location("sinks._baseline_writer", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


class Stream:
    """The sink's input, as decoded messages in consumed order."""

    def __init__(self, records: int, batch: int) -> None:
        self.codec = schemas.Codec()
        self.clock = dt.datetime(2026, 4, 1, 9, 0, tzinfo=dt.timezone.utc)
        self.offsets = {VERIFIED: 0, HELD: 0, DLQ: 0}
        self.messages: list[SinkMessage] = []
        events: dict[int, str] = {}
        for i in range(records):  # first judgement
            events[i] = str(uuid.UUID(int=i))
            if i % 50 == 7:
                self.dead(i)
            elif i % 10 == 3:
                self.verdict(i, events[i], 1, "HOLD")
            else:
                self.verdict(i, events[i], 1, "PASS")
        for i in range(records):  # judged again
            if i % 50 == 7:
                continue
            if i % 10 == 3:
                if i % 100 == 3:
                    self.verdict(i, str(uuid.UUID(int=records + i)), 2, "PASS")  # a newer event passes
            elif i % 20 == 1:
                self.verdict(i, events[i], 2, "HOLD")  # the same event, now held: retracted
            else:
                self.verdict(i, str(uuid.UUID(int=records + i)), 2, "PASS")
        self.batches = [self.messages[start:start + batch] for start in range(0, len(self.messages), batch)]

    def tick(self) -> dt.datetime:
        self.clock += dt.timedelta(milliseconds=10)
        return self.clock

    def add(self, kind: str, topic: str, name: str, payload: dict[str, Any]) -> None:
        raw = self.codec.encode(name, payload)
        offset = self.offsets[topic]
        self.offsets[topic] += 1
        self.messages.append(SinkMessage(topic=topic, partition=offset % 4, offset=offset // 4, kind=kind,
                                         payload=self.codec.decode(name, raw), raw=raw))  # type: ignore[arg-type]

    def verdict(self, i: int, event_id: str, revision: int, outcome: str) -> None:
        record = {
            "event_id": event_id, "system": SYSTEM, "record_id": f"r{i:07d}", "operation": "update",
            "occurred_at": self.tick(), "my_number": NUMBER, "name": "山田 花子", "name_kana": "ヤマダ ハナコ",
            "birth_date": "1980-04-01", "sex": "2", "address": "高知県高知市本町1丁目1-1", "atena_no": f"{i:06d}",
            "number_source": "", "entered_by": "staff-7", "batch_id": "b-1",
            "payload": {"手帳番号": f"第{i}号", "等級": "2級"}, "updated_at": None,
        }
        reasons = [{"code": "IDENTITY_MISMATCH", "detail": "birth_date"}] if outcome == "HOLD" else []
        self.add("verified" if outcome == "PASS" else "held", VERIFIED if outcome == "PASS" else HELD, "verdict", {
            "event_id": event_id, "outcome": outcome, "reasons": reasons, "suggested_my_number": "",
            "checked_at": self.tick(), "version": i * 1024 + revision, "record": record})

    def dead(self, i: int) -> None:
        self.add("dead_letter", DLQ, "dead_letter", {
            "topic": RECORDS, "partition": i % 4, "offset": i, "key": b"k", "value": b"\xc3\x01not-avro",
            "reason": "BAD_DATE", "error": "BAD_DATE(birth_date)", "stage": "guard", "system": "",
            "record_id": "", "failed_at": self.tick()})


@contextmanager
def fresh_database(backend: str, postgresql: str | None) -> Iterator[Engine]:
    """An empty sink database: a new SQLite file, or a new schema in ``postgresql``, dropped afterwards."""
    if backend == "sqlite":
        with tempfile.TemporaryDirectory(prefix="sink-bench-") as folder:
            engine = make_engine(f"sqlite:///{folder}/sink.sqlite")
            try:
                yield engine
            finally:
                engine.dispose()
        return
    assert postgresql
    schema = f"sink_bench_{uuid.uuid4().hex[:12]}"
    admin = make_engine(postgresql)
    with admin.begin() as conn:
        conn.exec_driver_sql(f'CREATE SCHEMA "{schema}"')
    engine = make_engine(make_url(postgresql), connect_args={"options": f"-csearch_path={schema}"})
    try:
        yield engine
    finally:
        engine.dispose()
        with admin.begin() as conn:
            conn.exec_driver_sql(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
        admin.dispose()


def state(engine: Engine) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of the tables the writer fills, in key order (of the times the writer's clock sets, only
    whether they are set)."""
    out = {}
    with engine.connect() as conn:
        for table in Base.metadata.sorted_tables:
            if table.name not in CONTRACT_TABLES:
                continue
            columns = [c.is_not(None).label(c.name) if c.name in WRITER_CLOCK else c
                       for c in table.c if c.name not in ("id", "updated_at")]
            rows = conn.execute(sa.select(*columns).order_by(*list(table.primary_key.columns)[:2],
                                                               *columns[:4])).all()
            out[table.name] = [tuple(row) for row in rows]
    return out


def one_run(module: ModuleType, stream: Stream, backend: str, postgresql: str | None
            ) -> tuple[float, dict[str, list[tuple[Any, ...]]]]:
    with fresh_database(backend, postgresql) as engine:
        writer = module.SinkWriter(engine)
        writer.create_schema()
        started = time.perf_counter()
        for batch in stream.batches:
            writer.apply("sink", batch)
        elapsed = time.perf_counter() - started
        return len(stream.messages) / elapsed, state(engine)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--records", type=int, default=20_000)
    parser.add_argument("--batch", type=int, default=2000, help="messages per apply (the sink's max_records)")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--baseline", default=BASELINE, help="git revision of the writer to compare with")
    parser.add_argument("--postgresql", help="a PostgreSQL URL (a schema is created and dropped in it)")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args()

    writers: dict[str, ModuleType] = {"baseline": load_writer(args.baseline), "batched": current_writer}
    stream = Stream(args.records, args.batch)
    print(f"{len(stream.messages):,} messages in {len(stream.batches)} batches of up to {args.batch:,}; "
          f"baseline writer from {args.baseline[:10]}; {args.runs} runs each, alternating which goes first")
    figures: dict[str, Any] = {"messages": len(stream.messages), "batch": args.batch, "baseline": args.baseline}
    backends = ["sqlite"] + (["postgresql"] if args.postgresql else [])
    for backend in backends:
        rates: dict[str, list[float]] = {name: [] for name in writers}
        states: dict[str, Any] = {}
        for run in range(args.runs):
            order = list(writers) if run % 2 == 0 else list(reversed(writers))
            for name in order:
                rate, states[name] = one_run(writers[name], stream, backend, args.postgresql)
                rates[name].append(rate)
        if states["baseline"] != states["batched"]:
            raise SystemExit(f"{backend}: the two writers left different rows: the batched one breaks the contract")
        medians = {name: statistics.median(values) for name, values in rates.items()}
        ratio = medians["batched"] / medians["baseline"]
        runs = "; ".join(f"{name} " + ", ".join(f"{r:,.0f}" for r in values) for name, values in rates.items())
        print(f"{backend:>10}: baseline {medians['baseline']:>8,.0f} rows/s   batched {medians['batched']:>8,.0f} rows/s"
              f"   ratio {ratio:.2f}   (runs: {runs}; final rows equal)")
        figures[backend] = {"baseline_rows_per_s": medians["baseline"], "batched_rows_per_s": medians["batched"],
                            "ratio": ratio, "runs": rates}
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()

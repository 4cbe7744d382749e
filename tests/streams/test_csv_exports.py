"""Every CSV the project exports goes through the one escaping writer (issue 12 item 3)."""

from __future__ import annotations

import csv
import io
import re
from pathlib import Path

from streams.csvio import FORMULA_START, csv_writer

ROOT = Path(__file__).resolve().parents[2]
#: files that write CSV *input* for the importers (synthetic extracts, benchmark corpora) or a
#: benchmark's own yardstick output it reads back: their cells must round-trip byte for byte (and a
#: timed yardstick must not pay for escaping), and nobody opens them as a report
INPUT_GENERATORS = {"linkguard/synthetic/sample.py", "linkguard/synthetic/corpus.py", "bench/quality.py",
                    "bench/inspect_speed.py"}


def test_no_exporter_writes_csv_around_the_escaping_writer():
    raw = re.compile(r"\bcsv\.(writer|DictWriter)\(")
    offenders = []
    for folder in ("linkguard", "sinks", "streams", "guards", "bench"):
        for path in (ROOT / folder).rglob("*.py"):
            relative = path.relative_to(ROOT).as_posix()
            if relative in INPUT_GENERATORS or relative == "streams/csvio.py":
                continue
            if raw.search(path.read_text(encoding="utf-8")):
                offenders.append(relative)
    assert offenders == [], f"use streams.csvio.csv_writer in {offenders}"


def test_the_writer_escapes_every_formula_start():
    for terminator, carriage_return in (("\r\n", "\r"), ("\n", "\n")):
        buffer = io.StringIO(newline="")
        writer = csv_writer(buffer, lineterminator=terminator)
        writer.writerow([start + "cmd" for start in FORMULA_START] + ["R-1", 12, "山田"])
        [row] = list(csv.reader(io.StringIO(buffer.getvalue(), newline="")))
        expected = ["'" + start.replace("\r", carriage_return) + "cmd" for start in FORMULA_START]
        assert row == expected + ["R-1", "12", "山田"], terminator

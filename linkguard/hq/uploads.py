"""Registering inspections: a ``report.csv`` that ``linkguard inspect`` produced, validated.

A municipality runs ``linkguard inspect`` on its own extracts and uploads the
``report.csv`` it wrote; the prefecture registers its own runs the same way.
The file is checked before anything is stored — the encoding, both tables'
headers, every process code against the catalogue, every count (a whole
number, held ≤ checked, a reason ≤ held), the 計 rows against the column
sums, and the cause table's held total against the process table's. The
first problem refuses the whole file, naming file, line and field:

>>> parse_report('事務コード\\n'.encode('utf-8-sig'), 'kochi-shi.csv')
Traceback (most recent call last):
...
linkguard.hq.uploads.UploadError: kochi-shi.csv line 1, field 項番: the header must start with 項番,事務コード,事務,担当課,点検対象,うち紐付け誤りの疑い (the report.csv of linkguard inspect)
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
from dataclasses import dataclass, field
from typing import Iterator

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from guards.exceptions import LinkguardError
from guards import Reason, Severity
from guards.masking import redact
from linkguard.catalogue import Catalogue, load_catalogue, normalize_code
from sinks.audit import append_entry
from sinks.hq import InspectionReport, InspectionRound

__all__ = ["UploadError", "ProcessCounts", "ParsedReport", "parse_report", "register_report"]

_HEAD = ("項番", "事務コード", "事務", "担当課", "点検対象", "うち紐付け誤りの疑い")
_INVALID = "うち不備（送信せず）"
_SOURCE_HEAD = ("取得経路", "点検対象", "うち紐付け誤りの疑い", "構成比（%）", "うち不備（送信せず）")
_SOURCES = ("申請書", "職員入力", "J-LIS照会", "住基連携", "本人確認書類", "不明")
_TOTAL = "計"
_REASON_HEADER = re.compile(r"^.*（([A-Z_]+)）$")


class UploadError(LinkguardError, ValueError):
    """An uploaded report refused: file, line and field, and what was expected."""

    def __init__(self, file: str, line: int, field_name: str, expected: str) -> None:
        # the cells quoted back may hold anything a person typed: never a number in the message
        # (callers cutting a cell short redact it first, so no cut leaves part of a number unmatched)
        file, field_name, expected = redact(file), redact(field_name), redact(expected)
        self.file, self.line, self.field, self.expected = file, line, field_name, expected
        super().__init__(f"{file} line {line}, field {field_name}: {expected}")


@dataclass(frozen=True, slots=True)
class ProcessCounts:
    system: str
    checked: int
    held: int
    invalid: int
    by_reason: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class ParsedReport:
    processes: tuple[ProcessCounts, ...]
    held_by_source: dict[str, int]


def _rows(text: str) -> Iterator[tuple[int, list[str]]]:
    reader = csv.reader(io.StringIO(text, newline=""))
    for row in reader:
        yield reader.line_num, row


def _count(file: str, line: int, name: str, value: str) -> int:
    text = value.strip()
    if not text.isascii() or not text.isdigit():
        raise UploadError(file, line, name, f"a whole number of records (0 or more), not {redact(text)[:20]!r}")
    return int(text)


def parse_report(data: bytes, file: str, catalogue: Catalogue | None = None) -> ParsedReport:
    """Read and check a ``report.csv``; raise :class:`UploadError` at the first problem."""
    catalogue = catalogue if catalogue is not None else load_catalogue()
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        line = data[:e.start].count(b"\n") + 1
        raise UploadError(file, line, "(encoding)", f"UTF-8 as linkguard inspect writes it "
                                                    f"(undecodable byte at offset {e.start})") from None
    rows = _rows(text)
    line, header = next(rows, (1, []))
    if tuple(h.strip() for h in header[:6]) != _HEAD:
        raise UploadError(file, 1, "項番", f"the header must start with {','.join(_HEAD)} "
                                          f"(the report.csv of linkguard inspect)")
    if not header or header[-1].strip() != _INVALID:
        raise UploadError(file, 1, header[-1] if header else "", f"the last column must be {_INVALID}")
    reasons: list[str] = []
    for name in header[6:-1]:
        match = _REASON_HEADER.match(name.strip())
        code = match.group(1) if match else ""
        if code not in Reason.__members__ or Reason[code].severity is not Severity.HOLD:
            raise UploadError(file, 1, name, "a reason column headed <label>（REASON_CODE） with a reason code for "
                                             "holding (e.g. 本人情報（4情報）が一致しません（IDENTITY_MISMATCH）)")
        reasons.append(code)
    width = len(header)
    processes: list[ProcessCounts] = []
    seen: dict[str, int] = {}
    total_row: tuple[int, list[str]] | None = None
    for line, row in rows:
        if not any(cell.strip() for cell in row):
            break  # the blank line before the cause table
        if len(row) != width:
            raise UploadError(file, line, "(row)", f"{width} cells like the header, not {len(row)}")
        if row[0].strip() == _TOTAL:
            total_row = (line, row)
            continue
        if total_row is not None:
            raise UploadError(file, line, "項番", "no process row after the 計 row")
        code = normalize_code(row[1])
        if code not in catalogue:
            raise UploadError(file, line, "事務コード", f"a process code of the catalogue, not {redact(row[1])[:40]!r}")
        if code in seen:
            raise UploadError(file, line, "事務コード", f"each process once ({code} is on line {seen[code]} already)")
        seen[code] = line
        checked, held = _count(file, line, "点検対象", row[4]), _count(file, line, "うち紐付け誤りの疑い", row[5])
        invalid = _count(file, line, _INVALID, row[-1])
        by_reason = {code_: _count(file, line, header[6 + i], row[6 + i]) for i, code_ in enumerate(reasons)}
        if held + invalid > checked:
            raise UploadError(file, line, "うち紐付け誤りの疑い", f"held + invalid ({held} + {invalid}) at most "
                                                             f"点検対象 ({checked})")
        for i, code_ in enumerate(reasons):
            if by_reason[code_] > held:
                raise UploadError(file, line, header[6 + i], f"at most the held records ({held})")
        processes.append(ProcessCounts(code, checked, held, invalid, by_reason))
    if total_row is None:
        raise UploadError(file, line, "項番", "a 計 (total) row closing the process table")
    total_line, total = total_row
    sums = {4: sum(p.checked for p in processes), 5: sum(p.held for p in processes),
            width - 1: sum(p.invalid for p in processes)}
    sums.update({6 + i: sum(p.by_reason[c] for p in processes) for i, c in enumerate(reasons)})
    for column, expected in sorted(sums.items()):
        if _count(file, total_line, header[column], total[column]) != expected:
            raise UploadError(file, total_line, header[column], f"the column's sum {expected}, not {total[column]}")
    line, source_header = next(rows, (line + 1, []))
    if tuple(h.strip() for h in source_header) != _SOURCE_HEAD:
        raise UploadError(file, line, "取得経路", f"the cause table's header {','.join(_SOURCE_HEAD)}")
    held_by_source: dict[str, int] = {}
    for line, row in rows:
        if not any(cell.strip() for cell in row):
            continue
        source = row[0].strip()
        if source == _TOTAL:
            if sum(held_by_source.values()) != sums[5]:
                raise UploadError(file, line, "うち紐付け誤りの疑い",
                                  f"the held records of the process table ({sums[5]}), not "
                                  f"{sum(held_by_source.values())}")
            return ParsedReport(tuple(processes), held_by_source)
        if source not in _SOURCES:
            raise UploadError(file, line, "取得経路", f"one of {', '.join(_SOURCES)}, not {redact(source)[:20]!r}")
        held_by_source[source] = _count(file, line, "うち紐付け誤りの疑い", row[2] if len(row) > 2 else "")
    raise UploadError(file, line, "取得経路", "a 計 (total) row closing the cause table")


def register_report(engine: Engine, round_id: int, body: str, report: ParsedReport, *, file: str,
                    user: str) -> int:
    """Store (or replace) the report's rows for ``body`` in the round; return how many processes."""
    body = body.strip()
    if not body:
        raise ValueError("the implementing body (実施主体) is required")
    file = redact(file)[-200:]  # a name the uploader chose: like UploadError, never a number in the table or log
    now = dt.datetime.now(dt.timezone.utc)
    with Session(engine) as session, session.begin():
        if session.get(InspectionRound, round_id) is None:
            raise ValueError(f"no inspection round {round_id}")
        for p in report.processes:
            row = session.scalars(select(InspectionReport).where(
                InspectionReport.round_id == round_id, InspectionReport.body == body,
                InspectionReport.system == p.system)).first()
            if row is None:
                row = InspectionReport(round_id=round_id, body=body, system=p.system)
                session.add(row)
            row.checked, row.held, row.invalid, row.by_reason = p.checked, p.held, p.invalid, dict(p.by_reason)
            row.by_source = dict(report.held_by_source)
            row.source_file, row.uploaded_by, row.uploaded_at = file, user, now
    append_entry(engine, user, "report_upload", "", "",
                 f"round {round_id} {body}: {len(report.processes)} processes from {file}")
    return len(report.processes)

"""Writers for the batch inspection: ``verdicts.csv``, ``report.csv``, ``report.html``.

``verdicts.csv`` (the data contract's verdict file)
    UTF-8 without BOM, ``\\n`` line ends, header exactly
    ``system,record_id,verdict,reasons,suggested_my_number``; one row per
    input record, in input order (INVALID rows too); ``reasons`` are
    :attr:`guards.Verdict.reason_codes` (codes joined by ``;``). It holds
    My Numbers (the suggestions): treat it like the extracts themselves.
    Values are written exactly as they came (no spreadsheet escaping), so
    tools can join it back to the extracts by ``system`` + ``record_id``.

``report.csv`` (the table a prefecture publishes; aggregates only)
    UTF-8 **with** a BOM: Excel, which is how this file is opened in a
    prefectural office, reads a BOM-less CSV in the ANSI code page (CP932
    on Japanese Windows) and shows UTF-8 Japanese as mojibake; the BOM makes
    it read UTF-8. ``\\n`` line ends. Two tables, separated by one empty
    line, each starting with its own header row:

    1. per process (事務), one row each::

         項番,事務コード,事務,担当課,点検対象,うち紐付け誤りの疑い,<reason columns…>,うち不備（送信せず）

       - rows: the processes present in the input, plus those named on the
         command line even if their file was empty; catalogue processes in
         項番 order first, then codes the catalogue does not know (sorted,
         numbered after the catalogue, 事務 = the code, 担当課 = （未登録））;
       - 点検対象: every input record of the process (PASS + HOLD + INVALID);
       - うち紐付け誤りの疑い: records held (verdict HOLD);
       - reason columns: one per HOLD reason code that occurs among held
         records, in :class:`guards.Reason` order, headed
         ``<label_ja>（<CODE>）``; the count is held records carrying that
         reason, so a record with two reasons counts in both and a row's
         reason columns may add up to more than its held count (never less).
         Informational codes (FORMER_NAME …) are not reasons for holding and
         get no column;
       - うち不備（送信せず）: INVALID rows (unusable: no number, a required
         field empty, an unreadable date …): reported, never sent on;
       - so 適合 (PASS) = 点検対象 − うち紐付け誤りの疑い − うち不備;
       - last row: ``計`` in the 項番 column, the other text columns empty,
         every count the column's sum.

    2. the "cause" table, held records by how the number was obtained
       (``number_source``), one row per source, always all six::

         取得経路,点検対象,うち紐付け誤りの疑い,構成比（%）,うち不備（送信せず）

       sources 申請書, 職員入力, J-LIS照会, 住基連携, 本人確認書類 and 不明
       (empty or any other value); matched after NFKC, ignoring case, spaces
       and hyphens. 構成比 is the source's share of all held records (one
       decimal). Last row ``計``; its held count equals table 1's.

    Text cells that a spreadsheet would run as a formula (starting with
    ``= + - @``) are prefixed with ``'``; any run of 12 digits (a My Number
    misread as a process code) is replaced by ``*``.

``report.html`` (same tables, for reading and printing)
    Rendered from ``linkguard/templates/report.html`` with Jinja2,
    autoescaping on. Adds a bar chart: per process, one bar as long as its
    held count, divided by 取得経路 (each held record has exactly one source,
    so the parts add up to the bar; reasons would double-count). Inline SVG
    with a black-and-white fill pattern per source and the count written
    beside every bar, so nothing depends on colour and it prints on any
    printer; no JavaScript, no external assets. Printed on A4 landscape;
    table headers repeat on a new page and rows are not split.
"""

from __future__ import annotations

import datetime as dt
import functools
import io
import os
import re
import tempfile
from collections import Counter
from dataclasses import dataclass, field
from itertools import repeat
from operator import attrgetter, itemgetter
from pathlib import Path
from typing import Final, Iterable, Sequence

from guards import Outcome, Reason, Record, Severity, Verdict
from guards import normalize
from guards.masking import redact
from linkguard.catalogue import Catalogue, Process, load_catalogue, normalize_code
from streams.csvio import FORMULA_START, csv_writer, spreadsheet_safe

__all__ = [
    "VERDICT_HEADER",
    "SOURCES",
    "UNKNOWN_SOURCE",
    "Report",
    "RowCounts",
    "ProcessLine",
    "SourceLine",
    "build_report",
    "source_of",
    "write_verdicts",
    "verdict_cells",
    "write_report_csv",
    "write_report_html",
    "render_html",
    "write_all",
]

VERDICT_HEADER = ("system", "record_id", "verdict", "reasons", "suggested_my_number")

# 取得経路 (number_source) as published, with what each means
SOURCES: dict[str, str] = {
    "申請書": "申請書に記載された番号",
    "職員入力": "職員が入力した番号",
    "J-LIS照会": "地方公共団体情報システム機構への照会で得た番号",
    "住基連携": "住民基本台帳から自動連携した番号",
    "本人確認書類": "本人確認書類（マイナンバーカード等）から得た番号",
}
UNKNOWN_SOURCE = "不明"
_UNKNOWN_SOURCE_NOTE = "取得経路の記録がない、または不明"

H_NUMBER, H_CODE, H_NAME, H_DEPT = "項番", "事務コード", "事務", "担当課"
H_CHECKED, H_HELD, H_INVALID = "点検対象", "うち紐付け誤りの疑い", "うち不備（送信せず）"
H_SOURCE, H_SHARE = "取得経路", "構成比（%）"
TOTAL = "計"


def _source_key(value: str) -> str:
    return normalize.text(value).upper().replace(" ", "").replace("-", "")


_SOURCE_BY_KEY = {_source_key(s): s for s in SOURCES}


def source_of(number_source: str) -> str:
    """The published 取得経路 for a record's ``number_source``.

    >>> source_of('Ｊ－ＬＩＳ照会'), source_of('jlis照会'), source_of(' 職員入力 ')
    ('J-LIS照会', 'J-LIS照会', '職員入力')
    >>> source_of(''), source_of('電話')
    ('不明', '不明')
    """
    return _SOURCE_BY_KEY.get(_source_key(number_source), UNKNOWN_SOURCE)


# --------------------------------------------------------------------------
# the aggregate
# --------------------------------------------------------------------------

@dataclass
class ProcessLine:
    """One row of table 1. ``process`` is ``None`` for the 計 row."""

    process: Process | None
    checked: int = 0
    held: int = 0
    invalid: int = 0
    by_reason: Counter = field(default_factory=Counter)  # Reason -> held records
    by_source: Counter = field(default_factory=Counter)  # 取得経路 -> held records

    @property
    def passed(self) -> int:
        return self.checked - self.held - self.invalid

    def add_unpassed(self, record: Record, verdict: Verdict) -> None:
        """Count a HOLD or INVALID row (already counted among the checked ones)."""
        if verdict.outcome is Outcome.INVALID:
            self.invalid += 1
        elif verdict.outcome is Outcome.HOLD:
            self.held += 1
            self.by_reason.update({r for r in verdict.reasons if r.severity is Severity.HOLD})
            self.by_source[source_of(record.number_source)] += 1


@dataclass
class SourceLine:
    """One row of table 2. ``share`` is the percentage of all held records."""

    source: str
    note: str
    checked: int = 0
    held: int = 0
    invalid: int = 0
    share: float = 0.0


@dataclass
class Report:
    processes: list[ProcessLine]
    total: ProcessLine
    reasons: list[Reason]  # the reason columns
    sources: list[SourceLine]
    source_total: SourceLine
    generated_at: dt.datetime
    residents: int = 0
    suggestions: int = 0


@dataclass(frozen=True)
class RecordColumns:
    """What the reports read off the records alone, before any verdict: each row's key as
    ``verdicts.csv`` starts its line, and the rows counted by ``system`` and by
    ``number_source``. ``linkguard inspect`` builds it while its helpers check (each pass
    over a prefecture's 244,246 records costs some 10-35 ms, mostly memory reads), so that
    the serial end after the checks only reads the verdicts.

    >>> columns = RecordColumns.of([Record('s', '1', '', '', '', '', number_source='申請書'), Record('t', '2', '', '', '', '')])
    >>> columns.keys, columns.plain, dict(columns.by_system), dict(columns.by_source)
    (['s,1', 't,2'], True, {'s': 1, 't': 1}, {'申請書': 1, '': 1})
    >>> RecordColumns.of([Record('s', '=1', '', '', '', '')]).plain
    False
    """

    keys: list[str]  # ``system,record_id`` of each row, exactly as written (valid CSV only where ``plain``)
    plain: bool  # no system or record_id needs quoting or escaping (:func:`_keys_written_plainly`)
    by_system: Counter  # system as written -> rows
    by_source: Counter  # number_source as written -> rows

    @classmethod
    def of(cls, records: Sequence[Record]) -> "RecordColumns":
        systems = list(map(_SYSTEM, records))
        keys = list(map(str.__add__, map(str.__add__, systems, repeat(",")), map(_RECORD_ID, records)))
        return cls(keys, _keys_written_plainly(keys), Counter(systems), Counter(map(_NUMBER_SOURCE, records)))


@dataclass(frozen=True)
class RowCounts:
    """Inspected rows counted once, for the report (:func:`build_report`) and the summary the
    CLI prints (:func:`linkguard.ops.inspection.summarize`), which both count every row.

    ``by_system`` and ``by_source`` count every row by its ``system`` and its
    ``number_source`` as written; ``marked`` holds the rows whose verdict is not a plain PASS
    (a HOLD, an INVALID, any finding, a suggested number), in input order: the only rows
    either has to look at one by one. ``marked_at`` says where they are among the rows.

    >>> from guards import Finding
    >>> rows = [(Record('s', '1', '', '', '', '', number_source='申請書'), Verdict(Outcome.PASS)),
    ...         (Record('s', '2', '', '', '', '', number_source='申請書'), Verdict.of([Finding(Reason.DECEASED)])),
    ...         (Record('t', '3', '', '', '', ''), Verdict(Outcome.PASS))]
    >>> counts = RowCounts.of(rows)
    >>> dict(counts.by_system), dict(counts.by_source), [record.record_id for record, _ in counts.marked]
    ({'s': 2, 't': 1}, {'申請書': 2, '': 1}, ['2'])
    >>> counts.marked_at, counts.total
    ([1], 3)
    """

    by_system: Counter  # system as written -> rows
    by_source: Counter  # number_source as written -> rows
    marked: list[tuple[Record, Verdict]]
    marked_at: list[int]  # the marked rows' places, in input order

    @property
    def total(self) -> int:
        """Every row counted."""
        return sum(self.by_system.values())

    @classmethod
    def of(cls, rows: Iterable[tuple[Record, Verdict]]) -> "RowCounts":
        rows = rows if isinstance(rows, list) else list(rows)
        records = list(map(_RECORD, rows))
        return cls.of_columns(records, list(map(_VERDICT, rows)))

    @classmethod
    def of_columns(cls, records: Sequence[Record], verdicts: Sequence[Verdict],
                   columns: RecordColumns | None = None) -> "RowCounts":
        """The counts of ``zip(records, verdicts)``, without those rows (``columns``: the
        records' :class:`RecordColumns`, where the caller has them)."""
        if columns is None:
            by_system, by_source = Counter(map(_SYSTEM, records)), Counter(map(_NUMBER_SOURCE, records))
        else:
            by_system, by_source = columns.by_system, columns.by_source
        at = _marked_rows(verdicts)
        return cls(by_system, by_source, list(zip(map(records.__getitem__, at),
                                                                  map(verdicts.__getitem__, at))), at)


def _marked_rows(verdicts: Sequence[Verdict]) -> list[int]:
    """Where the verdicts that are not a plain PASS are (a finding, a suggestion, another outcome).

    >>> from guards import Finding
    >>> _marked_rows([Verdict(Outcome.PASS), Verdict.of([Finding(Reason.FORMER_NAME)]), Verdict(Outcome.PASS, (), '1'),
    ...               Verdict(Outcome.INVALID), Verdict(Outcome.PASS)])
    [1, 2, 3]
    """
    return [i for i, verdict in enumerate(verdicts)
            if verdict.findings or verdict.suggested_my_number or verdict.outcome is not Outcome.PASS]


_RECORD, _VERDICT = itemgetter(0), itemgetter(1)
_SYSTEM, _RECORD_ID, _NUMBER_SOURCE = attrgetter("system"), attrgetter("record_id"), attrgetter("number_source")


def build_report(rows: Iterable[tuple[Record, Verdict]] | RowCounts, catalogue: Catalogue | None = None, *,
                 systems: Sequence[str] = (), residents: int = 0,
                 generated_at: dt.datetime | None = None) -> Report:
    """Aggregate (record, verdict) rows, or their :class:`RowCounts`, into the two published tables."""
    catalogue = catalogue if catalogue is not None else load_catalogue()
    counts = rows if isinstance(rows, RowCounts) else RowCounts.of(rows)
    lines: dict[str, ProcessLine] = {}
    sources = {s: SourceLine(s, note) for s, note in [*SOURCES.items(), (UNKNOWN_SOURCE, _UNKNOWN_SOURCE_NOTE)]}
    line_of: dict[str, ProcessLine] = {}  # by the system as written
    source_line_of: dict[str, SourceLine] = {}  # by the number_source as written
    for system, n in counts.by_system.items():
        code = normalize_code(system)
        line = line_of[system] = lines.get(code) or lines.setdefault(code, ProcessLine(None))
        line.checked += n
    for number_source, n in counts.by_source.items():
        source = source_line_of[number_source] = sources[source_of(number_source)]
        source.checked += n
    suggestions = 0
    for record, verdict in counts.marked:
        suggestions += bool(verdict.suggested_my_number)
        if verdict.outcome is not Outcome.PASS:
            line_of[record.system].add_unpassed(record, verdict)
            source = source_line_of[record.number_source]
            source.held += verdict.outcome is Outcome.HOLD
            source.invalid += verdict.outcome is Outcome.INVALID
    processes = []
    for process in catalogue.ordered([*lines, *systems]):
        line = lines.get(process.code) or ProcessLine(None)
        line.process = process
        processes.append(line)
    total = ProcessLine(None)
    for line in processes:
        total.checked += line.checked
        total.held += line.held
        total.invalid += line.invalid
        total.by_reason.update(line.by_reason)
        total.by_source.update(line.by_source)
    reasons = [r for r in Reason if total.by_reason[r]]
    source_total = SourceLine(TOTAL, "")
    for s in sources.values():
        s.share = round(100 * s.held / total.held, 1) if total.held else 0.0
        source_total.checked += s.checked
        source_total.held += s.held
        source_total.invalid += s.invalid
    source_total.share = 100.0 if total.held else 0.0
    return Report(processes, total, reasons, list(sources.values()), source_total,
                  generated_at or dt.datetime.now().astimezone(), residents, suggestions)


def reason_header(reason: Reason) -> str:
    """A reason column's header: the Japanese label, then the code.

    >>> reason_header(Reason.CHECK_DIGIT)
    'チェックデジットが一致しません（CHECK_DIGIT）'
    """
    return f"{reason.label_ja}（{reason.value}）"


# --------------------------------------------------------------------------
# writers
# --------------------------------------------------------------------------

def write_verdicts(rows: Iterable[tuple[Record, Verdict]], path: str | os.PathLike) -> int:
    """Write ``verdicts.csv``; return the number of rows written.

    The file holds My Numbers, so it is created readable by its owner only (0600).
    """
    rows = rows if isinstance(rows, list) else list(rows)
    records, verdicts = list(map(_RECORD, rows)), list(map(_VERDICT, rows))
    return write_verdict_columns(records, RecordColumns.of(records), verdicts, _marked_rows(verdicts), path)


def write_verdict_columns(records: Sequence[Record], columns: RecordColumns, verdicts: Sequence[Verdict],
                          marked_at: Sequence[int], path: str | os.PathLike) -> int:
    """:func:`write_verdicts` of the records (``columns``: their :class:`RecordColumns`) and their
    verdicts, where ``marked_at`` (:attr:`RowCounts.marked_at`) lists the verdicts that are not a
    plain PASS: every other row's cells are a plain PASS's, so only those are looked at."""
    lines = [_PLAIN_PASS_CELLS] * len(verdicts)
    known: dict[int, str] = {}  # a verdict's cells by its id (the verdicts list keeps each alive meanwhile)
    for i in marked_at:
        verdict = verdicts[i]
        cells = known.get(id(verdict))
        if cells is None:
            cells = known[id(verdict)] = verdict_cells(verdict)
        lines[i] = cells
    keys = columns.keys
    if not columns.plain:  # some system or record_id needs quoting or escaping: those rows by the writer
        careful = io.StringIO()
        careful_writer = csv_writer(careful, lineterminator="\n")
        keys = list(keys)
        for i, record in enumerate(records):
            if _NEEDS_CARE.search(record.system) or _NEEDS_CARE.search(record.record_id):
                careful_writer.writerow((record.system, record.record_id, *lines[i][1:-1].split(",")))
                keys[i], lines[i] = careful.getvalue(), ""
                careful.seek(0)
                careful.truncate()
    parts = [""] * (2 * len(lines))  # each row's key, then its cells, joined at once
    parts[0::2] = keys
    parts[1::2] = lines
    with atomic_file(path, "utf-8", private=True) as f:
        csv_writer(f, lineterminator="\n").writerow(VERDICT_HEADER)
        f.write("".join(parts))
    return len(lines)


def verdict_cells(verdict: Verdict) -> str:
    """A verdict's cells in ``verdicts.csv``, as they follow the record's key: codes and digits
    the guard wrote, none to quote or escape.

    >>> from guards import Finding
    >>> verdict_cells(Verdict(Outcome.PASS)), verdict_cells(Verdict.of([Finding(Reason.DECEASED)], '621498320257'))
    (',PASS,,\\n', ',HOLD,DECEASED,621498320257\\n')
    """
    return f",{verdict.outcome.value},{verdict.reason_codes},{verdict.suggested_my_number}\n"


#: the cells of most rows
_PLAIN_PASS_CELLS: Final = verdict_cells(Verdict(Outcome.PASS))


# what csv_writer would quote (the delimiter, a quote, a line break) or escape (a formula's first
# character); a value without any is written as it is, exactly as the writer writes it
_NEEDS_CARE = re.compile(r'[,"\r\n]|^[=+\-@\t]')


def _keys_written_plainly(keys: list[str]) -> bool:
    """Whether every key, ``system,record_id`` joined as they are, is what the CSV writer writes:
    no system or record_id needs care (:data:`_NEEDS_CARE`). Each key holds one comma unless its
    values hold some, and no line break. A few scans in C over the keys joined (a regular
    expression per value costs more than writing the row); the verdict's cells that follow a
    key (:func:`verdict_cells`) never need any care.

    >>> _keys_written_plainly(['s,R-1', 's,R-2'])
    True
    >>> [_keys_written_plainly([key]) for key in ('s,R,1', 's,-1', '@s,1', 's,"1"', 's,R\\r', 's,R\\n1')]
    [False, False, False, False, False, False]
    >>> _keys_written_plainly(['s,R-1', '-s,R-2']), _keys_written_plainly(['s,R-1', 's,\\t2'])
    (False, False)
    """
    text = "\n".join(keys) + "\n"
    rows = len(keys)
    return (text.count("\n") == rows and text.count(",") == rows and '"' not in text and "\r" not in text
            and not text.startswith(FORMULA_START)
            # a formula start after a line break (a system's) or a comma (a record_id's); the pair
            # searched for only where its start occurs at all (a pair is searched 20 times slower)
            and not any(start in text and (f"\n{start}" in text or f",{start}" in text) for start in FORMULA_START))


def blank_numbers(value: str) -> str:
    """Blank out anything shaped like a My Number (12+ digits) from report text.

    >>> blank_numbers('6214-9832-0257'), blank_numbers('６２１４　９８３２　０２５７'), blank_numbers('（未登録）')
    ('************', '************', '（未登録）')
    """
    return redact(value, lambda run: "*" * sum(c.isdigit() for c in run))


def report_cell(value: object) -> object:
    """A report.csv cell: text redacted and kept from running as a formula."""
    return spreadsheet_safe(blank_numbers(value) if isinstance(value, str) else value)


def report_tables(report: Report) -> tuple[list[list[object]], list[list[object]]]:
    """Table 1 and table 2 of report.csv as rows (header first)."""
    def counts(line: ProcessLine) -> list[object]:
        return [line.checked, line.held, *(line.by_reason[r] for r in report.reasons), line.invalid]

    t1: list[list[object]] = [[H_NUMBER, H_CODE, H_NAME, H_DEPT, H_CHECKED, H_HELD,
                               *(reason_header(r) for r in report.reasons), H_INVALID]]
    for line in report.processes:
        p = line.process
        t1.append([p.number, p.code, p.name, p.department, *counts(line)])
    t1.append([TOTAL, "", "", "", *counts(report.total)])
    t2: list[list[object]] = [[H_SOURCE, H_CHECKED, H_HELD, H_SHARE, H_INVALID]]
    for s in [*report.sources, report.source_total]:
        t2.append([s.source, s.checked, s.held, f"{s.share:.1f}", s.invalid])
    return t1, t2


def write_report_csv(report: Report, path: str | os.PathLike) -> None:
    t1, t2 = report_tables(report)
    with atomic_file(path, "utf-8-sig") as f:
        w = csv_writer(f, lineterminator="\n")
        w.writerows([report_cell(c) for c in row] for row in t1)
        w.writerow([])
        w.writerows([report_cell(c) for c in row] for row in t2)


# fill patterns of the chart, one per 取得経路, in SOURCES order then 不明
_PATTERNS = ("solid", "diagonal", "dots", "horizontal", "cross", "light")


@functools.cache
def html_template():
    """The report page's template (autoescaped Jinja2), compiled once per process: importing
    Jinja2 and compiling it costs ~30 ms, which ``linkguard inspect`` spends while its helpers
    check rather than after them."""
    import jinja2

    env = jinja2.Environment(
        loader=jinja2.PackageLoader("linkguard.ops", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["num"] = lambda n: f"{n:,}"
    env.filters["redact"] = blank_numbers
    return env.get_template("report.html")


def render_html(report: Report) -> str:
    """The report as an HTML page (:func:`html_template`)."""
    order = [s.source for s in report.sources]
    scale = max((line.held for line in report.processes), default=0) or 1
    width = 400.0
    chart = []
    for line in report.processes:
        x = 0.0
        segments = []
        for i, source in enumerate(order):
            n = line.by_source[source]
            if n:
                w = width * n / scale
                segments.append({"x": round(x, 2), "w": round(w, 2), "pattern": _PATTERNS[i],
                                 "source": source, "count": n})
                x += w
        chart.append({"line": line, "segments": segments,
                      "rate": f"{100 * line.held / line.checked:.1f}%" if line.checked else "—"})
    return html_template().render(
        report=report, chart=chart, chart_width=width, legend=list(zip(order, _PATTERNS)),
    )


def write_report_html(report: Report, path: str | os.PathLike) -> None:
    with atomic_file(path, "utf-8") as f:
        f.write(render_html(report))


def write_all(result, out_dir: str | os.PathLike, catalogue: Catalogue | None = None,
              generated_at: dt.datetime | None = None, counts: RowCounts | None = None) -> dict[str, Path]:
    """Write the three files for an :class:`linkguard.ops.inspection.InspectionResult`
    (``counts``: its rows' :class:`RowCounts`, where the caller has them)."""
    rows = result.rows if isinstance(result.rows, list) else list(result.rows)
    return write_all_columns(list(map(_RECORD, rows)), list(map(_VERDICT, rows)), out_dir, catalogue,
                             counts=counts, systems=getattr(result, "systems", ()),
                             residents=getattr(result, "residents", 0), generated_at=generated_at)


def write_all_columns(records: Sequence[Record], verdicts: Sequence[Verdict], out_dir: str | os.PathLike,
                      catalogue: Catalogue | None = None, *, columns: RecordColumns | None = None,
                      counts: RowCounts | None = None, systems: Sequence[str] = (), residents: int = 0,
                      generated_at: dt.datetime | None = None) -> dict[str, Path]:
    """:func:`write_all` of the rows ``zip(records, verdicts)``, without building them (``columns``,
    ``counts``: the records' :class:`RecordColumns` and the rows' :class:`RowCounts`, where the
    caller has them)."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = {name: out / name for name in ("verdicts.csv", "report.csv", "report.html")}
    if columns is None:
        columns = RecordColumns.of(records)
    if counts is None:
        counts = RowCounts.of_columns(records, verdicts, columns)
    write_verdict_columns(records, columns, verdicts, counts.marked_at, paths["verdicts.csv"])
    report = build_report(counts, catalogue, systems=systems, residents=residents, generated_at=generated_at)
    write_report_csv(report, paths["report.csv"])
    write_report_html(report, paths["report.html"])
    return paths


class atomic_file:
    """Write a text file next to its target, then rename it into place
    (a failed run leaves the previous file, never half a file). A private
    file keeps mode 0600; others get the usual 0666 minus the umask."""

    def __init__(self, path: str | os.PathLike, encoding: str, private: bool = False) -> None:
        self.path = Path(path)
        self.encoding = encoding
        self.private = private

    def __enter__(self):
        fd, self.tmp = tempfile.mkstemp(prefix=f".{self.path.name}.", dir=self.path.parent)
        self.file = open(fd, "w", encoding=self.encoding, newline="")
        return self.file

    def __exit__(self, exc_type, exc, tb) -> None:
        self.file.close()
        if exc_type is None:
            if not self.private:
                os.chmod(self.tmp, 0o666 & ~_umask())
            os.replace(self.tmp, self.path)
        else:
            os.unlink(self.tmp)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask

"""Outputs of ``linkguard reconcile``: a rich table, a CSV and an HTML page.

Every value comes from :class:`linkguard.ops.reconcile.compare.Finding` (My Numbers
already masked); the CSV and HTML writers redact any 12-digit run that might
still hide in a payload value and keep spreadsheet formulas from running,
as the inspection report does (:mod:`linkguard.ops.report`). Both files are
written atomically with mode 0600: they name records and show their values.
"""

from __future__ import annotations

import datetime as dt
import os

from rich.console import Group
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from linkguard.catalogue import Process
from linkguard.ops.reconcile.compare import Reconciliation, Status
from linkguard.ops.report import atomic_file, blank_numbers, report_cell
from streams.csvio import csv_writer

__all__ = ["render_table", "write_csv", "render_html", "write_html", "CSV_HEADER"]

CSV_HEADER = ("system", "record_id", "status", "status_ja", "fields", "sink", "extract", "note")
_STYLE = {Status.DIFFERS: "yellow", Status.MISSING: "red", Status.EXTRA: "magenta"}


def rows(result: Reconciliation) -> list[tuple[str, ...]]:
    """One row per differing field (a finding without fields is one row)."""
    out = []
    for f in result.findings:
        if not f.diffs:
            out.append((f.system, f.record_id, f.status.value, f.status.label_ja, "", "", "", f.note))
        for d in f.diffs:
            out.append((f.system, f.record_id, f.status.value, f.status.label_ja, d.field, d.sink, d.extract, f.note))
    return out


def summary(result: Reconciliation) -> str:
    return (f"{result.copies:,} live copies, {result.extract_rows:,} extract rows: "
            + ", ".join(f"{s.value} {result.count(s):,}" for s in Status))


def render_table(result: Reconciliation, process: Process, *, limit: int | None = 200) -> Group:
    """The findings as a rich table (the first ``limit`` rows; the files hold all)."""
    title = f"点検B {process.name} ({result.system}) · {process.department}"
    parts: list = [Text(summary(result), style="bold" if result.findings else "green")]
    if not result.findings:
        parts.append(Text("the sink's copies match the extract", style="green"))
        return Group(Text(title, style="bold"), *parts)
    table = Table(title=escape(title), title_justify="left")
    for column in ("record", "status", "field", "sink", "extract", "note"):
        table.add_column(column, overflow="fold")
    all_rows = rows(result)
    for _system, record_id, status, _ja, field, sink, extract, note in all_rows[:limit]:
        table.add_row(escape(record_id), Text(status, style=_STYLE[Status(status)]), escape(field),
                      escape(blank_numbers(sink)), escape(blank_numbers(extract)), escape(note))
    parts.append(table)
    if limit is not None and len(all_rows) > limit:
        parts.append(Text(f"… {len(all_rows) - limit:,} more rows in --csv/--html", style="dim"))
    return Group(*parts)


def write_csv(result: Reconciliation, path: str | os.PathLike) -> None:
    """UTF-8 with BOM (Excel on Japanese Windows reads it right), one row per differing field."""
    with atomic_file(path, "utf-8-sig", private=True) as f:
        w = csv_writer(f, lineterminator="\n")
        w.writerow(CSV_HEADER)
        w.writerows([report_cell(c) for c in row] for row in rows(result))


def render_html(result: Reconciliation, process: Process, *, generated_at: dt.datetime | None = None,
                source: str = "") -> str:
    import jinja2

    env = jinja2.Environment(loader=jinja2.PackageLoader("linkguard.ops", "templates"), autoescape=True,
                             undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True)
    env.filters["num"] = lambda n: f"{n:,}"
    env.filters["redact"] = blank_numbers
    generated_at = generated_at or dt.datetime.now(dt.timezone.utc).astimezone()
    return env.get_template("reconcile.html").render(
        result=result, process=process, rows=rows(result), statuses=list(Status),
        generated_at=generated_at.strftime("%Y-%m-%d %H:%M %Z"), source=source)


def write_html(result: Reconciliation, process: Process, path: str | os.PathLike, *, source: str = "") -> None:
    with atomic_file(path, "utf-8", private=True) as f:
        f.write(render_html(result, process, source=source))

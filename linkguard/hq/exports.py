"""Exports of the board in the format of the published tables: CSV for Excel and a printable page.

1. per process: 項番, 事務, 担当課, 点検対象, うち紐付け誤り — and a 計 row;
2. per cause: the confirmed wrong linkages by how the number was obtained
   (申請書の誤り, 職員の入力誤り, …), with 構成比 and a 計 row.

CSV is UTF-8 **with** a BOM (Excel on Japanese Windows reads a BOM-less
file as CP932) and CRLF line ends; the HTML page prints on A4. Counted from
the stores (:mod:`linkguard.hq.board`), never typed in; no number anywhere.
"""

from __future__ import annotations

import io
from collections import Counter
from dataclasses import dataclass

import jinja2
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from linkguard.hq.board import Board
from linkguard.hq.survey import source_name
from sinks.models import HeldRecord
from streams.csvio import csv_writer

__all__ = ["CAUSES", "ProcessTable", "CauseTable", "process_table", "cause_table", "to_csv", "render_export"]

#: 取得経路 → the cause as the published tables name it
CAUSES = {
    "申請書": "申請書の誤り",
    "職員入力": "職員の入力誤り",
    "J-LIS照会": "J-LIS照会時の誤り",
    "住基連携": "住基連携の誤り",
    "本人確認書類": "本人確認書類の確認誤り",
    "不明": "その他・不明",
}
TOTAL = "計"


@dataclass(frozen=True)
class ProcessTable:
    header: tuple[str, ...]
    rows: list[list[object]]  # the last is the 計 row


@dataclass(frozen=True)
class CauseTable:
    header: tuple[str, ...]
    rows: list[list[object]]


def process_table(board: Board) -> ProcessTable:
    """Per process, summed over its implementing bodies."""
    rows: list[list[object]] = []
    checked = wrong = 0
    for row in sorted(board.rows, key=lambda r: r.process.number or 0):
        inspected = sum(c.inspected for c in row.cells.values())
        confirmed = sum(c.confirmed for c in row.cells.values())
        rows.append([row.process.number, row.process.name, row.process.department, inspected, confirmed])
        checked += inspected
        wrong += confirmed
    rows.append([TOTAL, "", "", checked, wrong])
    return ProcessTable(("項番", "事務", "担当課", "点検対象", "うち紐付け誤り"), rows)


def cause_table(engine: Engine) -> CauseTable:
    """Confirmed wrong linkages (a reviewer corrected or returned them) by cause."""
    counts: Counter = Counter()
    with Session(engine) as session:
        for record in session.scalars(select(HeldRecord.record).where(
                HeldRecord.status.in_(("corrected", "returned")))):
            counts[source_name(str((record or {}).get("number_source") or ""))] += 1
    total = sum(counts.values())
    rows: list[list[object]] = [[cause, counts[source], f"{100 * counts[source] / total:.1f}" if total else "0.0"]
                                for source, cause in CAUSES.items()]
    rows.append([TOTAL, total, "100.0" if total else "0.0"])
    return CauseTable(("原因", "うち紐付け誤り", "構成比（%）"), rows)


def to_csv(*tables: ProcessTable | CauseTable) -> bytes:
    """The tables as one CSV (UTF-8 with BOM, CRLF), separated by an empty line."""
    buffer = io.StringIO(newline="")
    writer = csv_writer(buffer, lineterminator="\r\n")
    for i, table in enumerate(tables):
        if i:
            writer.writerow([])
        writer.writerow(table.header)
        writer.writerows(table.rows)
    return buffer.getvalue().encode("utf-8-sig")


def render_export(board: Board, processes: ProcessTable, causes: CauseTable, *, title: str,
                  css_href: str | None = None) -> str:
    """The printable A4 page of both tables (no scripts, no external assets)."""
    env = jinja2.Environment(loader=jinja2.PackageLoader("linkguard.hq", "templates"), autoescape=True,
                             undefined=jinja2.StrictUndefined)
    env.filters["num"] = lambda n: f"{n:,}" if isinstance(n, int) else n
    return env.get_template("export.html").render(board=board, processes=processes, causes=causes, title=title,
                                                   css_href=css_href)

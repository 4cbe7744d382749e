"""verdicts.csv, report.csv, report.html and the process catalogue."""

from __future__ import annotations

import csv
import datetime as dt
import html.parser
import io
import re
from pathlib import Path

import pytest

from fixtures.support import random_inspected_rows
from guards import Outcome, Reason, Record, Resident
from linkguard.ops import report
from linkguard.catalogue import (
    ENV_VAR,
    UNREGISTERED_DEPARTMENT,
    Catalogue,
    CatalogueError,
    load_catalogue,
)
from linkguard.ops.inspection import inspect
from fixtures.support import my_number as num

CONTRACT_CODES = [
    "tokutei-iryouhi", "shoman", "seishin-techo", "jiritsu-shien", "seikatsu-hogo", "chugoku-zanryu",
    "shintai-techo", "ryoiku-techo", "tokubetsu-jido", "tokubetsu-shogai", "shogaiji-fukushi",
    "keika-fukushi", "shogaiji-shisetsu", "jido-fuyo", "boshi-fushi", "shokugyo-tenkan", "tokubetsu-shien",
]
WHEN = dt.datetime(2024, 6, 1, 10, 0)


def bad_digit(number: str) -> str:
    return number[:-1] + str((int(number[-1]) + 1) % 10)


RESIDENTS = [
    Resident(num(f"{i:011d}"), f"住民 {i}", dt.date(1950 + i % 50, 1 + i % 12, 1 + i % 28), 1 + i % 2,
             f"高知市本町{i}-1")
    for i in range(1, 41)
]
# two residents sharing name, birth date and sex: no suggestion may be made
TWIN = Resident(num("77777777777"), RESIDENTS[0].name, RESIDENTS[0].birth_date, RESIDENTS[0].sex, "土佐市1-1")
ALL_RESIDENTS = [*RESIDENTS, TWIN]
SEX = {1: "男", 2: "女"}


def good(r: Resident, system: str, rid: str, source: str = "住基連携") -> Record:
    return Record(system, rid, r.my_number, r.name, r.birth_date.isoformat(), SEX[r.sex], r.address,
                  number_source=source)


def build_records() -> list[Record]:
    """A mix over three known processes, one unknown code and every verdict."""
    out: list[Record] = []
    sources = ["申請書", "職員入力", "J-LIS照会", "", "本人確認書類", "電話"]
    for i, r in enumerate(RESIDENTS):
        system = ["shintai-techo", "jido-fuyo", "tokutei-iryouhi", "zz-new-process"][i % 4]
        src = sources[i % len(sources)]
        kind = i % 5
        if kind == 0:
            out.append(good(r, system, f"R{i}", src))
        elif kind == 1:  # another resident's number: identity mismatch (+ address)
            other = RESIDENTS[(i + 7) % len(RESIDENTS)]
            out.append(Record(system, f"R{i}", other.my_number, r.name, r.birth_date.isoformat(),
                              SEX[r.sex], r.address, number_source=src))
        elif kind == 2:  # check digit
            out.append(Record(system, f"R{i}", bad_digit(r.my_number), r.name, r.birth_date.isoformat(),
                              SEX[r.sex], number_source=src))
        elif kind == 3:  # not linked: INVALID
            out.append(Record(system, f"R{i}", "", r.name, r.birth_date.isoformat(), SEX[r.sex],
                              number_source=src))
        else:  # unreadable date: INVALID
            out.append(Record(system, f"R{i}", r.my_number, r.name, "昭和64年1月8日", SEX[r.sex],
                              number_source=src))
    # the twins' shared identity with a number nobody holds: HOLD, and no suggestion
    twin = RESIDENTS[0]
    out.append(Record("shintai-techo", "TWIN", num("99999999999"), twin.name, twin.birth_date.isoformat(),
                      SEX[twin.sex], number_source="職員入力"))
    return out


@pytest.fixture(scope="module")
def result():
    return inspect(ALL_RESIDENTS, build_records(), systems=["shoman"])


@pytest.fixture(scope="module")
def out(result, tmp_path_factory) -> Path:
    d = tmp_path_factory.mktemp("out")
    report.write_all(result, d, generated_at=WHEN)
    return d


def read_tables(path: Path) -> tuple[list[list[str]], list[list[str]]]:
    raw = path.read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf"), "report.csv must start with a UTF-8 BOM (Excel)"
    rows = list(csv.reader(io.StringIO(raw.decode("utf-8-sig"), newline="")))
    blank = rows.index([])
    return rows[:blank], rows[blank + 1:]


def all_numbers() -> set[str]:
    numbers = {r.my_number for r in ALL_RESIDENTS}
    numbers |= {bad_digit(r.my_number) for r in RESIDENTS}
    return numbers


# ---------------------------------------------------------------- verdicts.csv

def test_verdicts_header_is_exact_and_utf8_without_bom(out):
    raw = (out / "verdicts.csv").read_bytes()
    assert raw.split(b"\n", 1)[0] == b"system,record_id,verdict,reasons,suggested_my_number"
    raw.decode("utf-8")


def test_verdicts_one_row_per_record_in_input_order(result, out):
    with open(out / "verdicts.csv", encoding="utf-8", newline="") as f:
        rows = list(csv.DictReader(f))
    records = build_records()
    assert [(r["system"], r["record_id"]) for r in rows] == [(x.system, x.record_id) for x in records]
    assert len({(r["system"], r["record_id"]) for r in rows}) == len(records)
    for row, (record, verdict) in zip(rows, result):
        assert row["verdict"] == verdict.outcome.value
        assert row["reasons"] == verdict.reason_codes
        assert row["suggested_my_number"] == verdict.suggested_my_number
    verdicts = {r["verdict"] for r in rows}
    assert verdicts == {"PASS", "HOLD", "INVALID"}
    assert any(r["reasons"] == "NOT_LINKED" for r in rows if r["verdict"] == "INVALID")
    assert any(";" in r["reasons"] for r in rows), "multi-reason rows join codes with ;"
    suggested = [r for r in rows if r["suggested_my_number"]]
    assert suggested and all(r["verdict"] == "HOLD" for r in suggested)
    twin = next(r for r in rows if r["record_id"] == "TWIN")
    assert twin["verdict"] == "HOLD" and twin["suggested_my_number"] == ""


def test_verdicts_file_is_private(out):
    assert (out / "verdicts.csv").stat().st_mode & 0o077 == 0


# ---------------------------------------------------------------- report.csv

def test_report_process_table_adds_up(result, out):
    t1, _ = read_tables(out / "report.csv")
    header, body, total = t1[0], t1[1:-1], t1[-1]
    assert header[:6] == ["項番", "事務コード", "事務", "担当課", "点検対象", "うち紐付け誤りの疑い"]
    assert header[-1] == "うち不備（送信せず）"
    assert total[0] == "計"
    for col in range(4, len(header)):
        assert int(total[col]) == sum(int(row[col]) for row in body), header[col]
    reason_cols = range(6, len(header) - 1)
    for row in body:
        checked, held, invalid = int(row[4]), int(row[5]), int(row[-1])
        assert held <= checked and held + invalid <= checked
        if held:
            assert sum(int(row[c]) for c in reason_cols) >= held
    assert int(total[4]) == len(result)
    assert int(total[5]) == sum(v.outcome is Outcome.HOLD for _, v in result)
    assert int(total[-1]) == sum(v.outcome is Outcome.INVALID for _, v in result)


def test_report_reason_columns_count_held_records(result, out):
    t1, _ = read_tables(out / "report.csv")
    header, total = t1[0], t1[-1]
    held_reasons = {r for _, v in result if v.outcome is Outcome.HOLD for r in v.reasons
                    if r.severity.name == "HOLD"}
    assert header[6:-1] == [report.reason_header(r) for r in Reason if r in held_reasons]
    for reason in held_reasons:
        col = header.index(report.reason_header(reason))
        assert int(total[col]) == sum(v.outcome is Outcome.HOLD and reason in v.reasons for _, v in result)


def test_report_process_order_and_unknown_code(out):
    t1, _ = read_tables(out / "report.csv")
    body = t1[1:-1]
    assert [row[1] for row in body] == ["tokutei-iryouhi", "shoman", "shintai-techo", "jido-fuyo",
                                        "zz-new-process"]
    assert [row[0] for row in body] == ["1", "2", "7", "14", "18"]
    shoman = body[1]
    assert shoman[2:6] == ["小児慢性特定疾病医療費", "保健・疾病対策課", "0", "0"]  # named, no file rows
    unknown = body[-1]
    assert unknown[2] == "zz-new-process" and unknown[3] == UNREGISTERED_DEPARTMENT == "（未登録）"
    assert int(unknown[4]) == 10


def test_report_cause_table_sums_to_held_total(out):
    t1, t2 = read_tables(out / "report.csv")
    header, body, total = t2[0], t2[1:-1], t2[-1]
    assert header == ["取得経路", "点検対象", "うち紐付け誤りの疑い", "構成比（%）", "うち不備（送信せず）"]
    assert [row[0] for row in body] == ["申請書", "職員入力", "J-LIS照会", "住基連携", "本人確認書類", "不明"]
    assert total[0] == "計"
    held_total = int(t1[-1][5])
    assert sum(int(row[2]) for row in body) == int(total[2]) == held_total
    assert sum(int(row[1]) for row in body) == int(total[1]) == int(t1[-1][4])
    assert sum(int(row[4]) for row in body) == int(total[4]) == int(t1[-1][-1])
    assert abs(sum(float(row[3]) for row in body) - 100) < 0.5


def test_report_has_no_my_number(out):
    for name in ("report.csv", "report.html"):
        text = (out / name).read_text(encoding="utf-8-sig")
        for number in all_numbers():
            assert number not in text, name
        assert not re.search(r"\d{12}", text), name


def test_report_redacts_number_shaped_codes_and_defuses_formulas(tmp_path):
    rows = [(Record("6214 9832 0257", "1", "", "a", "1980-01-01", "1"), None),
            (Record("=cmd|'/c calc'!a1", "2", "", "a", "1980-01-01", "1"), None)]
    result = inspect([], [r for r, _ in rows])
    report.write_all(result, tmp_path, generated_at=WHEN)
    text = (tmp_path / "report.csv").read_text(encoding="utf-8-sig")
    html_text = (tmp_path / "report.html").read_text(encoding="utf-8")
    assert "621498320257" not in text and "6214 9832 0257" not in text
    assert "621498320257" not in html_text and "6214 9832 0257" not in html_text
    assert "************" in text
    assert "\n=" not in text and ",=" not in text and "'=cmd" in text


# ---------------------------------------------------------------- report.html

class _Collect(html.parser.HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[str] = []
        self.text: list[str] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)

    def handle_data(self, data):
        self.text.append(data)


def test_html_escapes_script_and_uses_no_scripts_or_external_assets(tmp_path):
    catalogue_file = tmp_path / "cat.csv"
    catalogue_file.write_text("code,事務,担当課\nshintai-techo,<script>alert(1)</script>,<b>課</b>\n",
                              encoding="utf-8")
    records = [Record("shintai-techo", "1", "", "a", "1980-01-01", "1"),
               Record("<script>x</script>", "2", "", "a", "1980-01-01", "1")]
    result = inspect([], records)
    report.write_all(result, tmp_path, catalogue=load_catalogue(catalogue_file), generated_at=WHEN)
    page = (tmp_path / "report.html").read_text(encoding="utf-8")
    parser = _Collect()
    parser.feed(page)
    assert "script" not in parser.tags and "b" not in parser.tags
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "&lt;script&gt;x&lt;/script&gt;" in page
    assert "<script" not in page.lower()
    assert not re.search(r"(src|href)\s*=|https?://|@import|url\((?!#)", page)


def test_html_has_both_tables_chart_and_print_css(out, result):
    page = (out / "report.html").read_text(encoding="utf-8")
    assert "@page" in page and "A4" in page
    assert "表1" in page and "表2" in page and "<svg" in page
    for label in ("身体障害者手帳", "児童扶養手当", "zz-new-process", "（未登録）",
                  Reason.IDENTITY_MISMATCH.label_ja, Reason.CHECK_DIGIT.label_ja, "申請書", "不明"):
        assert label in page
    held = sum(v.outcome is Outcome.HOLD for _, v in result)
    assert f"うち紐付け誤りの疑い（保留）</dt><dd>{held} 件" in page


def test_chart_segments_add_up_to_held(result):
    rep = report.build_report(result.rows, generated_at=WHEN)
    for line in rep.processes:
        assert sum(line.by_source.values()) == line.held


# ---------------------------------------------------------------- catalogue

def test_packaged_catalogue_is_the_contracts_17_processes():
    cat = load_catalogue()
    assert [p.code for p in cat] == CONTRACT_CODES
    assert [p.number for p in cat] == list(range(1, 18))
    assert cat.get("tokutei-iryouhi").name == "特定医療費（指定難病）"
    assert cat.get("tokubetsu-shien").department == "特別支援教育課"


def test_catalogue_env_override_and_errors(tmp_path, monkeypatch):
    f = tmp_path / "mine.csv"
    f.write_text("\ufeff事務コード,事務名,担当課\nnew-one,新しい事務,新しい課\nshoman,小慢,別の課\n", encoding="utf-8")
    monkeypatch.setenv(ENV_VAR, str(f))
    cat = load_catalogue()
    assert isinstance(cat, Catalogue) and [p.code for p in cat] == ["new-one", "shoman"]
    assert cat.get("shoman").department == "別の課"
    dup = tmp_path / "dup.csv"
    dup.write_text("code,事務,担当課\na,x,y\na,x,y\n", encoding="utf-8")
    with pytest.raises(CatalogueError, match=r"dup.csv line 3: code 'a' already given on line 2"):
        load_catalogue(dup)
    with pytest.raises(CatalogueError, match="cannot read"):
        load_catalogue(tmp_path / "missing.csv")


def test_verdicts_csv_is_byte_for_byte_what_the_escaping_csv_writer_writes(tmp_path):
    """write_verdicts writes plain rows itself: the bytes must be the writer's, whatever the values."""
    import random

    from guards import Finding, Outcome, Reason, Record, Verdict
    from linkguard.ops.report import write_verdicts

    rng = random.Random(13)
    pieces = ["R-1", "山田", ",", '"', "\r", "\n", "\r\n", "=", "+", "-", "@", "\t", " ", "'", ";", "ａ", "0"]
    verdicts = [Verdict(Outcome.PASS), Verdict.of([Finding(Reason.FORMER_NAME)]),
                Verdict.of([Finding(Reason.IDENTITY_MISMATCH), Finding(Reason.SHARED_NUMBER)], "621498320257"),
                Verdict.of([Finding(Reason.NOT_LINKED)])]
    rows = [(Record("".join(rng.choices(pieces, k=rng.randint(1, 4))),
                    "".join(rng.choices(pieces, k=rng.randint(1, 5))), "", "", "", ""), rng.choice(verdicts))
            for _ in range(3000)]
    assert write_verdicts(rows, tmp_path / "verdicts.csv") == 3000
    assert (tmp_path / "verdicts.csv").read_bytes() == _as_the_writer_writes(rows)


@pytest.mark.parametrize("where", ["system", "record_id"])
def test_verdicts_csv_of_plain_rows_with_one_value_to_take_care_of(tmp_path, where):
    """The plain rows are written without a per-value check: one value needing care, at any place
    (first, middle, last row; start, middle, end of the value), still comes out as the writer writes it."""
    from guards import Finding, Outcome, Reason, Record, Verdict
    from linkguard.ops.report import write_verdicts

    verdicts = [Verdict(Outcome.PASS), Verdict.of([Finding(Reason.FORMER_NAME)]),
                Verdict.of([Finding(Reason.IDENTITY_MISMATCH), Finding(Reason.SHARED_NUMBER)], "621498320257")]
    for piece in [",", '"', "\r", "\n", "\r\n", "=", "+", "-", "@", "\t", "'", ";", " ", "ａ", "山"]:
        for row in (0, 7, 19):
            for value in (piece + "R1", "R" + piece + "1", "R1" + piece):
                rows = [(Record("jido-fuyo", f"R-{i}", "", "", "", ""), verdicts[i % 3]) for i in range(20)]
                record = rows[row][0]
                rows[row] = (Record(value if where == "system" else record.system,
                                    value if where == "record_id" else record.record_id, "", "", "", ""),
                             rows[row][1])
                write_verdicts(iter(rows), tmp_path / "verdicts.csv")
                assert (tmp_path / "verdicts.csv").read_bytes() == _as_the_writer_writes(rows), (
                    piece, row, value)


@pytest.mark.parametrize("seed", range(5))
def test_report_counts_equal_a_plain_count_of_every_row(seed):
    """build_report counts the plain PASS rows in bulk (RowCounts): every figure equals a row-by-row count."""
    from collections import Counter

    from guards import Severity
    from linkguard.catalogue import normalize_code

    rows = random_inspected_rows(seed)
    rep = report.build_report(rows, systems=["ryoiku-techo"], generated_at=WHEN)
    assert report.build_report(report.RowCounts.of(iter(rows)), systems=["ryoiku-techo"], generated_at=WHEN) == rep
    lines = {line.process.code: line for line in rep.processes}
    assert set(lines) == {normalize_code(r.system) for r, _ in rows} | {"ryoiku-techo"}
    for code, line in lines.items():
        mine = [(r, v) for r, v in rows if normalize_code(r.system) == code]
        assert line.checked == len(mine)
        assert line.held == sum(v.outcome is Outcome.HOLD for _, v in mine)
        assert line.invalid == sum(v.outcome is Outcome.INVALID for _, v in mine)
        assert line.by_reason == Counter(reason for _, v in mine if v.outcome is Outcome.HOLD
                                         for reason in set(v.reasons) if reason.severity is Severity.HOLD)
        assert line.by_source == Counter(report.source_of(r.number_source) for r, v in mine
                                         if v.outcome is Outcome.HOLD)
    for source in rep.sources:
        mine = [(r, v) for r, v in rows if report.source_of(r.number_source) == source.source]
        held = sum(v.outcome is Outcome.HOLD for _, v in mine)
        invalid = sum(v.outcome is Outcome.INVALID for _, v in mine)
        assert (source.checked, source.held, source.invalid) == (len(mine), held, invalid)
    assert rep.suggestions == sum(bool(v.suggested_my_number) for _, v in rows)
    assert rep.total.checked == len(rows)


def _as_the_writer_writes(rows) -> bytes:
    """verdicts.csv as the project's CSV writer writes it row by row (the reference for write_verdicts)."""
    import io

    from linkguard.ops.report import VERDICT_HEADER
    from streams.csvio import csv_writer

    expected = io.StringIO()
    writer = csv_writer(expected, lineterminator="\n")
    writer.writerow(VERDICT_HEADER)
    for record, verdict in rows:
        writer.writerow((record.system, record.record_id, verdict.outcome.value, verdict.reason_codes,
                         verdict.suggested_my_number))
    return expected.getvalue().encode("utf-8")

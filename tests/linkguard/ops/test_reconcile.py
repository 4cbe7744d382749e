"""``linkguard reconcile`` (点検B) on SQLite and PostgreSQL, with CP932 extracts as business systems write them.

The sink's copies are written by :class:`sinks.SinkWriter` from Avro-round-tripped
verdicts; the extract is read by the real CSV importer. No output may hold a
full My Number.
"""

from __future__ import annotations

import csv
import datetime as dt
import os
import stat
import uuid

import pytest
from typer.testing import CliRunner

import schemas
from linkguard.cli.root import app
from linkguard.ops.reconcile.compare import Status, reconcile
from linkguard.ops.reconcile.store import CopyStore
from sinks import SinkMessage, SinkWriter, make_engine
from streams.csvio import read_records
from fixtures.support import my_number

runner = CliRunner()
codec = schemas.Codec()
SYSTEM = "jido-fuyo"
N = {i: my_number(62149832000 + i) for i in range(1, 13)}
OTHER = my_number(71234567890)  # JF-2's extract carries this one instead of N[2]
NOW = dt.datetime(2026, 4, 1, 9, 0, tzinfo=dt.timezone.utc)


def spaced(number: str) -> str:
    return f"{number[:4]} {number[4:8]} {number[8:]}"


def verdict(record_id: str, number: str, version: int, *, system: str = SYSTEM, outcome: str = "PASS",
            operation: str = "update", name: str = "齋藤 花子", grade: str = "2級",
            address: str = "高知市本町1-1") -> dict:
    record = {
        "event_id": str(uuid.uuid4()), "system": system, "record_id": record_id, "operation": operation,
        "occurred_at": NOW, "my_number": number, "name": name, "name_kana": "", "birth_date": "1980-04-01",
        "sex": "2", "address": address, "atena_no": f"A{version:04d}", "number_source": "申請書",
        "entered_by": "", "batch_id": "", "payload": {"等級": grade}, "updated_at": None,
    }
    message = {"event_id": record["event_id"], "outcome": outcome,
               "reasons": [{"code": "IDENTITY_MISMATCH", "detail": "birth_date"}] if outcome == "HOLD" else [],
               "suggested_my_number": "", "checked_at": NOW, "version": version, "record": record}
    return codec.decode("verdict", codec.encode("verdict", message))


def write_sink(writer: SinkWriter) -> None:
    offset = iter(range(1000))

    def passed(*args, **kw) -> SinkMessage:
        return SinkMessage("linkage.verified", 0, next(offset), "verified", verdict(*args, **kw))

    batch = [passed("JF-1", N[1], 1), passed("JF-2", N[2], 2), passed("JF-3", N[3], 3),
             passed("JF-6", N[6], 6), passed("JF-7", N[7], 7), passed("JF-8", N[8], 8),
             passed("JF-9", N[9], 9), passed("JF-10", N[10], 10),
             passed("ST-1", N[11], 11, system="shintai-techo")]
    writer.apply("sink", batch)
    writer.apply("sink", [passed("JF-9", N[9], 90, operation="delete"),
                          passed("JF-10", N[10], 100, operation="delete"),
                          SinkMessage("linkage.held", 0, 0, "held", verdict("JF-5", N[5], 5, outcome="HOLD"))])


HEADER = ["レコード番号", "個人番号", "氏名", "生年月日", "性別", "住所", "宛名番号", "等級", "操作"]
EXTRACT = [
    # the same person and values, written differently: no difference
    ["JF-1", spaced(N[1]), "斎藤　花子", "昭和55年4月1日", "女", "高知県高知市本町一丁目1番", "Ａ0001", "２級", "更新"],
    ["JF-2", OTHER, "齋藤 花子", "S55.4.1", "2", "高知市本町1-1", "A0002", "2級", ""],
    ["JF-3", N[3], "齋藤 花子", "1980/4/1", "女", "高知市本町2-5", "A0003", "3級", ""],
    ["JF-4", N[4], "山田 一郎", "1975-01-01", "男", "高知市本町1-1", "A0004", "1級", "新規"],
    ["JF-5", N[5], "山田 次郎", "1976-01-01", "男", "高知市本町1-1", "A0005", "1級", ""],
    ["JF-7", N[7], "齋藤 花子", "1980-04-01", "女", "高知市本町1-1", "A0007", "2級", "削除"],
    ["JF-8", "", "齋藤 花子", "1980-04-01", "女", "高知市本町1-1", "A0008", "2級", ""],
    ["JF-9", N[9], "齋藤 花子", "1980-04-01", "女", "高知市本町1-1", "A0009", "2級", ""],
    ["JF-10", N[10], "齋藤 花子", "1980-04-01", "女", "高知市本町1-1", "A0010", "2級", "削除"],
    ["JF-11", "", "山田 三郎", "1990-01-01", "男", "高知市本町1-1", "A0011", "1級", ""],
]
EXPECTED = {
    ("JF-2", "DIFFERS", "my_number"), ("JF-3", "DIFFERS", "address"), ("JF-3", "DIFFERS", "payload.等級"),
    ("JF-4", "MISSING", ""), ("JF-5", "MISSING", ""), ("JF-6", "EXTRA", ""), ("JF-7", "EXTRA", ""),
    ("JF-8", "EXTRA", "my_number"), ("JF-9", "MISSING", ""),
}


def write_extract(path, rows=EXTRACT, encoding="cp932") -> None:
    with open(path, "w", encoding=encoding, newline="") as f:
        w = csv.writer(f, lineterminator="\r\n")
        w.writerow(HEADER)
        w.writerows(rows)


@pytest.fixture
def sink(database_url):
    engine = make_engine(database_url)
    writer = SinkWriter(engine)
    writer.create_schema()
    write_sink(writer)
    yield database_url, engine
    engine.dispose()


def full_numbers_in(text: str) -> list[str]:
    return [n for n in [*N.values(), OTHER] if n in text or spaced(n) in text]


def test_reconcile_finds_every_kind_of_difference(sink, tmp_path):
    _, engine = sink
    path = tmp_path / "jido.csv"
    write_extract(path)
    store = CopyStore(engine, chunk=3)  # several chunks
    result = reconcile(SYSTEM, store.copies(SYSTEM), read_records(path, system=SYSTEM),
                       open_holds=store.open_holds(SYSTEM))
    got = {(f.record_id, f.status.value, d.field if d else "")
           for f in result.findings for d in (f.diffs or (None,))}
    assert got == EXPECTED
    notes = {f.record_id: f.note for f in result.findings}
    assert notes["JF-5"] == "held for review"
    assert notes["JF-9"] == "copy withdrawn (deleted)"
    assert notes["JF-6"] == "not in the extract" and notes["JF-7"] == "deleted in the extract"
    assert (result.copies, result.extract_rows) == (6, 10)  # JF-1,2,3,6,7,8 live; ST-1 is another system
    assert (result.count(Status.DIFFERS), result.count(Status.MISSING), result.count(Status.EXTRA)) == (2, 3, 3)
    jf2 = next(f for f in result.findings if f.record_id == "JF-2")
    assert [(d.sink, d.extract) for d in jf2.diffs] == [(f"**** **** {N[2][-4:]}", f"**** **** {OTHER[-4:]}")]


def test_reconcile_command_table_csv_html_and_exit_code(sink, tmp_path, monkeypatch):
    url, _ = sink
    monkeypatch.setenv("LINKGUARD_DATABASE_URL", url)
    monkeypatch.setenv("COLUMNS", "200")
    path = tmp_path / "jido.csv"
    write_extract(path)
    out_csv, out_html = tmp_path / "out" / "b.csv", tmp_path / "out" / "b.html"
    out_csv.parent.mkdir()
    result = runner.invoke(app, ["reconcile", "--system", SYSTEM, str(path), "--csv", str(out_csv),
                                 "--html", str(out_html)])
    assert result.exit_code == 1, result.output
    assert "DIFFERS 2, MISSING 3, EXTRA 3" in result.output
    for record_id in ("JF-2", "JF-3", "JF-4", "JF-5", "JF-6", "JF-7", "JF-8", "JF-9"):
        assert record_id in result.output
    assert "JF-10" not in result.output and "JF-11" not in result.output and "JF-1 " not in result.output

    text = out_csv.read_text(encoding="utf-8-sig")
    rows = list(csv.DictReader(text.splitlines()))
    assert {(r["record_id"], r["status"], r["fields"]) for r in rows} == EXPECTED
    assert next(r for r in rows if r["fields"] == "payload.等級")["extract"] == "3級"
    html = out_html.read_text(encoding="utf-8")
    assert "点検B" in html and "副本なし" in html and "payload.等級" in html
    for output in (result.output, text, html):
        assert full_numbers_in(output) == []
    assert f"**** **** {OTHER[-4:]}" in text
    assert stat.S_IMODE(os.stat(out_csv).st_mode) == 0o600  # it names records and shows their values


def test_a_consistent_extract_exits_0(sink, tmp_path, monkeypatch):
    url, _ = sink
    monkeypatch.setenv("LINKGUARD_DATABASE_URL", url)
    path = tmp_path / "st.csv"  # UTF-8 with BOM and English headers this time
    with open(path, "w", encoding="utf-8-sig", newline="") as f:
        w = csv.writer(f)
        w.writerow(["record_id", "my_number", "name", "birth_date", "sex", "address", "atena_no", "等級"])
        w.writerow(["ST-1", N[11], "斎藤 花子", "S55.4.1", "F",
                    "高知市本町１－１", "A0011", "2級"])
    result = runner.invoke(app, ["reconcile", "--system", "shintai-techo", str(path)])
    assert result.exit_code == 0, result.output
    assert "match the extract" in result.output


def test_an_unreadable_extract_exits_2_with_the_place(sink, tmp_path, monkeypatch):
    url, _ = sink
    monkeypatch.setenv("LINKGUARD_DATABASE_URL", url)
    path = tmp_path / "broken.csv"
    path.write_bytes("レコード番号,個人番号,氏名,生年月日,性別\n".encode("cp932") + b"JF-1,\x82,\xff\xff,x,1\n")
    result = runner.invoke(app, ["reconcile", "--system", SYSTEM, str(path)])
    assert result.exit_code == 2
    assert "broken.csv" in result.output


def test_reconcile_help():
    result = runner.invoke(app, ["reconcile", "--help"])
    assert result.exit_code == 0
    assert "--system" in result.output and "--csv" in result.output and "--html" in result.output

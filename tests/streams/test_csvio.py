"""CSV importers: every encoding and header style of the data contract."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

import pytest

from guards import Record, Resident, check, index_by_number
from streams.csvio import (
    CsvError,
    UndecodableFile,
    detect_encoding,
    read_records,
    read_records_with_lines,
    read_registry,
)
from fixtures.support import my_number


HANAKO = my_number("62149832025")
TARO = my_number("12345678901")
FORMER = my_number("98765432109")
WRONG_CHECK = HANAKO[:-1] + str((int(HANAKO[-1]) + 1) % 10)

JA_REGISTRY_HEADER = "個人番号,住民票コード,氏名,氏名カナ,通称,生年月日,性別,住所,状態,異動日,旧氏名,旧住所,旧個人番号"
EN_REGISTRY_HEADER = ("my_number,resident_code,name,name_kana,alias_name,birth_date,sex,address,status,"
                      "status_date,previous_names,previous_addresses,previous_my_numbers")


def write(path: Path, text: str, encoding: str) -> Path:
    path.write_bytes(text.encode(encoding))
    return path


def registry_text(header: str = JA_REGISTRY_HEADER) -> str:
    fw_number = HANAKO.translate(str.maketrans("0123456789", "０１２３４５６７８９"))
    return "\r\n".join([
        header,
        f"{fw_number},12345678901,山田　花子,ヤマダ　ハナコ,,昭和55年4月1日,女,高知市丸ノ内一丁目2番20号,"
        f"住民,,佐藤　花子|鈴木 花子,高知市本町1丁目1番1号,{FORMER[:4]} {FORMER[4:8]}-{FORMER[8:]}",
        f"{TARO[:4]}-{TARO[4:8]}-{TARO[8:]},,斎藤 太郎,ｻｲﾄｳ ﾀﾛｳ,,S10.1.2,1,高知市朝倉甲100番地,"
        "死亡,R5.6.7,,,",
        "",
    ])


def expected_registry() -> list[Resident]:
    return [
        Resident(HANAKO, "山田　花子", dt.date(1980, 4, 1), 2, "高知市丸ノ内一丁目2番20号",
                 name_kana="ヤマダ　ハナコ", resident_code="12345678901",
                 previous_names=("佐藤　花子", "鈴木 花子"), previous_addresses=("高知市本町1丁目1番1号",),
                 previous_my_numbers=(FORMER,)),
        Resident(TARO, "斎藤 太郎", dt.date(1935, 1, 2), 1, "高知市朝倉甲100番地", name_kana="ｻｲﾄｳ ﾀﾛｳ",
                 status="死亡", status_date=dt.date(2023, 6, 7)),
    ]


# --- encodings ---------------------------------------------------------------


@pytest.mark.parametrize(("encoding", "detected"), [
    ("utf-8", "utf-8"), ("utf-8-sig", "utf-8-sig"), ("cp932", "cp932"),
])
def test_registry_in_every_encoding(tmp_path: Path, encoding: str, detected: str) -> None:
    path = write(tmp_path / "registry.csv", registry_text(), encoding)
    assert detect_encoding(path) == detected
    assert list(read_registry(path)) == expected_registry()


def test_explicit_encoding_overrides_detection(tmp_path: Path) -> None:
    path = write(tmp_path / "registry.csv", registry_text(), "cp932")
    assert list(read_registry(path, encoding="shift_jis")) == expected_registry()
    with pytest.raises(UndecodableFile, match=r"registry\.csv, line 1, byte offset 0: "):
        list(read_registry(path, encoding="utf-8"))


def test_unknown_encoding_is_a_csv_error(tmp_path: Path) -> None:
    path = write(tmp_path / "registry.csv", registry_text(), "utf-8")
    with pytest.raises(CsvError, match="registry.csv: unknown encoding 'klingon'; use utf-8"):
        read_registry(path, encoding="klingon")


def test_bom_with_explicit_utf8_is_still_read(tmp_path: Path) -> None:
    path = write(tmp_path / "registry.csv", registry_text(), "utf-8-sig")
    assert list(read_registry(path, encoding="utf-8")) == expected_registry()


def test_undecodable_file_is_refused_with_line_and_offset(tmp_path: Path) -> None:
    good = "氏名,個人番号\r\n山田 花子,1\r\n".encode("utf-8")
    path = tmp_path / "broken.csv"
    path.write_bytes(good + b"\xff\xfe bad\r\n")  # neither UTF-8 nor CP932
    with pytest.raises(UndecodableFile) as caught:
        detect_encoding(path)
    error = caught.value
    assert (error.line, error.offset) == (3, len(good))
    assert "broken.csv" in str(error) and "line 3" in str(error) and f"byte offset {len(good)}" in str(error)


def test_errors_and_registry_parts_cross_processes_whole(tmp_path: Path) -> None:
    """A forked reader sends its errors and receives its RegistryParts pickled (also compiled with mypyc)."""
    import pickle

    from streams import csvio

    for error in (UndecodableFile(tmp_path / "r.csv", 3, 41, "utf-8", "bytes 0xff"),
                  CsvError(tmp_path / "r.csv", 7, "name", "empty")):
        copy = pickle.loads(pickle.dumps(error))
        assert (type(copy), str(copy), copy.args) == (type(error), str(error), error.args)
        assert vars(copy) == vars(error)
    path = write(tmp_path / "registry.csv", registry_text(), "utf-8")
    parts = csvio.registry_parts(path, smallest=0)
    assert parts is not None and pickle.loads(pickle.dumps(parts)) == parts
    assert pickle.loads(pickle.dumps(csvio.SPLIT_FIELDS)) == csvio.SPLIT_FIELDS


def test_damaged_utf8_japanese_is_not_read_as_cp932_mojibake(tmp_path: Path) -> None:
    head = "個人番号,氏名,生年月日,性別,住所\n".encode("utf-8")
    row = f"{HANAKO},山田".encode("utf-8")
    path = tmp_path / "damaged.csv"
    # a truncated 3-byte character: would decode as CP932 without complaint
    path.write_bytes(head + row + "花".encode("utf-8")[:2] + ",1980-04-01,2,高知市\n".encode("utf-8"))
    with pytest.raises(UndecodableFile) as caught:
        read_registry(path)
    assert caught.value.line == 2 and caught.value.offset == len(head) + len(row)
    assert caught.value.encoding == "utf-8"
    assert HANAKO not in str(caught.value)


def test_utf16_is_refused_with_advice_unless_asked_for(tmp_path: Path) -> None:
    text = f"個人番号\t氏名\t生年月日\t性別\t住所\n{HANAKO}\t山田 花子\t1980-04-01\t2\t高知市\n"
    path = write(tmp_path / "excel.txt", text, "utf-16")
    with pytest.raises(UndecodableFile, match="excel.txt, line 1, byte offset 0: the file is UTF-16"):
        read_registry(path)
    [resident] = read_registry(path, encoding="utf-16")
    assert resident.my_number == HANAKO


def test_bytes_cp932_leaves_unassigned_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "odd.csv"
    path.write_bytes("氏名,住所\n".encode("cp932") + b"ab\xa0c,x\n")
    with pytest.raises(UndecodableFile) as caught:
        detect_encoding(path)
    assert (caught.value.line, caught.value.offset) == (2, len("氏名,住所\n".encode("cp932")) + 2)
    assert "0xa0" in str(caught.value)


def test_cp932_only_characters(tmp_path: Path) -> None:
    """NEC/IBM extensions (髙, 﨑, ①) are CP932, not plain Shift_JIS."""
    text = f"個人番号,氏名,生年月日,性別,住所\n{HANAKO},髙橋 﨑子,1990-01-01,2,高知市①\n"
    path = write(tmp_path / "r.csv", text, "cp932")
    [resident] = read_registry(path)
    assert (resident.name, resident.address) == ("髙橋 﨑子", "高知市①")


# --- headers -------------------------------------------------------------------


def test_registry_with_english_headers(tmp_path: Path) -> None:
    path = write(tmp_path / "registry.csv", registry_text(EN_REGISTRY_HEADER), "utf-8")
    assert list(read_registry(path)) == expected_registry()


def test_header_variants_width_case_and_aliases(tmp_path: Path) -> None:
    header = " 個人番号 ,住民票ｺｰﾄﾞ,氏名,ﾌﾘｶﾞﾅ,通称,生年月日,性別,住所,異動区分,異動日,旧氏名,旧住所,旧個人番号"
    path = write(tmp_path / "registry.csv", registry_text(header), "cp932")
    assert list(read_registry(path)) == expected_registry()
    english = "My Number,RESIDENT-CODE,Name,Name Kana,alias_name,Birth_Date,SEX,Address,Status,status date," \
              "previous names,previous_addresses,PREVIOUS_MY_NUMBERS"
    path = write(tmp_path / "registry-en.csv", registry_text(english), "utf-8")
    assert list(read_registry(path)) == expected_registry()
    for former in ("旧氏", "旧姓"):  # the card's and the 住民票's own word for the column
        path = write(tmp_path / f"registry-{former}.csv", registry_text(header.replace("旧氏名", former)), "utf-8")
        assert list(read_registry(path)) == expected_registry()


def test_full_width_header_letters(tmp_path: Path) -> None:
    header = "ｍｙ＿ｎｕｍｂｅｒ,ｎａｍｅ,ｂｉｒｔｈ＿ｄａｔｅ,ｓｅｘ,ａｄｄｒｅｓｓ"
    path = write(tmp_path / "r.csv", f"{header}\n{HANAKO},山田 花子,1980/4/1,F,高知市\n", "utf-8")
    [resident] = read_registry(path)
    assert (resident.birth_date, resident.sex) == (dt.date(1980, 4, 1), 2)


def test_missing_required_column_names_file_and_column(tmp_path: Path) -> None:
    path = write(tmp_path / "registry.csv", "個人番号,氏名,性別,住所\n", "utf-8")
    with pytest.raises(CsvError) as caught:
        read_registry(path)
    message = str(caught.value)
    assert "registry.csv" in message and "生年月日" in message and "birth_date" in message
    assert caught.value.field == "birth_date" and caught.value.line == 1


def test_headerless_file_is_explained_without_echoing_the_number(tmp_path: Path) -> None:
    path = write(tmp_path / "registry.csv", f"{HANAKO},山田 花子,1980-04-01,2,高知市\n", "utf-8")
    with pytest.raises(CsvError, match="add the header line") as caught:
        read_registry(path)
    assert HANAKO not in str(caught.value)


def test_duplicate_column_is_refused(tmp_path: Path) -> None:
    path = write(tmp_path / "r.csv", "個人番号,氏名,氏名カナ,フリガナ,生年月日,性別,住所\n", "utf-8")
    with pytest.raises(CsvError, match="both mean 氏名カナ"):
        read_registry(path)
    path = write(tmp_path / "r.csv", "レコード番号,個人番号,氏名,生年月日,性別,備考,備考\n", "utf-8")
    with pytest.raises(CsvError, match="columns 6 and 7 have the same header"):
        read_records(path, system="x")
    path = write(tmp_path / "r.csv", f"個人番号,氏名,生年月日,性別,住所,備考,備考\n{HANAKO},a,1980-01-01,1,b,,\n", "utf-8")
    assert len(list(read_registry(path))) == 1  # the registry ignores columns it does not use


# --- registry rows ----------------------------------------------------------------


@pytest.mark.parametrize(("row", "field", "expected"), [
    (f"{WRONG_CHECK},山田 花子,1980-04-01,2,高知市", "my_number", "check digit does not match"),
    ("6214 9832 025,山田 花子,1980-04-01,2,高知市", "my_number", "expected 12 digits"),
    (f"{HANAKO},山田 花子,昭和64年1月8日,2,高知市", "birth_date", "昭和 era"),
    (f"{HANAKO},山田 花子,{TARO},2,高知市", "birth_date", "is not a date"),
    (f"{HANAKO},山田 花子,1980-04-01,X,高知市", "sex", "expected 1/2"),
    (f"{HANAKO},,1980-04-01,2,高知市", "name", "empty"),
])
def test_bad_registry_row_names_file_line_and_field_but_not_the_number(
        tmp_path: Path, row: str, field: str, expected: str) -> None:
    path = write(tmp_path / "registry.csv", f"個人番号,氏名,生年月日,性別,住所\n{TARO},斎藤 太郎,1950-01-01,1,高知市\n"
                                            f"{row}\n", "utf-8")
    rows = read_registry(path)
    assert next(rows).my_number == TARO
    with pytest.raises(CsvError) as caught:
        next(rows)
    error = caught.value
    assert isinstance(error, ValueError)
    assert (error.path.name, error.line, error.field) == ("registry.csv", 3, field)
    message = str(error)
    assert message.startswith(f"registry.csv, line 3: {field}: ") and expected in message
    assert not re.search(r"\d{9}", message.replace(" ", "")), message


def test_bad_former_number_is_an_error(tmp_path: Path) -> None:
    path = write(tmp_path / "r.csv", f"個人番号,氏名,生年月日,性別,住所,旧個人番号\n"
                                     f"{HANAKO},山田 花子,1980-04-01,2,高知市,{FORMER}|{WRONG_CHECK}\n", "utf-8")
    with pytest.raises(CsvError, match=r"previous_my_numbers \(item 2\): check digit") as caught:
        list(read_registry(path))
    assert WRONG_CHECK not in str(caught.value)


def test_unknown_status_is_an_error(tmp_path: Path) -> None:
    path = write(tmp_path / "r.csv", f"個人番号,氏名,生年月日,性別,住所,状態\n{HANAKO},山田 花子,1980-04-01,2,高知市,入院\n",
                 "utf-8")
    with pytest.raises(CsvError, match="expected 住民, 転出, 死亡 or 消除"):
        list(read_registry(path))


def test_shifted_row_is_refused(tmp_path: Path) -> None:
    path = write(tmp_path / "r.csv", f"個人番号,氏名,生年月日,性別,住所\n{HANAKO},山田 花子,1980-04-01,2,高知市,丸ノ内\n",
                 "utf-8")
    with pytest.raises(CsvError, match="line 2: the row has 6 cells but the header has 5"):
        list(read_registry(path))


def test_quoted_cells_and_blank_lines(tmp_path: Path) -> None:
    text = f'個人番号,氏名,生年月日,性別,住所\n\n"{HANAKO}","山田 花子",1980-04-01,2,"高知市丸ノ内1-2-20, 101号"\n\n,,,,\n'
    [resident] = read_registry(write(tmp_path / "r.csv", text, "utf-8"))
    assert resident.address == "高知市丸ノ内1-2-20, 101号"


def test_tab_separated_file(tmp_path: Path) -> None:
    text = f"個人番号\t氏名\t生年月日\t性別\t住所\n{HANAKO}\t山田 花子\t1980-04-01\t2\t高知市\n"
    [resident] = read_registry(write(tmp_path / "r.tsv", text, "utf-8"))
    assert resident.name == "山田 花子"


# --- business-system records ------------------------------------------------------

JA_RECORD_HEADER = "レコード番号,宛名番号,個人番号,氏名,氏名カナ,生年月日,性別,住所,取得経路,入力者,入力バッチ,更新日時,手帳番号,等級"


def records_text(header: str = JA_RECORD_HEADER) -> str:
    fw_number = HANAKO.translate(str.maketrans("0123456789", "０１２３４５６７８９"))
    return "\n".join([
        header,
        f"ST-000001,0000123,{fw_number},山田 花子,ﾔﾏﾀﾞ ﾊﾅｺ,昭和55年4月1日,女,高知市丸ノ内一丁目２番２０号,"
        "申請書,S001,B-001,2024-05-01 10:00:00,第123号,2級",
        f"ST-000002,0000124,{TARO[:4]} {TARO[4:8]} {TARO[8:]},斎藤 太郎,,平成元年1月8日,1,,職員入力,S001,B-001,"
        "2024-05-01 10:01:00,第124号,1級",
        "ST-000003,0000125,,高橋 一郎,,昭和64年1月8日,X,高知市,職員入力,S002,B-002,2024-05-02 09:00:00,,",
        "",
    ])


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "cp932"])
def test_records_in_every_encoding(tmp_path: Path, encoding: str) -> None:
    path = write(tmp_path / "records-shintai-techo.csv", records_text(), encoding)
    records = list(read_records(path, system="shintai-techo"))
    assert [r.record_id for r in records] == ["ST-000001", "ST-000002", "ST-000003"]
    first = records[0]
    assert first == Record("shintai-techo", "ST-000001", HANAKO.translate(str.maketrans("0123456789", "０１２３４５６７８９")),
                           "山田 花子", "昭和55年4月1日", "女", "高知市丸ノ内一丁目２番２０号", name_kana="ﾔﾏﾀﾞ ﾊﾅｺ",
                           atena_no="0000123", number_source="申請書", entered_by="S001", batch_id="B-001")
    assert dict(first.payload) == {"更新日時": "2024-05-01 10:00:00", "手帳番号": "第123号", "等級": "2級"}
    assert first.operation == "update"


def test_records_keep_bad_values_raw_for_the_guard(tmp_path: Path) -> None:
    path = write(tmp_path / "r.csv", records_text(), "utf-8")
    *_, bad = read_records(path, system="shintai-techo")
    assert (bad.my_number, bad.birth_date, bad.sex) == ("", "昭和64年1月8日", "X")
    verdict = check(bad, index_by_number([]))
    assert verdict.outcome.value == "INVALID"
    assert {"NOT_LINKED", "BAD_DATE", "BAD_SEX"} <= {r.value for r in verdict.reasons}


def test_records_with_english_headers_and_system_column(tmp_path: Path) -> None:
    header = ("record_id,system,atena_no,my_number,name,name_kana,birth_date,sex,address,number_source,"
              "entered_by,batch_id,updated_at,certificate_no,grade")
    lines = records_text().split("\n")
    body = [",".join([cells[0], "jido-fuyo", *cells[1:]]) for cells in (line.split(",") for line in lines[1:-1])]
    path = write(tmp_path / "records.csv", "\n".join([header, *body]) + "\n", "utf-8")
    records = list(read_records(path))
    assert {r.system for r in records} == {"jido-fuyo"}
    assert records[1].my_number == f"{TARO[:4]} {TARO[4:8]} {TARO[8:]}"
    assert dict(records[0].payload) == {"updated_at": "2024-05-01 10:00:00", "certificate_no": "第123号",
                                        "grade": "2級"}
    # the argument overrides the column
    assert {r.system for r in read_records(path, system="shintai-techo")} == {"shintai-techo"}


def test_record_header_aliases(tmp_path: Path) -> None:
    header = JA_RECORD_HEADER.replace("レコード番号", "管理番号").replace("氏名カナ", "ﾌﾘｶﾞﾅ")
    path = write(tmp_path / "r.csv", records_text(header), "cp932")
    assert [r.record_id for r in read_records(path, system="ryoiku-techo")] == ["ST-000001", "ST-000002", "ST-000003"]


def test_records_need_a_system(tmp_path: Path) -> None:
    path = write(tmp_path / "records.csv", records_text(), "utf-8")
    with pytest.raises(CsvError, match="records.csv.*pass --system CODE"):
        read_records(path)


@pytest.mark.parametrize("column", ["レコード番号", "個人番号", "氏名", "生年月日", "性別"])
def test_records_missing_required_column(tmp_path: Path, column: str) -> None:
    header = ",".join(c for c in JA_RECORD_HEADER.split(",") if c != column)
    path = write(tmp_path / "records.csv", header + "\n", "utf-8")
    with pytest.raises(CsvError, match=f"records.csv, line 1: .*{column}"):
        read_records(path, system="x")


def test_records_with_lines_and_operation(tmp_path: Path) -> None:
    text = ('record_id,my_number,name,birth_date,sex,操作,memo\n'
            f'A-1,{HANAKO},山田 花子,1980-04-01,2,削除,"two\nlines"\n'
            f'A-2,{HANAKO},山田 花子,1980-04-01,2,create,\n'
            f'A-3,{HANAKO},山田 花子,1980-04-01,2,???,\n')
    path = write(tmp_path / "r.csv", text, "utf-8")
    rows = list(read_records_with_lines(path, system="x"))
    assert [(line, r.operation) for line, r in rows] == [(2, "delete"), (4, "create"), (5, "update")]
    assert rows[0][1].payload["memo"] == "two\nlines"


def test_empty_record_id_is_an_error(tmp_path: Path) -> None:
    path = write(tmp_path / "r.csv", f"record_id,my_number,name,birth_date,sex\n ,{HANAKO},a,1980-01-01,1\n", "utf-8")
    with pytest.raises(CsvError, match="line 2: record_id: empty") as caught:
        list(read_records(path, system="x"))
    assert HANAKO not in str(caught.value)


@pytest.mark.parametrize("invisible, field", [("\ufeff", "record_id"), ("\u200b", "record_id"),
                                              ("\u202e", "record_id"), ("\u2060", "batch_id")])
def test_an_invisible_character_in_a_key_is_refused_with_file_line_and_field(tmp_path, invisible, field):
    """A BOM at the start of line 3 (two files joined) made `\\ufeffR-2` a second record beside `R-2`."""
    cells = {"record_id": "R-2", "system": "shintai-techo", "batch_id": "B-1"}
    cells[field] = invisible + cells[field] if field != "system" else cells[field] + invisible
    text = ("レコード番号,事務,個人番号,氏名,生年月日,性別,入力バッチ\n"
            f"R-1,shintai-techo,{HANAKO},山田 花子,1980-04-01,2,B-1\n"
            f"{cells['record_id']},{cells['system']},{TARO},斎藤 太郎,1935-01-02,1,{cells['batch_id']}\n")
    path = write(tmp_path / "joined.csv", text, "utf-8")
    with pytest.raises(CsvError) as caught:
        list(read_records(path))
    error = caught.value
    assert (error.path.name, error.line, error.field) == ("joined.csv", 3, field)
    assert f"U+{ord(invisible):04X}" in str(error) and "invisible character" in str(error)


def test_a_process_code_is_read_without_invisible_characters(tmp_path):
    text = ("レコード番号,事務,個人番号,氏名,生年月日,性別\n"
            f"R-1,\ufeffshintai-techo\u202e,{HANAKO},山田 花子,1980-04-01,2\n")
    [record] = read_records(write(tmp_path / "codes.csv", text, "utf-8"))
    assert record.system == "shintai-techo"  # process codes are normalised text: format characters go


REGISTRY_UTF8 = f"個人番号,氏名,生年月日,性別,住所\n{HANAKO},山田 花子,1980-04-01,2,高知市1\n"


@pytest.mark.parametrize("encoding, says", [
    ("utf-16", "not utf-16|not read as utf-16"),  # a UTF-8 file without a UTF-16 BOM
    ("rot13", "unknown encoding"),   # a codec, but no text encoding
    ("base64", "unknown encoding"),
    ("undefined", "unknown encoding"),
    ("no-such-encoding", "unknown encoding"),
])
def test_a_wrong_encoding_option_is_a_clear_error_not_a_traceback(tmp_path, encoding, says):
    path = write(tmp_path / "registry.csv", REGISTRY_UTF8, "utf-8")
    for read in (lambda: list(read_registry(path, encoding=encoding)),
                 lambda: list(read_records(path, "shintai-techo", encoding=encoding))):
        with pytest.raises(CsvError, match=says) as caught:
            read()
        assert caught.value.path.name == "registry.csv"


def test_a_header_cell_over_the_csv_field_limit_is_a_clear_error(tmp_path):
    huge = "x" * 140_000  # over the csv module's 131,072-character field limit
    path = write(tmp_path / "huge.csv", f"{huge},氏名,生年月日,性別,住所\n{HANAKO},山田 花子,1980-04-01,2,高知市\n",
                 "utf-8")
    with pytest.raises(CsvError, match="header line is longer than|header cell 1 is") as caught:
        list(read_registry(path))
    assert caught.value.line == 1
    path = write(tmp_path / "long.csv", f"{'y' * 5000},レコード番号,氏名\n", "utf-8")
    with pytest.raises(CsvError, match="header cell 1 is 5,000 characters long"):
        list(read_records(path, "shintai-techo"))


# -- split layouts (氏 / 名, 氏カナ / 名カナ, 住所 / 方書), as municipal systems export them ----------------------

SPLIT_LAYOUTS = {
    "氏/名, 氏カナ/名カナ, 住所/方書": ("氏", "名", "氏カナ", "名カナ", "住所", "方書"),
    "姓/名, セイ/メイ": ("姓", "名", "セイ", "メイ", "住所", "方書"),
    "family_name/given_name (English)": ("family_name", "given_name", "family_name_kana", "given_name_kana",
                                         "address", "building"),
}


@pytest.mark.parametrize("layout", SPLIT_LAYOUTS)
def test_a_registry_with_split_names_and_addresses_reads_as_the_single_columns(tmp_path, layout):
    family, given, family_kana, given_kana, address, building = SPLIT_LAYOUTS[layout]
    path = write(tmp_path / "registry.csv", "\r\n".join([
        f"個人番号,{family},{given},{family_kana},{given_kana},生年月日,性別,{address},{building}",
        f"{HANAKO},山田,花子,ヤマダ,ハナコ,1980-04-01,女,高知市丸ノ内1-2-20,コーポ丸ノ内101",
        f"{TARO},斎藤,,サイトウ,,1935-01-02,男,高知市朝倉甲100番地,",  # a part may be empty
        ""]), "cp932")
    [hanako, taro] = read_registry(path)
    assert (hanako.name, hanako.name_kana, hanako.address) == ("山田 花子", "ヤマダ ハナコ", "高知市丸ノ内1-2-20 コーポ丸ノ内101")
    assert (taro.name, taro.name_kana, taro.address) == ("斎藤", "サイトウ", "高知市朝倉甲100番地")


@pytest.mark.parametrize("layout", SPLIT_LAYOUTS)
def test_business_records_with_split_columns_keep_the_family_given_boundary(tmp_path, layout):
    family, given, family_kana, given_kana, address, building = SPLIT_LAYOUTS[layout]
    path = write(tmp_path / "records.csv", "\n".join([
        f"レコード番号,個人番号,{family},{given},{family_kana},{given_kana},生年月日,性別,{address},{building},等級",
        f"R-1,{HANAKO},山田,花子,ヤマダ,ハナコ,1980-04-01,2,高知市丸ノ内1-2-20,コーポ丸ノ内101,1級",
        ""]), "utf-8")
    [record] = read_records(path, system="shintai-techo")
    assert (record.name, record.name_kana, record.address) == ("山田 花子", "ヤマダ ハナコ", "高知市丸ノ内1-2-20 コーポ丸ノ内101")
    assert record.payload == {"等級": "1級"}  # the parts are contract columns, not payload
    registry = index_by_number([Resident(HANAKO, "山田　花子", dt.date(1980, 4, 1), 2, "高知市丸ノ内一丁目2番20号")])
    assert check(record, registry).outcome.value == "PASS"  # the joined fields meet the name and address rules


def test_split_and_single_name_columns_together_are_refused(tmp_path):
    path = write(tmp_path / "records.csv", f"レコード番号,個人番号,氏名,氏,名,生年月日,性別\nR-1,{HANAKO},山田 花子,山田,花子,1980-04-01,2\n",
                 "utf-8")
    with pytest.raises(CsvError, match=r"records\.csv, line 1: name: the header has 氏名 and also 氏 / 名; keep one layout"):
        list(read_records(path, system="shintai-techo"))


@pytest.mark.parametrize("header, message", [
    ("レコード番号,個人番号,名,生年月日,性別", "名 (given_name) needs 氏 (family_name) beside it"),
    ("レコード番号,個人番号,氏名,方書,生年月日,性別", "方書 (building) needs 住所 (address) beside it"),
])
def test_a_later_part_without_the_first_is_refused(tmp_path, header, message):
    path = write(tmp_path / "records.csv", header + "\n", "utf-8")
    with pytest.raises(CsvError, match=re.escape(message)):
        list(read_records(path, system="shintai-techo"))


def test_the_registry_parsers_common_case_gives_what_the_full_diagnosis_gives(tmp_path: Path) -> None:
    """The row parser's common-case path only skips tests it knows pass: on every row of a
    synthetic registry (every notation it writes) its values equal the field-by-field path's."""
    from linkguard.synthetic.corpus import make_corpus, write_corpus
    from streams import csvio

    path = write_corpus(make_corpus(records=2_000, seed=5), tmp_path / "corpus").registry
    layout = csvio._layout(path, csvio.detect_encoding(path), csvio._REGISTRY_ALIASES, csvio.REGISTRY_COLUMNS,
                           "registry")
    quick, full = csvio._RegistryRowParser(layout), csvio._RegistryRowParser(layout)
    rows = [row for chunk, _ in csvio._row_chunks(path, layout) for row in chunk]
    assert len(rows) > 2_000
    common, failure = quick.values_of([list(row) for row in rows])
    assert failure is None and len(common) == len(rows)
    for values, row in zip(common, rows):
        assert values == full._checked_values([*row, ""])
        assert [type(value) for value in values] == [type(value) for value in full._checked_values([*row, ""])]


def test_the_registry_parsers_columns_give_what_the_full_diagnosis_gives_row_by_row() -> None:
    """values_of (column by column) against _checked_values row by row, on rows mixed from good and
    bad values of every column: the same values up to the first bad row, and the same error for it."""
    import random

    from guards.exceptions import GuardError
    from streams import csvio

    good, bad = my_number(7), my_number(8)
    pools = {
        "my_number": [good, good, f"{good[:4]} {good[4:8]} {good[8:]}", f"{good[:4]}-{good[4:8]}-{good[8:]}",
                      f" {good} ", chr(ord(good[0]) + 0xFEE0) + good[1:], good[:11] + str((int(good[11]) + 1) % 10),
                      good[:11], "", f"{good[:4]}--{good[4:]}", good + "\t", "12345678901x"],
        "name": ["山田 花子", " 山田 花子 ", "", "   ", "Smith"],
        "address": ["高知市丸ノ内1-2-20", "", " 高知市 "],
        "resident_code": ["", "12345678901", "１2345678901", "1234567890", " ", "123456789012", "1234567890x"],
        "status": ["", "住民", "転出", "死亡", "消除", "resident", " 住民 ", "Moved-Out", "引越", " "],
        "status_date": ["", "", "", "2020-01-02", "令和2年1月2日", " ", "2020-02-30", "x"],
        "birth_date": ["1980-04-01", "昭和55年4月1日", "S55.4.1", "1980-02-30", "", "昭和64年1月8日", "19800401",
                       "1980/4/1", " 1980-04-01", "x"],
        "sex": ["1", "2", "男", "女性", "", "x", "1:男", " 2 "],
        "name_kana": ["ヤマダ ハナコ", " ヤマダ ", ""],
        "alias_name": ["", " Hana "],
        "previous_names": ["", "", "佐藤 花子", "佐藤 花子| 鈴木 花子 |", "|", " "],
        "previous_addresses": ["", "東京都千代田区", "a|b"],
        "previous_my_numbers": ["", "", good, f"{good}|{bad}", "1234", " "],
    }
    fields = list(pools)
    layout = csvio._Layout("utf-8", ",", len(fields), {field: index for index, field in enumerate(fields)}, (), ())
    rng = random.Random(11)
    for trial in range(600):
        odd = rng.choice((0.002, 0.01, 0.03, 0.3))  # how often a cell is drawn from all values, not the first two
        rows = [[rng.choice(pools[field] if rng.random() < odd else pools[field][:2]) for field in fields]
                for _ in range(rng.choice((1, 2, 5, 40, 200)))]
        columns, failure = csvio._RegistryRowParser(layout).values_of([list(row) for row in rows])
        full, expected, expected_failure = csvio._RegistryRowParser(layout), [], None
        for row in rows:
            try:
                expected.append(full._checked_values([*row, ""]))
            except GuardError as error:
                expected_failure = error
                break
        assert columns == expected, trial
        assert [[type(value) for value in values] for values in columns] == [
            [type(value) for value in values] for values in expected]
        assert (failure and (failure.field, failure.message)) == (
            expected_failure and (expected_failure.field, expected_failure.message)), trial


def test_a_plain_iso_date_reads_as_parse_date_reads_it() -> None:
    """The registry's YYYY-MM-DD shortcut (csvio._iso_date) gives parse_date's date, or leaves the
    value to parse_date (None): every day of four centuries, and values near the form."""
    from streams.csvio import _iso_date

    day, values = dt.date(1800, 1, 1), []
    while day.year < 2200:
        values.append(day.isoformat())
        day += dt.timedelta(days=1)
    values += ["1980-02-30", "1981-02-29", "0000-01-01", "1980-00-10", "1980-13-01", "1980-04-00", "1980-4-01",
               "1980-04-1", "1980/04/01", " 1980-04-01", "1980-04-01 ", "1980-04-0１", "+980-04-01", "1980-0x-01",
               "1980-04-01T", "19800401", "1980-W14-2", "1980--4-01", "", "-980-04-01", "1980-04--1"]
    taken = _agrees_with_parse_date(_iso_date, values)
    assert taken == sum(len(v) == 10 and v.isascii() and _parsed(v) is not None and v == _parsed(v).isoformat()
                        for v in values)  # every day written YYYY-MM-DD, nothing else


def _parsed(value: str):
    """parse_date's reading of a birth date, ``None`` where it refuses it."""
    from guards.normalize import parse_date

    try:
        return parse_date(value, "birth_date")
    except ValueError:
        return None


def _agrees_with_parse_date(shortcut, values) -> int:
    """That a date shortcut gives parse_date's date wherever it gives one; how many it took."""
    taken = 0
    for value in values:
        quick = shortcut(value)
        assert quick is None or quick == _parsed(value), value
        taken += quick is not None
    return taken


def _rows_one_at_a_time(path: Path, layout) -> list:
    """What csvio's row reader gave before it read in chunks (each row read with its line): the reference."""
    import csv

    out = []
    with open(path, encoding=layout.encoding, newline="") as handle:
        reader = csv.reader(handle, delimiter=layout.delimiter, strict=True)
        try:
            next(reader, None)
            previous_end = reader.line_num
            for row in reader:
                start, previous_end = previous_end + 1, reader.line_num
                if not row or (not row[0].strip() and not any(cell.strip() for cell in row)):
                    continue
                if len(row) != layout.width:
                    out.append(("error", start, f"the row has {len(row)} cells"))
                    return out
                out.append((start, row))
        except csv.Error:
            out.append(("error", reader.line_num, "not valid CSV"))
    return out


@pytest.mark.parametrize("seed", range(6))
def test_rows_read_in_chunks_are_the_rows_and_lines_read_one_at_a_time(tmp_path, monkeypatch, seed) -> None:
    """csvio._row_chunks (whole chunks of rows; lines counted, not asked for row by row) against the
    plain row-by-row reading, on files with blank rows, quoted line breaks (LF, CR LF, CR), quotes,
    rows of the wrong width and broken quoting, with chunks of a few rows so that every case meets
    a chunk's edge."""
    import random

    from streams import csvio

    rng = random.Random(seed)
    cells = ["a", "山田", "", " ", '"x,y"', '"say ""hi"""', '"two\nlines"', '"two\r\nlines"', '"cr\ronly"',
             '"\n"', '"a\n\nb"', "b\x00c"]
    for trial in range(40):
        lines = ["c1,c2,c3"]
        for _ in range(rng.randint(0, 30)):
            shape = rng.random()
            if shape < 0.05:
                lines.append("")
            elif shape < 0.1:
                lines.append(",,")
            elif shape < 0.12:
                lines.append("a,b")  # too few cells
            elif shape < 0.14:
                lines.append('a,"b"c,d')  # broken quoting
            else:
                lines.append(",".join(rng.choice(cells if rng.random() < 0.3 else cells[:2]) for _ in range(3)))
        ending = rng.choice(["\n", "\r\n"])
        path = tmp_path / f"t{trial}.csv"
        path.write_bytes((ending.join(lines) + rng.choice(["", ending])).encode("utf-8"))
        layout = csvio._layout(path, "utf-8", csvio._RECORD_ALIASES, (), "records")
        expected = _rows_one_at_a_time(path, layout)
        monkeypatch.setattr(csvio, "_CHUNK_ROWS", rng.choice((1, 2, 3, 7, 512)))
        got = []
        try:
            for rows, starts in csvio._row_chunks(path, layout):
                assert len(rows) == len(starts)
                got += zip(starts, rows)
        except csvio.CsvError as error:
            got.append(("error", error.line, "not valid CSV" if "not valid CSV" in error.problem
                        else error.problem[:error.problem.index(" cells") + 6]))
        assert got == [item if item[0] == "error" else (item[0], item[1]) for item in expected], (trial, lines)


@pytest.mark.parametrize("header, system", [
    ("record_id,system,atena_no,my_number,name,birth_date,sex,operation,batch_id,証書番号,,更新日時", None),
    ("record_id,system,atena_no,my_number,name,birth_date,sex,operation,batch_id,証書番号,,更新日時", "shintai-techo"),
    ("管理番号,マイナンバー,氏名,生年月日,性別", "jido-fuyo"),
    ("管理番号,事務,,マイナンバー,氏,名,生年月日,性別", None),
])
def test_the_record_parsers_columns_give_what_row_by_row_gives(tmp_path, header, system) -> None:
    """records_of (column by column) against _checked_record row by row, on rows mixed from good and
    bad cells (no key, no system, invisible characters, unprintable but visible ones, unnamed cells,
    operations): the same records, payloads too, up to the first refused row, and the same error."""
    import random

    from guards.exceptions import GuardError
    from streams import csvio

    path = write(tmp_path / "records.csv", header + "\n", "utf-8")
    layout = csvio._layout(path, "utf-8", csvio._RECORD_ALIASES, csvio.RECORD_COLUMNS, "records")
    # cells the importer takes, and cells it may refuse (as a key or a system, or in an identifier)
    taken = ["R-1", " R-2 ", "R\t5", "shintai-techo", " ｊｉｄｏ-fuyo ", "新規", "delete", "更新", "x", "山田 花子", "B-1"]
    refused = ["", "  ", "\ufeffR-3", "R\u200b4", "\u3000"]
    rng = random.Random(3)
    for trial in range(300):
        odd, bad = rng.choice((0.01, 0.1, 0.3)), rng.choice((0, 0.0005, 0.003, 0.05))
        rows = [[rng.choice(refused) if rng.random() < bad else rng.choice(taken) if rng.random() < odd
                 else rng.choice(("R-9", "shintai-techo", "1", "新規"))
                 for _ in range(layout.width + len(layout.joins))] for _ in range(rng.choice((1, 3, 40, 300)))]
        parser = csvio._RecordRowParser(layout, system)
        columns, failure = parser.records_of([list(row) for row in rows])
        expected, expected_failure = [], None
        for row in rows:
            try:
                expected.append(csvio._RecordRowParser(layout, system)._checked_record([*row, ""]))
            except GuardError as error:
                expected_failure = error
                break
        assert columns == expected, trial
        assert [dict(record.payload) for record in columns] == [dict(record.payload) for record in expected], trial
        assert [list(record.payload) for record in columns] == [list(record.payload) for record in expected], trial
        assert (failure and (failure.field, failure.message)) == (
            expected_failure and (expected_failure.field, expected_failure.message)), trial


@pytest.mark.parametrize("encoding, bom, bad", [("utf-8", b"", b"\xff"), ("utf-8-sig", b"\xef\xbb\xbf", b"\xff"),
                                                ("utf-8", b"\xef\xbb\xbf", b"\xff"), ("cp932", b"", b"\x80")])
def test_a_bad_byte_is_found_at_its_line_and_offset_whatever_the_chunks(tmp_path, monkeypatch, encoding, bom, bad):
    """The encoding check reads the file in chunks cut after a newline: the first bad byte's line and
    byte offset (counted from the file's first byte, a BOM's three included) are the same for any chunk
    size, past a BOM too, and a BOM at a chunk's start inside the file is no error."""
    import random

    from streams import csvio

    rng = random.Random(5)
    lines = [("山田 花子,高知市" + "x" * rng.randint(0, 30) + "\r\n").encode(encoding.replace("-sig", ""))
             for _ in range(60)]
    lines[20] = b"\xef\xbb\xbf" + lines[20] if encoding.startswith("utf-8") else lines[20]  # a joined file's BOM
    body = bom + b"".join(lines)
    clean = tmp_path / "clean.csv"
    clean.write_bytes(body)
    # between two whole characters: after an ASCII byte (a comma, a letter, a line's end)
    positions = [index + 1 for index, byte in enumerate(body[:-1]) if byte < 0x80 and index >= len(bom)]
    for trial in range(20):
        position = rng.choice(positions)
        path = tmp_path / f"t{trial}.csv"
        path.write_bytes(body[:position] + bad + body[position:])
        for chunk in (7, 64, 1 << 17):
            monkeypatch.setattr(csvio, "_CHUNK_BYTES", chunk)
            assert detect_encoding(clean, encoding) == ("utf-8-sig" if bom else encoding)
            with pytest.raises(UndecodableFile) as caught:
                detect_encoding(path, encoding)
            assert (caught.value.line, caught.value.offset) == (body[:position].count(b"\n") + 1, position), chunk


def test_an_era_date_as_registries_write_it_reads_as_parse_date_reads_it() -> None:
    """The registry's 昭和55年4月1日 shortcut (csvio._era_date) gives parse_date's date, or leaves the value
    to parse_date (None): every day from 1868 to 2100 in every era's kanji and letter (inside the era or not,
    年 0, 元年, two-digit and zero-padded numbers), and values near the form."""
    from guards.normalize import ERAS
    from streams.csvio import _era_date

    values = ["昭和0年1月1日", "昭和00年1月1日", "平成元年1月7日", "令和元年5月1日", "昭和55年4月1日生", "昭和55年4月1",
              "S55.4.1日", "s55.4.1", "S.55.4.1", "S 55.4.1", "S55/4/1", "S55.4.1.", "H元.1.8", "H0.1.8", "X55.4.1",
              "昭和55.4.1", "S55年4月1日", "S5５.4.1", "S55.4.1 ", "M45.7.30", "T1.7.30", "R1.4.30",
              "昭和５５年4月1日", " 昭和55年4月1日", "昭和55年04月01日", "昭和055年4月1日", "昭55年4月1日", "S55年4月1日",
              "昭和55年13月1日", "昭和55年2月30日", "平成31年5月1日", "平成32年1月1日", "大正15年12月25日", "明治1年1月1日"]
    day = dt.date(1868, 1, 1)
    while day.year <= 2100:
        for era in ERAS:
            year = day.year - era.first_day.year + 1
            if 0 <= year <= 99:
                values.append(f"{era.kanji}{'元' if year == 1 and day.day % 2 else year}年{day.month}月{day.day}日")
                values.append(f"{era.letter}{year}.{day.month}.{day.day}")
                if day.day == 9:
                    values.append(f"{era.kanji}{year:02d}年{day.month:02d}月{day.day:02d}日")
                    values.append(f"{era.letter}{year:02d}.{day.month:02d}.{day.day:02d}")
        day += dt.timedelta(days=1)
    assert len(values) > 200_000
    assert _agrees_with_parse_date(_era_date, values) > 100_000


def test_a_registry_packed_in_parts_unpacks_to_the_residents_read_whole(tmp_path: Path) -> None:
    """packed_registry_part / residents_from_packed, part by part, on a synthetic registry (every
    notation it writes: status dates, histories, former numbers) with a NUL in a name (its column
    crosses as a list): the residents read whole, field for field."""
    from linkguard.synthetic.corpus import make_corpus, write_corpus
    from streams import csvio

    path = write_corpus(make_corpus(records=2_000, seed=7), tmp_path / "corpus").registry
    lines = path.read_text(encoding="utf-8-sig").splitlines(keepends=True)
    lines[500] = lines[500].replace(",", "\x00,", 3).replace("\x00", "", 2)  # the third cell (氏名) ends in NUL
    path.write_text("".join(lines), encoding="utf-8")
    whole = list(read_registry(path))
    assert any(resident.name.endswith("\x00") for resident in whole)
    assert any(resident.status_date for resident in whole) and any(resident.previous_my_numbers for resident in whole)
    parts = csvio.registry_parts(path, smallest=0, shares=(0.2, 0.5, 0.9))
    csvio._PART_PARSER = None
    unpacked = [resident for part in range(len(parts))
                for resident in csvio.residents_from_packed(csvio.packed_registry_part(parts, part))]
    assert unpacked == whole
    assert [[type(getattr(r, f)) for f in csvio.REGISTRY_FIELDS] for r in unpacked] == [
        [type(getattr(r, f)) for f in csvio.REGISTRY_FIELDS] for r in whole]


def test_records_packed_in_chunks_unpack_to_the_records_read(tmp_path: Path) -> None:
    """packed_records / records_from_packed over every extract of a synthetic corpus (each system's own
    headers and payload columns, CP932 files), chunk by chunk, with a NUL in a name and a value in an
    unnamed column in the same chunk: the records read, field for field, payload for payload, in order."""
    import dataclasses

    from linkguard.synthetic.corpus import make_corpus, write_corpus
    from streams import csvio

    files = write_corpus(make_corpus(records=2_000, seed=7), tmp_path / "corpus").records
    read = [record for system, path in files for _, record in csvio.read_records_with_lines(path, system=system)]
    read[700] = dataclasses.replace(read[700], name=read[700].name + "\x00")
    read[701] = dataclasses.replace(read[701], payload={**read[701].payload, "column 20": "x"})
    assert len({tuple(r.payload) for r in read}) > 2
    unpacked = [record for start in range(0, len(read), 300)
                for record in csvio.records_from_packed(csvio.packed_records(read[start:start + 300]))]
    assert [(*dataclasses.astuple(r)[:-1], tuple(r.payload.items())) for r in unpacked] == [
        (*dataclasses.astuple(r)[:-1], tuple(r.payload.items())) for r in read]
    assert all(type(value) is str for r in unpacked for value in (*dataclasses.astuple(r)[:-1], *r.payload.values()))

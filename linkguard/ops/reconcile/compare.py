"""点検B: the sink's intermediate-server copies against a business-system extract — pure logic.

The second kind of inspection compares what was registered to the
intermediate server with what the business system holds today. For one
process (``--system CODE``) every record falls in one of:

- ``DIFFERS`` — a live copy and an extract row, some field different after
  the guard's normalisation (:func:`compare`): 齋藤/斎藤, full-width digits,
  ``昭和55年4月1日``/``1980-04-01``, ``男``/``1`` or ``一丁目2番20号``/``1-2-20``
  are the same value; another My Number, another birth date or a changed
  business payload (手帳番号, 等級 …) is a difference;
- ``MISSING`` — a linked, current extract row with no live copy (never
  verified, held for review, or withdrawn);
- ``EXTRA`` — a live copy that should not exist: its record is not in the
  extract, the extract marks it deleted, or the extract row carries no number
  (not linked, so never to be sent).

Rows of the extract without a number and without a copy are consistent and
not reported. Withdrawn copies are not live: they count only as the reason a
row is missing. Nothing here touches a database or a file;
:mod:`linkguard.ops.reconcile.store` reads the copies and :mod:`linkguard.ops.reconcile.output`
writes the outputs. Every value a finding shows passes through :func:`shown`,
which masks My Numbers.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field

from guards import japanese, normalize
from guards.exceptions import GuardError
from guards.model import Record
from guards.masking import mask, redact
from guards.number import compact

__all__ = ["Status", "CopyView", "FieldDiff", "Finding", "Reconciliation", "compare", "reconcile",
           "same_value", "shown", "FIELDS"]


class Status(str, enum.Enum):
    DIFFERS = "DIFFERS"
    MISSING = "MISSING"
    EXTRA = "EXTRA"

    @property
    def label_ja(self) -> str:
        return {"DIFFERS": "内容不一致", "MISSING": "副本なし", "EXTRA": "不要な副本"}[self.value]


@dataclass(frozen=True, slots=True)
class CopyView:
    """The fields of one intermediate-server copy that the extract can confirm."""

    system: str
    record_id: str
    my_number: str
    name: str = ""
    birth_date: str = ""
    sex: str = ""
    address: str = ""
    atena_no: str = ""
    payload: Mapping[str, str] = field(default_factory=dict, hash=False, compare=False)
    withdrawn_reason: str | None = None  # None: live

    @property
    def live(self) -> bool:
        return self.withdrawn_reason is None


@dataclass(frozen=True, slots=True)
class FieldDiff:
    """One field that differs: its name and both values as shown (numbers masked)."""

    field: str
    sink: str
    extract: str


@dataclass(frozen=True, slots=True)
class Finding:
    system: str
    record_id: str
    status: Status
    diffs: tuple[FieldDiff, ...] = ()
    note: str = ""

    @property
    def fields(self) -> str:
        return ", ".join(d.field for d in self.diffs)


@dataclass(frozen=True)
class Reconciliation:
    system: str
    copies: int  # live copies of the system in the sink
    extract_rows: int
    findings: tuple[Finding, ...]

    def count(self, status: Status) -> int:
        return sum(1 for f in self.findings if f.status is status)

    @property
    def consistent(self) -> bool:
        return not self.findings


# ---------------------------------------------------------------- normalised comparison


def _date(value: str) -> str:
    """A date as ISO, whatever form it came in; unreadable dates compare as text.

    >>> _date('昭和55年4月1日'), _date('S55.4.1'), _date('1980/4/1'), _date('昭和64年1月8日')
    ('1980-04-01', '1980-04-01', '1980-04-01', '昭和64年1月8日')
    """
    try:
        return normalize.parse_date(value).isoformat()
    except GuardError:
        return normalize.text(value)


def _sex(value: str) -> str:
    """Sex as its code, whatever form it came in; unreadable values compare as text.

    >>> _sex('男'), _sex('1'), _sex('Ｍ'), _sex('?')
    ('1', '1', '1', '?')
    """
    try:
        return str(normalize.parse_sex(value))
    except GuardError:
        return normalize.text(value)


def _names_match(a: str, b: str) -> bool:
    """Same name for the guard: equal normalised forms, or the same characters up to 異体字.

    >>> _names_match('齋藤　花子', '斎藤 花子'), _names_match('渡邊 一郎', '渡邉一郎'), _names_match('斎藤 花子', '斉藤 花子')
    (True, True, False)
    """
    if normalize.name(a) == normalize.name(b):
        return True
    return japanese.compare_names(japanese.name_key(a), japanese.name_key(b)) is not None


#: the compared fields: name → "are these two raw values the same?"
FIELDS: dict[str, Callable[[str, str], bool]] = {
    "my_number": lambda a, b: compact(a) == compact(b),
    "name": _names_match,
    "birth_date": lambda a, b: _date(a) == _date(b),
    "sex": lambda a, b: _sex(a) == _sex(b),
    "address": lambda a, b: normalize.address(a) == normalize.address(b),
    "atena_no": lambda a, b: normalize.text(a) == normalize.text(b),
}


def same_value(field_name: str, a: str | None, b: str | None) -> bool:
    """Whether two raw values of a field are the same after the guard's normalisation.

    >>> same_value('my_number', '6214 9832 0257', '621498320257')
    True
    >>> same_value('address', '高知県高知市丸ノ内一丁目2番20号', '高知市丸ノ内１－２－２０')
    True
    >>> same_value('payload', '２級', '2級'), same_value('payload', '2級', '3級')
    (True, False)
    """
    a, b = a or "", b or ""
    if a == b:
        return True
    same = FIELDS.get(field_name, lambda x, y: normalize.text(x) == normalize.text(y))
    return same(a, b)


def shown(field_name: str, value: str | None) -> str:
    """A value as reports show it: My Numbers masked (last four digits).

    >>> shown('my_number', '621498320257'), shown('name', '山田 花子')
    ('**** **** 0257', '山田 花子')
    """
    value = value or ""
    return mask(value) if field_name == "my_number" else value


def compare(copy: CopyView, record: Record) -> tuple[FieldDiff, ...]:
    """The fields in which a copy and an extract row differ (payload fields as ``payload.<column>``).

    >>> c = CopyView('jido-fuyo', 'JF-1', '621498320257', '齋藤 花子', '1980-04-01', '2', '高知市本町1-1',
    ...              payload={'等級': '2級'})
    >>> r = Record('jido-fuyo', 'JF-1', '6214-9832-0257', '斎藤　花子', '昭和55年4月1日', '女',
    ...            '高知県高知市本町一丁目1番', payload={'等級': '２級'})
    >>> compare(c, r)
    ()
    >>> r2 = Record('jido-fuyo', 'JF-1', '621498320265', '斎藤 花子', '1980-04-02', '2', '高知市本町1-1',
    ...             payload={'等級': '3級'})
    >>> [(d.field, d.sink, d.extract) for d in compare(c, r2)]  # doctest: +NORMALIZE_WHITESPACE
    [('my_number', '**** **** 0257', '**** **** 0265'), ('birth_date', '1980-04-01', '1980-04-02'),
     ('payload.等級', '2級', '3級')]
    """
    diffs = []
    for name in FIELDS:
        a, b = getattr(copy, name), getattr(record, name)
        if not same_value(name, a, b):
            diffs.append(FieldDiff(name, shown(name, a), shown(name, b)))
    for key in sorted(set(copy.payload) | set(record.payload)):
        a, b = copy.payload.get(key, ""), record.payload.get(key, "")
        if not same_value("payload", a, b):
            diffs.append(FieldDiff(f"payload.{key}", normalize_for_show(a), normalize_for_show(b)))
    return tuple(diffs)


def normalize_for_show(value: str) -> str:
    """Payload values as shown: any 12-digit run masked (a number keyed into a free column).

    >>> normalize_for_show('番号621498320257あり')
    '番号**** **** 0257あり'
    """
    return redact(value, mask)


# ---------------------------------------------------------------- the whole system


def reconcile(system: str, copies: Iterable[CopyView], records: Iterable[Record], *,
              open_holds: Iterable[str] = ()) -> Reconciliation:
    """Compare every copy of ``system`` with every extract row of it.

    ``copies`` may include withdrawn ones (they explain a missing copy);
    ``open_holds`` are record ids waiting for a reviewer (they explain one too).
    A record id that appears twice in the extract counts once, its last row
    (a later row of an extract is the later state).

    >>> live = CopyView('s', 'A', '621498320257', '山田 花子', '1980-04-01', '2', '')
    >>> gone = CopyView('s', 'B', '621498320265', '山田 一郎', '1979-01-01', '1', '', withdrawn_reason='deleted')
    >>> rows = [Record('s', 'A', '621498320257', '山田 花子', 'S55.4.1', '女'),
    ...         Record('s', 'B', '621498320265', '山田 一郎', '1979-01-01', '男'),
    ...         Record('s', 'C', '', '山田 次郎', '1985-01-01', '男')]
    >>> result = reconcile('s', [live, gone], rows)
    >>> [(f.record_id, f.status.value, f.note) for f in result.findings]
    [('B', 'MISSING', 'copy withdrawn (deleted)')]
    >>> result = reconcile('s', [live], rows[1:])
    >>> [(f.record_id, f.status.value, f.note) for f in result.findings]
    [('A', 'EXTRA', 'not in the extract'), ('B', 'MISSING', '')]
    """
    extract: dict[str, Record] = {}
    for record in records:
        if record.system == system:
            extract[record.record_id] = record
    held = set(open_holds)
    by_id = {c.record_id: c for c in copies if c.system == system}
    findings: list[Finding] = []
    for record_id in sorted(set(extract) | set(by_id), key=_natural):
        copy, record = by_id.get(record_id), extract.get(record_id)
        live = copy is not None and copy.live
        wanted = record is not None and record.operation != "delete" and bool(compact(record.my_number))
        if live and record is None:
            findings.append(Finding(system, record_id, Status.EXTRA, note="not in the extract"))
        elif live and record.operation == "delete":
            findings.append(Finding(system, record_id, Status.EXTRA, note="deleted in the extract"))
        elif live and not wanted:
            findings.append(Finding(system, record_id, Status.EXTRA,
                                    diffs=(FieldDiff("my_number", shown("my_number", copy.my_number), ""),),
                                    note="no number in the extract: not linked"))
        elif live:
            diffs = compare(copy, record)
            if diffs:
                findings.append(Finding(system, record_id, Status.DIFFERS, diffs))
        elif wanted:
            note = ("held for review" if record_id in held
                    else f"copy withdrawn ({copy.withdrawn_reason})" if copy is not None else "")
            findings.append(Finding(system, record_id, Status.MISSING, note=note))
    return Reconciliation(system, sum(1 for c in by_id.values() if c.live), len(extract), tuple(findings))


def _natural(record_id: str) -> tuple:
    """Sort key putting ST-2 before ST-10.

    >>> sorted(['ST-10', 'ST-2', 'A'], key=_natural)
    ['A', 'ST-2', 'ST-10']
    """
    import re

    return tuple((0, int(p), "") if p.isdigit() else (1, 0, p) for p in re.split(r"(\d+)", record_id) if p)

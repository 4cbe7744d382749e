"""The batch inspection a prefecture runs by hand (``linkguard inspect``).

It applies exactly the rules the stream applies — :func:`guards.check`
against :func:`guards.index_by_number` of the registry — to whole extracts,
and adds one thing the stream cannot know cheaply: for a held record, the
number the registry would give the person (``suggested_my_number``).

>>> import datetime as dt
>>> from guards import Record, Resident
>>> hanako = Resident('621498320257', '山田 花子', dt.date(1980, 4, 1), 2, '高知市丸ノ内1-2-20')
>>> taro = Resident('123456789018', '山田 太郎', dt.date(1975, 1, 2), 1, '高知市本町1-1')
>>> records = [
...     Record('shintai-techo', 'A-1', '621498320257', '山田　花子', 'S55.4.1', '女'),
...     Record('shintai-techo', 'A-2', '621498320257', '山田 太郎', '1975-01-02', '男'),
...     Record('shintai-techo', 'A-3', '', '山田 太郎', '1975-01-02', '男'),
... ]
>>> result = inspect([hanako, taro], records)
>>> [(r.record.record_id, r.verdict.outcome.value, r.verdict.reason_codes, r.verdict.suggested_my_number)
...  for r in result]
[('A-1', 'PASS', '', ''), ('A-2', 'HOLD', 'IDENTITY_MISMATCH', '123456789018'), ('A-3', 'INVALID', 'NOT_LINKED', '')]

Suggestions
-----------
The data contract: where the registry identifies exactly one resident by the
record's name, birth date and sex (and address, to break a tie), that
resident's number is suggested when it differs from the record's; never
when two residents fit. The look-up is :func:`suggest_number` over an
:func:`build_identity_index`; both are pure and use only ``guards``
normalisation, so they can move into ``guards`` unchanged.

- The name is compared as the guard compares it (``normalize.name`` without
  spaces). A resident fits by the current name, any former name
  (旧氏名) or the registered alias (通称) — the same names
  :func:`guards.check` accepts. Counting more names as fitting can only
  make an answer *ambiguous*, never wrong.
- Every resident in the extract fits, whatever the status (死亡, 消除,
  転出): an ambiguous answer is safer than a suggestion that silently
  skipped someone.
- The tie is broken only by the address (current or former, ``normalize.address``),
  and only when the record has one; one fitting resident must remain.
- A suggestion the guard already made (``NUMBER_SUPERSEDED``: the record
  holds the resident's former number) is kept as it is.
- Only ``HOLD`` verdicts get suggestions: a PASS needs none, an INVALID row
  cannot be looked up.

Suggested numbers are My Numbers: they go to ``verdicts.csv`` only, never
to a log, the summary or the report.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import gc
import os
import time
from collections import Counter
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Callable, Collection, Iterable, Iterator, NamedTuple, Sequence, TypeVar

from guards import Outcome, Record, Resident, Verdict, check, index_by_number
from guards import normalize
from guards.exceptions import GuardError
from guards.number import compact

__all__ = [
    "IdentityKey",
    "IdentityIndex",
    "InspectedRow",
    "InspectionResult",
    "InspectionSummary",
    "build_identity_index",
    "identity_key",
    "inspect",
    "run_inspection",
    "suggest_number",
    "summarize",
]

T = TypeVar("T")


# --------------------------------------------------------------------------
# the 4-item look-up (pure; may move to guards)
# --------------------------------------------------------------------------

class IdentityKey(NamedTuple):
    """Name (normalised, without spaces), birth date and sex code."""

    name: str
    birth_date: dt.date
    sex: int


def _name_key(value: str) -> str:
    # the same comparison as guards.check.identity_problems
    return normalize.name(value).replace(" ", "")


def identity_key(record: Record) -> IdentityKey | None:
    """The key a record is looked up by; ``None`` if a part is missing or unreadable.

    >>> identity_key(Record('s', '1', '', 'ﾔﾏﾀﾞ　ﾊﾅｺ', '昭和55年4月1日', '女'))
    IdentityKey(name='ヤマダハナコ', birth_date=datetime.date(1980, 4, 1), sex=2)
    >>> identity_key(Record('s', '1', '', '山田花子', '昭和64年1月8日', '女')) is None
    True
    """
    name = _name_key(record.name)
    if not name:
        return None
    try:
        return IdentityKey(name, normalize.parse_date(record.birth_date, "birth_date"),
                           normalize.parse_sex(record.sex))
    except GuardError:
        return None


def _resident_keys(resident: Resident) -> set[IdentityKey]:
    names = {_name_key(resident.name), *(_name_key(n) for n in resident.previous_names)}
    if resident.alias_name:
        names.add(_name_key(resident.alias_name))
    names.discard("")
    return {IdentityKey(n, resident.birth_date, resident.sex) for n in names}


class IdentityIndex:
    """Residents by :class:`IdentityKey`. Built by :func:`build_identity_index`.

    Values are stored as a bare :class:`Resident` while a key has one
    resident (the usual case: no tuple per resident for a million-row
    registry) and as a tuple once a second resident shares it.
    """

    __slots__ = ("_map",)

    def __init__(self) -> None:
        self._map: dict[IdentityKey, Resident | tuple[Resident, ...]] = {}

    def add(self, key: IdentityKey, resident: Resident) -> None:
        # one person (one current number) counts once, even if the extract repeats them
        held = self._map.get(key)
        if held is None:
            self._map[key] = resident
        elif isinstance(held, tuple):
            if all(r.my_number != resident.my_number for r in held):
                self._map[key] = (*held, resident)
        elif held.my_number != resident.my_number:
            self._map[key] = (held, resident)

    def candidates(self, key: IdentityKey) -> tuple[Resident, ...]:
        """Every resident the key fits (empty when none)."""
        held = self._map.get(key)
        if held is None:
            return ()
        return held if isinstance(held, tuple) else (held,)

    def __len__(self) -> int:
        return len(self._map)


def build_identity_index(residents: Iterable[Resident],
                         only: Collection[IdentityKey] | None = None) -> IdentityIndex:
    """Index residents by name (current, former, alias), birth date and sex.

    ``only`` restricts the index to the keys that will be looked up (the
    batch inspection passes the keys of its held records), which keeps a
    million-resident registry cheap.
    """
    index = IdentityIndex()
    if only is None:
        for resident in residents:
            for key in _resident_keys(resident):
                index.add(key, resident)
        return index
    # birth date and sex are compared before any name is normalised: most
    # residents are skipped without the (comparatively slow) NFKC work
    dates = {(k.birth_date, k.sex) for k in only}
    for resident in residents:
        if (resident.birth_date, resident.sex) in dates:
            for key in _resident_keys(resident):
                if key in only:
                    index.add(key, resident)
    return index


def suggest_number(record: Record, identity_index: IdentityIndex) -> str:
    """The number of the one resident the record's 4 items identify, if it differs.

    Empty when no resident fits, when two or more fit (and the address does
    not leave exactly one), or when the fitting resident's number is the
    record's own.

    >>> a = Resident('621498320257', '山田 花子', dt.date(1980, 4, 1), 2, '高知市丸ノ内1-2-20')
    >>> b = Resident('123456789018', '山田 花子', dt.date(1980, 4, 1), 2, '高知市本町1-1')
    >>> rec = Record('s', '1', '999999999999', '山田花子', '1980-04-01', '2')
    >>> suggest_number(rec, build_identity_index([a]))
    '621498320257'
    >>> suggest_number(rec, build_identity_index([a, b]))  # two fit: nothing
    ''
    >>> suggest_number(replace(rec, address='高知市本町１－１'), build_identity_index([a, b]))
    '123456789018'
    >>> suggest_number(replace(rec, my_number='6214 9832 0257'), build_identity_index([a]))
    ''
    """
    key = identity_key(record)
    if key is None:
        return ""
    fitting = identity_index.candidates(key)
    if len(fitting) > 1:
        address = normalize.address(record.address)
        if not address:
            return ""
        fitting = tuple(
            r for r in fitting
            if address == normalize.address(r.address)
            or address in {normalize.address(a) for a in r.previous_addresses}
        )
    if len(fitting) != 1:
        return ""
    number = fitting[0].my_number
    return "" if number == compact(record.my_number) else number


# --------------------------------------------------------------------------
# inspection
# --------------------------------------------------------------------------

class InspectedRow(NamedTuple):
    """One input record and its verdict."""

    record: Record
    verdict: Verdict


@dataclass
class InspectionResult:
    """Every input record with its verdict, in input order.

    ``systems`` lists process codes that were inspected even if they had no
    record (the report shows them with zero counts).
    """

    rows: list[InspectedRow]
    systems: tuple[str, ...] = ()
    residents: int = 0

    def __iter__(self) -> Iterator[InspectedRow]:
        return iter(self.rows)

    def __len__(self) -> int:
        return len(self.rows)


def inspect(residents: Iterable[Resident], records: Iterable[Record], *,
            systems: Sequence[str] = ()) -> InspectionResult:
    """Check every record against the registry with :func:`guards.check`,
    then add suggestions to held records (see the module docstring).

    ``records`` is consumed once, lazily (so a caller can show progress);
    ``residents`` is read twice when suggestions are needed, so an iterator
    is first turned into a list.
    """
    if not isinstance(residents, (list, tuple)):
        residents = list(residents)
    view = index_by_number(residents)
    rows = [InspectedRow(record, check(record, view)) for record in records]

    wanted: dict[int, IdentityKey] = {}
    for i, (record, verdict) in enumerate(rows):
        if verdict.outcome is Outcome.HOLD and not verdict.suggested_my_number:
            key = identity_key(record)
            if key is not None:
                wanted[i] = key
    if wanted:
        identities = build_identity_index(residents, only=set(wanted.values()))
        for i in wanted:
            record, verdict = rows[i]
            number = suggest_number(record, identities)
            if number:
                rows[i] = InspectedRow(record, replace(verdict, suggested_my_number=number))
    return InspectionResult(rows, tuple(systems), len(residents))


@dataclass
class InspectionSummary:
    """Counts for the CLI to print. Holds no My Number and no record content."""

    total: int
    by_verdict: dict[str, int]  # PASS / HOLD / INVALID, all three present
    by_system: dict[str, dict[str, int]]  # system code -> verdict -> records
    by_reason: dict[str, int]  # reason code -> records carrying it (any verdict)
    suggestions: int
    residents: int
    seconds: float = 0.0
    outputs: dict[str, Path] = field(default_factory=dict)

    @property
    def records_per_second(self) -> float:
        return self.total / self.seconds if self.seconds else 0.0


def summarize(result: InspectionResult, seconds: float = 0.0,
              outputs: dict[str, Path] | None = None) -> InspectionSummary:
    """Count a result by verdict, by system and by reason code."""
    by_verdict = {o.value: 0 for o in Outcome}
    by_system: dict[str, dict[str, int]] = {s: {o.value: 0 for o in Outcome} for s in result.systems}
    by_reason: Counter[str] = Counter()
    suggestions = 0
    for record, verdict in result.rows:
        outcome = verdict.outcome.value
        by_verdict[outcome] += 1
        by_system.setdefault(record.system, {o.value: 0 for o in Outcome})[outcome] += 1
        by_reason.update({r.value for r in verdict.reasons})
        suggestions += bool(verdict.suggested_my_number)
    return InspectionSummary(
        total=len(result.rows), by_verdict=by_verdict, by_system=by_system,
        by_reason=dict(by_reason.most_common()), suggestions=suggestions,
        residents=result.residents, seconds=seconds, outputs=dict(outputs or {}),
    )


def run_inspection(registry_path: str | os.PathLike, system_files: list[tuple[str, Path]],
                   out_dir: str | os.PathLike, encoding: str | None = None,
                   progress: bool = True, catalogue=None) -> InspectionSummary:
    """Read the registry and each process's extract, inspect, write
    ``verdicts.csv``, ``report.csv`` and ``report.html`` into ``out_dir``.

    ``system_files`` pairs a process code with its extract; an empty code
    means the file names the process in a ``system`` / ``事務`` column.
    A progress bar (on stderr) follows reading and checking. File errors
    (``streams.csvio.CsvError``, ``OSError``) propagate to the caller.
    """
    from linkguard import report
    from streams import csvio

    started = time.perf_counter()
    with _gc_paused():
        result = _read_and_inspect(Path(registry_path), system_files, encoding, progress, csvio)
    outputs = report.write_all(result, Path(out_dir), catalogue=catalogue)
    return summarize(result, time.perf_counter() - started, outputs)


def _read_and_inspect(registry_path: Path, system_files: list[tuple[str, Path]],
                      encoding: str | None, progress: bool, csvio) -> InspectionResult:
    from rich.console import Console
    from rich.progress import (BarColumn, MofNCompleteColumn, Progress, TextColumn,
                               TimeElapsedColumn, TimeRemainingColumn)
    from rich.markup import escape  # a code or file name like "[red]x" is shown, not interpreted

    bar = Progress(
        TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
        TextColumn("行"), TimeElapsedColumn(), TimeRemainingColumn(),
        console=Console(stderr=True), disable=not progress, transient=False,
    )
    with bar:
        task = bar.add_task(escape(f"台帳 {registry_path.name}"), total=_count_lines(registry_path) - 1 or None)
        residents = list(_tick(csvio.read_registry(registry_path, encoding=encoding),
                               lambda n: bar.update(task, completed=n)))
        bar.update(task, total=len(residents), completed=len(residents))

        def records() -> Iterator[Record]:
            for code, path in system_files:
                path = Path(path)
                task = bar.add_task(escape(f"{code or '-'} {path.name}"), total=_count_lines(path) or None)
                line = 0
                for n, (line, record) in enumerate(
                        csvio.read_records_with_lines(path, system=code or None, encoding=encoding), 1):
                    if n % 2000 == 0:
                        bar.update(task, completed=line)
                    yield record
                bar.update(task, total=line, completed=line)

        return inspect(residents, records(), systems=[c for c, _ in system_files if c])


@contextlib.contextmanager
def _gc_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector while a million-row registry is read
    and checked: these objects form no cycles, yet every full collection
    would walk all of them (measured: about a quarter of the run time)."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def _tick(items: Iterable[T], update: Callable[[int], None], every: int = 5000) -> Iterator[T]:
    n = 0
    for n, item in enumerate(items, 1):
        if n % every == 0:
            update(n)
        yield item
    update(n)


def _count_lines(path: Path) -> int:
    """Physical lines in a file (for the progress bar's total only)."""
    count = 0
    last = b"\n"
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            count += chunk.count(b"\n")
            last = chunk[-1:]
    return count + (last != b"\n")

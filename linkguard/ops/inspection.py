"""The batch inspection a prefecture runs by hand (``linkguard inspect``).

It applies exactly the rules the stream applies — :func:`guards.check`
against :func:`guards.index_by_number` of the registry, then the context
rules of :mod:`guards.context` (family numbers, batch swaps, shared
numbers, the date rule for deceased and erased residents, number
suggestions) — to whole extracts, through :func:`guards.context.check_all`.

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
[('A-1', 'PASS', '', ''), ('A-2', 'HOLD', 'IDENTITY_MISMATCH;SHARED_NUMBER', '123456789018'), ('A-3', 'INVALID', 'NOT_LINKED', '')]

The context
-----------
A record is judged against *every* other record of the inspection: its
batch is every record of the same system and ``batch_id`` in any of the
files, its links every record in any file with the same number, earlier and
later alike. So a record's verdict does not depend on the order of the
files or of their rows, and it is the verdict the stream reaches once it
has seen the same records (the stream re-checks earlier records when a
later one changes them). Where a ``(system, record_id)`` occurs more than
once, the others see its last row (the newest event wins), while each row
still gets its own verdict.

Suggestions
-----------
Where the registry identifies exactly one resident by the record's name,
birth date and sex (and address, to break a tie), that resident's number is
suggested on a HOLD when it differs from the record's; never when two
residents fit. See :func:`guards.context.suggest_number`: every resident in
the extract counts, whatever the status; a suggestion the guard already
made (``NUMBER_SUPERSEDED``) is kept; a PASS needs none and an INVALID row
cannot be looked up.

Suggested numbers are My Numbers: they go to ``verdicts.csv`` only, never
to a log, the summary or the report.

Explanations
------------
Every HOLD against a registry person carries a per-field explanation (name,
kana, birth date, sex, address: exact, normalised, variant characters and
which, placeholder, former, alias, mismatch — :func:`guards.check.explain`);
``explanations.csv`` holds one row per held record, never a number.

On every core
-------------
The basic check of each record (:func:`guards.check`, most of the work) runs
on every core; the context rules then run once over every record, so they
still see all of them. ``linkguard inspect`` (:func:`run_inspection`) forks,
once the registry is in memory (shared, not copied), one helper per other
core; each reads its own slice of the extracts (a range of lines), packs its
records for this process (the context rules and the reports need them all;
rebuilding them costs half of reading them) and checks it, while this process
reads and checks the head. Only verdicts that are not a plain PASS come back.
:func:`inspect`, given records already in memory, checks them on a forked pool
over chunks instead (:func:`basic_verdicts`). (A second pool for
the context step was measured and dropped: with a prefecture's registry in
memory, the copy-on-write page faults and the workers' cold caches cost more
than the step itself, about 2 s of CPU for 244,246 records.)
"""

from __future__ import annotations

import contextlib
import functools
import gc
import mmap
import multiprocessing
import os
import pickle
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Iterable, Iterator, NamedTuple, Sequence, TypeVar

from guards import Outcome, Record, Resident, Verdict, check, index_by_number
from guards.context import IdentityIndex, RecordIndex, build_identity_index, check_all, suggest_number
from guards.model import EXPLAINED_FIELDS, build_resident

if TYPE_CHECKING:
    from linkguard.ops.report import RecordColumns, RowCounts

__all__ = [
    "IdentityIndex",
    "InspectedRow",
    "InspectionResult",
    "InspectionSummary",
    "EXPLANATION_HEADER",
    "basic_verdicts",
    "build_identity_index",
    "inspect",
    "write_explanations",
    "run_inspection",
    "suggest_number",
    "summarize",
]

T = TypeVar("T")


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
            systems: Sequence[str] = (), workers: int | None = None,
            progress: Callable[[int, int], None] | None = None) -> InspectionResult:
    """Check every record with :func:`guards.context.check_all`: the basic
    check (on ``workers`` processes, :func:`basic_verdicts`), the context of
    all the other records, suggestions on HOLD.

    ``records`` is consumed once, lazily (so a caller can show progress);
    ``residents`` is read twice, so an iterator is first turned into a list.
    ``progress`` is told how many records of how many have had their basic check.
    """
    if not isinstance(residents, (list, tuple)):
        residents = list(residents)
    records = list(records)
    registry = index_by_number(residents)
    basic = basic_verdicts(records, registry, workers, progress)
    verdicts = check_all(records, registry, build_identity_index(residents), basic=basic)
    rows = [InspectedRow(record, verdict) for record, verdict in zip(records, verdicts)]
    return InspectionResult(rows, tuple(systems), len(residents))


#: below this many records one process is quicker than starting others
PARALLEL_FROM = 20_000
_PLAIN_PASS = Verdict(Outcome.PASS)
_SHARED: tuple[Sequence[Record], object] | None = None  # what forked workers read (never pickled)


def basic_verdicts(records: Sequence[Record], registry, workers: int | None = None,
                   progress: Callable[[int, int], None] | None = None) -> list[Verdict]:
    """:func:`guards.check` of every record, in order, on ``workers`` processes
    (default: the cores this process may use).

    The workers are forked after the records and the registry are in memory,
    so they read both without a copy; each checks a chunk of records and
    sends back only what is not a plain PASS. Where fork is unavailable, or
    for a small input, everything runs here.

    >>> import datetime as dt
    >>> from guards import Resident
    >>> r = Resident('621498320257', '山田 花子', dt.date(1980, 4, 1), 2, '高知市')
    >>> records = [Record('s', str(i), r.my_number, '山田花子' if i % 2 else '山田太郎', '1980-04-01', '2')
    ...            for i in range(6)]
    >>> [v.outcome.value for v in basic_verdicts(records, index_by_number([r]), workers=2)]
    ['HOLD', 'PASS', 'HOLD', 'PASS', 'HOLD', 'PASS']
    """
    global _SHARED
    n = len(records)
    workers, parallel = _workers(workers, n)
    if workers < 2 or not parallel or "fork" not in multiprocessing.get_all_start_methods():
        out = []
        for i, record in enumerate(records, 1):
            out.append(check(record, registry))
            if progress is not None and i % 5000 == 0:
                progress(i, n)
        if progress is not None:
            progress(n, n)
        return out
    size = max(1, -(-n // (workers * 8)))
    chunks = [(start, min(n, start + size)) for start in range(0, n, size)]
    _SHARED = (records, registry)
    try:
        with multiprocessing.get_context("fork").Pool(workers) as pool:
            out: list[Verdict] = []
            for part in pool.imap(_check_chunk, chunks):
                out.extend(_PLAIN_PASS if v is None else v for v in part)
                if progress is not None:
                    progress(len(out), n)
    finally:
        _SHARED = None
    return out


def _workers(workers: int | None, n: int) -> tuple[int, bool]:
    """How many processes, and whether ``n`` records are worth them."""
    if workers is None:  # every core this process may use, for an input worth the start-up
        return _cores(), n >= PARALLEL_FROM
    return workers, n >= 2 * workers  # asked for: used whenever each worker gets a few records


def _cores() -> int:
    """The cores this process may use."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


def _check_chunk(bounds: tuple[int, int]) -> list[Verdict | None]:
    """In a forked worker: the basic verdicts of ``records[start:stop]`` (``None`` for a plain PASS)."""
    assert _SHARED is not None
    records, registry = _SHARED
    out: list[Verdict | None] = []
    for record in records[bounds[0]:bounds[1]]:
        verdict = check(record, registry)
        out.append(None if verdict.outcome is Outcome.PASS and not verdict.findings else verdict)
    return out


EXPLANATION_HEADER = ("system", "record_id", "reasons",
                      *(column for f in EXPLAINED_FIELDS for column in (f, f"{f}_detail")))


def write_explanations(rows: Iterable[tuple[Record, Verdict]], path: str | os.PathLike) -> int:
    """``explanations.csv``: one row per held record, how each field compared with the
    registry person of its number (empty where the number has none). Never a number:
    the cells go through the report's redaction and formula guard. Returns the rows written.
    """
    from linkguard.ops import report
    from streams.csvio import csv_writer

    n = 0
    safe: dict[str, object] = {}  # report_cell by value: most cells repeat (match kinds, details, codes)

    def safe_cell(value: str) -> object:
        found = safe[value] = report.report_cell(value)
        return found

    with report.atomic_file(path, "utf-8") as handle:
        writer = csv_writer(handle, lineterminator="\n")
        writer.writerow(EXPLANATION_HEADER)
        for record, verdict in rows:
            if verdict.outcome is not Outcome.HOLD:
                continue
            by_field = {e.field: e for e in verdict.explanation}
            cells = []
            for name in EXPLAINED_FIELDS:
                explained = by_field.get(name)
                cells += ["", ""] if explained is None else [explained.match.value, explained.detail]
            row = (record.system, record.record_id, verdict.reason_codes, *cells)
            writer.writerow([safe[c] if c in safe else safe_cell(c) for c in row])
            n += 1
    return n


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
              outputs: dict[str, Path] | None = None, counts: RowCounts | None = None) -> InspectionSummary:
    """Count a result by verdict, by system and by reason code (``counts``: its rows'
    :class:`linkguard.ops.report.RowCounts`, where the caller has them)."""
    from linkguard.ops import report

    if counts is None:
        counts = report.RowCounts.of(result.rows)
    return _summary(counts, result.systems, result.residents, seconds, outputs)


def _summary(counts: RowCounts, systems: Sequence[str], residents: int, seconds: float = 0.0,
             outputs: dict[str, Path] | None = None) -> InspectionSummary:
    """:func:`summarize` of the rows ``counts`` counted, of ``systems`` and ``residents``."""
    by_system: dict[str, dict[str, int]] = {s: {o.value: 0 for o in Outcome} for s in systems}
    for system, n in counts.by_system.items():  # every row counted a PASS first (most are) ...
        if system not in by_system:
            by_system[system] = {o.value: 0 for o in Outcome}
        by_system[system][Outcome.PASS.value] += n
    suggestions = 0
    for record, verdict in counts.marked:  # ... then moved, where it is not, among the marked rows
        if verdict.outcome is not Outcome.PASS:
            by_system[record.system][Outcome.PASS.value] -= 1
            by_system[record.system][verdict.outcome.value] += 1
        suggestions += bool(verdict.suggested_my_number)
    # each record's reasons once (only the marked rows have any)
    by_reason = Counter(reason for _, verdict in counts.marked for reason in {f.reason for f in verdict.findings})
    by_verdict = {o.value: sum(tally[o.value] for tally in by_system.values()) for o in Outcome}
    return InspectionSummary(
        total=counts.total, by_verdict=by_verdict, by_system=by_system,
        by_reason={reason.value: n for reason, n in by_reason.most_common()}, suggestions=suggestions,
        residents=residents, seconds=seconds, outputs=dict(outputs or {}),
    )




def run_inspection(registry_path: str | os.PathLike, system_files: list[tuple[str, Path]],
                   out_dir: str | os.PathLike, encoding: str | None = None,
                   progress: bool = True, catalogue=None, *,
                   registry_encoding: str | None = None, free: bool = True) -> InspectionSummary:
    """Read the registry and each process's extract, inspect, write
    ``verdicts.csv``, ``report.csv`` and ``report.html`` into ``out_dir``.

    ``system_files`` pairs a process code with its extract; an empty code
    means the file names the process in a ``system`` / ``事務`` column.
    Each file's encoding is detected on its own; ``encoding`` overrides it for
    the extracts and ``registry_encoding`` for the registry (a registry in
    UTF-8 beside CP932 extracts is common).
    A progress bar (on stderr) follows reading and checking. File errors
    (``streams.csvio.CsvError``, ``OSError``) propagate to the caller.

    ``free=False`` keeps the records and the registry in memory after the
    return, for a caller that ends its process at once (the installed
    command): freeing a prefecture's half a gigabyte of small objects one by
    one costs a quarter of a second that ending the process skips.
    """
    from linkguard.ops import report
    from streams import csvio

    started = time.perf_counter()
    # the collector stays paused until the records are freed: with millions of young objects,
    # its first passes after a resume would walk every one (measured: 0.6 s more for the reports)
    kept = None if free else _KEPT_UNTIL_EXIT
    with _gc_paused(keeping=kept is not None):
        inspected = _read_and_inspect(Path(registry_path), system_files, encoding, progress, csvio,
                                      registry_encoding=registry_encoding, kept=kept)
        records, verdicts = inspected.records, inspected.verdicts
        # for the report and the summary both
        counts = report.RowCounts.of_columns(records, verdicts, inspected.columns)
        outputs = report.write_all_columns(records, verdicts, Path(out_dir), catalogue, columns=inspected.columns,
                                           counts=counts, systems=inspected.systems,
                                           residents=inspected.residents)
        outputs["explanations.csv"] = Path(out_dir) / "explanations.csv"
        write_explanations(counts.marked, outputs["explanations.csv"])  # (every held row is marked)
        summary = _summary(counts, inspected.systems, inspected.residents, time.perf_counter() - started, outputs)
        if kept is not None:
            kept.append(inspected)
        del inspected, records, verdicts
    return summary


#: what ``run_inspection(free=False)`` leaves in memory, for the process's end to drop all at once
_KEPT_UNTIL_EXIT: list[object] = []


class _Inspected(NamedTuple):
    """What :func:`run_inspection` writes and sums up: every record and its verdict as two
    columns (the rows themselves, a prefecture's 244,246 tuples, would cost 35 ms to build for
    nothing) and what the reports read off the records alone, built while the helpers check."""

    records: list[Record]
    verdicts: list[Verdict]
    columns: RecordColumns
    systems: tuple[str, ...]
    residents: int


def _read_and_inspect(registry_path: Path, system_files: list[tuple[str, Path]],
                      encoding: str | None, progress: bool, csvio, *,
                      registry_encoding: str | None = None, kept: list[object] | None = None
                      ) -> _Inspected:
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
        residents = _read_registry_on_two_cores(registry_path, registry_encoding)
        if residents is None:
            residents = list(_tick(csvio.read_registry(registry_path, encoding=registry_encoding),
                                   lambda n: bar.update(task, completed=n)))
        bar.update(task, total=len(residents), completed=len(residents))

        files = [(code, Path(path)) for code, path in system_files]
        # a file that cannot be opened counts no line here: reading it raises, in the files' order
        lines = [_count_lines(path) if path.is_file() else 0 for _, path in files]
        registry = index_by_number(residents)
        slices = _helper_slices(lines, _cores())
        helpers = _Helpers(files, encoding, registry, slices)
        # built while the helpers check, it costs this process's share of the checks only (the
        # helpers check what this process would have); after them, it would hold the cores' end
        identities = build_identity_index(residents)
        from linkguard.ops import report
        report.html_template()  # likewise the report page's template
        try:
            records: list[Record] = []
            # each file's progress (this process and the helpers read them at once)
            tasks = [bar.add_task(escape(f"{code or '-'} {path.name}"), total=total or None)
                     for (code, path), total in zip(files, lines)]
            last_lines = [0] * len(files)  # where each file's last record read starts

            def read_to(index: int, line: int) -> None:
                last_lines[index] = line
                bar.update(tasks[index], completed=line)

            # the head, read here: every file before the first helper's slice, and that one up to it
            first = slices[0][0] if slices else (len(files), 0)
            for index in range(min(first[0] + 1, len(files))):
                code, path = files[index]
                for n, (line, record) in enumerate(
                        csvio.read_records_with_lines(path, system=code or None, encoding=encoding), 1):
                    if (index, line) >= first:
                        break
                    if n % 2000 == 0:
                        read_to(index, line)
                    records.append(record)
                    last_lines[index] = line
            # the slices, rebuilt from what their helpers packed; where one met anything unexpected,
            # read here, as a one-process read would (so with its error, if it was one)
            head = len(records)
            starts: list[int] = []  # where each helper's slice begins in ``records``
            for part, (start, stop) in enumerate(slices):
                starts.append(len(records))
                if not helpers.records_of(part, records, head, read_to):
                    for n, (index, line, record) in enumerate(_slice_records(files, encoding, start, stop), 1):
                        if n % 2000 == 0:
                            read_to(index, line)
                        records.append(record)
                        last_lines[index] = line
            for task, line in zip(tasks, last_lines):
                bar.update(task, total=line, completed=line)
            # what the context rules read off every record needs no verdict: built while the helpers
            # check, it costs this process's share of the checks only (as the identity index)
            record_index = RecordIndex.of(records)
            columns = report.RecordColumns.of(records)  # likewise what the reports read off the records
            checking = bar.add_task("照合 (全コア)", total=len(records))
            basic = helpers.basic_verdicts(records, starts,
                                           lambda done: bar.update(checking, completed=done))
        finally:
            helpers.close()
        verdicts = check_all(records, registry, identities, basic=basic, index=record_index)
        if kept is not None:
            kept += [residents, registry, identities, records, basic, verdicts, record_index]
        return _Inspected(records, verdicts, columns, tuple(c for c, _ in system_files if c), len(residents))


#: a registry of at least this many bytes is read in parts, the first here, the others in a forked process
REGISTRY_PARTS_FROM = 1 << 22
#: where the registry is cut (fractions of its bytes): this process reads the first part and
#: rebuilds the others' residents as they arrive, so it reads a little less than half; the
#: forked process reads the rest in a few parts, so that only the last part's residents are
#: left to rebuild once it is done (see _read_registry_on_two_cores)
REGISTRY_CUTS = (0.47, 0.65, 0.8, 0.92)
# memory shared with the forked reader (set before the fork, never pickled): it writes each packed part
# there, in the part's own region, and sends only where; a part's bytes sent through the pool's pipe
# instead would cross while this process is busy, and its receiving thread, waiting for the GIL at
# every 64 KiB, would hold the reader up
_PACKED_PARTS: mmap.mmap | None = None


def _read_registry_on_two_cores(path: Path, encoding: str | None) -> list[Resident] | None:
    """The registry read in parts on two cores: the first here, the others in a forked
    process; ``None`` where that does not apply (one core, no fork, a small file) or where
    any part meets anything it does not expect — a bad row, a cut inside a quoted value,
    bytes that do not decode — so the caller reads the file whole and reports what a
    one-process read reports.

    The forked process's residents come back packed (:func:`streams.csvio.packed_registry_part`),
    part by part: rebuilding them costs about a fifth of reading them.
    """
    global _PACKED_PARTS
    from streams import csvio

    if _cores() < 2 or "fork" not in multiprocessing.get_all_start_methods():
        return None
    parts = csvio.registry_parts(path, encoding, smallest=REGISTRY_PARTS_FROM,
                                 shares=REGISTRY_CUTS)  # file errors raise here
    if parts is None:
        return None
    _PACKED_PARTS = mmap.mmap(-1, 2 * parts.size)  # anonymous, so shared with the fork; pages taken as written
    try:
        with multiprocessing.get_context("fork").Pool(1) as pool:
            others = pool.imap(functools.partial(_pack_registry_part, parts), range(1, len(parts)))
            try:
                # the first part's residents are built while the others are still being read
                residents = [build_resident(values) for values in csvio.registry_part(parts, 0)]
                for packed in others:
                    if isinstance(packed, tuple):  # (offset, length) in the shared memory
                        packed = _PACKED_PARTS[packed[0]:packed[0] + packed[1]]
                    residents += csvio.residents_from_packed(packed)
            except Exception:  # noqa: BLE001 — whatever it was, the whole-file read finds and reports it
                return None
    finally:
        _PACKED_PARTS.close()
        _PACKED_PARTS = None
    return residents


def _pack_registry_part(parts, part: int) -> tuple[int, int] | bytes:
    """In the forked reader: part ``part`` packed into its region of the shared memory, and
    where it lies; the bytes themselves if they do not fit."""
    from streams import csvio

    packed = csvio.packed_registry_part(parts, part)
    offset, room = _packed_region(parts.cuts, parts.size, part)
    if _PACKED_PARTS is None or len(packed) > room:
        return packed
    _PACKED_PARTS[offset:offset + len(packed)] = packed
    return offset, len(packed)


def _packed_region(cuts: tuple[int, ...], size: int, part: int) -> tuple[int, int]:
    """Where in the shared memory part ``part`` of a registry cut at ``cuts`` (of ``size``
    bytes, :class:`streams.csvio.RegistryParts`) is written, and the room it has: twice its
    bytes in the file (its packed form has been 1.1 times as large).

    >>> [_packed_region((100, 250), 400, part) for part in (1, 2)]
    [(200, 300), (500, 300)]
    """
    starts = (0, *cuts)
    stops = (*cuts, size)
    return 2 * starts[part], 2 * (stops[part] - starts[part])


# where a slice of the extracts starts and stops: (file index, physical line)
_Position = tuple[int, int]


def _helper_slices(lines: Sequence[int], cores: int) -> list[tuple[_Position, _Position]]:
    """The tail slices of the extracts the helper processes read and check, one per core but this one's.

    This process reads the head and checks it; each helper reads its own slice and packs
    its records for this process (the context rules and the reports need them all), then
    checks it from the front, while this process, done with the head, takes records back
    from the slice's end until the two meet (:class:`_Claims`). The slices are cut for the
    share that lets every process end together when a helper checks as fast as this one,
    :func:`_helper_share`; a helper slower than that (another load on the machine,
    copy-on-write faults) has more taken back. Slices are ranges of physical lines (a
    record belongs where it starts); none below :data:`PARALLEL_FROM` lines in all.

    >>> _helper_slices([1001, 1001], 2)
    []
    >>> _helper_slices([30001, 20001], 2)  # the last 30,000 of 50,000 rows: 10,000 of the first file's
    [((0, 20002), (2, 0))]
    >>> _helper_slices([30001, 20001], 4)
    [((0, 2), (0, 16669)), ((0, 16669), (1, 3335)), ((1, 3335), (2, 0))]
    """
    total = sum(max(0, n - 1) for n in lines)  # data lines: each file's header left out
    helpers = cores - 1
    if helpers < 1 or total < PARALLEL_FROM or "fork" not in multiprocessing.get_all_start_methods():
        return []
    share = _helper_share(cores)
    # a position from the end, in data lines, to a (file, physical line)
    def position(from_end: int) -> _Position:
        for index in range(len(lines) - 1, -1, -1):
            data = max(0, lines[index] - 1)
            if from_end <= data:
                return index, 2 + data - from_end  # line 1 is the header
            from_end -= data
        return 0, 2
    cuts = [position(round(total * share * k)) for k in range(helpers, 0, -1)]
    return [(start, stop) for start, stop in zip(cuts, [*cuts[1:], (len(lines), 0)])]


#: what this process's work on a record costs beside checking it, the helpers' slices counted:
#: reading the head (2.7 µs a record on the prefecture corpus, against 9 to check it), rebuilding
#: what the helpers packed (1.2 µs; packing costs a helper 1.0), indexing every record for the
#: context rules (0.9 µs). Rounded up, so that a helper rather gets a little more (taking back
#: from its slice's end costs nothing; a helper out of records idles): on the corpus, a helper
#: met this process about nine tenths into its slice.
READ_TO_CHECK = 0.5


def _helper_share(cores: int) -> float:
    """Each helper's share of the records, such that this process ends with the helpers:
    ``r + head == (1 + r) * share`` with ``head`` the rest, ``r`` :data:`READ_TO_CHECK`;
    no head at all once this process's own work is as long.

    >>> _helper_share(2), round(_helper_share(4), 3), _helper_share(8)
    (0.6, 0.333, 0.14285714285714285)
    """
    helpers = cores - 1
    return min(1 / helpers, (1 + READ_TO_CHECK) / (cores + READ_TO_CHECK))


_HELPER_REGISTRY: object = None  # what a forked helper checks against (set before the fork, never pickled)
_HELPER_CLAIMS: "_Claims | None" = None  # who checks which records of the slices (likewise)

#: records a helper claims at a time, and this process takes back at a time from a slice's end
CLAIM = 256
#: seconds this process waits for a slice's lock before it asks whether the slice's helper still runs
#: (the lock is held for microseconds: a wait this long means a helper descheduled, stopped or dead)
LOCK_PATIENCE = 0.1


class _Claims:
    """Who checks which records of each helper's slice, in memory shared across the fork.

    A helper claims the records of its slice from the front as it reads them; this
    process, done with its head, takes them back from the slice's end, until the two
    meet. So both cores stay busy to the end whatever each one's speed (another load
    on the machine, a helper's copy-on-write faults), and no record is checked twice.
    Counts are records from the slice's start; a limit of -1 is the slice's end, which
    only this process knows (it reads every record).

    >>> claims = _Claims(multiprocessing.get_context("fork"), 1)
    >>> claims.claim(0, 256)  # the helper: records 0-256 of a slice of 1,000
    256
    >>> claims.take_back(0, 1000, 200)  # this process, from the end
    range(800, 1000)
    >>> claims.claim(0, 256), claims.take_back(0, 1000, 200), claims.take_back(0, 1000, 200)
    (256, range(600, 800), range(512, 600))
    >>> claims.take_back(0, 1000, 200), claims.claim(0, 256), claims.helpers_share(0, 1000)  # met
    (range(512, 512), 0, 512)
    """

    def __init__(self, context, slices: int) -> None:
        # a lock per slice, shared by its helper and this process only: a helper that dies holding
        # its own cannot stop another helper
        self._locks = [context.Lock() for _ in range(slices)]
        self._taken = context.RawArray("q", slices)
        self._limit = context.RawArray("q", [-1] * slices)

    def claim(self, part: int, wanted: int) -> int:
        """In helper ``part``: how many of its next ``wanted`` records are its own to check (0: stop)."""
        with self._locks[part]:
            taken, limit = self._taken[part], self._limit[part]
            granted = wanted if limit < 0 else max(0, min(wanted, limit - taken))
            self._taken[part] = taken + granted
        return granted

    def take_back(self, part: int, length: int, most: int, helper_alive: Callable[[], bool] = lambda: True) -> range:
        """Here: up to ``most`` records of slice ``part`` (of ``length``), from its end, that
        its helper has not claimed; empty once they meet. Then :meth:`helpers_share` is final.

        ``helper_alive`` tells whether the slice's helper still runs: one killed while it held the
        lock (the OOM killer, an operator's ``kill -9``) never releases it, and this process then
        goes on without the lock, which nobody else takes any more (the helper's share is then
        checked here, as for any helper that dies)."""
        locked = self._lock(part, helper_alive)
        try:
            limit = self.helpers_share(part, length)
            new = min(limit, max(self._taken[part], limit - most))
            self._limit[part] = new
        finally:
            if locked:
                self._locks[part].release()
        return range(new, limit)

    def _lock(self, part: int, helper_alive: Callable[[], bool]) -> bool:
        """Take slice ``part``'s lock, waiting while its helper lives; ``False`` where the helper
        died holding it."""
        while not self._locks[part].acquire(timeout=LOCK_PATIENCE):
            if not helper_alive():
                return False
        return True

    def helpers_share(self, part: int, length: int) -> int:
        """The records of slice ``part`` that are its helper's: those before the limit."""
        limit = self._limit[part]
        return length if limit < 0 else limit


def _slice_records(files: list[tuple[str, Path]], encoding: str | None,
                   start: _Position, stop: _Position) -> Iterator[tuple[int, int, Record]]:
    """The records from ``start`` up to ``stop``, each with its file's index and its line, as a
    one-process read meets them (so with the error it would raise, where it would raise it)."""
    from streams import csvio

    for index in range(start[0], min(stop[0] + 1, len(files))):
        code, path = files[index]
        for line, record in csvio.read_records_with_lines(path, system=code or None, encoding=encoding):
            if (index, line) < start:
                continue
            if (index, line) >= stop:
                break
            yield index, line, record


#: records a helper packs at a time for this process (about 200 KB: rebuilt in a few milliseconds)
PACK = 4096
# memory shared with the helpers (set before the fork, never pickled): each packs its slice's records into
# its own region (_Helpers.regions) and sends only where, as the registry's reader does (_PACKED_PARTS)
_HELPER_PACKS: mmap.mmap | None = None


class _Packed(NamedTuple):
    """A helper's message: ``count`` records of its slice packed at ``offset`` (``length`` bytes) of
    its region, the last from line ``line`` of file ``file``."""

    offset: int
    length: int
    count: int
    file: int
    line: int


def _helper(files: list[tuple[str, Path]], encoding: str | None, start: _Position, stop: _Position,
            part: int, region: tuple[int, int], send) -> None:
    """A forked helper's work: read the records of its slice and pack them for this process, a chunk
    at a time (:class:`_Packed`, then their number once all are), then check those it claims from the
    front until it meets this process, and send the verdicts (``None`` for a plain PASS, which is most).
    Anything unexpected while reading (a bad row, a region too small) sends ``None`` before a single
    claim: this process then reads the slice itself and meets what a one-process read meets."""
    try:
        try:
            records, offset = _read_and_pack(files, encoding, start, stop, region, send)
        except Exception:  # noqa: BLE001 — whatever it was, this process's own read finds and reports it
            send.send(None)
            return
        send.send(len(records))
        send.send(_checked_claims(records, part, (offset, region[1]), send))
    except Exception:  # noqa: BLE001 — ended without its count, its share is checked there; and no traceback
        return  # on stderr (a message may quote a record's values)


def _read_and_pack(files: list[tuple[str, Path]], encoding: str | None, start: _Position, stop: _Position,
                   region: tuple[int, int], send) -> tuple[list[Record], int]:
    """In a forked helper: the records of its slice, each chunk of :data:`PACK` (no chunk spans two
    files) written into its region of the shared memory as it is read, and its place sent; and
    where the region's free room starts."""
    from streams import csvio

    records: list[Record] = []
    offset, end = region
    chunk_start, chunk_file, chunk_line = 0, start[0], 0

    def flush() -> None:
        nonlocal offset, chunk_start
        packed = csvio.packed_records(records[chunk_start:])
        if _HELPER_PACKS is None or offset + len(packed) > end:
            raise MemoryError("the slice's packed records outgrow their region")
        _HELPER_PACKS[offset:offset + len(packed)] = packed
        send.send(_Packed(offset, len(packed), len(records) - chunk_start, chunk_file, chunk_line))
        offset += len(packed)
        chunk_start = len(records)

    for index, line, record in _slice_records(files, encoding, start, stop):
        if index != chunk_file or len(records) - chunk_start == PACK:
            if len(records) > chunk_start:
                flush()
            chunk_file = index
        records.append(record)
        chunk_line = line
    if len(records) > chunk_start:
        flush()
    return records, offset


#: verdicts a helper sends at a time: this process takes them in while it checks too, so that
#: only the last few are left to take in once the two have met
VERDICTS_AT_ONCE = 2048


class _Verdicts(NamedTuple):
    """A helper's message: verdicts of its slice pickled at ``offset`` (``length`` bytes) of its region."""

    offset: int
    length: int


def _checked_claims(records: list[Record], part: int, room: tuple[int, int], send) -> int:
    """In a forked helper: check the records of its slice it claims, from the front, until it meets
    this process, sending their verdicts (``None`` for a plain PASS) :data:`VERDICTS_AT_ONCE` at a
    time, pickled into the ``room`` left in its region (:class:`_Verdicts`), or whole where they
    outgrow it; then their number."""
    registry, claims = _HELPER_REGISTRY, _HELPER_CLAIMS
    assert claims is not None
    offset, end = room
    checked = 0
    verdicts: list[Verdict | None] = []

    def flush() -> None:
        nonlocal offset
        packed = pickle.dumps(verdicts, pickle.HIGHEST_PROTOCOL)
        if _HELPER_PACKS is not None and offset + len(packed) <= end:
            _HELPER_PACKS[offset:offset + len(packed)] = packed
            send.send(_Verdicts(offset, len(packed)))
            offset += len(packed)
        else:
            send.send(verdicts)
        verdicts.clear()

    while checked < len(records):
        granted = claims.claim(part, min(CLAIM, len(records) - checked))
        if not granted:
            break  # the rest is checked by the parent
        for record in records[checked:checked + granted]:
            verdict = check(record, registry)
            verdicts.append(None if verdict.outcome is Outcome.PASS and not verdict.findings else verdict)
        checked += granted
        if len(verdicts) >= VERDICTS_AT_ONCE:
            flush()
    if verdicts:
        flush()
    return checked


class _Helpers:
    """Forked processes that read the tail slices of the extracts, pack their records for this
    process and check them, while this one reads the head.

    Forked once the registry is in memory, so they share it; each reads its own slice of the
    files (the same importer, so the same records), writes them packed into shared memory a chunk
    at a time (:func:`streams.csvio.packed_records`), which this process rebuilds
    (:meth:`records_of`) at about half the cost of parsing them, and sends back only the verdicts
    that are not a plain PASS. This process checks the head (some of it while it waits for a
    chunk), then takes back records from each slice's end until it meets the helper
    (:class:`_Claims`). A helper that meets anything unexpected while reading has its slice read
    here; one whose count disagrees (a file changed under us) or that fails or dies has its share
    checked here: the records and the verdicts never depend on the helpers.
    """

    def __init__(self, files: list[tuple[str, Path]], encoding: str | None, registry,
                 slices: list[tuple[_Position, _Position]]) -> None:
        global _HELPER_REGISTRY, _HELPER_CLAIMS, _HELPER_PACKS
        self._registry = registry
        self._processes: list = []
        self._receivers: list = []
        self._memory: mmap.mmap | None = None
        self._head: list[Verdict] = []  # the head's verdicts checked while waiting for a chunk
        if not slices:
            return
        context = multiprocessing.get_context("fork")
        self._claims = _HELPER_CLAIMS = _Claims(context, len(slices))
        regions = _pack_regions(files, slices)
        self._memory = _HELPER_PACKS = mmap.mmap(-1, regions[-1][1])  # pages taken as written
        _HELPER_REGISTRY = registry
        try:
            for part, ((start, stop), region) in enumerate(zip(slices, regions)):
                receive, send = context.Pipe(duplex=False)
                process = context.Process(target=_helper, args=(files, encoding, start, stop, part, region, send),
                                          daemon=True)
                process.start()
                send.close()  # the helper's end is its own: once it ends, receiving meets the pipe's end
                self._processes.append(process)
                self._receivers.append(receive)
        finally:
            _HELPER_REGISTRY = _HELPER_CLAIMS = _HELPER_PACKS = None

    def records_of(self, part: int, records: list[Record], head: int, progress: Callable[[int, int], None]) -> bool:
        """Append the records of slice ``part`` its helper packed to ``records`` (telling
        ``progress`` each chunk's file and last line), checking the first ``head`` records (this
        process's own) while no chunk is ready; ``False``, with ``records`` as it was, where the
        helper met anything unexpected."""
        from streams import csvio

        receive, before = self._receivers[part], len(records)
        try:
            while True:
                while head and len(self._head) < head and not receive.poll():
                    self._check_head(records, head)
                message = receive.recv()
                if not isinstance(message, _Packed):
                    break
                assert self._memory is not None
                records += csvio.records_from_packed(self._memory[message.offset:message.offset + message.length])
                progress(message.file, message.line)
        except Exception:  # noqa: BLE001 — a helper gone, or packed bytes that do not read: read the slice here
            message = None
        if message != len(records) - before:  # None where the helper met trouble reading
            del records[before:]
            return False
        return True

    def _check_head(self, records: list[Record], head: int) -> None:
        """Check the next records of the head (up to :data:`CLAIM`), as :meth:`basic_verdicts` would."""
        done = len(self._head)
        self._head += [check(record, self._registry) for record in records[done:min(head, done + CLAIM)]]

    def basic_verdicts(self, records: list[Record], starts: list[int],
                       progress: Callable[[int], None]) -> list[Verdict]:
        """Every record's :func:`guards.check`, the head here, the slices shared with the helpers."""
        registry = self._registry
        own = starts[0] if starts else len(records)
        out: list[Verdict] = self._head[:own]
        for i in range(len(out), own):
            out.append(check(records[i], registry))
            if i % 5000 == 0:
                progress(i)
        for part, (start, stop) in enumerate(zip(starts, [*starts[1:], len(records)])):
            taken_back: list[list[Verdict]] = []  # from the slice's end towards the helper
            helped = _HelpersVerdicts(self._receivers[part], self._memory)
            while back := self._claims.take_back(part, stop - start, CLAIM, self._processes[part].is_alive):
                taken_back.append([check(records[start + i], registry) for i in back])
                helped.take_in()  # what is ready, while the helper still checks
                progress(len(out) + (stop - start) - back.start)
            share = self._claims.helpers_share(part, stop - start)
            verdicts = helped.all_of(share) if share else []
            if verdicts is None:  # the records were read here already: check the helper's share here
                out.extend(check(records[i], registry) for i in range(start, start + share))
            else:
                out.extend(_PLAIN_PASS if v is None else v for v in verdicts)
            for verdicts in reversed(taken_back):
                out.extend(verdicts)
            progress(stop)
        progress(len(records))
        return out

    def close(self) -> None:
        for process in self._processes:
            process.terminate()
        for process in self._processes:
            process.join()
        for receive in self._receivers:
            receive.close()
        if self._memory is not None:
            self._memory.close()


class _HelpersVerdicts:
    """The verdicts one helper sends (:func:`_checked_claims`), taken in as they come."""

    def __init__(self, receive, memory: mmap.mmap | None) -> None:
        self._receive, self._memory = receive, memory
        self._verdicts: list[Verdict | None] = []
        self._count: int | None = None  # the helper's own count, its last message
        self._failed = False

    def take_in(self, wait: bool = False) -> None:
        """Take in the messages ready (with ``wait``, up to the last); any trouble leaves them all to this process."""
        try:
            while self._count is None and not self._failed and (wait or self._receive.poll()):
                message = self._receive.recv()
                if isinstance(message, _Verdicts) and self._memory is not None:
                    self._verdicts += pickle.loads(self._memory[message.offset:message.offset + message.length])
                elif isinstance(message, list):
                    self._verdicts += message
                elif isinstance(message, int) and not isinstance(message, bool):
                    self._count = message
                else:
                    self._failed = True
        except Exception:  # noqa: BLE001 — a helper gone, or bytes that do not read
            self._failed = True

    def all_of(self, share: int) -> list[Verdict | None] | None:
        """All ``share`` verdicts, or ``None`` where the helper failed or disagrees."""
        self.take_in(wait=True)
        if self._failed or self._count != share or len(self._verdicts) != share:
            return None
        return self._verdicts


def _pack_regions(files: list[tuple[str, Path]], slices: list[tuple[_Position, _Position]]) -> list[tuple[int, int]]:
    """Where in the shared memory each helper writes its packed records, ``(start, end)``: twice the
    bytes of the files its slice touches (packed, records have taken about as many bytes as in a
    UTF-8 file, 1.5 times as many as in a CP932 one).

    >>> import tempfile
    >>> folder = Path(tempfile.mkdtemp())
    >>> files = [(code, folder / f'{code}.csv') for code in 'abc']
    >>> for size, (_, path) in zip((100, 200, 300), files):
    ...     _ = path.write_bytes(b'x' * size)
    >>> _pack_regions(files, [((0, 5), (1, 7)), ((1, 7), (3, 0))])
    [(0, 600), (600, 1600)]
    """
    regions, offset = [], 0
    for start, stop in slices:
        touched = range(start[0], min(stop[0] + 1, len(files)))
        size = 2 * sum(files[index][1].stat().st_size for index in touched if files[index][1].is_file())
        regions.append((offset, offset + max(size, 1)))
        offset += max(size, 1)
    return regions


@contextlib.contextmanager
def _gc_paused(keeping: bool = False) -> Iterator[None]:
    """Pause the cyclic garbage collector while a million-row registry is read
    and checked: these objects form no cycles, yet every full collection
    would walk all of them (measured: about a quarter of the run time).
    ``keeping``: objects made meanwhile outlive it; they are moved out of the
    collector's sight (:func:`gc.freeze`), or its first pass would walk them all."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if keeping:
            gc.freeze()
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

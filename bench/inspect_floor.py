"""How close ``linkguard inspect`` could come to the naive script if reading its files cost nothing (issue 13).

    python -m bench.inspect_floor [--runs 3] [--out DIR]

:mod:`bench.inspect_speed` times the whole command against the naive exact
4-item comparison. This benchmark splits the inspection into its stages and
times each, in the same run as the naive script, to say which of them stand
between the command and the target of ≤ 2× the naive script:

* **reading** — the registry and every extract parsed into residents and
  records on one core (:func:`streams.csvio.read_registry`, :func:`~streams.csvio.read_records`);
  beside it, for scale, the least any reader built on Python's ``csv`` module
  does with the same files (decode them, split every row into cells, keep
  the rows: no validation, no residents, no records);
* and, with everything already in memory (a fresh process each run, so that
  no normalisation is cached from the run before), the stages
  :func:`linkguard.ops.inspection.run_inspection` runs after reading, by the same
  functions: the number index; the basic checks on every core
  (:func:`~linkguard.ops.inspection.basic_verdicts`, a forked pool); what needs no
  verdict (the identity index, :class:`guards.context.RecordIndex`, the reports'
  columns); the context rules (:func:`guards.context.check_all`); the files.

It prints, beside the naive script's time, two floors of the command with
reading free: the stages one after another as measured, and the same with
the stages that run beside the checks (the indexes, the report columns)
spread perfectly over the cores, plus the command's start-up. The gap
between a floor and twice the naive script is all the time reading both
files may take if the command is to meet the target. A benchmark reports,
it does not assert: the exit code is 0 whatever the figures.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

from bench.inspect_speed import TARGET_RATIO, _naive_command, _prepare, _run, add_corpus_arguments

#: the stages timed with the files in memory, in the order run_inspection runs them
STAGES = ("number index", "checks", "indexes", "context", "files")
#: of those, the ones run_inspection runs on one core while the helpers check (they need no verdict)
BESIDE_THE_CHECKS = ("indexes",)


def _cpu() -> float:
    """CPU seconds of this process and of every child it waited for."""
    times = os.times()
    return times.user + times.system + times.children_user + times.children_system


def stage_times(registry_path: Path, files: list[tuple[str, Path]], out: Path) -> dict[str, dict[str, float]]:
    """In this process: read the corpus (timed as ``reading``), then time every later stage of
    an inspection with the records and the registry in memory. Wall and CPU seconds of each."""
    import csv
    import gc

    from guards import index_by_number
    from guards.context import RecordIndex, build_identity_index, check_all
    from linkguard.ops import inspection, report
    from streams import csvio

    gc.disable()  # as run_inspection: the collector stays off while millions of objects are young
    times: dict[str, dict[str, float]] = {}

    def timed(stage: str, started: float, cpu: float) -> None:
        times[stage] = {"wall": time.perf_counter() - started, "cpu": _cpu() - cpu}

    # the least any reader built on the csv module does: decode, split into cells, keep the rows
    started, cpu = time.perf_counter(), _cpu()
    for path in (registry_path, *(path for _, path in files)):
        with open(path, encoding=csvio.detect_encoding(path), newline="") as handle:
            rows = list(csv.reader(handle))
        del rows
    timed("csv module alone", started, cpu)
    started, cpu = time.perf_counter(), _cpu()
    residents = list(csvio.read_registry(registry_path))
    records = [record for system, path in files for record in csvio.read_records(path, system=system)]
    timed("reading", started, cpu)
    report.html_template()  # loaded by run_inspection beside the checks, as the module imports are

    started, cpu = time.perf_counter(), _cpu()
    registry = index_by_number(residents)
    timed("number index", started, cpu)
    started, cpu = time.perf_counter(), _cpu()
    basic = inspection.basic_verdicts(records, registry)
    timed("checks", started, cpu)
    started, cpu = time.perf_counter(), _cpu()
    identities = build_identity_index(residents)
    record_index = RecordIndex.of(records)
    columns = report.RecordColumns.of(records)
    timed("indexes", started, cpu)
    started, cpu = time.perf_counter(), _cpu()
    verdicts = check_all(records, registry, identities, basic=basic, index=record_index)
    timed("context", started, cpu)
    started, cpu = time.perf_counter(), _cpu()
    counts = report.RowCounts.of_columns(records, verdicts, columns)
    systems = tuple(dict.fromkeys(system for system, _ in files))
    report.write_all_columns(records, verdicts, out, None, columns=columns, counts=counts, systems=systems,
                             residents=len(residents))
    inspection.write_explanations(counts.marked, out / "explanations.csv")
    timed("files", started, cpu)
    return times


def _start_up_seconds() -> float:
    """Wall seconds of a process that imports what ``linkguard inspect`` imports before it reads."""
    modules = "import linkguard.cli, linkguard.ops.inspection, linkguard.ops.report, streams.csvio, rich.progress"
    started = time.perf_counter()
    subprocess.run([sys.executable, "-c", modules], check=True)
    return time.perf_counter() - started


def floors(times: dict[str, dict[str, float]], start_up: float, cores: int) -> tuple[float, float]:
    """The command's wall time with reading free: the stages one after another as measured,
    and with the stages run beside the checks spread perfectly over ``cores`` with them.

    >>> t = {s: {'wall': 1.0, 'cpu': 1.0} for s in STAGES}
    >>> t['checks'] = {'wall': 1.0, 'cpu': 2.0}
    >>> floors(t, 0.5, 2)
    (5.5, 4.0)
    """
    serial = start_up + sum(times[stage]["wall"] for stage in STAGES)
    beside = sum(times[stage]["cpu"] for stage in BESIDE_THE_CHECKS)
    parallel = (times["checks"]["cpu"] + beside) / cores
    spread = serial - times["checks"]["wall"] - sum(times[stage]["wall"] for stage in BESIDE_THE_CHECKS) + parallel
    return serial, spread


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.inspect_floor", description=__doc__.split("\n\n")[0])
    add_corpus_arguments(parser, runs="runs, each the naive script then the stages (default 3)")
    parser.add_argument("--stages", metavar="REGISTRY", type=Path, help=argparse.SUPPRESS)  # one run, its own process
    parser.add_argument("--file", action="append", default=[], help=argparse.SUPPRESS)  # SYSTEM:PATH, with --stages
    args = parser.parse_args(argv)
    if args.stages:
        out = args.out / "floor"
        out.mkdir(parents=True, exist_ok=True)
        files = [(system, Path(path)) for system, path in (item.split(":", 1) for item in args.file)]
        print(json.dumps(stage_times(args.stages, files, out)))
        return 0
    if args.runs < 1:
        parser.error("--runs must be 1 or more")
    files = _prepare(args.out, args.records, args.residents, args.seed)
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    naive_times, runs, start_ups = [], [], []
    for run in range(1, args.runs + 1):
        naive_times.append(_run(_naive_command(files, args.out / "naive"))[0])
        start_ups.append(_start_up_seconds())
        process = subprocess.run([sys.executable, "-m", "bench.inspect_floor", "--stages", str(files.registry),
                                  *(f"--file={system}:{path}" for system, path in files.records),
                                  "--out", str(args.out)], capture_output=True, text=True, check=False)
        if process.returncode != 0:
            raise SystemExit(f"the stages failed (exit {process.returncode}):\n{process.stderr[-2000:]}")
        runs.append(json.loads(process.stdout.splitlines()[-1]))
        serial, spread = floors(runs[-1], start_ups[-1], cores)
        print(f"run {run}: naive {naive_times[-1]:.2f} s; reading (one core) {runs[-1]['reading']['wall']:.2f} s "
              f"(the csv module alone {runs[-1]['csv module alone']['wall']:.2f} s); "
              + ", ".join(f"{stage} {runs[-1][stage]['wall']:.2f} s" for stage in STAGES)
              + f"; start-up {start_ups[-1]:.2f} s; with reading free {serial / naive_times[-1]:.2f}× "
              f"({spread / naive_times[-1]:.2f}× spread)", flush=True)
    naive = statistics.median(naive_times)
    median = {stage: {kind: statistics.median(run[stage][kind] for run in runs) for kind in ("wall", "cpu")}
              for stage in ("csv module alone", "reading", *STAGES)}
    start_up = statistics.median(start_ups)
    serial, spread = floors(median, start_up, cores)
    budget = TARGET_RATIO * naive
    print(f"{args.records:,} records, {args.residents:,} residents, {cores} cores, load average "
          f"{os.getloadavg()[0]:.1f} (the machine may be shared: the ratios are what count)")
    print(f"medians: naive exact 4-item comparison {naive:.2f} s (reading included); reading the same files into "
          f"residents and records on one core {median['reading']['wall']:.2f} s ({median['reading']['wall'] / naive:.2f}×), "
          f"of which the csv module alone would take {median['csv module alone']['wall']:.2f} s")
    print("  with the files already in memory: " + ", ".join(
        f"{stage} {median[stage]['wall']:.2f} s (CPU {median[stage]['cpu']:.2f} s)" for stage in STAGES)
        + f"; start-up {start_up:.2f} s")
    print(f"the command with reading free: {serial:.2f} s = {serial / naive:.2f}× the naive script as measured, "
          f"{spread:.2f} s = {spread / naive:.2f}× with {', '.join(BESIDE_THE_CHECKS)} spread perfectly over the "
          f"cores with the checks")
    left = budget - spread
    print(f"left for reading both files within the target (≤ {TARGET_RATIO:.0f}×, {budget:.2f} s): "
          + (f"{left:.2f} s of wall, against {median['reading']['wall']:.2f} s on one core today"
             if left > 0 else "nothing: the stages after reading alone miss it")
          + (f"; spread perfectly over {cores} cores and crossing between processes for free, reading would "
             f"need {median['reading']['cpu'] / (cores * left):.1f}× its speed today"
             f" ({median['csv module alone']['cpu'] / (cores * left):.1f}× for the csv module's split alone)"
             if left > 0 else ""))
    (args.out / "inspect_floor.json").write_text(json.dumps({
        "records": args.records, "residents": args.residents, "cores": cores, "naive_seconds": naive_times,
        "start_up_seconds": start_ups, "stages": runs, "floor_ratio": serial / naive,
        "spread_floor_ratio": spread / naive, "target": TARGET_RATIO}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())

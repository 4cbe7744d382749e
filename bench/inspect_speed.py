"""``linkguard inspect`` against a naive exact 4-item comparison, in the same run (issue 13).

    python -m bench.inspect_speed [--records 244246] [--residents 300000] [--runs 3] [--out DIR]

A prefecture's 2024 self-inspection held 244,246 records; its registry about
300,000 residents. This benchmark writes a labelled corpus of that size
(:mod:`linkguard.synthetic.corpus`, with every notation of :mod:`linkguard.synthetic.notations`), then
runs, alternately and ``--runs`` times each, as subprocesses:

* the **naive** comparison: plain Python reading the same files with the
  ``csv`` module, a dict of the registry by number, the record's name, birth
  date, sex and address compared exactly with the registry's, and a
  ``verdicts.csv`` written (what a clerk's script does; it catches nothing
  the real rules catch and holds every notation);
* the real ``linkguard inspect`` (every rule, the context of every record,
  suggestions, the reports), on all the cores it is given.

It prints the median wall time of each and their ratio (target ≤ 2×). The
machine may be shared: only the ratio of one run means anything; both
medians are printed with every single time. A benchmark reports, it does not
assert: the exit code is 0 whatever the figures.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

TARGET_RATIO = 2.0
PREFECTURE_RECORDS = 244_246
PREFECTURE_RESIDENTS = 300_000

# the header names the corpus's files use (linkguard.synthetic.corpus.STYLES and the registry), for the naive script
_HEADERS = {
    "number": ("個人番号", "マイナンバー", "my_number", "My Number"),
    "name": ("氏名", "name", "Name"),
    "birth": ("生年月日", "birth_date", "Date of Birth"),
    "sex": ("性別", "sex", "Gender"),
    "address": ("住所", "address", "Address"),
    "record_id": ("レコード番号", "管理番号", "record_id", "Record ID"),
}


def _column(header: list[str], field: str) -> int:
    for name in _HEADERS[field]:
        if name in header:
            return header.index(name)
    raise SystemExit(f"no {field} column in {header}")


def naive_inspection(registry: str, files: list[tuple[str, str, str]], out: Path) -> int:
    """The yardstick: exact comparison of the 4 items (and the address) by number. Returns the rows held."""
    with open(registry, encoding="utf-8-sig", newline="") as handle:
        reader = csv.reader(handle)
        header = next(reader)
        number, name, birth, sex, address = (_column(header, f) for f in ("number", "name", "birth", "sex",
                                                                           "address"))
        people = {row[number]: (row[name], row[birth], row[sex], row[address]) for row in reader}
    held = 0
    out.mkdir(parents=True, exist_ok=True)
    with open(out / "verdicts.csv", "w", encoding="utf-8", newline="") as result:
        writer = csv.writer(result)
        writer.writerow(("system", "record_id", "verdict"))
        for system, path, encoding in files:
            with open(path, encoding=encoding, newline="") as handle:
                reader = csv.reader(handle)
                header = next(reader)
                columns = [_column(header, f) for f in ("record_id", "number", "name", "birth", "sex", "address")]
                record_id, number, name, birth, sex, address = columns
                for row in reader:
                    person = people.get(row[number])
                    same = person is not None and person == (row[name], row[birth], row[sex], row[address])
                    held += not same
                    writer.writerow((system, row[record_id], "PASS" if same else "HOLD"))
    return held


def _generator_digest() -> str:
    """A digest of the corpus generator's source (``linkguard/synthetic``): a corpus written by
    another version of it (new notations, new causes) is written again."""
    import hashlib

    import linkguard.synthetic

    digest = hashlib.sha256()
    for path in sorted(Path(linkguard.synthetic.__file__).parent.glob("*.py")):
        digest.update(path.name.encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()[:16]


def _prepare(out: Path, records: int, residents: int, seed: int):
    """The corpus, written once per size, seed and generator version (a stamp file remembers which)."""
    from linkguard.synthetic.corpus import CorpusFiles, SYSTEMS, STYLES, make_corpus, write_corpus

    corpus_dir = out / "corpus"
    stamp = corpus_dir / "sizes.json"
    wanted = {"records": records, "residents": residents, "seed": seed, "generator": _generator_digest()}
    if stamp.exists() and json.loads(stamp.read_text()) == wanted:
        files = tuple((s, corpus_dir / f"records-{s}.csv") for s in SYSTEMS)
        encodings = {f"records-{s}.csv": STYLES[i].encoding for i, s in enumerate(SYSTEMS)}
        return CorpusFiles(corpus_dir, corpus_dir / "registry.csv", files, corpus_dir / "truth.csv",
                           {"registry.csv": "utf-8-sig", **encodings})
    print(f"writing a corpus of {records:,} records and {residents:,} residents (once) …", flush=True)
    corpus = make_corpus(records=records, residents=residents, seed=seed)
    files = write_corpus(corpus, corpus_dir)
    stamp.write_text(json.dumps(wanted))
    return files


def _inspect_command(files, out: Path) -> list[str]:
    script = Path(sys.executable).parent / "linkguard"
    command = [str(script)] if script.exists() else [sys.executable, "-m", "linkguard"]
    command += ["inspect", "--registry", str(files.registry)]
    for system, path in files.records:
        command += ["--system", system, str(path)]
    return command + ["--out", str(out)]


def _naive_command(files, out: Path) -> list[str]:
    command = [sys.executable, "-m", "bench.inspect_speed", "--naive", str(files.registry), "--out", str(out)]
    for system, path in files.records:
        command += ["--file", f"{system}:{path}:{files.encodings[path.name]}"]
    return command


def _run(command: list[str]) -> tuple[float, float]:
    """Wall seconds and CPU seconds (user + system, the process and every worker it waited for)."""
    env = {**os.environ, "NO_COLOR": "1", "COLUMNS": "120"}
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    process = subprocess.run(command, capture_output=True, text=True, env=env)
    seconds = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if process.returncode != 0:
        raise SystemExit(f"{command[0]} … failed (exit {process.returncode}):\n{process.stderr[-2000:]}")
    return seconds, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def add_corpus_arguments(parser: argparse.ArgumentParser, runs: str) -> None:
    """The options of the inspection benchmarks: the corpus's size and seed, the runs, the folder."""
    parser.add_argument("--records", type=int, default=PREFECTURE_RECORDS)
    parser.add_argument("--residents", type=int, default=PREFECTURE_RESIDENTS)
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--runs", type=int, default=3, help=runs)
    parser.add_argument("--out", type=Path, default=Path("var/bench-inspect"))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.inspect_speed", description=__doc__.split("\n\n")[0])
    add_corpus_arguments(parser, runs="runs of each, alternating (default 3)")
    parser.add_argument("--naive", metavar="REGISTRY", help=argparse.SUPPRESS)
    parser.add_argument("--file", action="append", default=[], help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.naive:  # the yardstick itself, run as its own process
        files = [tuple(item.rsplit(":", 2)) for item in args.file]
        naive_inspection(args.naive, files, args.out)
        return 0
    if args.runs < 1:
        parser.error("--runs must be 1 or more")
    files = _prepare(args.out, args.records, args.residents, args.seed)
    naive_times, inspect_times, naive_cpu, inspect_cpu = [], [], [], []
    for run in range(1, args.runs + 1):
        wall, cpu = _run(_naive_command(files, args.out / "naive"))
        naive_times.append(wall)
        naive_cpu.append(cpu)
        wall, cpu = _run(_inspect_command(files, args.out / "inspection"))
        inspect_times.append(wall)
        inspect_cpu.append(cpu)
        print(f"run {run}: naive {naive_times[-1]:.1f} s (CPU {naive_cpu[-1]:.1f} s), linkguard inspect "
              f"{inspect_times[-1]:.1f} s (CPU {inspect_cpu[-1]:.1f} s on all its processes): "
              f"{inspect_times[-1] / naive_times[-1]:.2f}×", flush=True)
    naive, inspect = statistics.median(naive_times), statistics.median(inspect_times)
    ratio = inspect / naive
    cpu_ratio = statistics.median(inspect_cpu) / statistics.median(naive_cpu)
    print(f"{args.records:,} records, {args.residents:,} residents, {os.cpu_count()} cores, load average "
          f"{os.getloadavg()[0]:.1f} (the machine may be shared: the ratio is what counts)")
    print(f"median wall time: naive exact 4-item comparison {naive:.1f} s, linkguard inspect {inspect:.1f} s: "
          f"{ratio:.2f}× (target ≤ {TARGET_RATIO:.0f}×) {'PASS' if ratio <= TARGET_RATIO else 'MISS'}")
    print(f"median CPU time (every process): naive {statistics.median(naive_cpu):.1f} s, linkguard inspect "
          f"{statistics.median(inspect_cpu):.1f} s: {cpu_ratio:.2f}× (the work done, whatever else runs)")
    (args.out / "inspect_speed.json").write_text(json.dumps({
        "records": args.records, "residents": args.residents, "naive_seconds": naive_times,
        "inspect_seconds": inspect_times, "naive_cpu_seconds": naive_cpu, "inspect_cpu_seconds": inspect_cpu,
        "ratio": ratio, "cpu_ratio": cpu_ratio, "target": TARGET_RATIO}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())

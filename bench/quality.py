"""``make bench-quality``: how well the guard rules catch real errors and leave correct records alone.

    python -m bench.quality [--out DIR] [--records N] [--seed S] [--error-rate R] [--speed-runs K]

1. writes a labelled corpus (:mod:`linkguard.synthetic.corpus`) to ``DIR/corpus``: a
   registry, one records file per process in every encoding and header
   style of the data contract, and ``truth.csv``;
2. runs the real ``linkguard inspect`` on it (the CLI, as a subprocess: what
   users run) into ``DIR/inspection``, and reads ``verdicts.csv``;
3. reads the same files in-process and calls
   :func:`linkguard.ops.inspection.inspect` (the function the CLI calls) for the
   findings' *details* — ``verdicts.csv`` has reason codes only, so whether
   a BATCH_SWAP names the other record is only visible there; the two runs
   are compared record by record;
4. times :func:`guards.check` alone on one core over the corpus records
   (median of ``--speed-runs``, by CPU time — on a shared machine the wall
   clock also counts other processes — with the wall figure beside it), a
   naive exact 4-item comparison in the same run for scale, and the context
   rules for information;
5. prints recall per error cause, the expected reason code per cause,
   false holds per benign variant, suggestion accuracy and speed, each
   beside its target with PASS/MISS, and writes ``DIR/quality.json`` and
   ``DIR/misses.csv`` (every missed error and every false hold, with its
   label and reasons; no My Number).

A benchmark reports, it does not assert: the exit code is 0 whatever the
figures (2 only for bad arguments). A correct record counts as falsely held
when its verdict is HOLD *or* INVALID (neither is sent on); the two are
shown apart. An error counts as caught only when HOLD; INVALID is shown
apart (a linkage error must be held for a reviewer, not refused).
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import statistics
import subprocess
import sys
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from linkguard.synthetic.corpus import CAUSES, VARIANTS, Corpus, CorpusFiles, Label, make_corpus, write_corpus
from guards.number import compact

console = Console()
if not console.is_terminal or console.width < 150:  # the tables need room; a narrow terminal wraps lines
    console = Console(width=170)

# issue 13: the targets with every notation of linkguard/synthetic/notations.py in the corpus
TARGET_RECALL = 1.0
TARGET_FALSE_HOLD = 0.0005
TARGET_SUGGESTIONS = 0.98
TARGET_WRONG_SUGGESTIONS = 0
TARGET_EXPECTED_REASON = 0.99
TARGET_SPEED = 40_000
TARGET_SWAP_NAMED = 1.0


@dataclass(frozen=True, slots=True)
class Outcome:
    """One record's verdict as ``verdicts.csv`` gives it (plus details when known)."""

    verdict: str
    reasons: tuple[str, ...]
    suggestion: str
    details: tuple[str, ...] = ()  # str(Finding), e.g. "BATCH_SWAP(ST-000012)"; empty when unknown

    @property
    def stopped(self) -> bool:
        return self.verdict != "PASS"


@dataclass
class Scores:
    """Every figure the benchmark prints (also written as JSON)."""

    records: int = 0
    correct: int = 0
    errors: int = 0
    per_cause: dict[str, dict] = field(default_factory=dict)
    per_variant: dict[str, dict] = field(default_factory=dict)
    false_hold: dict = field(default_factory=dict)
    suggestions: dict = field(default_factory=dict)
    speed: dict = field(default_factory=dict)
    agreement: dict = field(default_factory=dict)
    targets: list[dict] = field(default_factory=list)


# ---------------------------------------------------------------------------
# running the inspection


def linkguard_command() -> list[str]:
    """The ``linkguard`` script next to this interpreter, else ``python -m linkguard``."""
    script = Path(sys.executable).parent / "linkguard"
    return [str(script)] if script.exists() else [sys.executable, "-m", "linkguard"]


def run_cli(files: CorpusFiles, out: Path) -> tuple[float, subprocess.CompletedProcess]:
    """Run ``linkguard inspect`` on the corpus files; returns the wall time and the process."""
    command = [*linkguard_command(), "inspect", "--registry", str(files.registry)]
    for system, path in files.records:
        command += ["--system", system, str(path)]
    command += ["--out", str(out)]
    env = {**os.environ, "COLUMNS": "120", "NO_COLOR": "1"}
    started = time.perf_counter()
    process = subprocess.run(command, capture_output=True, text=True, env=env)
    return time.perf_counter() - started, process


def read_verdicts(path: Path) -> dict[tuple[str, str], Outcome]:
    """``verdicts.csv`` by (system, record_id). A details column, if the inspection ever writes one
    (``details`` or ``findings``), is kept as the details."""
    with open(path, encoding="utf-8", newline="") as handle:
        reader = csv.DictReader(handle)
        extra = next((c for c in reader.fieldnames or () if c.lower() in ("details", "findings")), None)
        out = {}
        for row in reader:
            reasons = tuple(code for code in (row.get("reasons") or "").split(";") if code)
            details = tuple(d for d in (row.get(extra) or "").split(";") if d) if extra else ()
            out[(row["system"], row["record_id"])] = Outcome(row["verdict"], reasons,
                                                            row.get("suggested_my_number") or "", details)
        return out


def in_process(files: CorpusFiles):
    """Residents, records and per-record findings from the inspection function the CLI calls.

    Returns ``(residents, records, outcomes, error)``; ``outcomes`` is ``None`` (and ``error``
    says why) if the in-process inspection could not run.
    """
    from streams import csvio

    residents = list(csvio.read_registry(files.registry))
    records = [record for system, path in files.records for record in csvio.read_records(path, system=system)]
    try:
        from linkguard.ops.inspection import inspect

        result = inspect(residents, records, systems=[s for s, _ in files.records])
    except Exception as error:  # noqa: BLE001 - report, never crash the benchmark
        return residents, records, None, f"{type(error).__name__}: {error}"
    outcomes = {}
    for row in result:
        record, verdict = row[0], row[1]
        outcomes[(record.system, record.record_id)] = Outcome(
            verdict.outcome.value, tuple(dict.fromkeys(f.reason.value for f in verdict.findings)),
            verdict.suggested_my_number, tuple(str(f) for f in verdict.findings))
    return residents, records, outcomes, ""


def _timed(work, runs: int) -> tuple[float, float]:
    """Median wall and CPU seconds of ``runs`` calls of ``work``.

    The CPU time (:func:`time.process_time`) is the one-core cost: on a shared
    machine the wall time also counts the time other processes held the core.
    """
    wall, cpu = [], []
    for _ in range(runs):
        started_wall, started_cpu = time.perf_counter(), time.process_time()
        work()
        wall.append(time.perf_counter() - started_wall)
        cpu.append(time.process_time() - started_cpu)
    return statistics.median(wall), statistics.median(cpu)


def guard_speed(residents, records, runs: int) -> dict:
    """records/s of :func:`guards.check` alone, one core, median of ``runs`` (by CPU time, and by
    wall time); a naive exact 4-item comparison in plain Python in the same run, for scale; and the
    context rules (:func:`guards.context.check_all`) for information."""
    from guards import check, index_by_number

    view = index_by_number(residents)

    def guard() -> None:
        for record in records:
            check(record, view)

    by_number = {r.my_number: (r.name, r.birth_date.isoformat(), str(r.sex), r.address) for r in residents}

    def naive() -> None:
        for record in records:
            known = by_number.get(record.my_number.strip())
            _ = known is not None and known == (record.name, record.birth_date, record.sex, record.address)

    guard()  # the caches warm, as in a running worker
    wall, cpu = _timed(guard, runs)
    naive_wall, naive_cpu = _timed(naive, runs)
    n = len(records)
    speed = {"records": n, "runs": runs, "check_seconds": cpu, "check_wall_seconds": wall,
             "check_per_second": n / cpu if cpu else 0.0, "check_wall_per_second": n / wall if wall else 0.0,
             "naive_per_second": n / naive_cpu if naive_cpu else 0.0,
             "naive_wall_per_second": n / naive_wall if naive_wall else 0.0}
    try:
        from guards.context import build_identity_index, check_all
    except ImportError:
        return speed
    identities = build_identity_index(residents)
    wall, cpu = _timed(lambda: check_all(records, view, identities), max(1, runs // 2))
    speed["context_seconds"] = cpu
    speed["context_per_second"] = n / cpu if cpu else 0.0
    return speed


# ---------------------------------------------------------------------------
# scoring


def _rate(part: int, whole: int) -> float:
    return part / whole if whole else 0.0


def _pct(value: float, digits: int = 1) -> str:
    return f"{value * 100:.{digits}f}%"


def _verdict(ok: bool) -> str:
    return "[green]PASS[/]" if ok else "[red]MISS[/]"


def score(corpus: Corpus, verdicts: dict[tuple[str, str], Outcome],
          details: dict[tuple[str, str], Outcome] | None) -> tuple[Scores, list[dict]]:
    """Compare verdicts with the labels. Returns the scores and the misses (for misses.csv)."""
    records = {(r.system, r.record_id): r for r in corpus.records}
    scores = Scores(records=len(corpus.labels), correct=corpus.correct, errors=corpus.errors)
    misses: list[dict] = []
    missing = Outcome("MISSING", (), "")
    details_known = details is not None or any(o.details for o in verdicts.values())

    def outcome_of(label: Label) -> Outcome:
        key = (label.system, label.record_id)
        found = verdicts.get(key, missing)
        if details is not None and key in details:
            found = Outcome(found.verdict, found.reasons, found.suggestion, details[key].details)
        return found

    # errors
    for cause in CAUSES:
        labels = [label for label in corpus.labels if label.cause == cause]
        held = invalid = passed = expected = named = 0
        other_codes: Counter[str] = Counter()
        for label in labels:
            outcome = outcome_of(label)
            held += outcome.verdict == "HOLD"
            invalid += outcome.verdict == "INVALID"
            passed += outcome.verdict in ("PASS", "MISSING")
            got_expected = label.expected_reason in outcome.reasons
            expected += got_expected
            other_codes.update(code for code in outcome.reasons if code != label.expected_reason)
            if label.other_record_id:
                named += any(d.startswith(label.expected_reason) and label.other_record_id in d
                             for d in outcome.details)
            if outcome.verdict != "HOLD" or not got_expected:
                misses.append(_miss(label, outcome, "error not held" if outcome.verdict != "HOLD"
                                    else f"held without {label.expected_reason}"))
        expected_codes = sorted({label.expected_reason for label in labels})
        scores.per_cause[cause] = {
            "errors": len(labels), "held": held, "invalid": invalid, "passed": passed,
            "recall": _rate(held, len(labels)), "expected": "/".join(expected_codes),
            "expected_given": expected, "expected_rate": _rate(expected, len(labels)),
            "other_named": named if details_known else None,
            "with_other": sum(bool(label.other_record_id) for label in labels),
            "other_codes": dict(other_codes.most_common(3)),
        }

    # correct records
    by_variant: dict[str, list[Label]] = defaultdict(list)
    for label in corpus.labels:
        if not label.is_error:
            by_variant[label.variant].append(label)
    total_held = total_invalid = 0
    for variant in ("plain", *VARIANTS):
        labels = by_variant.get(variant, [])
        held = invalid = 0
        reasons: Counter[str] = Counter()
        examples: list[str] = []
        for label in labels:
            outcome = outcome_of(label)
            if not outcome.stopped:
                continue
            held += outcome.verdict == "HOLD"
            invalid += outcome.verdict != "HOLD"
            reasons.update(outcome.reasons)
            if len(examples) < 3:
                examples.append(f"{label.record_id} {label.detail or '-'}: "
                                f"{', '.join(outcome.details or outcome.reasons)}")
            misses.append(_miss(label, outcome, "correct record stopped"))
        total_held += held
        total_invalid += invalid
        scores.per_variant[variant] = {
            "records": len(labels), "held": held, "invalid": invalid,
            "rate": _rate(held + invalid, len(labels)), "reasons": dict(reasons.most_common(3)),
            "examples": examples,
        }
    partners = [label for label in corpus.labels if not label.is_error and label.number_also_on_error]
    scores.false_hold = {
        "correct": corpus.correct, "held": total_held, "invalid": total_invalid,
        "rate": _rate(total_held + total_invalid, corpus.correct),
        "number_also_on_error": len(partners),
        "number_also_on_error_stopped": sum(outcome_of(label).stopped for label in partners),
    }

    # suggestions
    per_cause: dict[str, Counter] = {}
    eligible = right = wrong = absent = 0
    wrong_elsewhere = Counter()
    for label in corpus.labels:
        outcome = outcome_of(label)
        own = compact(records[(label.system, label.record_id)].my_number)
        if label.is_error and label.true_my_number != own:
            counts = per_cause.setdefault(label.cause, Counter())
            counts["eligible"] += 1
            eligible += 1
            if outcome.suggestion == label.true_my_number:
                counts["right"] += 1
                right += 1
            elif outcome.suggestion:
                counts["wrong"] += 1
                wrong += 1
            else:
                counts["absent"] += 1
                absent += 1
        elif outcome.suggestion:  # the record's number is already the person's: any suggestion is wrong
            wrong_elsewhere["error (own number)" if label.is_error else "correct record"] += 1
    scores.suggestions = {
        "eligible": eligible, "right": right, "wrong": wrong, "absent": absent,
        "accuracy": _rate(right, eligible), "wrong_elsewhere": dict(wrong_elsewhere),
        "per_cause": {cause: dict(counts) for cause, counts in per_cause.items()},
    }
    return scores, misses


def _miss(label: Label, outcome: Outcome, what: str) -> dict:
    return {"what": what, "system": label.system, "record_id": label.record_id, "cause": label.cause,
            "variant": label.variant, "detail": label.detail, "expected_reason": label.expected_reason,
            "other_record_id": label.other_record_id, "verdict": outcome.verdict,
            "reasons": ";".join(outcome.reasons), "findings": ";".join(outcome.details),
            "suggestion": ("none" if not outcome.suggestion else
                           "right" if outcome.suggestion == label.true_my_number else "wrong")}


def agreement(verdicts: dict[tuple[str, str], Outcome], details: dict[tuple[str, str], Outcome] | None) -> dict:
    """How many records the CLI and the in-process inspection judged differently."""
    if details is None:
        return {"compared": 0, "differ": 0}
    differ = [key for key, outcome in details.items()
              if (v := verdicts.get(key)) is None or (v.verdict, set(v.reasons), v.suggestion)
              != (outcome.verdict, set(outcome.reasons), outcome.suggestion)]
    return {"compared": len(details), "differ": len(differ), "examples": [f"{s}/{r}" for s, r in differ[:5]]}


# ---------------------------------------------------------------------------
# printing


def print_corpus(corpus: Corpus, files: CorpusFiles) -> None:
    causes, variants = corpus.composition()
    table = Table(title=f"corpus (seed {corpus.seed}): {len(corpus.records):,} records, "
                        f"{corpus.correct:,} correct, {corpus.errors:,} errors, {len(corpus.residents):,} residents")
    for column in ("file", "encoding", "headers", "records", "errors"):
        table.add_column(column, justify="right" if column in ("records", "errors") else "left")
    rows = Counter(label.file for label in corpus.labels)
    wrong = Counter(label.file for label in corpus.labels if label.is_error)
    table.add_row(files.registry.name, files.encodings[files.registry.name], "ja", f"{len(corpus.residents):,}", "")
    for system, path in files.records:
        style = corpus.styles[system]
        table.add_row(path.name, style.encoding, f"{style.language} ({style.headers[0]}, {style.headers[3]}…)",
                      f"{rows[path.name]:,}", f"{wrong[path.name]:,}")
    console.print(table)
    console.print("errors per cause: " + ", ".join(f"{c} {causes[c]}" for c in CAUSES))
    console.print(f"correct records: plain {variants['plain']:,}, {len(variants) - 1} benign variants "
                  f"({sum(variants.values()) - variants['plain']:,} records, "
                  f"{min(variants[v] for v in VARIANTS)}–{max(variants[v] for v in VARIANTS)} each)")


def print_recall(scores: Scores, have_details: bool) -> None:
    table = Table(title="recall on true errors (caught = HOLD; target 100% per cause)")
    for column in ("cause", "errors", "HOLD", "INVALID", "PASS", "recall", "expected code", "given",
                   "other record named", "other codes", "result"):
        table.add_column(column, justify="left" if column in ("cause", "expected code", "other codes") else "right",
                         overflow="fold")
    for cause, s in scores.per_cause.items():
        named = "—"
        if s["with_other"]:
            named = (f"{s['other_named']}/{s['with_other']}" if have_details and s["other_named"] is not None
                     else "n/a (codes only)")
        table.add_row(cause, str(s["errors"]), str(s["held"]), str(s["invalid"]), str(s["passed"]),
                      _pct(s["recall"]), s["expected"], f"{s['expected_given']} ({_pct(s['expected_rate'], 0)})",
                      named, escape(", ".join(f"{c} {n}" for c, n in s["other_codes"].items())),
                      _verdict(s["recall"] >= TARGET_RECALL))
    console.print(table)


def print_false_holds(scores: Scores) -> None:
    table = Table(title=f"false holds on correct records, per variant (HOLD or INVALID; target ≤ "
                        f"{_pct(TARGET_FALSE_HOLD, 2)} overall)")
    for column in ("variant", "records", "HOLD", "INVALID", "rate", "reasons", "examples (record, what differs: findings)"):
        table.add_column(column, justify="left" if column in ("variant", "reasons") or column.startswith("ex")
                         else "right", overflow="fold")
    for variant, s in scores.per_variant.items():
        stopped = s["held"] + s["invalid"]
        style = "red" if stopped else ""
        table.add_row(f"[{style}]{variant}[/]" if style else variant, f"{s['records']:,}", str(s["held"]),
                      str(s["invalid"]), _pct(s["rate"], 2),
                      escape(", ".join(f"{c} {n}" for c, n in s["reasons"].items())),
                      escape("\n".join(s["examples"][:2])))
    f = scores.false_hold
    table.add_row("[bold]all correct[/]", f"[bold]{f['correct']:,}[/]", f"[bold]{f['held']}[/]",
                  f"[bold]{f['invalid']}[/]", f"[bold]{_pct(f['rate'], 2)}[/]", "", "")
    console.print(table)
    console.print(f"false-hold rate {_pct(f['rate'], 3)} (target ≤ {_pct(TARGET_FALSE_HOLD, 2)}) "
                  f"{_verdict(f['rate'] <= TARGET_FALSE_HOLD)}; of which correct records whose number an "
                  f"error record also carries (swap/shared partners, relatives): "
                  f"{f['number_also_on_error_stopped']} of {f['number_also_on_error']} stopped")


def print_suggestions(scores: Scores) -> None:
    s = scores.suggestions
    table = Table(title=f"suggestions for errors whose true person is in the registry (target ≥ "
                        f"{_pct(TARGET_SUGGESTIONS, 0)} right, {TARGET_WRONG_SUGGESTIONS} wrong)")
    for column in ("cause", "errors", "right", "wrong", "none"):
        table.add_column(column, justify="left" if column == "cause" else "right")
    for cause, counts in s["per_cause"].items():
        table.add_row(cause, str(counts.get("eligible", 0)), str(counts.get("right", 0)),
                      str(counts.get("wrong", 0)), str(counts.get("absent", 0)))
    table.add_row("[bold]all[/]", f"[bold]{s['eligible']}[/]", f"[bold]{s['right']}[/]", f"[bold]{s['wrong']}[/]",
                  f"[bold]{s['absent']}[/]")
    console.print(table)
    elsewhere = ", ".join(f"{n} on {what}" for what, n in s["wrong_elsewhere"].items()) or "none"
    console.print(f"suggestion accuracy {_pct(s['accuracy'])} (target ≥ {_pct(TARGET_SUGGESTIONS, 0)}) "
                  f"{_verdict(s['accuracy'] >= TARGET_SUGGESTIONS and s['wrong'] <= TARGET_WRONG_SUGGESTIONS)}; "
                  f"wrong suggestions: {s['wrong']} on errors, "
                  f"suggestions where none is due: {elsewhere}")


def print_speed(scores: Scores) -> None:
    s = scores.speed
    console.print(f"guards.check alone, one core: {s['check_per_second']:,.0f} records/s of CPU time "
                  f"({s.get('check_wall_per_second', 0):,.0f}/s by the wall clock; median of {s['runs']} runs over "
                  f"{s['records']:,} records; target ≥ {TARGET_SPEED:,}/s) {_verdict(s['check_per_second'] >= TARGET_SPEED)}")
    if s.get("naive_per_second") and s.get("check_per_second"):
        console.print(f"same run, for scale (the machine may be shared: compare the ratio): a naive exact 4-item "
                      f"comparison {s['naive_per_second']:,.0f} records/s; guards.check takes "
                      f"{s['naive_per_second'] / s['check_per_second']:.1f}× its time")
    if "context_per_second" in s:
        console.print(f"guards.context.check_all (check + family/batch/shared/date rules + suggestions), "
                      f"for information: {s['context_per_second']:,.0f} records/s of CPU time")


def targets(scores: Scores) -> list[dict]:
    missed = [c for c, s in scores.per_cause.items() if s["recall"] < TARGET_RECALL]
    expected_given = sum(s["expected_given"] for s in scores.per_cause.values())
    swap = scores.per_cause["batch_swap"]
    named = swap["other_named"]
    swap_ok = swap["expected_given"] == swap["errors"] and named is not None and named == swap["with_other"]
    rows = [
        {"target": "recall 100% on every error cause",
         "figure": "all causes 100%" if not missed else "below: " + ", ".join(
             f"{c} {_pct(scores.per_cause[c]['recall'], 0)}" for c in missed),
         "ok": not missed},
        {"target": f"false-hold rate ≤ {_pct(TARGET_FALSE_HOLD, 2)} of correct records",
         "figure": f"{_pct(scores.false_hold['rate'], 3)} ({scores.false_hold['held'] + scores.false_hold['invalid']}"
                   f" of {scores.false_hold['correct']:,})",
         "ok": scores.false_hold["rate"] <= TARGET_FALSE_HOLD},
        {"target": "every batch swap reported as BATCH_SWAP naming the other record",
         "figure": f"BATCH_SWAP {swap['expected_given']}/{swap['errors']}, other named "
                   + (f"{named}/{swap['with_other']}" if named is not None else "not measurable (codes only)"),
         "ok": swap_ok},
        {"target": f"right suggestion for ≥ {_pct(TARGET_SUGGESTIONS, 0)} of errors whose person is in the "
                   f"registry, {TARGET_WRONG_SUGGESTIONS} wrong (none where none is due)",
         "figure": f"{_pct(scores.suggestions['accuracy'])} ({scores.suggestions['right']}/"
                   f"{scores.suggestions['eligible']}; {scores.suggestions['wrong']} wrong, "
                   f"{sum(scores.suggestions['wrong_elsewhere'].values())} undue)",
         "ok": (scores.suggestions["accuracy"] >= TARGET_SUGGESTIONS
                and scores.suggestions["wrong"] + sum(scores.suggestions["wrong_elsewhere"].values())
                <= TARGET_WRONG_SUGGESTIONS)},
        {"target": f"the expected reason named on ≥ {_pct(TARGET_EXPECTED_REASON, 0)} of errors",
         "figure": f"{_pct(_rate(expected_given, scores.errors))} ({expected_given}/{scores.errors})",
         "ok": _rate(expected_given, scores.errors) >= TARGET_EXPECTED_REASON},
        {"target": f"guards.check ≥ {TARGET_SPEED:,} records/s on one core",
         "figure": f"{scores.speed.get('check_per_second', 0):,.0f} records/s",
         "ok": scores.speed.get("check_per_second", 0) >= TARGET_SPEED},
    ]
    return rows


def print_targets(rows: list[dict]) -> None:
    table = Table(title="targets")
    table.add_column("target")
    table.add_column("figure")
    table.add_column("result")
    for row in rows:
        table.add_row(row["target"], escape(row["figure"]), _verdict(row["ok"]))
    console.print(table)


def write_misses(path: Path, misses: list[dict]) -> None:
    columns = ("what", "system", "record_id", "cause", "variant", "detail", "expected_reason", "other_record_id",
               "verdict", "reasons", "findings", "suggestion")
    with open(path, "w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, columns)
        writer.writeheader()
        writer.writerows(misses)


# ---------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.quality", description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=Path("var/bench-quality"),
                        help="folder for the corpus, the inspection output and the scores (default var/bench-quality)")
    parser.add_argument("--records", type=int, default=24_000, help="records in the corpus (default 24,000)")
    parser.add_argument("--seed", type=int, default=2025, help="corpus seed (default 2025)")
    parser.add_argument("--error-rate", type=float, default=0.015, help="share of error records (default 0.015)")
    parser.add_argument("--speed-runs", type=int, default=5, help="timed runs of guards.check (default 5)")
    args = parser.parse_args(argv)
    if args.speed_runs < 1:
        parser.error("--speed-runs must be 1 or more")

    out: Path = args.out
    try:
        corpus = make_corpus(records=args.records, seed=args.seed, error_rate=args.error_rate)
    except ValueError as error:
        parser.error(str(error))
    files = write_corpus(corpus, out / "corpus")
    print_corpus(corpus, files)

    inspection_dir = out / "inspection"
    seconds, process = run_cli(files, inspection_dir)
    verdicts_path = inspection_dir / "verdicts.csv"
    if process.returncode != 0 or not verdicts_path.exists():
        console.print(f"[red]linkguard inspect failed[/] (exit {process.returncode}):")
        console.print(escape(process.stderr[-3000:] or process.stdout[-3000:]))
        console.print("[red]MISS[/] every target: no verdicts to score")
        return 0
    console.print(f"linkguard inspect: {len(corpus.records):,} records in {seconds:.1f} s "
                  f"({len(corpus.records) / seconds:,.0f} records/s including start-up) → {verdicts_path}")
    verdicts = read_verdicts(verdicts_path)
    have_file_details = any(o.details for o in verdicts.values())

    residents, records, details, problem = in_process(files)
    if details is None:
        console.print(f"[yellow]in-process inspection unavailable[/] ({escape(problem)}): "
                      "findings' details (the other record of a batch swap) cannot be measured")
    if have_file_details:
        details = None  # verdicts.csv carries the details itself
    scores, misses = score(corpus, verdicts, details)
    scores.agreement = agreement(verdicts, details)
    if scores.agreement["differ"]:
        console.print(f"[red]the CLI and the in-process inspection disagree on {scores.agreement['differ']} "
                      f"records[/] (e.g. {', '.join(scores.agreement['examples'])})")
    elif details is not None:
        console.print(f"CLI and in-process inspection agree on all {scores.agreement['compared']:,} records "
                      "(details of findings read from the latter: verdicts.csv has reason codes only)")
    missing = sum(1 for label in corpus.labels if (label.system, label.record_id) not in verdicts)
    if missing:
        console.print(f"[red]{missing} records have no row in verdicts.csv[/] (counted as PASS)")

    scores.speed = guard_speed(residents, records, args.speed_runs)

    print_recall(scores, details is not None or have_file_details)
    print_false_holds(scores)
    print_suggestions(scores)
    print_speed(scores)
    scores.targets = targets(scores)
    print_targets(scores.targets)

    write_misses(out / "misses.csv", misses)
    (out / "quality.json").write_text(json.dumps(scores.__dict__, ensure_ascii=False, indent=1), encoding="utf-8")
    console.print(f"written: {out / 'quality.json'}, {out / 'misses.csv'} ({len(misses)} rows), "
                  f"corpus in {files.out_dir}, verdicts in {inspection_dir}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

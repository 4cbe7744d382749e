"""The ``linkguard`` command line (typer). Every command has ``--help``."""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.markup import escape

from linkguard.cli import dlq, hq, ops, review as review_cli, security, web
from linkguard.cli.common import console, fail, kafka_settings, progress_bar

app = typer.Typer(
    help="linkage guard: stops wrong My Number linkages before they reach the intermediate server.",
    no_args_is_help=True, add_completion=False,
)
registry_app = typer.Typer(help="Resident-registry (住民基本台帳) snapshots.", no_args_is_help=True)
app.add_typer(registry_app, name="registry")
app.add_typer(dlq.dlq_app, name="dlq")  # dead letters: list, show, replay
app.add_typer(review_cli.review_app, name="review")  # held records: list, show, release, approve, correct, return
app.add_typer(review_cli.users_app, name="users")  # review accounts: add, list
app.add_typer(security.audit_app, name="audit")  # verify the audit log's hash chain
app.add_typer(security.db_app, name="db")  # create the schema as the owner; grant the application role
app.add_typer(hq.hq_app, name="hq")  # the headquarters: board, survey, rounds, uploads, exports, stops, letters
app.command("exposure")(hq.exposure_command)  # the exposure investigation (情報漏洩の有無)

@registry_app.command("load")
def registry_load(
    file: Annotated[Path, typer.Argument(help="registry extract (CSV: CP932/UTF-8, Japanese or English headers)")],
    encoding: Annotated[Optional[str], typer.Option(help="override encoding detection, e.g. cp932")] = None,
) -> None:
    """Publish a resident-registry extract to the compacted registry topic, keyed by My Number.

    Each resident is also published under each of their former numbers, so a
    record carrying an old number still finds its person.
    """
    from streams.csvio import CsvError, read_registry
    from streams.publish import Publisher
    from streams.topics import ensure_topics

    try:  # the file first: its errors need no cluster
        residents = list(read_registry(file, encoding=encoding))
    except (CsvError, OSError) as e:
        fail(str(e))
    settings = kafka_settings()
    ensure_topics(settings)
    with progress_bar() as progress, Publisher(settings) as publisher:
        task = progress.add_task("publishing residents", total=len(residents))
        result = publisher.publish_residents(residents, on_sent=lambda n: progress.advance(task, n))
    console.print(f"published {len(residents):,} residents ({result.sent:,} messages with former numbers) "
                  f"to registry.residents")


@app.command()
def publish(
    file: Annotated[Path, typer.Argument(help="business-system extract (CSV)")],
    system: Annotated[Optional[str], typer.Option(help="process code, e.g. shintai-techo (or a 事務 column)")] = None,
    encoding: Annotated[Optional[str], typer.Option(help="override encoding detection")] = None,
) -> None:
    """Publish one Avro RecordChanged event per row to linkage.records (acks=all)."""
    from streams.csvio import CsvError, read_records
    from streams.publish import Publisher
    from streams.topics import ensure_topics

    try:  # the file first: its errors need no cluster
        records = list(read_records(file, system=system, encoding=encoding))
    except (CsvError, OSError) as e:
        fail(str(e))
    settings = kafka_settings()
    ensure_topics(settings)
    with progress_bar() as progress, Publisher(settings) as publisher:
        task = progress.add_task("publishing records", total=len(records))
        publisher.publish_records(records, on_sent=lambda n: progress.advance(task, n))
    console.print(f"published {len(records):,} records to linkage.records")


@app.command()
def worker(
    loglevel: Annotated[str, typer.Option(help="Faust log level")] = "warning",
    store: Annotated[str, typer.Option(help="table store: memory:// or rocksdb://")] = "memory://",
) -> None:
    """Run a Faust guard worker (scale out by running more, one consumer group).

    Events of a process code missing from the process catalogue are dead-lettered
    as UNKNOWN_SYSTEM (see streams/envelope.py).
    """
    from linkguard.catalogue import CatalogueError, load_catalogue
    from streams.app import create_app, run_worker
    from streams.topics import ensure_topics

    settings = kafka_settings()
    try:
        known_systems = {p.code for p in load_catalogue()}
    except CatalogueError as e:
        fail(str(e))
    from streams.faust_fixes import FaustModeError

    try:
        guard = create_app(settings, store=store, known_systems=known_systems)
    except FaustModeError as e:
        fail(str(e))
    ensure_topics(settings)
    run_worker(guard.app, loglevel=loglevel)


@app.command()
def sink() -> None:
    """Run the sink writer: verdict topics → intermediate-server copies, review store, dead letters."""
    from sinks.worker import run_sink
    from sinks import SinkWriter, make_engine
    from sinks.settings import DatabaseSettings
    from streams.topics import ensure_topics

    settings = kafka_settings()
    ensure_topics(settings)
    database = DatabaseSettings()
    from sinks.schema import SchemaOutdated

    writer = SinkWriter(make_engine(database.database_url, pool_size=database.database_pool_size))
    try:
        writer.create_schema()
    except SchemaOutdated as e:  # the application role may not upgrade an earlier release's database
        fail(str(e))
    run_sink(settings, writer)


@app.command()
def broker(
    port: Annotated[int, typer.Option(help="loopback port; 0 picks a free one")] = 0,
) -> None:
    """Run the embedded local broker (Tansu, memory only) in the foreground."""
    import time

    from streams.broker import LocalBroker
    from streams.children import stop_on_termination

    stop_on_termination()  # `kill PID` stops the broker in order, like Ctrl-C (kill -9: the kernel does)
    with LocalBroker(port or None) as local:
        console.print(f"local broker on {local.bootstrap} (memory only; Ctrl-C stops it)\n"
                      f"  export LINKGUARD_KAFKA_BOOTSTRAP={local.bootstrap} LINKGUARD_LOCAL_MODE=1")
        try:
            while local.running:
                time.sleep(1)
        except KeyboardInterrupt:
            pass


app.command("lag")(ops.lag)  # consumer lag per partition, with Burrow's statuses
app.command("metrics")(ops.metrics)  # Prometheus exporter: lag + database totals
app.command("reconcile")(ops.reconcile)  # 点検B: sink copies vs a business-system extract
app.command("web")(web.web)  # reviewers' web screen (uvicorn)


@app.command("inspect")
def inspect_command(
    registry: Annotated[Path, typer.Option(help="registry extract (CSV)")],
    system: Annotated[list[str], typer.Option(
        help="process code and its extract: --system CODE FILE.csv (repeatable)", metavar="CODE FILE")],
    out: Annotated[Path, typer.Option(help="output folder for verdicts.csv, report.csv, report.html")],
    files: Annotated[Optional[list[Path]], typer.Argument(hidden=True)] = None,
    encoding: Annotated[Optional[str], typer.Option(
        help="encoding of the extracts (default: detected per file), e.g. cp932")] = None,
    registry_encoding: Annotated[Optional[str], typer.Option(
        "--registry-encoding", help="encoding of the registry (default: detected)")] = None,
) -> None:
    """Batch inspection of whole extracts with the same rules as the stream (no broker needed).

    Usage: linkguard inspect --registry REG.csv --system CODE FILE.csv [--system CODE2 FILE2.csv ...] --out DIR
    """
    from linkguard.catalogue import CatalogueError
    from linkguard.ops.inspection import run_inspection
    from streams.csvio import CsvError

    pairs = _system_pairs(system, files or [])
    try:
        # the records stay in memory for the process's end (_end_at_once) to drop at no cost
        summary = run_inspection(registry, pairs, out, encoding=encoding, registry_encoding=registry_encoding,
                                 free=not _COMMAND_LINE)
    except (CsvError, CatalogueError, OSError) as e:
        fail(str(e))
    _print_inspection(summary, out)
    _end_at_once()


#: set by :func:`main` (the installed ``linkguard`` command) only: an in-process caller (a test's
#: CliRunner, a notebook) keeps its interpreter
_COMMAND_LINE = False


def _end_at_once() -> None:
    """End the process now, its files written and its output flushed, skipping the interpreter's
    teardown: after a prefecture's inspection that teardown frees half a gigabyte of small objects
    one by one, 0.35 s of a 5 s run, for a process about to end (mypy ends the same way)."""
    if not _COMMAND_LINE:
        return
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)


def _system_pairs(codes: list[str], files: list[Path]) -> list[tuple[str, Path]]:
    """Pair each --system CODE with the FILE that follows it on the command line."""
    if len(codes) != len(files):
        fail(f"give one file after each --system CODE (got {len(codes)} codes and {len(files)} files)")
    return list(zip(codes, files))


def _print_inspection(summary, out: Path) -> None:
    from rich.table import Table

    from guards import Reason

    table = Table(title=f"inspection: {summary.total:,} records against {summary.residents:,} residents "
                        f"({summary.records_per_second:,.0f} records/s)")
    for column in ("process", "PASS", "HOLD", "INVALID"):
        table.add_column(column, justify="left" if column == "process" else "right")
    for system, counts in summary.by_system.items():
        table.add_row(escape(system), *(f"{counts.get(v, 0):,}" for v in ("PASS", "HOLD", "INVALID")))
    table.add_row("[bold]total[/]", *(f"[bold]{summary.by_verdict.get(v, 0):,}[/]" for v in ("PASS", "HOLD", "INVALID")))
    console.print(table)
    reasons = Table(title="reasons")
    reasons.add_column("code")
    reasons.add_column("records", justify="right")
    reasons.add_column("meaning")
    for code, count in sorted(summary.by_reason.items(), key=lambda kv: -kv[1]):
        label = Reason(code).label_ja if code in Reason.__members__ else ""
        reasons.add_row(code, f"{count:,}", label)
    console.print(reasons)
    console.print(f"suggested numbers: {summary.suggestions:,}")
    console.print(escape(f"written: {out / 'verdicts.csv'}, {out / 'report.csv'}, {out / 'report.html'}, "
                         f"{out / 'explanations.csv'}"))


@app.command()
def sample(
    out: Annotated[Path, typer.Option(help="folder to write registry.csv, records-*.csv, truth.csv")],
    residents: Annotated[int, typer.Option(help="synthetic residents")] = 10_000,
    records: Annotated[int, typer.Option(help="records per process")] = 2_000,
    seed: Annotated[int, typer.Option(help="random seed (same seed, same files)")] = 2024,
) -> None:
    """Write the synthetic registry and business records the demo uses, with injected errors."""
    from linkguard.synthetic.sample import generate

    files = generate(out, residents=residents, records_per_system=records, seed=seed)
    console.print(escape(f"wrote sample files to {out}:"))
    console.print(files)


@app.command()
def demo(
    residents: Annotated[int, typer.Option(help="synthetic residents")] = 10_000,
    records: Annotated[int, typer.Option(help="records per process")] = 2_000,
    workers: Annotated[int, typer.Option(help="guard workers (processes)")] = 2,
    serve: Annotated[bool, typer.Option(help="keep broker and workers running after the summary")] = False,
) -> None:
    """The main job end to end: broker, sample data, publish, guard, sink, summary.

    Starts the embedded local broker unless LINKGUARD_KAFKA_BOOTSTRAP is set, and
    uses a SQLite file unless LINKGUARD_DATABASE_URL is set. It resets the
    linkguard tables of that database: never point it at production.
    """
    from linkguard.synthetic.demo import run_demo

    run_demo(residents=residents, records_per_system=records, workers=workers, serve=serve, console=console)



def main() -> None:
    global _COMMAND_LINE
    _COMMAND_LINE = True
    level = os.environ.get("LINKGUARD_LOG_LEVEL", "WARNING").upper()
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if level != "DEBUG":
        # kafka-python warns whenever a callback holds its event loop for 0.1 s; on a busy
        # 2-core machine that is every few seconds and says nothing an operator can act on.
        logging.getLogger("kafka.net.selector").setLevel(logging.ERROR)
    app()


if __name__ == "__main__":
    main()

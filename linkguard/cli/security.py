"""``linkguard audit verify`` and ``linkguard db init``: the audit log's hash chain and the database roles.

``audit verify`` walks the audit log oldest first, checks every row's hash
and its link to the row before (:mod:`sinks.audit`), prints the head (row id
and hash: keep it somewhere else, a later head must chain through it) and
exits 1 naming the first broken row.

``db init`` creates the sink schema with the database URL it is given (the
owner role's) and, on PostgreSQL, grants ``--app-role`` what the application
needs: every table but the audit log fully, the audit log only INSERT and
SELECT (:mod:`sinks.roles`). The application then runs as that role.
"""

from __future__ import annotations

import json
from typing import Annotated, Optional

import typer
from rich.markup import escape

from linkguard.cli.common import console, err, fail

__all__ = ["audit_app", "db_app"]

audit_app = typer.Typer(help="The audit log: verify its hash chain.", no_args_is_help=True)
db_app = typer.Typer(help="The sink database: create the schema as its owner, grant the application role.",
                     no_args_is_help=True)


def _engine(url: str | None):
    from sqlalchemy.engine import make_url

    from sinks import DriverMissing, make_engine
    from sinks.settings import DatabaseSettings

    url = url or DatabaseSettings().database_url
    try:
        return make_engine(url, pool_size=1)
    except (DriverMissing, ValueError) as e:
        fail(f"database {make_url(url).render_as_string()}: {e}")


@audit_app.command("verify")
def audit_verify(as_json: Annotated[bool, typer.Option("--json", help="one JSON document")] = False) -> None:
    """Check the audit log's hash chain; name the first row that was changed, removed or inserted."""
    from sqlalchemy.exc import SQLAlchemyError

    from sinks.audit import verify_chain
    from sinks.schema import SchemaOutdated
    from sinks import db_error_text

    try:
        report = verify_chain(_engine(None))
    except SchemaOutdated as e:
        fail(str(e))
    except SQLAlchemyError as e:
        fail(f"sink database (LINKGUARD_DATABASE_URL): {db_error_text(e)}")
    if as_json:
        typer.echo(json.dumps({"intact": report.intact, "rows_checked": report.checked, "head_id": report.head_id,
                               "head_hash": report.head_hash, "broken_id": report.broken_id,
                               "problem": report.problem, "unchained_rows": report.unchained,
                               "unchained_first_id": report.unchained_first,
                               "unchained_last_id": report.unchained_last}))
    elif report.intact:
        console.print(f"[green]{escape(report.describe().split('; ')[0])}[/]")
        if report.unchained:  # never shown as verified: rows from before the chain
            err.print(f"[yellow]warning:[/] {escape(report.describe_unchained())}")
    else:
        err.print(f"[red]{escape(report.describe())}[/]")
    if not report.intact:
        raise typer.Exit(1)


@db_app.command("init")
def db_init(
    app_role: Annotated[Optional[str], typer.Option(
        "--app-role", help="PostgreSQL role the application runs as: INSERT/SELECT only on the audit log")] = None,
    url: Annotated[Optional[str], typer.Option(
        "--url", help="the owner's database URL (default LINKGUARD_DATABASE_URL)")] = None,
) -> None:
    """Create the sink schema as the owner role; grant the application role its share (idempotent)."""
    from sqlalchemy.exc import SQLAlchemyError

    from sinks.roles import RoleError, audit_guard, init_database
    from sinks.schema import SchemaOutdated
    from sinks import db_error_text

    engine = _engine(url)
    try:
        added = init_database(engine, app_role)
        owner = audit_guard(engine)
    except (RoleError, SchemaOutdated) as e:
        fail(str(e))
    except SQLAlchemyError as e:
        fail(f"database: {db_error_text(e)}")
    if added:
        console.print(f"added: {escape(', '.join(added))}")
    console.print("schema ready" + (f"; {escape(app_role)} may only add to and read the audit log"
                                    if app_role else ""))
    if engine.dialect.name == "postgresql" and not app_role:
        err.print(f"[yellow]warning:[/] {escape(owner.describe())}")

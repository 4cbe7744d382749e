"""``linkguard review list|show|release|approve|correct|return|assign`` and ``linkguard users add|list``.

The same work as the review screen, for scripts. Every command acts as an
account (``--user`` or ``LINKGUARD_REVIEW_USER``) that must exist, be active
and hold the role the action needs; operators see the queue without names or
numbers. Numbers are masked unless ``show --reveal`` (audited, like every
view and decision). A corrected number is read from a hidden prompt with
``--number -`` so it stays out of shell history; ``--suggested`` takes the
guard's suggestion without anybody seeing it.

Decisions are published to ``linkage.decisions`` (Kafka settings as for every
command); they show as done once the guard has ruled on them and the sink has
applied the ruling.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import sys
from typing import Annotated, Any, Optional

import typer
from rich.markup import escape
from rich.table import Table

from linkguard.cli.common import console, database_engine, database_failure, err, fail

__all__ = ["review_app", "users_app", "parse_age"]

review_app = typer.Typer(help="Held records: the reviewers' queue, a record, and decisions.", no_args_is_help=True)
users_app = typer.Typer(help="Review accounts: add and list users (roles reviewer, approver, operator, admin), "
                             "and their API tokens.", no_args_is_help=True)
token_app = typer.Typer(help="Per-user API tokens for the CLI and scripts (made by an admin).", no_args_is_help=True)
users_app.add_typer(token_app, name="token")

UserOption = Annotated[Optional[str], typer.Option(
    "--user", "-u", envvar="LINKGUARD_REVIEW_USER", help="the account acting (or LINKGUARD_REVIEW_USER)")]
CommentOption = Annotated[str, typer.Option("--comment", "-m", help="why (mandatory; no My Numbers please)")]


def _service(*, publishing: bool = False):
    from linkguard.review.service import KafkaDecisionPublisher, ReviewService

    publisher = None
    if publishing:
        from streams.settings import KafkaSettings

        settings = KafkaSettings()
        if not settings.kafka_bootstrap:
            fail("decisions are published to Kafka: set LINKGUARD_KAFKA_BOOTSTRAP=host:port")
        publisher = KafkaDecisionPublisher(settings)
    return ReviewService(database_engine(), publisher)


def _acting(service, username: str | None):
    """The user acting, on that user's own credential (:func:`linkguard.cli.auth.authenticate`)."""
    from linkguard.cli.auth import authenticate

    return authenticate(service.engine, username, service.accounts)


def _run(fn, *args: Any, **kw: Any) -> Any:
    """Call the service; its refusals and database errors become one clear line and exit code 1."""
    from sqlalchemy.exc import SQLAlchemyError

    from linkguard.review.service import ReviewError

    try:
        return fn(*args, **kw)
    except ReviewError as e:
        fail(str(e))
    except SQLAlchemyError as e:
        database_failure(e)


_AGE = re.compile(r"^\s*(\d+)\s*([dhm])\s*$")


def parse_age(text: str) -> dt.timedelta:
    """``3d``, ``12h`` or ``30m``.

    >>> parse_age('3d'), parse_age('12h')
    (datetime.timedelta(days=3), datetime.timedelta(seconds=43200))
    """
    match = _AGE.match(text or "")
    if not match:
        raise typer.BadParameter("an age is a number and d, h or m: 3d, 12h, 30m")
    n, unit = int(match.group(1)), match.group(2)
    return {"d": dt.timedelta(days=n), "h": dt.timedelta(hours=n), "m": dt.timedelta(minutes=n)}[unit]


def _time(value: dt.datetime | None) -> str:
    return value.isoformat(timespec="seconds") if value else ""


# -- review ----------------------------------------------------------------------------
@review_app.command("list")
def review_list(
    user: UserOption = None,
    status: Annotated[str, typer.Option(help="open, released, corrected, returned, superseded or all")] = "open",
    system: Annotated[Optional[str], typer.Option(help="process code, e.g. shintai-techo")] = None,
    reason: Annotated[Optional[str], typer.Option(help="one reason code, e.g. IDENTITY_MISMATCH")] = None,
    older_than: Annotated[Optional[str], typer.Option("--older-than", help="held at least this long: 3d, 12h")] = None,
    assignee: Annotated[Optional[str], typer.Option(help="assigned to this user")] = None,
    newest: Annotated[bool, typer.Option("--newest", help="newest first (default: oldest first)")] = False,
    after: Annotated[Optional[str], typer.Option(help="the cursor printed after the previous page")] = None,
    limit: Annotated[int, typer.Option(min=1, max=500)] = 50,
    as_json: Annotated[bool, typer.Option("--json", help="one JSON document")] = False,
) -> None:
    """The held-record queue, a page at a time, with counts per reason (operators: no names or numbers)."""
    service = _service()
    acting = _acting(service, user)
    if not (acting.sees_personal_data or acting.can("operator") or acting.can("admin")):
        fail(f"{acting.username} has no role that may see the queue")
    personal = acting.sees_personal_data
    age = parse_age(older_than) if older_than else None
    page = _run(service.queue, status=None if status == "all" else status, system=system, reason=reason,
                older_than=age, assignee=assignee, order="newest" if newest else "oldest", after=after,
                limit=limit)
    counts = _run(service.reason_counts, status=None if status == "all" else status, system=system)
    items = [{
        "system": i.system, "record_id": i.record_id, "held_at": _time(i.held_at), "status": i.status,
        "reasons": i.reason_codes, "assignee": i.assignee, "pending_release": i.pending_release,
        "correction_pending": i.correction_pending,
        **({"name": i.name, "my_number": i.masked_number} if personal else {}),
    } for i in page.items]
    if as_json:
        typer.echo(json.dumps({"total": page.total, "next_cursor": page.next_cursor, "reason_counts": counts,
                               "items": items}, ensure_ascii=False, indent=2))
        return
    table = Table(title=f"held records: {page.total:,} {status}")
    columns = ["system", "record_id", *(["name", "my_number"] if personal else []), "held_at", "reasons",
               "assignee", "pending_release"]
    for column in columns:
        table.add_column(column)
    for item in items:
        table.add_row(*(escape(", ".join(v) if isinstance(v, list) else str(v or "")) for v in
                        (item[c] for c in columns)))
    console.print(table)
    console.print("per reason: " + (", ".join(f"{k} {v}" for k, v in counts.items()) or "none"))
    if page.next_cursor:
        console.print(f"next page: --after {page.next_cursor}")


@review_app.command("show")
def review_show(
    system: Annotated[str, typer.Argument(help="process code")],
    record_id: Annotated[str, typer.Argument(help="the business system's record id")],
    user: UserOption = None,
    reveal: Annotated[bool, typer.Option("--reveal", help="show the full numbers (audited)")] = False,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """One held record beside the registry person of its number (and the suggested one's)."""
    service = _service()
    acting = _acting(service, user)
    case = _run(service.case, system, record_id, viewer=acting)
    numbers = {"record": case.masked_number, "suggested": case.masked_suggested}
    if reveal:
        numbers["record"] = _run(service.reveal, system, record_id, "record", viewer=acting)
        if case.has_suggestion:
            numbers["suggested"] = _run(service.reveal, system, record_id, "suggested", viewer=acting)
    doc = {
        "system": case.system, "record_id": case.record_id, "status": case.status, "version": case.version,
        "held_at": _time(case.held_at), "my_number": numbers["record"], "suggested_my_number": numbers["suggested"],
        "assignee": case.assignee, "correction_pending": case.correction_pending,
        "pending_release": None if case.pending_release is None else {
            "requested_by": case.pending_release.requested_by,
            "requested_at": _time(case.pending_release.requested_at), "comment": case.pending_release.comment},
        "reasons": [{"code": r.code, "label_ja": r.label_ja, "label_en": r.label_en, "detail": r.detail}
                    for r in case.reasons],
        "fields": [{"field": f.name, "label": f.label_ja, "record": f.record_value, "registry": f.registry_value,
                    "suggested": f.suggested_value, "record_normalised": f.record_normalised,
                    "registry_normalised": f.registry_normalised, "differs": f.differs} for f in case.fields],
        "batch_peers": [{"record_id": p.record_id, "name": p.name, "my_number": p.masked_number,
                         "state": p.state} for p in case.batch_peers],
        "history": [{"at": _time(h.at), "kind": h.kind, "summary": h.summary, "user": h.user,
                     "status": h.status, "comment": h.comment} for h in case.history],
    }
    if as_json:
        typer.echo(json.dumps(doc, ensure_ascii=False, indent=2))
        return
    console.print(f"[bold]{escape(case.system)}/{escape(case.record_id)}[/]  {case.status}  v{case.version}  "
                  f"held {_time(case.held_at)}")
    console.print(f"個人番号 {numbers['record']}" + (f"   候補 {numbers['suggested']}" if numbers["suggested"] else ""))
    for r in case.reasons:
        console.print(f"  [yellow]{r.code}[/] {escape(r.label_ja)} / {escape(r.label_en)}"
                      + (f" ({escape(r.detail)})" if r.detail else ""))
    table = Table("項目", "record", "registry", *(["suggested"] if case.suggested_person else []))
    for f in case.fields:
        mark = "[red]≠[/] " if f.differs else ""
        cells = [f"{mark}{escape(f.label_ja)}", f"{escape(f.record_value)}\n[dim]{escape(f.record_normalised)}[/]",
                 escape(f.registry_value or "—") + (f"\n[dim]{escape(f.registry_normalised or '')}[/]"
                                                    if f.registry_normalised else "")]
        if case.suggested_person:
            cells.append(escape(f.suggested_value or "—"))
        table.add_row(*cells)
    console.print(table)
    for p in case.batch_peers:
        console.print(f"  batch: {escape(p.record_id)} {escape(p.name)} {p.masked_number} ({p.state})")
    if case.pending_release:
        console.print(f"release requested by {escape(case.pending_release.requested_by)}: "
                      f"{escape(case.pending_release.comment)}")
    for h in case.history:
        console.print(f"  {_time(h.at)} {h.kind} {escape(h.summary)} {escape(h.user)} {h.status} "
                      f"{escape(h.comment)}".rstrip())


def _decided(decision) -> None:
    console.print(f"{decision.action} of {escape(decision.system)}/{escape(decision.record_id)} "
                  f"v{decision.version} submitted as decision {decision.decision_id}; it shows as done once "
                  f"the guard has ruled on it and the sink has applied the ruling")


@review_app.command("release")
def review_release(system: Annotated[str, typer.Argument()], record_id: Annotated[str, typer.Argument()],
                   comment: CommentOption, user: UserOption = None) -> None:
    """Request a release: the record reaches the sink once a different approver approves it."""
    service = _service(publishing=True)
    _decided(_run(service.request_release, system, record_id, user=_acting(service, user), comment=comment))


@review_app.command("approve")
def review_approve(system: Annotated[str, typer.Argument()], record_id: Annotated[str, typer.Argument()],
                   comment: CommentOption, user: UserOption = None) -> None:
    """Approve another person's release request (four-eyes: never your own)."""
    service = _service(publishing=True)
    _decided(_run(service.approve_release, system, record_id, user=_acting(service, user), comment=comment))


@review_app.command("correct")
def review_correct(
    system: Annotated[str, typer.Argument()], record_id: Annotated[str, typer.Argument()],
    comment: CommentOption,
    number: Annotated[Optional[str], typer.Option(
        "--number", help="the right My Number; '-' reads it from a hidden prompt (keeps it out of history)")] = None,
    suggested: Annotated[bool, typer.Option("--suggested", help="take the number the guard suggested")] = False,
    user: UserOption = None,
) -> None:
    """Publish the record again with the right number; the guard checks it like any other event."""
    if suggested == (number is not None):
        fail("give exactly one of --number - (hidden prompt) or --suggested")
    service = _service(publishing=True)
    acting = _acting(service, user)
    if suggested:
        _decided(_run(service.accept_suggestion, system, record_id, user=acting, comment=comment))
        return
    if number == "-":
        number = (typer.prompt("My Number", hide_input=True, err=True) if sys.stdin.isatty()
                  else sys.stdin.readline()).strip()
    else:
        err.print("[yellow]warning:[/] a number on the command line stays in shell history; use --number -")
    _decided(_run(service.correct, system, record_id, user=acting, comment=comment, my_number=number or ""))


@review_app.command("return")
def review_return(system: Annotated[str, typer.Argument()], record_id: Annotated[str, typer.Argument()],
                  comment: CommentOption, user: UserOption = None) -> None:
    """Send the record back to its business system (linkage.returned)."""
    service = _service(publishing=True)
    _decided(_run(service.return_to_system, system, record_id, user=_acting(service, user), comment=comment))


@review_app.command("assign")
def review_assign(system: Annotated[str, typer.Argument()], record_id: Annotated[str, typer.Argument()],
                  assignee: Annotated[str, typer.Argument(help="the user who works it ('-' for nobody)")],
                  user: UserOption = None) -> None:
    """Say who works a held record."""
    service = _service(publishing=True)
    _decided(_run(service.assign, system, record_id, user=_acting(service, user),
                  assignee="" if assignee == "-" else assignee))


# -- users -----------------------------------------------------------------------------
@users_app.command("add")
def users_add(
    username: Annotated[str, typer.Argument()],
    role: Annotated[list[str], typer.Option("--role", "-r", help="reviewer, approver, operator or admin (repeat)")],
    display_name: Annotated[str, typer.Option("--display-name", help="shown on screens, e.g. 高知 太郎")] = "",
    acting: UserOption = None,
) -> None:
    """Create an account; the password comes from LINKGUARD_USER_PASSWORD or a hidden prompt.

    Once an admin exists, only an admin adds users (``--user ADMIN`` and the admin's password, or
    the admin's LINKGUARD_TOKEN); the first admin is made by whoever runs the schema.
    """
    from linkguard.review.accounts import AccountError, AccountStore
    from sinks.schema import upgrade_schema

    from linkguard.review.service import ReviewService

    engine = database_engine()
    upgrade_schema(engine)  # idempotent: the accounts table may be the first one needed
    accounts = AccountStore(engine)
    if any(u.can("admin") for u in accounts.list_users()):  # only the very first admin needs no admin
        admin = _acting(ReviewService(engine, accounts=accounts), acting)
        if not admin.can("admin"):
            fail(f"{admin.username} is no admin; only an admin adds users")
    password = os.environ.get("LINKGUARD_USER_PASSWORD")
    if not password:
        password = typer.prompt("password", hide_input=True, confirmation_prompt=True, err=True)
    try:
        user = accounts.create_user(username, password, role, display_name)
    except AccountError as e:
        fail(str(e))
    console.print(f"created {escape(user.username)} ({', '.join(sorted(r.value for r in user.roles))})")


@users_app.command("list")
def users_list(as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """Accounts and their roles (never a password hash)."""
    from linkguard.review.accounts import AccountStore

    users = _run(AccountStore(database_engine()).list_users)
    rows = [{"username": u.username, "display_name": u.display_name,
             "roles": sorted(r.value for r in u.roles), "active": u.active} for u in users]
    if as_json:
        typer.echo(json.dumps(rows, ensure_ascii=False, indent=2))
        return
    table = Table("username", "display name", "roles", "active")
    for r in rows:
        table.add_row(escape(r["username"]), escape(r["display_name"]), ", ".join(r["roles"]),
                      "yes" if r["active"] else "no")
    console.print(table)


# -- API tokens ------------------------------------------------------------------------
@token_app.command("create")
def token_create(
    username: Annotated[str, typer.Argument(help="whose token")],
    label: Annotated[str, typer.Option(help="what it is for, e.g. 'nightly export'")] = "",
    acting: UserOption = None,
) -> None:
    """Make an API token for a user (admins only; audited). It is shown once: keep it like a password."""
    from linkguard.review.accounts import AccountError
    from linkguard.review.credentials import TokenStore

    service = _service()
    admin = _acting(service, acting)
    try:
        issued = TokenStore(service.engine, service.accounts).create(username, by=admin, label=label)
    except AccountError as e:
        fail(str(e))
    err.print(f"token {issued.token_id} for {escape(issued.username)}; shown once — hand it over like a "
              "password; the user sets LINKGUARD_TOKEN to it")
    typer.echo(issued.token)


@token_app.command("revoke")
def token_revoke(token_id: Annotated[str, typer.Argument(help="the token's id (`linkguard users token list`)")],
                 acting: UserOption = None) -> None:
    """End a token at once (an admin, or the token's own user; audited)."""
    from linkguard.review.accounts import AccountError
    from linkguard.review.credentials import TokenStore

    service = _service()
    by = _acting(service, acting)
    try:
        info = TokenStore(service.engine, service.accounts).revoke(token_id, by=by)
    except AccountError as e:
        fail(str(e))
    console.print(f"token {info.token_id} of {escape(info.username)} revoked")


@token_app.command("list")
def token_list(username: Annotated[Optional[str], typer.Argument(help="only this user's")] = None,
               acting: UserOption = None, as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """Tokens (never their secrets): an admin sees all, anyone else their own."""
    from linkguard.review.credentials import TokenStore

    service = _service()
    by = _acting(service, acting)
    if not by.can("admin"):
        username = by.username
    rows = [{"token_id": t.token_id, "username": t.username, "label": t.label, "created_by": t.created_by,
             "created_at": _time(t.created_at), "revoked_at": _time(t.revoked_at),
             "last_used_at": _time(t.last_used_at)}
            for t in TokenStore(service.engine, service.accounts).tokens(username)]
    if as_json:
        typer.echo(json.dumps(rows, ensure_ascii=False, indent=2))
        return
    table = Table("token", "user", "label", "made by", "made", "revoked", "last used")
    for r in rows:
        table.add_row(*(escape(str(v)) for v in r.values()))
    console.print(table)

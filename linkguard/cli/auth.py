"""Who is acting at the command line: a user only on that user's own credential.

``LINKGUARD_TOKEN`` (an API token an admin made: ``linkguard users token
create NAME``) names its own user; otherwise ``--user NAME`` (or
``LINKGUARD_REVIEW_USER``) and NAME's password, typed at a hidden prompt (read
from stdin when it is no terminal). A name alone is never enough: a decision,
a reveal or a stop is attributed to a person only on that person's
credential. Failures count towards the same lock-out as the web log-in.
"""

from __future__ import annotations

import os

import typer

from linkguard.cli.common import fail

__all__ = ["authenticate"]


def authenticate(engine, username: str | None, accounts=None):
    """The authenticated, active :class:`~linkguard.review.accounts.User`; exits 1 with why otherwise."""
    import click

    from linkguard.review.accounts import AccountStore
    from linkguard.review.credentials import FailedLogins, TokenStore

    accounts = accounts or AccountStore(engine)
    failures = FailedLogins(engine)
    token = os.environ.get("LINKGUARD_TOKEN", "").strip()
    if token:
        user = TokenStore(engine, accounts).authenticate(token)
        if user is None:
            failures.record(username or "-", "cli-token-failed")
            fail("LINKGUARD_TOKEN is not a live token of an active user; ask an admin for a new one "
                 "(`linkguard users token create NAME`)")
        if username and username != user.username:
            fail(f"--user {username} is not the token's user {user.username}")
        return user
    if not username:
        fail("say who is acting: --user NAME (your password is asked for) or LINKGUARD_TOKEN=<your API token> "
             "(create an account with `linkguard users add`)")
    if failures.locked(username):
        failures.record(username, "cli-login-locked")
        fail(f"{username} is locked for a while after repeated wrong passwords; ask an admin")
    try:
        password = typer.prompt(f"password for {username}", hide_input=True, err=True)
    except click.exceptions.Abort:
        fail(f"no password for {username}: type it at the prompt, or use LINKGUARD_TOKEN in scripts")
    user = accounts.authenticate(username, password)
    if user is None:
        failures.record(username, "cli-login-failed")
        fail(f"no active account {username!r} with that password")
    return user

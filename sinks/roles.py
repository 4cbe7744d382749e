"""Database roles: the schema is created by an owner role, the application runs as another.

On PostgreSQL the owner of a table can do anything to it — disable the
trigger that keeps the audit log append-only, then rewrite or delete rows.
So the application must not own its tables: ``linkguard db init``, run once
(and after an upgrade) with the owner's URL, creates the schema and grants
the application role

* ``SELECT, INSERT, UPDATE, DELETE`` on every other sink table, and the use
  of their sequences;
* only ``SELECT, INSERT`` on ``audit_log``.

The application then connects as that role (``LINKGUARD_DATABASE_URL``);
its own ``create_all`` finds every table present and creates nothing.
:func:`audit_guard` tells which case a connection is in, for the admin page
and a warning at start-up. SQLite has no roles: the file's permissions
(0600, see :mod:`sinks.db`) and the hash chain are what protect it.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass

from sqlalchemy import Engine, text

from guards.exceptions import LinkguardError
from sinks.models import AuditEntry, Base

__all__ = ["init_database", "audit_guard", "AuditGuard", "RoleError"]

log = logging.getLogger(__name__)

_ROLE_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_$]{0,62}\Z")
_AUDIT_TABLE = AuditEntry.__tablename__


class RoleError(LinkguardError, ValueError):
    """A role setting that would leave the audit log writable by the application."""


@dataclass(frozen=True, slots=True)
class AuditGuard:
    """How the connection's role stands towards the audit log."""

    role: str
    can_rewrite: bool
    reason: str

    def describe(self) -> str:
        if self.can_rewrite:
            return (f"the database role {self.role!r} can rewrite the audit log ({self.reason}); "
                    "run `linkguard db init --app-role ROLE` as the owner and the application as ROLE")
        return f"the database role {self.role!r} can only add to and read the audit log"


def init_database(owner_engine: Engine, app_role: str | None = None) -> list[str]:
    """Create the sink schema as the connected (owner) role; on PostgreSQL grant ``app_role`` its share.

    Idempotent: run it again after an upgrade to create new tables, add new columns
    (:func:`sinks.schema.upgrade_schema`) and grant the new tables. Returns what was added.
    """
    from sinks.schema import upgrade_schema

    if owner_engine.dialect.name != "postgresql" and app_role:
        raise RoleError("database roles exist on PostgreSQL only; SQLite has no --app-role")
    added = upgrade_schema(owner_engine)
    if owner_engine.dialect.name != "postgresql" or not app_role:
        return added
    if not _ROLE_NAME.match(app_role):
        raise RoleError(f"{app_role!r} is not a plain PostgreSQL role name")
    with owner_engine.begin() as conn:
        me = conn.execute(text("SELECT current_user")).scalar_one()
        if app_role == me:
            raise RoleError(f"the application role must not be the owner role {me!r} that creates the schema")
        found = conn.execute(text("SELECT rolsuper FROM pg_roles WHERE rolname = :r"), {"r": app_role}).first()
        if found is None:
            raise RoleError(f"there is no PostgreSQL role {app_role!r}: CREATE ROLE {app_role} LOGIN first")
        if found.rolsuper:
            raise RoleError(f"the role {app_role!r} is a superuser: it could rewrite the audit log")
        schema = conn.execute(text("SELECT current_schema()")).scalar_one()
        role, where = f'"{app_role}"', f'"{schema}"'
        conn.exec_driver_sql(f"GRANT USAGE ON SCHEMA {where} TO {role}")
        for table in Base.metadata.sorted_tables:
            name = f'{where}."{table.name}"'
            if table.name == _AUDIT_TABLE:
                conn.exec_driver_sql(f"REVOKE ALL ON {name} FROM {role}")
                conn.exec_driver_sql(f"GRANT SELECT, INSERT ON {name} TO {role}")
            else:
                conn.exec_driver_sql(f"GRANT SELECT, INSERT, UPDATE, DELETE ON {name} TO {role}")
        conn.exec_driver_sql(f"GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA {where} TO {role}")
    return added


def audit_guard(engine: Engine) -> AuditGuard:
    """Whether the engine's role could rewrite the audit log (PostgreSQL; SQLite always can)."""
    if engine.dialect.name != "postgresql":
        return AuditGuard("", True, "SQLite has no roles; the hash chain shows a rewrite")
    with engine.connect() as conn:
        row = conn.execute(text(
            "SELECT current_user AS role, r.rolsuper AS superuser, "
            "pg_has_role(current_user, c.relowner, 'USAGE') AS owner, "
            "has_table_privilege(c.oid, 'UPDATE') AS can_update, "
            "has_table_privilege(c.oid, 'DELETE') AS can_delete, "
            "has_table_privilege(c.oid, 'TRUNCATE') AS can_truncate "
            "FROM pg_class c JOIN pg_roles r ON r.rolname = current_user "
            "WHERE c.oid = to_regclass(:table)"), {"table": _AUDIT_TABLE}).first()
        if row is None:
            role = conn.execute(text("SELECT current_user")).scalar_one()
            return AuditGuard(role, True, "the audit table does not exist yet")
    reasons = [why for flag, why in ((row.superuser, "a superuser"), (row.owner, "it owns the table"),
                                     (row.can_update, "UPDATE granted"), (row.can_delete, "DELETE granted"),
                                     (row.can_truncate, "TRUNCATE granted")) if flag]
    return AuditGuard(row.role, bool(reasons), ", ".join(reasons))

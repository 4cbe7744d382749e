"""The database side of 点検B: reads one system's intermediate-server copies and open holds.

The only part of ``linkguard reconcile`` that talks to the database; the
comparison itself is :mod:`linkguard.ops.reconcile.compare`.
"""

from __future__ import annotations

from collections.abc import Iterator

from sqlalchemy import Engine, select

from linkguard.ops.reconcile.compare import CopyView
from sinks.models import HeldRecord, IntermediateCopy

__all__ = ["CopyStore"]

_COPIES = IntermediateCopy.__table__
_HELD = HeldRecord.__table__


class CopyStore:
    """Copies and open holds of one system, read in chunks (a national system holds millions)."""

    def __init__(self, engine: Engine, *, chunk: int = 10_000) -> None:
        self.engine = engine
        self.chunk = chunk

    def copies(self, system: str) -> Iterator[CopyView]:
        """Every copy of ``system``, live and withdrawn, in key order."""
        c = _COPIES.c
        query = (select(c.system, c.record_id, c.my_number, c.name, c.birth_date, c.sex, c.address, c.atena_no,
                        c.payload, c.withdrawn_at, c.withdrawn_reason)
                 .where(c.system == system).order_by(c.record_id))
        with self.engine.connect() as conn:
            result = conn.execution_options(yield_per=self.chunk).execute(query)
            for row in result:
                yield CopyView(
                    system=row.system, record_id=row.record_id, my_number=row.my_number, name=row.name or "",
                    birth_date=row.birth_date or "", sex=row.sex or "", address=row.address or "",
                    atena_no=row.atena_no or "", payload=dict(row.payload or {}),
                    withdrawn_reason=None if row.withdrawn_at is None else (row.withdrawn_reason or "withdrawn"))

    def open_holds(self, system: str) -> set[str]:
        """Record ids of ``system`` waiting for a reviewer."""
        with self.engine.connect() as conn:
            return set(conn.execute(select(_HELD.c.record_id)
                                    .where(_HELD.c.system == system, _HELD.c.status == "open")).scalars())

    def systems(self) -> list[str]:
        """Process codes that have copies (to suggest one when a code is mistyped)."""
        with self.engine.connect() as conn:
            return list(conn.execute(select(_COPIES.c.system).distinct().order_by(_COPIES.c.system)).scalars())

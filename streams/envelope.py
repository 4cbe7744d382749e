"""What the guard checks of an event before any rule: its size, its identity, its process code.

These make an event unusable whatever the registry says, so the first stage
(``repartition``) dead-letters them before routing: nothing downstream has
to cope with a 5 MB message, a record without a key, or a process nobody
registered.

Why an unknown process code is dead-lettered (``UNKNOWN_SYSTEM``) and not
checked: the sink files every copy under its process code, and the
intermediate server registers copies per 事務. A code missing from the
deployment's process catalogue (``linkguard/data/processes.csv`` or
``LINKGUARD_PROCESS_CATALOGUE``) is a typo (``shintai_techo``), a misrouted
publisher, or a process nobody has registered yet; in every case the copy
would land under a process that does not exist. The operator adds the code
to the catalogue (restart the workers) and replays with ``linkguard dlq
replay``, or fixes the publisher. Codes are compared exactly: the data
contract makes them lower-case slugs, and ``Shintai-Techo`` would be a
second key for the same records in the sink.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import Any

from guards.identifiers import identifier_problems

__all__ = ["too_large", "identity_problem"]

CATALOGUE_HINT = ("add it to the process catalogue (LINKGUARD_PROCESS_CATALOGUE, default "
                  "linkguard/data/processes.csv), restart the workers and replay it with `linkguard dlq replay`")


def too_large(size: int, limit: int) -> str | None:
    """The error for an event over the size limit, or None.

    >>> too_large(10, 100) is None
    True
    >>> too_large(5_242_880, 1_048_576)
    'event of 5,242,880 bytes exceeds the 1,048,576 bytes the guard accepts (LINKGUARD_MAX_RECORD_BYTES); its bytes are not copied: read them at the source position'
    """
    if size <= limit:
        return None
    return (f"event of {size:,} bytes exceeds the {limit:,} bytes the guard accepts "
            f"(LINKGUARD_MAX_RECORD_BYTES); its bytes are not copied: read them at the source position")


def identity_problem(event: Mapping[str, Any], known_systems: Collection[str] | None) -> tuple[str, str] | None:
    """(reason, error) when the event has no usable system + record id, else None.

    ``known_systems`` None means no catalogue is enforced.

    >>> known = {'shintai-techo'}
    >>> identity_problem({'system': 'shintai-techo', 'record_id': 'A-1'}, known) is None
    True
    >>> identity_problem({'system': ' ', 'record_id': ''}, known)
    ('MISSING_FIELD', 'MISSING_FIELD(system,record_id)')
    >>> identity_problem({'system': 'zz-new', 'record_id': 'A-1'}, known)[0]
    'UNKNOWN_SYSTEM'
    >>> print(identity_problem({'system': 'Shintai-Techo', 'record_id': 'A-1'}, known)[1][:80])
    process code 'Shintai-Techo' is not in the process catalogue: did you mean 'shin
    >>> identity_problem({'system': 'zz-new', 'record_id': 'A-1'}, None) is None
    True

    An identifier with an invisible character (a BOM, a zero-width space) would be a
    second key that prints like the first:

    >>> identity_problem({'system': 'shintai-techo', 'record_id': '\ufeffA-1'}, known)
    ('BAD_IDENTIFIER', 'BAD_IDENTIFIER(record_id): invisible character U+FEFF (ZERO WIDTH NO-BREAK SPACE) at position 1')
    """
    missing = [f for f in ("system", "record_id") if not str(event.get(f) or "").strip()]
    if missing:
        return "MISSING_FIELD", f"MISSING_FIELD({','.join(missing)})"
    invisible = identifier_problems(event)
    if invisible:
        fields = ",".join(field for field, _ in invisible)
        return "BAD_IDENTIFIER", f"BAD_IDENTIFIER({fields}): " + "; ".join(p for _, p in invisible)
    system = str(event["system"])
    if known_systems is not None and system not in known_systems:
        near = next((k for k in known_systems if k == system.strip().lower().replace("_", "-")), None)
        hint = f"did you mean {near!r}? " if near else ""
        return "UNKNOWN_SYSTEM", f"process code {system[:40]!r} is not in the process catalogue: {hint}{CATALOGUE_HINT}"
    return None

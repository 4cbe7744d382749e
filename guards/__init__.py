"""Guard rules for My Number linkages: pure functions, no I/O, no clock.

>>> from guards import check, Record, Resident, Outcome
"""

from guards.native import refuse_stale

refuse_stale()  # before any compiled module is imported: never run a compiled module older than its source

from guards.check import RegistryView, check  # noqa: E402 (after the check above)
from guards.exceptions import GuardError, InvalidDate, InvalidNumber, InvalidSex, MissingField  # noqa: E402
from guards.model import Finding, Outcome, Reason, Record, Resident, Severity, Verdict  # noqa: E402
from guards.registry import index_by_number, registry_keys  # noqa: E402

__all__ = [
    "check", "RegistryView", "Finding", "Outcome", "Reason", "Record", "Resident",
    "Severity", "Verdict", "GuardError", "InvalidDate", "InvalidNumber", "InvalidSex",
    "MissingField", "index_by_number", "registry_keys",
]

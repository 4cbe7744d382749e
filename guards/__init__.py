"""Guard rules for My Number linkages: pure functions, no I/O, no clock.

>>> from guards import check, Record, Resident, Outcome
"""

from guards.check import RegistryView, check
from guards.exceptions import GuardError, InvalidDate, InvalidNumber, InvalidSex, MissingField
from guards.model import Finding, Outcome, Reason, Record, Resident, Severity, Verdict
from guards.registry import index_by_number, registry_keys

__all__ = [
    "check", "RegistryView", "Finding", "Outcome", "Reason", "Record", "Resident",
    "Severity", "Verdict", "GuardError", "InvalidDate", "InvalidNumber", "InvalidSex",
    "MissingField", "index_by_number", "registry_keys",
]

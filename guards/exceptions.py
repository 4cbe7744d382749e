"""One exception tree for everything the guard rules can refuse.

Messages never contain a My Number: they name the field and what was
expected, so they are safe to log.
"""

from __future__ import annotations


class GuardError(ValueError):
    """Base class: a value could not be understood by the guard rules."""

    def __init__(self, field: str, message: str) -> None:
        self.field = field
        self.message = message
        super().__init__(f"{field}: {message}")


class InvalidDate(GuardError):
    """A date is not in any accepted form, or does not exist (昭和64年1月8日)."""


class InvalidSex(GuardError):
    """Sex is not one of 1/2, 男/女, M/F."""


class InvalidNumber(GuardError):
    """A My Number is not 12 digits (the check digit is a separate matter)."""


class MissingField(GuardError):
    """A required field is empty."""

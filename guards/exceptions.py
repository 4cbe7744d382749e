"""The one root exception of the linkage guard, and the tree of what the guard rules can refuse.

Every error any package raises on purpose derives from :class:`LinkguardError`
(``except LinkguardError`` catches them all; each keeps its built-in base too,
``ValueError`` or ``RuntimeError``, for callers that catch those). Messages
say what to do and never contain a My Number: they name the field and what
was expected, so they are safe to log.
"""

from __future__ import annotations


class LinkguardError(Exception):
    """Root of every error the linkage guard raises on purpose (messages say what to do; never a number)."""


class GuardError(LinkguardError, ValueError):
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


class StaleBuild(LinkguardError, ImportError):
    """A compiled module is older than its source (:mod:`guards.native`): an installation
    problem, not a finding."""

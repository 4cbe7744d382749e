"""The process-level stop (連携停止): while a process is stopped, nothing of it is sent on.

When errors are found in one process, the headquarters stops the linkage
of the whole process, so that no copy of it reaches (or stays on) the
intermediate server until the process has been inspected and corrected.
The rule is one pure function: the guard judges a record as always, then
:func:`hold_if_stopped` holds it with ``LINKAGE_STOPPED`` if its process is
stopped. The other findings stay, so a reviewer (and the re-judgement at
resume) still sees what else is wrong with the record.

>>> from guards.model import Finding, Outcome, Reason, Verdict
>>> passed = Verdict.of([Finding(Reason.FORMER_NAME)])
>>> held = hold_if_stopped(passed, stopped=True)
>>> held.outcome, held.reason_codes
(<Outcome.HOLD: 'HOLD'>, 'FORMER_NAME;LINKAGE_STOPPED')

A process that is not stopped changes nothing:

>>> hold_if_stopped(passed, stopped=False) is passed
True

A hold keeps its own reasons and its suggested number:

>>> other = Verdict.of([Finding(Reason.IDENTITY_MISMATCH, 'name')], '621498320257')
>>> stopped = hold_if_stopped(other, stopped=True)
>>> stopped.reason_codes, stopped.suggested_my_number == other.suggested_my_number
('IDENTITY_MISMATCH;LINKAGE_STOPPED', True)

Applying the rule twice adds the reason once; an unusable row stays INVALID
(it is dead-lettered, never held):

>>> hold_if_stopped(stopped, stopped=True) == stopped
True
>>> bad = Verdict.of([Finding(Reason.BAD_DATE, 'birth_date')])
>>> hold_if_stopped(bad, stopped=True).outcome
<Outcome.INVALID: 'INVALID'>
"""

from __future__ import annotations

from guards.model import Finding, Outcome, Reason, Verdict

__all__ = ["hold_if_stopped", "is_stop_hold"]


def hold_if_stopped(verdict: Verdict, *, stopped: bool) -> Verdict:
    """The verdict, held with ``LINKAGE_STOPPED`` when the record's process is stopped."""
    if not stopped or verdict.outcome is Outcome.INVALID or Reason.LINKAGE_STOPPED in verdict.reasons:
        return verdict
    return Verdict.of(verdict.findings + (Finding(Reason.LINKAGE_STOPPED),), verdict.suggested_my_number)


def is_stop_hold(reason_codes: str) -> bool:
    """Whether a ``;``-joined list of reason codes includes the stop.

    >>> is_stop_hold('IDENTITY_MISMATCH;LINKAGE_STOPPED'), is_stop_hold('IDENTITY_MISMATCH')
    (True, False)
    """
    return Reason.LINKAGE_STOPPED.value in reason_codes.split(";")

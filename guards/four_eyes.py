"""THE four-eyes rule (四つの目): what one person requests, a second, different person approves.

One pure function, used wherever a release or a stop is decided or applied: the
review service before it publishes, the guard's decision agent before a release
verdict is made (``streams.decisions``), the sink before a copy via review is
written (``sinks.writer``), and the headquarters' stops (``linkguard.hq.stops``).

>>> refusal('sato', 'ito') is None
True
>>> refusal('sato', 'sato')
'four-eyes: sato requested this release and cannot approve it too; another approver must'
>>> refusal('sato', ' sato ', what='stop')
'four-eyes: sato requested this stop and cannot approve it too; another approver must'
>>> refusal('', 'ito')
'four-eyes: a release needs the user who requested it and a different one who approved it'

While the headquarters has the record's process stopped (連携停止), no release
holds, whoever requested and approved it:

>>> refusal('sato', 'ito', process_stopped=True)
'連携停止: the linkage of this process is stopped by the headquarters; nothing of it is released until it is resumed'
"""

from __future__ import annotations

__all__ = ["refusal", "approved"]


def refusal(requested_by: str | None, approved_by: str | None, *, what: str = "release",
            process_stopped: bool = False) -> str | None:
    """``None`` when two named, different people requested and approved; else why not (never a number).

    ``process_stopped``: the record's process is stopped (連携停止), so a release is refused anyway.
    """
    requester, approver = (requested_by or "").strip(), (approved_by or "").strip()
    if not requester or not approver:
        return f"four-eyes: a {what} needs the user who requested it and a different one who approved it"
    if requester == approver:
        return f"four-eyes: {requester} requested this {what} and cannot approve it too; another approver must"
    if process_stopped and what == "release":
        return ("連携停止: the linkage of this process is stopped by the headquarters; "
                "nothing of it is released until it is resumed")
    return None


def approved(requested_by: str | None, approved_by: str | None) -> bool:
    """Whether the rule holds.

    >>> approved('sato', 'ito'), approved('sato', 'sato'), approved(None, 'ito')
    (True, False, False)
    """
    return refusal(requested_by, approved_by) is None

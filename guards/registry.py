"""An in-memory registry view: every current and former number to its resident.

The batch inspection builds one of these from a registry extract; the stream
keeps the same mapping in a Faust table, partitioned by number.

>>> import datetime as dt
>>> r = Resident('621498320257', '山田 花子', dt.date(1980, 4, 1), 2, '高知市',
...              previous_my_numbers=('123456789018',))
>>> view = index_by_number([r])
>>> view.get('123456789018').my_number
'621498320257'
>>> sorted(registry_keys(r))
['123456789018', '621498320257']
"""

from __future__ import annotations

from typing import Iterable

from guards.model import Resident
from guards.number import compact

__all__ = ["index_by_number", "registry_keys"]


def registry_keys(resident: Resident) -> tuple[str, ...]:
    """The numbers under which a resident must be found: current first, then former."""
    former = tuple(n for n in (compact(p) for p in resident.previous_my_numbers) if n and n != resident.my_number)
    return (resident.my_number, *former)


def index_by_number(residents: Iterable[Resident]) -> dict[str, Resident]:
    """Map every current and former number to its resident.

    A current number always wins over someone's former number (a number is
    never reissued to another person, but a registry extract may be stale).
    """
    index: dict[str, Resident] = {}
    former: dict[str, Resident] = {}
    for resident in residents:
        if not resident.previous_my_numbers:  # most residents: one number, no tuple to build
            index[resident.my_number] = resident
            continue
        keys = registry_keys(resident)
        index[keys[0]] = resident
        for key in keys[1:]:
            former[key] = resident
    for key, resident in former.items():
        index.setdefault(key, resident)
    return index

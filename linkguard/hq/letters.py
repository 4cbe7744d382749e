"""Notice letters (文書によるお知らせ) to the people of an exposure case: A4, Japanese, polite form.

Two letters per case: to the **number holder** (another person's data was
visible under their number: which items, since when, until when; their own
number shown masked, last four digits) and to the **data subject** (their
data was visible to another person; no number at all — never the other
person's). Names and addresses come from the registry (or, for a data
subject the registry could not name, from the business record). Letters are
generated in a batch for a selected set of cases; each batch is recorded in
``notice_letters`` and the audit log.
"""

from __future__ import annotations

import datetime as dt
import os
import uuid
from dataclasses import dataclass
from typing import Sequence

import jinja2
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from linkguard.hq.exposure import Exposure, Person
from sinks.audit import append_entry
from sinks.hq import NoticeLetter

__all__ = ["Letter", "RECIPIENTS", "letters_for", "render_letters", "generate_batch", "wareki", "ISSUER_ENV"]

RECIPIENTS = ("number_holder", "data_subject")
RECIPIENT_LABELS = {"number_holder": "番号の持ち主", "data_subject": "情報の本人"}
#: who signs the letters (default: the implementing body of the process and its department)
ISSUER_ENV = "LINKGUARD_HQ_ISSUER"

_ERAS = ((dt.date(2019, 5, 1), "令和"), (dt.date(1989, 1, 8), "平成"), (dt.date(1926, 12, 25), "昭和"))


def wareki(day: dt.date | dt.datetime) -> str:
    """A date in the Japanese era, as letters write it (元年 for the first year).

    >>> wareki(dt.date(2026, 12, 7)), wareki(dt.date(2019, 5, 1)), wareki(dt.date(1989, 1, 7))
    ('令和8年12月7日', '令和元年5月1日', '昭和64年1月7日')
    """
    if isinstance(day, dt.datetime):
        day = day.astimezone(JST).date()
    for start, era in _ERAS:
        if day >= start:
            year = day.year - start.year + 1
            return f"{era}{'元' if year == 1 else year}年{day.month}月{day.day}日"
    return f"{day.year}年{day.month}月{day.day}日"


JST = dt.timezone(dt.timedelta(hours=9), "JST")


def when(moment: dt.datetime) -> str:
    """A moment in Japan time, era date and time of day.

    >>> when(dt.datetime(2026, 7, 31, 0, 30, tzinfo=dt.timezone.utc))
    '令和8年7月31日 9時30分'
    """
    local = moment.astimezone(JST)
    return f"{wareki(local.date())} {local.hour}時{local.minute:02d}分"


@dataclass(frozen=True, slots=True)
class Letter:
    exposure: Exposure
    recipient: str  # number_holder or data_subject
    person: Person

    @property
    def addressable(self) -> bool:
        """Whether a name (and so a letter) is known for the recipient."""
        return self.person.known


def letters_for(exposures: Sequence[Exposure], recipients: Sequence[str] = RECIPIENTS) -> list[Letter]:
    """The letters for the cases, number holder first, in case order."""
    unknown = set(recipients) - set(RECIPIENTS)
    if unknown:
        raise ValueError(f"unknown recipient {sorted(unknown)[0]!r}; expected number_holder or data_subject")
    return [Letter(e, r, e.number_holder if r == "number_holder" else e.data_subject)
            for e in exposures for r in RECIPIENTS if r in recipients]


def _environment() -> jinja2.Environment:
    env = jinja2.Environment(loader=jinja2.PackageLoader("linkguard.hq", "templates"), autoescape=True,
                             undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True)
    env.filters["wareki"] = wareki
    env.filters["when"] = when
    return env


def render_letters(letters: Sequence[Letter], *, issued_on: dt.date, issuer: str | None = None,
                   css_href: str | None = None) -> str:
    """One HTML document, one A4 page per letter (printable; no scripts; the style inline unless ``css_href``)."""
    issuer = issuer if issuer is not None else os.environ.get(ISSUER_ENV, "")
    return _environment().get_template("letters.html").render(
        letters=[letter for letter in letters if letter.addressable], issued_on=issued_on, issuer=issuer,
        labels=RECIPIENT_LABELS, css_href=css_href)


def generate_batch(engine: Engine, exposures: Sequence[Exposure], user: str, *,
                   recipients: Sequence[str] = RECIPIENTS, issued_on: dt.date | None = None,
                   issuer: str | None = None, css_href: str | None = None) -> tuple[str, str, list[Letter]]:
    """Render the letters of ``exposures`` and record the batch: (batch id, HTML, letters without an address).

    Every generated letter is a ``notice_letters`` row; the batch is one audit entry naming its cases.
    """
    letters = letters_for(exposures, recipients)
    issued_on = issued_on or dt.datetime.now(JST).date()
    html = render_letters(letters, issued_on=issued_on, issuer=issuer, css_href=css_href)
    batch_id = uuid.uuid4().hex
    now = dt.datetime.now(dt.timezone.utc)
    made = [letter for letter in letters if letter.addressable]
    with Session(engine) as session, session.begin():
        session.add_all(NoticeLetter(batch_id=batch_id, case_id=letter.exposure.case_id, recipient=letter.recipient,
                                     generated_by=user, generated_at=now) for letter in made)
    cases = ",".join(str(e.case_id) for e in exposures)
    append_entry(engine, user, "notice_letters", "", "",
                 f"batch {batch_id}: {len(made)} letters for cases {cases}"[:2000])
    return batch_id, html, [letter for letter in letters if not letter.addressable]

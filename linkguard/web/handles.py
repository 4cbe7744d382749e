"""Opaque record handles: what a URL says instead of ``system/record_id``.

A business record id (a 手帳番号, a case number) can point at a person as
surely as a name, and URLs end up in browser history, proxy logs and
referrers. So a record page is addressed by a *handle*: ``system`` and
``record_id`` encrypted with AES-SIV under a key derived from
``LINKGUARD_WEB_SECRET``. AES-SIV is deterministic, so one record always has
the same handle (a reviewer can send a colleague the link), authenticated (a
forged or altered handle is refused), and needs no table. The same box seals
the queue's paging cursor, which holds the last row's key.

>>> box = HandleBox(b"x" * 32)
>>> h = box.seal("shintai-techo", "ST-000123")
>>> "ST-000123" in h, box.open(h)
(False, ('shintai-techo', 'ST-000123'))
>>> h == box.seal("shintai-techo", "ST-000123")
True
>>> box.open(h[:-2] + "AA")
Traceback (most recent call last):
...
linkguard.web.handles.BadHandle: this link is not valid here (altered, or made with another LINKGUARD_WEB_SECRET)

A token sealed for one purpose does not open for another (a paging cursor is
not a record handle):

>>> HandleBox(b"x" * 32, b"queue-cursor").open(h)
Traceback (most recent call last):
...
linkguard.web.handles.BadHandle: this link is not valid here (altered, or made with another LINKGUARD_WEB_SECRET)
"""

from __future__ import annotations

import base64
import binascii

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESSIV
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from guards.exceptions import LinkguardError

__all__ = ["HandleBox", "BadHandle"]

_SEP = "\x1f"  # unit separator: cannot occur in a system code or record id read from Avro strings we accept


class BadHandle(LinkguardError, ValueError):
    """A handle that was altered, truncated or made under another secret."""


def _derive(secret: bytes, purpose: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=64, salt=None, info=b"linkguard.web " + purpose).derive(secret)


class HandleBox:
    """Seals tuples of strings into URL-safe opaque tokens and opens them again."""

    def __init__(self, secret: bytes, purpose: bytes = b"record-handle") -> None:
        self._siv = AESSIV(_derive(secret, purpose))
        self._purpose = purpose

    def seal(self, *parts: str) -> str:
        if any(_SEP in p for p in parts):
            raise ValueError("a handle part contains the separator character U+001F")
        token = self._siv.encrypt(_SEP.join(parts).encode(), [self._purpose])
        return base64.urlsafe_b64encode(token).rstrip(b"=").decode()

    def open(self, handle: str) -> tuple[str, ...]:
        try:
            raw = base64.urlsafe_b64decode(handle + "=" * (-len(handle) % 4))
            plain = self._siv.decrypt(raw, [self._purpose])
        except (InvalidTag, binascii.Error, ValueError) as e:
            raise BadHandle("this link is not valid here (altered, or made with another LINKGUARD_WEB_SECRET)") from e
        return tuple(plain.decode().split(_SEP))

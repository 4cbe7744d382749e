"""The guard's internal messages and table entries: typed, msgpack-encoded (msgspec).

Internal topics (``linkage.records-by-number``, ``-by-identity``,
``-by-batch``) carry one :class:`Envelope` per target partition and input
chunk: a list of tagged items, so Faust's per-message cost is paid per chunk.
Table entries are Structs too. Records travel as the Avro bytes they were
published with (decoded once per stage, never re-encoded or base64-wrapped).

Structs are ``array_like`` (fields by position, no names on the wire): a new
field goes at the end with a default, which old messages then take.

>>> item = RecordIn(partition=0, offset=7, key=b's\\x1f1', event=b'...', fields={'system': 's'})
>>> decode_envelope(encode_envelope([item]))[0] == item
True
"""

from __future__ import annotations

import functools
from typing import Any, Union

import msgspec

from guards import Finding, Outcome, Reason, Verdict

__all__ = [
    "RecordIn", "Unlink", "Recheck", "Released", "ProcessControl", "ProcessState", "Lookup", "Unhold", "ResidentIn", "Member", "Remove",
    "Candidate", "Dropped", "PeerFields", "VerdictState", "LinkEntry", "LinkSet", "Filed", "HeldEntry", "Waiting",
    "SwapState", "BatchMember", "BatchState", "Envelope", "encode_envelope", "decode_envelope",
    "encode", "decoder",
]


class _Item(msgspec.Struct, array_like=True, tag=True, omit_defaults=False):
    pass


class VerdictState(msgspec.Struct, array_like=True, frozen=True):
    """A verdict as it travels between stages: outcome, findings (code, detail), suggestion."""

    outcome: str
    findings: list[tuple[str, str]]
    suggested: str = ""

    @classmethod
    def of(cls, verdict: Verdict) -> "VerdictState":
        return cls(verdict.outcome.value, [(f.reason.value, f.detail) for f in verdict.findings],
                   verdict.suggested_my_number)

    def verdict(self) -> Verdict:
        return Verdict(Outcome(self.outcome), tuple(Finding(Reason(c), d) for c, d in self.findings),
                       self.suggested)


class PeerFields(msgspec.Struct, array_like=True, frozen=True):
    """What another stage needs of a record to see it as a peer (guards.context.Peer)."""

    my_number: str
    name: str
    name_kana: str
    birth_date: str
    sex: str
    address: str
    atena_no: str


# -- records-by-number ------------------------------------------------------------

class RecordIn(_Item, tag="record"):
    """A record event to judge under its number (``key`` None: a record without a key).

    ``fields`` is the event as the repartition stage decoded it (msgpack reads it back
    many times faster than Avro); ``event`` its Avro bytes, kept with the record.
    """

    partition: int
    offset: int
    key: bytes | None
    event: bytes
    fields: dict[str, Any] | None = None


class Unlink(_Item, tag="unlink"):
    """The record (``key``) moved off ``number`` with the event at ``offset``: forget it there."""

    number: str
    key: bytes
    offset: int


class Recheck(_Item, tag="recheck"):
    """The number's registry entry changed: judge its records again."""

    number: str


class Released(_Item, tag="released"):
    """Reviewers released the held event at ``offset``: a later hold of it is a retraction.

    With ``verdict`` (the release's PASS via review) and ``ruling`` (the ACCEPTED
    approval), the number stage sends them on only if the record's ``system`` is
    not stopped (連携停止); otherwise it rejects the approval. ``number`` is
    empty for a record linked to no number.
    """

    number: str
    key: bytes
    offset: int
    system: str = ""
    verdict: bytes = b""
    ruling: bytes = b""


class ProcessControl(_Item, tag="control"):
    """A process's linkage state (連携停止), from ``linkage.control`` at ``offset``, for every partition."""

    system: str
    stopped: bool
    offset: int
    stop_id: str = ""


# -- records-by-identity ----------------------------------------------------------

class Lookup(_Item, tag="lookup"):
    """A held record, with the context its number gave it, to complete with the 4-item look-up.

    ``bucket`` is the subject's blocking key (birth date + sex); ``person`` the Avro
    bytes of the number's registry entry (None: not in the registry); ``links`` the
    other records of the number the rules must see; ``swap`` says the batch stage
    emits it (held, not the number's registry person, in a batch).
    """

    bucket: str
    key: bytes
    link_id: str
    partition: int
    offset: int
    revision: int
    event: bytes
    basic: VerdictState
    person: bytes | None
    links: list[tuple[str, PeerFields]]
    batch: str
    swap: bool
    retract: bool
    fresh: bool
    stopped: bool = False  # its process is stopped: held with LINKAGE_STOPPED whatever the look-up says


class Unhold(_Item, tag="unhold"):
    """The record no longer waits in ``bucket`` as of (``offset``, ``revision``)."""

    bucket: str
    link_id: str
    offset: int
    revision: int


class ResidentIn(_Item, tag="resident"):
    """A registry entry filed under ``number`` joins (``value``) or leaves (None) ``bucket``."""

    bucket: str
    number: str
    value: bytes | None


# -- records-by-batch -------------------------------------------------------------

class Member(_Item, tag="member"):
    """A record of the batch (from the repartition stage), as a possible swap partner of the others."""

    batch: str
    link_id: str
    offset: int
    fields: PeerFields


class Remove(_Item, tag="remove"):
    """The record left the batch with the event at ``offset``."""

    batch: str
    link_id: str
    offset: int


class Candidate(_Item, tag="candidate"):
    """A swap candidate's verdict before its batch, from the identity stage."""

    batch: str
    link_id: str
    key: bytes
    partition: int
    offset: int
    revision: int
    identity_revision: int
    event: bytes
    verdict: VerdictState
    person: bytes
    suggested_person: bytes | None
    retract: bool
    fresh: bool


class Dropped(_Item, tag="dropped"):
    """The record is no longer a swap candidate as of (``offset``, ``revision``)."""

    batch: str
    link_id: str
    offset: int
    revision: int


Item = Union[RecordIn, Unlink, Recheck, Released, ProcessControl, Lookup, Unhold, ResidentIn, Member, Remove, Candidate, Dropped]


class Envelope(msgspec.Struct, array_like=True):
    items: list[Item]


# -- table entries ----------------------------------------------------------------

class Filed(msgspec.Struct, array_like=True):
    """Where the repartition stage last filed a record: its number and input batch."""

    number: str = ""
    batch: str = ""


class ProcessState(msgspec.Struct, array_like=True):
    """A process's linkage state as one partition of the number stage keeps it."""

    stopped: bool = False
    offset: int = -1
    stop_id: str = ""


class LinkEntry(msgspec.Struct, array_like=True):
    """A record as its number remembers it: its event, position and last verdict."""

    event: bytes
    partition: int
    offset: int
    revision: int = 0
    digest: str = ""
    outcome: str = ""
    batch: str = ""
    atena: str = ""
    released: bool = False
    bucket: str = ""  # where its hold waits for the identity look-up ("" none)


class LinkSet(msgspec.Struct, array_like=True):
    """The records carrying one number, by ``system/record_id``."""

    entries: dict[str, LinkEntry] = {}


class HeldEntry(msgspec.Struct, array_like=True):
    """A held record waiting in its identity bucket, judged again when the bucket changes."""

    lookup: Lookup
    identity_revision: int = 0
    digest: str = ""


class Waiting(msgspec.Struct, array_like=True):
    """The held records of one identity bucket, by ``system/record_id``."""

    entries: dict[str, HeldEntry] = {}


class SwapState(msgspec.Struct, array_like=True):
    """A swap candidate as its batch remembers it."""

    candidate: Candidate
    sub_revision: int = 0
    digest: str = ""


class BatchMember(msgspec.Struct, array_like=True):
    offset: int
    fields: PeerFields


class BatchState(msgspec.Struct, array_like=True):
    """Every record of one input batch (system + batch id), and its swap candidates."""

    members: dict[str, BatchMember] = {}
    candidates: dict[str, SwapState] = {}


_encoder = msgspec.msgpack.Encoder()
_envelope = msgspec.msgpack.Decoder(Envelope)


def encode(value: msgspec.Struct) -> bytes:
    return _encoder.encode(value)


@functools.cache
def decoder(kind: type) -> msgspec.msgpack.Decoder:
    """The msgpack decoder of a table entry or message type (built once per type: stages make a
    :class:`~streams.stages.base.TableState` per input chunk)."""
    return msgspec.msgpack.Decoder(kind)


def encode_envelope(items: list) -> bytes:
    return _encoder.encode(Envelope(items))


def decode_envelope(value: bytes) -> list:
    """The items of an internal message; ``msgspec.DecodeError`` if it is not one."""
    return _envelope.decode(value).items

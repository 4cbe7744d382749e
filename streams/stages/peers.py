"""A record's identity fields between stages: what a stage needs to see it as a peer."""

from __future__ import annotations

from guards import Record
from guards.context import Peer, batch_key
from streams.stages.messages import PeerFields

__all__ = ["fields_of", "peer_of", "link_id", "batch_name"]


def fields_of(record: Record) -> PeerFields:
    return PeerFields(record.my_number or "", record.name or "", record.name_kana or "", record.birth_date or "",
                      record.sex or "", record.address or "", record.atena_no or "")


def peer_of(link: str, fields: PeerFields, cache: dict | None = None) -> Peer | None:
    """The :class:`guards.context.Peer` of a record known by its fields (``cache`` keeps parsed ones).

    >>> f = PeerFields('621498320257', '山田 花子', '', 'S55.4.1', '女', '', '0001')
    >>> peer_of('jido-fuyo/J-7', f).label, peer_of('jido-fuyo/J-7', f).atena_no
    ('jido-fuyo/J-7', '1')
    """
    if cache is not None:
        hit = cache.get((link, fields))
        if hit is not None or (link, fields) in cache:
            return hit
    system, _, record_id = link.partition("/")
    peer = Peer.of(Record(system, record_id, fields.my_number, fields.name, fields.birth_date, fields.sex,
                          fields.address, fields.name_kana, fields.atena_no))
    if cache is not None:
        if len(cache) > 50_000:
            cache.clear()
        cache[(link, fields)] = peer
    return peer


def link_id(key: bytes) -> str:
    """``system/record_id`` of a published record key (``system`` U+001F ``record_id``).

    >>> link_id(b'shoman\\x1fA-1')
    'shoman/A-1'
    """
    return key.decode("utf-8", "replace").replace("\x1f", "/", 1)


def batch_name(record: Record) -> str:
    """The record's input batch as a key (system U+001F batch id), ``''`` without one."""
    key = batch_key(record)
    return f"{key[0]}\x1f{key[1]}" if key else ""

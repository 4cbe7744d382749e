"""Backward-compatibility check between two versions of a schema.

A new version is backward compatible when a reader using it can read every
message written with the old one (Avro schema resolution). Checked two
ways: a field the new version adds must have a default (the rule Confluent
Schema Registry applies under BACKWARD), and random messages written with
the old version must resolve into the new one.
"""

from __future__ import annotations

import io

import fastavro
from fastavro.utils import generate_many

__all__ = ["backward_problems"]


def backward_problems(old: dict, new: dict, samples: int = 200) -> list[str]:
    """Why ``new`` cannot read data written with ``old``; empty when it can.

    >>> old = {"type": "record", "name": "R", "fields": [{"name": "a", "type": "string"}]}
    >>> new = {"type": "record", "name": "R", "fields": [{"name": "a", "type": "string"},
    ...        {"name": "b", "type": "int", "default": 0}]}
    >>> backward_problems(old, new)
    []
    >>> bad = {"type": "record", "name": "R", "fields": [{"name": "a", "type": "string"},
    ...        {"name": "b", "type": "int"}]}
    >>> backward_problems(old, bad)  # doctest: +NORMALIZE_WHITESPACE
    ['R.b: added without a default',
     'old data does not resolve: SchemaResolutionError: No default value for field b in R']
    """
    problems = _added_without_default(old, new)
    old_parsed = fastavro.parse_schema(old, _write_hint=False)
    new_parsed = fastavro.parse_schema(new, _write_hint=False)
    for record in generate_many(old_parsed, samples):
        buffer = io.BytesIO()
        fastavro.schemaless_writer(buffer, old_parsed, record)
        buffer.seek(0)
        try:
            fastavro.schemaless_reader(buffer, old_parsed, new_parsed)
        except Exception as e:  # fastavro's resolution errors have no common base
            problems.append(f"old data does not resolve: {type(e).__name__}: {e}")
            break
    return problems


def _added_without_default(old: dict, new: dict, path: str = "") -> list[str]:
    if not (isinstance(old, dict) and isinstance(new, dict)):
        return []
    if old.get("type") == "record" and new.get("type") == "record":
        name = path + new.get("name", "")
        old_fields = {f["name"]: f for f in old["fields"]}
        problems = []
        for field in new["fields"]:
            if field["name"] not in old_fields:
                if "default" not in field:
                    problems.append(f"{name}.{field['name']}: added without a default")
            else:
                problems += _added_without_default(old_fields[field["name"]]["type"], field["type"],
                                                   f"{name}.")
        return problems
    return []

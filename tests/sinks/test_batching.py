"""A batch costs the same few statements whatever its size: the writer never goes row by row.

Counted with SQLAlchemy's ``before_cursor_execute`` event; an ``executemany``
counts once (SQLite), as it is one call into the driver.
"""

from __future__ import annotations

import sqlalchemy as sa

from sinks import SinkWriter

from .conftest import Messages


def statements_for(writer: SinkWriter, batch) -> list[str]:
    seen: list[str] = []

    def count(conn, cursor, statement, parameters, context, executemany):
        seen.append(statement.split(None, 1)[0].upper())

    sa.event.listen(writer.engine, "before_cursor_execute", count)
    try:
        writer.apply("sink", batch)
    finally:
        sa.event.remove(writer.engine, "before_cursor_execute", count)
    return seen


def mixed(make: Messages, prefix: str, n: int, version: int) -> list:
    return ([make.passed(f"{prefix}{i}", version) for i in range(n)]
            + [make.held(f"{prefix}h{i}", version) for i in range(n // 4)]
            + [make.dead(version * 100_000 + i) for i in range(n // 4)])


def test_ten_and_two_thousand_messages_take_the_same_statements(writer: SinkWriter, make: Messages) -> None:
    small = statements_for(writer, mixed(make, "a", 10, 1))
    large = statements_for(writer, mixed(make, "b", 2000, 1))
    assert large == small, (small, large)
    assert len(large) <= 12  # position read, 4 upserts, live copies, supersede, retract, position write
    again = statements_for(writer, mixed(make, "b", 2000, 2))  # every row replaced by a newer version
    assert len(again) == len(large)
    counts = writer.counts()
    assert (counts["copies"], counts["held_open"]) == (2010, 502)


def test_postgresql_plans_each_batch_for_its_own_arrays(writer: SinkWriter, make: Messages, backend: str) -> None:
    """A generic plan cached at the sink's start (empty tables, a guessed array length) would scan whole
    tables for every later batch: each batch's statements are planned for the arrays they are given."""
    if backend != "postgresql":
        return
    for n in range(15):  # psycopg prepares after 5 runs; PostgreSQL goes generic after 5 more
        writer.apply("sink", mixed(make, f"s{n}-", 4, 1))
    with writer.engine.connect() as conn:  # the pool's one connection: the writer's session
        prepared, generic = conn.exec_driver_sql(
            "SELECT count(*), coalesce(sum(generic_plans), 0) FROM pg_prepared_statements "
            "WHERE cardinality(parameter_types) > 0").one()  # a statement without parameters has one plan
    assert prepared >= 5  # the constant texts are still parsed once per connection
    assert generic == 0

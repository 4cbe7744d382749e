"""``linkguard audit verify`` and ``linkguard db init`` (issue 12 item 6)."""

from __future__ import annotations

import json

import sqlalchemy as sa
from typer.testing import CliRunner

from linkguard.cli.root import app
from sinks import SinkWriter, make_engine
from sinks.audit import append_entry
from fixtures.database_roles import pg_roles  # noqa: F401  (a fixture, used by name)

runner = CliRunner()


def test_audit_verify_prints_the_head_and_names_the_first_broken_row(tmp_path):
    url = f"sqlite:///{tmp_path / 'sink.sqlite'}"
    engine = make_engine(url)
    SinkWriter(engine).create_schema()
    for i in range(4):
        append_entry(engine, "sato", "reveal", "shintai-techo", f"R-{i}")
    env = {"LINKGUARD_DATABASE_URL": url}
    intact = runner.invoke(app, ["audit", "verify", "--json"], env=env)
    assert intact.exit_code == 0, intact.output
    doc = json.loads(intact.stdout)
    assert doc["intact"] and doc["rows_checked"] == 4 and doc["head_id"] == 4 and len(doc["head_hash"]) == 64
    with engine.begin() as conn:  # the file's owner takes the trigger away and rewrites who revealed
        conn.exec_driver_sql("DROP TRIGGER audit_log_no_update")
        conn.exec_driver_sql("UPDATE audit_log SET actor = 'ito' WHERE id = 2")
    broken = runner.invoke(app, ["audit", "verify"], env=env)
    assert broken.exit_code == 1 and "BROKEN at row 2" in broken.output
    engine.dispose()


def test_db_init_makes_the_schema_as_owner_and_the_app_role_cannot_rewrite_the_log(pg_roles):
    connect, owner, app_role = pg_roles
    owner_url = connect(owner).url.render_as_string(hide_password=False)
    made = runner.invoke(app, ["db", "init", "--app-role", app_role, "--url", owner_url])
    assert made.exit_code == 0, made.output
    assert f"{app_role} may only add to and read the audit log" in made.output
    app_engine = connect(app_role)
    append_entry(app_engine, "sato", "reveal", "shintai-techo", "R-1")
    with app_engine.connect() as conn:
        denied = conn.execute(sa.text("SELECT has_table_privilege('audit_log', 'UPDATE')")).scalar()
    assert denied is False
    refused = runner.invoke(app, ["db", "init", "--app-role", owner, "--url", owner_url])
    assert refused.exit_code == 1 and "must not be the owner role" in refused.output


def test_audit_verify_on_a_previous_release_database_says_what_is_not_verified(tmp_path):
    from fixtures.previous_release import previous_release_database

    url = f"sqlite:///{tmp_path / 'old.sqlite'}"
    engine = make_engine(url)
    previous_release_database(engine)
    env = {"LINKGUARD_DATABASE_URL": url}
    outdated = runner.invoke(app, ["audit", "verify"], env=env)
    assert outdated.exit_code == 1 and "linkguard db init" in outdated.output
    made = runner.invoke(app, ["db", "init", "--url", url])
    assert made.exit_code == 0, made.output
    assert "audit_log.row_hash" in " ".join(made.output.split())
    append_entry(engine, "sato", "reveal", "shintai-techo", "R-9")
    checked = runner.invoke(app, ["audit", "verify"], env=env)
    assert checked.exit_code == 0, checked.output
    said = " ".join(checked.output.split())  # the console wraps long lines
    assert "intact: 2 rows" in said
    assert "3 rows (ids 1–3) were written before the hash chain existed and are NOT verified" in said
    doc = json.loads(runner.invoke(app, ["audit", "verify", "--json"], env=env).stdout)
    assert (doc["rows_checked"], doc["unchained_rows"], doc["unchained_first_id"], doc["unchained_last_id"]) == (
        2, 3, 1, 3)
    engine.dispose()

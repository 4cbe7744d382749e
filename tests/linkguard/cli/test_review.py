"""``linkguard review …`` and ``linkguard users …`` on a real database (and the real broker for decisions)."""

from __future__ import annotations

import json
import uuid

import pytest
from typer.testing import CliRunner

import schemas
from linkguard.cli.root import app
from fixtures.review_loop import NUMBER, SUGGESTED, SYSTEM
from fixtures.support import consume, my_number

runner = CliRunner()


@pytest.fixture
def env(database_url, writer, users) -> dict[str, str]:
    return {"LINKGUARD_DATABASE_URL": database_url, "LINKGUARD_REVIEW_USER": "", "LINKGUARD_KAFKA_BOOTSTRAP": ""}


def run(env: dict[str, str], *args: str, input: str | None = None):
    """Run the CLI; with ``--user NAME`` (and no LINKGUARD_TOKEN) NAME's password is typed first."""
    if "--user" in args and not env.get("LINKGUARD_TOKEN") and input is None:
        input = f"password-{args[args.index('--user') + 1]}\n"
    return runner.invoke(app, list(args), env=env, input=input)


def fresh_topics(env: dict[str, str], local_broker):
    """Topics of their own on the local broker: their settings, and ``env`` pointing the CLI at them."""
    from streams.settings import KafkaSettings
    from streams.topics import ensure_topics

    prefix = f"t{uuid.uuid4().hex[:8]}."
    settings = KafkaSettings(kafka_bootstrap=local_broker.bootstrap, local_mode=True, topic_prefix=prefix,
                             topic_partitions=1)
    ensure_topics(settings)
    return settings, {**env, "LINKGUARD_KAFKA_BOOTSTRAP": local_broker.bootstrap, "LINKGUARD_LOCAL_MODE": "1",
                      "LINKGUARD_TOPIC_PREFIX": prefix, "LINKGUARD_TOPIC_PARTITIONS": "1"}


def test_users_add_takes_the_password_from_the_environment_and_list_never_shows_a_hash(database_url, writer):
    env = {"LINKGUARD_DATABASE_URL": database_url, "LINKGUARD_USER_PASSWORD": "a-long-password"}
    result = run(env, "users", "add", "yamada", "--role", "reviewer", "--role", "approver",
                 "--display-name", "山田")
    assert result.exit_code == 0, result.output
    listed = run(env, "users", "list", "--json")
    assert json.loads(listed.stdout) == [{"username": "yamada", "display_name": "山田",
                                          "roles": ["approver", "reviewer"], "active": True}]
    assert "argon2" not in listed.stdout
    assert run(env, "users", "add", "yamada", "--role", "reviewer").exit_code == 1  # exists
    bad = run(env, "users", "add", "x", "--role", "boss")
    assert bad.exit_code == 1 and "unknown role" in bad.output


def test_users_add_prompts_for_the_password_hidden(database_url, writer):
    env = {"LINKGUARD_DATABASE_URL": database_url, "LINKGUARD_USER_PASSWORD": ""}
    result = run(env, "users", "add", "ito", "--role", "approver", input="pass-word-1\npass-word-1\n")
    assert result.exit_code == 0, result.output
    assert "pass-word-1" not in result.output


def test_list_shows_names_and_masked_numbers_to_reviewers_only(env, loop):
    loop.hold("R-1", name="山田 花子")
    result = run(env, "review", "list", "--user", "sato", "--json")
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert doc["total"] == 1 and doc["reason_counts"] == {"IDENTITY_MISMATCH": 1}
    assert doc["items"][0]["name"] == "山田 花子" and doc["items"][0]["my_number"] == "**** **** " + NUMBER[-4:]
    assert NUMBER not in result.stdout
    ops = json.loads(run(env, "review", "list", "--user", "ops", "--json").stdout)
    assert ops["total"] == 1 and "name" not in ops["items"][0] and "my_number" not in ops["items"][0]
    table = run({**env, "LINKGUARD_REVIEW_USER": "sato"}, "review", "list", input="password-sato\n")
    assert table.exit_code == 0 and "R-1" in table.stdout and NUMBER not in table.stdout


def test_commands_need_an_existing_account_with_the_right_role(env, loop):
    loop.hold("R-1")
    assert "--user NAME" in run(env, "review", "list").output
    nobody = run(env, "review", "list", "--user", "nobody")
    assert nobody.exit_code == 1 and "no active account" in nobody.output
    ops = run(env, "review", "show", SYSTEM, "R-1", "--user", "ops")
    assert ops.exit_code == 1 and "role reviewer or approver" in ops.output


def test_show_masks_unless_revealed_and_a_reveal_is_audited(env, loop, service):
    loop.hold("R-1")
    shown = run(env, "review", "show", SYSTEM, "R-1", "--user", "sato", "--json")
    assert shown.exit_code == 0, shown.output
    doc = json.loads(shown.stdout)
    assert doc["my_number"] == "**** **** " + NUMBER[-4:] and doc["suggested_my_number"].endswith(SUGGESTED[-4:])
    assert NUMBER not in shown.stdout and SUGGESTED not in shown.stdout
    assert {f["field"]: f["differs"] for f in doc["fields"]}["name"] is True
    revealed = run(env, "review", "show", SYSTEM, "R-1", "--user", "sato", "--reveal", "--json")
    assert json.loads(revealed.stdout)["my_number"] == NUMBER
    actions = [e.action for e in service.audit.entries(newest_first=False)]
    assert actions == ["view", "view", "reveal", "reveal"]
    text = run(env, "review", "show", SYSTEM, "R-1", "--user", "sato")
    assert text.exit_code == 0 and "氏名" in text.stdout and NUMBER not in text.stdout


def test_decisions_need_kafka_and_say_so(env, loop):
    loop.hold("R-1")
    result = run(env, "review", "release", SYSTEM, "R-1", "--user", "sato", "-m", "ok")
    assert result.exit_code == 1 and "LINKGUARD_KAFKA_BOOTSTRAP" in result.output


@pytest.mark.integration
def test_correct_reads_the_number_from_a_hidden_prompt_and_publishes_through_kafka(env, loop, local_broker):
    from streams.topics import names

    settings, kafka_env = fresh_topics(env, local_broker)
    loop.hold("R-1")
    new_number = my_number(55555555555)
    result = run(kafka_env, "review", "correct", SYSTEM, "R-1", "--number", "-", "--user", "sato",
                 "-m", "申請書で確認", input="password-sato\n" + new_number + "\n")
    assert result.exit_code == 0, result.output
    assert new_number not in result.output and "CORRECT" in result.output
    codec = schemas.Codec()
    [record] = [codec.decode("record_changed", m.value)
                for m in consume(names(settings).records, local_broker.bootstrap, 1)]
    assert record["my_number"] == new_number and record["record_id"] == "R-1"
    [decision] = [codec.decode("decision", m.value)
                  for m in consume(names(settings).decisions, local_broker.bootstrap, 1)]
    assert decision["action"] == "CORRECT" and decision["corrected_event_id"] == record["event_id"]
    bad = run(kafka_env, "review", "correct", SYSTEM, "R-1", "--number", "-", "--user", "sato", "-m", "x",
              input="password-sato\n123456789012\n")
    assert bad.exit_code == 1 and "not a valid My Number" in bad.output and "123456789012" not in bad.output
    both = run(kafka_env, "review", "correct", SYSTEM, "R-1", "--suggested", "--number", "-", "--user", "sato",
               "-m", "x")
    assert both.exit_code == 1 and "exactly one" in both.output


# -- issue 12 item 1: nothing is attributed to a user without that user's credential -------------
def test_a_user_name_alone_reveals_nothing(env, loop, service):
    """Before: `review show --reveal --user X` revealed a number in anyone's name, no password asked."""
    loop.hold("R-1")
    no_password = runner.invoke(app, ["review", "show", SYSTEM, "R-1", "--user", "sato", "--reveal", "--json"],
                                env=env, input="")
    assert no_password.exit_code == 1 and NUMBER not in no_password.output
    wrong = run(env, "review", "show", SYSTEM, "R-1", "--user", "sato", "--reveal", input="password-ito\n")
    assert wrong.exit_code == 1 and "no active account 'sato' with that password" in wrong.output
    assert NUMBER not in wrong.output
    actions = [(e.actor, e.action) for e in service.audit.entries(newest_first=False)]
    assert actions == [("sato", "cli-login-failed")]  # no view, no reveal, in anybody's name
    right = run(env, "review", "show", SYSTEM, "R-1", "--user", "sato", "--reveal", "--json")
    assert right.exit_code == 0 and json.loads(right.stdout)["my_number"] == NUMBER


def test_an_admin_makes_a_token_the_user_acts_with_until_it_is_revoked(env, loop, service):
    loop.hold("R-1")
    refused = run(env, "users", "token", "create", "sato", "--user", "kato")
    assert refused.exit_code == 1 and "only an admin" in refused.output
    made = run(env, "users", "token", "create", "sato", "--label", "nightly", "--user", "root")
    assert made.exit_code == 0, made.output
    token = made.stdout.strip().splitlines()[-1]
    assert token.startswith("lgt_")
    as_sato = {**env, "LINKGUARD_TOKEN": token}
    shown = run(as_sato, "review", "show", SYSTEM, "R-1", "--json")
    assert shown.exit_code == 0, shown.output
    impostor = run(as_sato, "review", "show", SYSTEM, "R-1", "--user", "kato")
    assert impostor.exit_code == 1 and "not the token's user sato" in impostor.output
    listed = json.loads(run(env, "users", "token", "list", "--user", "root", "--json").stdout)
    assert [(t["username"], t["label"], t["revoked_at"]) for t in listed] == [("sato", "nightly", "")]
    assert token not in json.dumps(listed)
    assert run(env, "users", "token", "revoke", listed[0]["token_id"], "--user", "root").exit_code == 0
    dead = run(as_sato, "review", "show", SYSTEM, "R-1")
    assert dead.exit_code == 1 and "not a live token" in dead.output
    actions = [e.action for e in service.audit.entries(newest_first=False)]
    assert actions == ["token-create", "view", "token-revoke", "cli-token-failed"]


def test_once_an_admin_exists_only_an_admin_adds_users(env):
    with_password = {**env, "LINKGUARD_USER_PASSWORD": "a-long-password"}
    nobody = runner.invoke(app, ["users", "add", "mallory", "--role", "admin"], env=with_password, input="")
    assert nobody.exit_code == 1 and "mallory" not in run(env, "users", "list", "--json").stdout
    reviewer = run(with_password, "users", "add", "mallory", "--role", "admin", "--user", "sato")
    assert reviewer.exit_code == 1 and "only an admin adds users" in reviewer.output
    admin = run(with_password, "users", "add", "yamada", "--role", "reviewer", "--user", "root")
    assert admin.exit_code == 0, admin.output


@pytest.mark.integration
def test_one_shell_cannot_release_and_approve_in_two_names(env, loop, local_broker, service):
    """Before: `review release --user reviewer` then `review approve --user approver` from one shell, with
    no password, put a held record into the sink via review with two people credited."""
    from streams.topics import names

    settings, kafka_env = fresh_topics(env, local_broker)
    loop.hold("R-1")
    made = run(env, "users", "token", "create", "sato", "--user", "root")
    sato = {**kafka_env, "LINKGUARD_TOKEN": made.stdout.strip().splitlines()[-1]}
    assert run(sato, "review", "release", SYSTEM, "R-1", "-m", "本人確認済み").exit_code == 0
    for attempt in (run(sato, "review", "approve", SYSTEM, "R-1", "-m", "ok", "--user", "ito"),
                    runner.invoke(app, ["review", "approve", SYSTEM, "R-1", "-m", "ok", "--user", "ito"],
                                  env=kafka_env, input="password-sato\n")):
        assert attempt.exit_code == 1, attempt.output
    codec = schemas.Codec()
    decisions = [codec.decode("decision", m.value)
                 for m in consume(names(settings).decisions, local_broker.bootstrap, 2)]
    assert [(d["action"], d["user"]) for d in decisions] == [("REQUEST_RELEASE", "sato")]

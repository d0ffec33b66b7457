"""`commerce-sync audience-webhook` against the local runner and the Mailchimp emulator (docs/consent.md): it
registers the store's audience webhook (Mailchimp's GET check passes), `status` shows it, rotating the store's
secret registers it again at the new key, and the help's examples run as typed."""

from __future__ import annotations

import io
import json
import re
import shlex
import sys
import uuid
from pathlib import Path

import boto3
import pytest
from commerce_sync.aws.settings import Settings

from emulators.mailchimp import MailchimpEmulator
from local_runner.main import write_env_file
from local_runner.runner import LocalRunner
from operator_cli import main as operator_main
from operator_cli import rotation as rotation_cli
from operator_cli.help_texts import LOCAL_COMMAND, example_lines
from operator_cli.stores import NewStore, add_store, find_store, generate_webhook_secret
from tests.harness import register_store


@pytest.fixture
def operator_env(runner: LocalRunner, monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in runner.operator_environment().items():
        monkeypatch.setenv(name, value)


def cli(capsys: pytest.CaptureFixture[str], *arguments: str, typed: str = "") -> tuple[int, str, str]:
    capsys.readouterr()
    old_stdin = sys.stdin
    sys.stdin = io.StringIO(typed)
    try:
        code = operator_main.main(list(arguments))
    finally:
        sys.stdin = old_stdin
    out, err = capsys.readouterr()
    return code, out, err


def test_the_cli_registers_the_webhook_status_shows_it_and_a_rotation_registers_it_again(
    runner: LocalRunner, mailchimp: MailchimpEmulator, operator_env: None, capsys: pytest.CaptureFixture[str]
) -> None:
    store = register_store("shopify", list_id=f"list-{uuid.uuid4().hex[:8]}")
    list_id = store.store.list_id
    code, out, _ = cli(capsys, "audience-webhook", store.store_id)
    assert code == 1 and "missing" in out

    code, out, err = cli(capsys, "audience-webhook", store.store_id, "--create")
    assert code == 0, out + err
    assert "registered (created now)" in out
    (hook,) = mailchimp.list_webhooks(list_id)
    assert hook["url"].startswith(f"{runner.url}/webhooks/mailchimp/{store.store_id}?key=")
    assert hook["sources"] == {"user": True, "admin": True, "api": False}
    assert hook["url"].split("key=")[1] not in out + err, "the key is never printed"
    # Again: nothing more is made.
    code, out, _ = cli(capsys, "audience-webhook", store.store_id, "--create", "--json")
    assert code == 0 and json.loads(out)["status"] == "registered" and json.loads(out)["created"] is False
    assert len(mailchimp.list_webhooks(list_id)) == 1

    code, out, _ = cli(capsys, "status", store.store_id, "--json")
    (report,) = [each for each in json.loads(out)["stores"] if each["store_id"] == store.store_id]
    assert report["audience_webhook"]["status"] == "registered"
    code, out, _ = cli(capsys, "status", store.store_id)
    assert "audience webhook:" in out and "registered" in out

    # A rotation of the store's secret moves the webhook to the new key (made first, then the old one deleted).
    new_secret = f"rotated-{uuid.uuid4().hex}"
    code, out, err = cli(capsys, "rotate", "store-secret", store.store_id, "--stdin", "--local", typed=new_secret)
    assert code == 0, out + err
    assert "audience webhook re-registered at the new key" in out
    (moved,) = mailchimp.list_webhooks(list_id)
    assert moved["id"] != hook["id"] and moved["url"] != hook["url"]
    assert new_secret not in out + err

    mailchimp.set_member_status(
        list_id, f"after-rotation-{uuid.uuid4().hex[:6]}@example.com", "cleaned", source="admin"
    )
    (delivery,) = mailchimp.wait_for_webhook_deliveries(1, list_id=list_id)
    assert delivery["webhook_id"] == moved["id"] and delivery["status"] == 202
    runner.wait_until_idle(timeout=60)

    code, out, _ = cli(capsys, "audience-webhook", store.store_id, "--delete")
    assert code == 0 and mailchimp.list_webhooks(list_id) == []


def test_an_unknown_store_or_a_url_mailchimp_cannot_reach_is_refused(
    runner: LocalRunner, operator_env: None, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = cli(capsys, "audience-webhook", "no-such-store", "--create")
    assert code == 2 and "not registered" in err
    store = register_store("shopify", list_id=f"list-{uuid.uuid4().hex[:8]}")
    code, _, err = cli(capsys, "audience-webhook", store.store_id, "--create", "--api-url", "http://127.0.0.1:9")
    assert code == 1 and "does not answer" in err and "key=…" in err


CONSENT_DOC = Path(__file__).resolve().parents[2] / "docs" / "consent.md"


def consent_doc_lines() -> list[str]:
    """The command lines of docs/consent.md's ```sh blocks."""
    blocks = re.findall(r"^```sh\n(.*?)^```", CONSENT_DOC.read_text(), flags=re.MULTILINE | re.DOTALL)
    return [line.strip() for block in blocks for line in block.splitlines() if line.strip()]


def test_the_help_examples_and_the_commands_of_docs_consent_run_as_typed(
    runner: LocalRunner, capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_env_file(runner, tmp_path / ".local" / "runner.env")
    monkeypatch.chdir(tmp_path)
    for name, value in runner.operator_environment().items():
        monkeypatch.setenv(name, value)
    if find_store(Settings.from_environment(), "my-shop") is None:
        add_store(
            Settings.from_environment(),
            NewStore(
                store_id="my-shop",
                platform="shopify",
                identity=f"my-shop-{uuid.uuid4().hex[:6]}.myshopify.com",
                name="My Shop",
                list_id="list-e2e",
                currency_code="USD",
                webhook_secret=generate_webhook_secret(),
            ),
            check=False,
        )
    parser = operator_main.parser()
    action = next(a for a in parser._actions if a.__class__.__name__ == "_SubParsersAction")
    lines = example_lines(action.choices["audience-webhook"].epilog)  # type: ignore[attr-defined]
    assert len(lines) == 3
    documented = consent_doc_lines()
    assert len(documented) >= 6, documented
    for line in [*lines, *documented]:
        words = shlex.split(line)
        assert line.startswith(LOCAL_COMMAND) and words[0] == ".venv/bin/commerce-sync", line
        code, out, err = cli(capsys, *words[1:])
        assert code == 0, f"$ {line}\n{out}{err}"
        assert "Traceback" not in err


def test_a_rotation_without_the_cli_registers_the_webhook_again_by_itself(
    runner: LocalRunner, mailchimp: MailchimpEmulator, operator_env: None, capsys: pytest.CaptureFixture[str]
) -> None:
    """As a scheduled rotation runs: the rotation function's four steps alone, no operator to follow it."""
    store = register_store("shopify", list_id=f"list-{uuid.uuid4().hex[:8]}")
    list_id = store.store.list_id
    assert cli(capsys, "audience-webhook", store.store_id, "--create")[0] == 0
    (hook,) = mailchimp.list_webhooks(list_id)
    client = rotation_cli.secretsmanager()
    new_secret = f"scheduled-{uuid.uuid4().hex}"
    rotation_cli.stage_webhook_secret(client, store.store.secret_id, new_secret)

    outcome = rotation_cli.rotate(client, store.store.secret_id, Settings.from_environment(), True)

    assert outcome.promoted, outcome.message
    (moved,) = mailchimp.list_webhooks(list_id)
    assert moved["id"] != hook["id"] and moved["url"] != hook["url"]
    code, out, _ = cli(capsys, "audience-webhook", store.store_id, "--json")
    assert code == 0 and json.loads(out)["status"] == "registered"
    mailchimp.set_member_status(list_id, f"scheduled-{uuid.uuid4().hex[:6]}@example.com", "cleaned", source="admin")
    (delivery,) = mailchimp.wait_for_webhook_deliveries(1, list_id=list_id)
    assert delivery["webhook_id"] == moved["id"] and delivery["status"] == 202
    runner.wait_until_idle(timeout=60)


def test_a_webhook_left_at_an_old_key_needs_attention_in_status(
    runner: LocalRunner, mailchimp: MailchimpEmulator, operator_env: None, capsys: pytest.CaptureFixture[str]
) -> None:
    store = register_store("shopify", list_id=f"list-{uuid.uuid4().hex[:8]}")
    assert cli(capsys, "audience-webhook", store.store_id, "--create")[0] == 0
    secrets = boto3.client("secretsmanager")
    value = json.loads(secrets.get_secret_value(SecretId=store.store.secret_id)["SecretString"])
    # The signing secret changed outside a rotation (written by hand): the webhook's key is the old one's.
    secrets.put_secret_value(
        SecretId=store.store.secret_id, SecretString=json.dumps({**value, "webhook_secret": uuid.uuid4().hex * 2})
    )

    code, out, _ = cli(capsys, "status", store.store_id, "--json")

    (report,) = json.loads(out)["stores"]
    assert code == 1 and report["audience_webhook"]["status"] == "stale"
    (reason,) = [reason for reason in report["attention"] if "audience webhook" in reason]
    assert f"`commerce-sync audience-webhook {store.store_id} --create`" in reason
    assert cli(capsys, "audience-webhook", store.store_id, "--create")[0] == 0
    code, out, _ = cli(capsys, "status", store.store_id, "--json")
    assert code == 0 and json.loads(out)["stores"][0]["attention"] == []

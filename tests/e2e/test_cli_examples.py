"""Every example the CLI's help shows (every command and subcommand of `commerce-sync`, found by walking its argparse
tree: a command added later is run too), and every command of docs/operator.md, runs as typed against one local
runner and exits 0, from a directory whose `.local/runner.env` is the runner's, as `commerce-sync-local` writes it.

The stores the examples name are there: `my-shop` (Shopify, its Admin API played by an emulator: webhooks, the
catalog sync, the backfill and the reconciliation read it) and `my-bc-store` (BigCommerce, with a hook whose token a
rotation pushes). `my-shop` is registered again whenever an example removed it (the removals come last). Examples
that read a secret (`--stdin`) get one typed on stdin, a new one each, which must then appear in no output; the
removal's confirmation is typed too. An example with `--json` prints one JSON document on stdout and nothing else
(but `privacy export --json FILE`, which writes the shopper's export to FILE).
"""

from __future__ import annotations

import io
import json
import re
import shlex
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from commerce_sync.aws.settings import Settings
from commerce_sync.aws.store_registry import StoreRegistry

from emulators.bigcommerce import BigCommerceEmulator
from emulators.mailchimp import MailchimpEmulator
from emulators.shopify.emulator import ShopifyEmulator
from local_runner.main import LOCAL_OAUTH_CLIENT_ID, LOCAL_OAUTH_CLIENT_SECRET, write_env_file
from local_runner.runner import LocalRunner
from operator_cli import main as operator_main
from operator_cli.help_texts import LOCAL_COMMAND, example_lines
from operator_cli.stores import NewStore, add_store, generate_webhook_secret
from tests.harness import API_KEY
from tests.paths import PROJECT
from tests.unit.operator_cli.test_cli_surface import leaf_commands

SHOP = "my-shop"
BC_STORE = "my-bc-store"
SHOP_TOKEN = "shpat_examples_0123456789abcdef"
BC_TOKEN = "bc-examples-token"
TOKEN_HEADER = "X-Commerce-Sync-Token"
OPERATOR_DOC = PROJECT / "docs" / "operator.md"
# Other docs whose every command runs here (docs/consent.md's run in test_consent_cli.py).
RUN_DOCS = (OPERATOR_DOC, PROJECT / "docs" / "segments.md")

# Run after every other example, in this order: a removal takes my-shop's Mailchimp store with it, and the
# default Mailchimp key's rotation changes what every function reads (put back after the test).
LAST = (("rotate", "mailchimp-key"), ("stores", "remove"))


def operator_doc_lines(doc: Path = OPERATOR_DOC) -> list[str]:
    """The command lines of a doc's ```sh blocks (docs/operator.md's by default)."""
    blocks = re.findall(r"^```sh\n(.*?)^```", doc.read_text(), flags=re.MULTILINE | re.DOTALL)
    return [line.strip() for block in blocks for line in block.splitlines() if line.strip()]


def example_commands() -> list[tuple[tuple[str, ...], str]]:
    """Every help example, as (the words naming its command, the line), in the order they run."""
    leaves = dict(leaf_commands())
    order = [names for names in leaves if names not in LAST] + list(LAST)
    return [(names, line) for names in order for line in example_lines(leaves[names].epilog)]


def registry() -> StoreRegistry:
    return StoreRegistry(Settings.from_environment().stores_table)


@pytest.fixture
def shopify() -> Iterator[ShopifyEmulator]:
    with ShopifyEmulator(f"{SHOP}.myshopify.com", SHOP_TOKEN) as running:
        yield running


@pytest.fixture
def bigcommerce() -> Iterator[BigCommerceEmulator]:
    with BigCommerceEmulator(f"ex{uuid.uuid4().hex[:10]}", BC_TOKEN) as running:
        yield running


def register(store_id: str, platform: str, identity: str, api_url: str, token: str) -> str:
    """The store under its fixed id (anew: another test may have left one there), with its platform API's address
    and credentials; its webhook secret."""
    secret = generate_webhook_secret()
    add_store(
        Settings.from_environment(),
        NewStore(
            store_id=store_id,
            platform=platform,
            identity=identity,
            name="My Shop",
            list_id="list-e2e",
            currency_code="USD",
            platform_api_url=api_url,
            webhook_secret=secret,
            platform_api_credentials={"access_token": token},
        ),
        replace=True,
        check=False,
    )
    return secret


@pytest.fixture
def operator_env(runner: LocalRunner, monkeypatch: pytest.MonkeyPatch) -> None:
    """The runner's settings, for what the test itself reads and writes (the CLI reads the env file)."""
    for name, value in runner.operator_environment().items():
        monkeypatch.setenv(name, value)


@pytest.fixture
def oauth_app_kept(operator_env: None) -> Iterator[None]:
    """`mailchimp-app` writes the runner's OAuth app secret: what other tests of this worker read is put back."""
    client = boto3.client("secretsmanager")
    secret_id = Settings.from_environment().mailchimp_oauth_secret_arn
    before = client.get_secret_value(SecretId=secret_id)["SecretString"]
    yield
    client.put_secret_value(SecretId=secret_id, SecretString=before)


@pytest.fixture
def default_key_kept(operator_env: None) -> Iterator[None]:
    """`rotate mailchimp-key` rotates the runner's default key: rotated back to the suite's after."""
    yield
    secret_id = Settings.from_environment().mailchimp_secret_arn
    current = json.loads(boto3.client("secretsmanager").get_secret_value(SecretId=secret_id)["SecretString"])
    if current.get("api_key") != API_KEY:
        stdin = sys.stdin
        sys.stdin = io.StringIO(API_KEY + "\n")
        try:
            assert operator_main.main(["rotate", "mailchimp-key", "--stdin", "--restart"]) == 0
        finally:
            sys.stdin = stdin


def typed_for(words: list[str], mailchimp: MailchimpEmulator) -> tuple[str, str | None]:
    """What the user types on the command's stdin, and the secret in it (None: nothing secret)."""
    if "--stdin" not in words and "--client-secret-stdin" not in words:
        return f"{SHOP}\n", None  # the removal's confirmation, when it asks
    if words[:2] == ["stores", "set-credentials"]:
        secret = SHOP_TOKEN
    elif words[:2] == ["stores", "set-mailchimp-key"]:
        secret = API_KEY  # the default account's own key: the store keeps writing to it
    elif words[:1] == ["mailchimp-app"]:
        secret = LOCAL_OAUTH_CLIENT_SECRET
    elif words[:2] == ["rotate", "mailchimp-key"]:
        secret = f"{uuid.uuid4().hex}-us6"
        mailchimp.add_api_key(secret)  # made in Mailchimp first, as the help says
    else:
        secret = generate_webhook_secret()
    return secret + "\n", secret


def test_every_help_example_and_every_command_of_docs_operator_runs_as_typed(
    runner: LocalRunner,
    mailchimp: MailchimpEmulator,
    shopify: ShopifyEmulator,
    bigcommerce: BigCommerceEmulator,
    oauth_app_kept: None,
    default_key_kept: None,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    write_env_file(runner, tmp_path / ".local" / "runner.env")
    monkeypatch.chdir(tmp_path)
    # The examples' values are the local runner's: the OAuth app commerce-sync-local is the bundled emulator's.
    assert "--client-id commerce-sync-local" in " ".join(line for _, line in example_commands())
    assert LOCAL_OAUTH_CLIENT_ID == "commerce-sync-local"
    register(BC_STORE, "bigcommerce", bigcommerce.store_hash, bigcommerce.base_url, BC_TOKEN)
    bc_secret = json.loads(
        boto3.client("secretsmanager").get_secret_value(SecretId=f"commerce-sync/stores/{BC_STORE}")["SecretString"]
    )["webhook_secret"]
    bigcommerce.put_hook("store/cart/deleted", f"{runner.url}/webhooks/bigcommerce", headers={TOKEN_HEADER: bc_secret})
    register(SHOP, "shopify", f"{SHOP}.myshopify.com", shopify.base_url, SHOP_TOKEN)

    examples = example_commands()
    leaves = dict(leaf_commands())
    assert {names for names, _ in examples} == set(leaves), "every command has its examples run"
    documented = [line for doc in RUN_DOCS for line in operator_doc_lines(doc)]
    assert len(documented) >= 15 and all(line.startswith(LOCAL_COMMAND) for line in documented), documented
    for line in [*(line for _, line in examples), *documented]:
        if registry().get(SHOP) is None:
            register(SHOP, "shopify", f"{SHOP}.myshopify.com", shopify.base_url, SHOP_TOKEN)
        words = shlex.split(line)
        assert line.startswith(LOCAL_COMMAND) and words[0] == ".venv/bin/commerce-sync", line
        typed, secret = typed_for(words[3:], mailchimp)
        code, out, err = run_as_typed(capsys, words[1:], typed)
        transcript = f"$ {line}\n[exit {code}]\n{out}{err}"
        assert code == 0, transcript
        assert "Traceback" not in err, transcript
        if secret is not None:
            assert secret not in out + err, f"the secret typed is printed:\n{transcript}"
        if operator_main.parser().parse_args(words[1:]).json is True:  # privacy export's --json names a file
            json.loads(out)  # one document, and nothing else on stdout
    # The rotation's --show-secret example printed the secret it asked for, in its field.
    shown = [line for _, line in examples if "--show-secret" in line]
    assert shown, "no example shows --show-secret"


def run_as_typed(capsys: pytest.CaptureFixture[str], arguments: list[str], typed: str) -> tuple[int, str, str]:
    capsys.readouterr()
    stdin = sys.stdin
    sys.stdin = io.StringIO(typed)
    try:
        code = operator_main.main(arguments)
    finally:
        sys.stdin = stdin
    out, err = capsys.readouterr()
    return code, out, err


def test_a_json_example_prints_one_document_and_show_secret_prints_the_new_secret_once(
    runner: LocalRunner,
    operator_env: None,
    bigcommerce: BigCommerceEmulator,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """`rotate store-secret my-bc-store --show-secret --json`: the outcome, and the secret asked for in its field,
    the one now current, pushed to the store's hook."""
    write_env_file(runner, tmp_path / ".local" / "runner.env")
    monkeypatch.chdir(tmp_path)
    register(BC_STORE, "bigcommerce", bigcommerce.store_hash, bigcommerce.base_url, BC_TOKEN)
    secret_id = f"commerce-sync/stores/{BC_STORE}"
    before = json.loads(boto3.client("secretsmanager").get_secret_value(SecretId=secret_id)["SecretString"])
    bigcommerce.put_hook(
        "store/cart/deleted", f"{runner.url}/webhooks/bigcommerce", headers={TOKEN_HEADER: before["webhook_secret"]}
    )
    (line,) = [line for _, line in example_commands() if "--show-secret" in line]

    code, out, err = run_as_typed(capsys, shlex.split(line)[1:], "")

    assert code == 0, out + err
    result: dict[str, Any] = json.loads(out)
    now = json.loads(boto3.client("secretsmanager").get_secret_value(SecretId=secret_id)["SecretString"])
    assert now["webhook_secret"] != before["webhook_secret"]
    assert result["webhook_secret"] == now["webhook_secret"] and out.count(now["webhook_secret"]) == 1
    assert (result["target"], result["store_id"], result["promoted"]) == ("store-secret", BC_STORE, True)
    assert bigcommerce.hook(1)["headers"][TOKEN_HEADER] == now["webhook_secret"]
    assert now["webhook_secret"] not in err and before["webhook_secret"] not in out + err

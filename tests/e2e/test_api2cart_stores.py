"""Registering an API2Cart store through the operator CLI against the local runner and the API2Cart emulator:
`add-store --platform api2cart --identity <store key> --credentials-stdin` checks the API key and store key with
one cart.info call before saving anything; a refused key, or a store key that is not the identity, saves nothing and
says why; the API key is never printed or logged."""

from __future__ import annotations

import io
import json
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from commerce_sync.aws.secret_store import AWSCURRENT
from commerce_sync.aws.settings import Settings
from commerce_sync.aws.store_registry import StoreRegistry

from emulators.api2cart import Api2CartEmulator
from local_runner.main import write_env_file
from local_runner.runner import LocalRunner
from operator_cli import main as operator_main

API_KEY = "a2c-cli-api-key-fedcba9876543210"
WRONG_KEY = "a2c-cli-wrong-key-0000000000000000"


@pytest.fixture
def emulator() -> Iterator[Api2CartEmulator]:
    with Api2CartEmulator(API_KEY) as running:
        yield running


@pytest.fixture
def cli(
    runner: LocalRunner,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    captured_logs: io.StringIO,
) -> Iterator[Any]:
    env_file = write_env_file(runner, tmp_path / "runner.env")
    # The API key is the secret; the store key is the store's identity, named like any store's (docs/api2cart.md).
    secrets = (API_KEY, WRONG_KEY)

    def run(*arguments: str, stdin: str | None = None) -> tuple[int, str, str]:
        if stdin is not None:
            monkeypatch.setattr(sys, "stdin", io.StringIO(stdin))
        code = operator_main.main(["--env-file", str(env_file), *arguments])
        out = capsys.readouterr()
        shown = out.out + out.err + captured_logs.getvalue()
        leaked = [secret for secret in secrets if secret in shown]
        assert not leaked, ("a key was printed or logged", shown)
        return code, out.out, out.err

    yield run


def add_store(store_id: str, store_key: str, url: str) -> list[str]:
    return [
        "add-store",
        *("--platform", "api2cart", "--identity", store_key, "--store-id", store_id),
        *("--name", "Magento via API2Cart", "--list-id", "list-a2c", "--currency", "EUR"),
        *("--platform-api-url", url, "--generate-webhook-secret", "--credentials-stdin"),
    ]


def test_the_keys_are_checked_with_one_call_then_saved(
    runner: LocalRunner, cli: Any, emulator: Api2CartEmulator
) -> None:
    store_key = emulator.add_store("Magento1212")
    store_id = f"a2c-{uuid.uuid4().hex[:8]}"

    code, out, err = cli(
        *add_store(store_id, store_key, emulator.base_url),
        stdin=json.dumps({"api_key": API_KEY, "store_key": store_key}),
    )

    assert code == 0, err
    assert f"store {store_id}: platform API credentials saved, accepted by the api2cart API" in out
    assert [(r["path"], r["status"]) for r in emulator.requests] == [("/v1.1/cart.info.json", 200)]
    store = StoreRegistry(Settings.from_environment().stores_table).get(store_id)
    assert store is not None and (store.platform, store.identity) == ("api2cart", store_key)
    assert store.platform_api_url == emulator.base_url
    raw = runner.client("secretsmanager").get_secret_value(SecretId=store.secret_id, VersionStage=AWSCURRENT)
    assert json.loads(raw["SecretString"])["platform_api_credentials"] == {"api_key": API_KEY, "store_key": store_key}


def test_a_refused_key_or_another_store_key_saves_nothing(
    runner: LocalRunner, cli: Any, emulator: Api2CartEmulator
) -> None:
    store_key, other_key = emulator.add_store("Prestashop"), emulator.add_store("Prestashop")
    store_id = f"a2c-{uuid.uuid4().hex[:8]}"
    registry = StoreRegistry(Settings.from_environment().stores_table)
    arguments = add_store(store_id, store_key, emulator.base_url)

    code, out, err = cli(*arguments, stdin=f"api_key={WRONG_KEY}\nstore_key={store_key}\n")
    assert (code, out) == (2, "")
    assert "the API key and store key were refused by 127.0.0.1" in err and "Incorrect API Key" in err
    assert "(nothing was saved)" in err

    code, out, err = cli(*arguments, stdin=f"api_key={API_KEY}\nstore_key={other_key}\n")
    assert (code, out) == (2, "")
    assert "the store_key credential is not the store's identity" in err
    assert registry.get(store_id) is None

    code, _, err = cli(*arguments, stdin=f"api_key={API_KEY}\n")
    assert code == 2 and "missing or empty: store_key" in err
    assert registry.get(store_id) is None

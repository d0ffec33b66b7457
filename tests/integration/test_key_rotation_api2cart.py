"""Rotating an API2Cart store's webhook secret (the token in its webhooks' callback URL) through the rotation function's
four steps against the API2Cart emulator: every webhook of ours is pointed at the new token with webhook.update, the
others are left alone, and deliveries the emulator sends between the steps are accepted throughout."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import pytest
from commerce_sync.aws.secret_store import AWSCURRENT, AWSPREVIOUS
from commerce_sync.platforms.hooks import PlatformHooks
from commerce_sync.rotation.key_rotation import STEPS

from emulators.api2cart import Api2CartEmulator
from local_runner.runner import LocalRunner
from operator_cli import rotation as rotation_cli
from tests.harness import register_store

API_KEY = "a2c-rotation-api-key-0123456789"


@pytest.fixture
def emulator() -> Iterator[Api2CartEmulator]:
    with Api2CartEmulator(API_KEY) as running:
        yield running


def current(runner: LocalRunner, secret_id: str, stage: str = AWSCURRENT) -> dict[str, Any]:
    raw = runner.client("secretsmanager").get_secret_value(SecretId=secret_id, VersionStage=stage)
    return dict(json.loads(raw["SecretString"]))


def token_of(hook: dict[str, Any]) -> str | None:
    return dict(parse_qsl(urlsplit(hook["callback"]).query)).get("token")


def test_the_webhooks_move_to_the_new_token_and_deliveries_never_fail(
    runner: LocalRunner, emulator: Api2CartEmulator, captured_logs: io.StringIO
) -> None:
    store_key = emulator.add_store("Prestashop", currency="EUR")
    credentials = {"api_key": API_KEY, "store_key": store_key}
    registered = register_store(
        "api2cart",
        identity=store_key,
        currency_code="EUR",
        platform_api_url=emulator.base_url,
        platform_api_credentials=credentials,
    )
    hooks = PlatformHooks().api2cart(
        registered.store, credentials, f"{runner.url}/webhooks/api2cart", registered.webhook_secret
    )
    assert hooks.check_and_repair(registered.store_id).summary()["recreated"] == 9
    with emulator.state.lock:  # another app of the account
        emulator.state.stores[store_key].webhooks[900] = {
            "id": 900,
            "entity": "product",
            "action": "delete",
            "callback": "https://elsewhere.example/in?token=theirs",
            "active": True,
            "fields": "force_all",
        }
    secret_id = registered.store.secret_id
    token = rotation_cli.start_local_rotation(runner.client("secretsmanager"), secret_id)

    def delivered() -> None:
        customer = {"id": "3", "email": "rotation@example.com", "modified_time": {"value": "2025-03-14T14:00:00+0000"}}
        deliveries = emulator.put_customer(store_key, customer)
        assert [response.status_code for _, response in deliveries] == [202], [r.text for _, r in deliveries]

    for name in STEPS:
        runner.invoke("KeyRotationFunction", {"Step": name, "SecretId": secret_id, "ClientRequestToken": token})
        delivered()

    new_secret = current(runner, secret_id)["webhook_secret"]
    assert new_secret != registered.webhook_secret
    assert current(runner, secret_id, AWSPREVIOUS)["webhook_secret"] == registered.webhook_secret
    tokens = {hook["id"]: token_of(hook) for hook in emulator.webhooks(store_key)}
    assert tokens.pop(900) == "theirs"
    assert set(tokens.values()) == {new_secret}
    logs = captured_logs.getvalue()
    assert new_secret not in logs and registered.webhook_secret not in logs and API_KEY not in logs

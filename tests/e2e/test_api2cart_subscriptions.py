"""An API2Cart store's webhooks made and kept by commerce-sync, against the API2Cart emulator and the local runner:
`commerce-sync webhooks STORE --create` subscribes each entity and action the store's cart supports with the store's
callback URL (and the deliveries then land); the nightly check sets a disabled webhook active again and makes a
deleted one again; a rotation points every webhook of ours at the new token and leaves the others alone."""

from __future__ import annotations

import io
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import pytest
from commerce_sync.platforms.api2cart.hooks import EXPECTED
from commerce_sync.platforms.hooks import PlatformHooks
from commerce_sync.platforms.webhook_health import HealthAction, HookState

from emulators.api2cart import Api2CartEmulator
from local_runner.main import write_env_file
from local_runner.runner import LocalRunner
from operator_cli import main as operator_main
from tests.harness import RegisteredStore, register_store

API_KEY = "a2c-subscriptions-api-key-0123456"


@pytest.fixture
def emulator() -> Iterator[Api2CartEmulator]:
    with Api2CartEmulator(API_KEY) as running:
        yield running


def registered(emulator: Api2CartEmulator, cart_id: str) -> tuple[str, RegisteredStore]:
    store_key = emulator.add_store(cart_id, currency="EUR")
    store = register_store(
        "api2cart",
        identity=store_key,
        currency_code="EUR",
        platform_api_url=emulator.base_url,
        platform_api_credentials={"api_key": API_KEY, "store_key": store_key},
    )
    return store_key, store


def credentials(store_key: str) -> dict[str, str]:
    return {"api_key": API_KEY, "store_key": store_key}


def query(callback: str) -> dict[str, str]:
    return dict(parse_qsl(urlsplit(callback).query))


@pytest.fixture
def cli(runner: LocalRunner, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> Any:
    env_file = write_env_file(runner, tmp_path / "runner.env")

    def run(*arguments: str) -> tuple[int, str, str]:
        code = operator_main.main(["--env-file", str(env_file), *arguments])
        out = capsys.readouterr()
        assert API_KEY not in out.out + out.err
        return code, out.out, out.err

    return run


def test_create_subscribes_what_the_cart_supports_and_deliveries_land(
    runner: LocalRunner, emulator: Api2CartEmulator, cli: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    store_key, store = registered(emulator, "Prestashop")
    monkeypatch.setattr(sys, "stdin", io.StringIO(""))

    code, out, err = cli("webhooks", store.store_id)
    assert code == 1, err
    assert "missing" in out and "order.add" in out, "listed, nothing made without --create"
    assert emulator.webhooks(store_key) == []

    code, out, err = cli("webhooks", store.store_id, "--create")
    assert code == 0, err
    assert store.webhook_secret not in out, "the callback's token is never printed"
    hooks = emulator.webhooks(store_key)
    supported = {"customer.add", "customer.update", "customer.delete", "order.add", "order.update"}
    supported |= {"order.shipment.add", "product.add", "product.update", "product.delete"}
    assert {f"{hook['entity']}.{hook['action']}" for hook in hooks} == supported & set(EXPECTED)
    for hook in hooks:
        assert urlsplit(hook["callback"]).path == "/webhooks/api2cart"
        assert query(hook["callback"]) == {"store": store.store_id, "token": store.webhook_secret}

    deliveries = emulator.put_order(
        store_key,
        {
            "id": "5",
            "customer": {"email": "ana@example.com"},
            "status": {"id": "2", "name": "Payment accepted"},
            "totals": {"total": 10},
            "order_products": [{"product_id": "1", "order_product_id": "1", "name": "Pen", "price": 10, "quantity": 1}],
        },
    )
    assert [response.status_code for _, response in deliveries] == [202]

    code, out, _ = cli("webhooks", store.store_id)
    assert code == 0 and "9 topics: 9 subscribed, 0 missing" in out


def test_the_nightly_check_reactivates_and_remakes_and_a_rotation_moves_the_token(
    runner: LocalRunner, emulator: Api2CartEmulator, cli: Any
) -> None:
    store_key, store = registered(emulator, "Magento1212")
    assert cli("webhooks", store.store_id, "--create")[0] == 0
    hooks = {f"{hook['entity']}.{hook['action']}": hook for hook in emulator.webhooks(store_key)}
    emulator.set_webhook_active(store_key, hooks["order.update"]["id"], False)
    deleted = hooks["basket.add"]["id"]
    emulator.state.stores[store_key].webhooks.pop(deleted)
    with emulator.state.lock:  # another app of the account has a webhook of its own
        emulator.state.stores[store_key].webhooks[999] = {
            "id": 999,
            "entity": "order",
            "action": "add",
            "callback": "https://elsewhere.example/hook?token=theirs",
            "label": "other",
            "fields": "force_all",
            "active": False,
            "store_id": "1",
        }

    health = PlatformHooks().check_and_repair(store.store, credentials(store_key))

    by_topic = {topic.topic: topic for topic in health.topics}
    assert (by_topic["order.update"].state_before, by_topic["order.update"].action) == (
        HookState.INACTIVE,
        HealthAction.REACTIVATED,
    )
    assert (by_topic["basket.add"].state_before, by_topic["basket.add"].action) == (
        HookState.MISSING,
        HealthAction.RECREATED,
    )
    now = {f"{hook['entity']}.{hook['action']}": hook for hook in emulator.webhooks(store_key) if hook["id"] != 999}
    assert set(now) == set(EXPECTED)
    assert all(hook["active"] for hook in now.values())
    assert query(now["basket.add"]["callback"]) == {"store": store.store_id, "token": store.webhook_secret}

    new_secret = "rotated-webhook-secret-0123456789abcdef"
    pushed = PlatformHooks().push(store.store, credentials(store_key), new_secret, store.webhook_secret)
    assert (pushed.updated, pushed.skipped) == (len(EXPECTED), 1)
    assert PlatformHooks().verify(store.store, credentials(store_key), new_secret, store.webhook_secret) is True
    tokens = {query(hook["callback"]).get("token") for hook in emulator.webhooks(store_key)}
    assert tokens == {new_secret, "theirs"}

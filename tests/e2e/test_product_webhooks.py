"""Product webhooks through real HTTP: signed deliveries posted to the local API, normalised (BigCommerce's
thin payload and WooCommerce's variable product read from the store's API), published, and written to the
Mailchimp emulator by product_sync within seconds."""

from __future__ import annotations

import io
import json
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from commerce_sync.platforms.signatures import sign_base64_hmac

from emulators.bigcommerce import BigCommerceEmulator
from emulators.bigcommerce.catalog_fixtures import put_catalog
from emulators.bigcommerce.catalog_fixtures import sample_catalog as bigcommerce_catalog
from emulators.mailchimp import MailchimpEmulator
from emulators.woocommerce import WooCommerceEmulator
from emulators.woocommerce.fixtures import sample_catalog as woocommerce_catalog
from local_runner.runner import LocalRunner
from tests.harness import MailchimpReader, RegisteredStore, register_store

EVENTS = Path(__file__).resolve().parents[2] / "events"
TIMEOUT = (3.05, 30)


def sample(name: str) -> Any:
    return json.loads((EVENTS / name).read_text(encoding="utf-8"))


def post(runner: LocalRunner, platform: str, body: dict[str, Any], headers: dict[str, str]) -> requests.Response:
    return requests.post(
        f"{runner.url}/webhooks/{platform}",
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json", **headers},
        timeout=TIMEOUT,
    )


def shopify_headers(store: RegisteredStore, topic: str, body: dict[str, Any]) -> dict[str, str]:
    return {
        "X-Shopify-Topic": topic,
        "X-Shopify-Shop-Domain": store.identity,
        "X-Shopify-Hmac-Sha256": sign_base64_hmac(store.webhook_secret, json.dumps(body).encode()),
        "X-Shopify-Event-Id": uuid.uuid4().hex,
        "X-Shopify-Triggered-At": "2025-03-15T08:00:00Z",
    }


def test_shopify_products_update_then_delete(runner: LocalRunner, mailchimp_reader: MailchimpReader) -> None:
    store = register_store("shopify")
    body = sample("shopify_product_update_body.json")
    path = f"/ecommerce/stores/{store.store_id}/products/{body['id']}"

    started = time.monotonic()
    assert post(runner, "shopify", body, shopify_headers(store, "products/update", body)).status_code == 202
    runner.wait_until_idle()

    assert time.monotonic() - started < 10
    product = mailchimp_reader.resource(path)
    assert product["url"] == f"https://{store.identity}/products/trail-running-socks"
    medium, large = sorted(product["variants"], key=lambda v: v["id"])
    assert (medium["inventory_quantity"], medium["image_url"].split("?")[0].rsplit("/", 1)[1]) == (7, "socks.jpg")
    assert large["image_url"].split("?")[0].endswith("socks-l.jpg") and large["backorders"] == "yes"

    deleted = sample("shopify_product_delete_body.json")
    assert post(runner, "shopify", deleted, shopify_headers(store, "products/delete", deleted)).status_code == 202
    runner.wait_until_idle()

    assert {(v["inventory_quantity"], v["visibility"]) for v in mailchimp_reader.resource(path)["variants"]} == {
        (0, "hidden")
    }


def test_a_duplicate_product_delivery_is_logged_and_counted_as_duplicate_and_writes_nothing(
    runner: LocalRunner, mailchimp: MailchimpEmulator, captured_logs: io.StringIO
) -> None:
    store = register_store("shopify")
    body = {**sample("shopify_product_update_body.json"), "id": int(uuid.uuid4().int % 10**12)}
    headers = shopify_headers(store, "products/update", body)
    event_id = f"shopify:{headers['X-Shopify-Event-Id']}"

    def writes() -> list[str]:
        return [r["path"] for r in mailchimp.requests if r["method"] != "GET" and f"/{body['id']}" in r["path"]]

    assert post(runner, "shopify", body, headers).status_code == 202
    runner.wait_until_idle()
    first = writes()
    assert post(runner, "shopify", body, headers).status_code == 202
    runner.wait_until_idle()

    assert first and writes() == first
    outcomes = [
        record
        for record in map(_json_or_none, captured_logs.getvalue().splitlines())
        if record and record.get("event_id") == event_id and "outcome" in record
    ]
    assert [(r["outcome"], r.get("deliberate_skip", False)) for r in outcomes] == [
        ("created", False),
        ("duplicate", True),
    ]
    assert outcomes[1]["message"] == "product.updated duplicate"


def _json_or_none(line: str) -> dict[str, Any] | None:
    try:
        record = json.loads(line)
    except ValueError:
        return None
    return record if isinstance(record, dict) else None


@pytest.fixture
def bigcommerce() -> Iterator[BigCommerceEmulator]:
    with BigCommerceEmulator(f"e2e{uuid.uuid4().hex[:8]}", "bc-e2e-product-token") as emulator:
        put_catalog(emulator, bigcommerce_catalog())
        yield emulator


def test_bigcommerce_product_updated_is_fetched_by_id(
    runner: LocalRunner, bigcommerce: BigCommerceEmulator, mailchimp_reader: MailchimpReader
) -> None:
    store = register_store(
        "bigcommerce",
        identity=bigcommerce.store_hash,
        platform_api_url=bigcommerce.base_url,
        platform_api_credentials={"access_token": "bc-e2e-product-token"},
    )
    body = {**sample("bigcommerce_product_updated_webhook.json"), "producer": f"stores/{bigcommerce.store_hash}"}
    body["hash"] = uuid.uuid4().hex
    body["created_at"] = int(time.time())

    answer = post(runner, "bigcommerce", body, {"X-Commerce-Sync-Token": store.webhook_secret})
    runner.wait_until_idle()

    assert answer.status_code == 202, answer.text
    fetched = [r for r in bigcommerce.requests if r["path"].endswith("/v3/catalog/products")]
    assert fetched and fetched[-1]["query"]["id:in"] == "111"
    tote = mailchimp_reader.resource(f"/ecommerce/stores/{store.store_id}/products/111")
    assert {v["title"] for v in tote["variants"]} == {"Natural", "Black"}


@pytest.fixture
def woocommerce() -> Iterator[WooCommerceEmulator]:
    with WooCommerceEmulator("ck_e2e", "cs_e2e") as emulator:
        for product, variations in woocommerce_catalog():
            emulator.put_product(product, variations=variations)
        yield emulator


def test_woocommerce_variable_product_reads_its_variations(
    runner: LocalRunner, woocommerce: WooCommerceEmulator, mailchimp_reader: MailchimpReader
) -> None:
    store = register_store(
        "woocommerce",
        identity=f"https://shop-{uuid.uuid4().hex[:8]}.example.com",
        platform_api_url=woocommerce.base_url,
        platform_api_credentials={"consumer_key": "ck_e2e", "consumer_secret": "cs_e2e"},
    )
    body = sample("woocommerce_product_updated.json")
    raw = json.dumps(body).encode()
    headers = {
        "X-WC-Webhook-Source": store.identity + "/",
        "X-WC-Webhook-Topic": "product.updated",
        "X-WC-Webhook-Resource": "product",
        "X-WC-Webhook-Event": "updated",
        "X-WC-Webhook-Signature": sign_base64_hmac(store.webhook_secret, raw),
        "X-WC-Webhook-Delivery-ID": uuid.uuid4().hex,
    }

    answer = post(runner, "woocommerce", body, headers)
    runner.wait_until_idle()

    assert answer.status_code == 202, answer.text
    assert any(r["path"].endswith("/products/301/variations") for r in woocommerce.requests)
    hoodie = mailchimp_reader.resource(f"/ecommerce/stores/{store.store_id}/products/301")
    assert sorted(v["title"] for v in hoodie["variants"]) == ["Large", "Medium", "Small"]

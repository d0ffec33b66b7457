"""The Shopify emulator's customer consent over real HTTP (two-way consent's stand-in, docs/consent.md): a PUT of
`email_marketing_consent` is validated as Shopify validates it, stored, and delivered back as `customers/update`
to the subscriptions of that topic, signed as Shopify signs."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
import requests

from emulators.shopify import ShopifyEmulator
from emulators.shopify.history import history_customer

TOKEN = "shpat_consent_emulator"
PAST = "2026-11-01T10:00:00+00:00"
TOMORROW = (datetime.now(UTC) + timedelta(days=1)).isoformat()
SECRET = "the-app-signing-secret"


@pytest.fixture
def shop() -> Iterator[ShopifyEmulator]:
    with ShopifyEmulator("consent-emulator.myshopify.com", TOKEN) as emulator:
        emulator.customer_webhooks.signing_secret = SECRET
        emulator.put_customer(history_customer(77, "pat@example.com", "2026-11-01T10:00:00+00:00", subscribed=True))
        yield emulator


def put(shop: ShopifyEmulator, customer_id: int, consent: Any) -> requests.Response:
    return requests.put(
        f"{shop.base_url}/admin/api/2026-10/customers/{customer_id}.json",
        json={"customer": {"id": customer_id, "email_marketing_consent": consent}},
        headers={"X-Shopify-Access-Token": TOKEN},
        timeout=10,
    )


def now() -> str:
    return datetime.now(UTC).isoformat()


@pytest.mark.parametrize(
    ("consent", "complaint"),
    [
        ({"state": "maybe", "consent_updated_at": "2026-11-01T10:00:00+00:00"}, "state is invalid"),
        (
            {"state": "unsubscribed", "opt_in_level": "double", "consent_updated_at": "2026-11-01T10:00:00+00:00"},
            "opt_in_level",
        ),
        ({"state": "unsubscribed", "consent_updated_at": "yesterday"}, "consent_updated_at is invalid"),
        (
            {"state": "unsubscribed", "consent_updated_at": (datetime.now(UTC) + timedelta(days=1)).isoformat()},
            "future",
        ),
        ("unsubscribed", "must be an object"),
    ],
)
def test_an_invalid_consent_is_a_422_with_shopifys_errors_and_nothing_changes(
    shop: ShopifyEmulator, consent: Any, complaint: str
) -> None:
    answer = put(shop, 77, consent)
    assert answer.status_code == 422
    assert any(complaint in error for error in answer.json()["errors"]["email_marketing_consent"])
    held = shop.history["customers"].get(77)
    assert held is not None and held["email_marketing_consent"]["state"] == "subscribed"


def test_an_unknown_customer_is_404(shop: ShopifyEmulator) -> None:
    assert put(shop, 78, {"state": "unsubscribed", "consent_updated_at": now()}).status_code == 404


def test_a_changed_consent_is_stored_and_delivered_signed_to_customers_update(shop: ShopifyEmulator) -> None:
    received: list[tuple[dict[str, str], bytes]] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            received.append((dict(self.headers), self.rfile.read(length)))
            self.send_response(200)
            self.end_headers()

        def log_message(self, *_: object) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        shop.add_webhook("customers/update", f"http://127.0.0.1:{server.server_port}/webhooks/shopify")
        shop.add_webhook("orders/create", f"http://127.0.0.1:{server.server_port}/webhooks/shopify")
        answer = put(shop, 77, {"state": "unsubscribed", "opt_in_level": "single_opt_in", "consent_updated_at": now()})
        assert answer.status_code == 200
        assert answer.json()["customer"]["email_marketing_consent"]["state"] == "unsubscribed"
        (delivery,) = shop.customer_webhooks.wait_for(1)
        assert delivery["status"] == 200 and delivery["topic"] == "customers/update"
        headers, body = received[0]
        assert headers["X-Shopify-Topic"] == "customers/update"
        assert headers["X-Shopify-Shop-Domain"] == "consent-emulator.myshopify.com"
        expected = base64.b64encode(hmac.new(SECRET.encode(), body, hashlib.sha256).digest()).decode()
        assert headers["X-Shopify-Hmac-Sha256"] == expected
        assert json.loads(body)["email_marketing_consent"]["state"] == "unsubscribed"
        held = shop.history["customers"].get(77)
        assert held is not None and held["accepts_marketing"] is False
        # The same consent again changes nothing there: no delivery.
        assert put(shop, 77, {"state": "unsubscribed", "consent_updated_at": now()}).status_code == 200
        assert len(shop.customer_webhooks.deliveries) == 1
    finally:
        server.shutdown()

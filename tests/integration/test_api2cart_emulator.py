"""The API2Cart emulator over real HTTP: authentication, the envelope, strict parameters, paging by start/count and
by cursor, modified-since filters, webhook subscription and signed delivery to a callback."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
import requests

from emulators.api2cart import Api2CartEmulator

API_KEY = "a2c-emulator-test-key"


@pytest.fixture
def emulator() -> Iterator[Api2CartEmulator]:
    with Api2CartEmulator(API_KEY) as running:
        yield running


def call(emu: Api2CartEmulator, method: str, store: str | None, verb: str = "GET", **params: Any) -> Any:
    headers = {"x-api-key": API_KEY}
    if store:
        headers["x-store-key"] = store
    url = f"{emu.base_url}/{method}.json"
    if verb in ("POST", "PUT"):
        answer = requests.request(verb, url, json=params, headers=headers, timeout=10)
    else:
        answer = requests.request(verb, url, params=params, headers=headers, timeout=10)
    assert answer.status_code == 200, answer.text
    return answer.json()


def order(number: int, minute: int) -> dict[str, Any]:
    return {
        "id": str(number),
        "customer": {"email": f"s{number}@example.com"},
        "status": {"id": "pending", "name": "Pending"},
        "create_at": {"value": f"2025-03-14T14:{minute:02d}:00+0000"},
        "modified_at": {"value": f"2025-03-14T14:{minute:02d}:00+0000"},
    }


def test_credentials_are_checked_and_errors_travel_in_the_envelope(emulator: Api2CartEmulator) -> None:
    key = emulator.add_store("Magento1212", url="https://magento.example")
    wrong = requests.get(
        f"{emulator.base_url}/cart.info.json", headers={"x-api-key": "nope", "x-store-key": key}, timeout=10
    )
    assert wrong.status_code == 200 and wrong.json()["return_code"] == 2
    assert call(emulator, "cart.info", "not-a-store")["return_code"] == 3
    info = call(emulator, "cart.info", key)
    assert info["return_code"] == 0 and info["result"]["url"] == "https://magento.example"
    carts = call(emulator, "account.cart.list", None, store_key=key)["result"]["carts"]
    assert [(cart["store_key"], cart["cart_id"]) for cart in carts] == [(key, "Magento1212")]
    unknown = requests.get(f"{emulator.base_url}/order.nothing.json", headers={"x-api-key": API_KEY}, timeout=10)
    assert unknown.status_code == 404


def test_lists_are_strict_and_paged_by_start_count_and_cursor(emulator: Api2CartEmulator) -> None:
    key = emulator.add_store("Prestashop")
    for number in range(1, 8):
        emulator.put_order(key, order(number, number), notify=False)

    assert "Unknown parameter" in call(emulator, "order.list", key, limit=5)["return_message"]
    assert call(emulator, "order.list", key, count=251)["return_code"] == 1
    assert call(emulator, "order.list", key, modified_from="2025-03-14T14:00:00")["return_code"] == 1

    first = call(emulator, "order.list", key, count=3, modified_from="2025-03-14 14:02:00")
    assert first["result"]["orders_count"] == 6
    assert [o["id"] for o in first["result"]["order"]] == ["2", "3", "4"]
    cursor = first["pagination"]["next"]
    clash = call(emulator, "order.list", key, page_cursor=cursor, modified_from="2025-03-14 14:02:00")
    assert clash["return_code"] == 1 and "page_cursor" in clash["return_message"]
    second = call(emulator, "order.list", key, page_cursor=cursor)
    assert [o["id"] for o in second["result"]["order"]] == ["5", "6", "7"]
    assert second["pagination"]["next"] is None
    by_start = call(emulator, "order.list", key, start=6, count=3)
    assert [o["id"] for o in by_start["result"]["order"]] == ["7"]


class Catcher(BaseHTTPRequestHandler):
    received: list[tuple[dict[str, str], bytes]] = []

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        Catcher.received.append((dict(self.headers), body))
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        return


def test_webhooks_are_created_for_supported_events_and_delivered_signed(emulator: Api2CartEmulator) -> None:
    key = emulator.add_store("Prestashop")
    server = ThreadingHTTPServer(("127.0.0.1", 0), Catcher)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        callback = f"http://127.0.0.1:{server.server_port}/hook?token=t"
        events = call(emulator, "webhook.events", key)["result"]["events"]
        assert {"entity": "basket", "action": "add"} not in [
            {"entity": e["entity"], "action": e["action"]} for e in events
        ]
        refused = call(emulator, "webhook.create", key, "POST", entity="basket", action="add", callback=callback)
        assert refused["return_code"] == 5
        made = call(
            emulator, "webhook.create", key, "POST", entity="order", action="add", callback=callback, fields="id"
        )
        assert made["return_code"] == 0
        listed = call(emulator, "webhook.list", key, entity="order")["result"]["webhook"]
        assert [(hook["id"], hook["callback"], hook["active"]) for hook in listed] == [
            (made["result"]["id"], callback, True)
        ]

        Catcher.received.clear()
        deliveries = emulator.put_order(key, order(9, 9))
        assert [response.status_code for _, response in deliveries] == [200]
        headers, body = Catcher.received[0]
        assert json.loads(body) == {"id": "9"}, "the webhook's fields only"
        assert (headers["X-Webhook-Entity"], headers["X-Webhook-Action"], headers["X-Webhook-Store-Id"]) == (
            "order",
            "add",
            "1",
        )
        signed = {
            name: headers[name]
            for name in ("X-Webhook-Action", "X-Webhook-Entity", "X-Webhook-Store-Id", "X-Webhook-Timestamp")
        }
        message = json.dumps({"request_body": {"id": "9"}, "request_headers": signed}, separators=(",", ":"))
        expected = hmac.new(API_KEY.encode(), message.encode(), hashlib.sha256).digest()
        assert base64.b64decode(headers["X-Webhook-Signature"]) == expected

        assert emulator.put_order(key, order(9, 10)) == [], "no webhook for order update"
        hook_id = made["result"]["id"]
        assert call(emulator, "webhook.delete", key, "DELETE", id=hook_id)["result"] == {"deleted": 1}
        assert call(emulator, "webhook.list", key)["result"]["webhook"] == []
    finally:
        server.shutdown()
        server.server_close()

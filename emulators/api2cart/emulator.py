"""`Api2CartEmulator`: the Python handle on a running API2Cart emulator (one account, any number of stores).

emu = Api2CartEmulator(api_key="…", port=0).start()
emu.base_url                                  # "http://127.0.0.1:PORT/v1.1" (a store's platform_api_url)
key = emu.add_store("Magento1212", url="https://shop.example", currency="EUR")   # its store key
emu.put_product(key, {...}, children=[...]); emu.put_customer(key, {...}); emu.put_basket(key, {...})
emu.put_order(key, {...}); emu.put_shipment(key, order_id, {...})   # shaped like the `.info` results
emu.put_abandoned(key, {...})                 # an abandoned checkout, as order.abandoned.list lists it
emu.delete_entity(key, "customer", "7")
# Each put/delete delivers to the store's active webhooks of that entity and action (add when new, update
# otherwise, delete) and returns the deliveries: [(webhook, requests.Response)]. notify=False changes quietly.
emu.webhooks(key); emu.deliver(key, entity, action, body)   # a delivery of any body, signed
emu.requests                                  # [{method, path, query, status}] (never a key)
emu.stop()                                    # also usable as a context manager

Deliveries (API2Cart's "Working with webhooks"): a POST of the entity as its `.info` method answers it, cut to
the webhook's `fields` (comma-separated top-level names; `force_all` sends every field), to the webhook's
callback, with `X-Webhook-Entity`, `X-Webhook-Action`, `X-Webhook-Store-Id` ("1" for a store without
multistore), `X-Webhook-Timestamp` (Unix seconds) and `X-Webhook-Signature`. The signature, as this project
reads API2Cart's description (docs/api2cart.md, "Authenticating deliveries"): base64 of the HMAC-SHA256, keyed
with the account's API key, of the JSON text `{"request_body": <body>, "request_headers": <the other
X-Webhook-* headers, sorted by name>}` as PHP's json_encode writes it (no spaces, `/` escaped, non-ASCII as
\\u escapes).
"""

from __future__ import annotations

import argparse
import base64
import copy
import hashlib
import hmac
import json
import secrets
import signal
import threading
import time
from datetime import UTC, datetime
from typing import Any

import requests

from emulators.loopback import LoopbackServer

from .app import Api2CartApp, Api2CartState, JsonDict, StoreData, a2c_time

SIGNED_HEADERS = ("X-Webhook-Action", "X-Webhook-Entity", "X-Webhook-Store-Id", "X-Webhook-Timestamp")
Delivery = tuple[JsonDict, requests.Response]


def php_json(value: Any) -> str:
    """JSON text as PHP's json_encode writes it by default."""
    return json.dumps(value, separators=(",", ":"), ensure_ascii=True).replace("/", "\\/")


def sign_delivery(api_key: str, body: bytes, headers: dict[str, str]) -> str:
    signed = {name: headers[name] for name in sorted(headers) if name in SIGNED_HEADERS}
    message = php_json({"request_body": json.loads(body), "request_headers": signed}).encode()
    return base64.b64encode(hmac.new(api_key.encode(), message, hashlib.sha256).digest()).decode()


class Api2CartEmulator(LoopbackServer):
    def __init__(self, api_key: str, port: int = 0, host: str = "127.0.0.1") -> None:
        self.api_key = api_key
        self.host = host
        self.port = port
        self.state = Api2CartState()
        self.app = Api2CartApp([api_key], self.state)

    def wsgi_app(self) -> Any:
        return self.app

    @property
    def base_url(self) -> str:
        """API2Cart's is https://api.api2cart.com/v1.1; methods follow, e.g. `/order.list.json`."""
        return f"{self.root_url}/v1.1"

    # ----- stores and data ----------------------------------------------------------------------------------

    def add_store(
        self,
        cart_id: str,
        url: str = "https://shop.example",
        name: str = "Emulated store",
        currency: str = "USD",
        store_key: str | None = None,
    ) -> str:
        """Connects a store of the given cart type (API2Cart's cart ids: Magento1212, Prestashop, …); its key."""
        key = store_key or secrets.token_hex(16)
        with self.state.lock:
            self.state.stores[key] = StoreData(key, cart_id, url, name, currency)
        return key

    def _store(self, store_key: str) -> StoreData:
        return self.state.stores[store_key]

    def _put(
        self, store_key: str, entity: str, collection: str, item: JsonDict, modified: str, notify: bool
    ) -> list[Delivery]:
        stored = copy.deepcopy(item)
        stored["id"] = str(stored["id"])
        stored.setdefault(modified, a2c_time(datetime.now(UTC)))
        with self.state.lock:
            items: dict[str, JsonDict] = getattr(self._store(store_key), collection)
            action = "update" if stored["id"] in items else "add"
            items[stored["id"]] = stored
        return self._notify(store_key, entity, action, stored) if notify else []

    def put_product(
        self, store_key: str, product: JsonDict, children: list[JsonDict] | None = None, notify: bool = True
    ) -> list[Delivery]:
        """`children`: the product's variants as product.child_item.list answers them (replaced when given)."""
        if children is not None:
            kept = []
            for child in copy.deepcopy(children):
                child["id"], child["parent_id"] = str(child["id"]), str(product["id"])
                child.setdefault("modified_time", a2c_time(datetime.now(UTC)))
                kept.append(child)
            with self.state.lock:
                self._store(store_key).children[str(product["id"])] = kept
        return self._put(store_key, "product", "products", product, "modified_at", notify)

    def put_customer(self, store_key: str, customer: JsonDict, notify: bool = True) -> list[Delivery]:
        return self._put(store_key, "customer", "customers", customer, "modified_time", notify)

    def put_order(self, store_key: str, order: JsonDict, notify: bool = True) -> list[Delivery]:
        order = dict(order)
        order.setdefault("order_id", order["id"])
        return self._put(store_key, "order", "orders", order, "modified_at", notify)

    def put_basket(self, store_key: str, basket: JsonDict, notify: bool = True) -> list[Delivery]:
        return self._put(store_key, "basket", "baskets", basket, "modified_at", notify)

    def put_abandoned(self, store_key: str, order: JsonDict) -> None:
        """An abandoned checkout as order.abandoned.list answers it (no webhook: API2Cart has none for it)."""
        stored = copy.deepcopy(order)
        stored["id"] = str(stored["id"])
        stored.setdefault("created_at", a2c_time(datetime.now(UTC)))
        stored.setdefault("modified_at", stored["created_at"])
        with self.state.lock:
            self._store(store_key).abandoned[stored["id"]] = stored

    def put_shipment(self, store_key: str, order_id: str, shipment: JsonDict, notify: bool = True) -> list[Delivery]:
        stored = copy.deepcopy(shipment)
        stored["id"], stored["order_id"] = str(stored["id"]), str(order_id)
        stored.setdefault("created_at", a2c_time(datetime.now(UTC)))
        with self.state.lock:
            shipments = self._store(store_key).shipments.setdefault(str(order_id), [])
            known = next((i for i, s in enumerate(shipments) if s["id"] == stored["id"]), None)
            action = "add" if known is None else "update"
            if known is None:
                shipments.append(stored)
            else:
                shipments[known] = stored
        return self._notify(store_key, "order.shipment", action, stored) if notify else []

    def delete_entity(self, store_key: str, entity: str, entity_id: str, notify: bool = True) -> list[Delivery]:
        collection = {"product": "products", "customer": "customers", "order": "orders", "basket": "baskets"}[entity]
        with self.state.lock:
            getattr(self._store(store_key), collection).pop(str(entity_id), None)
        return self._notify(store_key, entity, "delete", {"id": str(entity_id)}) if notify else []

    def entity(self, store_key: str, collection: str, entity_id: str) -> JsonDict | None:
        with self.state.lock:
            found = getattr(self._store(store_key), collection).get(str(entity_id))
            return copy.deepcopy(found) if found is not None else None

    # ----- webhooks -----------------------------------------------------------------------------------------

    def webhooks(self, store_key: str) -> list[JsonDict]:
        with self.state.lock:
            return copy.deepcopy(list(self._store(store_key).webhooks.values()))

    def set_webhook_active(self, store_key: str, webhook_id: int, active: bool) -> None:
        """As API2Cart after five failed deliveries (active false), or the merchant."""
        with self.state.lock:
            self._store(store_key).webhooks[webhook_id]["active"] = active

    def _notify(self, store_key: str, entity: str, action: str, item: JsonDict) -> list[Delivery]:
        with self.state.lock:
            hooks = [
                copy.deepcopy(hook)
                for hook in self._store(store_key).webhooks.values()
                if hook["active"] and hook["entity"] == entity and hook["action"] == action
            ]
        return [(hook, self._send(hook, _cut(item, hook["fields"]))) for hook in hooks]

    def deliver(self, store_key: str, entity: str, action: str, body: JsonDict) -> list[Delivery]:
        """Sends `body` as it is to each active webhook of the entity and action (a thin or odd delivery)."""
        with self.state.lock:
            hooks = [
                copy.deepcopy(hook)
                for hook in self._store(store_key).webhooks.values()
                if hook["active"] and hook["entity"] == entity and hook["action"] == action
            ]
        return [(hook, self._send(hook, body)) for hook in hooks]

    def signed_headers(self, entity: str, action: str, body: bytes, sent_at: int | None = None) -> dict[str, str]:
        headers = {
            "Content-Type": "application/json",
            "X-Webhook-Entity": entity,
            "X-Webhook-Action": action,
            "X-Webhook-Store-Id": "1",
            "X-Webhook-Timestamp": str(sent_at if sent_at is not None else int(time.time())),
        }
        headers["X-Webhook-Signature"] = sign_delivery(self.api_key, body, headers)
        return headers

    def _send(self, hook: JsonDict, body: JsonDict) -> requests.Response:
        raw = json.dumps(body).encode()
        headers = self.signed_headers(hook["entity"], hook["action"], raw)
        return requests.post(hook["callback"], data=raw, headers=headers, timeout=30)

    # ----- records ------------------------------------------------------------------------------------------

    @property
    def requests(self) -> list[JsonDict]:
        with self.state.lock:
            return copy.deepcopy(self.state.requests)

    def clear_requests(self) -> None:
        with self.state.lock:
            self.state.requests.clear()

    def __repr__(self) -> str:
        return f"Api2CartEmulator({self.base_url}, {'running' if self._server is not None else 'stopped'})"


def _cut(item: JsonDict, fields: str) -> JsonDict:
    names = [name.strip() for name in str(fields or "force_all").split(",") if name.strip()]
    if not names or "force_all" in names:
        return copy.deepcopy(item)
    return {name: copy.deepcopy(item[name]) for name in names if name in item}


def main(argv: list[str] | None = None) -> None:
    """Runs the emulator in the foreground until interrupted (`python -m emulators.api2cart`)."""
    parser = argparse.ArgumentParser(description="API2Cart API emulator (v1.1 subset).")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8501)
    parser.add_argument("--api-key", default="local-api2cart-key")
    parser.add_argument("--cart", action="append", default=[], help="connect a store of this cart id (repeatable)")
    args = parser.parse_args(argv)
    emulator = Api2CartEmulator(args.api_key, port=args.port, host=args.host).start()
    for cart in args.cart or ["Magento1212"]:
        print(f"{cart} store key: {emulator.add_store(cart)}", flush=True)
    print(f"API2Cart emulator on {emulator.base_url}", flush=True)
    stopped = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopped.set())
    try:
        stopped.wait()
    except KeyboardInterrupt:
        pass
    finally:
        emulator.stop()

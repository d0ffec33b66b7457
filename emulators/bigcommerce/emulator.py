"""`BigCommerceEmulator`: the Python handle on a running BigCommerce API emulator.

emu = BigCommerceEmulator("abc123", access_token="token", port=0, client_secret=None).start()
emu.base_url                      # "http://127.0.0.1:PORT/stores/abc123" (a store's platform_api_url)
emu.put_cart({...})               # dicts shaped like the `data` of BigCommerce's v3 GET answers
emu.delete_cart("cart-id")
emu.put_customer({...}); emu.put_subscriber({...}); emu.put_product({...})
emu.put_order({...}, products=[...], shipments=[...], coupons=[...], refunds=[...])  # the v2 order reads
emu.promotions.put_coupon({...}); emu.promotions.put_promotion({...}, codes=[...])   # promotions.py
emu.last_redirect_urls("cart-id") # the redirect URLs minted by the latest GET ...?include=redirect_urls
emu.set_faults(rate_429=0.2, rate_500=0.1, reset_ms=50, latency_ms=0, seed=7)
emu.deliver(hook_id, payload)     # as BigCommerce: the hook's headers, Standard Webhooks-signed with the client secret
emu.set_client_secret("…")        # the app's client secret changed in the developer portal (None: unsigned)
emu.requests                      # [{method, path, query, status, fault, at}]
emu.stop()                        # also usable as a context manager
"""

from __future__ import annotations

import argparse
import base64
import copy
import hashlib
import hmac
import json
import signal
import threading
import time
import uuid
from collections.abc import Iterable
from typing import Any

import requests

from emulators.loopback import LoopbackServer

from .app import BigCommerceApp, BigCommerceState, FaultSettings, JsonDict, now_iso


class BigCommerceEmulator(LoopbackServer):
    """A stateful subset of BigCommerce's REST Management API (v3) for one store, on 127.0.0.1."""

    def __init__(
        self,
        store_hash: str,
        access_token: str | Iterable[str],
        port: int = 0,
        host: str = "127.0.0.1",
        client_secret: str | None = None,
    ) -> None:
        tokens = [access_token] if isinstance(access_token, str) else list(access_token)
        self.store_hash = store_hash
        # The client secret of the app that owns the hooks: BigCommerce signs every delivery with it.
        self.client_secret = client_secret
        self.host = host
        self.port = port
        self.state = BigCommerceState()
        self.app = BigCommerceApp(store_hash, tokens, self.state)
        # v2 coupons and v3 coupon promotions with their codes (promotions.py)
        self.promotions = self.app.promotion_shelf

    def wsgi_app(self) -> Any:
        return self.app

    @property
    def base_url(self) -> str:
        """What the store's `platform_api_url` should be (BigCommerce's is
        `https://api.bigcommerce.com/stores/{store_hash}`); API paths follow, e.g. `/v3/carts/{id}`."""
        return f"{self.root_url}/stores/{self.store_hash}"

    # ----- data ---------------------------------------------------------------------------------------------

    def put_cart(self, cart: JsonDict) -> JsonDict:
        """Adds or replaces a cart (a copy is kept). `id` defaults to a new UUID and the times to now; a
        `redirect_urls` given here is returned as it is instead of freshly minted URLs."""
        stored = copy.deepcopy(cart)
        stored.setdefault("id", str(uuid.uuid4()))
        stored.setdefault("created_time", now_iso())
        stored.setdefault("updated_time", stored["created_time"])
        with self.state.lock:
            self.state.carts[str(stored["id"])] = stored
        return copy.deepcopy(stored)

    def delete_cart(self, cart_id: str) -> None:
        """As when the last item is removed or the cart is converted: later GETs answer 404."""
        with self.state.lock:
            self.state.carts.pop(cart_id, None)

    def put_customer(self, customer: JsonDict) -> JsonDict:
        """Adds or replaces a customer; `id` (an integer, as on BigCommerce) is required."""
        stored = copy.deepcopy(customer)
        customer_id = int(stored["id"])
        stored["id"] = customer_id
        stored.setdefault("date_created", now_iso())
        stored.setdefault("date_modified", stored["date_created"])
        with self.state.lock:
            self.state.customers[customer_id] = stored
        return copy.deepcopy(stored)

    def delete_customer(self, customer_id: int) -> None:
        with self.state.lock:
            self.state.customers.pop(int(customer_id), None)

    def put_subscriber(self, subscriber: JsonDict) -> JsonDict:
        """Adds or replaces a newsletter subscriber (`/v3/customers/subscribers`); `id` defaults to the next
        free one. `consents` lists the active subscriptions (`marketing_newsletter`, `abandoned_cart`)."""
        stored = copy.deepcopy(subscriber)
        with self.state.lock:
            stored["id"] = int(stored.get("id") or max(self.state.subscribers, default=0) + 1)
            stored.setdefault("source", "storefront")
            stored.setdefault("date_created", now_iso())
            stored.setdefault("date_modified", stored["date_created"])
            self.state.subscribers[stored["id"]] = stored
        return copy.deepcopy(stored)

    def put_product(self, product: JsonDict) -> JsonDict:
        """Adds or replaces a catalog product; `id` (integer) is required. `variants` and `images` are
        returned only when the request includes them, as on BigCommerce."""
        stored = copy.deepcopy(product)
        stored["id"] = int(stored["id"])
        with self.state.lock:
            self.state.products[stored["id"]] = stored
        return copy.deepcopy(stored)

    def cart(self, cart_id: str) -> JsonDict | None:
        with self.state.lock:
            cart = self.state.carts.get(cart_id)
            return copy.deepcopy(cart) if cart is not None else None

    def last_redirect_urls(self, cart_id: str) -> JsonDict | None:
        """The redirect URLs returned by the latest `GET /v3/carts/{id}?include=redirect_urls`."""
        with self.state.lock:
            urls = self.state.redirect_urls.get(cart_id)
            return dict(urls) if urls is not None else None

    # ----- orders (`/v2/orders/...`, `/v3/orders/{id}/payment_actions/refunds`; see orders.py) -------------

    def put_order(
        self,
        order: JsonDict,
        products: list[JsonDict] | None = None,
        shipments: list[JsonDict] | None = None,
        coupons: list[JsonDict] | None = None,
        refunds: list[JsonDict] | None = None,
    ) -> JsonDict:
        """Adds or replaces an order: the body of `GET /v2/orders/{id}` (events/bigcommerce_order.json).
        `id` defaults to the next free one, `date_created` to now (RFC 2822) and `date_modified` to it.
        Each list given replaces that sub-resource (a list not given is kept); the emulator derives
        nothing (status, totals) from them."""
        stored = self.app.order_book.put_order(order)
        lists = {"products": products, "shipments": shipments, "coupons": coupons, "refunds": refunds}
        for kind, items in lists.items():
            if items is not None:
                self.app.order_book.put_children(kind, stored["id"], items)
        return stored

    def put_order_products(self, order_id: int, products: list[JsonDict]) -> list[JsonDict]:
        """The items of `GET /v2/orders/{id}/products`; `id` defaults to 1, 2, …"""
        return self.app.order_book.put_children("products", order_id, products)

    def put_order_shipments(self, order_id: int, shipments: list[JsonDict]) -> list[JsonDict]:
        """The items of `GET /v2/orders/{id}/shipments`; `date_created` defaults to now (RFC 2822)."""
        return self.app.order_book.put_children("shipments", order_id, shipments)

    def put_order_coupons(self, order_id: int, coupons: list[JsonDict]) -> list[JsonDict]:
        """The items of `GET /v2/orders/{id}/coupons`."""
        return self.app.order_book.put_children("coupons", order_id, coupons)

    def put_order_refunds(self, order_id: int, refunds: list[JsonDict]) -> list[JsonDict]:
        """The `data` of `GET /v3/orders/{id}/payment_actions/refunds`."""
        return self.app.order_book.put_children("refunds", order_id, refunds)

    def delete_order(self, order_id: int) -> None:
        """As after `DELETE /v2/orders/{id}`: every read of the order answers 404 (archiving keeps it,
        with `is_deleted`)."""
        self.app.order_book.delete_order(order_id)

    def order(self, order_id: int) -> JsonDict | None:
        return self.app.order_book.get(order_id)

    # ----- webhooks (`/v3/hooks`) ---------------------------------------------------------------------------

    def put_hook(
        self, scope: str, destination: str, headers: dict[str, str] | None = None, is_active: bool = True
    ) -> JsonDict:
        """Registers a hook as `POST /v3/hooks` would; `headers` are sent with every delivery."""
        return self.app.hook_registry.create(
            {"scope": scope, "destination": destination, "headers": headers or {}, "is_active": is_active}
        )

    def hook(self, hook_id: int) -> JsonDict | None:
        try:
            return self.app.hook_registry.get(hook_id)
        except Exception:
            return None

    def hooks(self) -> list[JsonDict]:
        return list(self.app.hook_registry.list({"limit": 250})["data"])

    def set_client_secret(self, client_secret: str | None) -> None:
        """As when the app's client secret changes in the developer portal: later deliveries are signed
        with the new one (None: unsigned, as before BigCommerce signed webhooks)."""
        self.client_secret = client_secret

    def deliver(self, hook_id: int, payload: JsonDict, timeout: float = 30.0) -> requests.Response:
        """POSTs `payload` to the hook's destination with the hook's headers as they are now, as BigCommerce
        sends a delivery, signed when the emulator has a client secret."""
        hook = self.app.hook_registry.get(hook_id)
        body = json.dumps(payload).encode()
        headers = {"Content-Type": "application/json", **hook["headers"]}
        if self.client_secret is not None:
            headers.update(standard_webhooks_headers(self.client_secret, body))
        return requests.post(hook["destination"], data=body, headers=headers, timeout=timeout)

    # ----- records and configuration ------------------------------------------------------------------------

    @property
    def requests(self) -> list[JsonDict]:
        """Every request received: method, path, query, status, fault (None, 429 or 500), at."""
        with self.state.lock:
            return copy.deepcopy(self.state.requests)

    def clear_requests(self) -> None:
        with self.state.lock:
            self.state.requests.clear()

    def set_faults(
        self, rate_429: float = 0.0, rate_500: float = 0.0, latency_ms: int = 0, reset_ms: int = 50, seed: int = 1
    ) -> FaultSettings:
        """Replaces the fault settings (all zero = no faults) and re-seeds the random choice. A throttled
        request answers 429 with `X-Rate-Limit-Time-Reset-Ms: reset_ms`."""
        settings = FaultSettings(
            rate_429=rate_429, rate_500=rate_500, latency_ms=latency_ms, reset_ms=reset_ms, seed=seed
        )
        self.app.faults.configure(settings)
        return settings

    @property
    def faults(self) -> FaultSettings:
        return self.app.faults.settings

    def add_access_token(self, token: str) -> None:
        self.app.access_tokens.add(token)

    def revoke_access_token(self, token: str) -> None:
        self.app.access_tokens.discard(token)

    def reset(self) -> None:
        """Clears all data, the request log and the faults; tokens stay."""
        self.state.clear()
        self.app.order_book.clear()
        self.app.promotion_shelf.clear()
        self.app.faults.configure(FaultSettings())

    def __repr__(self) -> str:
        running = "running" if self._server is not None else "stopped"
        return f"BigCommerceEmulator({self.base_url}, {running})"


def standard_webhooks_headers(client_secret: str, body: bytes) -> dict[str, str]:
    """BigCommerce's signed-webhook headers (standardwebhooks.com): HMAC-SHA256 of `{id}.{timestamp}.{body}`
    keyed with the app's client secret as it is (BigCommerce's samples base64 it for the `standardwebhooks`
    library, which decodes it again), sent as `v1,<base64>`."""
    message_id, sent_at = f"msg_{uuid.uuid4().hex}", int(time.time())
    digest = hmac.new(client_secret.encode(), f"{message_id}.{sent_at}.".encode() + body, hashlib.sha256).digest()
    return {
        "webhook-id": message_id,
        "webhook-timestamp": str(sent_at),
        "webhook-signature": "v1," + base64.b64encode(digest).decode(),
    }


def main(argv: list[str] | None = None) -> None:
    """Runs the emulator in the foreground until interrupted (`python -m emulators.bigcommerce`)."""
    parser = argparse.ArgumentParser(description="BigCommerce REST Management API emulator (carts, customers).")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8401)
    parser.add_argument("--store-hash", default="abc123")
    parser.add_argument("--access-token", action="append", dest="tokens", help="accepted X-Auth-Token (repeatable)")
    args = parser.parse_args(argv)
    emulator = BigCommerceEmulator(args.store_hash, args.tokens or ["local-token"], port=args.port, host=args.host)
    emulator.start()
    print(f"BigCommerce emulator on {emulator.base_url}", flush=True)
    stopped = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopped.set())
    try:
        stopped.wait()
    except KeyboardInterrupt:
        pass
    finally:
        emulator.stop()

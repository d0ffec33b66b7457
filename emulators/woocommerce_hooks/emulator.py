"""`WooCommerceHooksEmulator`: the Python handle on a running WooCommerce webhooks emulator.

emu = WooCommerceHooksEmulator(consumer_key="ck_test", consumer_secret="cs_test", port=0).start()
emu.site_url                       # "http://127.0.0.1:PORT" (the store identity, X-WC-Webhook-Source)
emu.api_url                        # "http://127.0.0.1:PORT/wp-json/wc/v3" (a store's platform_api_url)
hook = emu.add_webhook("customer.updated", "http://127.0.0.1:3000/webhooks/woocommerce", secret="s3cret")
emu.secret_of(hook["id"])          # what WooCommerce would sign the hook's deliveries with
emu.set_status(hook["id"], "disabled")  # as WooCommerce does after failed deliveries (or "paused")
emu.deliver(hook["id"], body)      # POSTs a signed delivery to the hook's delivery_url, as WooCommerce does
emu.fail_updates(after=1, count=1) # the next update succeeds, the one after answers 500
emu.stop()
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
import uuid
from typing import Any

import requests

from emulators.loopback import LoopbackServer

from .app import (
    API_PREFIX,
    TOPIC_HOOKS,
    HooksState,
    JsonDict,
    WooCommerceHooksApp,
    now_local,
    public_view,
)


class WooCommerceHooksEmulator(LoopbackServer):
    """WooCommerce's `wc/v3/webhooks` REST resource for one site, on 127.0.0.1."""

    def __init__(
        self,
        consumer_key: str = "ck_local",
        consumer_secret: str = "cs_local",
        port: int = 0,
        host: str = "127.0.0.1",
        site_url: str | None = None,
    ) -> None:
        self.host = host
        self.port = port
        self._site_url = site_url
        self.state = HooksState()
        self.app = WooCommerceHooksApp(consumer_key, consumer_secret, self.state)

    def wsgi_app(self) -> Any:
        return self.app

    @property
    def site_url(self) -> str:
        """The site's home URL: what WooCommerce sends in X-WC-Webhook-Source (with a trailing slash)."""
        return (self._site_url or self.root_url).rstrip("/")

    @property
    def api_url(self) -> str:
        return f"{self.root_url}{API_PREFIX}"

    # ----- data ---------------------------------------------------------------------------------------

    def add_webhook(self, topic: str, delivery_url: str, secret: str, name: str | None = None) -> JsonDict:
        """Creates an active webhook (as the admin screen or POST /webhooks would); returns its REST view."""
        with self.state.lock:
            hook_id = self.state.next_id
            self.state.next_id += 1
            created = now_local()
            resource, _, event = topic.partition(".")
            webhook = {
                "id": hook_id,
                "name": name or f"commerce-sync {topic}",
                "status": "active",
                "topic": topic,
                "resource": resource,
                "event": event,
                "hooks": [TOPIC_HOOKS.get(event, "{0}").format(resource)],
                "delivery_url": delivery_url,
                "secret": secret,
                "date_created": created,
                "date_created_gmt": created,
                "date_modified": created,
                "date_modified_gmt": created,
            }
            self.state.webhooks[hook_id] = webhook
            return public_view(webhook)

    def webhook(self, hook_id: int) -> JsonDict | None:
        with self.state.lock:
            webhook = self.state.webhooks.get(hook_id)
            return copy.deepcopy(webhook) if webhook is not None else None

    def set_status(self, hook_id: int, status: str) -> None:
        """As WooCommerce does on its own (`disabled` after more than 5 consecutive failed deliveries) or a
        merchant in the admin (`paused`): no API call."""
        if status not in ("active", "paused", "disabled"):
            raise ValueError(f"{status!r} is not a WooCommerce webhook status")
        with self.state.lock:
            self.state.webhooks[hook_id]["status"] = status

    def secret_of(self, hook_id: int) -> str:
        with self.state.lock:
            return str(self.state.webhooks[hook_id]["secret"])

    def fail_updates(self, after: int = 0, count: int = 1) -> None:
        """The next `after` updates succeed, then `count` updates answer 500 (0 and 0 clears it)."""
        with self.state.lock:
            self.state.updates_to_pass = after
            self.state.updates_to_fail = count

    @property
    def requests(self) -> list[JsonDict]:
        with self.state.lock:
            return copy.deepcopy(self.state.requests)

    def reset(self) -> None:
        self.state.clear()

    # ----- deliveries -----------------------------------------------------------------------------------

    def delivery_headers(self, hook_id: int, body: bytes, delivery_id: str | None = None) -> dict[str, str]:
        webhook = self.webhook(hook_id)
        if webhook is None:
            raise KeyError(hook_id)
        digest = hmac.new(str(webhook["secret"]).encode(), body, hashlib.sha256).digest()
        return {
            "Content-Type": "application/json",
            "User-Agent": "WooCommerce/9.8.0 Hookshot (WordPress/6.8)",
            "X-WC-Webhook-Source": self.site_url + "/",
            "X-WC-Webhook-Topic": str(webhook["topic"]),
            "X-WC-Webhook-Resource": str(webhook["resource"]),
            "X-WC-Webhook-Event": str(webhook["event"]),
            "X-WC-Webhook-Signature": base64.b64encode(digest).decode(),
            "X-WC-Webhook-ID": str(hook_id),
            "X-WC-Webhook-Delivery-ID": delivery_id or uuid.uuid4().hex,
        }

    def deliver(self, hook_id: int, payload: bytes | dict[str, Any], timeout: float = 30.0) -> requests.Response:
        """Sends one delivery of `payload` to the hook's delivery_url, signed with the hook's secret now. As
        WC_Webhook::build_payload does, a `*.deleted` hook sends only the resource's id."""
        webhook = self.webhook(hook_id)
        if webhook is None:
            raise KeyError(hook_id)
        if isinstance(payload, dict) and webhook["event"] == "deleted":
            payload = {"id": payload["id"]}
        body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
        headers = self.delivery_headers(hook_id, body)
        return requests.post(str(webhook["delivery_url"]), data=body, headers=headers, timeout=timeout)

    def __repr__(self) -> str:
        running = "running" if self._server is not None else "stopped"
        return f"WooCommerceHooksEmulator({self.api_url}, {running})"


def main(argv: list[str] | None = None) -> None:
    """Runs the emulator in the foreground (`python -m emulators.woocommerce_hooks`)."""
    parser = argparse.ArgumentParser(description="WooCommerce REST webhooks emulator (wc/v3/webhooks).")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8402)
    parser.add_argument("--consumer-key", default="ck_local")
    parser.add_argument("--consumer-secret", default="cs_local")
    args = parser.parse_args(argv)
    emulator = WooCommerceHooksEmulator(args.consumer_key, args.consumer_secret, port=args.port, host=args.host)
    emulator.start()
    print(f"WooCommerce webhooks emulator on {emulator.api_url}", flush=True)
    stopped = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopped.set())
    try:
        stopped.wait()
    except KeyboardInterrupt:
        pass
    finally:
        emulator.stop()

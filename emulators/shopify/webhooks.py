"""Webhook subscriptions as Shopify's Admin REST API keeps them (the `Webhook` resource, `webhooks.json`), for the
webhook health check's and `commerce-sync webhooks`' tests and the README's walk-through.

What the real API does and this keeps:
- A subscription belongs to the app whose access token made it, and each app sees only its own (`owner`: the
  token). One made in the shop's admin belongs to no app and is never listed ("Considerations" of the resource).
- Create (`POST webhooks.json`, `{"webhook": {"topic", "address", "format"}}`) answers 201 with the subscription;
  a refusal is 422 `{"errors": {field: [messages]}}`: a blank or unknown topic, or one the app's access scopes do
  not allow (`Invalid topic specified: … Does it exist? Is there a missing access scope? Topics allowed: …`, with
  `can't be blank` when blank), a blank address, the same topic and address twice (`address: for this topic has
  already been taken`). A body without `webhook` is 400.
- The subscription's JSON: id, address, topic, created_at, updated_at, format, fields, metafield_namespaces,
  api_version (the version of the URL it was made through), private_metafield_namespaces, metafield_identifiers.

Where it is looser: an address is accepted when it is https, an EventBridge or Pub/Sub address, or plain http on
the loopback (the local runner's API; Shopify delivers to https only), else 422 `address: is invalid` (the
emulator's wording).
"""

from __future__ import annotations

import copy
import itertools
import threading
from typing import Any
from urllib.parse import urlsplit

from .platform import now_iso

JsonDict = dict[str, Any]

# Shopify's own list is longer (the resource's "Topics allowed"); these are the ones of the shop's data an app such
# as commerce-sync may subscribe to, the ones it uses among them.
TOPICS = (
    "app/uninstalled",
    "carts/create",
    "carts/update",
    "checkouts/create",
    "checkouts/delete",
    "checkouts/update",
    "collections/create",
    "collections/delete",
    "collections/update",
    "customers/create",
    "customers/delete",
    "customers/disable",
    "customers/enable",
    "customers/update",
    "discounts/create",
    "discounts/delete",
    "discounts/redeemcode_added",
    "discounts/redeemcode_removed",
    "discounts/update",
    "draft_orders/create",
    "draft_orders/delete",
    "draft_orders/update",
    "fulfillments/create",
    "fulfillments/update",
    "inventory_levels/update",
    "order_transactions/create",
    "orders/cancelled",
    "orders/create",
    "orders/delete",
    "orders/edited",
    "orders/fulfilled",
    "orders/paid",
    "orders/partially_fulfilled",
    "orders/updated",
    "products/create",
    "products/delete",
    "products/update",
    "refunds/create",
    "shop/update",
)
FORMATS = ("json", "xml")
LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})
FIRST_ID = 1_000_001


def invalid_topic(topic: str, allowed: list[str]) -> str:
    return (
        f"Invalid topic specified: {topic}. Does it exist? Is there a missing access scope? "
        f"Topics allowed: {', '.join(allowed)}"
    )


def address_is_valid(address: str) -> bool:
    if address.startswith(("arn:aws:events:", "pubsub://")):
        return True
    parts = urlsplit(address)
    return bool(parts.hostname) and (
        parts.scheme == "https" or (parts.scheme == "http" and parts.hostname in LOOPBACK_HOSTS)
    )


class WebhookSubscriptions:
    """The shop's subscriptions by id, each with its owner (an app's access token, or None: made in the admin)."""

    def __init__(self) -> None:
        self.lock = threading.RLock()
        self._items: dict[int, tuple[str | None, JsonDict]] = {}
        self._ids = itertools.count(FIRST_ID)
        # Topics every app may subscribe to; a test narrows it to play an app without an access scope.
        self.allowed_topics: set[str] = set(TOPICS)

    def add(self, topic: str, address: str, owner: str | None, version: str, format: str = "json") -> JsonDict:
        at = now_iso()
        with self.lock:
            subscription = {
                "id": next(self._ids),
                "address": address,
                "topic": topic,
                "created_at": at,
                "updated_at": at,
                "format": format,
                "fields": [],
                "metafield_namespaces": [],
                "api_version": version,
                "private_metafield_namespaces": [],
                "metafield_identifiers": [],
            }
            self._items[subscription["id"]] = (owner, subscription)
            return copy.deepcopy(subscription)

    def create(self, body: Any, owner: str, version: str) -> tuple[int, JsonDict]:
        """What `POST webhooks.json` answers: (201, {"webhook": …}) or a refusal with Shopify's shapes."""
        webhook = body.get("webhook") if isinstance(body, dict) else None
        if not isinstance(webhook, dict):
            return 400, {"errors": {"webhook": "Required parameter missing or invalid"}}
        topic = str(webhook.get("topic") or "").strip()
        address = str(webhook.get("address") or "").strip()
        format = str(webhook.get("format") or "json").lower()
        allowed = sorted(self.allowed_topics)
        errors: dict[str, list[str]] = {}
        if topic not in self.allowed_topics:
            errors["topic"] = [invalid_topic(topic, allowed)] + (["can't be blank"] if not topic else [])
        if not address:
            errors["address"] = ["can't be blank"]
        elif not address_is_valid(address):
            errors["address"] = ["is invalid"]
        elif any(item["topic"] == topic and item["address"] == address for item in self.of(owner)):
            errors["address"] = ["for this topic has already been taken"]
        if format not in FORMATS:
            errors["format"] = ["is not included in the list"]
        if errors:
            return 422, {"errors": errors}
        return 201, {"webhook": self.add(topic, address, owner, version, format)}

    def of(self, owner: str | None) -> list[JsonDict]:
        """The app's subscriptions in id order (what it may list); None: every subscription, the admin's too."""
        with self.lock:
            return [
                copy.deepcopy(item)
                for _, (item_owner, item) in sorted(self._items.items())
                if owner is None or item_owner == owner
            ]

    def get(self, subscription_id: int, owner: str | None = None) -> JsonDict | None:
        with self.lock:
            found = self._items.get(int(subscription_id))
        if found is None or (owner is not None and found[0] != owner):
            return None
        return copy.deepcopy(found[1])

    def delete(self, subscription_id: int, owner: str | None = None) -> bool:
        """Removes it (as the app does, or, with no owner, as Shopify does after failing deliveries)."""
        with self.lock:
            found = self._items.get(int(subscription_id))
            if found is None or (owner is not None and found[0] != owner):
                return False
            del self._items[int(subscription_id)]
            return True

    def clear(self) -> None:
        with self.lock:
            self._items.clear()
            self.allowed_topics = set(TOPICS)

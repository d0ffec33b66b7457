"""A store's API2Cart webhooks (`webhook.list`, `webhook.create`, `webhook.update`), made by commerce-sync.

Ours are the webhooks whose callback is `…/webhooks/api2cart?store=<our store id>&token=<webhook secret>`: the
address and the store tell them from others (another app of the account, another deployment), the token is the
store's webhook secret (platforms.api2cart.webhooks).

- Subscribing and health (`check_and_repair`, platforms.webhook_health): each entity/action commerce-sync wants
  (EXPECTED) that the store's cart supports (`webhook.events`: the others reach us through the nightly
  reconciliation) has an active webhook of ours. An inactive one (API2Cart disables a webhook after five failed
  deliveries) is set active again (`webhook.update` with `active: true`); a missing one is created when the address
  and the token are known: given (`commerce-sync webhooks STORE --create`), or read from another webhook of ours.
- Secret push (rotation): each webhook of ours whose token is the current or the new secret gets the callback with
  the new token (`webhook.update` with `callback`), its address and store kept.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from commerce_sync.platforms.api2cart.api import Api2CartApi
from commerce_sync.platforms.secret_push import same_secret
from commerce_sync.platforms.webhook_health import HookState, ObservedHook, WebhookHealth, assess

DELIVERY_PATH = "/webhooks/api2cart"
LABEL = "commerce-sync"
# What commerce-sync subscribes (docs/api2cart.md, "Webhooks"): carts, customers, orders with their shipments,
# products.
EXPECTED = (
    "basket.add",
    "basket.update",
    "customer.add",
    "customer.update",
    "customer.delete",
    "order.add",
    "order.update",
    "order.delete",
    "order.shipment.add",
    "order.shipment.update",
    "order.shipment.delete",
    "product.add",
    "product.update",
    "product.delete",
)
PAGE = 250
MAX_PAGES = 40


def split_topic(topic: str) -> tuple[str, str]:
    entity, _, action = topic.rpartition(".")
    return entity, action


def callback_url(address: str, store_id: str, token: str) -> str:
    """The address with our store and token as its query (any query the address had is replaced)."""
    parts = urlsplit(address)
    return urlunsplit((parts.scheme, parts.netloc, parts.path, urlencode({"store": store_id, "token": token}), ""))


def callback_parts(callback: str) -> tuple[str, dict[str, str]]:
    """(the callback without its query, its query parameters)."""
    parts = urlsplit(callback)
    return urlunsplit((parts.scheme, parts.netloc, parts.path, "", "")), dict(parse_qsl(parts.query))


class Api2CartWebhooks:
    platform = "api2cart"

    def __init__(self, client: Api2CartApi, store_id: str, address: str | None = None, token: str | None = None):
        self._client = client
        self._store_id = store_id
        self._address = address
        self._token = token

    def _all(self) -> list[dict[str, Any]]:
        hooks: list[dict[str, Any]] = []
        for index in range(MAX_PAGES):
            page = self._client.call("webhook.list", {"start": index * PAGE, "count": PAGE})
            items = page.get("webhook") if isinstance(page, dict) else None
            found = [item for item in items if isinstance(item, dict)] if isinstance(items, list) else []
            hooks.extend(found)
            if len(found) < PAGE:
                break
        return hooks

    def _is_ours(self, hook: dict[str, Any]) -> bool:
        base, query = callback_parts(str(hook.get("callback") or ""))
        return urlsplit(base).path.rstrip("/").endswith(DELIVERY_PATH) and query.get("store") == self._store_id

    def mine(self) -> list[dict[str, Any]]:
        return [hook for hook in self._all() if self._is_ours(hook)]

    # ----- secret push (platforms.secret_push.PlatformWebhooks) -------------------------------------------

    def ours(self, current: str | None, new: str) -> tuple[list[dict[str, Any]], int]:
        hooks, skipped = [], 0
        for hook in self._all():
            token = callback_parts(str(hook.get("callback") or ""))[1].get("token")
            if self._is_ours(hook) and (same_secret(token, current) or same_secret(token, new)):
                hooks.append(hook)
            else:
                skipped += 1
        return hooks, skipped

    def set_secret(self, hook: dict[str, Any], secret: str) -> None:
        base, _ = callback_parts(str(hook.get("callback") or ""))
        self._client.write(
            "PUT", "webhook.update", {"id": hook["id"], "callback": callback_url(base, self._store_id, secret)}
        )

    def holds(self, hook: dict[str, Any], secret: str) -> bool | None:
        fresh = next((item for item in self._all() if str(item.get("id")) == str(hook.get("id"))), None)
        if fresh is None:
            return False
        return same_secret(callback_parts(str(fresh.get("callback") or ""))[1].get("token"), secret)

    # ----- health (platforms.webhook_health) --------------------------------------------------------------

    def supported(self) -> list[str]:
        events = self._client.call("webhook.events")
        listed = events.get("events") if isinstance(events, dict) else None
        pairs = {f"{event.get('entity')}.{event.get('action')}" for event in listed or [] if isinstance(event, dict)}
        return [topic for topic in EXPECTED if topic in pairs]

    def check_and_repair(self, store_id: str, repair: bool = True) -> WebhookHealth:
        mine = self.mine()
        observed = [
            ObservedHook(
                str(hook.get("id")),
                f"{hook.get('entity')}.{hook.get('action')}",
                HookState.ACTIVE if hook.get("active") is True else HookState.INACTIVE,
            )
            for hook in mine
        ]
        address, token = self._address, self._token
        if (address is None or token is None) and mine:
            base, query = callback_parts(str(mine[0].get("callback") or ""))
            address, token = address or base, token or query.get("token")

        def reactivate(hook: ObservedHook) -> None:
            self._client.write(
                "PUT", "webhook.update", {"id": int(hook.id) if hook.id.isdigit() else hook.id, "active": True}
            )

        def recreate(topic: str) -> str:
            entity, action = split_topic(topic)
            body = {
                "entity": entity,
                "action": action,
                "callback": callback_url(str(address), store_id, str(token)),
                "label": LABEL,
                "active": True,
            }
            made = self._client.write("POST", "webhook.create", body)
            return str(made.get("id")) if isinstance(made, dict) else ""

        can_create = repair and address is not None and token is not None
        return assess(
            self.platform,
            store_id,
            self.supported(),
            observed,
            lambda hook_topic, topic: hook_topic == topic,
            reactivate if repair else None,
            recreate if can_create else None,
            lambda topic: "no webhook of ours has this entity and action (`commerce-sync webhooks STORE --create`)",
        )

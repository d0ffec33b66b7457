"""The emulator's data: stores and their sub-resources, audiences, campaigns, batches and the records.

Everything is plain dicts shaped like Mailchimp's GET responses, held in a few dataclasses:

- `state.stores[store_id]` is a `Store`: `.data` (the store's own fields), `.customers[id]`, `.products[id]`
  (with `variants` and `images` as nested lists, as Mailchimp returns them), `.carts[id]` and `.orders[id]`
  (each with a `lines` list and a `customer` snapshot), `.promo_rules[id]` and `.promo_codes[rule_id][code_id]`.
- `state.lists[list_id].members[subscriber_hash]` are list members.
- `state.campaigns` is the set of known campaign ids.
- `state.batches[batch_id]` are `Batch` records.
- `state.order_events[(store_id, order_id)]` is the order's status history (it survives order deletion).
- `state.requests` is the request log. It is emulator-wide (entries name their account) and kept in the
  primary account's state; every other account's `requests` stays empty.

Each account the emulator serves has an `EmulatorState` of its own (see `accounts.py`).

All access from request threads happens under `state.lock` (an `RLock`); take it too when reading from a
test while requests may be running, or use `to_json()` for a deep copy.
"""

from __future__ import annotations

import copy
import hashlib
import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

JsonDict = dict[str, Any]


def now_iso() -> str:
    """Mailchimp's timestamp style: `2024-05-01T12:00:00+00:00`."""
    return datetime.now(UTC).replace(microsecond=0).isoformat()


def subscriber_hash(email: str) -> str:
    return hashlib.md5(email.strip().lower().encode("utf-8"), usedforsecurity=False).hexdigest()


@dataclass
class Store:
    id: str
    data: JsonDict
    customers: dict[str, JsonDict] = field(default_factory=dict)
    products: dict[str, JsonDict] = field(default_factory=dict)
    carts: dict[str, JsonDict] = field(default_factory=dict)
    orders: dict[str, JsonDict] = field(default_factory=dict)
    promo_rules: dict[str, JsonDict] = field(default_factory=dict)
    promo_codes: dict[str, dict[str, JsonDict]] = field(default_factory=dict)
    # Order ids by the customer id they were written with: a customer's orders_count and total_spent are read
    # on every order written, and a scan of every order made a large store's history quadratic.
    order_ids_by_customer: dict[str, set[str]] = field(default_factory=dict, repr=False)

    @property
    def list_id(self) -> str:
        return str(self.data["list_id"])

    def put_order(self, order: JsonDict) -> None:
        """Stores the order, or notes its customer again after a change."""
        self.orders[order["id"]] = order
        self.order_ids_by_customer.setdefault(str(order["customer"]["id"]), set()).add(order["id"])

    def remove_order(self, order_id: str) -> None:
        order = self.orders.pop(order_id)
        self.order_ids_by_customer.get(str(order["customer"]["id"]), set()).discard(order_id)

    def orders_of(self, customer_id: str) -> list[JsonDict]:
        held = (self.orders.get(order_id) for order_id in self.order_ids_by_customer.get(str(customer_id), ()))
        return [order for order in held if order is not None and order["customer"]["id"] == customer_id]

    def to_json(self) -> JsonDict:
        return copy.deepcopy(
            {
                "store": self.data,
                "customers": self.customers,
                "products": self.products,
                "carts": self.carts,
                "orders": self.orders,
                "promo_rules": self.promo_rules,
                "promo_codes": self.promo_codes,
            }
        )


@dataclass
class AudienceList:
    id: str
    members: dict[str, JsonDict] = field(default_factory=dict)
    # Subscriber hashes permanently deleted (actions/delete-permanent): Mailchimp will not re-import them.
    forgotten: set[str] = field(default_factory=set)
    # Tags (member_tags.py): the audience's tag ids by name, and when each member got each of its tags.
    tag_ids: dict[str, int] = field(default_factory=dict)
    tag_dates: dict[str, dict[str, str]] = field(default_factory=dict)
    # Audience webhooks by id (list_webhooks.py): `{id, url, events, sources}`.
    webhooks: dict[str, JsonDict] = field(default_factory=dict)


@dataclass(frozen=True)
class OrderStatusEvent:
    """One change of an order's statuses, in the order the emulator applied them."""

    financial_status: str | None
    fulfillment_status: str | None
    cancelled: bool
    store_is_syncing: bool
    source: str  # "POST" or "PATCH"
    at: str

    @property
    def statuses(self) -> tuple[str | None, str | None]:
        return (self.financial_status, self.fulfillment_status)

    def to_json(self) -> JsonDict:
        return {
            "financial_status": self.financial_status,
            "fulfillment_status": self.fulfillment_status,
            "cancelled": self.cancelled,
            "store_is_syncing": self.store_is_syncing,
            "source": self.source,
            "at": self.at,
        }


@dataclass
class BatchResult:
    status_code: int
    operation_id: str | None
    response: str  # the JSON text of the response body ("" for 204)

    def to_json(self) -> JsonDict:
        return {"status_code": self.status_code, "operation_id": self.operation_id, "response": self.response}


@dataclass
class Batch:
    id: str
    operations: list[JsonDict]
    submitted_at: str
    status: str = "pending"
    finished_operations: int = 0
    errored_operations: int = 0
    completed_at: str = ""
    results: list[BatchResult] = field(default_factory=list)
    archive: bytes | None = None
    url_tokens: dict[str, float] = field(default_factory=dict)  # token -> monotonic expiry
    cancelled: bool = False

    @property
    def total_operations(self) -> int:
        return len(self.operations)

    def to_json(self) -> JsonDict:
        return {
            "id": self.id,
            "status": self.status,
            "total_operations": self.total_operations,
            "finished_operations": self.finished_operations,
            "errored_operations": self.errored_operations,
            "submitted_at": self.submitted_at,
            "completed_at": self.completed_at,
            "results": [result.to_json() for result in self.results],
        }


@dataclass(frozen=True)
class RecordedRequest:
    """One request the emulator handled. `source` is "http" or "batch" (an operation run by a batch).
    `account_id` is the account whose credential the request carried (for a batch operation, the account
    that submitted the batch); None when it had no valid credential."""

    method: str
    path: str
    status: int
    body: Any  # the parsed JSON body, None when absent or not JSON
    query: dict[str, str]
    source: str
    request_id: str
    fault: str | None  # "429", "500", "timeout", "403_html", "concurrency" or None
    at: str
    operation_id: str | None = None
    account_id: str | None = None

    def to_json(self) -> JsonDict:
        return {
            "method": self.method,
            "path": self.path,
            "status": self.status,
            "body": copy.deepcopy(self.body),
            "query": self.query,
            "source": self.source,
            "request_id": self.request_id,
            "fault": self.fault,
            "at": self.at,
            "operation_id": self.operation_id,
            "account_id": self.account_id,
        }


@dataclass(frozen=True)
class Account:
    """What `GET /3.0/` reports, and the OAuth metadata endpoint (`dc` is the account's data center there)."""

    account_id: str
    account_name: str
    email: str
    login_id: str
    role: str = "owner"
    dc: str = "us6"


@dataclass
class EmulatorState:
    lock: threading.RLock = field(default_factory=threading.RLock)
    stores: dict[str, Store] = field(default_factory=dict)
    lists: dict[str, AudienceList] = field(default_factory=dict)
    # Audiences deleted in Mailchimp (`MailchimpEmulator.delete_audience`): every other list id exists.
    deleted_audiences: set[str] = field(default_factory=set)
    campaigns: set[str] = field(default_factory=set)
    batches: dict[str, Batch] = field(default_factory=dict)
    order_events: dict[tuple[str, str], list[OrderStatusEvent]] = field(default_factory=dict)
    requests: list[RecordedRequest] = field(default_factory=list)
    # Audience webhook deliveries made (list_webhooks.py), and the condition notified after each one.
    webhook_deliveries: list[JsonDict] = field(default_factory=list)
    deliveries_changed: threading.Condition = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self.deliveries_changed = threading.Condition(self.lock)

    def clear(self) -> None:
        with self.lock:
            self.stores.clear()
            self.lists.clear()
            self.deleted_audiences.clear()
            self.campaigns.clear()
            self.batches.clear()
            self.order_events.clear()
            self.requests.clear()
            self.webhook_deliveries.clear()

    def audience(self, list_id: str) -> AudienceList:
        """Audiences are implicit: any list id a store names exists (unless deleted, see `deleted_audiences`)."""
        if list_id not in self.lists:
            self.lists[list_id] = AudienceList(list_id)
        return self.lists[list_id]

    def to_json(self) -> JsonDict:
        with self.lock:
            return {
                "stores": {store_id: store.to_json() for store_id, store in self.stores.items()},
                "lists": {list_id: copy.deepcopy(audience.members) for list_id, audience in self.lists.items()},
                "campaigns": sorted(self.campaigns),
                "batches": {batch_id: batch.to_json() for batch_id, batch in self.batches.items()},
                "order_status_history": {
                    f"{store_id}/{order_id}": [event.to_json() for event in events]
                    for (store_id, order_id), events in self.order_events.items()
                },
            }

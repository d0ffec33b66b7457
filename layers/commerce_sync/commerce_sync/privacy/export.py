"""What commerce-sync holds about one shopper of one store, for a data request (docs/privacy.md, "Data requests").

The export reads and never writes. For the shopper's Mailchimp customers (commerce_sync.privacy.subjects: the address
given, and every address the platform customer was written with) it holds:
- from Mailchimp, as Mailchimp returns them: the customers, their orders (`GET …/orders?customer_id=`) and the orders
  the request names, their carts (the store's carts read a page at a time: Mailchimp cannot filter carts), and the
  audience member of each address;
- from our sync state: the Mailchimp customers' items (consent fingerprint, open carts, purchase mark), the platform
  customer's item (its addresses' ids), the items of those orders (the last order applied, whole), and the items of
  the shopper's carts (open ones, those Mailchimp holds for them and those their orders converted), each as plain
  JSON. A cart item counts only when the shopper it remembers is this one: a cart can change hands when its shopper
  types another address, and another person's cart must never be exported.
Not searched: the salted hashes of an erased shopper (they name nobody, commerce_sync.aws.tombstones) and events in
transit in the claim-check bucket (kept 45 days at most, found by event only).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from pydantic import BaseModel, ConfigDict

from commerce_sync.aws.store_registry import Store
from commerce_sync.aws.sync_state import LEASE_HOLDER, LEASE_UNTIL, SyncState
from commerce_sync.canonical.emails import subscriber_hash
from commerce_sync.canonical.model import CustomerDataRequest
from commerce_sync.carts.conversion import CART, CUSTOMER, OPEN_CARTS
from commerce_sync.carts.customers import PLATFORM_CUSTOMER
from commerce_sync.mailchimp.client import MailchimpClient
from commerce_sync.mailchimp.ids import to_mailchimp_id
from commerce_sync.orders.stored import ORDER_ATTRIBUTE, order_json
from commerce_sync.orders.sync import ORDER
from commerce_sync.orders.withheld_statuses import WITHHELD
from commerce_sync.privacy.subjects import mailchimp_ids

# Attributes the sync state keeps as a JSON document in a string (a canonical order, a cart's shopper): shown as the
# document, so the reader sees the data rather than an escaped string.
EMBEDDED_JSON = frozenset({"order", "customer", "pending_cart", WITHHELD})
# The table's own key attributes (the entry's type and id say the same), and an entity's lease (which invocation is
# applying a change to it at the moment: the export's own, often; nothing about the shopper).
KEY_ATTRIBUTES = frozenset({"pk", "sk", LEASE_HOLDER, LEASE_UNTIL})


class ExportLookup(BaseModel):
    """Whom the export was made for: what the request named, and the Mailchimp customer ids that led to."""

    model_config = ConfigDict(extra="forbid")

    email: str | None = None
    customer_id: str | None = None
    order_ids: list[str] = []
    mailchimp_customer_ids: list[str] = []


class SyncStateEntry(BaseModel):
    model_config = ConfigDict(extra="forbid")

    type: str
    id: str
    attributes: dict[str, Any]


class MailchimpRecords(BaseModel):
    model_config = ConfigDict(extra="forbid")

    customers: list[dict[str, Any]] = []
    orders: list[dict[str, Any]] = []
    carts: list[dict[str, Any]] = []
    members: list[dict[str, Any]] = []


class ShopperExportDocument(BaseModel):
    """The export: what the CLI prints, `--json` writes, and a data request keeps for the operator."""

    model_config = ConfigDict(extra="forbid")

    store_id: str
    generated_at: str
    request_id: str | None = None
    request_kind: str | None = None
    looked_up: ExportLookup
    sync_state: list[SyncStateEntry] = []
    mailchimp: MailchimpRecords = MailchimpRecords()

    def counts(self) -> dict[str, int]:
        """How much was found: no personal data, so fit for an audit line and a log."""
        return {
            "sync_state_entries": len(self.sync_state),
            "mailchimp_customers": len(self.mailchimp.customers),
            "orders": len(self.mailchimp.orders),
            "carts": len(self.mailchimp.carts),
            "members": len(self.mailchimp.members),
        }

    def holds_anything(self) -> bool:
        return any(self.counts().values())


def plain(value: Any) -> Any:
    """A DynamoDB value as plain JSON: numbers from Decimals, sorted lists from sets."""
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, set | frozenset):
        return sorted((plain(member) for member in value), key=str)
    if isinstance(value, dict):
        return {str(name): plain(member) for name, member in value.items()}
    if isinstance(value, list | tuple):
        return [plain(member) for member in value]
    return value


def _embedded(value: Any) -> Any:
    if not isinstance(value, str) or not value:
        return value
    try:
        return json.loads(value)
    except ValueError:
        return value


def state_entry(entity_type: str, entity_id: str, item: dict[str, Any]) -> SyncStateEntry:
    attributes = {
        name: _embedded(order_json(value) if name == ORDER_ATTRIBUTE else plain(value))
        if name in EMBEDDED_JSON
        else plain(value)
        for name, value in sorted(item.items())
        if name not in KEY_ATTRIBUTES
    }
    return SyncStateEntry(type=entity_type, id=entity_id, attributes=attributes)


class ShopperExport:
    def __init__(self, sync_state: SyncState) -> None:
        self._state = sync_state

    def collect(
        self,
        store: Store,
        request: CustomerDataRequest,
        *,
        mailchimp: Callable[[Callable[[MailchimpClient], Any]], Any],
    ) -> ShopperExportDocument:
        """`mailchimp` runs a call on the store's client (re-reading the key after a 401, as every consumer does)."""
        ids = mailchimp_ids(self._state, store.store_id, request.email, request.customer_id)
        records: MailchimpRecords = mailchimp(lambda client: self._from_mailchimp(client, store, request, ids))
        return ShopperExportDocument(
            store_id=store.store_id,
            generated_at=datetime.now(UTC).isoformat(timespec="seconds"),
            request_id=request.request_id,
            request_kind=request.request_kind,
            looked_up=ExportLookup(
                email=request.email,
                customer_id=request.customer_id,
                order_ids=list(request.order_ids),
                mailchimp_customer_ids=sorted(ids),
            ),
            sync_state=self._from_sync_state(store.store_id, request, ids, records),
            mailchimp=records,
        )

    # ---- Mailchimp -----------------------------------------------------------------------------------------

    def _from_mailchimp(
        self, client: MailchimpClient, store: Store, request: CustomerDataRequest, ids: set[str]
    ) -> MailchimpRecords:
        store_id = store.store_id
        records = MailchimpRecords()
        orders: dict[str, dict[str, Any]] = {}
        for mailchimp_id in sorted(ids):
            customer = client.get_customer(store_id, mailchimp_id)
            if customer is not None:
                records.customers.append(customer)
            for order in client.orders_of_customer(store_id, mailchimp_id):
                orders.setdefault(str(order.get("id")), order)
        for order_id in request.order_ids:
            if to_mailchimp_id(order_id) not in orders:
                named = client.get_order(store_id, order_id)
                if named is not None:
                    orders[to_mailchimp_id(order_id)] = named
        records.orders = [orders[order_id] for order_id in sorted(orders)]
        records.carts = sorted(
            (cart for cart in client.carts(store_id) if str((cart.get("customer") or {}).get("id", "")) in ids),
            key=lambda cart: str(cart.get("id")),
        )
        for mailchimp_id in sorted(ids):
            member = client.get_member(store.list_id, mailchimp_id)
            if member is not None:
                records.members.append(member)
        return records

    # ---- our sync state ------------------------------------------------------------------------------------

    def _from_sync_state(
        self, store_id: str, request: CustomerDataRequest, ids: set[str], records: MailchimpRecords
    ) -> list[SyncStateEntry]:
        entries: list[SyncStateEntry] = []
        open_carts: set[str] = set()
        for mailchimp_id in sorted(ids):
            item = self._state.applied(store_id, CUSTOMER, mailchimp_id)
            if item is not None:
                entries.append(state_entry(CUSTOMER, mailchimp_id, item))
                open_carts |= {str(cart_id) for cart_id in item.get(OPEN_CARTS) or ()}
        if request.customer_id:
            item = self._state.applied(store_id, PLATFORM_CUSTOMER, request.customer_id)
            if item is not None:
                entries.append(state_entry(PLATFORM_CUSTOMER, request.customer_id, item))

        order_ids = {*request.order_ids, *(str(order.get("id")) for order in records.orders)}
        orders = self._state.applied_many(store_id, ORDER, sorted(order_ids))
        order_entries = [state_entry(ORDER, order_id, item) for order_id, item in sorted(orders.items())]
        entries += order_entries

        purchased = set(_carts_of(entry.attributes.get("order") for entry in order_entries))
        cart_ids = open_carts | purchased | {str(cart.get("id")) for cart in records.carts}
        carts = self._state.applied_many(store_id, CART, sorted(cart_ids))
        entries += [
            state_entry(CART, cart_id, item)
            for cart_id, item in sorted(carts.items())
            if _cart_is_theirs(item, ids, request.customer_id, cart_id in purchased)
        ]
        return entries


def _carts_of(orders: Iterable[Any]) -> Iterable[str]:
    """The carts stored orders name (a purchase marks its cart's item converted)."""
    for order in orders:
        if isinstance(order, dict):
            if order.get("cart_id"):
                yield str(order["cart_id"])
            yield from (str(reference) for reference in order.get("cart_references") or ())


def _cart_is_theirs(item: dict[str, Any], ids: set[str], customer_id: str | None, purchased: bool) -> bool:
    """A cart item that remembers this shopper; or, named by one of their orders, one that remembers nobody (a cart
    never written to Mailchimp, kept as converted). One that remembers someone else is theirs, whatever names it."""
    shopper = _embedded(item.get("customer"))
    if not isinstance(shopper, dict):
        return purchased
    if shopper.get("email") and subscriber_hash(str(shopper["email"])) in ids:
        return True
    return bool(customer_id) and str(shopper.get("id") or "") == customer_id

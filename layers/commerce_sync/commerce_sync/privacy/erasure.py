"""Erasing a shopper of one store: from Mailchimp, from our own records, and for good (docs/privacy.md).

In this order, each step idempotent (a record already gone is done), so a retry or a replayed dead letter
simply runs the whole erasure again:
1. tombstones (commerce_sync.aws.tombstones) for each e-mail address, the platform customer id and each named
   order, first: from then on no write path brings the shopper back, even while the steps below run (each order
   Mailchimp holds under the shopper is buried too, once listed and before it is deleted);
2. in Mailchimp, for every Mailchimp customer of the shopper (the address given, and every address the platform
   customer was written with): their orders (`GET …/orders?customer_id=`) and the named ones, deleted; their
   open carts (Mailchimp cannot filter carts: the store's carts are read a page at a time, plus those the sync
   state lists as the shopper's), deleted; the customer, deleted; the audience member archived, or permanently
   deleted when the request or the store's option (`erasure_member`) says so;
3. at home: the shopper's sync-state items (their Mailchimp customers, the platform customer, their orders and
   carts) deleted; what stays is the tombstones' salted hashes;
4. the audit line completed (commerce_sync.privacy.audit).
Orders are deleted, not kept with the customer detached: Mailchimp has no order without a customer (`customer.id`
is required and cannot change), so a detached order would still name a customer record.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from commerce_sync.aws.observability import logger
from commerce_sync.aws.privacy_audit import PrivacyAudit
from commerce_sync.aws.store_registry import Store
from commerce_sync.aws.sync_state import STATE_SORT_KEY, SyncState, entity_key
from commerce_sync.aws.tombstones import Kind, Tombstones
from commerce_sync.canonical.model import CustomerErasure, MemberErasure
from commerce_sync.carts.conversion import CART, CUSTOMER, OPEN_CARTS
from commerce_sync.carts.customers import PLATFORM_CUSTOMER
from commerce_sync.mailchimp.client import MailchimpClient
from commerce_sync.mailchimp.ids import to_mailchimp_id
from commerce_sync.orders.sync import ORDER
from commerce_sync.privacy.subjects import audit_subject, mailchimp_ids


@dataclass
class ErasureReport:
    """What an erasure found and removed, without anything that names the shopper."""

    mailchimp_customers: int = 0
    orders: int = 0
    carts: int = 0
    members: int = 0
    member_action: str = MemberErasure.ARCHIVE.value
    state_items: int = 0
    tombstones: int = 0
    deleted_order_ids: list[str] = field(default_factory=list)

    def summary(self) -> dict[str, Any]:
        return {
            "mailchimp_customers": self.mailchimp_customers,
            "orders": self.orders,
            "carts": self.carts,
            "members": self.members,
            "member_action": self.member_action,
            "state_items": self.state_items,
            "tombstones": self.tombstones,
        }


class ShopperErasure:
    def __init__(self, sync_state: SyncState, tombstones: Tombstones, audit: PrivacyAudit) -> None:
        self._state = sync_state
        self._tombstones = tombstones
        self._audit = audit

    def mailchimp_ids(self, store: Store, erasure: CustomerErasure) -> set[str]:
        return mailchimp_ids(self._state, store.store_id, erasure.email, erasure.customer_id)

    def subject(self, store: Store, erasure: CustomerErasure) -> str:
        return audit_subject(self._tombstones, store.store_id, erasure.email, erasure.customer_id)

    def erase(
        self,
        store: Store,
        erasure: CustomerErasure,
        *,
        erased_at: str,
        kind: str,
        request_id: str,
        received_at: str,
        mailchimp: Callable[[Callable[[MailchimpClient], Any]], Any],
    ) -> ErasureReport:
        """`erased_at` (a version string) dates the tombstones; `kind`, `request_id` and `received_at` make the
        audit line; `mailchimp` runs a call on the store's client (re-reading the key after a 401, as every
        consumer does)."""
        line = self._audit.received(store.store_id, kind, request_id, self.subject(store, erasure), received_at)
        report = ErasureReport()
        mailchimp_ids = self.mailchimp_ids(store, erasure)
        buried: list[tuple[Kind, str]] = [("email", mailchimp_id) for mailchimp_id in sorted(mailchimp_ids)]
        if erasure.customer_id:
            buried.append(("customer", erasure.customer_id))
        buried += [("order", order_id) for order_id in erasure.order_ids]
        self._tombstones.bury(store.store_id, buried, erased_at, request_id)
        report.tombstones = len(buried)

        action = erasure.member or MemberErasure(store.erasure_member)
        report.member_action = action.value
        mailchimp(
            lambda client: self._erase_in_mailchimp(
                client, store, erasure, mailchimp_ids, action, report, erased_at, request_id
            )
        )
        self._erase_at_home(store, erasure, mailchimp_ids, report)
        self._audit.completed(line, report.summary())
        logger.info("shopper erased", store_id=store.store_id, request_id=request_id, **report.summary())
        return report

    # ---- Mailchimp -----------------------------------------------------------------------------------------

    def _erase_in_mailchimp(
        self,
        client: MailchimpClient,
        store: Store,
        erasure: CustomerErasure,
        mailchimp_ids: set[str],
        action: MemberErasure,
        report: ErasureReport,
        erased_at: str,
        request_id: str,
    ) -> None:
        store_id = store.store_id
        order_ids = {to_mailchimp_id(order_id) for order_id in erasure.order_ids}
        for mailchimp_id in sorted(mailchimp_ids):
            order_ids |= {str(order["id"]) for order in client.orders_of_customer(store_id, mailchimp_id)}
        report.deleted_order_ids = sorted(order_ids)
        # Each order of the shopper is buried by id too (before it is deleted): a later change of an erased order
        # (a refund weeks after) is the erased shopper's as well.
        found = sorted(order_ids - set(erasure.order_ids))
        self._tombstones.bury(store_id, [("order", order_id) for order_id in found], erased_at, request_id)
        report.tombstones += len(found)
        report.orders = sum(1 for order_id in sorted(order_ids) if client.delete_order(store_id, order_id))

        carts = self._open_carts(store_id, mailchimp_ids)
        carts |= {
            str(cart["id"])
            for cart in client.carts(store_id)
            if str((cart.get("customer") or {}).get("id", "")) in mailchimp_ids
        }
        report.carts = sum(1 for cart_id in sorted(carts) if client.delete_cart(store_id, cart_id))

        for mailchimp_id in sorted(mailchimp_ids):
            report.mailchimp_customers += client.delete_customer(store_id, mailchimp_id)
            if action is MemberErasure.DELETE_PERMANENT:
                report.members += client.delete_member_permanently(store.list_id, mailchimp_id)
            else:
                report.members += client.archive_member(store.list_id, mailchimp_id)

    def _open_carts(self, store_id: str, mailchimp_ids: set[str]) -> set[str]:
        carts: set[str] = set()
        for mailchimp_id in mailchimp_ids:
            shopper = self._state.applied(store_id, CUSTOMER, mailchimp_id) or {}
            carts |= {str(cart_id) for cart_id in shopper.get(OPEN_CARTS) or ()}
        return carts

    # ---- at home -------------------------------------------------------------------------------------------

    def _erase_at_home(
        self, store: Store, erasure: CustomerErasure, mailchimp_ids: set[str], report: ErasureReport
    ) -> None:
        store_id = store.store_id
        entities: list[tuple[str, str]] = [(CUSTOMER, mailchimp_id) for mailchimp_id in mailchimp_ids]
        if erasure.customer_id:
            entities.append((PLATFORM_CUSTOMER, erasure.customer_id))
        entities += [(ORDER, order_id) for order_id in {*erasure.order_ids, *report.deleted_order_ids}]
        entities += [(CART, cart_id) for cart_id in self._open_carts(store_id, mailchimp_ids)]
        with self._state.table.batch_writer(overwrite_by_pkeys=["pk", "sk"]) as batch:
            for entity_type, entity_id in entities:
                batch.delete_item(Key={"pk": entity_key(store_id, entity_type, entity_id), "sk": STATE_SORT_KEY})
        report.state_items = len(entities)

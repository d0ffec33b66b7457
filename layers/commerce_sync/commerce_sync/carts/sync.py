"""Applying cart and customer events to Mailchimp.

Per event: a duplicate (same event id) writes nothing (Powertools Idempotency); a stale event (its
entity version is not newer than the one applied) is skipped (sync state). Then:

- cart.updated: a cart that is history (commerce_sync.processing.store_imports) is not written: its only
  use would be an abandoned-cart e-mail for a past cart. A cart whose shopper converted is never written
  again, nor any cart of that shopper that predates the purchase (this is what stops abandoned-cart e-mails
  after a purchase). A cart with no e-mail yet is kept in sync state and sent when a later event for it
  brings one; later events without an e-mail reuse the one remembered. The customer is written (consent
  rules below), then the cart by PATCH with the full lines array, or POST when new. A line whose product
  Mailchimp lacks gets the product created from the line; a stale campaign id is dropped. An emptied cart
  is deleted.
- cart.deleted: DELETE (already gone = done); `converted` also marks the cart and its shopper.
- customer.updated / customer.deleted: PUT / DELETE the Mailchimp customer.

Consent rules: commerce_sync.carts.customers. Conversion: commerce_sync.carts.conversion.

Anything else propagates: the queue retries it and, after the retries, keeps it in the dead-letter
queue with the reason.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import Any

from commerce_sync.aws.observability import logger
from commerce_sync.aws.store_registry import Store
from commerce_sync.aws.sync_state import applied_version, state_key
from commerce_sync.canonical.model import CanonicalEvent, Cart, CartRemovalReason, Customer, EventType
from commerce_sync.carts.conversion import CART, CART_ALIAS, CUSTOMER, OPEN_CARTS, convert, resolve_cart_id
from commerce_sync.carts.customers import PLATFORM_CUSTOMER, CustomerWriter
from commerce_sync.mailchimp.client import MailchimpClient
from commerce_sync.mailchimp.errors import MailchimpCampaignMissing, MailchimpProductMissing
from commerce_sync.mailchimp.mapping import customer_id, to_mailchimp_cart
from commerce_sync.mailchimp.models import McCart
from commerce_sync.processing.event_applier import Entity, EventApplier, Handler, Outcome
from commerce_sync.processing.services import Services
from commerce_sync.processing.store_imports import HistoryMode

MAX_OPEN_CARTS = 200


class CartSync(EventApplier):
    function_name = "cart_events"

    def __init__(self, services: Services) -> None:
        super().__init__(services)
        self._customers = CustomerWriter(services.sync_state, services.consent_withdrawals)

    def handlers(self) -> Mapping[EventType, Handler]:
        return {
            EventType.CART_UPDATED: self._cart_updated,
            EventType.CART_DELETED: self._cart_deleted,
            EventType.CUSTOMER_UPDATED: self._customer_updated,
            EventType.CUSTOMER_DELETED: self._customer_deleted,
        }

    def entity_of(self, store: Store, event: CanonicalEvent) -> Entity:
        if event.type is EventType.CART_UPDATED:
            return CART, event.cart().id
        if event.type is EventType.CART_DELETED:
            return CART, resolve_cart_id(self._state, store.store_id, event.cart_removal().id)
        # Customer events are ordered by the platform's customer id, whatever address each one carries.
        return PLATFORM_CUSTOMER, event.entity_id

    def ordering_tokens(self, event: CanonicalEvent) -> Collection[str] | None:
        """A cart by its id and every alias it carries (a cart's ids meet whichever its deliveries use); a customer by
        its platform id."""
        try:
            if event.type is EventType.CART_UPDATED:
                cart = event.cart()
                return {f"{CART}:{cart_id}" for cart_id in (cart.id, *cart.references)}
            if event.type is EventType.CART_DELETED:
                return {f"{CART}:{event.cart_removal().id}"}
        except ValueError:
            return {f"unreadable:{event.event_id}"}  # it fails alone, where it is applied
        if event.type in (EventType.CUSTOMER_UPDATED, EventType.CUSTOMER_DELETED):
            return {f"{PLATFORM_CUSTOMER}:{event.entity_id}"}
        return None

    def reads_of(self, store: Store, event: CanonicalEvent) -> list[dict[str, str]]:
        """The cart's state, its aliases and its shopper's state, and the shopper's consent record; a customer's
        platform and Mailchimp items."""
        entity_type, entity_id = self.entity_of(store, event)
        reads = [state_key(store.store_id, entity_type, entity_id)]
        if event.type is EventType.CART_UPDATED:
            customer = event.cart().customer
            reads += [state_key(store.store_id, CART_ALIAS, reference) for reference in event.cart().references]
        elif event.type is EventType.CUSTOMER_UPDATED:
            customer = event.customer()
        else:
            return reads
        if customer.email:
            reads.append(state_key(store.store_id, CUSTOMER, customer_id(customer)))
            reads.extend(self._customers.reads_of(store, customer))
        return reads

    # ---- carts -----------------------------------------------------------------------------------

    def _cart_updated(self, store: Store, event: CanonicalEvent) -> Outcome:
        cart = event.cart()
        if self.history_mode is not HistoryMode.LIVE:
            # A cart's only use in Mailchimp is the abandoned-cart e-mail, and one for a past cart is spam.
            return {"outcome": "skipped_historical_cart", "cart_id": cart.id}
        state = self._state.applied(store.store_id, CART, cart.id) or {}
        if state.get("converted"):
            return {"outcome": "skipped_converted", "cart_id": cart.id}
        # The same moment of a cart kept for want of an e-mail, now with one: Shopify's carts/create and the
        # checkouts/create of the same visit can carry the very same `updated_at` (its own examples do), and
        # only the checkout knows the shopper. Taking it for a stale copy would lose the cart for good.
        completes_waiting = (
            applied_version(state) == event.entity_version
            and bool(state.get("pending_cart"))
            and not state.get("customer")
            and cart.customer.email is not None
        )
        if applied_version(state) >= event.entity_version and not completes_waiting:
            return {"outcome": "stale", "cart_id": cart.id}
        cart = self._with_remembered(cart, state)
        if cart.customer.email is None:
            # Mailchimp cannot hold a cart without a shopper e-mail: keep it until an event brings one.
            self._state.record_applied(
                store.store_id, CART, cart.id, event.entity_version, pending_cart=cart.model_dump_json()
            )
            return {"outcome": "waiting_for_email", "cart_id": cart.id}
        shopper = customer_id(cart.customer)
        shopper_state = self._state.applied(store.store_id, CUSTOMER, shopper) or {}
        if str(shopper_state.get("converted_version", "")) >= event.entity_version:
            return {"outcome": "skipped_predates_purchase", "cart_id": cart.id}

        if not cart.lines:
            if not state.get("customer"):
                # Never written (a cart of custom items or gift certificates only, which name no catalog
                # product): nothing to delete, and calling it "emptied" would hide why nothing was written.
                self._state.record_applied(store.store_id, CART, cart.id, event.entity_version)
                return {"outcome": "skipped_no_lines", "cart_id": cart.id}
            deleted = self._mailchimp(lambda client: {"deleted": client.delete_cart(store.store_id, cart.id)})
            self._state.record_applied(store.store_id, CART, cart.id, event.entity_version, removed="emptied")
            return {"outcome": "emptied", "cart_id": cart.id, **deleted}

        customer = self._customers.for_store(store, cart.customer)
        mailchimp_cart = to_mailchimp_cart(cart).model_copy(update={"customer": customer})
        likely_new = not state.get("customer")
        previous_shopper = self._shopper_in(state)
        if previous_shopper is not None and previous_shopper != shopper and not state.get("removed"):
            # The shopper typed another address. Mailchimp cannot move a cart to another customer, so the
            # cart leaves the old one and is created on the new one (its abandonment clock restarts, which
            # is right: the new address has only just been given).
            self._mailchimp(lambda client: {"deleted": client.delete_cart(store.store_id, cart.id)})
            likely_new = True
        outcome = self._mailchimp(lambda client: self._write_cart(client, store, cart, mailchimp_cart, likely_new))
        written = {"customer": cart.customer.model_dump_json(), "checkout_url": cart.checkout_url or "", "removed": ""}
        if completes_waiting:
            # Its version is the one recorded already (record_applied takes only newer ones).
            self._state.mark(store.store_id, CART, cart.id, **written)
        else:
            self._state.record_applied(store.store_id, CART, cart.id, event.entity_version, **written)
        for reference in cart.references:
            # Written once: a cart's later events name the same references (read ahead with the cart).
            if (self._state.applied(store.store_id, CART_ALIAS, reference) or {}).get("cart_id") != cart.id:
                self._state.mark(store.store_id, CART_ALIAS, reference, cart_id=cart.id)
        # So a purchase by this shopper also ends this cart, whichever cart the order names. Bounded so a
        # shopper who abandons carts for years cannot grow the item past DynamoDB's 400 KB; a cart past
        # the bound is still ended by its own conversion and by the shopper's purchase-time mark.
        open_carts = shopper_state.get(OPEN_CARTS) or ()
        if cart.id not in open_carts and len(open_carts) < MAX_OPEN_CARTS:
            self._state.add_to_set(store.store_id, CUSTOMER, shopper, OPEN_CARTS, {cart.id})
        return {"cart_id": cart.id, "cart_lines": len(cart.lines), **outcome}

    @staticmethod
    def _shopper_in(state: dict[str, Any]) -> str | None:
        """The Mailchimp customer the cart was last written for, from its remembered shopper."""
        if not state.get("customer"):
            return None
        remembered = Customer.model_validate_json(state["customer"])
        return customer_id(remembered) if remembered.email else None

    @staticmethod
    def _with_remembered(cart: Cart, state: dict[str, Any]) -> Cart:
        """Fill what this event lacks (e-mail, checkout URL) from what earlier events of the cart said."""
        update: dict[str, Any] = {}
        if cart.customer.email is None and state.get("customer"):
            remembered = Customer.model_validate_json(state["customer"])
            update["customer"] = remembered.model_copy(
                update={k: v for k, v in cart.customer.model_dump(exclude_none=True).items() if k != "consent"}
            )
        if not cart.checkout_url and state.get("checkout_url"):
            update["checkout_url"] = state["checkout_url"]
        return cart.model_copy(update=update) if update else cart

    def _write_cart(
        self, client: MailchimpClient, store: Store, cart: Cart, mailchimp_cart: McCart, likely_new: bool
    ) -> Outcome:
        outcome = self._customers.write(client, store, cart.customer, mailchimp_cart.customer)
        products_created = False
        # Each recoverable refusal is repaired at most once, so this ends in a write or a raised error.
        while True:
            try:
                client.upsert_cart(store.store_id, mailchimp_cart, likely_new=likely_new)
                return {"outcome": "synced", **outcome}
            except MailchimpProductMissing:
                if products_created:
                    raise
                # Deferred: Mailchimp lacks a line's product only before the catalog sync has run (or one it
                # missed), and this module and its batch operations were every cold start's (docs/performance.md).
                from commerce_sync.carts.line_products import create_missing_products

                created = create_missing_products(client, store.store_id, cart.lines, self._time_left())
                outcome["line_products"] = created.via
                products_created = True
            except MailchimpCampaignMissing:
                if mailchimp_cart.campaign_id is None:
                    raise
                logger.info("stale campaign id dropped", campaign_id=mailchimp_cart.campaign_id)
                mailchimp_cart = mailchimp_cart.model_copy(update={"campaign_id": None})

    def _cart_deleted(self, store: Store, event: CanonicalEvent) -> Outcome:
        removal = event.cart_removal()
        cart_id = resolve_cart_id(self._state, store.store_id, removal.id)
        if removal.reason is CartRemovalReason.CONVERTED:
            # Final whatever the versions: no event may bring a purchased cart back.
            shopper = self._shopper_of(store, cart_id, removal.customer)
            deleted = self._mailchimp(
                lambda client: {
                    "deleted": convert(
                        self._state, self.locks, client, store.store_id, [cart_id], shopper, event.entity_version
                    )
                }
            )
            return {"outcome": "converted", "cart_id": cart_id, **deleted}
        if self._state.is_stale(store.store_id, CART, cart_id, event.entity_version):
            return {"outcome": "stale", "cart_id": cart_id}
        deleted = self._mailchimp(lambda client: {"deleted": client.delete_cart(store.store_id, cart_id)})
        self._state.record_applied(store.store_id, CART, cart_id, event.entity_version, removed=removal.reason.value)
        return {"outcome": removal.reason.value, "cart_id": cart_id, **deleted}

    def _shopper_of(self, store: Store, cart_id: str, customer: Customer | None) -> str | None:
        if customer is not None and customer.email:
            return customer_id(customer)
        return self._shopper_in(self._state.applied(store.store_id, CART, cart_id) or {})

    # ---- customers -------------------------------------------------------------------------------

    def _customer_updated(self, store: Store, event: CanonicalEvent) -> Outcome:
        customer = event.customer()
        if customer.email is None:
            return {"outcome": "no_email"}
        mailchimp_id = customer_id(customer)
        # Versions order the platform's changes of one customer, whichever address each change carries.
        if self._state.is_stale(store.store_id, PLATFORM_CUSTOMER, event.entity_id, event.entity_version):
            return {"outcome": "stale", "customer_id": mailchimp_id}
        mailchimp_customer = self._customers.for_store(store, customer)
        live = self.history_mode is HistoryMode.LIVE
        outcome = self._mailchimp(
            lambda client: self._customers.write(client, store, customer, mailchimp_customer, confirm=live)
        )
        self._state.record_applied(store.store_id, PLATFORM_CUSTOMER, event.entity_id, event.entity_version)
        return {"outcome": "synced", "customer_id": mailchimp_id, **outcome}

    def _customer_deleted(self, store: Store, event: CanonicalEvent) -> Outcome:
        """The platform names only its own customer id: every Mailchimp customer written for it goes."""
        removed = event.deleted()
        if self._state.is_stale(store.store_id, PLATFORM_CUSTOMER, removed.id, event.entity_version):
            return {"outcome": "stale", "platform_customer_id": removed.id}
        mailchimp_ids = sorted(self._customers.mailchimp_ids_of(store, removed.id))

        def delete(client: MailchimpClient) -> Outcome:
            deleted = [
                mailchimp_id for mailchimp_id in mailchimp_ids if client.delete_customer(store.store_id, mailchimp_id)
            ]
            return {"deleted": len(deleted)}

        outcome = self._mailchimp(delete)
        for mailchimp_id in mailchimp_ids:
            self._customers.forget(store, mailchimp_id)
        self._state.record_applied(
            store.store_id, PLATFORM_CUSTOMER, removed.id, event.entity_version, removed="deleted"
        )
        return {"outcome": "deleted", "platform_customer_id": removed.id, **outcome}

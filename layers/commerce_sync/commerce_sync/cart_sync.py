"""Applying cart and customer events to Mailchimp.

Order of work per event: duplicate check (Powertools Idempotency on the event id), staleness check
(sync state), map, write the customer, write the cart, record the applied version. A line whose
product Mailchimp lacks gets the product created from what the line knows, then the cart is sent
again; a stale campaign id is dropped and the cart sent again. Anything else propagates, so the
queue retries it and, after the retries, keeps it in the dead-letter queue.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from aws_lambda_powertools.utilities.idempotency import idempotent_function

from commerce_sync.canonical import CanonicalEvent, Cart, EventType
from commerce_sync.errors import NotImplementedYet, UnknownStore
from commerce_sync.mailchimp_client import (
    MailchimpAuthError,
    MailchimpCampaignMissing,
    MailchimpClient,
    MailchimpProductMissing,
)
from commerce_sync.mailchimp_models import McCart
from commerce_sync.mapping import product_from_line, to_mailchimp_cart, variant_from_line
from commerce_sync.observability import logger, metrics
from commerce_sync.services import Services
from commerce_sync.store_registry import Store

CART = "cart"


class CartSync:
    def __init__(self, services: Services) -> None:
        self._services = services
        self.idempotency_config = services.idempotency_config()
        self.process: Callable[..., dict[str, Any]] = idempotent_function(
            data_keyword_argument="event",
            persistence_store=services.idempotency_store,
            config=self.idempotency_config,
        )(self._process)

    def _process(self, event: CanonicalEvent) -> dict[str, Any]:
        store = self._services.registry.get(event.store_id)
        if store is None:
            raise UnknownStore(f"store {event.store_id} is not registered")
        logger.append_keys(store_id=store.store_id, event_id=event.event_id, event_type=event.type.value)
        if event.type is EventType.CART_UPDATED:
            return self._cart_updated(store, event)
        raise NotImplementedYet(f"{event.type.value} events are not implemented yet")

    def _cart_updated(self, store: Store, event: CanonicalEvent) -> dict[str, Any]:
        state = self._services.sync_state
        if state.is_stale(store.store_id, CART, event.entity_id, event.entity_version):
            logger.info("stale cart event skipped", entity_version=event.entity_version)
            metrics.add_metric(name="StaleEventsSkipped", unit="Count", value=1)
            return {"outcome": "stale"}
        cart = event.cart()
        if cart.customer.email is None:
            # Mailchimp cannot hold a cart without a shopper e-mail; nothing to write yet.
            logger.info("cart without e-mail not sent", cart_lines=len(cart.lines))
            return {"outcome": "no_email"}

        mailchimp_cart = to_mailchimp_cart(cart)
        self._with_key_refresh(lambda client: self._write(client, store, cart, mailchimp_cart))
        state.record_applied(store.store_id, CART, cart.id, event.entity_version)
        metrics.add_metric(name="CartsSynced", unit="Count", value=1)
        logger.info("cart synced", cart_lines=len(cart.lines))
        return {"outcome": "synced", "cart_id": cart.id}

    def _with_key_refresh(self, write: Callable[[MailchimpClient], None]) -> None:
        try:
            write(self._services.mailchimp())
        except MailchimpAuthError:
            # The key may have been rotated while this container was warm: read it again once.
            write(self._services.mailchimp(refresh_key=True))

    def _write(self, client: MailchimpClient, store: Store, cart: Cart, mailchimp_cart: McCart) -> None:
        client.upsert_customer(store.store_id, mailchimp_cart.customer)
        products_created = False
        # Each recoverable refusal is repaired at most once, so this ends in a write or a raised error.
        while True:
            try:
                client.upsert_cart(store.store_id, mailchimp_cart)
                return
            except MailchimpProductMissing:
                if products_created:
                    raise
                self._create_missing_products(client, store, cart)
                products_created = True
            except MailchimpCampaignMissing:
                if mailchimp_cart.campaign_id is None:
                    raise
                logger.info("stale campaign id dropped", campaign_id=mailchimp_cart.campaign_id)
                mailchimp_cart = mailchimp_cart.model_copy(update={"campaign_id": None})

    @staticmethod
    def _create_missing_products(client: MailchimpClient, store: Store, cart: Cart) -> None:
        for line in cart.lines:
            product = client.get_product(store.store_id, line.product_id)
            if product is None:
                client.upsert_product(store.store_id, product_from_line(line))
                metrics.add_metric(name="ProductsCreatedFromLines", unit="Count", value=1)
            elif all(v.get("id") != line.variant_id for v in product.get("variants", [])):
                client.upsert_variant(store.store_id, line.product_id, variant_from_line(line))

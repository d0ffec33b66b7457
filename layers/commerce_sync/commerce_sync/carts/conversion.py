"""A purchase ends the shopper's abandoned carts, for good.

Conversion (an order, a completed checkout, a converted cart) deletes the converted cart and the
shopper's other open carts from Mailchimp, and marks both the carts and the shopper in the sync state:
no later event of those carts is written again, and no cart of that shopper whose last change is older
than the purchase either. That is what stops abandoned-cart e-mails after a purchase.

The carts' leases are held while they are marked and deleted, so a cart change being applied in another
container at that moment finishes first (and its cart is then deleted) or sees the mark (and is skipped):
it cannot write the cart back after the purchase.
"""

from __future__ import annotations

from collections.abc import Iterable

from commerce_sync.aws.entity_locks import EntityLocks
from commerce_sync.aws.sync_state import SyncState
from commerce_sync.mailchimp.client import MailchimpClient

CART = "cart"
CART_ALIAS = "cart-alias"
CUSTOMER = "customer"
OPEN_CARTS = "open_carts"
REMOVED_FROM_MAILCHIMP = "removed_from_mailchimp"


def resolve_cart_id(state: SyncState, store_id: str, cart_id: str) -> str:
    alias = state.applied(store_id, CART_ALIAS, cart_id)
    return str(alias["cart_id"]) if alias else cart_id


def convert(
    state: SyncState,
    locks: EntityLocks,
    client: MailchimpClient,
    store_id: str,
    cart_ids: Iterable[str],
    shopper: str | None,
    version: str,
) -> list[str]:
    """Delete and mark the carts (and the shopper's open ones); returns the carts Mailchimp had."""
    carts = {resolve_cart_id(state, store_id, cart_id) for cart_id in cart_ids if cart_id}
    if shopper:
        state.mark(store_id, CUSTOMER, shopper, converted_version=version)
        shopper_state = state.applied(store_id, CUSTOMER, shopper) or {}
        carts |= set(shopper_state.get(OPEN_CARTS) or ())
    deleted = []
    with locks.holding(store_id, CART, carts):
        for cart_id in sorted(carts):
            if (state.applied(store_id, CART, cart_id) or {}).get(REMOVED_FROM_MAILCHIMP):
                continue  # a later event of the same order: this cart already left Mailchimp
            # Marked before the DELETE: should the DELETE fail, a retried cart event still sees the mark.
            state.mark(store_id, CART, cart_id, converted=True, converted_version=version)
            if client.delete_cart(store_id, cart_id):
                deleted.append(cart_id)
            state.mark(store_id, CART, cart_id, **{REMOVED_FROM_MAILCHIMP: True})
    if shopper and carts:
        state.remove_from_set(store_id, CUSTOMER, shopper, OPEN_CARTS, carts)
    return deleted

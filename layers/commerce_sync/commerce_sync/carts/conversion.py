"""A purchase ends the shopper's abandoned carts, for good.

Conversion (an order, a completed checkout, a converted cart) deletes the converted cart and the
shopper's other open carts from Mailchimp, and marks both the carts and the shopper in the sync state:
no later event of those carts is written again, and no cart of that shopper whose last change is older
than the purchase either. That is what stops abandoned-cart e-mails after a purchase.

The marks are written in one transaction that also checks that no other container holds any of the carts' leases
(commerce_sync.aws.entity_locks), and when one does, under the carts' leases: a cart change being applied in another
container at that moment finishes first (and its cart is then deleted) or sees the mark (and is skipped), so it
cannot write the cart back after the purchase. Carts marked as gone from Mailchimp are left alone (a later event of
the same order).
"""

from __future__ import annotations

from collections.abc import Iterable

from commerce_sync.aws.entity_locks import EntityLocks
from commerce_sync.aws.sync_state import SyncState, entity_key
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
    open_carts: set[str] = set()
    if shopper:
        shopper_state = state.applied(store_id, CUSTOMER, shopper) or {}
        open_carts = set(shopper_state.get(OPEN_CARTS) or ())
        carts |= open_carts
        state.mark(store_id, CUSTOMER, shopper, converted_version=version)
    # A later event of the same order finds its carts gone from Mailchimp already, and takes no lease for them: the
    # mark is final, so it cannot be undone meanwhile.
    pending = sorted(cart_id for cart_id in carts if not _removed(state, store_id, cart_id))
    deleted = []
    for cart_id in pending:
        state.mark(store_id, CART, cart_id, converted=True, converted_version=version)
    # The marks are written before the DELETEs, all at once: should a DELETE fail, or this container die, a cart event
    # still sees them. Written only while no other container holds any of the carts' leases, a cart event being
    # applied at that moment finishes first (its cart is then deleted below), or sees the mark and is skipped.
    # The purchase's own lease, when it is still to be taken (EntityLocks.holding_after_read), is taken in the same
    # transaction.
    leases = [entity_key(store_id, CART, cart_id) for cart_id in pending]
    claim = locks.pending_claim() if pending else None
    if pending and state.write_kept_unless_leased(leases, locks.token, claim):
        if claim is not None:
            locks.claimed()
    elif pending:
        # A cart of these is being applied: wait for it under the carts' leases.
        locks.ensure_held()
        with locks.holding(store_id, CART, pending):
            state.write_kept()
    for cart_id in pending:
        if client.delete_cart(store_id, cart_id):
            deleted.append(cart_id)
        state.mark(store_id, CART, cart_id, **{REMOVED_FROM_MAILCHIMP: True})
    if shopper and carts & open_carts:
        state.remove_from_set(store_id, CUSTOMER, shopper, OPEN_CARTS, carts & open_carts)
    return deleted


def _removed(state: SyncState, store_id: str, cart_id: str) -> bool:
    return bool((state.applied(store_id, CART, cart_id) or {}).get(REMOVED_FROM_MAILCHIMP))

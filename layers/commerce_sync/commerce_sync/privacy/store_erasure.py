"""Erasing a whole store (Shopify's `shop/redact`, a canonical `store.erased`): everything commerce-sync holds for it
goes (docs/privacy.md, "Erasing a whole store").

In this order, each step idempotent (what is gone already is done), so a retry, or a replayed dead letter, runs the
erasure again and finishes it:
1. the audit line, opened (commerce_sync.aws.privacy_audit); its subject is "store", as a store id names no shopper;
2. the store's tombstone (commerce_sync.aws.tombstones), then its registry entry marked erased and inactive: from then
   on its deliveries are refused as from an unknown store, the scheduled jobs skip it, and its events still on their
   way are dropped (commerce_sync.processing.event_applier), so nothing writes it back while the erasure runs;
3. in Mailchimp, the store: `DELETE /ecommerce/stores/{id}` takes its customers, orders, products, carts and promo
   rules with it. The audience and its members stay: they are the merchant's marketing list, whose consent
   Mailchimp keeps, not data of the store; a shopper who asks to be forgotten has their own `customers/redact`.
   When the store's own Mailchimp account refuses us (the merchant revoked the connection) the store is left there,
   in the merchant's own account, and the audit line says so; the deployment's default account is never given up
   on: the erasure is parked with its other events until that account is reconnected;
4. at home: every sync-state item of the store (commerce_sync.aws.store_sweep), across as many invocations as that
   takes, the events parked for it while its Mailchimp account was paused, and its shoppers' tombstones (the
   store's tombstone stands for them all);
5. its secret (webhook secret, platform credentials), deleted without a recovery window. A Mailchimp account secret
   of its own (`commerce-sync/mailchimp/<account>`) is left: other stores of that account share it;
6. the audit line completed with what was removed, then the registry entry deleted, last: until then a retry finds
   the store and everything it needs to finish.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from dataclasses import dataclass
from typing import Any

from commerce_sync.accounts.budget import AccountUnavailable
from commerce_sync.aws.observability import logger
from commerce_sync.aws.secret_store import delete_secret
from commerce_sync.aws.store_registry import Store
from commerce_sync.mailchimp.client import MailchimpClient
from commerce_sync.processing.services import Services

STORE_SUBJECT = "store"


class StoreErasureIncomplete(Exception):
    """The erasure stopped part-way (its invocation's time ran short, or another invocation still holds a lease
    on one of the store's items): the queue delivers it again and it goes on."""


@dataclass
class StoreErasureReport:
    """What a store's erasure removed; nothing in it names a shopper."""

    mailchimp_store: str = "deleted"  # "deleted", "already gone", or "left: <why>"
    state_items: int = 0
    parked_events: int = 0
    shopper_tombstones: int = 0
    secret: str = "deleted"  # "deleted" or "already gone"

    def summary(self) -> dict[str, Any]:
        return {
            "mailchimp_store": self.mailchimp_store,
            "state_items": self.state_items,
            "parked_events": self.parked_events,
            "shopper_tombstones": self.shopper_tombstones,
            "secret": self.secret,
        }


class WholeStoreErasure:
    def __init__(self, services: Services) -> None:
        self._services = services

    def erase(
        self,
        store: Store,
        *,
        erased_at: str,
        kind: str,
        request_id: str,
        received_at: str,
        mailchimp: Callable[[Callable[[MailchimpClient], Any]], Any],
        time_left: Callable[[], float | None],
        keep: Collection[tuple[str, str]] = (),
    ) -> StoreErasureReport:
        """`erased_at` (a version string) dates the tombstone; `kind`, `request_id` and `received_at` make the audit
        line; `mailchimp` runs a call on the store's client within a connection slot of its account; `time_left`
        is the invocation's (seconds, None: no limit); `keep` are sync-state keys (pk, sk) the sweep leaves, the
        caller's own lease. Raises StoreErasureIncomplete when it must go on in another invocation."""
        services = self._services
        store_id = store.store_id
        line = services.privacy_audit.received(store_id, kind, request_id, STORE_SUBJECT, received_at)
        services.tombstones.bury_store(store_id, erased_at, request_id)
        if store.erased_at is None:
            marked = store.model_copy(update={"active": False, "erased_at": erased_at})
            services.registry.update(marked, ["active", "erased_at"])

        report = StoreErasureReport()
        report.mailchimp_store = self._erase_in_mailchimp(store, mailchimp)

        swept = services.store_sweep.sweep(store_id, time_left, keep)
        report.state_items = swept.deleted
        if not swept.clean:
            why = "its time ran short" if not swept.finished else f"{swept.busy} of its items are being written"
            logger.info("store erasure goes on in another run", store_id=store_id, reason=why, busy=swept.busy)
            raise StoreErasureIncomplete(f"the erasure of store {store_id} goes on in another run: {why}")
        report.parked_events = self._unpark(store)
        report.shopper_tombstones = services.tombstones.remove_store(store_id)
        report.secret = "deleted" if delete_secret(services.secrets_manager, store.secret_id) else "already gone"

        services.privacy_audit.completed(line, report.summary())
        services.registry.delete(store_id)
        services.store_sweep.forget(store_id)
        logger.info("store erased", store_id=store_id, request_id=request_id, **report.summary())
        return report

    def _erase_in_mailchimp(self, store: Store, mailchimp: Callable[[Callable[[MailchimpClient], Any]], Any]) -> str:
        try:
            deleted = bool(mailchimp(lambda client: client.delete_store(store.store_id)))
        except AccountUnavailable as unavailable:
            if store.mailchimp_secret_id is None:
                raise
            logger.warning(
                "store erasure: its own Mailchimp account refuses us; its Mailchimp store is left in that account",
                store_id=store.store_id,
                mailchimp_account=unavailable.account,
            )
            return f"left: {unavailable.reason}"
        return "deleted" if deleted else "already gone"

    def _unpark(self, store: Store) -> int:
        """The store's events parked while its Mailchimp account was paused: they hold its shoppers' data."""
        health = self._services.account_health
        account = store.mailchimp_account
        parked = [message for message in health.parked(account) if message.store_id == store.store_id]
        for message in parked:
            health.unpark(account, message.sort_key)
        return len(parked)

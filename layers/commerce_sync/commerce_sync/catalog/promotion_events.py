"""Real-time promotion events (promotion.updated / promotion.deleted) from the product queue.

Per event: a duplicate (same event id) writes nothing (Powertools Idempotency) and is logged and counted as the
outcome `duplicate`. Each rule and code carries the version it was last written at, so an event older than what
was applied to the rule is not applied to the rule, and likewise per code (a code added by a late webhook is
still written when the rule has moved on). Content equal to what Mailchimp already has (same hash) costs no call.
Otherwise direct writes, the rule before its codes:

- promotion.updated writes the rule, then each code it lists; `codes_complete` also deletes the codes of the rule
  that the event does not list. A code Mailchimp refuses with 404 (its rule is gone from Mailchimp) writes the rule
  again first.
- promotion.deleted deletes the rule (Mailchimp deletes its codes with it), or only the codes it names; each
  deletion leaves a removed record with the event's version, so a late, older event cannot bring it back.

Mailchimp errors propagate: the queue retries the record and the function dead-letters it with the reason
(commerce_sync.processing.dead_letters), as for products.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from aws_lambda_powertools.utilities.idempotency import idempotent_function

from commerce_sync.accounts.budget import AccountRefused, AccountUnavailable
from commerce_sync.aws.entity_locks import EntityLocks
from commerce_sync.aws.observability import logger
from commerce_sync.aws.store_registry import Store
from commerce_sync.canonical.errors import NotImplementedYet, UnknownStore
from commerce_sync.canonical.model import CanonicalEvent, EventType, Promotion
from commerce_sync.catalog.promotion_state import CODE, PromoRecord, PromotionState, code_key, rule_key
from commerce_sync.catalog.promotion_writer import (
    PromoOutcome,
    PromotionWriter,
    code_write,
    deletion,
    rule_write,
    unchanged,
)
from commerce_sync.catalog.writer import MailchimpCalls
from commerce_sync.mailchimp.client import MailchimpClient
from commerce_sync.mailchimp.errors import MailchimpAuthError, MailchimpNotFound
from commerce_sync.processing.event_applier import time_left
from commerce_sync.processing.outcomes import record_outcome
from commerce_sync.processing.services import Services

Result = dict[str, Any]
# The entity type of a promotion's lease.
PROMOTION_ENTITY = "promotion"
PROMOTION_EVENTS = frozenset({EventType.PROMOTION_UPDATED, EventType.PROMOTION_DELETED})


class PromotionEvents:
    def __init__(self, services: Services, state: PromotionState) -> None:
        self._services = services
        self._state = state
        self.idempotency_config = services.idempotency_config()
        self._once: Callable[..., Result] = idempotent_function(
            data_keyword_argument="event",
            persistence_store=services.idempotency_store,
            config=self.idempotency_config,
        )(self._process)
        self._applied = False

    def process(self, *, event: CanonicalEvent, message: dict[str, Any] | None = None) -> Result:
        """Applies the event once; an event of a paused or refused Mailchimp account is parked (`message`, the bus
        message that brought it, is kept) and applied when the account is reconnected."""
        self._applied = False
        try:
            outcome = self._once(event=event)
        except AccountUnavailable as unavailable:
            self._services.account_health.park_event(event, message, unavailable)
            result: Result = {"outcome": "parked", "mailchimp_account": unavailable.account}
            record_outcome("PromotionEvent", event.type.value, event.event_id, result)
            self._services.store_activity.outcome(event.store_id, "parked", event.delivery)
            return result
        if not self._applied:
            logger.append_keys(event_type=event.type.value)
            record_outcome("PromotionEvent", event.type.value, event.event_id, {"outcome": "duplicate"})
        self._services.store_activity.outcome(
            event.store_id, "duplicate" if not self._applied else outcome["outcome"], event.delivery
        )
        return outcome

    def _process(self, event: CanonicalEvent) -> Result:
        self._applied = True
        store = self._services.stores.get(event.store_id)
        if store is None:
            raise UnknownStore(f"store {event.store_id} is not registered")
        logger.append_keys(store_id=store.store_id, event_id=event.event_id, event_type=event.type.value)
        # The entity's lease (aws.entity_locks): two changes of one promotion applied at once by two containers (one
        # overtaking the other) would each pass the version check and the older could reach Mailchimp last.
        locks = EntityLocks(self._services.sync_state.table, self._time_left)
        with (
            locks.holding(store.store_id, PROMOTION_ENTITY, [event.entity_id]),
            self._services.budget.holding(store.mailchimp_account, "live", self._time_left()),
        ):
            writer = PromotionWriter(store, self._state, MailchimpCalls(lambda refresh: self._client(store, refresh)))
            if event.type is EventType.PROMOTION_UPDATED:
                result = self._updated(store, writer, event)
            elif event.type is EventType.PROMOTION_DELETED:
                result = self._deleted(store, writer, event)
            else:
                raise NotImplementedYet(f"product_sync does not handle {event.type.value} events as promotions")
        record_outcome("PromotionEvent", event.type.value, event.event_id, result)
        return result

    def _time_left(self) -> float | None:
        return time_left(self.idempotency_config)

    def _client(self, store: Store, refresh: bool) -> MailchimpClient:
        """The store's account's client; a refusal of credentials read afresh is the account's, not the event's."""
        if not refresh:
            return self._services.mailchimp(store)
        client = self._services.mailchimp(store, refresh_key=True)
        try:
            client.ping()
        except MailchimpAuthError as refusal:
            raise AccountRefused(store.mailchimp_account, f"{refusal.status} {refusal.title}") from refusal
        return client

    # ---- promotion.updated ----------------------------------------------------------------------------------

    def _updated(self, store: Store, writer: PromotionWriter, event: CanonicalEvent) -> Result:
        promotion = event.promotion()
        version = event.entity_version
        rule_record = self._state.record(store.store_id, rule_key(promotion.id))
        rule = self._rule(store, writer, promotion, rule_record, version)
        if rule == "stale" and (rule_record is None or not rule_record.in_mailchimp):
            # A newer event deleted the rule (or its write failed): its codes cannot go under it.
            return {"outcome": "stale", "rule_id": promotion.id}
        # The rule's present life: a rule created now (anew, after a deletion) had its old codes deleted with it.
        since = version if rule == "created" else (rule_record.since if rule_record else "")
        codes = {"created": 0, "updated": 0, "unchanged": 0, "stale": 0, "deleted": 0}
        records = self._state.records(store.store_id, [code_key(promotion.id, c.id) for c in promotion.codes])
        for code in promotion.codes:
            record = records.get(code_key(promotion.id, code.id))
            if record is not None and record.version > version:
                codes["stale"] += 1
                continue
            write = code_write(promotion.id, code, record, version, since)
            if unchanged(write, record, since):
                codes["unchanged"] += 1
                continue
            try:
                written = writer.write(write, condition="version", raise_errors=True)
            except MailchimpNotFound:
                # Mailchimp lost the rule (deleted in its UI, say): the rule first, then the code again.
                self._write_rule(store, writer, promotion, None, version)
                written = writer.write(write, condition="version", raise_errors=True)
            codes[write.kind if written is PromoOutcome.APPLIED else "stale"] += 1
        if promotion.codes_complete:
            codes["deleted"] = self._delete_unlisted(store, writer, promotion, version)
        wrote = rule in ("created", "updated") or any(codes[kind] for kind in ("created", "updated", "deleted"))
        outcome = "synced" if wrote else ("stale" if rule == "stale" else "unchanged")
        return {"outcome": outcome, "rule_id": promotion.id, "rule": rule, "codes": codes}

    def _rule(
        self, store: Store, writer: PromotionWriter, promotion: Promotion, record: PromoRecord | None, version: str
    ) -> str:
        if record is not None and record.version > version:
            return "stale"
        write = rule_write(promotion, record, store, version)
        if unchanged(write, record):
            return "unchanged"
        return self._write_rule(store, writer, promotion, record, version)

    def _write_rule(
        self, store: Store, writer: PromotionWriter, promotion: Promotion, record: PromoRecord | None, version: str
    ) -> str:
        write = rule_write(promotion, record, store, version)
        outcome = writer.write(write, condition="version", raise_errors=True)
        return write.kind if outcome is PromoOutcome.APPLIED else "stale"

    def _delete_unlisted(self, store: Store, writer: PromotionWriter, promotion: Promotion, version: str) -> int:
        listed = {code_key(promotion.id, code.id) for code in promotion.codes}
        deleted = 0
        for record in self._state.iter_records(store.store_id, f"{CODE}{promotion.id}#"):
            if record.key in listed or record.removed or record.version > version:
                continue
            writer.write(deletion(record, version), condition="version", raise_errors=True)
            deleted += 1
        return deleted

    # ---- promotion.deleted ----------------------------------------------------------------------------------

    def _deleted(self, store: Store, writer: PromotionWriter, event: CanonicalEvent) -> Result:
        removal = event.promotion_removal()
        version = event.entity_version
        keys = [code_key(removal.id, code_id) for code_id in removal.code_ids] or [rule_key(removal.id)]
        records = self._state.records(store.store_id, keys)
        outcomes: dict[str, str] = {}
        for key in keys:
            record = records.get(key)
            if record is not None and record.version > version:
                outcomes[key] = "stale"
            elif record is not None and record.removed:
                outcomes[key] = "already_removed"
            else:
                write = deletion(record or PromoRecord(key=key), version)
                written = writer.write(write, condition="version", raise_errors=True)
                outcomes[key] = "deleted" if written is PromoOutcome.APPLIED else "stale"
        states = set(outcomes.values())
        outcome = "deleted" if "deleted" in states else ("stale" if "stale" in states else "unchanged")
        return {"outcome": outcome, "rule_id": removal.id, "deleted": outcomes}

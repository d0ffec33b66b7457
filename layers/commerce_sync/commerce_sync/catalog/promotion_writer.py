"""Building promo rule and promo code writes, and sending them to Mailchimp one at a time.

Mailchimp has no PUT for either (shared/mailchimp/NOTES.md §4): a write we believe new is a POST, one we wrote
before a PATCH, and each falls back to the other on "already exists" / "not found" (MailchimpClient._upsert). A
rule is written before its codes (a code of a rule Mailchimp lacks answers 404), and a deletion is a DELETE
(Mailchimp deletes a rule's codes with it). So every write is one independent request, which is also what a
batch needs.

The record (hash, version) is written only after Mailchimp accepted the write, and only if the stored record
is still the one the write was built from (the nightly run) or not newer (events).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Literal

from commerce_sync.aws.observability import logger
from commerce_sync.aws.store_registry import Store
from commerce_sync.canonical.model import Promotion, PromotionCode
from commerce_sync.canonical.redaction import redact_emails
from commerce_sync.catalog.promotion_state import PromoRecord, PromotionState, code_key, rule_key
from commerce_sync.catalog.writer import CatalogDeadLetters, MailchimpCalls
from commerce_sync.mailchimp.batches import BatchOperation, operation_id
from commerce_sync.mailchimp.errors import MailchimpAuthError, MailchimpError, MailchimpNotFound
from commerce_sync.mailchimp.ids import store_path
from commerce_sync.mailchimp.models import McPromoCode, McPromoRule
from commerce_sync.mailchimp.promo_mapping import (
    promo_content_hash,
    to_mailchimp_promo_code,
    to_mailchimp_promo_rule,
)

Kind = Literal["created", "updated", "deleted"]
OPERATION_KIND = "promo"


@dataclass(frozen=True)
class PromoWrite:
    """One rule's or code's write and the record to keep once Mailchimp has it."""

    kind: Kind
    record: PromoRecord
    # The hash of the record the write was built from (None: there was none).
    read_hash: str | None
    rule: McPromoRule | None = None
    code: McPromoCode | None = None

    @property
    def key(self) -> str:
        return self.record.key

    def _item_path(self, store_id: str) -> str:
        code_id = self.record.code_id
        if code_id is None:
            return store_path(store_id, "promo-rules", self.record.rule_id)
        return store_path(store_id, "promo-rules", self.record.rule_id, "promo-codes", code_id)

    def _collection_path(self, store_id: str) -> str:
        if self.record.is_rule:
            return store_path(store_id, "promo-rules")
        return store_path(store_id, "promo-rules", self.record.rule_id, "promo-codes")

    def operation(self, store_id: str) -> BatchOperation:
        """The batch operation: POST when new, PATCH after, DELETE for a deletion; its id names the record and
        the hash written (`promo:<key>:<hash>`), so every result maps back to one write."""
        op_id = operation_id(OPERATION_KIND, self.key, self.record.hash or "0")
        if self.kind == "deleted":
            return BatchOperation("DELETE", self._item_path(store_id), op_id)
        body = self.rule or self.code
        assert body is not None
        if self.kind == "created":
            return BatchOperation("POST", self._collection_path(store_id), op_id, body.body())
        return BatchOperation("PATCH", self._item_path(store_id), op_id, body.patch_body())


def _kind(record: PromoRecord | None) -> Kind:
    return "updated" if record is not None and not record.removed else "created"


def rule_write(
    promotion: Promotion, record: PromoRecord | None, store: Store, version: str, now: datetime | None = None
) -> PromoWrite:
    body = to_mailchimp_promo_rule(promotion, store.currency_code, now)
    kind = _kind(record)
    return PromoWrite(
        kind=kind,
        record=PromoRecord(
            key=rule_key(promotion.id),
            hash=promo_content_hash(body),
            version=version,
            since=version if kind == "created" or record is None else record.since,
        ),
        read_hash=record.hash if record else None,
        rule=body,
    )


def code_write(
    rule_id: str, code: PromotionCode, record: PromoRecord | None, version: str, since: str = ""
) -> PromoWrite:
    """`since`: the rule's (PromoRecord.since); a code record older than it is written as new."""
    body = to_mailchimp_promo_code(code)
    known = record.current(since) if record is not None else None
    return PromoWrite(
        kind=_kind(known),
        record=PromoRecord(key=code_key(rule_id, code.id), hash=promo_content_hash(body), version=version),
        read_hash=record.hash if record else None,
        code=body,
    )


def deletion(record: PromoRecord, version: str) -> PromoWrite:
    """The DELETE of a rule or code the store no longer has; the record stays, removed, for 40 days."""
    return PromoWrite(
        kind="deleted",
        record=record.with_changes(hash="", removed=True, version=version, failed=""),
        read_hash=record.hash,
    )


def unchanged(write: PromoWrite, record: PromoRecord | None, since: str = "") -> bool:
    known = record.current(since) if record is not None else None
    return known is not None and not known.removed and known.hash == write.record.hash


def newer_recorded(record: PromoRecord | None, fetched: str) -> bool:
    """True when the record holds a change the page we read cannot know about (an event applied after it)."""
    return record is not None and bool(record.version) and record.version > fetched


class PromoOutcome(StrEnum):
    APPLIED = "applied"
    CONFLICT = "conflict"  # written to Mailchimp, but a newer change was recorded meanwhile
    RETRY_LATER = "retry_later"  # Mailchimp failed in a way that may pass; the next run writes it again
    # Mailchimp refused the content: recorded with the reason, not sent again unchanged ...
    REFUSED = "refused"
    # ... and dead-lettered, so a replay reads it from the store again once the merchant (or we) fixed it.
    DEAD_LETTERED = "dead_lettered"


class PromotionWriter:
    """Direct writes, one request at a time on the invocation's Mailchimp connection."""

    def __init__(
        self,
        store: Store,
        state: PromotionState,
        calls: MailchimpCalls,
        dead_letters: CatalogDeadLetters | None = None,
    ) -> None:
        self.store = store
        self.state = state
        self.calls = calls
        self.dead_letters = dead_letters

    def send(self, write: PromoWrite) -> None:
        store_id, rule_id, code_id = self.store.store_id, write.record.rule_id, write.record.code_id
        likely_new = write.kind == "created"
        if write.kind == "deleted" and code_id is None:
            self.calls.call(lambda client: client.delete_promo_rule(store_id, rule_id))
        elif write.kind == "deleted" and code_id is not None:
            self.calls.call(lambda client: client.delete_promo_code(store_id, rule_id, code_id))
        elif write.rule is not None:
            rule = write.rule
            self.calls.call(lambda client: client.upsert_promo_rule(store_id, rule, likely_new))
        elif write.code is not None:
            code = write.code
            self.calls.call(lambda client: client.upsert_promo_code(store_id, rule_id, code, likely_new))

    def write(self, write: PromoWrite, *, condition: Literal["hash", "version"], raise_errors: bool) -> PromoOutcome:
        """Write to Mailchimp, then keep the record. `raise_errors`: Mailchimp's errors are raised (an event's
        queue retries or dead-letters it); otherwise one that may pass is left for the next run and a lasting
        refusal is recorded with its reason."""
        try:
            self.send(write)
        except MailchimpError as error:
            if raise_errors:
                raise
            if error.retryable or isinstance(error, (MailchimpAuthError, MailchimpNotFound)) or write.kind == "deleted":
                # A code whose rule Mailchimp lacks (404) waits for the rule, which the next run writes first.
                logger.warning("promotion write failed; the next run retries", key=write.key, error=str(error))
                return PromoOutcome.RETRY_LATER
            parked = self.refused(write, type(error).__name__, f"{error.status} {error.title}: {error.detail}")
            return PromoOutcome.DEAD_LETTERED if parked else PromoOutcome.REFUSED
        return PromoOutcome.APPLIED if self.keep(write, condition) else PromoOutcome.CONFLICT

    def keep(self, write: PromoWrite, condition: Literal["hash", "version"]) -> bool:
        """The record of a write Mailchimp accepted; False when a newer change was recorded meanwhile."""
        if condition == "version":
            stored = self.state.put_if_newer(self.store.store_id, write.record)
        else:
            stored = not self.state.put_records(self.store.store_id, [(write.record, write.read_hash)])
        if not stored:
            logger.info("a newer change of the promotion was recorded meanwhile", key=write.key)
        return stored

    def refused(self, write: PromoWrite, error_type: str, reason: str) -> bool:
        """Keeps the refusal in the record; True when it was dead-lettered too."""
        reason = redact_emails(reason)[:500]
        logger.warning("Mailchimp refused a promotion write", key=write.key, reason=reason)
        self.state.put_records(self.store.store_id, [(write.record.with_changes(failed=reason), write.read_hash)])
        if self.dead_letters is None:
            return False
        record = write.record
        return self.dead_letters.send_promotion(self.store.store_id, record.rule_id, record.code_id, error_type, reason)

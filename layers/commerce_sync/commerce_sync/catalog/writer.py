"""Building product writes and sending them to Mailchimp one at a time.

One product is one `PUT /ecommerce/stores/{store}/products/{id}` ("create or update"), whatever changed:
Mailchimp keeps variants a PUT leaves out, so the body also carries every variant Mailchimp had that the
product no longer has, hidden at inventory 0 (a deleted variant would break the orders naming it). A
product gone from the catalog is a PUT too (`to_mailchimp_hidden_product`). So every change is one
independent write, which is also what a batch needs: never two dependent writes in one batch.

The record (hash, variants, version) is written only after Mailchimp accepted the write, and only if the
stored record is still the one the write was built from, so a slow writer never buries a newer change.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, Literal, TypeVar

import boto3

from commerce_sync.aws.metric_names import DEAD_LETTERED
from commerce_sync.aws.observability import logger, metrics
from commerce_sync.aws.store_registry import Store
from commerce_sync.canonical.model import Product
from commerce_sync.canonical.redaction import redact_emails
from commerce_sync.canonical.versions import ImpossibleVersion, version_from_timestamp
from commerce_sync.catalog.state import CatalogState, ProductClaim, ProductRecord
from commerce_sync.mailchimp.client import MailchimpClient
from commerce_sync.mailchimp.errors import MailchimpAuthError, MailchimpError
from commerce_sync.mailchimp.ids import store_path
from commerce_sync.mailchimp.mapping import (
    product_content_hash,
    to_mailchimp_hidden_product,
    to_mailchimp_product,
    with_retired_variants,
)
from commerce_sync.mailchimp.models import McProduct

Kind = Literal["created", "updated", "removed"]
T = TypeVar("T")
SYNC_PRODUCT = "sync_product"
SYNC_PROMOTION = "sync_promotion"


def product_path(store_id: str, product_id: str) -> str:
    return store_path(store_id, "products", product_id)


def product_version(product: Product) -> str:
    if not product.updated_at:
        return ""
    try:
        return version_from_timestamp(product.updated_at)
    except ImpossibleVersion:
        # A catalog read may carry a date from the future; as a version it would freeze the product.
        return now_version()


def now_version() -> str:
    return version_from_timestamp(datetime.now(UTC))


@dataclass(frozen=True)
class PendingWrite:
    """One product's write and the record to keep once Mailchimp has it."""

    kind: Kind
    body: McProduct
    record: ProductRecord
    # The hash of the record the write was built from (None: there was none); the record is written only
    # while the stored hash is still this one.
    read_hash: str | None

    @property
    def product_id(self) -> str:
        return self.record.product_id


def upsert_write(
    product: Product, record: ProductRecord | None, store: Store, version: str, source: str = ""
) -> PendingWrite:
    """`source`: the fingerprint of the platform's product `product` was mapped from, kept in the record."""
    body = to_mailchimp_product(product, store.currency_code)
    known = dict(record.variants) if record else {}
    if known:
        body = with_retired_variants(body, known)
    variants = {**known, **{variant.id: variant.title for variant in body.variants}}
    content = product_content_hash(body)
    return PendingWrite(
        kind="updated" if record else "created",
        body=body,
        record=ProductRecord(
            product_id=product.id, hash=content, title=product.title, variants=variants, version=version, source=source
        ),
        read_hash=record.hash if record else None,
    )


def removal_write(record: ProductRecord, version: str, *, stored: bool = True) -> PendingWrite:
    """The write that retires a product gone from the catalog (docs/product-sync.md). `stored`: False when
    `record` was made from what Mailchimp holds (ProductRecord.from_mailchimp) and the sync-state table
    has none, so the new record is written only if none appeared meanwhile."""
    body = to_mailchimp_hidden_product(record.product_id, record.title, record.variants)
    variants = {**record.variants, **{variant.id: variant.title for variant in body.variants}}
    return PendingWrite(
        kind="removed",
        body=body,
        record=record.with_changes(
            hash=product_content_hash(body),
            variants=variants,
            version=version,
            removed=True,
            failed="",
            applied_event="",
        ),
        read_hash=record.hash if stored else None,
    )


def unchanged(write: PendingWrite, record: ProductRecord | None) -> bool:
    return record is not None and record.hash == write.record.hash and record.removed == write.record.removed


class Outcome(StrEnum):
    APPLIED = "applied"
    CONFLICT = "conflict"  # written to Mailchimp, but a newer change was recorded meanwhile
    RETRY_LATER = "retry_later"  # Mailchimp failed in a way that may pass; the next run writes it again
    DEAD_LETTERED = "dead_lettered"


class CatalogDeadLetters:
    """Parks a product or promotion Mailchimp refuses, with the reason, in the function's dead-letter queue. The
    body is a request product_sync understands: replaying it (commerce-sync dead-letters product_sync --replay)
    makes it read the product (`sync_product`) or the discount rule (`sync_promotion`) from the store again and
    write it directly, so what the merchant fixed in the store (or a fix on our side) lands."""

    def __init__(self, queue_url: str | None, client: Any | None = None) -> None:
        self._queue_url = queue_url
        self._client = client

    def send(self, store_id: str, product_id: str, error: Exception, permanent: bool = True) -> bool:
        body = {"action": SYNC_PRODUCT, "store_id": store_id, "product_id": product_id}
        message = redact_emails(str(error))[:1000] or type(error).__name__
        return self._park(body, type(error).__name__, message, permanent, f"product {product_id}")

    def send_promotion(self, store_id: str, rule_id: str, code_id: str | None, error_type: str, reason: str) -> bool:
        """A refused promo rule (`code_id` None) or promo code; `reason` is already free of addresses."""
        body = {"action": SYNC_PROMOTION, "store_id": store_id, "rule_id": rule_id}
        if code_id is not None:
            body["code_id"] = code_id
        subject = f"promo rule {rule_id}" if code_id is None else f"promo code {code_id} of rule {rule_id}"
        return self._park(body, error_type, reason[:1000], True, subject)

    def _park(self, body: dict[str, str], error_type: str, message: str, permanent: bool, subject: str) -> bool:
        if not self._queue_url:
            logger.error("no dead-letter queue configured; left failed", subject=subject)
            return False
        attributes = {
            "error_type": error_type,
            "error_message": message or error_type,
            "permanent": "true" if permanent else "false",
            "receive_count": "1",
            "failed_at": datetime.now(UTC).isoformat(),
            "source": "catalog_sync",
        }
        (self._client or boto3.client("sqs")).send_message(
            QueueUrl=self._queue_url,
            MessageBody=json.dumps(body),
            MessageAttributes={
                name: {"DataType": "String", "StringValue": value} for name, value in attributes.items()
            },
        )
        metrics.add_metric(name=DEAD_LETTERED.name, unit="Count", value=1)
        logger.warning("catalog write dead-lettered", subject=subject, error_type=error_type, error=message)
        return True


class MailchimpCalls:
    """Requests on the invocation's Mailchimp client (one connection), counted for the run's
    `mailchimp_requests`; products and promotions of one run share it."""

    def __init__(self, mailchimp: Callable[[bool], MailchimpClient]) -> None:
        self._mailchimp = mailchimp
        self.requests = 0

    def call(self, action: Callable[[MailchimpClient], T]) -> T:
        self.requests += 1
        try:
            return action(self._mailchimp(False))
        except MailchimpAuthError:
            # The key may have been rotated while this container was warm: read it again once.
            self.requests += 1
            return action(self._mailchimp(True))


class ProductWriter:
    """Direct writes of one product at a time on the invocation's Mailchimp client (one connection)."""

    def __init__(
        self,
        store: Store,
        state: CatalogState,
        mailchimp: Callable[[bool], MailchimpClient],
        dead_letters: CatalogDeadLetters | None = None,
    ) -> None:
        self.store = store
        self.state = state
        self.calls = MailchimpCalls(mailchimp)
        self._dead_letters = dead_letters

    @property
    def requests(self) -> int:
        return self.calls.requests

    def call(self, action: Callable[[MailchimpClient], T]) -> T:
        """One Mailchimp request on the invocation's client, counted (the run's `mailchimp_requests`)."""
        return self.calls.call(action)

    def put(self, body: McProduct) -> None:
        self.call(lambda client: client.upsert_product(self.store.store_id, body))

    def write(
        self,
        pending: PendingWrite,
        *,
        condition: Literal["hash", "version"],
        raise_errors: bool,
        claim: ProductClaim | None = None,
    ) -> Outcome:
        """Write to Mailchimp, then keep the record.

        `condition`: "hash" (catalog runs: only if the record is still the one read) or "version" (events, under
        the product's lease, `claim`, which the record's write gives back: unless a newer version is recorded or
        the lease was lost). Mailchimp errors are raised with `raise_errors` (the queue
        retries or dead-letters the record); otherwise a lasting refusal is dead-lettered here and a passing
        one left for the next run.
        """
        try:
            self.put(pending.body)
        except MailchimpError as error:
            if raise_errors:
                raise
            if error.retryable or isinstance(error, MailchimpAuthError):
                logger.warning(
                    "product write failed; the next run retries", product_id=pending.product_id, error=str(error)
                )
                return Outcome.RETRY_LATER
            self._dead_letter(pending, error)
            return Outcome.DEAD_LETTERED
        stored = self._record(pending, condition, claim)
        if not stored:
            logger.info("a newer change of the product was recorded meanwhile", product_id=pending.product_id)
            return Outcome.CONFLICT
        return Outcome.APPLIED

    def _record(self, pending: PendingWrite, condition: Literal["hash", "version"], claim: ProductClaim | None) -> bool:
        if condition == "version":
            if claim is None:
                raise ValueError("a product event's write is made under the product's lease")
            stored = self.state.put_product_if_newer(self.store.store_id, pending.record, claim)
        else:
            stored = not self.state.put_products(self.store.store_id, [(pending.record, pending.read_hash)])
        return stored

    def _dead_letter(self, pending: PendingWrite, error: MailchimpError) -> None:
        parked = False
        if self._dead_letters is not None:
            parked = self._dead_letters.send(self.store.store_id, pending.product_id, error)
        # The failed content is recorded with its reason, so unchanged content is not sent (and refused)
        # again every night; a change, an event or a replay of the dead letter tries again.
        reason = f"{error.status} {error.title}: {error.detail}"[:500] if parked else ""
        record = pending.record.with_changes(failed=reason) if parked else pending.record.with_changes(hash="")
        self.state.put_products(self.store.store_id, [(record, pending.read_hash)])

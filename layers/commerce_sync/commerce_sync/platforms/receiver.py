"""Receiving one webhook delivery: find the store, verify the signature, normalise, publish.

The signature is checked before the body is parsed, so a forged request learns nothing about what
a valid one looks like; nothing is published unless every step succeeded. Only a platform that names
the store inside the body (BigCommerce) reads it first, bounded: the size is capped here (413 above
MAX_BODY_BYTES) and the nesting by the adapter.

Input never causes a 5xx: whatever a payload makes a parser raise (a date out of range, a number too
large, a malformed URL, nesting past the recursion limit) is a 400 with the reason. A 5xx would make the
platform deliver the same payload again, and after a few WooCommerce disables the webhook.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Literal

from pydantic import ValidationError

from commerce_sync.aws.event_bus import EventPublisher
from commerce_sync.aws.observability import logger, metrics
from commerce_sync.aws.secret_store import SecretReader
from commerce_sync.aws.store_activity import DeliveryResult, StoreActivity
from commerce_sync.aws.store_cache import StoreLookup
from commerce_sync.aws.store_imports import ImportBook
from commerce_sync.aws.store_registry import Store
from commerce_sync.canonical.errors import (
    BadRequest,
    BodyTooLarge,
    EntityRefused,
    ImportConflict,
    PublishError,
    UnknownPlatform,
    UnknownStore,
)
from commerce_sync.canonical.model import AcceptedDelivery, CanonicalEvent, CustomerErasure, EventType
from commerce_sync.canonical.redaction import redact_emails
from commerce_sync.platforms.adapter import (
    Admitted,
    IgnoredKind,
    Normalised,
    PlatformAdapter,
    StoreApi,
    WebhookRequest,
    validation_refusal,
)
from commerce_sync.platforms.signatures import SignatureError

# The labels of a store's signing keyring (secret_store.SigningKeyring): AWSCURRENT, AWSPENDING while a
# rotation runs, and AWSPREVIOUS for WEBHOOK_SECRET_PREVIOUS_GRACE_SECONDS after the rotation retired it.
SIGNING_SECRET_LABELS = ("current", "pending", "previous")
# No platform sends a webhook near 1 MB (Shopify's largest orders are a few hundred KB); anything larger
# is refused before it is read. The HTTP API itself would take up to 10 MB.
MAX_BODY_BYTES = 1024 * 1024
# What a payload can make a parser raise; each is the payload's fault, so a 400, not a 500.
UNREADABLE_INPUT = (ValueError, OverflowError, RecursionError, UnicodeError)
# A known store's delivery answered 4xx (401, 400, 409): counted as refused in the store's activity. A 503 is not:
# the platform delivers it again, and that delivery is counted.
REFUSALS = (SignatureError, BadRequest, ImportConflict)


@dataclass(frozen=True)
class Receipt:
    status: Literal["accepted", "ignored"]
    event_ids: list[str] = field(default_factory=list)
    reason: str | None = None


class WebhookReceiver:
    def __init__(
        self,
        adapters: Mapping[str, PlatformAdapter],
        registry: StoreLookup,
        secrets: SecretReader,
        publisher: EventPublisher,
        imports: ImportBook | None = None,
        activity: StoreActivity | None = None,
    ) -> None:
        self._adapters = adapters
        self._registry = registry
        self._secrets = secrets
        self._publisher = publisher
        # The stores' canonical imports (docs/canonical-events.md#history); None: no import is ever opened.
        self._imports = imports
        # What `commerce-sync status` shows of each store's deliveries; None: nothing is recorded.
        self._activity = activity

    def receive(
        self,
        platform: str,
        headers: Mapping[str, str],
        body: bytes,
        authenticated_by_transport: bool = False,
        query: Mapping[str, str] | None = None,
    ) -> Receipt:
        """`authenticated_by_transport`: the delivery came through a channel AWS already authenticated
        (Shopify's EventBridge partner event source), which carries no signature to check. `query`: the delivery
        URL's query string parameters."""
        adapter = self._adapters.get(platform)
        if adapter is None:
            raise UnknownPlatform(f"no such platform: {platform}")
        if len(body) > MAX_BODY_BYTES:
            raise BodyTooLarge(f"the body is {len(body)} bytes; at most {MAX_BODY_BYTES} are accepted")
        request = WebhookRequest(platform=platform, headers=headers, body=body, query=dict(query or {}))
        if adapter.is_ping(request):
            return _ignored(IgnoredKind.PING, "ping")

        with _input_errors_as_bad_request():
            identity = adapter.store_identity(request)
        if adapter.identifies_by_store_id:
            store = self._registry.get(identity)
        else:
            store = self._registry.find(platform, identity)
        if store is None:
            raise UnknownStore(f"no active {platform} store is registered for this identity")
        logger.append_keys(store_id=store.store_id, platform=platform)
        try:
            receipt, topic, counted_downstream = self._receive_for(store, adapter, request, authenticated_by_transport)
        except REFUSALS:
            # No topic: before the signature is checked it is the sender's to make up, and each new one would
            # add an attribute to the store's activity item.
            self._record(store.store_id, "refused", None)
            raise
        if not counted_downstream:
            self._record(store.store_id, receipt.status, topic)
        return receipt

    def _record(self, store_id: str, result: DeliveryResult, topic: str | None) -> None:
        if self._activity is not None:
            self._activity.delivery(store_id, result, topic)

    def _receive_for(
        self, store: Store, adapter: PlatformAdapter, request: WebhookRequest, authenticated_by_transport: bool
    ) -> tuple[Receipt, str | None, bool]:
        """The delivery of a known store, its topic for the store's activity (once it is authenticated), and whether
        an event it published carries the delivery to be counted by its consumer (`stamped_with_delivery`)."""
        if not authenticated_by_transport:
            self._verify(adapter, request, store.secret_id)
        if not store.active and not adapter.may_carry_privacy_request(request):
            # Acknowledged rather than refused: a platform gives up on a subscription whose deliveries keep
            # failing (WooCommerce disables it after 5, Shopify removes it), and enabling the store again should
            # not mean making its webhooks again. Verified first, so only the store's own sender learns it.
            return (
                _ignored(IgnoredKind.STORE_DISABLED, f"store {store.store_id} is disabled; nothing is synced"),
                adapter.topic(request),
                False,
            )
        api = StoreApi(
            base_url=store.platform_api_url,
            credentials=self._secrets.current(store.secret_id).get("platform_api_credentials") or {},
        )
        normalised = erasures_if_asked(store, self._normalise(adapter, request, store, api))
        if not store.active:
            # A disabled store syncs nothing, but a shopper's privacy request is the merchant's duty all the same.
            normalised = privacy_requests_only(store, normalised)
        topic = adapter.topic(request) or ",".join(sorted({event.type.value for event in normalised.events})) or None
        if normalised.ignored_kind is not None:
            reason = normalised.ignored_reason or normalised.ignored_kind.value
            return _ignored(normalised.ignored_kind, reason), topic, False

        admitted = self._admit(adapter, store, normalised)
        published = stamped_with_delivery(admitted.events, topic)
        try:
            if published:
                self._publisher.publish(published)
        except PublishError:
            if admitted.counted_into is not None and self._imports is not None:
                # Not counted: the sender delivers them again.
                self._imports.unadmit(store.store_id, admitted.counted_into, len(admitted.events))
            raise
        metrics.add_metric(name="EventsPublished", unit="Count", value=len(admitted.events))
        types = [e.type.value for e in normalised.events]
        logger.info("webhook accepted", event_ids=admitted.accepted_ids, types=types, import_id=admitted.counted_into)
        counted_downstream = any(event.delivery is not None for event in published)
        return Receipt(status="accepted", event_ids=admitted.accepted_ids), topic, counted_downstream

    def _admit(self, adapter: PlatformAdapter, store: Store, normalised: Normalised) -> Admitted:
        if self._imports is None:
            return Admitted(events=normalised.events, accepted_ids=[e.event_id for e in normalised.events])
        return adapter.admit(store, normalised.events, self._imports)

    @staticmethod
    def _normalise(adapter: PlatformAdapter, request: WebhookRequest, store: Store, api: StoreApi) -> Normalised:
        try:
            with _input_errors_as_bad_request():
                return adapter.normalise(request, store, api)
        except EntityRefused as refusal:
            if adapter.sender_fixes_refusals:
                raise
            # The platform cannot change what its shopper typed; a 400 would only bring the same payload
            # back (or disable the webhook). Counted and logged, never dead-lettered.
            metrics.add_metric(name="EntitiesSkipped", unit="Count", value=1)
            logger.warning("entity skipped: Mailchimp would refuse it", reason=str(refusal))
            return Normalised.ignored(IgnoredKind.REFUSED, f"skipped, Mailchimp would refuse it: {refusal}")

    def _verify(self, adapter: PlatformAdapter, request: WebhookRequest, secret_id: str) -> None:
        """Accepts a signature made with any secret of the store's keyring; on a miss the keyring is
        re-read once (a rotation may have just staged or promoted a secret), then the miss is final."""
        for refresh in (False, True):
            candidates = self._secrets.signing_keyring(secret_id, refresh=refresh).usable()
            try:
                matched = adapter.verify_keyring(request, candidates)
            except SignatureError:
                if refresh:
                    raise
                continue
            label = candidates[matched].label
            metrics.add_metric(name=f"SignatureMatched{label.title()}", unit="Count", value=1)
            if label != SIGNING_SECRET_LABELS[0]:
                # Tells the operator when the previous secret stops being used (safe to revoke).
                logger.info("signature made with a rotated webhook secret", secret_label=label)
            return


def stamped_with_delivery(events: Sequence[CanonicalEvent], topic: str | None) -> list[CanonicalEvent]:
    """The events with the delivery they came in on the first one whose consumer records its outcome, None on the
    others (whatever a sender put there). The consumer counts the delivery when it writes the store's activity once
    at the end of its invocation, so an accepted delivery costs no write of its own (docs/cost.md). A store's
    erasure records nothing (its sweep must not leave an item behind), so it never carries the delivery."""
    received: AcceptedDelivery | None = AcceptedDelivery(
        topic=topic[:100] if topic else None, received_at=datetime.now(UTC)
    )
    stamped: list[CanonicalEvent] = []
    for event in events:
        carries = received if event.type is not EventType.STORE_ERASED else None
        if carries is not None:
            received = None
        stamped.append(event if event.delivery == carries else event.model_copy(update={"delivery": carries}))
    return stamped


def _ignored(kind: IgnoredKind, reason: str) -> Receipt:
    """A delivery answered 200 without publishing: counted by the kind the adapter decided (never read
    from the reason's text), logged with the reason, so that an acknowledged delivery never disappears
    without a trace (docs/outcomes.md)."""
    metrics.add_metric(name=f"WebhookIgnored_{kind.value}", unit="Count", value=1)
    # Logged without addresses: a reason may quote the payload (BigCommerce's "cart <id> no longer exists").
    logger.info("webhook ignored", ignored=kind.value, reason=redact_emails(reason))
    return Receipt(status="ignored", reason=reason)


@contextmanager
def _input_errors_as_bad_request() -> Iterator[None]:
    try:
        yield
    except ValidationError as error:
        # A model the adapter built directly (not through build_canonical): the field named all the same.
        raise validation_refusal(error) from error
    except UNREADABLE_INPUT as error:
        # The reason may quote the payload: addresses are removed and the length bounded.
        reason = redact_emails(str(error).splitlines()[0] if str(error) else type(error).__name__)[:300]
        logger.warning("webhook payload unreadable", error_type=type(error).__name__)
        raise BadRequest(f"the payload could not be read: {reason}") from error


def erasures_if_asked(store: Store, normalised: Normalised) -> Normalised:
    """A store whose option says so (`erase_on_customer_delete`, docs/privacy.md) has its platform's customer
    deletions taken as erasure requests: the same event, as `customer.erased` of that customer id."""
    if not store.erase_on_customer_delete or not normalised.events:
        return normalised
    events = [
        event.model_copy(
            update={
                "type": EventType.CUSTOMER_ERASED,
                "data": CustomerErasure(
                    customer_id=event.deleted().id, request_kind=f"{event.platform} customer deleted"
                ).model_dump(mode="json", exclude_none=True),
            }
        )
        if event.type is EventType.CUSTOMER_DELETED
        else event
        for event in normalised.events
    ]
    return replace(normalised, events=events)


PRIVACY_REQUESTS = frozenset({EventType.CUSTOMER_ERASED, EventType.CUSTOMER_DATA_REQUESTED, EventType.STORE_ERASED})


def privacy_requests_only(store: Store, normalised: Normalised) -> Normalised:
    """What a disabled store's delivery still does: its privacy requests, nothing else."""
    kept = [event for event in normalised.events if event.type in PRIVACY_REQUESTS]
    if not kept:
        return Normalised.ignored(IgnoredKind.STORE_DISABLED, f"store {store.store_id} is disabled; nothing is synced")
    return replace(normalised, events=kept)

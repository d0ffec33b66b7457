"""POST /webhooks/canonical: any platform can send our canonical events (docs/canonical-events.md).

The sender names its store in `commerce-sync-store` and signs with Standard Webhooks headers
(`webhook-id`, `webhook-timestamp`, `webhook-signature`) using the store's webhook secret.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

from commerce_sync.aws.store_imports import ImportBook
from commerce_sync.aws.store_registry import Store
from commerce_sync.canonical.errors import BadRequest
from commerce_sync.canonical.model import DATA_MODELS, CanonicalEvent, EventType, StoreErasure, StoreSync
from commerce_sync.canonical.versions import MAX_CLOCK_SKEW, is_impossible
from commerce_sync.platforms.adapter import (
    Admitted,
    Normalised,
    PlatformAdapter,
    StoreApi,
    WebhookRequest,
    parse_json,
    parse_model,
)
from commerce_sync.platforms.canonical.imports import admit
from commerce_sync.platforms.signatures import verify_standard_webhook

STORE_HEADER = "commerce-sync-store"


# The events the receiver of Mailchimp's audience webhooks makes (consent.audience_form).
MAILCHIMP_ONLY = frozenset(
    {EventType.CUSTOMER_CONSENT_WITHDRAWN, EventType.CUSTOMER_CONSENT_GRANTED, EventType.CUSTOMER_EMAIL_CHANGED}
)


class CanonicalAdapter(PlatformAdapter):
    name = "canonical"
    identifies_by_store_id = True
    sender_fixes_refusals = True

    def store_identity(self, request: WebhookRequest) -> str:
        return request.require_header(STORE_HEADER)

    def verify(self, request: WebhookRequest, secrets: Sequence[str]) -> int:
        return verify_standard_webhook(
            secrets,
            request.body,
            request.header("webhook-id"),
            request.header("webhook-timestamp"),
            request.header("webhook-signature"),
        )

    def may_carry_privacy_request(self, request: WebhookRequest) -> bool:
        return True  # any event type may come here, and normalising calls no API

    def normalise(self, request: WebhookRequest, store: Store, api: StoreApi | None = None) -> Normalised:
        event = parse_model(CanonicalEvent, parse_json(request.body))
        if event.type in MAILCHIMP_ONLY:
            # Only Mailchimp's audience webhook says what Mailchimp did; a sender's own would lift the loop guard
            # that keeps an unsubscribed contact from being opted in again (docs/consent.md).
            raise BadRequest(
                f"{event.type.value} comes from Mailchimp's audience webhook only; send the shopper's consent in "
                "customer.updated (docs/consent.md)",
                field="type",
            )
        if event.store_id != store.store_id:
            raise BadRequest(f"names store {event.store_id!r}, not the signing store", field="store_id")
        # A version or time from the future would outrank every later genuine change of the entity.
        if is_impossible(event.entity_version):
            raise BadRequest(f"is more than {MAX_CLOCK_SKEW} in the future", field="entity_version")
        if event.occurred_at > datetime.now(UTC) + MAX_CLOCK_SKEW:
            raise BadRequest(f"is more than {MAX_CLOCK_SKEW} in the future", field="occurred_at")
        data = parse_model(DATA_MODELS[event.type], event.data)
        if isinstance(data, StoreSync) and data.id != event.entity_id:
            raise BadRequest("must be the import's id (data.id)", field="entity_id")
        if isinstance(data, StoreErasure) and event.entity_id != event.store_id:
            raise BadRequest("must be the store id (store_id) of a store.erased", field="entity_id")
        # The entity as validated (e-mail lower-cased, money quantised) is what travels on.
        clean = event.model_copy(update={"data": data.model_dump(mode="json", exclude_none=True)})
        return Normalised(events=[clean])

    def admit(self, store: Store, events: Sequence[CanonicalEvent], imports: ImportBook) -> Admitted:
        return admit(imports, store, events)

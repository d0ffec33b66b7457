"""Receiving a Mailchimp audience webhook delivery (`GET|POST /webhooks/mailchimp/{store_id}?key=…`,
docs/consent.md): authenticate it by the key in its URL, read the form, refuse what is not this store's audience
or too old to tell from a replay, publish its canonical events on the bus, answer fast.

- The store comes only from the path, and is believed only with its key (commerce_sync.consent.keys): an unknown
  store, a missing key and a wrong one all get the same 404, so the route tells no one which store ids exist.
- Mailchimp validates a new webhook's URL with a GET: answered 200 once the key is right, nothing else done.
- Replays: a delivery's identity (audience, event, fired_at, contact) is claimed in DynamoDB for the replay window;
  the same delivery again is acknowledged (200, "ignored") and publishes nothing. One fired longer ago than the
  window (its claim may be gone) or more than CLOCK_SKEW ahead is refused (400), so a captured delivery cannot be
  replayed later.
- Nothing is published unless every check passed; a bus failure gives the claim back and answers 503, so
  Mailchimp's retry of it gets through.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from commerce_sync.aws.consent_records import AudienceDeliveries
from commerce_sync.aws.event_bus import EventPublisher
from commerce_sync.aws.observability import logger, metrics
from commerce_sync.aws.secret_store import SecretReader
from commerce_sync.aws.store_activity import DeliveryResult, StoreActivity
from commerce_sync.aws.store_registry import Store, StoreRegistry
from commerce_sync.canonical.errors import BadRequest, BodyTooLarge, PublishError, UnknownStore
from commerce_sync.consent.audience_form import AudienceWebhookForm, events_of, parse_form
from commerce_sync.consent.keys import matching_label
from commerce_sync.platforms.receiver import Receipt

# Mailchimp's forms are a few hundred bytes; a profile with many merge fields a few KB.
MAX_FORM_BYTES = 64 * 1024
# `fired_at` carries no time zone. It is read as UTC; should an account's deliveries be stamped in its own zone, they
# are still taken: up to the largest offset ahead of UTC (+14 h) counts as now, not as the future.
CLOCK_SKEW = timedelta(hours=14)
NO_SUCH_WEBHOOK = "no audience webhook is registered at this address"


class AudienceWebhookReceiver:
    def __init__(
        self,
        registry: StoreRegistry,
        secrets: SecretReader,
        publisher: EventPublisher,
        deliveries: AudienceDeliveries,
        activity: StoreActivity | None = None,
    ) -> None:
        self._registry = registry
        self._secrets = secrets
        self._publisher = publisher
        self._deliveries = deliveries
        self._activity = activity

    def validate(self, store_id: str, key: str | None) -> None:
        """Mailchimp's GET check of the URL: UnknownStore (404) unless the key is the store's."""
        self._authenticated(store_id, key)

    def receive(self, store_id: str, key: str | None, body: bytes, now: datetime | None = None) -> Receipt:
        store = self._authenticated(store_id, key)
        logger.append_keys(store_id=store.store_id, platform="mailchimp")
        try:
            receipt, topic = self._receive_for(store, body, now or datetime.now(UTC))
        except (BadRequest, BodyTooLarge):
            self._record(store.store_id, "refused", None)
            raise
        self._record(store.store_id, receipt.status, topic)
        return receipt

    def _authenticated(self, store_id: str, key: str | None) -> Store:
        store = self._registry.get(store_id) if store_id and len(store_id) <= 50 else None
        if store is None or not key:
            raise UnknownStore(NO_SUCH_WEBHOOK)
        for refresh in (False, True):
            candidates = self._secrets.signing_keyring(store.secret_id, refresh=refresh).usable()
            label = matching_label(candidates, store.store_id, key)
            if label is not None:
                if label != "current":
                    logger.info("audience webhook key of a rotated secret", secret_label=label)
                return store
        metrics.add_metric(name="AudienceWebhookKeyRefused", unit="Count", value=1)
        self._record(store.store_id, "refused", None)
        raise UnknownStore(NO_SUCH_WEBHOOK)

    def _receive_for(self, store: Store, body: bytes, now: datetime) -> tuple[Receipt, str | None]:
        if len(body) > MAX_FORM_BYTES:
            raise BodyTooLarge(f"the body is {len(body)} bytes; at most {MAX_FORM_BYTES} are accepted")
        form = parse_form(body)
        topic = f"mailchimp/{form.type.value}"
        if form.data.list_id != store.list_id:
            raise BadRequest(f"is not the audience of store {store.store_id}", field="data[list_id]")
        self._check_age(form, now)
        if not store.active:
            return self._ignored(f"store {store.store_id} is disabled; nothing is synced"), topic
        events = events_of(store.store_id, form, now)
        if not events:
            return self._ignored(f"a {form.type.value} event changes nothing here"), topic
        identity = form.identity()
        # Kept as long as the delivery itself would still be taken (its fired_at may be up to CLOCK_SKEW ahead).
        keep = self._deliveries.window_seconds + int(CLOCK_SKEW.total_seconds())
        if not self._deliveries.claim(store.store_id, identity, now.timestamp(), keep):
            metrics.add_metric(name="AudienceWebhookReplayed", unit="Count", value=1)
            return self._ignored("this delivery was received already; nothing is published again"), topic
        try:
            self._publisher.publish(events)
        except PublishError:
            self._deliveries.release(store.store_id, identity)
            raise
        metrics.add_metric(name="EventsPublished", unit="Count", value=len(events))
        logger.info("audience webhook accepted", types=[event.type.value for event in events])
        return Receipt(status="accepted", event_ids=[event.event_id for event in events]), topic

    def _check_age(self, form: AudienceWebhookForm, now: datetime) -> None:
        window = timedelta(seconds=self._deliveries.window_seconds)
        if form.fired_at < now - window:
            raise BadRequest(
                f"fired more than {window} ago: too old to tell from a replay, it is not taken", field="fired_at"
            )
        if form.fired_at > now + CLOCK_SKEW:
            raise BadRequest("is in the future", field="fired_at")

    def _ignored(self, reason: str) -> Receipt:
        logger.info("audience webhook ignored", reason=reason)
        return Receipt(status="ignored", reason=reason)

    def _record(self, store_id: str, result: DeliveryResult, topic: str | None) -> None:
        if self._activity is not None:
            self._activity.delivery(store_id, result, topic)

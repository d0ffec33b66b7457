"""POST /webhooks/{platform}: verify, normalise, publish; answer fast (Shopify allows 5 s).

The same function takes Shopify's Amazon EventBridge delivery (detail-type `shopifyWebhook` from the
partner event source): the payload and its X-Shopify-* metadata reach the same normaliser, so a
merchant may choose either delivery and Mailchimp ends up the same."""

from __future__ import annotations

import base64
import json
import os
from functools import cache
from http import HTTPStatus
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools.logging import correlation_paths
from commerce_sync.aws.http_api import HttpApi, HttpRequest, HttpResponse
from commerce_sync.aws.metric_names import UNKNOWN_PLATFORM, WEBHOOK_DELIVERIES
from commerce_sync.aws.observability import count_by, log_metrics, logger, metrics, tracer
from commerce_sync.aws.store_imports import ImportBook
from commerce_sync.canonical.errors import (
    BadRequest,
    BodyTooLarge,
    ImportConflict,
    NotImplementedYet,
    PublishError,
    UnknownPlatform,
    UnknownStore,
)
from commerce_sync.canonical.redaction import redact_emails
from commerce_sync.consent.keys import KEY_PARAMETER
from commerce_sync.platforms.http import StoreApiUnavailable
from commerce_sync.platforms.receiver import MAX_BODY_BYTES, WebhookReceiver
from commerce_sync.platforms.registry import adapters
from commerce_sync.platforms.shopify.eventbridge import SHOPIFY_DETAIL_TYPE, ShopifyEventBridgeDelivery
from commerce_sync.platforms.signatures import SignatureError
from commerce_sync.processing.services import IDEMPOTENCY_TTL_SECONDS, Services

if TYPE_CHECKING:
    # The handler's annotation only: imported at run time, it was 6 M instructions of cold start for nothing.
    from aws_lambda_powertools.utilities.typing import LambdaContext

    # Imported where first used (audience_receiver(), partner_dead_letters()): the Mailchimp audience webhooks and
    # the dead-lettered partner deliveries are a few of this function's requests, and platform deliveries, the
    # rest, need neither (the audience form's models, the dead-letter queue's error classes).
    from commerce_sync.consent.audience_receiver import AudienceWebhookReceiver
    from commerce_sync.processing.dead_letters import DeadLetters

app = HttpApi()
# Base64 makes 4 characters of 3 bytes; API Gateway base64-encodes binary and form bodies.
MAX_ENCODED_BODY = (MAX_BODY_BYTES + 2) // 3 * 4


@cache
def receiver() -> WebhookReceiver:
    services = Services.from_environment()
    imports = ImportBook(services.sync_state.table)
    return WebhookReceiver(
        adapters(), services.stores, services.secrets, services.publisher, imports, services.store_activity
    )


@cache
def audience_receiver() -> AudienceWebhookReceiver:
    from commerce_sync.aws.consent_records import AudienceDeliveries  # deferred: see TYPE_CHECKING above
    from commerce_sync.consent.audience_receiver import AudienceWebhookReceiver

    services = Services.from_environment()
    # The replay window is the consumers' idempotency window: within it a replay would be dropped there too.
    deliveries = AudienceDeliveries(services.sync_state.table, IDEMPOTENCY_TTL_SECONDS)
    return AudienceWebhookReceiver(
        services.registry, services.secrets, services.publisher, deliveries, services.store_activity
    )


@cache
def platforms() -> frozenset[str]:
    return frozenset(adapters())


def _count_delivery(request: HttpRequest, status: HTTPStatus) -> None:
    """Every answer to a delivery, by platform and status (the dashboard's webhooks, the refused-signature alarm).
    The path's platform is the sender's to choose: only a name the receiver knows becomes a dimension value, so
    requests to made-up paths cannot create metrics without end."""
    parameters = request.path_parameters
    named = parameters.get("platform") or ("mailchimp" if "store_id" in parameters else "")
    platform = named if named in platforms() or named == "mailchimp" else UNKNOWN_PLATFORM
    count_by(WEBHOOK_DELIVERIES, platform=platform, status=str(status.value))


def _raw_body(request: HttpRequest) -> bytes:
    if request.body is None:
        return b""
    if len(request.body) > MAX_ENCODED_BODY:
        # Refused before decoding a body the receiver would refuse anyway.
        raise BodyTooLarge(f"the body is over {MAX_BODY_BYTES} bytes")
    if not request.is_base64_encoded:
        return request.body.encode()
    try:
        return base64.b64decode(request.body, validate=True)
    except ValueError as error:
        raise BadRequest("the body is not valid base64") from error


def _error(request: HttpRequest, status: HTTPStatus, error: Exception) -> HttpResponse:
    metrics.add_metric(name=f"Webhooks{status.value}", unit="Count", value=1)
    _count_delivery(request, status)
    # Logged without addresses: a refusal may quote the payload.
    logger.info("webhook refused", status=status.value, reason=redact_emails(str(error)))
    return HttpResponse(status.value, {"error": status.phrase, "message": str(error)})


@app.route("POST /webhooks/{platform}")
@tracer.capture_method
def receive(request: HttpRequest, platform: str) -> HttpResponse:
    receipt = receiver().receive(platform, dict(request.headers), _raw_body(request), query=dict(request.query))
    status = HTTPStatus.ACCEPTED if receipt.status == "accepted" else HTTPStatus.OK
    body: dict[str, Any] = {"status": receipt.status}
    if receipt.event_ids:
        body["event_ids"] = receipt.event_ids
    if receipt.reason:
        body["reason"] = receipt.reason
    _count_delivery(request, status)
    return HttpResponse(status.value, body)


@app.route("GET /webhooks/mailchimp/{store_id}")
@tracer.capture_method
def validate_audience_webhook(request: HttpRequest, store_id: str) -> HttpResponse:
    """Mailchimp's GET check of a new audience webhook's URL (docs/consent.md)."""
    audience_receiver().validate(store_id, request.query.get(KEY_PARAMETER))
    return HttpResponse(HTTPStatus.OK.value, {"status": "ok"})


@app.route("POST /webhooks/mailchimp/{store_id}")
@tracer.capture_method
def receive_audience_webhook(request: HttpRequest, store_id: str) -> HttpResponse:
    """A Mailchimp audience webhook delivery: unsubscribe, cleaned, subscribe, upemail, profile (docs/consent.md)."""
    receipt = audience_receiver().receive(store_id, request.query.get(KEY_PARAMETER), _raw_body(request))
    status = HTTPStatus.ACCEPTED if receipt.status == "accepted" else HTTPStatus.OK
    body: dict[str, Any] = {"status": receipt.status}
    if receipt.event_ids:
        body["event_ids"] = receipt.event_ids
    if receipt.reason:
        body["reason"] = receipt.reason
    _count_delivery(request, status)
    return HttpResponse(status.value, body)


@app.exception_handler(SignatureError)
def _forged(request: HttpRequest, error: SignatureError) -> HttpResponse:
    return _error(request, HTTPStatus.UNAUTHORIZED, error)


@app.exception_handler(BadRequest)
def _bad_request(request: HttpRequest, error: BadRequest) -> HttpResponse:
    return _error(request, HTTPStatus.BAD_REQUEST, error)


@app.exception_handler(ImportConflict)
def _conflict(request: HttpRequest, error: ImportConflict) -> HttpResponse:
    return _error(request, HTTPStatus.CONFLICT, error)


@app.exception_handler(BodyTooLarge)
def _too_large(request: HttpRequest, error: BodyTooLarge) -> HttpResponse:
    return _error(request, HTTPStatus.REQUEST_ENTITY_TOO_LARGE, error)


@app.exception_handler(UnknownPlatform, UnknownStore)
def _not_found(request: HttpRequest, error: Exception) -> HttpResponse:
    return _error(request, HTTPStatus.NOT_FOUND, error)


@app.exception_handler(NotImplementedYet)
def _not_implemented(request: HttpRequest, error: NotImplementedYet) -> HttpResponse:
    return _error(request, HTTPStatus.NOT_IMPLEMENTED, error)


@app.exception_handler(PublishError, StoreApiUnavailable)
def _unavailable(request: HttpRequest, error: Exception) -> HttpResponse:
    # The platform delivers again later (Shopify for 4 h, BigCommerce for 48 h): nothing is lost.
    return _error(request, HTTPStatus.SERVICE_UNAVAILABLE, error)


@cache
def partner_dead_letters() -> DeadLetters:
    from commerce_sync.processing.dead_letters import DeadLetters  # deferred: see TYPE_CHECKING above

    return DeadLetters(os.environ.get("PARTNER_EVENTS_DEAD_LETTER_QUEUE_URL"), max_receive_count=1)


def receive_partner_event(event: dict[str, Any]) -> dict[str, Any]:
    """An EventBridge delivery: AWS authenticated the partner source, so there is no signature. A
    delivery that can never be used is dead-lettered with the reason; anything else that fails is
    raised, so EventBridge retries it (and dead-letters it itself after its retry policy)."""
    delivery = ShopifyEventBridgeDelivery.model_validate(event)
    logger.set_correlation_id(delivery.id)
    try:
        receipt = receiver().receive(
            "shopify", delivery.detail.metadata, delivery.detail.payload_bytes(), authenticated_by_transport=True
        )
    except (BadRequest, BodyTooLarge, UnknownStore, NotImplementedYet) as error:
        partner_dead_letters().keep(json.dumps(event), error, source=delivery.source)
        return {"status": "dead_lettered", "reason": str(error)}
    return {"status": receipt.status, "event_ids": receipt.event_ids, "reason": receipt.reason}


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_HTTP, clear_state=True)
@log_metrics
@tracer.capture_lambda_handler
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    if event.get("detail-type") == SHOPIFY_DETAIL_TYPE:
        return receive_partner_event(event)
    return app.resolve(event)

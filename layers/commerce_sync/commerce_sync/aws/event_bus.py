"""Publishing canonical events to the EventBridge bus that routes them to the processing queues, and
reading them back from a queue record, through a claim check when an event is too large for the bus.

EventBridge refuses a PutEvents request whose entries total 256 KB or more. A cart or an order of a
few thousand lines makes a canonical event larger than that, and a store must never be refused for
size: such an event is stored whole in the claim-check bucket (ClaimChecks.check_in) and the bus
carries a ClaimCheckReference in its place, with the envelope fields the rules and consumers use and
where the event is, with its sha256. A consumer turns the reference back into the very event
(BusMessage.event) before anything else sees it, so everything downstream, dead-letter replay
included, works on references unchanged.
"""

import base64
import hashlib
from collections.abc import Mapping, Sequence
from typing import Annotated, Any, Literal
from urllib.parse import quote

import boto3
from botocore.exceptions import BotoCoreError, ClientError
from pydantic import BaseModel, ConfigDict, Discriminator, Field, Tag

from commerce_sync.aws.bus_entries import BusMessagePublisher, entry_size, event_source
from commerce_sync.aws.observability import logger, metrics
from commerce_sync.canonical.errors import PublishError
from commerce_sync.canonical.model import CanonicalEvent, EventType, Identifier, Timestamp

# Larger events go by claim check. The 16 KiB below the request limit is headroom for what wraps an
# entry on its way: the envelope EventBridge puts around `detail` (id, account, time, region,
# resources: a few hundred bytes) and a dead letter's reason attributes (about 1.3 KB), which must
# all fit one SQS message of a queue still at the former 256 KiB maximum message size.
INLINE_ENTRY_MAX_BYTES = 240 * 1024

# The template grants the receiver PutObject and the consumers GetObject under this prefix only.
CLAIM_CHECK_PREFIX = "canonical-events/"

# The envelope fields a reference repeats, which the stored event must match.
ENVELOPE_FIELDS = (
    "schema_version",
    "event_id",
    "type",
    "store_id",
    "platform",
    "occurred_at",
    "entity_id",
    "entity_version",
)


def to_entry(event: CanonicalEvent, bus_name: str) -> dict[str, Any]:
    """No `Time`: EventBridge then stamps the event with when it was put on the bus, which is what the archive's
    replay windows select by (`commerce-sync replay --from --to`: what arrived then). When the change happened is
    the detail's `occurred_at`."""
    return {
        "EventBusName": bus_name,
        "Source": event_source(event.platform),
        "DetailType": event.type.value,
        "Detail": event.model_dump_json(),
    }


def claim_key(store_id: str, event_id: str) -> str:
    """canonical-events/<store id>/<sha256 of the event id>.json. The event id is stable across
    redeliveries, so a redelivered event overwrites its object instead of adding one; its digest keeps
    an id of any length and alphabet to a fixed, key-safe form. The store id is percent-encoded, so
    one store's objects can never be named under another's folder."""
    digest = hashlib.sha256(event_id.encode("utf-8")).hexdigest()
    return f"{CLAIM_CHECK_PREFIX}{quote(store_id, safe='')}/{digest}.json"


class ClaimCheckError(Exception):
    """A claim-check reference that cannot be turned back into its event. `permanent`: retrying the
    record cannot help (the dead-letter queue takes it at once, with this message)."""

    def __init__(self, message: str, permanent: bool = True) -> None:
        super().__init__(message)
        self.permanent = permanent


class Claim(BaseModel):
    """Where a checked-in event is, and the sha256 of its stored bytes."""

    # defer_build (here, on ClaimCheckReference and BusMessage): validators built on first use, not at import. Only
    # an event too large for the bus is checked in, and the webhooks function, which imports this module to
    # publish, never reads a bus message.
    model_config = ConfigDict(extra="ignore", frozen=True, defer_build=True)

    bucket: Annotated[str, Field(min_length=3, max_length=63)]
    key: Annotated[str, Field(min_length=1, max_length=1024)]
    sha256: Annotated[str, Field(pattern=r"^[0-9a-f]{64}$")]
    size: Annotated[int, Field(ge=0)]


class ClaimCheckReference(BaseModel):
    """The bus `detail` in place of an event too large for the bus: the event's envelope (what the
    rules route on, what the consumers log and deduplicate by) without its `data`, and the claim."""

    model_config = ConfigDict(extra="ignore", frozen=True, defer_build=True)

    schema_version: Literal["1"] = "1"
    event_id: Identifier
    type: EventType
    store_id: Identifier
    platform: Identifier
    occurred_at: Timestamp
    entity_id: Identifier
    entity_version: Identifier
    claim_check: Claim

    @classmethod
    def of(cls, event: CanonicalEvent, claim: Claim) -> "ClaimCheckReference":
        return cls(**{name: getattr(event, name) for name in ENVELOPE_FIELDS}, claim_check=claim)

    def mismatches(self, event: CanonicalEvent) -> list[str]:
        return [name for name in ENVELOPE_FIELDS if getattr(event, name) != getattr(self, name)]


class ClaimChecks:
    """The claim-check bucket: the receiver checks oversized events in, the consumers check them out.
    `bucket` is this stack's (CLAIM_CHECK_BUCKET); a reference to any other bucket is refused."""

    def __init__(self, bucket: str | None, client: Any | None = None) -> None:
        self.bucket = bucket
        self._client = client

    @property
    def client(self) -> Any:
        if self._client is None:
            self._client = boto3.client("s3")
        return self._client

    def check_in(self, event: CanonicalEvent, body: bytes) -> Claim:
        """Store `body` (the event's JSON) and say where; any failure is a PublishError (503), so the
        platform delivers again rather than losing the event."""
        if not self.bucket:
            raise PublishError(
                f"event {event.event_id} is too large for the event bus and no claim-check bucket is configured"
                " (CLAIM_CHECK_BUCKET)"
            )
        digest = hashlib.sha256(body)
        key = claim_key(event.store_id, event.event_id)
        try:
            self.client.put_object(
                Bucket=self.bucket,
                Key=key,
                Body=body,
                ContentType="application/json",
                # S3 refuses the upload if the bytes it received are not the ones hashed here.
                ChecksumSHA256=base64.b64encode(digest.digest()).decode("ascii"),
            )
        except (ClientError, BotoCoreError) as error:
            raise PublishError(f"the claim-check bucket did not take event {event.event_id}: {error}") from error
        return Claim(bucket=self.bucket, key=key, sha256=digest.hexdigest(), size=len(body))

    def check_out(self, reference: ClaimCheckReference) -> CanonicalEvent:
        """The event a reference stands for, only if it is exactly the one that was checked in."""
        claim = reference.claim_check
        where = f"s3://{claim.bucket}/{claim.key}"
        if self.bucket and claim.bucket != self.bucket:
            raise ClaimCheckError(f"claim check {where} is not in this stack's claim-check bucket ({self.bucket})")
        try:
            body = self.client.get_object(Bucket=claim.bucket, Key=claim.key)["Body"].read()
        except ClientError as error:
            code = str(error.response.get("Error", {}).get("Code", ""))
            if code in {"NoSuchKey", "404"}:
                raise ClaimCheckError(
                    f"claim check {where} of event {reference.event_id} is missing (expired or deleted)"
                ) from error
            if code in {"AccessDenied", "403"}:
                # Without s3:ListBucket, S3 answers 403 for a missing object too; a policy fix heals it.
                raise ClaimCheckError(
                    f"claim check {where} of event {reference.event_id} is missing or not readable (403)",
                    permanent=False,
                ) from error
            raise
        digest = hashlib.sha256(body).hexdigest()
        if digest != claim.sha256:
            raise ClaimCheckError(
                f"claim check {where} of event {reference.event_id} has sha256 {digest}, not the {claim.sha256}"
                " its reference names: the object changed after the reference was published"
            )
        event = CanonicalEvent.model_validate_json(body)
        mismatched = reference.mismatches(event)
        if mismatched:
            raise ClaimCheckError(
                f"claim check {where} holds an event that does not match its reference ({', '.join(mismatched)})"
            )
        return event


class EventPublisher(BusMessagePublisher):
    """Publishes canonical events (BusMessagePublisher puts their entries, and republishes parked messages)."""

    def __init__(self, bus_name: str, client: Any | None = None, claim_checks: ClaimChecks | None = None) -> None:
        super().__init__(bus_name, client)
        self._claim_checks = claim_checks or ClaimChecks(None)

    def publish(self, events: Sequence[CanonicalEvent]) -> None:
        # Every oversized event is checked in before anything is published: a consumer can never
        # receive a reference to an object that is not there yet.
        self.put([self._entry(event) for event in events])

    def _entry(self, event: CanonicalEvent) -> dict[str, Any]:
        entry = to_entry(event, self._bus_name)
        size = entry_size(entry)
        if size <= INLINE_ENTRY_MAX_BYTES:
            return entry
        claim = self._claim_checks.check_in(event, entry["Detail"].encode("utf-8"))
        metrics.add_metric(name="EventsClaimChecked", unit="Count", value=1)
        logger.info("event checked in to the claim check", event_id=event.event_id, entry_bytes=size, key=claim.key)
        return {**entry, "Detail": ClaimCheckReference.of(event, claim).model_dump_json()}


def _detail_kind(detail: Any) -> str:
    if isinstance(detail, Mapping):
        return "claim_check" if "claim_check" in detail else "event"
    return "claim_check" if isinstance(detail, ClaimCheckReference) else "event"


BusDetail = Annotated[
    Annotated[CanonicalEvent, Tag("event")] | Annotated[ClaimCheckReference, Tag("claim_check")],
    Discriminator(_detail_kind),
]


class BusMessage(BaseModel):
    """An EventBridge event as an SQS target receives it. Only what we use is required: Powertools'
    EventBridgeModel also demands `account`, `region` and `time`, which moto's delivery omits. Its
    `detail` is a canonical event, or a claim-check reference to one."""

    model_config = ConfigDict(extra="ignore", populate_by_name=True, defer_build=True)

    id: str | None = None
    source: str | None = None
    detail_type: str = Field(alias="detail-type")
    detail: BusDetail

    def event(self, claim_checks: ClaimChecks | None = None) -> CanonicalEvent:
        if isinstance(self.detail, ClaimCheckReference):
            if claim_checks is None:
                raise ClaimCheckError(
                    f"event {self.detail.event_id} came by claim check and there is no bucket to read it from",
                    permanent=False,
                )
            event = claim_checks.check_out(self.detail)
        else:
            event = self.detail
        if self.detail_type != event.type.value:
            raise ValueError(f"detail-type {self.detail_type!r} does not match the event type {event.type}")
        return event


def event_from_message(body: dict[str, Any], claim_checks: ClaimChecks | None = None) -> CanonicalEvent:
    """The canonical event a bus message carries, fetched from the claim-check bucket when the message
    holds a reference (ClaimCheckError says why one cannot be used)."""
    return BusMessage.model_validate(body).event(claim_checks)

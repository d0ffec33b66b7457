"""A Mailchimp audience webhook delivery: its form-encoded body, read into a model, and the canonical events it
makes (docs/consent.md).

Mailchimp posts `application/x-www-form-urlencoded`: `type`, `fired_at` (`YYYY-MM-DD HH:MM:SS`, UTC) and
`data[...]`, nested with brackets (`data[merges][EMAIL]`). Per type, what is read:
- subscribe, unsubscribe, profile: `data[list_id]`, `data[email]`, `data[id]` (unsubscribe also `data[action]`
  and `data[reason]`);
- cleaned: `data[list_id]`, `data[email]`, `data[reason]` (hard, abuse);
- upemail: `data[list_id]`, `data[old_email]`, `data[new_email]`, `data[new_id]`;
- campaign: `data[list_id]` (nothing is done with it).
Anything else in the form is ignored.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from enum import StrEnum
from typing import Annotated, Any
from urllib.parse import parse_qsl

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from commerce_sync.canonical.emails import subscriber_hash
from commerce_sync.canonical.errors import BadRequest
from commerce_sync.canonical.model import (
    CanonicalEvent,
    ConsentChange,
    Email,
    EmailChange,
    EventType,
    make_event,
)
from commerce_sync.canonical.versions import version_from_timestamp

MAX_FIELDS = 200
PLATFORM = "mailchimp"
FIRED_AT_FORMAT = "%Y-%m-%d %H:%M:%S"
Text = Annotated[str, Field(max_length=255)]


class AudienceEventType(StrEnum):
    SUBSCRIBE = "subscribe"
    UNSUBSCRIBE = "unsubscribe"
    PROFILE = "profile"
    CLEANED = "cleaned"
    UPEMAIL = "upemail"
    CAMPAIGN = "campaign"


NEEDS_EMAIL = frozenset(
    {AudienceEventType.SUBSCRIBE, AudienceEventType.UNSUBSCRIBE, AudienceEventType.PROFILE, AudienceEventType.CLEANED}
)


class AudienceData(BaseModel):
    model_config = ConfigDict(extra="ignore", str_strip_whitespace=True, frozen=True)

    list_id: Annotated[str, Field(min_length=1, max_length=100)]
    id: Text | None = None
    email: Email | None = None
    action: Text | None = None
    reason: Text | None = None
    new_id: Text | None = None
    new_email: Email | None = None
    old_email: Email | None = None


class AudienceWebhookForm(BaseModel):
    model_config = ConfigDict(extra="ignore", str_strip_whitespace=True, frozen=True)

    type: AudienceEventType
    fired_at: datetime
    data: AudienceData

    @field_validator("fired_at", mode="before")
    @classmethod
    def _mailchimp_time(cls, value: Any) -> Any:
        if isinstance(value, str):
            try:
                return datetime.strptime(value.strip(), FIRED_AT_FORMAT).replace(tzinfo=UTC)
            except ValueError:
                raise ValueError(f"must be a time as {FIRED_AT_FORMAT.replace('%', '')} (UTC)") from None
        return value

    @model_validator(mode="after")
    def _what_the_type_needs(self) -> AudienceWebhookForm:
        if self.type in NEEDS_EMAIL and self.data.email is None:
            raise ValueError(f"a {self.type.value} event names the contact: data[email] is missing")
        if self.type is AudienceEventType.UPEMAIL and (self.data.old_email is None or self.data.new_email is None):
            raise ValueError("an upemail event names both addresses: data[old_email] and data[new_email]")
        return self

    def identity(self) -> str:
        """What tells one delivery from another (Mailchimp sends no delivery id): the audience, the event, when it
        fired and whom it is about."""
        who = self.data.id or self.data.new_id or self.data.email or self.data.old_email or ""
        return "|".join((self.data.list_id, self.type.value, self.fired_at.isoformat(), who))


def _nest(pairs: list[tuple[str, str]]) -> dict[str, Any]:
    """`data[merges][EMAIL]=x` → {"data": {"merges": {"EMAIL": "x"}}}; a later value of a key wins."""
    form: dict[str, Any] = {}
    for raw_key, value in pairs:
        head, _, rest = raw_key.partition("[")
        path = [head] + ([part.rstrip("]") for part in rest.split("[")] if rest else [])
        node = form
        for part in path[:-1]:
            child = node.get(part)
            if not isinstance(child, dict):
                child = node[part] = {}
            node = child
        node[path[-1]] = value
    return form


def _field_name(location: tuple[int | str, ...]) -> str:
    head, *rest = [str(part) for part in location] or ["body"]
    return head + "".join(f"[{part}]" for part in rest)


def parse_form(body: bytes) -> AudienceWebhookForm:
    """The delivery's model; BadRequest naming the field when the body is not one (never quoting an address)."""
    try:
        text = body.decode("utf-8")
        pairs = parse_qsl(text, keep_blank_values=True, strict_parsing=bool(text), max_num_fields=MAX_FIELDS)
    except (UnicodeDecodeError, ValueError) as error:
        raise BadRequest(
            f"the body is not a form (application/x-www-form-urlencoded): {type(error).__name__}"
        ) from error
    try:
        return AudienceWebhookForm.model_validate(_nest(pairs))
    except ValidationError as error:
        first = error.errors(include_input=False, include_url=False)[0]
        location = tuple(part for part in first["loc"] if part != "__root__")
        name = _field_name(location) if location else "the form"
        raise BadRequest(str(first["msg"]), field=name) from error


def event_id(store_id: str, form: AudienceWebhookForm) -> str:
    digest = hashlib.sha256(f"{store_id}|{form.identity()}".encode()).hexdigest()[:40]
    return f"mailchimp-{form.type.value}-{digest}"


def events_of(store_id: str, form: AudienceWebhookForm, now: datetime | None = None) -> list[CanonicalEvent]:
    """The canonical events of one delivery: unsubscribe and cleaned withdraw consent, subscribe grants it, upemail
    changes the address; profile and campaign make none. The store is the authenticated route's, never the body's."""
    data = form.data
    version = version_from_timestamp(form.fired_at, now)
    common = {"event_id": event_id(store_id, form), "store_id": store_id, "platform": PLATFORM}
    if form.type in (AudienceEventType.UNSUBSCRIBE, AudienceEventType.CLEANED, AudienceEventType.SUBSCRIBE):
        assert data.email is not None  # the model's validator
        reason = form.type.value if data.reason is None else f"{form.type.value}: {data.reason}"
        kind = (
            EventType.CUSTOMER_CONSENT_GRANTED
            if form.type is AudienceEventType.SUBSCRIBE
            else EventType.CUSTOMER_CONSENT_WITHDRAWN
        )
        change = ConsentChange(email=data.email, reason=reason[:255], changed_at=form.fired_at)
        return [
            make_event(
                event_type=kind,
                entity=change,
                entity_id=subscriber_hash(data.email),
                entity_version=version,
                occurred_at=form.fired_at,
                **common,
            )
        ]
    if form.type is AudienceEventType.UPEMAIL:
        assert data.old_email is not None and data.new_email is not None
        moved = EmailChange(old_email=data.old_email, new_email=data.new_email, changed_at=form.fired_at)
        return [
            make_event(
                event_type=EventType.CUSTOMER_EMAIL_CHANGED,
                entity=moved,
                entity_id=subscriber_hash(data.old_email),
                entity_version=version,
                occurred_at=form.fired_at,
                **common,
            )
        ]
    return []

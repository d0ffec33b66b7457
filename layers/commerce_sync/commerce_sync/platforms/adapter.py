"""Platform adapters: how each platform identifies the store, signs deliveries and shapes payloads.

An adapter turns one verified webhook delivery into canonical events. The receiver (commerce_sync.
receiver) owns the order of work: find the store, verify, parse, normalise, publish.
"""

from __future__ import annotations

import json
import re
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from functools import cached_property
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from commerce_sync.aws.secret_store import SigningSecret
from commerce_sync.aws.store_imports import ImportBook
from commerce_sync.aws.store_registry import Store
from commerce_sync.canonical.errors import BadRequest, EntityRefused
from commerce_sync.canonical.model import MAILCHIMP_REFUSES, CanonicalEvent

ModelT = TypeVar("ModelT", bound=BaseModel)


@dataclass(frozen=True)
class WebhookRequest:
    platform: str
    headers: Mapping[str, str]
    body: bytes
    # The delivery URL's query string: where a platform that signs nothing of ours lets us put the store and a
    # token (API2Cart's callback URL).
    query: Mapping[str, str] = field(default_factory=dict)

    def header(self, name: str) -> str | None:
        """Case-insensitive: the HTTP API lower-cases header names, other front doors may not."""
        wanted = name.lower()
        for key, value in self.headers.items():
            if key.lower() == wanted:
                return value
        return None

    def require_header(self, name: str) -> str:
        value = self.header(name)
        if not value:
            raise BadRequest(f"the {name} header is required")
        return value

    @cached_property
    def unauthenticated_json(self) -> Any:
        """The body parsed for a platform that names the store (and the topic) inside it, bounded as
        parse_unauthenticated_json says; parsed once per delivery, however many readers ask."""
        return parse_unauthenticated_json(self.body)


@dataclass(frozen=True)
class StoreApi:
    """What an adapter needs to call the store's own API (BigCommerce payloads carry only ids): the
    base URL from the registry and the credentials from the store's secret (`platform_api_credentials`)."""

    base_url: str | None
    credentials: Mapping[str, Any] = field(default_factory=dict)


class IgnoredKind(StrEnum):
    """Why a delivery was acknowledged (200) without publishing anything, as the platform decided it: the
    receiver counts it as the metric `WebhookIgnored_<kind>` (a handful of values, whatever ids the reason
    names). docs/outcomes.md says what each means."""

    PING = "ping"
    NOT_HANDLED = "not_handled"
    GONE = "gone"
    REFUSED = "refused"
    SKIPPED = "skipped"
    DRAFT_ORDER = "draft_order"
    ORDER_EDIT = "order_edit"
    # The store is registered but disabled (`commerce-sync stores disable`): decided by the receiver, not an adapter.
    STORE_DISABLED = "store_disabled"


@dataclass(frozen=True)
class Normalised:
    """The adapter's answer: events to publish, or why the delivery was deliberately ignored (a kind, for
    the metric, and a reason, for the log line; `Normalised.ignored` sets both)."""

    events: Sequence[CanonicalEvent] = ()
    ignored_reason: str | None = None
    ignored_kind: IgnoredKind | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if (self.ignored_reason is None) != (self.ignored_kind is None):
            raise ValueError("an ignored delivery names both its kind and its reason")

    @classmethod
    def ignored(cls, kind: IgnoredKind, reason: str) -> Normalised:
        return cls(ignored_kind=kind, ignored_reason=reason)


@dataclass(frozen=True)
class Admitted:
    """What the receiver publishes of a delivery's events (an import's opening publishes none), the ids it
    answers with, and the store import the events were counted into (taken back if publishing fails)."""

    events: Sequence[CanonicalEvent] = ()
    accepted_ids: list[str] = field(default_factory=list)
    counted_into: str | None = None


class PlatformAdapter(ABC):
    name: str
    # True when store_identity() is our store id rather than the platform's own identity: canonical
    # events may come from a store registered under any platform (a WooCommerce site's cart plugin).
    identifies_by_store_id: bool = False
    # True when the sender can fix a payload we answer 400 (the canonical route); a platform cannot, so a
    # value Mailchimp would refuse skips the entity instead (errors.EntityRefused).
    sender_fixes_refusals: bool = False

    def may_carry_privacy_request(self, request: WebhookRequest) -> bool:
        """Whether the delivery may be a privacy request (an erasure, a data request, a customer deletion a store
        takes as an erasure): those are carried out even for a disabled store (docs/privacy.md). Cheap: no API
        call, and normalising such a delivery calls none either."""
        return False

    def is_ping(self, request: WebhookRequest) -> bool:
        """A platform's liveness probe, answered 200 with nothing done (WooCommerce sends one)."""
        return False

    def topic(self, request: WebhookRequest) -> str | None:
        """What the platform calls the delivery (Shopify's `orders/paid`), for the store's activity; asked only
        once the delivery is authenticated. None: the receiver names it by the event types it published."""
        return None

    @abstractmethod
    def store_identity(self, request: WebhookRequest) -> str:
        """The platform's identity of the sending store, from the unverified request (used only to
        find which secret to verify with)."""

    @abstractmethod
    def verify(self, request: WebhookRequest, secrets: Sequence[str]) -> int:
        """Index of the secret that signed the delivery; raises signatures.SignatureError."""

    def verify_keyring(self, request: WebhookRequest, keyring: Sequence[SigningSecret]) -> int:
        """Index of the keyring entry (one per usable version of the store's secret) that authenticates the
        delivery; raises signatures.SignatureError. Most platforms have one key per version, its
        webhook_secret; BigCommerce, which may hold a second (the app's client secret), overrides this."""
        return self.verify(request, [entry.value for entry in keyring])

    @abstractmethod
    def normalise(self, request: WebhookRequest, store: Store, api: StoreApi | None = None) -> Normalised:
        """Canonical events for a verified delivery; raises errors.BadRequest for unusable payloads."""

    def admit(self, store: Store, events: Sequence[CanonicalEvent], imports: ImportBook) -> Admitted:
        """The normalised events as the receiver publishes them. Only the canonical format carries imports of
        history (docs/canonical-events.md#history); a platform's events are published as they are."""
        return Admitted(events=events, accepted_ids=[event.event_id for event in events])


# Real payloads nest about seven levels (an order's line's tax line's price set's shop money).
MAX_JSON_DEPTH = 32
_JSON_STRING = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"', re.DOTALL)
_ALL_BUT_BRACKETS = bytes(sorted(set(range(256)) - set(b"[]{}")))
_OPENING = frozenset(b"[{")


def parse_json(body: bytes) -> Any:
    """A body as JSON, or a 400 naming the problem. Python's parser recurses and stops at the interpreter's
    recursion limit: nesting that deep is a 400 too, never a 500."""
    try:
        return json.loads(body)
    except RecursionError as error:
        raise BadRequest("the body is nested too deeply") from error
    except (UnicodeDecodeError, ValueError) as error:
        raise BadRequest(f"the body is not valid JSON ({error})") from error


def parse_unauthenticated_json(body: bytes) -> Any:
    """For the one read that must happen before the signature is checked (a platform that names the store
    only in the body): the nesting is capped before the parser sees it."""
    check_json_depth(body)
    return parse_json(body)


def check_json_depth(body: bytes, limit: int = MAX_JSON_DEPTH) -> None:
    """Refuse JSON nested deeper than `limit` without recursing: strings are cut out and everything but
    brackets dropped (at C speed), then the brackets are walked. Unpaired brackets are left for the JSON
    parser to report."""
    depth = 0
    for bracket in _JSON_STRING.sub(b"", body).translate(None, _ALL_BUT_BRACKETS):
        if bracket in _OPENING:
            depth += 1
            if depth > limit:
                raise BadRequest(f"the body is nested deeper than {limit} levels")
        else:
            depth -= 1


@dataclass(frozen=True)
class BodyShape:
    """What a topic's body must and must not carry. Platforms that sign only the body (Shopify,
    WooCommerce) name the topic in an unsigned header: a captured signed body resent under another topic
    (an update as a delete, a checkout as an order) must not pass. A forbidden key counts only when it
    holds something (real deletion payloads carry a few empty fields)."""

    needs: frozenset[str] = frozenset()
    forbids: frozenset[str] = frozenset()

    @classmethod
    def of(cls, needs: str = "", forbids: str = "") -> BodyShape:
        return cls(needs=frozenset(needs.split()), forbids=frozenset(forbids.split()))

    def check(self, topic: str, payload: Any) -> None:
        if not isinstance(payload, dict):
            raise BadRequest(f"a {topic} body must be a JSON object", field="body")
        missing = sorted(self.needs - payload.keys())
        if missing:
            raise BadRequest(f"is required in a {topic} payload", field=missing[0])
        carried = sorted(key for key in self.forbids & payload.keys() if payload[key] not in (None, [], {}, ""))
        if carried:
            raise BadRequest(f"the body is not a {topic} payload: it carries {', '.join(carried)}", field="topic")


def validation_refusal(error: ValidationError) -> BadRequest:
    """The first problem as a 400 naming the field; EntityRefused when every problem is a value that is
    well-formed but that Mailchimp would refuse."""
    problems = error.errors()
    first = problems[0]
    location = ".".join(str(part) for part in first["loc"]) or "body"
    if all(problem["type"] == MAILCHIMP_REFUSES for problem in problems):
        return EntityRefused(first["msg"], field=location)
    return BadRequest(first["msg"], field=location)


def parse_model(model: type[ModelT], payload: Any) -> ModelT:
    """Validate a payload, turning the first problem into a 400 that names the field."""
    try:
        return model.model_validate(payload)
    except ValidationError as error:
        raise validation_refusal(error) from error


def build_canonical(build: Callable[[], ModelT]) -> ModelT:
    """Run an adapter's mapping into the canonical model; a value the model refuses is a 400, not a 500."""
    try:
        return build()
    except ValidationError as error:
        raise validation_refusal(error) from error

"""Platform adapters: how each platform identifies the store, signs deliveries and shapes payloads.

An adapter turns one verified webhook delivery into canonical events. The receiver (commerce_sync.
receiver) owns the order of work: find the store, verify, parse, normalise, publish.
"""

from __future__ import annotations

import json
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from commerce_sync.canonical import CanonicalEvent
from commerce_sync.errors import BadRequest
from commerce_sync.store_registry import Store

ModelT = TypeVar("ModelT", bound=BaseModel)


@dataclass(frozen=True)
class WebhookRequest:
    platform: str
    headers: Mapping[str, str]
    body: bytes

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


@dataclass(frozen=True)
class StoreApi:
    """What an adapter needs to call the store's own API (BigCommerce payloads carry only ids): the
    base URL from the registry and the credentials from the store's secret (`platform_api_credentials`)."""

    base_url: str | None
    credentials: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Normalised:
    """The adapter's answer: events to publish, or why the delivery was deliberately ignored."""

    events: Sequence[CanonicalEvent] = ()
    ignored_reason: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)


class PlatformAdapter(ABC):
    name: str
    # True when store_identity() is our store id rather than the platform's own identity: canonical
    # events may come from a store registered under any platform (a WooCommerce site's cart plugin).
    identifies_by_store_id: bool = False

    def is_ping(self, request: WebhookRequest) -> bool:
        """A platform's liveness probe, answered 200 with nothing done (WooCommerce sends one)."""
        return False

    @abstractmethod
    def store_identity(self, request: WebhookRequest) -> str:
        """The platform's identity of the sending store, from the unverified request (used only to
        find which secret to verify with)."""

    @abstractmethod
    def verify(self, request: WebhookRequest, secrets: Sequence[str]) -> int:
        """Index of the secret that signed the delivery; raises signatures.SignatureError."""

    @abstractmethod
    def normalise(self, request: WebhookRequest, store: Store, api: StoreApi | None = None) -> Normalised:
        """Canonical events for a verified delivery; raises errors.BadRequest for unusable payloads."""


def parse_json(body: bytes) -> Any:
    try:
        return json.loads(body)
    except (UnicodeDecodeError, ValueError) as error:
        raise BadRequest(f"the body is not valid JSON ({error})") from error


def parse_model(model: type[ModelT], payload: Any) -> ModelT:
    """Validate a payload, turning the first problem into a 400 that names the field."""
    try:
        return model.model_validate(payload)
    except ValidationError as error:
        first = error.errors()[0]
        location = ".".join(str(part) for part in first["loc"]) or "body"
        raise BadRequest(first["msg"], field=location) from error


def build_canonical(build: Callable[[], ModelT]) -> ModelT:
    """Run an adapter's mapping into the canonical model; a value the model refuses is a 400, not a 500."""
    try:
        return build()
    except ValidationError as error:
        first = error.errors()[0]
        location = ".".join(str(part) for part in first["loc"]) or "body"
        raise BadRequest(first["msg"], field=location) from error


def adapters() -> dict[str, PlatformAdapter]:
    from commerce_sync.platforms.bigcommerce import BigCommerceAdapter
    from commerce_sync.platforms.canonical import CanonicalAdapter
    from commerce_sync.platforms.shopify import ShopifyAdapter
    from commerce_sync.platforms.woocommerce import WooCommerceAdapter

    available: list[PlatformAdapter] = [
        ShopifyAdapter(),
        WooCommerceAdapter(),
        BigCommerceAdapter(),
        CanonicalAdapter(),
    ]
    return {adapter.name: adapter for adapter in available}

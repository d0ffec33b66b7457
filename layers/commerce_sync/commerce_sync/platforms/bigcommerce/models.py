"""BigCommerce's payloads: the webhook envelope every delivery shares (its `data` varies with the scope), the
cart, customer and newsletter-subscriber resources its API answers, and the helpers both the cart and the
order adapters use to read them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from commerce_sync.canonical.errors import BadRequest
from commerce_sync.canonical.model import ConsentState, EntityId, MarketingConsent
from commerce_sync.canonical.versions import claimed_time

PLATFORM = "bigcommerce"
# The header our hooks carry: the store's webhook secret, set when the hook is registered (and rotated).
TOKEN_HEADER = "X-Commerce-Sync-Token"
MARKETING_CONSENT = "marketing_newsletter"

ModelT = TypeVar("ModelT", bound=BaseModel)


class BcModel(BaseModel):
    model_config = ConfigDict(extra="ignore", coerce_numbers_to_str=True, populate_by_name=True)


class BcWebhook(BcModel):
    """The envelope every delivery shares; `data` varies with the scope (see the scope models)."""

    scope: str = Field(min_length=1)
    store_id: str | None = None
    producer: str = Field(pattern=r"^stores/[A-Za-z0-9]+$")
    hash: str | None = None
    # Unix seconds; bounded so that no value can overflow a date (10^11 s is the year 5138).
    created_at: int = Field(ge=0, lt=10**11)
    data: dict[str, Any] = {}

    @property
    def occurred_at(self) -> datetime:
        """When BigCommerce says it fired. A token-authenticated delivery signs nothing, so this time is
        believed only within a day before now (sync_state.claimed_time), like any unsigned header."""
        return claimed_time(datetime.fromtimestamp(self.created_at, UTC))

    @property
    def event_id(self) -> str:
        if self.hash:
            return f"{PLATFORM}:{self.hash}:{self.scope}:{self.created_at}"
        data = self.data if isinstance(self.data, dict) else self.data.model_dump()
        return f"{PLATFORM}:{self.scope}:{data.get('id')}:{self.created_at}"


class BcEntityData(BcModel):
    type: str | None = None
    # Goes into a store API path (fetch by id) and on to Mailchimp's: no path syntax.
    id: EntityId


class BcEntityWebhook(BcWebhook):
    data: BcEntityData  # type: ignore[assignment]


class BcLineItemData(BcEntityData):
    cart_id: EntityId = Field(alias="cartId")


class BcLineItemWebhook(BcWebhook):
    data: BcLineItemData  # type: ignore[assignment]


# ----- what the API answers ------------------------------------------------------------------------------


class BcCurrency(BcModel):
    code: str


class BcLineItem(BcModel):
    """A physical, digital or custom item. Custom items name no product; numbers are left unconstrained
    so that the line rule (commerce_sync.platforms.lines) leaves an odd line out, not the cart."""

    id: str | None = None
    product_id: str | None = None
    variant_id: str | None = None
    name: str = ""
    sku: str | None = None
    quantity: int
    list_price: Decimal
    sale_price: Decimal | None = None
    discount_amount: Decimal = Decimal(0)
    url: str | None = None
    image_url: str | None = None


class BcGiftCertificate(BcModel):
    """A gift certificate bought in the cart: a theme name and an amount, no product."""

    id: str | None = None
    name: str = ""
    theme: str | None = None
    amount: Decimal
    quantity: int = 1


class BcLineItems(BcModel):
    physical_items: list[BcLineItem] = []
    digital_items: list[BcLineItem] = []
    custom_items: list[BcLineItem] = []
    gift_certificates: list[BcGiftCertificate] = []


class BcRedirectUrls(BcModel):
    cart_url: str | None = None
    checkout_url: str | None = None
    embedded_checkout_url: str | None = None


class BcCart(BcModel):
    id: str = Field(min_length=1)
    customer_id: str | None = None
    email: str | None = None
    currency: BcCurrency | None = None
    tax_included: bool | None = None
    base_amount: Decimal | None = None
    cart_amount: Decimal = Field(ge=0)
    line_items: BcLineItems = BcLineItems()
    created_time: datetime | None = None
    updated_time: datetime
    redirect_urls: BcRedirectUrls | None = None

    @property
    def registered_customer_id(self) -> str | None:
        """BigCommerce gives guests `customer_id` 0."""
        return self.customer_id if self.customer_id not in (None, "", "0") else None


class BcCustomer(BcModel):
    id: str = Field(min_length=1)
    email: str | None = None
    first_name: str | None = None
    last_name: str | None = None
    company: str | None = None
    date_created: datetime | None = None
    date_modified: datetime | None = None
    accepts_product_review_abandoned_cart_emails: bool | None = None


class BcSubscriber(BcModel):
    id: str | None = None
    email: str | None = None
    consents: list[str] | None = None
    date_modified: datetime | None = None


def parse_fetched(model: type[ModelT], payload: Any, what: str) -> ModelT:
    """Validate what the API answered; a shape we cannot use is a 400 naming `what` and the field."""
    try:
        return model.model_validate(payload)
    except ValidationError as error:
        first = error.errors()[0]
        location = ".".join(str(part) for part in first["loc"])
        raise BadRequest(f"BigCommerce's {what} is unusable: {first['msg']}", field=f"{what}.{location}") from error


# ----- mapping to the canonical model --------------------------------------------------------------------


def text(value: str | None) -> str | None:
    """BigCommerce sends "" for absent strings."""
    stripped = value.strip() if value else ""
    return stripped or None


def consent_from_subscriber(subscriber: BcSubscriber | None) -> MarketingConsent:
    if subscriber is None or subscriber.consents is None:
        return MarketingConsent()
    state = ConsentState.GRANTED if MARKETING_CONSENT in subscriber.consents else ConsentState.DENIED
    return MarketingConsent(state=state, source="bigcommerce_subscriber", updated_at=subscriber.date_modified)


def removal_version(webhook: BcWebhook) -> datetime:
    """The last microsecond of the second the removal was announced in: `created_at` has whole seconds,
    while the entity's own versions (`updated_time`, `date_modified`) may be finer, and nothing can
    change a cart or customer after it is gone, so the removal must sort after any version that second."""
    return webhook.occurred_at + timedelta(microseconds=999_999)

"""The canonical model: what every platform adapter produces and every processing function consumes.

The format is documented for outside publishers in docs/canonical-events.md. Money is Decimal,
quantised to the entity's currency when the model is built; e-mail addresses are stripped and
lower-cased; timestamps are timezone-aware.
"""

from datetime import UTC, datetime
from decimal import Decimal
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

from commerce_sync.canonical.emails import email_problem, normalise_email
from commerce_sync.canonical.ids import entity_id_problem
from commerce_sync.canonical.money import quantize
from commerce_sync.canonical.versions import MAX_SEQUENCE, MAX_VERSION_WITH_SEQUENCE, with_sequence

SCHEMA_VERSION = "1"

# The error type of a value that is well-formed but that Mailchimp would refuse (an e-mail address it
# does not take, a number beyond what it stores). A platform cannot fix those, so its webhook skips the
# entity (200, with the reason logged and counted); a canonical sender gets a 400 naming the field.
MAILCHIMP_REFUSES = "mailchimp_refuses"

# Mailchimp types quantities and inventory as `integer` with no format; the SDKs generated from its spec
# read that as a 32-bit integer, so a larger value cannot round-trip through them.
MAX_MAILCHIMP_INTEGER = 2**31 - 1
MIN_MAILCHIMP_INTEGER = -(2**31)
# Money travels as a JSON number (a float64 on Mailchimp's side): below 10^12 every amount keeps its minor
# unit exactly (10^12 x 1000 < 2^53), and no real order in any currency comes near it.
MAX_MONEY = Decimal(10) ** 12


def refused(message: str) -> PydanticCustomError:
    return PydanticCustomError(MAILCHIMP_REFUSES, message)


def _normalise_email(value: str) -> str:
    email = normalise_email(value)
    problem = email_problem(email)
    if problem:
        raise refused(problem)
    return email


def _entity_id(value: str) -> str:
    problem = entity_id_problem(value)
    if problem:
        raise ValueError(f"not a usable id: {problem}")
    return value


def _mailchimp_integer(value: int) -> int:
    if not MIN_MAILCHIMP_INTEGER <= value <= MAX_MAILCHIMP_INTEGER:
        raise refused("Mailchimp stores this as a 32-bit integer; the value is out of its range")
    return value


def _mailchimp_money(value: Decimal) -> Decimal:
    if value >= MAX_MONEY:
        raise refused("amounts must be below 1,000,000,000,000")
    return value


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=UTC)


Email = Annotated[str, AfterValidator(_normalise_email)]
Timestamp = Annotated[datetime, AfterValidator(_aware)]
# Event ids and versions: free text (BigCommerce's scope in an event id holds '/'); they never enter a path.
Identifier = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=255)]
# Entity ids reach Mailchimp paths: no path syntax, ever (commerce_sync.mailchimp.ids).
EntityId = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1), AfterValidator(_entity_id)]
CurrencyCode = Annotated[str, StringConstraints(strip_whitespace=True, to_upper=True, pattern=r"^[A-Za-z]{3}$")]
NonNegativeMoney = Annotated[Decimal, Field(ge=0, allow_inf_nan=False), AfterValidator(_mailchimp_money)]
Quantity = Annotated[int, Field(ge=0), AfterValidator(_mailchimp_integer)]
Inventory = Annotated[int, AfterValidator(_mailchimp_integer)]
CampaignId = Annotated[str, StringConstraints(strip_whitespace=True, max_length=50)]


class CanonicalModel(BaseModel):
    # defer_build: each model's validator is built when first used, not at import. Building all of them was a
    # tenth of every function's cold start, and a function validates a few kinds of entity, not all of them.
    model_config = ConfigDict(extra="ignore", frozen=True, str_strip_whitespace=True, defer_build=True)


class Address(CanonicalModel):
    name: str | None = None
    company: str | None = None
    address1: str | None = None
    address2: str | None = None
    city: str | None = None
    province: str | None = None
    province_code: str | None = None
    postal_code: str | None = None
    country: str | None = None
    country_code: str | None = None
    phone: str | None = None


class ConsentState(StrEnum):
    """What the shopper agreed to; only GRANTED ever subscribes anyone."""

    GRANTED = "granted"
    DENIED = "denied"
    UNKNOWN = "unknown"


class MarketingConsent(CanonicalModel):
    state: ConsentState = ConsentState.UNKNOWN
    source: str | None = None
    updated_at: Timestamp | None = None

    @classmethod
    def from_any(cls, *consents: "MarketingConsent") -> "MarketingConsent":
        """One answer from the several places a platform records consent: granted when any of them grants
        it (a "no" elsewhere never takes a "yes" back), else denied when one denies it, else unknown."""
        for state in (ConsentState.GRANTED, ConsentState.DENIED):
            found = next((consent for consent in consents if consent.state is state), None)
            if found is not None:
                return found
        return cls()


class Customer(CanonicalModel):
    """A shopper. `id` is the platform's customer id; guests have none (see mapping.customer_id)."""

    id: EntityId | None = None
    email: Email | None = None
    first_name: str | None = None
    last_name: str | None = None
    company: str | None = None
    address: Address | None = None
    # model_construct, not MarketingConsent(): the same default (nothing to validate) without building
    # MarketingConsent's own validator at import; the consumers only ever read a customer's consent, and a
    # customer's validator holds its own schema for it.
    consent: MarketingConsent = MarketingConsent.model_construct()


class ProductImage(CanonicalModel):
    id: EntityId
    url: Annotated[str, Field(min_length=1)]
    variant_ids: tuple[EntityId, ...] = ()


# A variant's visibility as commerce-sync states it (Mailchimp's field is a free string): "hidden" variants
# exist (orders may name them) but are never recommended.
VISIBLE = "visible"
HIDDEN = "hidden"


class ProductVariant(CanonicalModel):
    id: EntityId
    title: str
    sku: str | None = None
    url: str | None = None
    price: NonNegativeMoney | None = None
    inventory_quantity: Inventory | None = None
    image_url: str | None = None
    backorders: str | None = None
    visibility: str | None = None


class Product(CanonicalModel):
    id: EntityId
    title: Annotated[str, Field(min_length=1)]
    handle: str | None = None
    url: str | None = None
    description: str | None = None
    type: str | None = None
    vendor: str | None = None
    image_url: str | None = None
    images: tuple[ProductImage, ...] = ()
    variants: tuple[ProductVariant, ...] = Field(min_length=1)
    currency_code: CurrencyCode | None = None
    published_at: Timestamp | None = None
    updated_at: Timestamp | None = None


# The one product per store that lines naming no catalog product are variants of (custom items, gift
# certificates, lines of deleted products; commerce_sync.platforms.lines and docs/line-items.md). No
# platform's product id looks like it: all three number their products.
CUSTOM_ITEMS_PRODUCT_ID = "custom-items"


class Line(CanonicalModel):
    """A cart or order line, carrying enough of the product to create it in Mailchimp if it is missing."""

    id: EntityId
    product_id: EntityId
    variant_id: EntityId
    product_title: str
    variant_title: str | None = None
    sku: str | None = None
    quantity: Quantity
    price: NonNegativeMoney
    discount: NonNegativeMoney = Decimal(0)
    url: str | None = None
    image_url: str | None = None


def _quantize_money(model: BaseModel, currency_code: str, fields: tuple[str, ...]) -> dict[str, Any]:
    return {name: quantize(getattr(model, name), currency_code) for name in fields if getattr(model, name) is not None}


def _quantize_lines(lines: tuple[Line, ...], currency_code: str) -> tuple[Line, ...]:
    return tuple(line.model_copy(update=_quantize_money(line, currency_code, ("price", "discount"))) for line in lines)


class Cart(CanonicalModel):
    id: EntityId
    customer: Customer
    currency_code: CurrencyCode
    lines: tuple[Line, ...] = ()
    order_total: NonNegativeMoney
    tax_total: NonNegativeMoney | None = None
    checkout_url: str | None = None
    campaign_id: CampaignId | None = None
    created_at: Timestamp | None = None
    updated_at: Timestamp | None = None
    # Other platform ids of the same cart (e.g. a Shopify checkout id), so a later removal that names
    # only one of them still finds it.
    references: tuple[EntityId, ...] = ()

    @model_validator(mode="after")
    def _quantised(self) -> "Cart":
        money = _quantize_money(self, self.currency_code, ("order_total", "tax_total"))
        object.__setattr__(self, "lines", _quantize_lines(self.lines, self.currency_code))
        for name, value in money.items():
            object.__setattr__(self, name, value)
        return self


class Promo(CanonicalModel):
    code: Annotated[str, Field(min_length=1, max_length=50)]
    amount_discounted: NonNegativeMoney
    type: Literal["fixed", "percentage"] = "fixed"


class Shipment(CanonicalModel):
    """One parcel. `id` (the platform's fulfillment or shipment id) lets partial updates merge."""

    id: str | None = None
    tracking_number: str | None = None
    tracking_carrier: str | None = None
    tracking_url: str | None = None
    shipped_at: Timestamp | None = None


class Refund(CanonicalModel):
    id: Identifier
    amount: NonNegativeMoney
    refunded_at: Timestamp | None = None


class FinancialStatus(StrEnum):
    """Mailchimp's notification-firing values (see docs/order-status.md for each platform's table)."""

    PENDING = "pending"
    PAID = "paid"
    REFUNDED = "refunded"
    CANCELLED = "cancelled"


class Order(CanonicalModel):
    id: EntityId
    customer: Customer
    currency_code: CurrencyCode
    lines: tuple[Line, ...] = Field(min_length=1)
    order_total: NonNegativeMoney
    tax_total: NonNegativeMoney | None = None
    shipping_total: NonNegativeMoney | None = None
    discount_total: NonNegativeMoney | None = None
    # The platform's payment state mapped onto Mailchimp's values (commerce_sync.platforms.order_statuses).
    financial_status: FinancialStatus | None = None
    # True once goods left (fully or partly): Mailchimp's shipping confirmation.
    shipped: bool = False
    shipments: tuple[Shipment, ...] = ()
    refunds: tuple[Refund, ...] = ()
    cart_id: EntityId | None = None
    # Other ids of the order's cart (e.g. a Shopify checkout token), so it is found whichever was used.
    cart_references: tuple[EntityId, ...] = ()
    campaign_id: CampaignId | None = None
    tracking_code: Literal["prec"] | None = None
    landing_site: str | None = None
    order_url: str | None = None
    promos: tuple[Promo, ...] = ()
    billing_address: Address | None = None
    shipping_address: Address | None = None
    processed_at: Timestamp | None = None
    cancelled_at: Timestamp | None = None
    updated_at: Timestamp | None = None

    @model_validator(mode="after")
    def _quantised(self) -> "Order":
        fields = ("order_total", "tax_total", "shipping_total", "discount_total")
        object.__setattr__(self, "lines", _quantize_lines(self.lines, self.currency_code))
        refunds = tuple(
            refund.model_copy(update={"amount": quantize(refund.amount, self.currency_code)}) for refund in self.refunds
        )
        object.__setattr__(self, "refunds", refunds)
        for name, value in _quantize_money(self, self.currency_code, fields).items():
            object.__setattr__(self, name, value)
        return self


# ----- promotions: a store's discount rules and their codes (docs/canonical-events.md, "Promotions") -------

# Mailchimp stores a promo code of at most 50 characters (shared/mailchimp/NOTES.md §5), and a code cannot be
# shortened without becoming another code: a longer one is refused, never cut.
MAX_PROMO_CODE_LENGTH = 50
# One event's codes are written one Mailchimp request each, so an event carries a page of them at most; a rule
# with more codes is sent as several events (codes_complete false), or left to the nightly sync.
MAX_CODES_PER_EVENT = 100
# A fraction, not a percent: 15 % is 0.15, as Mailchimp takes it.
MAX_PERCENTAGE = Decimal(1)


def _promo_code(value: str) -> str:
    if len(value) > MAX_PROMO_CODE_LENGTH:
        raise refused(f"Mailchimp stores promo codes of at most {MAX_PROMO_CODE_LENGTH} characters")
    return value


def _unique_ids(ids: tuple[str, ...], what: str) -> None:
    if len(set(ids)) != len(ids):
        raise ValueError(f"each {what} may appear once")


class PromotionCode(CanonicalModel):
    """One code that applies a promotion at checkout."""

    id: EntityId
    code: Annotated[str, Field(min_length=1), AfterValidator(_promo_code)]
    # A store address that applies the code (or where the shopper can enter it); Mailchimp requires one.
    redemption_url: Annotated[str, Field(min_length=1, max_length=2000)]
    usage_count: Quantity = 0
    enabled: bool = True
    created_at: Timestamp | None = None
    updated_at: Timestamp | None = None


class Promotion(CanonicalModel):
    """A discount rule (Mailchimp's promo rule) and, optionally, codes of it.

    `type` "percentage" takes `amount` as a fraction from 0 to 1; "fixed" as money in `currency_code` (else
    the store's currency). Free shipping is type "fixed", target "shipping", amount 0. `codes_complete`: the
    codes listed are every code the rule has, so any other code Mailchimp holds for it is deleted; false
    (the default) touches only the codes listed."""

    id: EntityId
    title: str | None = None
    description: str | None = None
    type: Literal["fixed", "percentage"]
    amount: NonNegativeMoney
    target: Literal["per_item", "total", "shipping"]
    currency_code: CurrencyCode | None = None
    starts_at: Timestamp | None = None
    ends_at: Timestamp | None = None
    enabled: bool = True
    codes: tuple[PromotionCode, ...] = Field(default=(), max_length=MAX_CODES_PER_EVENT)
    codes_complete: bool = False
    created_at: Timestamp | None = None
    updated_at: Timestamp | None = None

    @model_validator(mode="after")
    def _consistent(self) -> "Promotion":
        if self.type == "percentage" and self.amount > MAX_PERCENTAGE:
            raise ValueError("a percentage amount is a fraction from 0 to 1 (15 % is 0.15)")
        if self.type == "fixed" and self.currency_code:
            object.__setattr__(self, "amount", quantize(self.amount, self.currency_code))
        if self.starts_at is not None and self.ends_at is not None and self.ends_at <= self.starts_at:
            raise ValueError("ends_at must come after starts_at")
        _unique_ids(tuple(code.id for code in self.codes), "code id")
        return self


class PromotionRemoval(CanonicalModel):
    """A rule gone from the store (no `code_ids`), or only these codes of it."""

    id: EntityId
    code_ids: tuple[EntityId, ...] = Field(default=(), max_length=MAX_CODES_PER_EVENT)


class EventType(StrEnum):
    CART_UPDATED = "cart.updated"
    CART_DELETED = "cart.deleted"
    CUSTOMER_UPDATED = "customer.updated"
    CUSTOMER_DELETED = "customer.deleted"
    ORDER_UPDATED = "order.updated"
    ORDER_DELETED = "order.deleted"
    ORDER_SHIPMENT = "order.shipment"
    ORDER_REFUND = "order.refund"
    PRODUCT_UPDATED = "product.updated"
    PRODUCT_DELETED = "product.deleted"
    PROMOTION_UPDATED = "promotion.updated"
    PROMOTION_DELETED = "promotion.deleted"
    # A shopper's erasure request (docs/privacy.md): every record of them goes from Mailchimp, and stays gone.
    CUSTOMER_ERASED = "customer.erased"
    # A shopper asks what is held about them (docs/privacy.md): the export is made and kept for the operator.
    CUSTOMER_DATA_REQUESTED = "customer.data_requested"
    # A whole store is erased (Shopify's shop/redact after an uninstall): its Mailchimp store, registration,
    # secrets and sync state (docs/privacy.md).
    STORE_ERASED = "store.erased"
    # Mailchimp's audience webhooks, flowing back to the store (docs/consent.md): the contact unsubscribed or was
    # cleaned, subscribed again, or changed their address in Mailchimp. `customer.` so the cart/customer queue
    # takes them, in the platform customer's order.
    CUSTOMER_CONSENT_WITHDRAWN = "customer.consent_withdrawn"
    CUSTOMER_CONSENT_GRANTED = "customer.consent_granted"
    CUSTOMER_EMAIL_CHANGED = "customer.email_changed"
    # A store's import of history opens and closes (docs/canonical-events.md#history).
    STORE_SYNC_STARTED = "store.sync_started"
    STORE_SYNC_FINISHED = "store.sync_finished"


def _erased_email(value: str) -> str:
    """An address to erase is taken as long as it is one at all: one Mailchimp would refuse was never written,
    but it is still kept from ever being written (the tombstone)."""
    email = normalise_email(value)
    if "@" not in email or len(email) > 254 or not email.isprintable():
        raise PydanticCustomError("email", "not an e-mail address")
    return email


class MemberErasure(StrEnum):
    """What erasure does to the shopper's audience member (docs/privacy.md)."""

    ARCHIVE = "archive"
    DELETE_PERMANENT = "delete_permanent"


MAX_ERASED_ORDERS = 10_000


class CustomerErasure(CanonicalModel):
    """A shopper to erase: their e-mail address, the platform's customer id, or both; `order_ids` are orders to
    erase besides those Mailchimp holds under the shopper (Shopify's `orders_to_redact`)."""

    email: Annotated[str, AfterValidator(_erased_email)] | None = None
    customer_id: EntityId | None = None
    order_ids: Annotated[tuple[EntityId, ...], Field(max_length=MAX_ERASED_ORDERS)] = ()
    # The audience member: the store's option (`erasure_member`) unless the request says otherwise.
    member: MemberErasure | None = None
    # The requester's own reference (a ticket number) and what kind of request it was (`customers/redact`,
    # `customer.deleted`, `cli erase`), kept in the audit line.
    request_id: Identifier | None = None
    request_kind: Identifier | None = None

    @model_validator(mode="after")
    def _someone(self) -> "CustomerErasure":
        if self.email is None and self.customer_id is None:
            raise ValueError("an erasure names the shopper: email, customer_id or both")
        return self


class CustomerDataRequest(CanonicalModel):
    """A shopper asks what is held about them: their e-mail address, the platform's customer id, or both;
    `order_ids` are orders they name besides those Mailchimp holds under them (Shopify's `orders_requested`)."""

    email: Annotated[str, AfterValidator(_erased_email)] | None = None
    customer_id: EntityId | None = None
    order_ids: Annotated[tuple[EntityId, ...], Field(max_length=MAX_ERASED_ORDERS)] = ()
    request_id: Identifier | None = None
    request_kind: Identifier | None = None

    @model_validator(mode="after")
    def _someone(self) -> "CustomerDataRequest":
        if self.email is None and self.customer_id is None:
            raise ValueError("a data request names the shopper: email, customer_id or both")
        return self


class StoreErasure(CanonicalModel):
    """Everything held for the store goes (its `entity_id` must be the store id)."""

    request_id: Identifier | None = None
    request_kind: Identifier | None = None


class DeletedEntity(CanonicalModel):
    id: EntityId


class OrderShipment(CanonicalModel):
    """A shipment reported on its own (Shopify fulfillments/*, BigCommerce store/shipment/*)."""

    order_id: EntityId
    shipment: Shipment
    # True when this shipment completes the order; a partial one also fires the shipping e-mail.
    complete: bool = False


class OrderRefund(CanonicalModel):
    """A refund reported on its own (Shopify refunds/create)."""

    order_id: EntityId
    refund: Refund


# How long an import may go without an event before it is closed for its sender (the sender may choose, within
# these bounds; the deployment may raise the floor, commerce_sync.aws.store_imports).
DEFAULT_IMPORT_TIMEOUT_SECONDS = 3600
MAX_IMPORT_TIMEOUT_SECONDS = 86400


class StoreSync(CanonicalModel):
    """`store.sync_started` / `store.sync_finished`: a sender opens an import of its store's history under an id of
    its choosing (also the event's `entity_id`) and closes it; `timeout_seconds` is how long the import may go
    without an event before commerce-sync closes it (a sender that crashed)."""

    id: EntityId
    timeout_seconds: Annotated[int, Field(ge=1, le=MAX_IMPORT_TIMEOUT_SECONDS)] | None = None


class ConsentChange(CanonicalModel):
    """A contact's consent as Mailchimp changed it: `reason` is Mailchimp's event (`unsubscribe`, `cleaned`,
    `subscribe`) with its own reason when it gives one (`cleaned: hard`), `source` who acted (Mailchimp's webhook
    sources: user, admin, api; None when the sender does not say)."""

    email: Email
    reason: Identifier
    source: Identifier | None = None
    changed_at: Timestamp


class EmailChange(CanonicalModel):
    """A contact's new address in Mailchimp (its `upemail` event)."""

    old_email: Email
    new_email: Email
    changed_at: Timestamp


class CartRemovalReason(StrEnum):
    DELETED = "deleted"
    EMPTIED = "emptied"
    CONVERTED = "converted"


class CartRemoval(CanonicalModel):
    """A cart that must leave Mailchimp. CONVERTED carries the buyer, so that a cart event of theirs
    that predates the purchase and arrives late cannot bring an abandoned-cart e-mail back."""

    id: EntityId
    reason: CartRemovalReason = CartRemovalReason.DELETED
    customer: Customer | None = None
    removed_at: Timestamp | None = None


class AcceptedDelivery(CanonicalModel):
    """The webhook delivery an event came in, for the store's activity (`commerce-sync status`): the consumer that
    applies the event counts the delivery, so the receiver writes nothing of its own per delivery."""

    topic: Annotated[str, StringConstraints(max_length=100)] | None = None
    received_at: Timestamp


class CanonicalEvent(CanonicalModel):
    """The envelope on the bus: EventBridge `detail-type` is `type`, `detail` is this model's JSON.

    `event_id` is stable across redeliveries (dedupe key); `entity_version` orders the changes of one
    entity (the platform's updated_at, or a counter) so a stale event never overwrites a newer one.
    """

    schema_version: Literal["1"] = "1"
    event_id: Identifier
    type: EventType
    store_id: Identifier
    platform: Identifier
    occurred_at: Timestamp
    entity_id: EntityId
    entity_version: Identifier
    # Orders changes that share an entity_version (a clock that counts whole seconds). Folded into
    # entity_version when the event is read (canonical.versions.with_sequence), so it is None afterwards and
    # every consumer compares the one string.
    sequence: Annotated[int, Field(ge=0, le=MAX_SEQUENCE)] | None = None
    # History, not a change happening now: fires no notification whatever the store's state.
    historical: bool = False
    # Set by the receiver on an event it admitted into the store's open import (what a sender sends is replaced).
    import_id: Identifier | None = None
    # Set by the receiver on the first event a delivery published (the others: None); what a sender sends is
    # replaced. Counted with the event's outcome (commerce_sync.aws.store_activity).
    delivery: AcceptedDelivery | None = None
    data: dict[str, Any]

    @field_validator("data")
    @classmethod
    def _data_is_object(cls, value: dict[str, Any]) -> dict[str, Any]:
        if not value:
            raise ValueError("data must describe the entity")
        return value

    @field_validator("sequence")
    @classmethod
    def _version_has_room(cls, value: int | None, info: ValidationInfo) -> int | None:
        version = info.data.get("entity_version")
        if value is not None and version is not None and len(version) > MAX_VERSION_WITH_SEQUENCE:
            raise ValueError(f"needs an entity_version of at most {MAX_VERSION_WITH_SEQUENCE} characters")
        return value

    @model_validator(mode="after")
    def _sequence_folded(self) -> "CanonicalEvent":
        if self.sequence is not None:
            object.__setattr__(self, "entity_version", with_sequence(self.entity_version, self.sequence))
            object.__setattr__(self, "sequence", None)
        return self

    def cart(self) -> Cart:
        return Cart.model_validate(self.data)

    def customer(self) -> Customer:
        return Customer.model_validate(self.data)

    def order(self) -> Order:
        return Order.model_validate(self.data)

    def product(self) -> Product:
        return Product.model_validate(self.data)

    def deleted(self) -> DeletedEntity:
        return DeletedEntity.model_validate(self.data)

    def order_shipment(self) -> OrderShipment:
        return OrderShipment.model_validate(self.data)

    def order_refund(self) -> OrderRefund:
        return OrderRefund.model_validate(self.data)

    def cart_removal(self) -> CartRemoval:
        return CartRemoval.model_validate(self.data)

    def promotion(self) -> Promotion:
        return Promotion.model_validate(self.data)

    def promotion_removal(self) -> PromotionRemoval:
        return PromotionRemoval.model_validate(self.data)

    def store_sync(self) -> StoreSync:
        return StoreSync.model_validate(self.data)

    def erasure(self) -> CustomerErasure:
        return CustomerErasure.model_validate(self.data)

    def data_request(self) -> CustomerDataRequest:
        return CustomerDataRequest.model_validate(self.data)

    def store_erasure(self) -> StoreErasure:
        return StoreErasure.model_validate(self.data)

    def consent_change(self) -> ConsentChange:
        return ConsentChange.model_validate(self.data)

    def email_change(self) -> EmailChange:
        return EmailChange.model_validate(self.data)


DATA_MODELS: dict[EventType, type[CanonicalModel]] = {
    EventType.CART_UPDATED: Cart,
    EventType.CART_DELETED: CartRemoval,
    EventType.CUSTOMER_UPDATED: Customer,
    EventType.CUSTOMER_DELETED: DeletedEntity,
    EventType.ORDER_UPDATED: Order,
    EventType.ORDER_DELETED: DeletedEntity,
    EventType.ORDER_SHIPMENT: OrderShipment,
    EventType.ORDER_REFUND: OrderRefund,
    EventType.PRODUCT_UPDATED: Product,
    EventType.PRODUCT_DELETED: DeletedEntity,
    EventType.PROMOTION_UPDATED: Promotion,
    EventType.PROMOTION_DELETED: PromotionRemoval,
    EventType.CUSTOMER_ERASED: CustomerErasure,
    EventType.CUSTOMER_DATA_REQUESTED: CustomerDataRequest,
    EventType.STORE_ERASED: StoreErasure,
    EventType.CUSTOMER_CONSENT_WITHDRAWN: ConsentChange,
    EventType.CUSTOMER_CONSENT_GRANTED: ConsentChange,
    EventType.CUSTOMER_EMAIL_CHANGED: EmailChange,
    EventType.STORE_SYNC_STARTED: StoreSync,
    EventType.STORE_SYNC_FINISHED: StoreSync,
}


def make_event(
    *,
    event_type: EventType,
    event_id: str,
    store_id: str,
    platform: str,
    entity: CanonicalModel,
    entity_id: str,
    entity_version: str,
    occurred_at: datetime | None = None,
) -> CanonicalEvent:
    return CanonicalEvent(
        event_id=event_id,
        type=event_type,
        store_id=store_id,
        platform=platform,
        occurred_at=occurred_at or datetime.now(UTC),
        entity_id=entity_id,
        entity_version=entity_version,
        data=entity.model_dump(mode="json", exclude_none=True),
    )

"""Outbound Mailchimp e-commerce resources (Marketing API v3.0.90), as the request bodies we send.

Field names, required fields, enums and documented limits follow the spec; see
../shared/mailchimp/NOTES.md §5. Money is Decimal in the model and a JSON number on the wire (the
3.0.90 spec types money as number), already quantised by the canonical model.
"""

from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, PlainSerializer, model_validator

from commerce_sync.mailchimp.ids import MailchimpId

Money = Annotated[Decimal, PlainSerializer(lambda value: float(value), return_type=float)]


class MailchimpResource(BaseModel):
    # defer_build: each resource's validator is built when first used, not at import (most functions send a
    # few kinds of resource; building all of them at import cost every function's cold start).
    model_config = ConfigDict(extra="forbid", defer_build=True)

    def body(self) -> dict[str, Any]:
        """The JSON body to send: unset optional fields are left out rather than sent as null."""
        return self.model_dump(mode="json", exclude_none=True)


class McAddress(MailchimpResource):
    address1: str | None = None
    address2: str | None = None
    city: str | None = None
    province: str | None = None
    province_code: str | None = None
    postal_code: str | None = None
    country: str | None = None
    country_code: str | None = None


class McOrderAddress(McAddress):
    name: str | None = None
    phone: str | None = None
    company: str | None = None


class McCustomer(MailchimpResource):
    """Body of PUT /customers/{id}, and the customer embedded in a cart or order."""

    id: MailchimpId
    email_address: str | None = None
    opt_in_status: bool | None = None
    company: str | None = None
    first_name: str | None = None
    last_name: str | None = None
    address: McAddress | None = None


class McProductVariant(MailchimpResource):
    id: MailchimpId
    title: Annotated[str, Field(min_length=1)]
    url: str | None = None
    sku: str | None = None
    price: Money | None = None
    inventory_quantity: int | None = None
    image_url: str | None = None
    backorders: str | None = None
    visibility: str | None = None


class McProductImage(MailchimpResource):
    id: MailchimpId
    url: Annotated[str, Field(min_length=1)]
    variant_ids: list[MailchimpId] | None = None


class McProduct(MailchimpResource):
    """Body of PUT /products/{id} ("create or update"); every product has at least one variant."""

    id: MailchimpId
    title: Annotated[str, Field(min_length=1)]
    handle: str | None = None
    url: str | None = None
    description: str | None = None
    type: str | None = None
    vendor: str | None = None
    image_url: str | None = None
    variants: Annotated[list[McProductVariant], Field(min_length=1)]
    images: list[McProductImage] | None = None
    published_at_foreign: str | None = None


class McLine(MailchimpResource):
    id: MailchimpId
    product_id: MailchimpId
    product_variant_id: MailchimpId
    quantity: Annotated[int, Field(ge=0)]
    price: Money
    discount: Money | None = None


class McCart(MailchimpResource):
    """Body of POST /carts and, without `id`, of PATCH /carts/{id} (the full lines array each time)."""

    id: MailchimpId
    customer: McCustomer
    currency_code: Annotated[str, Field(pattern=r"^[A-Z]{3}$")]
    order_total: Money
    lines: list[McLine]
    campaign_id: str | None = None
    checkout_url: str | None = None
    tax_total: Money | None = None

    def patch_body(self) -> dict[str, Any]:
        body = self.body()
        body.pop("id")
        # A cart's customer can never change (Mailchimp refuses another id or e-mail), so a PATCH leaves it
        # out; the customer's own details are written by PUT /customers, and a cart whose shopper moved to
        # another address is deleted and created again for it (cart_sync).
        body.pop("customer")
        return body


class McPromo(MailchimpResource):
    code: Annotated[str, Field(min_length=1, max_length=50)]
    amount_discounted: Money
    type: Literal["fixed", "percentage"]


class McOrder(MailchimpResource):
    """Body of POST /orders and, without `id`, of PATCH /orders/{id}. There is no PUT for orders."""

    id: MailchimpId
    customer: McCustomer
    currency_code: Annotated[str, Field(pattern=r"^[A-Z]{3}$")]
    order_total: Money
    lines: Annotated[list[McLine], Field(min_length=1)]
    campaign_id: str | None = None
    landing_site: str | None = None
    financial_status: Literal["paid", "pending", "refunded", "cancelled"] | None = None
    fulfillment_status: Literal["shipped"] | None = None
    order_url: str | None = None
    discount_total: Money | None = None
    tax_total: Money | None = None
    shipping_total: Money | None = None
    tracking_code: Literal["prec"] | None = None
    processed_at_foreign: str | None = None
    cancelled_at_foreign: str | None = None
    updated_at_foreign: str | None = None
    shipping_address: McOrderAddress | None = None
    billing_address: McOrderAddress | None = None
    promos: list[McPromo] | None = None
    tracking_number: str | None = None
    tracking_carrier: str | None = None
    tracking_url: str | None = None
    cart_id: MailchimpId | None = None

    def patch_body(self) -> dict[str, Any]:
        body = self.body()
        body.pop("id")
        # An order stays with the customer who placed it, even when the platform later shows another
        # address for it: Mailchimp cannot move an order, and the history belongs to that address.
        body.pop("customer")
        return body


class McStore(MailchimpResource):
    """Body of POST /ecommerce/stores; `id` and `list_id` can never change afterwards."""

    id: Annotated[str, Field(min_length=1, max_length=50)]
    list_id: Annotated[str, Field(min_length=1)]
    name: Annotated[str, Field(min_length=1)]
    currency_code: Annotated[str, Field(pattern=r"^[A-Z]{3}$")]
    platform: str | None = None
    domain: str | None = None
    email_address: str | None = None
    is_syncing: bool | None = None


class McStoreUpdate(MailchimpResource):
    """Body of PATCH /ecommerce/stores/{store_id}: only the fields that change (never id or list_id)."""

    name: Annotated[str, Field(min_length=1)] | None = None
    currency_code: Annotated[str, Field(pattern=r"^[A-Z]{3}$")] | None = None
    platform: str | None = None
    domain: str | None = None
    # True pauses the store's automations while history is brought in (commerce_sync.history.backfill).
    is_syncing: bool | None = None


# ----- promo rules and promo codes (NOTES.md §5: no PUT, so a write is a POST when new, a PATCH after) -----

PROMO_TITLE_MAX_BYTES = 100
PROMO_DESCRIPTION_MAX = 255
PROMO_CODE_MAX = 50
REDEMPTION_URL_MAX = 2000


def _at_most_100_bytes(value: str) -> str:
    # Mailchimp counts the title in UTF-8 bytes, the description in characters.
    if len(value.encode("utf-8")) > PROMO_TITLE_MAX_BYTES:
        raise ValueError(f"a promo rule title is at most {PROMO_TITLE_MAX_BYTES} bytes of UTF-8")
    return value


class McPromoRule(MailchimpResource):
    """Body of POST /promo-rules and, without `id`, of PATCH /promo-rules/{id}."""

    id: MailchimpId
    title: Annotated[str, AfterValidator(_at_most_100_bytes)] | None = None
    description: Annotated[str, Field(min_length=1, max_length=PROMO_DESCRIPTION_MAX)]
    amount: Money
    type: Literal["fixed", "percentage"]
    target: Literal["per_item", "total", "shipping"]
    starts_at: str | None = None
    ends_at: str | None = None
    enabled: bool
    created_at_foreign: str | None = None
    updated_at_foreign: str | None = None

    @model_validator(mode="after")
    def _amount_fits_type(self) -> "McPromoRule":
        if self.amount < 0 or (self.type == "percentage" and self.amount > 1):
            raise ValueError("a percentage promo rule's amount is between 0 and 1; a fixed one is not negative")
        return self

    def patch_body(self) -> dict[str, Any]:
        body = self.body()
        body.pop("id")
        return body


class McPromoCode(MailchimpResource):
    """Body of POST /promo-rules/{rule}/promo-codes and, without `id`, of PATCH …/promo-codes/{id}."""

    id: MailchimpId
    code: Annotated[str, Field(min_length=1, max_length=PROMO_CODE_MAX)]
    redemption_url: Annotated[str, Field(min_length=1, max_length=REDEMPTION_URL_MAX)]
    usage_count: Annotated[int, Field(ge=0)] | None = None
    enabled: bool
    created_at_foreign: str | None = None
    updated_at_foreign: str | None = None

    def patch_body(self) -> dict[str, Any]:
        body = self.body()
        body.pop("id")
        return body


class McMemberTag(MailchimpResource):
    """One tag declared on an audience member: `active` adds it, `inactive` removes it."""

    name: Annotated[str, Field(min_length=1, max_length=100)]
    status: Literal["active", "inactive"]


class McMemberTags(MailchimpResource):
    """Body of POST /lists/{list_id}/members/{subscriber_hash}/tags (schema Member_Tags)."""

    tags: Annotated[list[McMemberTag], Field(min_length=1)]
    # True: automations triggered by these tags do not fire (a backfill's tags are not news to the shopper).
    is_syncing: bool | None = None

    @classmethod
    def of(cls, changes: dict[str, bool], is_syncing: bool | None = None) -> "McMemberTags":
        """`{tag name: wanted on the member}` as the body, in name order (one request, reproducible)."""
        tags = [McMemberTag(name=name, status="active" if on else "inactive") for name, on in sorted(changes.items())]
        return cls(tags=tags, is_syncing=is_syncing)

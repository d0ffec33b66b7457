"""The store registry: one DynamoDB item per store, keyed by its Mailchimp store id and findable by the
platform's own identity for it (shop domain, site URL, store hash)."""

from collections.abc import Iterable
from datetime import UTC, datetime
from decimal import Decimal
from enum import StrEnum
from typing import Annotated, Any, Literal

import boto3
from boto3.dynamodb.conditions import Key
from pydantic import BaseModel, ConfigDict, Field

PLATFORM_IDENTITY_INDEX = "platform_identity-index"
# The account key of stores that use the deployment's Mailchimp secret (MailchimpApiKeySecret).
DEFAULT_MAILCHIMP_ACCOUNT = "default"


def platform_identity(platform: str, identity: str) -> str:
    return f"{platform}:{identity.strip().lower().rstrip('/')}"


class WebhookSubscriptions(StrEnum):
    """How a store's webhook subscriptions are made, where its platform has more than one way and only one can be
    checked: Shopify's Admin API lists only the subscriptions an app made through it (docs/shopify.md)."""

    ADMIN_API = "admin-api"  # made through the Admin API with the store's access token: checked, recreated
    APP_CONFIG = "app-config"  # app-specific, declared in the app's shopify.app.toml: Shopify keeps them
    SHOP_ADMIN = "shop-admin"  # made in the shop's admin (Settings > Notifications > Webhooks)
    EVENTBRIDGE = "eventbridge"  # delivered through Amazon EventBridge, configured with the app


SegmentTagName = Annotated[str, Field(min_length=1, max_length=100)]


class SegmentTags(BaseModel):
    """The Mailchimp tag of each segment; None: the segment is not evaluated (its tag is never written)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    vip: SegmentTagName | None = "VIP"
    at_risk: SegmentTagName | None = "At risk"
    one_time: SegmentTagName | None = "One-time buyer"
    advocate: SegmentTagName | None = "Advocate"


class SegmentRules(BaseModel):
    """A store's segment rules (docs/segments.md; evaluated by commerce_sync.segments.rules.segments_of)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    vip_lifetime_value: Annotated[Decimal, Field(gt=0)] = Decimal(500)
    vip_orders: Annotated[int, Field(ge=1)] = 5
    at_risk_after_days: Annotated[int, Field(ge=1)] = 90
    at_risk_min_orders: Annotated[int, Field(ge=1)] = 2
    one_time_after_days: Annotated[int, Field(ge=0)] = 30
    # At most the order times an aggregate keeps (commerce_sync.segments.aggregate.MAX_ORDER_ENTRIES).
    advocate_orders: Annotated[int, Field(ge=1, le=50)] = 3
    advocate_window_days: Annotated[int, Field(ge=1)] = 30
    tags: SegmentTags = SegmentTags()

    def tag_names(self) -> set[str]:
        """Every tag these rules may write (the ones a change of rules must also be able to remove)."""
        return {name for name in self.tags.model_dump().values() if name}


class Store(BaseModel):
    model_config = ConfigDict(extra="ignore")

    store_id: str = Field(min_length=1, max_length=50, pattern=r"^[A-Za-z0-9_.-]+$")
    platform: str = Field(min_length=1)
    identity: str = Field(min_length=1)
    name: str = Field(min_length=1)
    list_id: str = Field(min_length=1)
    currency_code: str = Field(pattern=r"^[A-Z]{3}$")
    secret_id: str = Field(min_length=1, description="name or ARN of the store's secret")
    platform_api_url: str | None = None
    # The platform API version to speak, for a platform whose API has them (Shopify's YYYY-MM); None: the
    # version the platform's API module defaults to.
    platform_api_version: str | None = None
    domain: str | None = None
    # The store's own Mailchimp account (docs/mailchimp-accounts.md): the secret holding its key or OAuth token
    # (`commerce-sync/mailchimp/<account id>`, shared by the stores of one account) and that account's id.
    # None: the deployment's default secret.
    mailchimp_secret_id: str | None = None
    mailchimp_account_id: str | None = None
    active: bool = True
    double_opt_in: bool = False
    # Two-way consent (docs/consent.md): a contact's subscribe in Mailchimp grants marketing consent on the platform
    # too. Off: Mailchimp's unsubscribes and cleans still withdraw it; a subscribe only lifts the withdrawal.
    consent_from_mailchimp: bool = False
    # Send a new, already paid order as pending then paid, so both the confirmation and the invoice go out.
    pending_then_paid: bool = False
    # Shopify: how its webhook subscriptions are made (None: not recorded, so not checked), and the address
    # commerce-sync subscribes them to (the stack's `…/webhooks/shopify`, or an EventBridge partner source ARN),
    # which a subscription made through the Admin API is recreated at when Shopify removed it.
    webhook_subscriptions: WebhookSubscriptions | None = None
    webhook_address: str | None = None
    # Privacy (docs/privacy.md): what an erasure does to the shopper's audience member (archived, or permanently
    # deleted: Mailchimp then refuses to re-add the address until they sign up again themselves), and whether
    # the platform's deletion of a customer (WooCommerce, BigCommerce) is taken as an erasure request.
    erasure_member: Literal["archive", "delete_permanent"] = "archive"
    erase_on_customer_delete: bool = False
    # Set (with `active` off) when the store's erasure begins (commerce_sync.privacy.store_erasure): from then on
    # its deliveries are refused and its events dropped, and the entry itself goes when the erasure is done.
    erased_at: str | None = None
    # Customer segments as member tags (docs/segments.md). None (the default): off — tags can start a merchant's
    # automations, so they are written only for a store that asked; `{}` turns them on with the default rules.
    segments: SegmentRules | None = None
    created_at: str = Field(default_factory=lambda: datetime.now(UTC).isoformat())

    @property
    def platform_identity(self) -> str:
        return platform_identity(self.platform, self.identity)

    @property
    def mailchimp_account(self) -> str:
        """The key its Mailchimp account's budget and health go by: the account id for a store with its own
        account secret (one secret per account, so the key names the credentials too), else "default"."""
        if self.mailchimp_secret_id:
            return self.mailchimp_account_id or self.mailchimp_secret_id
        return DEFAULT_MAILCHIMP_ACCOUNT

    def to_item(self) -> dict[str, Any]:
        item = self.model_dump(exclude_none=True)
        if self.segments is not None:
            # With its Nones: a segment switched off (tag None) must not come back as its default tag.
            item["segments"] = self.segments.model_dump()
        item["platform_identity"] = self.platform_identity
        return item


class StoreRegistry:
    def __init__(self, table_name: str, dynamodb: Any | None = None) -> None:
        self._table = (dynamodb or boto3.resource("dynamodb")).Table(table_name)

    def put(self, store: Store) -> None:
        self._table.put_item(Item=store.to_item())

    def update(self, store: Store, fields: Iterable[str]) -> None:
        """Writes only `fields` of `store` onto its existing item (a field that is None is removed), so
        attributes this version of the model does not know survive. Never creates an item."""
        item = store.to_item()
        names = set(fields)
        if names & {"platform", "identity"}:
            names.add("platform_identity")  # the identity index key follows its parts
        if not names:
            return
        placeholders = {f"#f{index}": name for index, name in enumerate(sorted(names))}
        assignments = [f"{key} = :v{key[2:]}" for key, name in placeholders.items() if name in item]
        removals = [key for key, name in placeholders.items() if name not in item]
        expression = " ".join(
            part
            for part in (
                f"SET {', '.join(assignments)}" if assignments else "",
                f"REMOVE {', '.join(removals)}" if removals else "",
            )
            if part
        )
        arguments: dict[str, Any] = {
            "Key": {"store_id": store.store_id},
            "UpdateExpression": expression,
            "ConditionExpression": "attribute_exists(store_id)",
            "ExpressionAttributeNames": placeholders,
        }
        values = {f":v{key[2:]}": item[name] for key, name in placeholders.items() if name in item}
        if values:
            arguments["ExpressionAttributeValues"] = values
        self._table.update_item(**arguments)

    def delete(self, store_id: str) -> bool:
        """Removes the store's item; False when there was none."""
        answer = self._table.delete_item(Key={"store_id": store_id}, ReturnValues="ALL_OLD")
        return bool(answer.get("Attributes"))

    def get(self, store_id: str) -> Store | None:
        item = self._table.get_item(Key={"store_id": store_id}).get("Item")
        return Store.model_validate(item) if item else None

    def find(self, platform: str, identity: str) -> Store | None:
        response = self._table.query(
            IndexName=PLATFORM_IDENTITY_INDEX,
            KeyConditionExpression=Key("platform_identity").eq(platform_identity(platform, identity)),
            Limit=1,
        )
        items = response.get("Items", [])
        return Store.model_validate(items[0]) if items else None

    def list(self) -> list[Store]:
        items: list[dict[str, Any]] = []
        kwargs: dict[str, Any] = {}
        while True:
            page = self._table.scan(**kwargs)
            items.extend(page.get("Items", []))
            if "LastEvaluatedKey" not in page:
                break
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]
        return sorted((Store.model_validate(item) for item in items), key=lambda store: store.store_id)

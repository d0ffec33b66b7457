"""Shopify's Amazon EventBridge delivery: the webhook payload and its metadata headers inside `detail`
of an event with detail-type `shopifyWebhook`, from the partner event source
`aws.partner/shopify.com/<app id>/<name>`."""

import json
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

SHOPIFY_DETAIL_TYPE = "shopifyWebhook"


class ShopifyEventBridgeDetail(BaseModel):
    model_config = ConfigDict(extra="ignore")

    payload: dict[str, Any]
    metadata: dict[str, str]

    @field_validator("metadata", mode="before")
    @classmethod
    def _header_names(cls, value: dict[str, Any]) -> dict[str, str]:
        # Newer deliveries name the headers without "X-" and in lower case; the adapter reads both.
        headers: dict[str, str] = {}
        for key, item in (value or {}).items():
            name = key if key.lower().startswith("x-") or key.lower() == "content-type" else f"X-{key}"
            headers[name] = str(item)
        return headers

    def payload_bytes(self) -> bytes:
        return json.dumps(self.payload, separators=(",", ":")).encode()


class ShopifyEventBridgeDelivery(BaseModel):
    model_config = ConfigDict(extra="ignore", populate_by_name=True)

    id: str
    source: str
    detail_type: str = Field(alias="detail-type")
    detail: ShopifyEventBridgeDetail
